"""Label issues in multi-label classification: each example has a *set* of classes.

Inputs:

* ``labels``: the given (possibly wrong) annotations, either a sequence of N label lists
  (``[[0, 2], [], [1]]``: each a list, tuple, set or 1-D array of distinct class indices
  in [0, K), possibly empty) or an (N, K) 0/1 matrix given as a 2-D array (numpy, pandas;
  bool, integer, or float holding only 0 and 1). A Python list is always read as label
  lists: pass a matrix as an array (``np.asarray(rows)``); a label list that repeats a
  class is refused, which catches a 0/1 matrix passed as nested lists.
* ``pred_probs``: float (N, K), the out-of-sample predicted probability that each class
  applies to each example, each in [0, 1] independently (sigmoid outputs; rows need not
  sum to 1).

Method (one-vs-rest, as in Thyagarajan, Snorrason, Northcutt and Mueller 2023,
"Identifying Incorrect Annotations in Multi-Label Classification Data", ICLR 2023 workshop
on trustworthy ML, arXiv:2211.13895): for each class k, the binary problem with labels ``y_k = labels[:, k]``
(1 = annotated with k) and pred_probs ``[1 - p_k, p_k]`` is scored and filtered by
labelnoise's own binary-classification machinery (:func:`labelnoise.rank.label_quality_scores`
and :func:`labelnoise.filter.find_label_issues`, any of their methods). This gives

* per class: a score in [0, 1] for every (example, class) annotation (low = the
  annotation of class k on example n is likely wrong) and a flag;
* per example: a label issue when any of its K annotations is flagged, and a score that
  aggregates its K per-class scores (:func:`aggregate_scores`): the minimum, the
  exponential moving average (EMA) of the scores sorted in decreasing order (the paper's
  aggregation: ``e_1 = s_(1)``, ``e_t = alpha s_(t) + (1 - alpha) e_(t-1)``, so the
  lowest scores weigh most), a softmin (the alternative cleanlab's implementation offers),
  or the product (``P(every annotation correct)``
  when the per-class scores are read as independent probabilities of being correct).

Defaults, chosen by a rule fixed before the results were seen (``benchmarks/multilabel.py``,
``benchmarks/results/multilabel.md``): 16 synthetic settings (scikit-learn's
``make_multilabel_classification``; N, K, model strength and symmetric or per-class flip
rates varied; out-of-sample one-vs-rest logistic regression) split in advance into a
``select`` and a ``confirm`` half; on the ``select`` half, the (per-class method,
aggregation) with the best mean AUPRC and the per-class filter with the best mean F1 (ties
to the better worst case); the ``confirm`` half reported as it came. Chosen:

* score ``DEFAULT_METHOD = "self_confidence"`` per class (``p_k`` when annotated, else
  ``1 - p_k``; in a binary problem ``normalized_margin`` ranks identically) aggregated by
  ``DEFAULT_AGGREGATE = "softmin"`` (temperature 0.1). Our prior-adjusted scores rank
  worse here: dividing by the class frequency of a one-vs-rest problem (a class present on
  10-40% of the examples) makes every moderately likely absent class look missing, while
  the injected flips hit every annotation at the same rate, for which the posterior
  odds of an error grow with ``p_k / (1 - p_k)`` alone;
* filter ``DEFAULT_FILTER = "prune_by_noise_rate"`` per class (confident learning;
  labelnoise's reproduction, identical to cleanlab's, so the flags equal cleanlab's
  multi-label default); ``confident_learning`` was within 0.001 of it.

A class whose annotation is the same for every example (never or always annotated) has
no binary problem to learn from: its annotations are scored by ``self_confidence``
(``p_k`` when annotated, else ``1 - p_k``) and never flagged, with one
:class:`ConstantClassWarning` naming such classes.

Validation happens once, at the boundary (:func:`validate_multilabel_labels`,
:func:`validate_multilabel_pred_probs`): one-line ``ValueError`` naming the argument and
the offending entry. Nothing passed in is modified.
"""

