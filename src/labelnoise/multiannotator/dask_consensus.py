"""Consensus labels on Dask arrays: majority vote and Dawid-Skene over annotations chunked
along N.

:func:`labelnoise.multiannotator.consensus_labels` hands a dense ``dask.array``
annotations matrix (N, M), chunked along N only (class indices, -1 for missing; floats
with NaN for missing are accepted, as in memory) to :func:`consensus_labels` here. Each
block becomes an :class:`~labelnoise.multiannotator.annotations.Annotations` of its rows
(``Annotations.from_dense``), and the in-memory functions run on it: ``_majority_vote``,
``em._estep``, and the EM loop itself (``em._dawid_skene_em``, shared with the in-memory
``_dawid_skene``), so the maths has one implementation. On whatever Dask scheduler is
active (the threaded default, or a ``distributed.Client``):

* **validation** (one pass): per block the first non-integral / inf entry, the smallest
  and largest class (with their first position), labels per annotator and per example,
  and which annotators share an example with another; reduced on the client into the
  in-memory path's checks, in its order and with its messages (the same global
  ``annotations[row, column]``);
* **majority vote** (one pass): per block the consensus labels and their (M, K, K)
  confusion counts, class counts and agreement counts, summed;
* **Dawid and Skene (1979)** (one pass to start, then one per EM iteration): per block the
  E-step (the posterior of its rows from the current confusion matrices and class prior),
  and from it the M-step's sufficient statistics, the soft confusion counts (M, K, K), the
  posterior's column sums (K,), each annotator's summed posterior probability of their
  labels (M,) and the log marginal likelihood, as one float64 vector per block, summed by
  a Dask tree reduction. The client runs the M-step exactly as in memory (the same
  hierarchical Dirichlet prior and empirical-Bayes ``prior_strength`` from the summed
  counts, the same soft-majority-vote start, convergence test and ``max_iter``).

Results: a :class:`~labelnoise.multiannotator.results.ConsensusResult` whose per-example
fields (``consensus_labels`` int64 (N,), ``consensus_quality`` float64 (N,),
``posterior`` float64 (N, K)) are lazy Dask arrays chunked as the annotations (computed
blockwise from the fitted parameters, one block per task, as
:func:`labelnoise.find_label_issues` on Dask arrays returns a lazy mask); the (M, K, K),
(M,) and (K,) statistics are computed numpy arrays, and ``annotations`` is the validated
Dask array (not an ``Annotations``).

Equality with the in-memory path: majority vote is identical (bit for bit: every sum is a
count). Dawid-Skene sums the per-block statistics in another order than the in-memory
sparse products, so the confusion matrices, class prior, posterior, quality and
annotator accuracy agree to float rounding (1e-13 to 1e-12 after EM; the tests use 1e-10),
``n_iter``, ``converged`` and the labels are the same unless the log-likelihood change
sits within rounding of ``tol * N`` or two classes' posteriors tie to rounding.

Memory: a task holds one block (its rows x M dense, its triplets and rows x K
posterior); the client holds the (M, K, K) statistics and one float64 vector of
M*K*K + K + M + 1 entries per block being summed.

Not supported on Dask arrays (``NotImplementedError``): ``glad``, ``model_aware``,
``pred_probs``, and ``tie_break="random"`` with a seed whose bit generator cannot be
advanced (anything but PCG64 / PCG64DXSM; ints, ``None`` and ``default_rng`` generators
are PCG64). ``label_quality_multiannotator`` needs in-memory annotations.

Requires the optional extra ``labelnoise[dask]``; importing :mod:`labelnoise` never
imports dask (this module is imported only when a Dask array is passed).
"""

from __future__ import annotations

import numpy as np

from labelnoise.dask_arrays import _dask
from labelnoise.multiannotator.annotations import Annotations
from labelnoise.multiannotator.em import _dawid_skene_em, _estep, _smoothed_confusions
from labelnoise.multiannotator.vote import _majority_vote

#: the methods :func:`consensus_labels` runs on Dask arrays
DASK_METHODS = ("majority_vote", "dawid_skene")

_ADVANCEABLE = ("PCG64", "PCG64DXSM")


