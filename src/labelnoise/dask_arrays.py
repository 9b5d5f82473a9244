"""Detection on Dask arrays: the detection core on pred_probs larger than one machine.

:func:`labelnoise.estimate_noise`, :func:`labelnoise.label_quality_scores` and
:func:`labelnoise.find_label_issues` hand ``dask.array`` inputs (``labels`` (N,) and/or
``pred_probs`` (N, K), chunked along N, e.g. ``dask.array.from_zarr``) to the functions of
this module, which run the same chunk kernels as the in-memory path (``count``, ``rank``,
``filter``) on each block, on whatever Dask scheduler is active (the threaded default, or a
``distributed.Client``):

* **validation** (one pass over ``labels``, one over ``pred_probs``): per-block minimum,
  maximum, row sums, NaN/inf, label range and class counts, reduced on the client; a bad
  block raises the same one-line ``ValueError`` as the in-memory path, naming the same
  global row or entry (the offending chunk alone is fetched to locate it);
* **pass one, reductions**: the (given label, arg-max of the prior-adjusted pred_probs)
  counts behind the estimated noise matrix (computed in the validation pass), the per-class
  thresholds (mean self-confidence, summed in the same sequential order as
  ``numpy.bincount`` so they are bit-identical) and the confident joint;
* **pass two, blockwise**: scores and masks of every block from the chunk kernels
  (``rank._score_block``, ``rank._mixture_parts``, ``count._confident_guess`` ...),
  returned as lazy Dask arrays, or written atomically to a Zarr store with ``out=``.

Blocks are rechunked, when needed, to a multiple of the in-memory path's chunk
(``_validation.chunk_rows(K)`` rows) so every kernel sees the same rows as in memory: the
results are identical (bit for bit) to the in-memory path, with two exceptions stated
where they apply: ``mixture`` fits its weight on the client from all N likelihood ratios
(8 bytes per example, identical) up to ``MIXTURE_GATHER_MAX_ROWS`` rows, and beyond that by
Newton's method over blockwise sums (same root to about 1e-13); and ``low_self_confidence``
/ ``low_normalized_margin`` break exact ties at their cut-off by index (numpy's unstable
``argsort`` in memory), as do ``"prune_by_noise_rate"``, ``"prune_by_class"`` and ``"both"``
(``numpy.argpartition`` in memory), and ``"expected_f1"`` picks its number of flags from
sums taken in another order (it differs only where two counts' expected F1 agree to float
rounding). The prune filters select exactly within each (given class, column) cell from
candidates: a pass keeps the values above a bound per cell read from the strided subsample
of ``filter._both_count`` (brought to the client), the client selects (a cell that kept
too few is searched again without a bound); ``"expected_f1"`` locates its cut with a
histogram of the scores and brings two bins' scores to the client. The default
``"adaptive"`` filter works on Dask arrays: on flat
pred_probs (a weak model) it counts with ``"both"`` on the in-memory path's strided subsample
(at most about 131,072 rows, brought to the client; every row when N is at most that, so
then the whole input) and flags the lowest ``adaptive`` scores by a blockwise selection.

Memory: a worker holds a few blocks (each ``rows x K`` float64 plus the kernels'
temporaries), independent of N; the client holds (K, K) statistics, plus 16 bytes per
flagged example for ``return_ranked=True`` and 24 bytes per candidate (about the number
flagged) for the prune filters.

Requires the optional extra ``labelnoise[dask]`` (``dask[array,distributed]``, ``zarr``);
importing :mod:`labelnoise` never imports dask.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np

from labelnoise import _validation as V

#: up to this many rows, ``mixture`` fits its weight on the client from all N likelihood
#: ratios exactly as in memory (8 bytes per example); above it, by Newton's method over
#: blockwise sums of the ratios persisted on the workers
MIXTURE_GATHER_MAX_ROWS = 1 << 24

#: the prune filters' candidate pass keeps, in each (given class, column) cell, the values
#: at or above a bound read from the strided subsample at rank q f + PRUNE_BOUND_SLACK
#: sqrt(q f) + 2 (q: the cell's quota, f: the class's share in the subsample), so one pass
#: almost always keeps enough; a cell that kept too few is searched again without a bound
PRUNE_BOUND_SLACK = 4.0

#: the prune filters refuse (ValueError) when the subsample predicts more candidates than
#: this (24 bytes each on the client: 1.6 GB): many classes with small quotas per cell,
#: whose cut-offs the subsample cannot place finely (e.g. K = 1,000 at N = 20,000,000)
PRUNE_MAX_CANDIDATES = 1 << 26

#: bins of the score histogram that locates the ``expected_f1`` cut (two bins' scores are
#: then brought to the client)
EXPECTED_F1_BINS = 1 << 16


def _is_dask(x) -> bool:
    """Whether ``x`` is a ``dask.array.Array`` (or a list/tuple holding one); never imports
    dask (an array cannot be one unless ``dask.array`` was imported already)."""
    da = sys.modules.get("dask.array")
    if da is None:
        return False
    if isinstance(x, (list, tuple)):
        return any(isinstance(m, da.Array) for m in x)
    return isinstance(x, da.Array)


def _dask():
    try:
        import dask
        import dask.array as da
    except ImportError as exc:  # pragma: no cover - the extra is missing
        raise ImportError("Dask inputs need the optional extra: pip install 'labelnoise[dask]'") from exc
    return dask, da


# ---------------------------------------------------------------------------------------
# inputs: shapes, chunks, validation


class _Inputs:
    """Validated Dask inputs: labels (N,) int64 and the pred_probs members (N, K), all with
    the same row chunks, each a multiple of the in-memory chunk ``chunk_rows(K)``."""

    def __init__(self, labels, members, renormalize, counts, fused):
        self.labels = labels
        self.members = members
        self.renormalize = renormalize
        #: int64 (K,), examples per given label
        self.counts = counts
        #: int64 (K * K,) (given, arg-max prior-adjusted) counts from validation, or None
        self.fused = fused
        self.n, self.k = members[0].shape
        self.chunk = V.chunk_rows(self.k)
        self.starts = [int(s) for s in np.cumsum((0,) + labels.chunks[0])[:-1]]

    def blocks(self):
        """(start, labels block, [member blocks]) as Dask delayed objects, in row order."""
        lab = self.labels.to_delayed().ravel()
        mem = [m.to_delayed().ravel() for m in self.members]
        return [(s, lab[i], [m[i] for m in mem]) for i, s in enumerate(self.starts)]

    def map_blocks(self, fn, dtype, *args):
        """Lazy (N,) Dask array of ``fn(start, labels block, member blocks, renormalize,
        chunk, *args)`` over the blocks."""
        dask, da = _dask()
        parts = []
        for (s, lab, mem), size in zip(self.blocks(), self.labels.chunks[0]):
            task = dask.delayed(fn, pure=True)(s, lab, mem, self.renormalize, self.chunk, *args)
            parts.append(da.from_delayed(task, shape=(size,), dtype=dtype))
        return da.concatenate(parts)

    def reduce_blocks(self, fn, *args) -> list:
        """``[fn(start, labels block, member blocks, renormalize, chunk, *args)]`` computed."""
        dask, _ = _dask()
        tasks = [dask.delayed(fn, pure=True)(s, lab, mem, self.renormalize, self.chunk, *args)
                 for s, lab, mem in self.blocks()]
        return list(dask.compute(*tasks))


def _chunk_ranges(n: int, chunk: int):
    """Local (a, b) ranges of ``chunk`` rows over a block of ``n`` rows whose first row is a
    multiple of ``chunk``: the in-memory path's chunks."""
    return [(a, min(n, a + chunk)) for a in range(0, n, chunk)]