from __future__ import annotations

import numbers
import warnings
from typing import NamedTuple

import numpy as np

from labelnoise import filter as lfilter
from labelnoise import rank
from labelnoise._validation import check_real, validate_choice

#: per-class label-quality methods (those of :func:`labelnoise.rank.label_quality_scores`)
METHODS = rank.METHODS
#: per-class filters (those of :func:`labelnoise.filter.find_label_issues`)
FILTERS = lfilter.FILTERS
#: how the K per-class scores of an example become one score (:func:`aggregate_scores`)
AGGREGATES = ("min", "ema", "softmin", "product")
#: the defaults, chosen by the rule of ``benchmarks/multilabel.py`` (module docstring)
DEFAULT_METHOD = "self_confidence"
DEFAULT_AGGREGATE = "softmin"
DEFAULT_FILTER = "prune_by_noise_rate"
#: the EMA's forgetting factor (the paper's and cleanlab's value), for ``aggregate="ema"``
DEFAULT_ALPHA = 0.8
#: the softmin temperature (the paper's and cleanlab's value)
DEFAULT_TEMPERATURE = 0.1
#: per-class methods that need both values of the class among the labels
_NEEDS_BOTH = tuple(rank.OUR_METHODS)


class ConstantClassWarning(UserWarning):
    """Issued once per call when some class is annotated on every example or on none: its
    annotations are scored by self-confidence and never flagged."""


# ---------------------------------------------------------------------------------------
# validation at the boundary


def _is_label_lists(labels) -> bool:
    """Whether ``labels`` is a sequence of label lists (not a 2-D matrix)."""
    if isinstance(labels, (list, tuple)):
        return True
    mod = type(labels).__module__
    if mod.startswith("pandas") and getattr(labels, "ndim", 2) == 1:
        return True  # a Series of lists (e.g. parsed from a CSV column)
    return isinstance(labels, np.ndarray) and labels.ndim == 1 and labels.dtype == object


def _check_num_classes(num_classes) -> int | None:
    if num_classes is None:
        return None
    if (isinstance(num_classes, (bool, np.bool_)) or not isinstance(num_classes, numbers.Integral)
            or num_classes < 1):
        raise ValueError(f"num_classes must be an integer >= 1, got {num_classes!r}")
    return int(num_classes)


def _lists_to_matrix(labels, num_classes: int | None, name: str) -> np.ndarray:
    """bool (N, K) from N label lists; ValueError naming the first bad entry."""
    rows = list(labels.tolist() if hasattr(labels, "tolist") and not isinstance(labels, (list, tuple))
                else labels)
    n = len(rows)
    if n == 0:
        raise ValueError(f"{name} is empty")
    lengths = np.empty(n, dtype=np.int64)
    flat: list = []
    for i, row in enumerate(rows):
        if isinstance(row, np.ndarray):
            if row.ndim != 1:
                raise ValueError(f"{name}[{i}] must be a list of class indices, got an array of "
                                 f"shape {row.shape}")
            row = row.tolist()
        elif isinstance(row, (set, frozenset, range)):
            row = list(row)
        elif not isinstance(row, (list, tuple)):
            raise ValueError(
                f"{name}[{i}] = {row!r} is not a list of classes; multi-label labels are a list "
                "of label lists (e.g. [[0, 2], [], [1]]) or an (N, K) 0/1 array (for one label "
                "per example use labelnoise.find_label_issues)")
        lengths[i] = len(row)
        flat.extend(row)
    for j, v in enumerate(flat):  # every entry must be a class index (ints, or integral floats)
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
            i = _row_of(lengths, j)
            raise ValueError(f"{name}[{i}] holds {v!r}, not a class index")
    try:
        values = np.asarray(flat, dtype=np.float64) if flat else np.empty(0)
    except OverflowError:
        j = next(j for j, v in enumerate(flat) if abs(v) > 2.0**62)
        raise ValueError(f"{name}[{_row_of(lengths, j)}] holds {flat[j]!r}, not a class index") from None
    bad = ~np.isfinite(values) | (values != np.round(values)) | (values < 0)
    if num_classes is not None:
        bad |= values >= num_classes
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        i = _row_of(lengths, j)
        where = f"[0, {num_classes})" if num_classes is not None else "integers >= 0"
        raise ValueError(f"{name}[{i}] holds {flat[j]!r}; class indices must be {where}"
                         + (f" (K = {num_classes} classes)" if num_classes is not None else ""))
    codes = values.astype(np.int64)
    k = num_classes if num_classes is not None else max(int(codes.max()) + 1 if codes.size else 1, 1)
    row_of = np.repeat(np.arange(n), lengths)
    out = np.zeros((n, k), dtype=bool)
    cells = np.sort(row_of * k + codes)  # a repeated class: two equal cells next to each other
    repeated = np.flatnonzero(cells[1:] == cells[:-1])
    if repeated.size:
        cell = int(cells[repeated[0]])
        raise ValueError(
            f"{name}[{cell // k}] repeats class {cell % k}; each label list holds distinct "
            "classes (a 0/1 matrix must be given as a 2-D array, not as nested lists)")
    out.reshape(-1)[cells] = True
    return out


