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

import math
import numbers
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


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (whitespace runs joined by single spaces), or its
    type's name when it has no message."""
    return " ".join(str(exc).split()) or type(exc).__name__


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


def check_int(value, name: str, low: int) -> int:
    """Check an integer argument (a count, an epoch, a neighbour number) against its
    least allowed value.

    Returns ``int(value)``.

    Raises:
        ValueError: a bool, a non-integer (floats included) or a value below ``low``,
            naming ``name``.
    """
    if (isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral)
            or value < low):
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def check_real(value, name: str, *, low: float | None = None, strict: bool = False,
               high: float | None = None, high_inclusive: bool = False) -> float:
    """Check a real-valued argument (a weight, a temperature, a threshold): a finite real
    number, at least ``low`` (more than ``low`` when ``strict``) and less than ``high`` (at
    most ``high`` when ``high_inclusive``) when those are given.

    The one check behind every scalar hyperparameter that enters as a float, so that NaN,
    inf, bools and non-numbers are refused the same way everywhere.

    Returns ``float(value)``.

    Raises:
        ValueError: a bool, a non-number, NaN or inf, or a value out of range, naming
            ``name``.
    """
    if low is None:
        need = "" if high is None else f" {'<=' if high_inclusive else '<'} {high:g}"
    elif high is None:
        need = f" {'>' if strict else '>='} {low:g}"
    else:
        need = (f" in {'(' if strict else '['}{low:g}, {high:g}"
                f"{']' if high_inclusive else ')'}")
    if (isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real)
            or not math.isfinite(value)
            or (low is not None and (value <= low if strict else value < low))
            or (high is not None and (value > high if high_inclusive else value >= high))):
        raise ValueError(f"{name} must be a finite number{need}, got {value!r}")
    return float(value)