# --------------------------------------------------------------------------- validation
def _check_array(annotations) -> None:
    """The in-memory ``Annotations.from_dense`` checks that need no data (same messages),
    and the chunking."""
    shape = annotations.shape
    if annotations.ndim != 2:
        raise ValueError(f"annotations must be 2-D of shape (N, M), got shape {shape}")
    if any(np.isnan(s) for s in shape):
        raise ValueError("annotations has unknown chunk sizes; call .compute_chunk_sizes() first")
    if shape[0] == 0 or shape[1] == 0:
        raise ValueError(f"annotations is empty (shape {shape})")
    dtype = annotations.dtype
    if dtype == np.bool_ or not (np.issubdtype(dtype, np.integer)
                                 or np.issubdtype(dtype, np.floating)):
        raise ValueError(f"annotations must hold integer class indices, got dtype {dtype}")
    if len(annotations.chunks[1]) > 1:
        raise ValueError(f"annotations is chunked along M (its {shape[1]} columns in "
                         f"{len(annotations.chunks[1])} chunks); chunk it along N only, e.g. "
                         "annotations.rechunk({1: -1})")


def _observed(arr: np.ndarray):
    """(rows, columns, int64 labels) of one block's observed entries, row-major, as
    ``Annotations.from_dense`` reads them; or the first bad entry ``(row, column, value)``."""
    if np.issubdtype(arr.dtype, np.floating):
        observed = ~np.isnan(arr)
        bad = observed & (~np.isfinite(arr) | (arr != np.round(arr)))
        if bad.any():
            r, c = np.argwhere(bad)[0]
            return None, (int(r), int(c), arr[r, c])
        observed &= arr != -1
    else:
        observed = arr != -1
    rows, cols = np.nonzero(observed)
    return (rows, cols, arr[rows, cols].astype(np.int64)), None


def _stats_block(block, start: int) -> dict:
    """Validation statistics of one block whose first row is global row ``start``."""
    arr = np.asarray(block)
    found, bad = _observed(arr)
    if bad is not None:
        r, c, v = bad
        return {"bad": (start + r, c, v)}
    rows, cols, labels = found
    n, m = arr.shape
    st = {"bad": None, "min": None, "max": None}
    if labels.size:
        i, j = int(np.argmin(labels)), int(np.argmax(labels))
        st["min"] = (int(labels[i]), start + int(rows[i]), int(cols[i]))
        st["max"] = (int(labels[j]), start + int(rows[j]), int(cols[j]))
    per_example = np.bincount(rows, minlength=n)
    empty = np.flatnonzero(per_example == 0)
    st["n_empty"] = int(empty.size)
    st["first_empty"] = start + int(empty[0]) if empty.size else None
    st["per_annotator"] = np.bincount(cols, minlength=m).astype(np.int64)
    st["overlap"] = np.bincount(cols[per_example[rows] >= 2], minlength=m) > 0
    # distinct (example, label) pairs: the random draws _majority_vote takes for this block
    order = np.lexsort((labels, rows))
    r, lab = rows[order], labels[order]
    st["pairs"] = int(labels.size and 1 + np.count_nonzero((r[1:] != r[:-1]) | (lab[1:] != lab[:-1])))
    return st


def _first(entries, largest: bool):
    """The (value, row, column) with the smallest (largest) value, first position on ties
    (blocks are in row order): numpy's ``argmin`` / ``argmax`` over the whole matrix."""
    best = None
    for e in entries:
        if e is not None and (best is None or (e[0] > best[0] if largest else e[0] < best[0])):
            best = e
    return best


class _Validated:
    """What the validation pass found: K, the labels per annotator, the overlapping
    annotators, and per block its first row and its number of distinct (example, label)
    pairs."""

    def __init__(self, annotations, num_classes, stats):
        self.annotations = annotations
        self.n, self.m = (int(s) for s in annotations.shape)
        self.sizes = [int(c) for c in annotations.chunks[0]]
        self.starts = [int(s) for s in np.cumsum([0] + self.sizes)[:-1]]
        for st in stats:  # the in-memory order: non-integral values first, then range
            if st["bad"] is not None:
                r, c, v = st["bad"]
                raise ValueError(f"annotations must hold integer class indices; "
                                 f"annotations[{r}, {c}] = {v!r}")
        low = _first([st["min"] for st in stats], largest=False)
        if low is not None and low[0] < 0:
            raise ValueError(f"annotations must be -1 (missing) or a class index >= 0; "
                             f"annotations[{low[1]}, {low[2]}] = {low[0]}")
        high = _first([st["max"] for st in stats], largest=True)
        if num_classes is None:
            if high is None:
                raise ValueError("annotations hold no labels; give num_classes or some labels")
            num_classes = max(2, high[0] + 1)
        k = int(num_classes)
        if high is not None and high[0] >= k:
            raise ValueError(f"annotations must lie in [0, {k}) (K = {k} classes) or be -1; "
                             f"annotations[{high[1]}, {high[2]}] = {high[0]}")
        n_empty = sum(st["n_empty"] for st in stats)
        if n_empty:
            first = min(st["first_empty"] for st in stats if st["first_empty"] is not None)
            raise ValueError(
                f"{n_empty} example(s) have no label from any annotator (first: example "
                f"{first}); drop them (method='model_aware' with pred_probs, which lets the "
                "model alone decide them, needs in-memory annotations)")
        self.k = k
        self.num_labels = np.sum([st["per_annotator"] for st in stats], axis=0).astype(np.int64)
        self.overlapping = np.logical_or.reduce([st["overlap"] for st in stats])
        self.pairs = [st["pairs"] for st in stats]

    def blocks(self):
        """The annotation blocks as Dask delayed objects, in row order."""
        return list(self.annotations.to_delayed().ravel())