def _row_of(lengths: np.ndarray, flat_index: int) -> int:
    return int(np.searchsorted(np.cumsum(lengths), flat_index, side="right"))


def validate_multilabel_labels(labels, *, num_classes: int | None = None,
                               name: str = "labels") -> np.ndarray:
    """Check multi-label ``labels`` and return them as a bool (N, K) matrix.

    Args:
        labels: N label lists (a list, tuple, pandas Series or 1-D object array of lists,
            tuples, sets or 1-D arrays of distinct class indices in [0, K); empty lists
            allowed), or an (N, K) 0/1 matrix as a 2-D array (bool, integers, or floats
            holding only 0 and 1).
        num_classes: K; required to match the matrix's columns, and the bound of the
            indices of label lists (default for lists: 1 + the largest index).
        name: the argument's name in messages.

    Returns:
        bool ndarray (N, K), ``[n, k]`` True when example n is annotated with class k (a
        new array).

    Raises:
        ValueError: empty; a matrix that is not 2-D, has K columns other than
            ``num_classes``, NaN or a value other than 0/1; a label list that is not a
            list (e.g. a plain class index: multi-class labels), holds a non-integer, an
            index outside [0, K) or the same class twice. The message names the first
            offending example.
    """
    k = _check_num_classes(num_classes)
    if _is_label_lists(labels):
        return _lists_to_matrix(labels, k, name)
    try:
        arr = np.asarray(labels)
    except Exception as exc:  # noqa: BLE001 - exotic inputs
        raise ValueError(f"{name} could not be converted to an array: {exc}") from None
    if arr.ndim != 2:
        hint = (" (one class index per example is multi-class: use labelnoise.find_label_issues)"
                if arr.ndim == 1 else "")
        raise ValueError(f"{name} must be N label lists or an (N, K) 0/1 matrix, got an array of "
                         f"shape {arr.shape}{hint}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    if k is not None and arr.shape[1] != k:
        raise ValueError(f"{name} has {arr.shape[1]} columns but pred_probs has K = {k}; "
                         "they must match")
    if arr.dtype == np.bool_:
        return arr.copy()
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"{name} must be a 0/1 matrix, got dtype {arr.dtype}")
    bad = ~((arr == 0) | (arr == 1))  # NaN fails both
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise ValueError(f"{name} must hold only 0 and 1; {name}[{r}, {c}] = {arr[r, c].item()!r}")
    return arr == 1