def _block_pp(mem, renormalize, chunk) -> V.PredProbs:
    """A ``PredProbs`` over one block's member arrays (no copies until rows are read)."""
    arrays = [np.asarray(m) for m in mem]
    return V.PredProbs(arrays=arrays, renormalize=list(renormalize), n=arrays[0].shape[0],
                       k=arrays[0].shape[1], chunk=chunk)


def _rows_pp(rows: np.ndarray) -> V.PredProbs:
    """A one-chunk ``PredProbs`` over float64 rows already read (kernels run inline)."""
    return V.PredProbs(arrays=[rows], renormalize=[False], n=rows.shape[0], k=rows.shape[1],
                       chunk=max(1, rows.shape[0]))


def _members(pred_probs, name):
    _, da = _dask()
    if isinstance(pred_probs, (list, tuple)) and not _is_dask(pred_probs) and V._is_nested_matrix(pred_probs):
        pred_probs = np.asarray(pred_probs)
    if isinstance(pred_probs, (list, tuple)):
        if len(pred_probs) == 0:
            raise ValueError(f"{name} is an empty list; give at least one (N, K) array")
        members = list(pred_probs)
        names = [f"{name}[{m}]" for m in range(len(members))]
    else:
        members, names = [pred_probs], [name]
    members = [m if isinstance(m, da.Array) else np.asarray(m) for m in members]
    return members, names


def _check_shapes(members, names, name, num_rows):
    """The in-memory path's shape checks (same messages)."""
    from labelnoise._validation import check_member_shapes

    for arr, nm in zip(members, names):
        if any(np.isnan(s) for s in arr.shape):
            raise ValueError(f"{nm} has unknown chunk sizes; call .compute_chunk_sizes() first")
    shape0 = check_member_shapes(members, names, name)
    if shape0[0] != num_rows:
        raise ValueError(
            f"{name} has {shape0[0]} rows but labels has {num_rows} entries; they must match (N)"
        )
    for arr, nm in zip(members, names):
        if arr.dtype == np.bool_ or not (
            np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
        ):
            raise ValueError(f"{nm} must be a float array, got dtype {arr.dtype}")


def _row_chunks(reference_chunks: tuple, n: int, chunk: int) -> tuple:
    """Row chunks that are multiples of ``chunk`` (the last one excepted), as close as
    possible to ``reference_chunks``; unchanged when they already are."""
    inner = reference_chunks[:-1]
    if all(c % chunk == 0 for c in inner):
        return reference_chunks
    rows = chunk * max(1, int(round(max(reference_chunks) / chunk)))
    full, rest = divmod(n, rows)
    return (rows,) * full + ((rest,) if rest else ())


def _label_stats(start, lab, mem, renormalize, chunk, k):
    """Per-block label statistics for the checks of ``_validation.validate_labels``."""
    lab = np.asarray(lab)
    st = {"bad": None, "absmax": None, "umax": None}
    if lab.dtype.kind == "f":
        bad = ~np.isfinite(lab) | (lab != np.round(lab))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            st["bad"] = (start + i, lab[i].item())
            return st
        a = np.abs(lab)
        i = int(np.argmax(a))
        st["absmax"] = (float(a[i]), start + i, lab[i].item())
    if lab.dtype.kind == "u" and lab.dtype.itemsize >= 8:
        i = int(np.argmax(lab))
        st["umax"] = (int(lab[i]), start + i)
        if lab[i] > np.iinfo(np.int64).max:
            return st
    out = lab.astype(np.int64, copy=False)
    i, j = int(np.argmin(out)), int(np.argmax(out))
    st["min"] = (int(out[i]), start + i)
    st["max"] = (int(out[j]), start + j)
    inside = out[(out >= 0) & (out < k)]
    st["counts"] = np.bincount(inside, minlength=k)[:k]
    return st


def _first_extreme(pairs, largest: bool):
    """(value, index) with the smallest (largest) value, first index on ties."""
    best = None
    for value, index in pairs:
        if best is None or (value > best[0] if largest else value < best[0]):
            best = (value, index)
    return best


def _check_labels(stats, name: str) -> None:
    """Raise ``validate_labels``'s errors (same messages) from the per-block statistics."""
    for st in stats:
        if st["bad"] is not None:
            i, v = st["bad"]
            raise ValueError(f"{name} must hold integer class indices; {name}[{i}] = {v!r}")
    umax = [st["umax"] for st in stats if st["umax"] is not None]
    if umax:
        v, i = _first_extreme(umax, largest=True)
        if v > np.iinfo(np.int64).max:
            raise ValueError(f"{name} must be class indices below 2**63; {name}[{i}] = {v}")
    absmax = [st["absmax"] for st in stats if st["absmax"] is not None]
    if absmax:
        best = None
        for a, i, v in absmax:
            if best is None or a > best[0]:
                best = (a, i, v)
        if best[0] >= 2.0**62:
            raise ValueError(f"{name} must be class indices below 2**62; {name}[{best[1]}] = {best[2]!r}")
    v, i = _first_extreme([st["min"] for st in stats], largest=False)
    if v < 0:
        raise ValueError(f"{name} must be >= 0; {name}[{i}] = {v}")