def _validate(annotations, num_classes) -> _Validated:
    dask, _ = _dask()
    _check_array(annotations)
    sizes = annotations.chunks[0]
    starts = np.cumsum((0,) + sizes)[:-1]
    blocks = annotations.to_delayed().ravel()
    stats = dask.compute(*[dask.delayed(_stats_block, pure=True)(b, int(s))
                           for b, s in zip(blocks, starts)])
    return _Validated(annotations, num_classes, list(stats))


# --------------------------------------------------------------------------- passes
def _block_annotations(block, k: int) -> Annotations:
    """The block's rows as ``Annotations`` (the in-memory conversion, validated already)."""
    return Annotations.from_dense(np.asarray(block), num_classes=k)


def _block_rng(spec, offset: int):
    """A ``Generator`` positioned ``offset`` draws after ``spec`` = (bit generator class
    name, state), or ``None`` (no random tie-break)."""
    if spec is None:
        return None
    name, state = spec
    bg = getattr(np.random, name)()
    bg.state = state
    bg.advance(offset)
    return np.random.Generator(bg)


def _vote_block(block, k: int, tie_break: str, rng_spec, offset: int):
    """Majority vote of one block: (labels int64, posterior (vote fractions) float64
    (rows, K), statistics float64 (M*K*K + K + M,): confusion counts of the hard labels,
    class counts, each annotator's labels equal to the consensus)."""
    ann = _block_annotations(block, k)
    m = ann.n_annotators
    labels = _majority_vote(ann, tie_break, _block_rng(rng_spec, offset))
    post = ann.vote_counts().toarray()
    post /= post.sum(axis=1, keepdims=True)
    hard = np.zeros_like(post)
    hard[np.arange(ann.n_examples), labels] = 1.0
    counts = np.asarray(ann.design_matrix().T @ hard).ravel()
    correct = (ann.label == labels[ann.example]).astype(np.float64)
    stats = np.concatenate([counts, np.bincount(labels, minlength=k).astype(np.float64),
                            np.bincount(ann.annotator, weights=correct, minlength=m)])
    return labels, post, stats


def _vote_stats(block, k, tie_break, rng_spec, offset):
    return _vote_block(block, k, tie_break, rng_spec, offset)[2]


def _em_posterior(block, k: int, params):
    """(Annotations of the block, its posterior (rows, K), log marginal likelihood):
    ``params`` ``None`` gives the soft majority vote (the EM start), else
    (log_conf_rows (M*K, K), log_prior (K,)) the E-step (``em._estep``)."""
    ann = _block_annotations(block, k)
    if params is None:
        post = ann.vote_counts().toarray()
        post /= post.sum(axis=1, keepdims=True)
        return ann, post, 0.0
    log_conf_rows, log_prior = params
    post = np.empty((ann.n_examples, k))
    ll = _estep(ann.design_matrix(), log_conf_rows, log_prior, post)
    return ann, post, ll


def _em_stats(block, k: int, params) -> np.ndarray:
    """One block's share of an EM pass, float64 (M*K*K + K + M + 1,): soft confusion
    counts [given, true], posterior column sums, each annotator's summed posterior
    probability of their labels, log marginal likelihood."""
    ann, post, ll = _em_posterior(block, k, params)
    counts = np.asarray(ann.design_matrix().T.tocsr() @ post).ravel()
    correct = np.bincount(ann.annotator, weights=post[ann.example, ann.label],
                          minlength=ann.n_annotators)
    return np.concatenate([counts, post.sum(axis=0), correct, [ll]])


def _shared(args) -> list:
    """``args`` with the arrays (and tuples of them) as one Dask node each, so the graph
    holds them once, not once per block."""
    dask, _ = _dask()
    return [dask.delayed(a, pure=True) if isinstance(a, (np.ndarray, tuple)) else a
            for a in args]