def check_fraction(value, name: str, *, allow_none: bool = False) -> float | None:
    """Check a fraction in [0, 1) (a forget rate, a noise rate, a validation fraction).

    Returns ``float(value)``, or None when ``value`` is None and ``allow_none``.

    Raises:
        ValueError: a bool, a non-number, NaN, or a value outside [0, 1), naming ``name``.
    """
    if value is None and allow_none:
        return None
    if (isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real)
            or not 0 <= value < 1):
        what = "None or a number in [0, 1)" if allow_none else "a number in [0, 1)"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return float(value)


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
                " (logits? give the softmax of each row)"
            )
        if block.max() > 1.0 + ROW_SUM_ATOL:
            r, c = np.unravel_index(np.argmax(block), block.shape)
            hint = (" (percentages? divide by 100)"
                    if np.allclose(block.sum(axis=1, dtype=np.float64), 100.0, atol=0.1)
                    else " (logits or scores? give the softmax of each row)")
            raise ValueError(
                f"{name} values must be probabilities in [0, 1]; "
                f"{name}[{start + r}, {c}] = {float(block[r, c])!r}{hint}"
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


def check_member_shapes(members, names, name: str) -> tuple[int, int]:
    """(N, K) of pred_probs given as ensemble ``members`` (arrays with ``.shape``/``.ndim``,
    numpy or Dask) named ``names``; ValueError naming the member when one is not 2-D with at
    least 2 columns and a row, or the shapes differ."""
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
    return shape0


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
    n, k = check_member_shapes(members, names, name)
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


# ---------------------------------------------------------------------------------------
# labels as people have them: strings, pandas categoricals, integers that are not 0..K-1


class LabelOrderWarning(UserWarning):
    """Issued when the given labels and the columns of pred_probs look misaligned (the
    arg-max of pred_probs would agree far better with the labels if its columns were in
    another class order)."""


def sorted_classes(values) -> list:
    """Distinct values sorted (numbers numerically, anything else by its string)."""
    uniq = list(dict.fromkeys(values))
    try:
        return sorted(uniq)
    except TypeError:
        return sorted(uniq, key=str)


def _is_missing(value) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, pandas NA/NaT
    except (TypeError, ValueError):
        return False


def _is_integer_like(arr: np.ndarray) -> bool:
    """Whether ``arr`` holds integers (an integer dtype, or floats that are all integral)."""
    if arr.dtype == np.bool_:
        return False
    if np.issubdtype(arr.dtype, np.integer):
        return True
    if np.issubdtype(arr.dtype, np.floating):
        return bool(np.isfinite(arr).all() and (arr == np.round(arr)).all())
    return False


def validate_class_names(class_names, *, name: str = "class_names") -> list:
    """Check a class list: a 1-D sequence of at least 2 distinct, non-missing names (any
    hashable values; their order is the order of the pred_probs columns).

    Returns:
        list of the K names (numpy scalars converted to Python values).

    Raises:
        ValueError: not 1-D, fewer than 2 names, a missing (None/NaN) name or a repeated
            name (the message names its position).
    """
    if isinstance(class_names, str):
        raise ValueError(f"{name} must be a sequence of class names, got the string "
                         f"{class_names!r} (split it: {class_names.split(',')!r}?)")
    arr = np.asarray(list(class_names) if not isinstance(class_names, np.ndarray) else class_names,
                     dtype=object)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (K,), got shape {arr.shape}")
    names = [v.item() if isinstance(v, np.generic) else v for v in arr.tolist()]
    if len(names) < 2:
        raise ValueError(f"{name} must name at least 2 classes, got {names!r}")
    seen: dict = {}
    for i, v in enumerate(names):
        if _is_missing(v):
            raise ValueError(f"{name}[{i}] is missing ({v!r})")
        try:
            key = v if not isinstance(v, float) or v != int(v) else int(v)
            hash(key)
        except (TypeError, OverflowError, ValueError):
            raise ValueError(f"{name}[{i}] = {v!r} is not a usable class name") from None
        if key in seen or str(v) in seen:
            raise ValueError(f"{name} repeats {v!r} (positions {seen.get(key, seen.get(str(v)))} "
                             f"and {i}); class names must be distinct")
        seen[key] = i
        seen.setdefault(str(v), i)
    return names


def _label_values(labels, name: str):
    """(numpy array of the label values, categories or None) for any array-like,
    pandas Series/Categorical included (pandas is not imported for other inputs)."""
    mod = type(labels).__module__
    if mod.startswith("pandas"):
        import pandas as pd

        dtype = getattr(labels, "dtype", None)
        if isinstance(dtype, pd.CategoricalDtype):
            cat = pd.Categorical(labels)
            return cat, list(cat.categories)
        if isinstance(labels, pd.Index | pd.Series) or hasattr(labels, "to_numpy"):
            if getattr(labels, "ndim", 1) != 1:
                raise ValueError(f"{name} must be 1-D of shape (N,), got shape {labels.shape}")
            arr = labels.to_numpy()
            if arr.dtype == object or np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_:
                return arr, None
            return arr.astype(object), None
    arr = _as_array(labels, name)
    if arr.dtype.kind in "US" and not isinstance(labels, np.ndarray):
        # a list mixing strings and None/NaN: numpy would make "None"/"nan" strings of them
        arr = np.asarray(labels, dtype=object)
    return arr, None


def encode_labels(labels, *, class_names=None, name: str = "labels",
                  class_names_name: str = "class_names") -> tuple[np.ndarray, list | None, bool]:
    """Turn labels as people have them into class indices 0..K-1 (the pred_probs columns).

    Rules (one per kind of input):

    * ``class_names`` given (the K classes in the order of the pred_probs columns):
      integer labels with class names that are not all integers are **indices** into
      ``class_names`` (in [0, K)); any other labels (strings, integers such as 3/7/9 with
      integer class names, categoricals) are **values**, each looked up in
      ``class_names`` (by equality, then by its string, so ``"3"`` finds ``3``). A class
      with no example is allowed.
    * a pandas ``Categorical`` (or a Series of category dtype) without ``class_names``:
      its categories, in their order, are the classes (unused categories included).
    * integer labels without ``class_names``: indices, checked by :func:`validate_labels`
      (the existing behaviour; the class names are then unknown).
    * any other labels (strings, booleans, mixed objects) without ``class_names``: the
      distinct values sorted (numbers numerically, else by string; ``False`` before
      ``True``, scikit-learn's ``classes_`` order) are the classes; the pred_probs columns
      must then be in that order (see :class:`LabelOrderWarning`).

    Args:
        labels: array-like (N,), a pandas Series or Categorical.
        class_names: optional sequence of the K class names (:func:`validate_class_names`).
        name, class_names_name: the arguments' names in messages.

    Returns:
        ``(codes, class_names, explicit)``: int64 (N,) codes (a new array unless the input
        already was int64 indices); the K class names, or None for integer labels without
        names; and whether the class list was given (``class_names`` or categories), in
        which case classes with no example are allowed.

    Raises:
        ValueError: not 1-D, empty, a missing label (None/NaN), a label not in
            ``class_names`` or an index outside [0, K) (naming the first such index and
            value), or an invalid ``class_names``.
    """
    names = None if class_names is None else validate_class_names(class_names, name=class_names_name)
    values, categories = _label_values(labels, name)
    if categories is not None:  # pandas Categorical
        codes = np.asarray(values.codes, dtype=np.int64)
        if codes.size == 0:
            raise ValueError(f"{name} is empty")
        if (codes < 0).any():
            i = int(np.flatnonzero(codes < 0)[0])
            raise ValueError(f"{name}[{i}] is missing (not one of the categories)")
        if names is None:
            cats = [c.item() if isinstance(c, np.generic) else c for c in categories]
            if len(cats) < 2:
                raise ValueError(f"{name} is a categorical with {len(cats)} category; at least 2 "
                                 "classes are needed")
            return codes, cats, True
        values = np.asarray(values.astype(object))
    arr = values
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D of shape (N,), got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    numeric = np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_
    if names is None:
        if numeric and arr.dtype != np.bool_:
            return validate_labels(arr, name=name), None, False
        obj = arr.astype(object) if arr.dtype != object else arr
        as_num = _object_integers(obj)
        if as_num is not None:  # an object array of Python ints: indices, as before
            return validate_labels(as_num, name=name), None, False
        _check_no_missing(obj, name)
        classes = sorted_classes(obj.tolist())
        if len(classes) < 2:
            raise ValueError(f"{name} has one distinct value ({classes[0]!r}); at least 2 "
                             "classes are needed")
        index = {v: i for i, v in enumerate(classes)}
        return np.fromiter((index[v] for v in obj.tolist()), np.int64, obj.shape[0]), classes, False
    k = len(names)
    names_are_ints = all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in names)
    if numeric and arr.dtype != np.bool_ and _is_integer_like(arr) and not names_are_ints:
        return validate_labels(arr, num_classes=k, name=name), names, True
    obj = arr.astype(object) if arr.dtype != object else arr
    _check_no_missing(obj, name)
    index = {}
    for i, v in enumerate(names):
        index.setdefault(str(v), i)
    for i, v in enumerate(names):
        index[v] = i
    out = np.empty(obj.shape[0], dtype=np.int64)
    for n, v in enumerate(obj.tolist()):
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        code = index.get(v) if _hashable(v) else None
        if code is None:
            code = index.get(str(v))
        if code is None:
            shown = names if k <= 12 else names[:12] + ["..."]
            raise ValueError(f"{name}[{n}] = {v!r} is not one of {class_names_name} {shown}")
        out[n] = code
    return out, names, True