def validate_multilabel_pred_probs(pred_probs, *, num_rows: int | None = None,
                                   num_classes: int | None = None,
                                   name: str = "pred_probs") -> np.ndarray:
    """Check multi-label ``pred_probs`` and return them as float64 (N, K).

    Args:
        pred_probs: (N, K) array (or nested lists), each entry the probability that the
            class applies, in [0, 1]; rows need not sum to 1. A numpy memory map is read
            whole.
        num_rows: N; when given, the number of rows must equal it.
        num_classes: K; when given, the number of columns must equal it.
        name: the argument's name in messages.

    Returns:
        float64 ndarray (N, K): ``pred_probs`` itself when it already is a float64 array
        (never written to), else a converted copy.

    Raises:
        ValueError: ragged rows, not 2-D, no rows or columns, wrong N or K, not numeric,
            NaN/inf, or a value outside [0, 1] (the message names the entry).
    """
    try:
        arr = np.asarray(pred_probs)
    except ValueError as exc:  # nested lists of different lengths
        raise ValueError(f"{name} is ragged (rows of different lengths); give an (N, K) "
                         f"array ({' '.join(str(exc).split())[:120]})") from None
    if arr.dtype == object:
        raise ValueError(f"{name} is ragged or not numeric (object array); give an (N, K) "
                         "float array")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D of shape (N, K), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must have at least one row and one column, got shape {arr.shape}")
    if num_rows is not None and arr.shape[0] != num_rows:
        raise ValueError(f"{name} has {arr.shape[0]} rows but labels has {num_rows} examples; "
                         "they must match (N)")
    if num_classes is not None and arr.shape[1] != num_classes:
        raise ValueError(f"{name} has {arr.shape[1]} columns but labels has K = {num_classes} "
                         "classes; they must match")
    if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.floating)
                                     or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"{name} must be a float array, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    lo, hi = float(arr.min()), float(arr.max())  # NaN propagates into both
    if not (lo >= 0.0 and hi <= 1.0):
        finite = np.isfinite(arr)
        if not finite.all():
            r, c = np.argwhere(~finite)[0]
            raise ValueError(f"{name} must be finite; {name}[{r}, {c}] = {float(arr[r, c])!r}")
        r, c = np.argwhere((arr < 0.0) | (arr > 1.0))[0]
        raise ValueError(f"{name} values must be probabilities in [0, 1]; "
                         f"{name}[{r}, {c}] = {float(arr[r, c])!r}")
    return arr


def _validate(labels, pred_probs) -> tuple[np.ndarray, np.ndarray]:
    """(labels bool (N, K), pred_probs float64 (N, K)); K from pred_probs."""
    if _is_label_lists(labels):
        # the class bound comes from pred_probs, so check its shape first
        pp = validate_multilabel_pred_probs(pred_probs)
        y = validate_multilabel_labels(labels, num_classes=pp.shape[1])
        if y.shape[0] != pp.shape[0]:
            raise ValueError(f"pred_probs has {pp.shape[0]} rows but labels has {y.shape[0]} "
                             "examples; they must match (N)")
        return y, pp
    y = validate_multilabel_labels(labels)
    pp = validate_multilabel_pred_probs(pred_probs, num_rows=y.shape[0], num_classes=y.shape[1])
    return y, pp


# ---------------------------------------------------------------------------------------
# one-vs-rest over validated inputs