def _summed(val: _Validated, fn, size: int, *args, per_block=None) -> np.ndarray:
    """``fn(block, *args[, per_block[i]])`` (a float64 (size,) vector) summed over the
    blocks by a Dask tree reduction, computed."""
    dask, da = _dask()
    args = _shared(args)
    parts = []
    for i, b in enumerate(val.blocks()):
        extra = () if per_block is None else (per_block[i],)
        task = dask.delayed(fn, pure=True)(b, *args, *extra)
        parts.append(da.from_delayed(task, shape=(size,), dtype=np.float64))
    return np.asarray(da.stack(parts).sum(axis=0).compute())


def _lazy(val: _Validated, fn, *args, per_block=None):
    """Lazy (labels int64 (N,), quality float64 (N,), posterior float64 (N, K)) from
    ``fn(block, *args[, per_block[i]])`` -> (labels, posterior), one task per block."""
    dask, da = _dask()
    args = _shared(args)
    labels, quality, post = [], [], []
    for i, (b, size) in enumerate(zip(val.blocks(), val.sizes)):
        extra = () if per_block is None else (per_block[i],)
        task = dask.delayed(_finish_block, pure=True)(fn, b, *args, *extra)
        labels.append(da.from_delayed(task[0], shape=(size,), dtype=np.int64))
        quality.append(da.from_delayed(task[1], shape=(size,), dtype=np.float64))
        post.append(da.from_delayed(task[2], shape=(size, val.k), dtype=np.float64))
    return da.concatenate(labels), da.concatenate(quality), da.concatenate(post)


def _finish_block(fn, block, *args):
    """(labels, clipped quality, posterior) of one block, as ``consensus_labels`` derives
    them in memory."""
    labels, post = fn(block, *args)
    quality = post[np.arange(post.shape[0]), labels]
    return labels, np.clip(quality, 0.0, 1.0), post


def _vote_final(block, k, tie_break, rng_spec, offset):
    labels, post, _ = _vote_block(block, k, tie_break, rng_spec, offset)
    return labels, post


def _ds_final(block, k, params):
    _, post, _ = _em_posterior(block, k, params)
    return np.argmax(post, axis=1).astype(np.int64), post


# --------------------------------------------------------------------------- entry points
def _rng_spec(seed, tie_break: str, method: str, pairs: list):
    """(spec, offsets): the state of ``default_rng(seed)`` and each block's first draw, so
    block i draws exactly the random numbers the in-memory vote gives its pairs; the
    caller's generator (if one was given) is advanced past them, as in memory."""
    if method != "majority_vote" or tie_break != "random":
        return None, [0] * len(pairs)
    rng = np.random.default_rng(seed)
    bg = rng.bit_generator
    name = type(bg).__name__
    if name not in _ADVANCEABLE:
        raise NotImplementedError(f"tie_break='random' on a dask.array needs a seed of an int, "
                                  f"None or a PCG64 / PCG64DXSM generator, got {name}")
    offsets = [int(o) for o in np.cumsum([0] + pairs)[:-1]]
    spec = (name, bg.state)
    bg.advance(int(sum(pairs)))
    return spec, offsets