def _pp_stats(start, lab, mem, renormalize, chunk, first_rows, inv_prior, k):
    """Per-block pred_probs statistics of ``_validation._check_one_pred_probs`` (min, max,
    largest row-sum deviation, per member), the global starts of the in-memory chunks that
    fail a check, whether every row equals the first row, and (``inv_prior`` given) the
    (given, arg-max prior-adjusted) counts of the raw rows (``rank._argmax_pair_counter``)."""
    from labelnoise import rank

    lab = np.asarray(lab).astype(np.int64, copy=False)
    out = {"lo": [], "hi": [], "dev": [], "bad": [], "same": [], "counts": None}
    for m, arr in enumerate(mem):
        arr = np.asarray(arr)
        ones = np.ones(arr.shape[1])
        lo = hi = dev = None
        bad = []
        same = first_rows is not None
        counts = np.zeros(k * k, dtype=np.int64) if (inv_prior is not None and m == 0) else None
        inv_tile = rank._inv_prior_tile(inv_prior) if counts is not None else None
        for a, b in _chunk_ranges(arr.shape[0], chunk):
            block = arr[a:b]
            sums = block @ ones if block.dtype == np.float64 else block.sum(axis=1, dtype=np.float64)
            c_lo, c_hi = float(block.min()), float(block.max())
            c_dev = float(np.abs(sums - 1.0).max())
            if not (np.isfinite([c_lo, c_hi, c_dev]).all() and c_lo >= -V.ROW_SUM_ATOL
                    and c_hi <= 1.0 + V.ROW_SUM_ATOL and c_dev <= V.ROW_SUM_ATOL):
                bad.append(start + a)
            lo = c_lo if lo is None else min(lo, c_lo)
            hi = c_hi if hi is None else max(hi, c_hi)
            dev = c_dev if dev is None else max(dev, c_dev)
            b64 = block.astype(np.float64, copy=False)
            if same:
                same = bool((b64 == first_rows[m]).all())
            if counts is not None:
                with np.errstate(all="ignore"):
                    _, top = rank._margin_and_top(b64, lab[a:b], inv_prior, inv_tile)
                counts += np.bincount(lab[a:b] * k + top, minlength=k * k)[: k * k]
        out["lo"].append(lo)
        out["hi"].append(hi)
        out["dev"].append(dev)
        out["bad"].append(bad)
        out["same"].append(same)
        if counts is not None:
            out["counts"] = counts
    return out


class _OneChunk:
    """Stands for an (N, K) array in ``_validation._locate_bad_value``: the rows of the one
    chunk that failed (fetched), a valid one-hot row for every other chunk, so the located
    index and message are the in-memory path's own."""

    def __init__(self, n: int, k: int, start: int, rows: np.ndarray):
        self.shape = (n, k)
        self.start = start
        self.rows = rows
        self.valid = np.eye(1, k)

    def __getitem__(self, item):
        return self.rows if item.start == self.start else self.valid


def _validate(labels, pred_probs, *, require_all_classes=True, fused=False,
              labels_name="labels", pred_probs_name="pred_probs") -> _Inputs:
    """Blockwise ``validate_labels_and_pred_probs``: same checks, order and messages.

    ``fused``: also count (given label, arg-max of the prior-adjusted pred_probs) pairs
    (``rank._argmax_pair_counter``) during the pred_probs pass."""

    _, da = _dask()
    members, names = _members(pred_probs, pred_probs_name)
    if not isinstance(labels, da.Array):
        labels = V._as_array(labels, labels_name)
    if labels.ndim != 1:
        raise ValueError(f"{labels_name} must be 1-D of shape (N,), got shape {labels.shape}")
    if np.isnan(labels.shape[0]):
        raise ValueError(f"{labels_name} has unknown chunk sizes; call .compute_chunk_sizes() first")
    if labels.shape[0] == 0:
        raise ValueError(f"{labels_name} is empty")
    if labels.dtype == np.bool_ or not (
        np.issubdtype(labels.dtype, np.integer) or np.issubdtype(labels.dtype, np.floating)
    ):
        raise ValueError(f"{labels_name} must hold integer class indices, got dtype {labels.dtype}")
    n = int(labels.shape[0])
    # label checks before the pred_probs checks, as in memory; K is needed for the counts
    k_guess = int(members[0].shape[1]) if members[0].ndim == 2 else 0
    chunk = V.chunk_rows(max(k_guess, 1))
    if isinstance(labels, da.Array):
        lab_chunks = _row_chunks(labels.chunks[0], n, chunk)
    else:
        ref = next((m.chunks[0] for m in members if isinstance(m, da.Array) and m.ndim == 2
                    and m.shape[0] == n), (n,))
        lab_chunks = _row_chunks(ref, n, chunk)
    labels = da.asarray(labels).rechunk((lab_chunks,))
    lab_in = _Inputs.__new__(_Inputs)
    lab_in.labels, lab_in.renormalize, lab_in.chunk = labels, [], chunk
    lab_in.members = []
    lab_in.starts = [int(s) for s in np.cumsum((0,) + labels.chunks[0])[:-1]]
    stats = lab_in.reduce_blocks(_label_stats, max(k_guess, 1))
    _check_labels(stats, labels_name)

    _check_shapes(members, names, pred_probs_name, n)
    k = int(members[0].shape[1])
    members = [da.asarray(m).rechunk((labels.chunks[0], -1)) for m in members]
    labels = labels.astype(np.int64)
    label_max = _first_extreme([st["max"] for st in stats], largest=True)
    counts = np.sum([st["counts"] for st in stats], axis=0).astype(np.int64)
    labels_ok = label_max[0] < k
    inv_prior = float(n) / np.maximum(counts, 1) if (fused and labels_ok) else None
    first_rows = None
    if n > 1:
        first_rows = [np.asarray(m[0].compute(), dtype=np.float64) for m in members]
    inputs = _Inputs(labels, members, [False] * len(members), counts, None)
    pstats = inputs.reduce_blocks(_pp_stats, first_rows, inv_prior, k)
    renorm = []
    for m, (arr, nm) in enumerate(zip(members, names)):
        lo = min(p["lo"][m] for p in pstats)
        hi = max(p["hi"][m] for p in pstats)
        dev = max(p["dev"][m] for p in pstats)
        bad = [s for p in pstats for s in p["bad"][m]]  # chunks failing a check (NaN included)
        if bad:
            bad = min(bad)
            rows = np.asarray(arr[bad:bad + inputs.chunk].compute())
            V._locate_bad_value(_OneChunk(n, k, bad, rows), nm)
        renorm.append(bool(dev > V.EXACT_ATOL or lo < 0.0 or hi > 1.0))
    if any(renorm):
        warnings.warn(
            f"{pred_probs_name}: some rows do not sum exactly to 1 or have values slightly outside "
            f"[0, 1] (within the tolerance {V.ROW_SUM_ATOL:g}); using a renormalised copy",
            V.PredProbsWarning,
            stacklevel=4,
        )
    if n > 1 and all(all(p["same"][m] for p in pstats) for m in range(len(members))):
        warnings.warn(
            f"{pred_probs_name}: every row is the same probability vector, so it says nothing about "
            "which examples are mislabelled; noise estimates and label issues computed from "
            "it cannot be trusted (were the predictions made by an untrained model?)",
            V.PredProbsWarning,
            stacklevel=4,
        )
    if not labels_ok:
        v, i = label_max
        raise ValueError(
            f"{labels_name} must lie in [0, {k}) ({pred_probs_name} has K = {k} "
            f"columns); {labels_name}[{i}] = {v}"
        )
    if require_all_classes:
        empty = np.flatnonzero(counts == 0)
        if empty.size:
            raise ValueError(
                f"{labels_name} has no example of class {int(empty[0])} "
                f"(empty classes: {empty[:10].tolist()}{'...' if empty.size > 10 else ''}); "
                "every class in [0, K) needs at least one example"
            )
    inputs.renormalize = renorm
    if fused:
        if len(members) == 1 and not renorm[0]:
            inputs.fused = np.sum([p["counts"] for p in pstats], axis=0)
        else:  # counted again on the renormalised (or ensemble-averaged) rows, as in memory
            inputs.fused = np.sum(inputs.reduce_blocks(_pair_counts, inv_prior), axis=0)
    return inputs