def _hashable(v) -> bool:
    try:
        hash(v)
    except TypeError:
        return False
    return True


def _object_integers(obj: np.ndarray) -> np.ndarray | None:
    """An object array whose every entry is a (non-bool) integer, as int64; else None."""
    if all(isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_)
           for v in obj.tolist()):
        try:
            return obj.astype(np.int64)
        except OverflowError:
            return None
    return None


def _check_no_missing(obj: np.ndarray, name: str) -> None:
    for i, v in enumerate(obj.tolist()):
        if _is_missing(v):
            raise ValueError(f"{name}[{i}] is missing ({v!r}); every example needs a label")


def argmax_agreement(counts: np.ndarray) -> tuple[float, float, np.ndarray]:
    """How well the given labels agree with the arg-max of pred_probs, as given and under
    the best re-ordering of the pred_probs columns.

    Args:
        counts: (K, K) counts, ``counts[i, j]`` = examples with given label i whose
            pred_probs arg-max is column j.

    Returns:
        ``(as_given, best, column_of_class)``: the fraction of examples with arg-max =
        given label; the largest such fraction over every one-to-one assignment of classes
        to columns (the linear assignment problem, solved exactly by
        ``scipy.optimize.linear_sum_assignment``; Kuhn 1955); and int64 (K,), the column
        assigned to each class.
    """
    from scipy.optimize import linear_sum_assignment

    c = np.asarray(counts, dtype=np.float64)
    total = max(c.sum(), 1.0)
    rows, cols = linear_sum_assignment(c, maximize=True)
    column_of_class = np.empty(c.shape[0], dtype=np.int64)
    column_of_class[rows] = cols
    return float(np.trace(c) / total), float(c[rows, cols].sum() / total), column_of_class


def looks_misaligned(counts: np.ndarray) -> bool:
    """Whether re-ordering the pred_probs columns would raise the agreement of their
    arg-max with the given labels by at least 10% of the examples and by at least three
    standard deviations of a count (``3 sqrt(N)``), so that a small or noisy dataset, where
    chance alone moves a few examples, does not trigger it."""
    c = np.asarray(counts, dtype=np.float64)
    n = c.sum()
    as_given, best, _ = argmax_agreement(c)
    gain = (best - as_given) * n
    return bool(n > 0 and gain >= max(0.1 * n, 3.0 * np.sqrt(n)))
