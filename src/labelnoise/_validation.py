"""Input validation at the library's boundary: one place for every check.

Every public function that takes ``labels``, ``pred_probs`` or a ``noise_matrix`` calls
into this module first, so a bad input gives a ``ValueError`` that names the argument and
the offending index or value instead of a crash deep inside numpy.

Tolerances for ``pred_probs`` (rows are probability vectors):

* a row whose sum is within ``EXACT_ATOL`` (1e-6) of 1 and whose values all lie in
  [0, 1] is used as it is (float32 softmax outputs are accepted unchanged);
* a row whose sum is within ``ROW_SUM_ATOL`` (1e-3) of 1, with values in
  [-``ROW_SUM_ATOL``, 1 + ``ROW_SUM_ATOL``], is accepted: computations then read a
  renormalised copy (negative values clipped to 0, row divided by its sum), chunk by
  chunk, and one ``UserWarning`` is issued per call;
* anything else raises ``ValueError``.

Nothing passed in is modified: renormalisation happens on per-chunk copies.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

EXACT_ATOL = 1e-6
ROW_SUM_ATOL = 1e-3
#: Target size of one chunk of pred_probs, in float64 elements (2 MiB): small enough that a
#: chunk's temporaries stay in cache and are reused by the allocator (measured about 3x
#: faster than 64 MiB chunks, which pay a page fault per 4 KiB of every temporary).
CHUNK_ELEMENTS = 1 << 18


class PredProbsWarning(UserWarning):
    """Issued once per call when pred_probs were within tolerance but not exact."""


def chunk_rows(num_classes: int, chunk_elements: int | None = None) -> int:
    """Number of rows of a (N, K) array that make one chunk of about ``chunk_elements``
    (default: the module's ``CHUNK_ELEMENTS``)."""
    return max(1, (chunk_elements or CHUNK_ELEMENTS) // max(1, num_classes))


def num_threads() -> int:
    """Worker threads for chunked numpy work: ``LABELNOISE_NUM_THREADS`` or the usable cores."""
    env = os.environ.get("LABELNOISE_NUM_THREADS")
    if env:
        return max(1, int(env))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _as_array(x, name: str) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return x
    try:
        return np.asarray(x)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise ValueError(f"{name} could not be converted to a numpy array: {exc}") from exc


def validate_labels(labels, *, num_classes: int | None = None, name: str = "labels") -> np.ndarray:
    """Check ``labels`` and return them as an int64 array of shape (N,).

    Args:
        labels: array-like of shape (N,), integer class indices (floats are accepted only
            when every value is integral).
        num_classes: K; when given, every label must lie in [0, K).
        name: the argument's name, used in error messages.

    Returns:
        int64 ndarray of shape (N,); a new array unless ``labels`` already was int64.

    Raises:
        ValueError: not 1-D, empty, non-integer values, NaN, or a value outside [0, K)
            (the message names the first offending index and value).
    """
    arr = _as_array(labels, name)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D of shape (N,), got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise ValueError(f"{name} must hold integer class indices, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating):
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{name} must hold integer class indices; {name}[{i}] = {arr[i].item()!r}")
    if arr.dtype.kind == "u" and arr.dtype.itemsize >= 8 and arr.max() > np.iinfo(np.int64).max:
        i = int(np.argmax(arr))
        raise ValueError(f"{name} must be class indices below 2**63; {name}[{i}] = {arr[i].item()}")
    if arr.dtype.kind == "f" and np.abs(arr).max() >= 2.0**62:
        i = int(np.argmax(np.abs(arr)))
        raise ValueError(f"{name} must be class indices below 2**62; {name}[{i}] = {arr[i].item()!r}")
    out = arr.astype(np.int64, copy=False)
    if out.min() < 0:
        i = int(np.argmin(out))
        raise ValueError(f"{name} must be >= 0; {name}[{i}] = {out[i]}")
    if num_classes is not None and out.max() >= num_classes:
        i = int(np.argmax(out))
        raise ValueError(
            f"{name} must lie in [0, {num_classes}) (K = {num_classes} classes); "
            f"{name}[{i}] = {out[i]}"
        )
    return out


def validate_seed(seed, name: str = "seed"):
    """Check a random seed: None, a non-negative integer, a ``numpy.random.Generator`` or a
    ``numpy.random.SeedSequence``; returned unchanged (integers as ``int``).

    Raises:
        ValueError: anything else (a string, a float, a negative integer, a bool), naming
            ``name``.
    """
    if seed is None or isinstance(seed, (np.random.Generator, np.random.SeedSequence)):
        return seed
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"{name} must be None, a non-negative integer or a numpy Generator, "
                         f"got {seed!r}")
    if seed < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {seed}")
    return int(seed)


def check_all_classes_present(labels: np.ndarray, num_classes: int, name: str = "labels") -> None:
    """Raise ``ValueError`` naming the first class in [0, K) with no example in ``labels``."""
    counts = np.bincount(labels, minlength=num_classes)
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        raise ValueError(
            f"{name} has no example of class {int(empty[0])} "
            f"(empty classes: {empty[:10].tolist()}{'...' if empty.size > 10 else ''}); "
            "every class in [0, K) needs at least one example"
        )


@dataclass
class PredProbs:
    """Validated, read-only access to one or several (N, K) pred_probs arrays by row chunks.

    Built by :func:`validate_pred_probs`. Several arrays (an ensemble of models) are
    combined by the arithmetic mean of their (renormalised) rows, chunk by chunk, so the
    combined (N, K) array is never held in memory. Arrays may be numpy memory maps.
    """

    arrays: list[np.ndarray]
    renormalize: list[bool]
    n: int
    k: int
    chunk: int = field(default=0)
    #: sum over chunks of the ``fused`` statistic computed during validation (or None)
    fused: object = field(default=None)

    def __post_init__(self) -> None:
        if not self.chunk:
            self.chunk = chunk_rows(self.k)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n, self.k)

    def _member_rows(self, m: int, start: int, stop: int) -> np.ndarray:
        block = np.asarray(self.arrays[m][start:stop])
        if block.dtype != np.float64:
            block = block.astype(np.float64)
        if self.renormalize[m]:
            block = np.clip(block, 0.0, None)
            block /= block.sum(axis=1, keepdims=True)
        return block

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Rows [start, stop) as float64; a view of the input only when it is already
        exact float64 from a single model. Callers must not write into the result."""
        if len(self.arrays) == 1:
            return self._member_rows(0, start, stop)
        out = np.zeros((stop - start, self.k), dtype=np.float64)
        for m in range(len(self.arrays)):
            out += self._member_rows(m, start, stop)
        out /= len(self.arrays)
        return out

    def take(self, indices: np.ndarray) -> np.ndarray:
        """Rows at ``indices`` (int array) as a new float64 (len(indices), K) array."""
        out = None
        for m, (arr, renorm) in enumerate(zip(self.arrays, self.renormalize)):
            block = np.asarray(arr[indices], dtype=np.float64)
            if renorm:
                block = np.clip(block, 0.0, None)
                block /= block.sum(axis=1, keepdims=True)
            out = block if m == 0 else out + block
        if len(self.arrays) > 1:
            out /= len(self.arrays)
        return out

    def chunks(self) -> Iterator[tuple[int, int]]:
        """(start, stop) row ranges of about ``CHUNK_ELEMENTS`` elements each."""
        for start in range(0, self.n, self.chunk):
            yield start, min(self.n, start + self.chunk)

    def materialize(self) -> np.ndarray:
        """The whole combined (N, K) float64 array (a view when no copy is needed)."""
        if len(self.arrays) == 1 and not self.renormalize[0] and self.arrays[0].dtype == np.float64:
            return np.asarray(self.arrays[0])
        out = np.empty((self.n, self.k), dtype=np.float64)
        for a, b in self.chunks():
            out[a:b] = self.rows(a, b)
        return out


def map_chunks(fn, n: int, chunk: int, threads: int | None = None) -> list:
    """Apply ``fn(start, stop)`` to consecutive row ranges of ``n`` rows, in order.

    Runs in a thread pool (numpy releases the GIL in its array loops) when there is more
    than one chunk and more than one usable core; returns the list of results in order.
    """
    ranges = [(a, min(n, a + chunk)) for a in range(0, n, chunk)]
    threads = num_threads() if threads is None else threads
    if threads <= 1 or len(ranges) <= 1:
        return [fn(a, b) for a, b in ranges]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(threads, len(ranges))) as pool:
        return list(pool.map(lambda r: fn(*r), ranges))


def _locate_bad_value(arr: np.ndarray, name: str) -> None:
    """Raise the ValueError for the first offending entry of an (N, K) array (slow path)."""
    for start in range(0, arr.shape[0], chunk_rows(arr.shape[1])):
        block = np.asarray(arr[start : start + chunk_rows(arr.shape[1])])
        finite = np.isfinite(block)
        if not finite.all():
            r, c = np.argwhere(~finite)[0]
            raise ValueError(f"{name} must be finite; {name}[{start + r}, {c}] = {float(block[r, c])!r}")
        if block.min() < -ROW_SUM_ATOL:
            r, c = np.unravel_index(np.argmin(block), block.shape)
            raise ValueError(
                f"{name} must be non-negative; {name}[{start + r}, {c}] = {float(block[r, c])!r}"
            )
        if block.max() > 1.0 + ROW_SUM_ATOL:
            r, c = np.unravel_index(np.argmax(block), block.shape)
            raise ValueError(
                f"{name} values must be probabilities in [0, 1]; "
                f"{name}[{start + r}, {c}] = {float(block[r, c])!r}"
            )
        dev = np.abs(block.sum(axis=1, dtype=np.float64) - 1.0)
        worst = int(np.argmax(dev))
        if dev[worst] > ROW_SUM_ATOL:
            raise ValueError(
                f"each row of {name} must sum to 1 (tolerance {ROW_SUM_ATOL:g}); "
                f"row {start + worst} sums to {block[worst].sum(dtype=np.float64):.6g}"
            )
    raise AssertionError("unreachable: no offending value found")  # pragma: no cover


def _check_one_pred_probs(arr: np.ndarray, name: str, chunk: int, fused=None):
    """Validate one (N, K) array chunk by chunk; return (needs renormalising, fused sum).

    The fast path computes only each chunk's min, max and row sums (NaN propagates into
    all three, so it is caught too); the slow path locates the offending entry. ``fused``,
    when given, is a function ``(float64 block, start, stop) -> ndarray`` evaluated on the
    same chunks while they are in cache; the sum of its results is returned.
    """
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        raise ValueError(f"{name} must be a float array, got dtype {arr.dtype}")

    ones = np.ones(arr.shape[1])  # the caller has checked that arr is (N, K)

    def scan(a: int, b: int):
        block = np.asarray(arr[a:b])
        # row sums as a BLAS matrix-vector product (faster than sum(axis=1) here)
        sums = block @ ones if block.dtype == np.float64 else block.sum(axis=1, dtype=np.float64)
        dev = np.abs(sums - 1.0).max()
        extra = None
        if fused is not None:
            with np.errstate(all="ignore"):  # bad values are reported below, not here
                extra = fused(block.astype(np.float64, copy=False), a, b)
        return float(block.min()), float(block.max()), float(dev), extra

    results = map_chunks(scan, arr.shape[0], chunk)
    stats = np.array([r[:3] for r in results], dtype=np.float64)
    lo, hi, dev = stats[:, 0].min(), stats[:, 1].max(), stats[:, 2].max()
    if not (np.isfinite([lo, hi, dev]).all() and lo >= -ROW_SUM_ATOL
            and hi <= 1.0 + ROW_SUM_ATOL and dev <= ROW_SUM_ATOL):
        _locate_bad_value(arr, name)
    fused_sum = np.sum([r[3] for r in results], axis=0) if fused is not None else None
    return bool(dev > EXACT_ATOL or lo < 0.0 or hi > 1.0), fused_sum


def _is_nested_matrix(obj) -> bool:
    """True when a list/tuple is one matrix written as rows (``[[0.9, 0.1], ...]``), not
    an ensemble of (N, K) arrays."""
    if len(obj) == 0:
        return False
    first = obj[0]
    if isinstance(first, np.ndarray):
        return first.ndim == 1
    if isinstance(first, (list, tuple)):
        return len(first) == 0 or not isinstance(first[0], (list, tuple, np.ndarray))
    return np.ndim(first) == 0


def _rows_identical(arr: np.ndarray, chunk: int) -> bool:
    """Whether every row of ``arr`` equals its first row (a strided sample first, then,
    only if the sample is constant, every chunk)."""
    first = np.asarray(arr[0], dtype=np.float64)
    step = max(1, arr.shape[0] // 4096)
    if not np.array_equal(np.asarray(arr[::step], dtype=np.float64),
                          np.broadcast_to(first, (len(range(0, arr.shape[0], step)), arr.shape[1]))):
        return False
    for start in range(0, arr.shape[0], chunk):
        block = np.asarray(arr[start:start + chunk], dtype=np.float64)
        if not (block == first).all():
            return False
    return True


def validate_pred_probs(
    pred_probs,
    *,
    num_rows: int | None = None,
    name: str = "pred_probs",
    chunk: int | None = None,
    fused=None,
) -> PredProbs:
    """Check ``pred_probs`` (one (N, K) array or a list of them) and wrap it for chunked reads.

    Args:
        pred_probs: float array of shape (N, K), each row the predicted class probabilities
            of one example; or a non-empty list/tuple of such arrays of equal shape (an
            ensemble: combined by the mean of rows). numpy memory maps are read chunk by
            chunk, never loaded whole.
        num_rows: N; when given, the number of rows must equal it.
        name: the argument's name, used in error messages.
        chunk: rows per chunk (default: about 262,144 elements).

    Returns:
        :class:`PredProbs`.

    Raises:
        ValueError: not 2-D, fewer than 2 columns, N mismatch, ensemble members of
            different shapes, NaN or inf, values below -1e-3 or above 1 + 1e-3, or a row
            sum farther than 1e-3 from 1 (the message names the row or entry).
    Warns:
        PredProbsWarning: once, when some rows deviate from exact probabilities within
            the tolerance and a renormalised copy is used; and when every row is the same
            vector (e.g. uniform), which carries no information about the examples.
    """
    if isinstance(pred_probs, (list, tuple)) and _is_nested_matrix(pred_probs):
        pred_probs = np.asarray(pred_probs)  # one (N, K) matrix given as nested lists
    if isinstance(pred_probs, (list, tuple)):
        if len(pred_probs) == 0:
            raise ValueError(f"{name} is an empty list; give at least one (N, K) array")
        members = [_as_array(p, f"{name}[{m}]") for m, p in enumerate(pred_probs)]
        names = [f"{name}[{m}]" for m in range(len(members))]
    else:
        members = [_as_array(pred_probs, name)]
        names = [name]
    shape0 = members[0].shape
    for arr, nm in zip(members, names):
        if arr.ndim != 2:
            raise ValueError(f"{nm} must be 2-D of shape (N, K), got shape {arr.shape}")
        if arr.shape[1] < 2:
            raise ValueError(f"{nm} must have at least 2 columns (classes), got shape {arr.shape}")
        if arr.shape[0] == 0:
            raise ValueError(f"{nm} has no rows")
        if arr.shape != shape0:
            raise ValueError(
                f"all ensemble members of {name} must have the same shape; "
                f"{names[0]} is {shape0} but {nm} is {arr.shape}"
            )
    n, k = shape0
    if num_rows is not None and n != num_rows:
        raise ValueError(
            f"{name} has {n} rows but labels has {num_rows} entries; they must match (N)"
        )
    chunk = chunk or chunk_rows(k)
    fused = fused if len(members) == 1 else None
    checked = [_check_one_pred_probs(arr, nm, chunk, fused) for arr, nm in zip(members, names)]
    renorm = [c[0] for c in checked]
    if any(renorm):
        warnings.warn(
            f"{name}: some rows do not sum exactly to 1 or have values slightly outside "
            f"[0, 1] (within the tolerance {ROW_SUM_ATOL:g}); using a renormalised copy",
            PredProbsWarning,
            stacklevel=3,
        )
    if n > 1 and all(_rows_identical(arr, chunk) for arr in members):
        warnings.warn(
            f"{name}: every row is the same probability vector, so it says nothing about "
            "which examples are mislabelled; noise estimates and label issues computed from "
            "it cannot be trusted (were the predictions made by an untrained model?)",
            PredProbsWarning,
            stacklevel=3,
        )
    pp = PredProbs(arrays=members, renormalize=renorm, n=n, k=k, chunk=chunk)
    # a statistic computed on the raw rows is valid only when no renormalisation is needed
    pp.fused = checked[0][1] if fused is not None and not renorm[0] else None
    return pp


def validate_labels_and_pred_probs(
    labels,
    pred_probs,
    *,
    require_all_classes: bool = True,
    labels_name: str = "labels",
    pred_probs_name: str = "pred_probs",
    fused=None,
) -> tuple[np.ndarray, PredProbs]:
    """Validate ``labels`` (N,) against ``pred_probs`` (N, K) (or a list of them).

    ``fused``, optional: a function of the validated labels returning a per-chunk statistic
    for :func:`validate_pred_probs` (computed in the validation pass; see ``PredProbs.fused``).
    Returns ``(labels as int64, PredProbs)``. Raises ``ValueError`` for any problem listed in
    :func:`validate_labels` and :func:`validate_pred_probs`, an N mismatch, or (when
    ``require_all_classes``) a class in [0, K) with no example in ``labels``.
    """
    lab = validate_labels(labels, name=labels_name)
    pp = validate_pred_probs(pred_probs, num_rows=lab.shape[0], name=pred_probs_name,
                             fused=None if fused is None else fused(lab))
    if lab.max() >= pp.k:
        i = int(np.argmax(lab))
        raise ValueError(
            f"{labels_name} must lie in [0, {pp.k}) ({pred_probs_name} has K = {pp.k} "
            f"columns); {labels_name}[{i}] = {lab[i]}"
        )
    if require_all_classes:
        check_all_classes_present(lab, pp.k, labels_name)
    return lab, pp


def validate_noise_matrix(noise_matrix, *, num_classes: int | None = None,
                          name: str = "noise_matrix", atol: float = 1e-6) -> np.ndarray:
    """Check a noise matrix ``P(given = i | true = j)`` stored as ``noise_matrix[i, j]``.

    Returns a float64 (K, K) copy. Raises ``ValueError`` when it is not square (K, K), has
    NaN/inf or negative entries, or a column does not sum to 1 within ``atol`` (the message
    names the column and its sum).
    """
    m = _as_array(noise_matrix, name)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"{name} must be square (K, K), got shape {m.shape}")
    if num_classes is not None and m.shape[0] != num_classes:
        raise ValueError(f"{name} must be ({num_classes}, {num_classes}), got shape {m.shape}")
    m = np.array(m, dtype=np.float64)
    if not np.isfinite(m).all():
        r, c = np.argwhere(~np.isfinite(m))[0]
        raise ValueError(f"{name} must be finite; {name}[{r}, {c}] = {float(m[r, c])!r}")
    if (m < 0).any():
        r, c = np.argwhere(m < 0)[0]
        raise ValueError(f"{name} must be non-negative; {name}[{r}, {c}] = {float(m[r, c])!r}")
    col = m.sum(axis=0)
    bad = np.flatnonzero(np.abs(col - 1.0) > atol)
    if bad.size:
        j = int(bad[0])
        raise ValueError(
            f"each column of {name} (= P(given | true = j)) must sum to 1; "
            f"column {j} sums to {col[j]:.6g}"
        )
    return m


def validate_choice(value: str, choices: Sequence[str], name: str) -> str:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value