def _pair_counts(start, lab, mem, renormalize, chunk, inv_prior):
    """(given, arg-max prior-adjusted) counts of one block's rows (as read), int64 (K * K,)."""
    from labelnoise import rank

    lab = np.asarray(lab)
    pp = _block_pp(mem, renormalize, chunk)
    k = pp.k
    counts = np.zeros(k * k, dtype=np.int64)
    inv_tile = rank._inv_prior_tile(inv_prior)
    for a, b in _chunk_ranges(pp.n, chunk):
        _, top = rank._margin_and_top(pp.rows(a, b), lab[a:b], inv_prior, inv_tile)
        counts += np.bincount(lab[a:b] * k + top, minlength=k * k)[: k * k]
    return counts


# ---------------------------------------------------------------------------------------
# pass-one reductions


def _self_confidence_block(start, lab, mem, renormalize, chunk):
    from labelnoise import count

    lab = np.asarray(lab)
    pp = _block_pp(mem, renormalize, chunk)
    return np.concatenate([count._self_confidence(lab[a:b], _rows_pp(pp.rows(a, b)))
                           for a, b in _chunk_ranges(pp.n, chunk)])


def _fold_sums(acc, lab, self_conf):
    """``acc[labels[n]] += self_conf[n]`` in row order: the summation order of
    ``numpy.bincount(labels, weights=...)`` over all rows, continued across blocks."""
    acc = acc.copy()
    np.add.at(acc, np.asarray(lab), self_conf)
    return acc


def _thresholds(inputs: _Inputs) -> np.ndarray:
    """``count._thresholds`` (mean self-confidence per given label), bit-identical: the
    per-block self-confidences are computed in parallel, summed in row order."""
    from labelnoise import count

    dask, _ = _dask()
    acc = np.zeros(inputs.k, dtype=np.float64)
    for s, lab, mem in inputs.blocks():
        sc = dask.delayed(_self_confidence_block, pure=True)(s, lab, mem, inputs.renormalize,
                                                             inputs.chunk)
        acc = dask.delayed(_fold_sums, pure=True)(acc, lab, sc)
    sums = dask.compute(acc)[0]
    counts = inputs.counts
    t = np.where(counts > 0, sums / np.maximum(counts, 1), 2.0)
    return np.clip(t, count.THRESHOLD_LOWER_BOUND, None)


def _guess_block(lab, rows_pp, thresholds):
    from labelnoise import count

    guess, confident = count._confident_guess(rows_pp, thresholds)
    return guess, confident


def _joint_block(start, lab, mem, renormalize, chunk, thresholds):
    """Uncalibrated confident-joint counts of one block, int64 (K * K,)."""
    lab = np.asarray(lab).astype(np.int64, copy=False)
    pp = _block_pp(mem, renormalize, chunk)
    k = pp.k
    counts = np.zeros(k * k, dtype=np.int64)
    for a, b in _chunk_ranges(pp.n, chunk):
        guess, confident = _guess_block(lab[a:b], _rows_pp(pp.rows(a, b)), thresholds)
        g, t = lab[a:b][confident], guess[confident]
        counts += np.bincount(g * k + t, minlength=k * k)
    return counts


def _confident_joint(inputs: _Inputs, calibrate: bool):
    """``count._confident_joint`` without the off-diagonal indices: (cj, thresholds)."""
    from labelnoise import count

    thresholds = _thresholds(inputs)
    k = inputs.k
    cj = np.sum(inputs.reduce_blocks(_joint_block, thresholds), axis=0).reshape(k, k)
    cj = cj.astype(np.int64)
    np.fill_diagonal(cj, np.maximum(cj.diagonal(), 1))
    if calibrate:
        cj = count.calibrate_confident_joint(cj, inputs.counts)
    return cj, thresholds


def _noise_from_joint(cj, label_counts, n, thresholds):
    """``count._noise_from_joint`` from the given-label counts instead of the labels."""
    from labelnoise import count

    label_prior = label_counts / float(n)
    given_counts = cj.sum(axis=1).astype(np.float64)
    true_counts = cj.sum(axis=0).astype(np.float64)
    noise_matrix = cj / np.clip(true_counts, count._TINY, None)
    inverse = cj.T / np.clip(given_counts, count._TINY, None)
    prior = inverse.diagonal() / np.clip(noise_matrix.diagonal(), count._TINY, None) * label_prior
    prior = np.clip(prior, 1e-6, 1.0)
    prior = prior / prior.sum()
    joint = cj / np.clip(float(cj.sum()), count._TINY, None)
    noise_rate = float(1.0 - np.trace(joint))
    return count.NoiseEstimate(
        confident_joint=cj,
        joint=joint,
        noise_matrix=count._clip_noise_rates(noise_matrix),
        inverse_noise_matrix=count._clip_noise_rates(inverse),
        prior=prior,
        noise_rate=noise_rate,
        num_label_issues=int(np.rint(noise_rate * n)),
        thresholds=thresholds,
        num_examples=n,
    )


# ---------------------------------------------------------------------------------------
# pass-two kernels (one block in, one (rows,) array out)


def _scores_block(start, lab, mem, renormalize, chunk, method, ctx):
    from labelnoise import rank

    lab = np.asarray(lab)
    pp = _block_pp(mem, renormalize, chunk)
    out = np.empty(pp.n, dtype=np.float64)
    for a, b in _chunk_ranges(pp.n, chunk):
        out[a:b] = rank._score_block(method, pp.rows(a, b), lab[a:b], ctx)
    return out


def _ratio_block(start, lab, mem, renormalize, chunk, ctx):
    """``P_c / P_d`` of the mixture score (``rank._likelihood_ratio``) of one block."""
    from labelnoise import rank

    lab = np.asarray(lab)
    pp = _block_pp(mem, renormalize, chunk)
    out = np.empty(pp.n, dtype=np.float64)
    for a, b in _chunk_ranges(pp.n, chunk):
        _, _, p_cc, p_direct = rank._mixture_parts(pp.rows(a, b), lab[a:b], ctx, None)
        out[a:b] = rank._likelihood_ratio(p_cc, p_direct)
    return out


def _mixture_block(start, lab, mem, renormalize, chunk, ctx, w):
    """The mixture score of one block for a fitted weight ``w`` (``rank._mixture``)."""
    from labelnoise import rank

    lab = np.asarray(lab)
    pp = _block_pp(mem, renormalize, chunk)
    out = np.empty(pp.n, dtype=np.float64)
    for a, b in _chunk_ranges(pp.n, chunk):
        margin, posterior, p_cc, p_direct = rank._mixture_parts(pp.rows(a, b), lab[a:b], ctx, None)
        ratio = rank._likelihood_ratio(p_cc, p_direct)
        responsibility = w * ratio / (w * ratio + (1.0 - w))
        out[a:b] = margin + responsibility * (posterior - margin)
    return out