def _one_vs_rest(labels: np.ndarray, pred_probs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`one_vs_rest` over validated bool (N, K) labels and float64 (N, K) pred_probs."""
    p = pred_probs[:, k]
    return labels[:, k].astype(np.int64), np.column_stack([1.0 - p, p])


def one_vs_rest(labels, pred_probs, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The binary problem of class ``k``, to give to any multi-class function of labelnoise.

    Args:
        labels: N label lists or an (N, K) 0/1 matrix.
        pred_probs: float (N, K), per-class probabilities in [0, 1].
        k: the class, in [0, K).

    Returns:
        ``(labels_k, pred_probs_k)``: int64 (N,) with 1 where the example is annotated with
        class k, and float64 (N, 2) ``[1 - p_k, p_k]`` (rows sum to 1).

    Raises:
        ValueError: invalid labels / pred_probs, or ``k`` not an integer in [0, K).
    """
    y, pp = _validate(labels, pred_probs)
    if (isinstance(k, (bool, np.bool_)) or not isinstance(k, numbers.Integral)
            or not 0 <= k < y.shape[1]):
        raise ValueError(f"k must be a class index in [0, {y.shape[1]}), got {k!r}")
    return _one_vs_rest(y, pp, int(k))


def _constant_classes(labels: np.ndarray) -> np.ndarray:
    """bool (K,): classes annotated on every example or on none."""
    counts = labels.sum(axis=0)
    return (counts == 0) | (counts == labels.shape[0])


def _warn_constant(constant: np.ndarray) -> None:
    if constant.any():
        idx = np.flatnonzero(constant)
        which = (f"class {idx[0]} is" if idx.size == 1 else
                 f"classes {idx[:10].tolist()}{'...' if idx.size > 10 else ''} are")
        warnings.warn(f"{which} annotated on every example or on none: scored by self-confidence "
                      "and never flagged", ConstantClassWarning, stacklevel=3)


def _per_class(fn, k: int):
    """``fn()`` for class k, its warnings re-issued with the class named."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    for w in caught:
        warnings.warn(f"class {k}, one-vs-rest (binary class 1 = annotated with {k}, 0 = not): "
                      f"{w.message}", w.category, stacklevel=4)
    return out


def _scores(labels: np.ndarray, pred_probs: np.ndarray, method: str,
            constant: np.ndarray) -> np.ndarray:
    """float64 (N, K) per-class scores over validated inputs."""
    n, k = labels.shape
    out = np.empty((n, k), dtype=np.float64)
    for c in range(k):
        y, pp = _one_vs_rest(labels, pred_probs, c)
        m = "self_confidence" if constant[c] and method in _NEEDS_BOTH else method
        out[:, c] = _per_class(lambda y=y, pp=pp, m=m: rank.label_quality_scores(y, pp, method=m), c)
    return out


def _issues(labels: np.ndarray, pred_probs: np.ndarray, filter_by: str, constant: np.ndarray,
            frac_noise: float, min_examples_per_class: int) -> np.ndarray:
    """bool (N, K) per-class flags over validated inputs."""
    n, k = labels.shape
    out = np.zeros((n, k), dtype=bool)
    for c in np.flatnonzero(~constant):
        y, pp = _one_vs_rest(labels, pred_probs, c)
        out[:, c] = _per_class(lambda y=y, pp=pp: lfilter.find_label_issues(
            y, pp, filter_by=filter_by, frac_noise=frac_noise,
            min_examples_per_class=min_examples_per_class), c)
    return out


# ---------------------------------------------------------------------------------------
# aggregation of per-class scores


def _check_unit(value, name: str, *, open_low: bool = False) -> float:
    return check_real(value, name, low=0, strict=open_low, high=1, high_inclusive=True)


def _check_temperature(value) -> float:
    return check_real(value, "temperature", low=0, strict=True)


def _aggregate(scores: np.ndarray, aggregate: str, alpha: float, temperature: float) -> np.ndarray:
    """(N,) from validated (N, K) scores in [0, 1]."""
    k = scores.shape[1]
    if aggregate == "min":
        return scores.min(axis=1)
    if aggregate == "product":
        return np.prod(scores, axis=1)
    if aggregate == "softmin":
        # weights softmax((1 - s) / T) over the row: the lowest scores weigh most
        z = (1.0 - scores) / temperature
        z -= z.max(axis=1, keepdims=True)
        w = np.exp(z)
        return np.einsum("ij,ij->i", scores, w) / w.sum(axis=1)
    # EMA over the scores sorted in decreasing order, e_1 = s_(1), e_t = a s_(t) + (1 - a) e_(t-1):
    # unrolled, the t-th largest (t >= 2) weighs a (1 - a)^(K - t) and the largest (1 - a)^(K - 1).
    # In increasing order (the smallest first) the weights are a, a(1 - a), ..., and the last
    # one (the largest score) (1 - a)^(K - 1); they sum to 1.
    weights = alpha * (1.0 - alpha) ** np.arange(k, dtype=np.float64)
    weights[-1] = (1.0 - alpha) ** (k - 1)
    return np.sort(scores, axis=1) @ weights


def aggregate_scores(per_class_scores, *, aggregate: str = DEFAULT_AGGREGATE,
                     alpha: float = DEFAULT_ALPHA,
                     temperature: float = DEFAULT_TEMPERATURE) -> np.ndarray:
    """One score per example from its K per-class scores (lower = more likely wrong).

    Aggregations (all in [0, 1] for scores in [0, 1], and equal to the score itself when
    K = 1):

    - ``"min"``: the worst annotation's score.
    - ``"ema"``: the exponential moving average of the scores sorted in decreasing order,
      ``e_1 = s_(1)``, ``e_t = alpha s_(t) + (1 - alpha) e_(t-1)``, returning ``e_K``: the
      smallest score weighs ``alpha``, the next ``alpha (1 - alpha)``, and so on, so an
      example with several doubtful annotations scores below one with a single one
      (the aggregation of Thyagarajan et al. 2023). ``alpha = 1`` is the minimum.
    - ``"softmin"`` (the default): ``sum_k s_k w_k`` with ``w = softmax((1 - s) /
      temperature)``, a smooth minimum (as in cleanlab's implementation of the paper).
    - ``"product"``: ``prod_k s_k``, the probability that every annotation is correct when
      the scores are independent probabilities of being correct.

    Args:
        per_class_scores: float (N, K) in [0, 1], e.g. :func:`per_class_label_quality_scores`.
        aggregate: one of ``AGGREGATES``.
        alpha: the EMA's forgetting factor, in (0, 1].
        temperature: the softmin temperature, > 0.

    Returns:
        float64 ndarray (N,).

    Raises:
        ValueError: unknown ``aggregate``, ``alpha`` outside (0, 1], ``temperature`` <= 0,
            ``per_class_scores`` not a non-empty 2-D array in [0, 1] (NaN refused).
    """
    validate_choice(aggregate, AGGREGATES, "aggregate")
    alpha = _check_unit(alpha, "alpha", open_low=True)
    temperature = _check_temperature(temperature)
    scores = validate_multilabel_pred_probs(per_class_scores, name="per_class_scores")
    return _aggregate(scores, aggregate, alpha, temperature)


# ---------------------------------------------------------------------------------------
# public functions


def per_class_label_quality_scores(labels, pred_probs, *, method: str = DEFAULT_METHOD) -> np.ndarray:
    """Score how likely each (example, class) annotation is correct.

    For class k: ``labelnoise.rank.label_quality_scores(labels[:, k], [1 - p_k, p_k],
    method=method)`` (one-vs-rest; see the module docstring for the source and for
    classes annotated on every example or none).

    Args:
        labels: N label lists or an (N, K) 0/1 matrix (:func:`validate_multilabel_labels`).
        pred_probs: float (N, K), per-class probabilities in [0, 1].
        method: a method of :func:`labelnoise.rank.label_quality_scores` (``METHODS``).

    Returns:
        float64 ndarray (N, K) in [0, 1]; ``[n, k]`` low = the annotation of class k on
        example n (present or absent) is likely wrong.

    Raises:
        ValueError: unknown ``method`` or invalid labels / pred_probs (see the validators).
    Warns:
        ConstantClassWarning: some class is annotated on every example or on none.
    """
    validate_choice(method, METHODS, "method")
    y, pp = _validate(labels, pred_probs)
    constant = _constant_classes(y)
    _warn_constant(constant)
    return _scores(y, pp, method, constant)


def multilabel_quality_scores(labels, pred_probs, *, method: str = DEFAULT_METHOD,
                              aggregate: str = DEFAULT_AGGREGATE, alpha: float = DEFAULT_ALPHA,
                              temperature: float = DEFAULT_TEMPERATURE) -> np.ndarray:
    """Score how likely every annotation of each example is correct.

    :func:`per_class_label_quality_scores` aggregated over the K classes by
    :func:`aggregate_scores`.

    Args:
        labels: N label lists or an (N, K) 0/1 matrix.
        pred_probs: float (N, K), per-class probabilities in [0, 1].
        method: per-class method (``METHODS``).
        aggregate, alpha, temperature: see :func:`aggregate_scores`.

    Returns:
        float64 ndarray (N,) in [0, 1], low = some annotation of the example is likely wrong.

    Raises:
        ValueError: unknown ``method`` / ``aggregate``, bad ``alpha`` / ``temperature``,
            invalid labels / pred_probs.
    Warns:
        ConstantClassWarning: some class is annotated on every example or on none.
    """
    validate_choice(method, METHODS, "method")
    alpha, temperature, *_ = _check_options(DEFAULT_FILTER, method, aggregate, alpha,
                                            temperature, 1.0, 1)
    y, pp = _validate(labels, pred_probs)
    constant = _constant_classes(y)
    _warn_constant(constant)
    return _aggregate(_scores(y, pp, method, constant), aggregate, alpha, temperature)


def per_class_label_issues(labels, pred_probs, *, filter_by: str = DEFAULT_FILTER,
                           frac_noise: float = 1.0, min_examples_per_class: int = 1) -> np.ndarray:
    """Find the (example, class) annotations that are likely wrong.

    For class k: ``labelnoise.filter.find_label_issues(labels[:, k], [1 - p_k, p_k],
    filter_by=filter_by)`` (one-vs-rest). A flag at ``[n, k]`` says that class k is
    likely missing from example n's labels (when it is absent) or wrongly there.

    Args:
        labels: N label lists or an (N, K) 0/1 matrix.
        pred_probs: float (N, K), per-class probabilities in [0, 1].
        filter_by: a filter of :func:`labelnoise.filter.find_label_issues` (``FILTERS``).
        frac_noise, min_examples_per_class: passed to it for the prune filters (per binary
            problem: ``min_examples_per_class`` counts the examples with and without the
            class).

    Returns:
        bool ndarray (N, K), True = the annotation of class k on example n is a label issue.

    Raises:
        ValueError: unknown ``filter_by``, bad ``frac_noise`` / ``min_examples_per_class``,
            invalid labels / pred_probs.
    Warns:
        ConstantClassWarning: some class is annotated on every example or on none (never
            flagged).
    """
    *_, frac_noise, min_examples_per_class = _check_options(
        filter_by, DEFAULT_METHOD, DEFAULT_AGGREGATE, DEFAULT_ALPHA, DEFAULT_TEMPERATURE,
        frac_noise, min_examples_per_class)
    y, pp = _validate(labels, pred_probs)
    constant = _constant_classes(y)
    _warn_constant(constant)
    return _issues(y, pp, filter_by, constant, frac_noise, min_examples_per_class)


def find_multilabel_issues(labels, pred_probs, *, filter_by: str = DEFAULT_FILTER,
                           return_ranked: bool = False, rank_by: str = DEFAULT_METHOD,
                           aggregate: str = DEFAULT_AGGREGATE, alpha: float = DEFAULT_ALPHA,
                           temperature: float = DEFAULT_TEMPERATURE, frac_noise: float = 1.0,
                           min_examples_per_class: int = 1):
    """Find the examples with at least one likely wrong annotation.

    An example is a label issue when :func:`per_class_label_issues` flags any of its K
    class annotations (the rule of Thyagarajan et al. 2023).

    Args:
        labels: N label lists or an (N, K) 0/1 matrix.
        pred_probs: float (N, K), per-class probabilities in [0, 1].
        filter_by: the per-class filter (``FILTERS``).
        return_ranked: return the int64 indices of the flagged examples, most likely wrong
            first (by :func:`multilabel_quality_scores` with ``rank_by``, ``aggregate`` and
            ``alpha``; ties in index order), instead of the mask.
        rank_by: per-class score method for that order (``METHODS``).
        aggregate, alpha, temperature: the aggregation of that order (:func:`aggregate_scores`).
        frac_noise, min_examples_per_class: see :func:`per_class_label_issues`.

    Returns:
        bool ndarray (N,), True = label issue; or int64 indices with ``return_ranked``.

    Raises:
        ValueError: unknown ``filter_by`` / ``rank_by`` / ``aggregate``, bad options,
            invalid labels / pred_probs.
    Warns:
        ConstantClassWarning: some class is annotated on every example or on none.
    """
    options = _check_options(filter_by, rank_by, aggregate, alpha, temperature, frac_noise,
                             min_examples_per_class)
    y, pp = _validate(labels, pred_probs)
    constant = _constant_classes(y)
    _warn_constant(constant)
    mask = _issues(y, pp, filter_by, constant, *options[-2:]).any(axis=1)
    if not return_ranked:
        return mask
    idx = np.flatnonzero(mask)
    if not idx.size:
        return idx.astype(np.int64)
    scores = _aggregate(_scores(y, pp, rank_by, constant), aggregate, *options[:2])
    return idx[np.argsort(scores[idx], kind="stable")]


def _check_options(filter_by, rank_by, aggregate, alpha, temperature, frac_noise,
                   min_examples_per_class) -> tuple[float, float, float, int]:
    """ValueError naming the first bad option; returns (alpha, temperature, frac_noise,
    min_examples_per_class) as numbers."""
    validate_choice(filter_by, FILTERS, "filter_by")
    validate_choice(rank_by, METHODS, "rank_by")
    validate_choice(aggregate, AGGREGATES, "aggregate")
    alpha = _check_unit(alpha, "alpha", open_low=True)
    temperature = _check_temperature(temperature)
    frac_noise, min_examples_per_class = lfilter._check_prune_options(frac_noise,
                                                                      min_examples_per_class)
    return alpha, temperature, frac_noise, min_examples_per_class


class _Detection(NamedTuple):
    """Everything ``labelnoise find-issues --multi-label`` writes, from one validation."""

    labels: np.ndarray  # bool (N, K), the given annotations
    per_class_issues: np.ndarray  # bool (N, K)
    per_class_scores: np.ndarray  # float64 (N, K)
    is_label_issue: np.ndarray  # bool (N,)
    label_quality_scores: np.ndarray  # float64 (N,)
    ranking: np.ndarray  # int64 (N,), every example by label_quality_scores ascending (stable)


def _detect(labels, pred_probs, *, filter_by: str = DEFAULT_FILTER, rank_by: str = DEFAULT_METHOD,
            aggregate: str = DEFAULT_AGGREGATE, alpha: float = DEFAULT_ALPHA,
            temperature: float = DEFAULT_TEMPERATURE) -> _Detection:
    """Per-class flags and scores, example flags, scores and ranking: the same values as
    :func:`per_class_label_issues`, :func:`per_class_label_quality_scores`,
    :func:`find_multilabel_issues` and :func:`multilabel_quality_scores` with these options."""
    alpha, temperature, frac_noise, min_examples = _check_options(
        filter_by, rank_by, aggregate, alpha, temperature, 1.0, 1)
    y, pp = _validate(labels, pred_probs)
    constant = _constant_classes(y)
    _warn_constant(constant)
    issues = _issues(y, pp, filter_by, constant, frac_noise, min_examples)
    per_class = _scores(y, pp, rank_by, constant)
    scores = _aggregate(per_class, aggregate, alpha, temperature)
    return _Detection(y, issues, per_class, issues.any(axis=1), scores,
                      np.argsort(scores, kind="stable").astype(np.int64))


__all__ = [
    "AGGREGATES",
    "ConstantClassWarning",
    "DEFAULT_AGGREGATE",
    "DEFAULT_ALPHA",
    "DEFAULT_FILTER",
    "DEFAULT_METHOD",
    "FILTERS",
    "METHODS",
    "aggregate_scores",
    "find_multilabel_issues",
    "multilabel_quality_scores",
    "one_vs_rest",
    "per_class_label_issues",
    "per_class_label_quality_scores",
    "validate_multilabel_labels",
    "validate_multilabel_pred_probs",
]