def consensus_labels(annotations, *, method: str, num_classes: int | None, prior_strength,
                     tie_break: str, max_iter: int, tol: float, seed, progress: bool):
    """:func:`labelnoise.multiannotator.consensus_labels` on a Dask array (arguments
    checked by the caller).

    Args:
        annotations: ``dask.array`` (N, M) of int (class in [0, K), -1 = missing) or
            float (NaN or -1 = missing), chunked along N only.
        method: ``"majority_vote"`` or ``"dawid_skene"`` (Dawid and Skene 1979).
        num_classes, prior_strength, tie_break, max_iter, tol, seed, progress: as the
            in-memory function.

    Returns:
        :class:`ConsensusResult`: ``consensus_labels`` int64 (N,), ``consensus_quality``
        float64 (N,) and ``posterior`` float64 (N, K) lazy Dask arrays chunked as
        ``annotations``; ``noise_matrices`` (M, K, K), ``annotator_accuracy`` (M,),
        ``num_labels`` (M,), ``class_prior`` (K,) numpy arrays; ``annotations`` the Dask
        array. Majority vote: identical to the in-memory result; Dawid-Skene: equal to
        float rounding (see the module docstring).

    Raises:
        ValueError: the in-memory path's messages (not 2-D, empty, a dtype other than
            integer or float, a non-integral or infinite entry, a class below -1 or >= K,
            an example nobody labelled), unknown chunk sizes, or ``annotations`` chunked
            along M (rechunk it along N only).
        NotImplementedError: ``tie_break="random"`` with a generator that cannot skip
            ahead (see :func:`_rng_spec`).

    Warns:
        AnnotatorQualityWarning: as the in-memory function.
    """
    from labelnoise.multiannotator.consensus import _flag_unestimable_counts
    from labelnoise.multiannotator.results import ConsensusResult

    val = _validate(annotations, num_classes)
    n, m, k = val.n, val.m, val.k
    has = val.num_labels > 0
    strength = None
    if method == "majority_vote":
        spec, offsets = _rng_spec(seed, tie_break, method, val.pairs)
        stats = _summed(val, _vote_stats, m * k * k + k + m, k, tie_break, spec,
                        per_block=offsets)
        counts = stats[:m * k * k].reshape(m, k, k)
        conf = _smoothed_confusions(counts, 1.0 if prior_strength == "auto" else prior_strength)
        prior = stats[m * k * k:m * k * k + k] / n
        correct = stats[m * k * k + k:]
        labels, quality, post = _lazy(val, _vote_final, k, tie_break, spec, per_block=offsets)
        n_iter, converged = 0, True
    else:
        size = m * k * k + k + m + 1
        last = {"stats": _summed(val, _em_stats, size, k, None)}

        def statistics():
            s = last["stats"]
            return s[:m * k * k].reshape(m, k, k), s[m * k * k:m * k * k + k]

        def estep(log_conf_rows, log_prior):
            last["params"] = (log_conf_rows, log_prior)
            last["stats"] = _summed(val, _em_stats, size, k, (log_conf_rows, log_prior))
            return float(last["stats"][-1])

        conf, prior, n_iter, converged, strength = _dawid_skene_em(
            n, m, k, statistics, estep, prior_strength=prior_strength, max_iter=max_iter,
            tol=tol, progress=progress)
        correct = last["stats"][m * k * k + k:-1]
        labels, quality, post = _lazy(val, _ds_final, k, last["params"])
    acc = np.full(m, np.nan)
    acc[has] = correct[has] / val.num_labels[has]
    _flag_unestimable_counts(val.num_labels, val.overlapping, None, method, None, acc,
                             stacklevel=5)
    return ConsensusResult(
        consensus_labels=labels, consensus_quality=quality, posterior=post,
        noise_matrices=conf, annotator_accuracy=acc, num_labels=val.num_labels.copy(),
        class_prior=np.asarray(prior, dtype=np.float64), n_iter=int(n_iter), method=method,
        annotations=annotations, model_calibration=None, converged=converged,
        prior_strength=strength)


def _agreement_block(block, labels) -> np.ndarray:
    """float64 (M,): each annotator's labels in the block equal to the consensus label."""
    arr = np.asarray(block)
    found, _ = _observed(arr)
    rows, cols, lab = found
    agree = (lab == np.asarray(labels)[rows]).astype(np.float64)
    return np.bincount(cols, weights=agree, minlength=arr.shape[1])


def annotator_quality(consensus):
    """:func:`labelnoise.multiannotator.annotator_quality` of a consensus computed on a Dask
    array: ``agreement_with_consensus`` by one pass over the annotations (identical to the
    in-memory value: the sums are counts).

    Args:
        consensus: a :class:`ConsensusResult` from :func:`consensus_labels` on a Dask
            array (its ``annotations`` and ``consensus_labels`` share their row chunks).

    Returns:
        :class:`AnnotatorQuality`, arrays of shape (M,), ``annotator_ids`` the column
        indices (int64).
    """
    from labelnoise.multiannotator.results import AnnotatorQuality

    dask, da = _dask()
    annotations = consensus.annotations
    m = int(annotations.shape[1])
    labels = consensus.consensus_labels.rechunk((annotations.chunks[0],))
    parts = [da.from_delayed(dask.delayed(_agreement_block, pure=True)(b, lab), shape=(m,),
                             dtype=np.float64)
             for b, lab in zip(annotations.to_delayed().ravel(), labels.to_delayed().ravel())]
    agree = np.asarray(da.stack(parts).sum(axis=0).compute())
    with np.errstate(invalid="ignore", divide="ignore"):
        agreement = agree / consensus.num_labels
    return AnnotatorQuality(annotator_ids=np.arange(m), num_labels=consensus.num_labels.copy(),
                            accuracy=consensus.annotator_accuracy.copy(),
                            agreement_with_consensus=agreement)