def _cl_mask_block(start, lab, mem, renormalize, chunk, filter_by, thresholds):
    """Mask of ``confident_learning`` / ``predicted_neq_given`` (``filter._issue_mask``) of
    one block, or the off-diagonal count mask of the low_* filters (``"off_diagonal"``)."""
    from labelnoise import count

    lab = np.asarray(lab).astype(np.int64, copy=False)
    pp = _block_pp(mem, renormalize, chunk)
    out = np.empty(pp.n, dtype=bool)
    for a, b in _chunk_ranges(pp.n, chunk):
        rows = _rows_pp(pp.rows(a, b))
        if filter_by == "predicted_neq_given":
            mask = rows.rows(0, b - a).argmax(axis=1) != lab[a:b]
        else:
            guess, confident = _guess_block(lab[a:b], rows, thresholds)
            mask = confident & (guess != lab[a:b])
        out[a:b] = mask & ~count._predicted_equals_given(lab[a:b], rows)
    return out


# ---------------------------------------------------------------------------------------
# public functions


def _context(inputs: _Inputs, method: str, noise_matrix) -> dict:
    """``rank._context`` from the global statistics."""
    from labelnoise import rank

    ctx: dict = {}
    k = inputs.k
    if method in rank.OUR_METHODS:
        ctx["inv_prior"] = float(inputs.n) / np.maximum(inputs.counts, 1)
    if method in rank._POSTERIOR_METHODS:
        if noise_matrix is None:
            counts = np.asarray(inputs.fused).reshape(k, k).astype(np.float64)
            cols = counts.sum(axis=0)
            noise_matrix = np.where(cols > 0, counts / np.where(cols > 0, cols, 1.0), np.eye(k))
        ctx["posterior_weights"] = noise_matrix * ctx["inv_prior"][None, :]
    return ctx


def _fit_weight_blockwise(ratio, start_ratio_sample) -> float:
    """``rank._fit_mixture_weight`` with every sum over all rows taken blockwise (Newton's
    method in ``rank._newton_root``'s bracket, same steps and tolerance)."""
    from labelnoise import rank

    dask, _ = _dask()
    start = 0.5
    if start_ratio_sample is not None:
        start = min(max(rank._weight_from_ratio(start_ratio_sample), 1e-9), 1.0 - 1e-9)
    u = ratio - 1.0
    s0, s1 = dask.compute(u.sum(), (u / (1.0 + u)).sum())
    if s0 <= 0.0:
        return 0.0
    if s1 >= 0.0:
        return 1.0

    def moments(w):
        v = u / (1.0 + w * u)
        return tuple(float(x) for x in dask.compute(v.sum(), (v * v).sum()))

    return rank._bracketed_newton(moments, start, 0.0, 1.0)


def _mixture(inputs: _Inputs, noise_matrix):
    """(lazy mixture scores, fitted weight), as ``rank._mixture``."""
    from labelnoise import rank

    ctx = _context(inputs, "mixture", noise_matrix)
    ratio = inputs.map_blocks(_ratio_block, np.float64, ctx)
    stride = inputs.n // rank._FIT_SUBSAMPLE
    if inputs.n <= MIXTURE_GATHER_MAX_ROWS:
        w = rank._fit_mixture_weight(np.asarray(ratio.compute()))
    else:
        ratio = ratio.persist()
        sample = np.asarray(ratio[::stride].compute()) if stride > 1 else None
        w = _fit_weight_blockwise(ratio, sample)
    return inputs.map_blocks(_mixture_block, np.float64, ctx, w), w


def _scores(inputs: _Inputs, method: str, noise_matrix=None, adjust_pred_probs=False):
    """Lazy (N,) float64 scores of ``method`` (``rank._scores``)."""
    from labelnoise import rank

    ctx: dict = {}
    rank._check_adjust(method, adjust_pred_probs)
    if adjust_pred_probs:
        ctx["thresholds"] = _thresholds(inputs)
    if method == "mixture":
        return _mixture(inputs, noise_matrix)[0]
    if method == "adaptive":
        method = rank._resolve_adaptive(_entropy_statistic(inputs))
    ctx.update(_context(inputs, method, noise_matrix))
    return inputs.map_blocks(_scores_block, np.float64, method, ctx)


def _entropy_block(start, lab, mem, renormalize, chunk, stride):
    """(sum of normalised row entropies, rows) over the block's rows of the global strided
    subsample (``rank._subsample_indices``)."""
    from labelnoise import rank

    pp = _block_pp(mem, renormalize, chunk)
    idx = np.arange((-start) % stride, pp.n, stride)
    return rank._normalised_entropy_sum(pp.take(idx)), idx.size


def _entropy_statistic(inputs: _Inputs) -> float:
    """``rank._entropy_statistic`` over the blocks (the same rows)."""
    from labelnoise import rank

    stride = int(rank._subsample_indices(inputs.n)[1]) if inputs.n > 1 else 1
    parts = inputs.reduce_blocks(_entropy_block, stride)
    return sum(p[0] for p in parts) / max(sum(p[1] for p in parts), 1)


def _store(result, out):
    """Write a lazy result to the Zarr store ``out`` atomically (a temporary store beside
    it, renamed on success, removed on failure); return the array read back from it."""
    import os
    import shutil
    from pathlib import Path

    from labelnoise._io import OutputError, temp_path

    _, da = _dask()
    final = Path(out).expanduser()
    if final.exists():
        raise OutputError(f"out {final}: exists; remove it or choose another path")
    if not final.parent.is_dir():
        raise OutputError(f"out {final}: folder {final.parent} does not exist")
    tmp = temp_path(final)
    try:
        da.to_zarr(da.asarray(result), str(tmp))
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return da.from_zarr(str(final))


def estimate_noise(labels, pred_probs, *, calibrate: bool = True):
    """:func:`labelnoise.count.estimate_noise` on Dask arrays.

    Parameters
    ----------
    labels : dask or numpy array (N,) of int
        Given labels in [0, K), chunked along N.
    pred_probs : dask array (N, K) of float, or a list of them (an ensemble)
        Out-of-sample predicted probabilities, chunked along N only (rechunked otherwise).
    calibrate : bool
        Calibrate the confident joint (Northcutt et al. 2021, Eq. 3).

    Returns
    -------
    NoiseEstimate
        Computed (K x K statistics), identical to the in-memory path's. Three passes over
        pred_probs: validation, thresholds, confident joint.

    Raises
    ------
    ValueError
        Invalid labels or pred_probs (the in-memory path's messages), or a class with no
        example.
    """
    inputs = _validate(labels, pred_probs)
    cj, thresholds = _confident_joint(inputs, calibrate)
    return _noise_from_joint(cj, inputs.counts, inputs.n, thresholds)


def label_quality_scores(labels, pred_probs, *, method: str | None = None,
                         adjust_pred_probs: bool = False, noise_matrix=None, out=None):
    """:func:`labelnoise.rank.label_quality_scores` on Dask arrays.

    Parameters
    ----------
    labels, pred_probs
        As :func:`estimate_noise`.
    method, adjust_pred_probs, noise_matrix
        As the in-memory function (default method ``adaptive``).
    out : str or path, optional
        A Zarr store to write the scores to (must not exist; written to a temporary store
        beside it, then renamed).

    Returns
    -------
    dask.array.Array (N,) float64 in [0, 1]
        Lazy (validation and the class statistics are computed now), or read back from
        ``out``. Identical to the in-memory scores; ``mixture`` too, except above
        ``MIXTURE_GATHER_MAX_ROWS`` rows, where its weight agrees to about 1e-13.

    Raises
    ------
    ValueError
        Unknown method, invalid inputs (the in-memory path's messages).
    labelnoise._io.OutputError
        ``out`` exists or its folder does not.
    """
    from labelnoise import rank

    method = rank.DEFAULT_METHOD if method is None else method
    V.validate_choice(method, rank.METHODS, "method")
    needs_all = method in rank.OUR_METHODS or adjust_pred_probs
    fused = method in rank._POSTERIOR_METHODS and noise_matrix is None
    inputs = _validate(labels, pred_probs, require_all_classes=needs_all, fused=fused)
    if noise_matrix is not None:
        noise_matrix = V.validate_noise_matrix(noise_matrix, num_classes=inputs.k)
    scores = _scores(inputs, method, noise_matrix, adjust_pred_probs)
    return scores if out is None else _store(scores, out)


def _flagged_indices(mask, start):
    return np.flatnonzero(mask) + start


def _flagged_scores(mask, scores):
    return scores[mask]


def _ranked(mask, scores) -> np.ndarray:
    """Indices of the flagged examples, lowest score first (ties by index), as
    ``idx[np.argsort(scores[idx], kind="stable")]``; 16 bytes per flagged example."""
    dask, _ = _dask()
    starts = np.cumsum((0,) + mask.chunks[0])[:-1]
    idx_parts, score_parts = [], []
    for m, s, start in zip(mask.to_delayed().ravel(), scores.to_delayed().ravel(), starts):
        idx_parts.append(dask.delayed(_flagged_indices, pure=True)(m, int(start)))
        score_parts.append(dask.delayed(_flagged_scores, pure=True)(m, s))
    idx_parts, score_parts = dask.compute(idx_parts, score_parts)
    idx = np.concatenate(idx_parts).astype(np.int64)
    sc = np.concatenate(score_parts)
    return idx[np.argsort(sc, kind="stable")]


def _first_ties(at, offset, quota):
    """The entries of ``at`` (bool) among the first ``quota`` True entries overall, this
    block's first True entry being number ``offset + 1``."""
    return at & (np.cumsum(at) + offset <= quota)


def _lowest(scores, num: int):
    """Lazy bool mask of the ``num`` lowest scores, ties at the cut-off by index."""
    dask, da = _dask()
    if num <= 0:
        return da.zeros(scores.shape, dtype=bool, chunks=scores.chunks)
    if num >= scores.shape[0]:
        return da.ones(scores.shape, dtype=bool, chunks=scores.chunks)
    cut = float(da.topk(scores, -num).max().compute())
    below = scores < cut
    at = scores == cut
    n_below, at_counts = dask.compute(below.sum(), [b.sum() for b in at.to_delayed().ravel()])
    quota = num - int(n_below)
    before = np.concatenate([[0], np.cumsum(at_counts)[:-1]])
    parts = []
    for a, offset, size in zip(at.to_delayed().ravel(), before, at.chunks[0]):
        task = dask.delayed(_first_ties, pure=True)(a, int(offset), quota)
        parts.append(da.from_delayed(task, shape=(size,), dtype=bool))
    return below | da.concatenate(parts)


def find_label_issues(labels, pred_probs, *, filter_by: str | None = None,
                      return_ranked: bool = False, rank_by: str | None = None,
                      frac_noise: float = 1.0, min_examples_per_class: int = 1,
                      noise_matrix=None, out=None):
    """:func:`labelnoise.filter.find_label_issues` on Dask arrays.

    Parameters
    ----------
    labels, pred_probs
        As :func:`estimate_noise`.
    filter_by : str
        Any of the in-memory function's filters. ``"adaptive"`` on flat pred_probs brings
        its ``"both"`` subsample (at most about 131,072 rows) to the client. The selections
        within a class or over all scores are exact: ``"prune_by_noise_rate"``,
        ``"prune_by_class"`` and ``"both"`` (a confident-joint pass, then one pass that
        keeps the candidates above per-cell bounds read from the same subsample, selected
        on the client: 24 bytes per candidate, about the number flagged), ``"expected_f1"``
        (a histogram pass, then the scores of two bins on the client).
    return_ranked, rank_by, frac_noise, min_examples_per_class, noise_matrix
        As the in-memory function.
    out : str or path, optional
        A Zarr store for the mask (or the ranked indices); see :func:`label_quality_scores`.

    Returns
    -------
    dask.array.Array (N,) bool, lazy (or read back from ``out``); or, with
    ``return_ranked``, a numpy int64 array of the flagged indices, most likely wrong first
    (computed; 16 bytes per flagged example on the client).

    Raises
    ------
    ValueError
        As the in-memory function; also a prune filter whose candidates would exceed
        ``PRUNE_MAX_CANDIDATES`` (estimated from the subsample before the pass).
    """
    from labelnoise import filter as filt
    from labelnoise import rank

    filter_by = filt.DEFAULT_FILTER if filter_by is None else filter_by
    V.validate_choice(filter_by, filt.FILTERS, "filter_by")
    if rank_by is None:
        rank_by = rank.DEFAULT_METHOD
    V.validate_choice(rank_by, rank.METHODS, "rank_by")
    filt._check_prune_options(frac_noise, min_examples_per_class)
    score_method = scores = None
    if filter_by in filt.OUR_FILTERS:
        score_method = filt._FILTER_SCORE[filter_by]
        inputs = _validate(labels, pred_probs, fused=noise_matrix is None)
        if noise_matrix is not None:
            noise_matrix = V.validate_noise_matrix(noise_matrix, num_classes=inputs.k)
        if filter_by == "adaptive" and rank._is_flat(_entropy_statistic(inputs)):
            # flat pred_probs: the lowest adaptive scores, as many as "both" flags (counted
            # on the in-memory path's subsample, brought to the client)
            score_method = "adaptive"
            scores = _scores(inputs, score_method)
            mask = _lowest(scores, _both_count(inputs, frac_noise, min_examples_per_class))
            return _finish(inputs, mask, scores, score_method, return_ranked, rank_by, out)
        scores = _scores(inputs, score_method, noise_matrix)
        if filter_by == "expected_f1":
            mask = _lowest(scores, _expected_f1_count(scores))
        else:
            mask = scores < 0.5
    else:
        inputs = _validate(labels, pred_probs)
        if filter_by in ("prune_by_noise_rate", "prune_by_class", "both"):
            mask = _prune_mask(inputs, filter_by, frac_noise, min_examples_per_class)
        elif filter_by == "predicted_neq_given":
            mask = inputs.map_blocks(_cl_mask_block, bool, filter_by, None)
        else:
            thresholds = _thresholds(inputs)
            mask = inputs.map_blocks(_cl_mask_block, bool, "off_diagonal", thresholds)
            if filter_by in ("low_self_confidence", "low_normalized_margin"):
                num = int(mask.sum().compute())
                mask = _lowest(_scores(inputs, filter_by[4:]), num)
    return _finish(inputs, mask, scores, score_method, return_ranked, rank_by, out)


def _subsample(inputs: _Inputs) -> tuple[np.ndarray, list]:
    """The rows of ``filter._both_count``'s subsample (every s-th, plus the first example of
    any class the stride misses), brought to the client: (labels int64 (n',), [member rows])."""
    from labelnoise import filter as filt

    dask, _ = _dask()
    n, k = inputs.n, inputs.k
    stride = filt._both_stride(n)
    labels = np.asarray(inputs.labels[::stride].compute(), dtype=np.int64)
    idx = np.arange(0, n, stride)
    missing = np.flatnonzero(np.bincount(labels, minlength=k) == 0)
    if missing.size:  # as in memory: every class keeps its first example
        firsts = dask.compute(*[dask.delayed(_first_of, pure=True)(lab, s, missing)
                                for s, lab, _ in inputs.blocks()])
        first = np.full(missing.size, n, dtype=np.int64)
        for f in firsts:
            first = np.minimum(first, f)
        idx = np.union1d(idx, first[first < n])
        labels = np.asarray(inputs.labels[idx].compute(), dtype=np.int64)
        return labels, [np.asarray(m[idx].compute()) for m in inputs.members]
    return labels, [np.asarray(m[::stride].compute()) for m in inputs.members]


def _both_count(inputs: _Inputs, frac_noise: float, min_examples_per_class: int) -> int:
    """``filter._both_count`` on Dask inputs: the same rows (:func:`_subsample`) brought to
    the client, then the in-memory count."""
    from labelnoise import filter as filt

    labels, members = _subsample(inputs)
    return filt._count_both(labels, members, list(inputs.renormalize), inputs.n, frac_noise,
                            min_examples_per_class)


def _first_of(lab, start: int, classes: np.ndarray) -> np.ndarray:
    """Global index of the first example of each of ``classes`` in this block (the int64
    maximum when absent: the caller takes the minimum over blocks and keeps those below N)."""
    lab = np.asarray(lab)
    out = np.full(classes.size, np.iinfo(np.int64).max, dtype=np.int64)
    hits = np.flatnonzero(np.isin(lab, classes))
    if hits.size:
        cls, at = np.unique(lab[hits], return_index=True)
        out[np.searchsorted(classes, cls)] = start + hits[at]
    return out


# ---------------------------------------------------------------------------------------
# the prune filters and expected_f1: exact selections from candidates


def _prune_quotas(inputs: _Inputs, filter_by: str, frac_noise: float,
                  min_examples_per_class: int) -> np.ndarray:
    """int64 (K, K) quotas ``q[c, j]``: how many examples of given class ``c`` the prune
    filter flags in column ``j`` (``j != c``: ``prune_by_noise_rate``, the largest
    ``p_j - p_c``; ``j == c``: ``prune_by_class``, the smallest ``p_c``), as
    ``filter._prune`` (one confident-joint pass; classes too small are warned about)."""
    from labelnoise import filter as filt

    cj, _ = _confident_joint(inputs, calibrate=True)
    prune_counts = filt._keep_at_least_n_per_class(cj.T, min_examples_per_class, frac_noise)
    k, counts = inputs.k, inputs.counts
    quotas = np.zeros((k, k), dtype=np.int64)
    if filter_by in ("prune_by_noise_rate", "both"):
        quotas[:] = prune_counts.T
        np.fill_diagonal(quotas, 0)
    if filter_by in ("prune_by_class", "both"):
        np.fill_diagonal(quotas, np.maximum(counts - prune_counts.diagonal(), 0))
    for c in np.flatnonzero(counts <= min_examples_per_class):
        filt._warn_small_class(int(c), int(counts[c]), min_examples_per_class, stacklevel=4)
        quotas[c] = 0
    return quotas


def _prune_values(rows: np.ndarray, lab: np.ndarray) -> np.ndarray:
    """float64 (n, K): ``rows[:, j] - rows[:, y]`` off the given label ``y`` and
    ``-rows[:, y]`` on it (larger = flagged first by ``filter._prune``)."""
    at = np.arange(lab.size)
    own = rows[at, lab]
    values = rows - own[:, None]
    values[at, lab] = -own
    return values


def _prune_bounds(labels: np.ndarray, rows: np.ndarray, quotas: np.ndarray,
                  counts: np.ndarray) -> tuple[np.ndarray, float]:
    """float64 (K, K) lower bounds on each cell's cut-off value from a subsample (labels
    (n',), float64 rows (n', K)): the value of rank ``q f + PRUNE_BOUND_SLACK sqrt(q f) + 2``
    in the cell's subsample (f: the class's share in the subsample), -inf where that rank
    is past the subsample's rows of the class (the pass then keeps all of them); and the
    expected number of candidates the pass keeps (each cell's rank scaled by 1 / f)."""
    k = quotas.shape[0]
    bounds = np.full((k, k), -np.inf)
    expected = 0.0
    values = _prune_values(rows, labels)
    for c in np.flatnonzero(quotas.any(axis=1)):
        vc = values[labels == c]
        active = quotas[c] > 0
        if not vc.shape[0]:
            expected += float(counts[c]) * active.sum()
            continue
        f = vc.shape[0] / counts[c]
        expect = quotas[c] * f
        rank = np.maximum(np.ceil(expect + PRUNE_BOUND_SLACK * np.sqrt(expect) + 2.0), 1)
        rank = rank.astype(np.int64)
        cols = np.flatnonzero(active & (rank <= vc.shape[0]))
        expected += float(np.minimum(rank[active], vc.shape[0]).sum()) / f
        if cols.size:
            desc = -np.sort(-vc[:, cols], axis=0)
            bounds[c, cols] = desc[rank[cols] - 1, np.arange(cols.size)]
    return bounds, expected


def _prune_candidates(start, lab, mem, renormalize, chunk, quotas, bounds):
    """The block's (cell c * K + j, value, global index) with a value at or above the
    cell's bound, in the in-memory path's chunks (the same float64 rows)."""
    lab = np.asarray(lab).astype(np.int64, copy=False)
    pp = _block_pp(mem, renormalize, chunk)
    k = pp.k
    active = quotas > 0
    parts = []
    for a, b in _chunk_ranges(pp.n, chunk):
        y = lab[a:b]
        values = _prune_values(pp.rows(a, b), y)
        r, j = np.nonzero(active[y] & (values >= bounds[y]))
        parts.append((y[r] * k + j, values[r, j], start + a + r))
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64)
    return tuple(np.concatenate(p) for p in zip(*parts))


def _prune_select(inputs: _Inputs, quotas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact per-cell selection: (cells, global indices) of the ``quotas[c, j]`` largest
    values of each cell (ties at the cut-off by index). One pass over the blocks keeps the
    candidates at or above bounds from :func:`_subsample`; a cell that kept fewer than its
    quota above a finite bound is searched again without one (a second pass)."""
    k = inputs.k
    labels, members = _subsample(inputs)
    sub = V.PredProbs(arrays=members, renormalize=list(inputs.renormalize), n=labels.size,
                      k=k, chunk=max(1, labels.size))
    bounds, expected = _prune_bounds(labels, sub.rows(0, labels.size), quotas, inputs.counts)
    if expected > PRUNE_MAX_CANDIDATES:
        raise ValueError(
            f"this prune filter on Dask arrays would gather about {expected:,.0f} candidates "
            f"on the client (more than PRUNE_MAX_CANDIDATES = {PRUNE_MAX_CANDIDATES:,}: the "
            f"{labels.size:,}-row subsample cannot place the cut-offs of {k} x {k} cells "
            "finely); use filter_by='adaptive' or 'pooled', or the in-memory function")
    while True:
        parts = inputs.reduce_blocks(_prune_candidates, quotas, bounds)
        cells, values, index = (np.concatenate(p) for p in zip(*parts))
        kept = np.bincount(cells, minlength=k * k).reshape(k, k)
        short = (kept < quotas) & np.isfinite(bounds)
        if not short.any():
            break
        bounds[short] = -np.inf
    order = np.lexsort((index, -values, cells))
    cells, index = cells[order], index[order]
    rank = np.arange(cells.size) - np.searchsorted(cells, cells, side="left")
    keep = rank < quotas.ravel()[cells]
    return cells[keep], index[keep]


def _prune_mask_block(start, lab, mem, renormalize, chunk, flagged):
    """The block's mask: its ``flagged`` rows (local indices) that the model does not
    predict as given (``filter._issue_mask``'s last step)."""
    from labelnoise import count

    lab = np.asarray(lab).astype(np.int64, copy=False)
    pp = _block_pp(mem, renormalize, chunk)
    out = np.zeros(pp.n, dtype=bool)
    out[flagged] = True
    for a, b in _chunk_ranges(pp.n, chunk):
        out[a:b] &= ~count._predicted_equals_given(lab[a:b], _rows_pp(pp.rows(a, b)))
    return out


def _prune_mask(inputs: _Inputs, filter_by: str, frac_noise: float,
                min_examples_per_class: int):
    """Lazy mask of ``prune_by_noise_rate`` / ``prune_by_class`` / ``both``."""
    dask, da = _dask()
    k = inputs.k
    quotas = _prune_quotas(inputs, filter_by, frac_noise, min_examples_per_class)
    cells, index = _prune_select(inputs, quotas)
    diagonal = cells // k == cells % k
    by_class, by_rate = np.unique(index[diagonal]), np.unique(index[~diagonal])
    flagged = {"prune_by_class": by_class, "prune_by_noise_rate": by_rate,
               "both": np.intersect1d(by_class, by_rate)}[filter_by]
    parts = []
    for (s, lab, mem), size in zip(inputs.blocks(), inputs.labels.chunks[0]):
        local = flagged[np.searchsorted(flagged, s):np.searchsorted(flagged, s + size)] - s
        task = dask.delayed(_prune_mask_block, pure=True)(s, lab, mem, inputs.renormalize,
                                                          inputs.chunk, local)
        parts.append(da.from_delayed(task, shape=(size,), dtype=bool))
    return da.concatenate(parts)


def _f1_histogram(scores) -> np.ndarray:
    """float64 (2, EXPECTED_F1_BINS): per bin of the score, the count and the sum of
    ``1 - score``."""
    s = np.asarray(scores, dtype=np.float64)
    b = np.minimum((s * EXPECTED_F1_BINS).astype(np.int64), EXPECTED_F1_BINS - 1)
    return np.stack([np.bincount(b, minlength=EXPECTED_F1_BINS).astype(np.float64),
                     np.bincount(b, weights=1.0 - s, minlength=EXPECTED_F1_BINS)])


def _f1_bins_values(scores, lo: int, hi: int) -> np.ndarray:
    """The block's scores whose bin is in [lo, hi]."""
    s = np.asarray(scores, dtype=np.float64)
    b = np.minimum((s * EXPECTED_F1_BINS).astype(np.int64), EXPECTED_F1_BINS - 1)
    return s[(b >= lo) & (b <= hi)]


def _expected_f1_count(scores) -> int:
    """How many examples ``filter.expected_f1_mask`` flags, from lazy (N,) scores in
    [0, 1], in two passes: a histogram of the scores (counts and sums of 1 - s per bin)
    gives the expected F1 at every bin edge; F1(k) = 2 S(k) / (k + total) is unimodal in k
    (S concave), so its maximum lies in the two non-empty bins around the best edge, whose
    scores the second pass brings to the client to find the exact k (0 when flagging
    nothing scores better, as in memory)."""
    dask, _ = _dask()
    blocks = scores.to_delayed().ravel()
    hist = np.sum(dask.compute(*[dask.delayed(_f1_histogram, pure=True)(b) for b in blocks]),
                  axis=0)
    total = float(hist[1].sum())
    if total <= 0.0:
        return 0
    nonempty = np.flatnonzero(hist[0])
    edges_k = np.cumsum(hist[0][nonempty])
    edges_s = np.cumsum(hist[1][nonempty])
    best = int(np.argmax(edges_s / (edges_k + total)))
    lo, hi = nonempty[best], nonempty[min(best + 1, nonempty.size - 1)]
    k0 = int(edges_k[best - 1]) if best else 0
    s0 = float(edges_s[best - 1]) if best else 0.0
    values = np.sort(np.concatenate(dask.compute(
        *[dask.delayed(_f1_bins_values, pure=True)(b, int(lo), int(hi)) for b in blocks])))
    ks = k0 + np.arange(1, values.size + 1)
    f1 = (s0 + np.cumsum(1.0 - values)) / (ks + total)
    best = int(np.argmax(f1))
    return 0 if np.exp(-total) >= 2.0 * f1[best] else int(ks[best])


def _finish(inputs: _Inputs, mask, scores, score_method, return_ranked: bool, rank_by, out):
    """The mask (or, with ``return_ranked``, the flagged indices ranked by ``rank_by``),
    lazily or stored in ``out``."""
    from labelnoise import rank

    if not return_ranked:
        return mask if out is None else _store(mask, out)
    if rank_by != score_method:
        if rank_by in rank._POSTERIOR_METHODS and inputs.fused is None:
            inv_prior = float(inputs.n) / np.maximum(inputs.counts, 1)
            inputs.fused = np.sum(inputs.reduce_blocks(_pair_counts, inv_prior), axis=0)
        scores = _scores(inputs, rank_by)
    ranked = _ranked(mask, scores)
    if out is None:
        return ranked
    _, da = _dask()
    return _store(da.from_array(ranked, chunks=max(1, ranked.size)), out)
