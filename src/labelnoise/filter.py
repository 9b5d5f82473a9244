"""Which examples have label issues: a boolean mask, or indices ranked most-likely-wrong first.

``filter_by`` methods:

Confident learning (Northcutt, Jiang and Chuang 2021, "Confident Learning: Estimating
Uncertainty in Dataset Labels", JAIR, Section 3.2), with cleanlab 2.x semantics:

- ``"prune_by_noise_rate"`` (PBNR): for every off-diagonal cell (given i, true j) of the
  calibrated confident joint, flag that many examples of given label i with the largest
  margin ``p_j - p_i``.
- ``"prune_by_class"`` (PBC): for every class i, flag the ``n_i - C[i, i]`` examples of given
  label i with the lowest ``p_i``.
- ``"both"``: flagged by both.
- ``"confident_learning"`` (C_confusion off-diagonals): examples counted off the diagonal
  of the confident joint.
- ``"predicted_neq_given"``: ``argmax(p) != given label``.
- ``"low_self_confidence"`` / ``"low_normalized_margin"``: the examples with the lowest
  score, as many as the confident joint counts off its diagonal.

The first five drop any flagged example whose given label is the argmax of pred_probs
(within 1e-6), as cleanlab does.

Ours:

- ``"adaptive"`` (the default): ``"pooled"`` (below) when the pred_probs are confident, and,
  when they are flat (a weak model: the mean normalised row entropy
  :func:`labelnoise.rank.row_entropy_statistic` is at least
  ``rank.ADAPTIVE_ENTROPY_THRESHOLD``, the same switch as the ``adaptive`` score), the
  ``m`` examples with the lowest ``adaptive`` label-quality scores (which is then
  ``prior_adjusted_confidence``; ties in index order), ``m`` being the number of examples
  that confident learning's ``"both"`` flags (above 131,072 examples: N times the fraction
  it flags on a strided subsample of about that many, which keeps this filter
  within a few passes over pred_probs at any N). Why: flat pred_probs make every
  probability-threshold rule over-flag (``"pooled"`` flagged 3.3x to 6.7x the noise rate on
  the development cases with flat pred_probs and under 25% noise), since their disagreement with the given
  label is mostly the model's own error; ``"both"``, the intersection of two confident-joint
  prunings, is the most conservative of cleanlab's counts and was cleanlab's best filter on
  most such cases, and our score orders the examples better than cleanlab's do there (a
  higher AUPRC), so its ``m`` lowest beat ``"both"``'s own set. Chosen by the rule of
  ``benchmarks/detection_dev.py`` on the ``select`` half of the development cases: among
  ``pooled`` switched at thresholds 0.60, 0.65, ..., 0.95 to each of cleanlab's seven filters,
  their intersections with ``pooled``, and the lowest scores (``adaptive`` or ``pooled``) in
  the number of each count-based filter's flags, the highest mean F1 gap to cleanlab's best
  filter per case (+0.0012, against -0.0096 for ``pooled``; confirm half -0.0103 against
  -0.0157; ``benchmarks/RESULTS.md``). The threshold it chose is the score's, 0.8. With a
  known ``noise_matrix``, only the ``"pooled"`` branch uses it; ``frac_noise`` and
  ``min_examples_per_class`` apply to the ``"both"`` count.
- ``"mixture"``: flag the examples whose ``mixture`` label-quality score
  (:mod:`labelnoise.rank`) is below 0.5, i.e. whose given label is more likely wrong than
  right under the mixture of a direct (instance-dependent) and a class-conditional noise
  model, weighted by the likelihood of the given labels. This is the decision with the
  fewest expected mistakes (flagged correct labels plus missed errors) when the score is
  read as ``P(label correct)``; no count is estimated separately. Why a mixture: each
  component's own probability is calibrated only on its kind of noise (on the benchmark,
  flagging ``prior_adjusted_margin < 0.5`` over-flags synthetic class-conditional noise,
  flagging ``noise_posterior < 0.5`` misses most human errors, and their fixed pool
  ``"pooled"`` sits between the two: it still under-flags human noise), while the
  likelihood of the given labels tells which kind of noise the data has without any true
  label.
- ``"pooled"`` (``"adaptive"``'s choice for confident pred_probs; the default filter until
  2026-12-02): the same decision on the ``pooled`` score (the fixed
  equal-weight logarithmic pool of the two components, ``prior_adjusted_margin`` and
  ``noise_posterior``). Chosen as the default by a rule fixed in advance on the development
  benchmark (``benchmarks/detection_dev.py``: the best mean F1 gap to the best of cleanlab's
  seven filters per case on the ``select`` half of the cases (60 when last run), weak to strong models, binary
  to 20 classes, synthetic and human noise; it also led on the ``confirm`` half). Where
  ``mixture`` over-flags (weak models over many classes flag every example whose arg-max
  differs from the given label), the class-conditional half of the pool holds it back; on
  the CIFAR-10N ``worst`` benchmark files ``mixture`` is the better of the two.
- ``"expected_f1"``: the set that maximises the expected F1 of the flags when the pooled
  score is read as ``P(label correct)``. Flagging the k lowest scores gives an expected
  number of true flags ``sum_{top k} q`` (``q = 1 - score``) against ``sum_all q`` errors
  expected in the data, so the plug-in expected F1 is ``2 sum_{top k} q / (k + sum_all q)``
  (the ratio-of-expectations approximation; Nan, Chai, Lee and Chieu 2012, "Optimizing
  F-measure: A Tale of Two Approaches", ICML, whose optimal decisions are
  top-k sets of the ranked probabilities); we flag the top k that maximises it. At the
  optimum the cut-off lies at ``q = F/2`` with F the optimal expected F1 (Lipton, Elkan
  and Naryanaswamy 2014, "Optimal Thresholding of Classifiers to Maximize F1 Measure",
  ECML PKDD), so it flags more than ``"pooled"`` (``q > 1/2``) and adapts to the noise
  rate (``benchmarks/RESULTS.md``). Flagging nothing scores 1 when the data has no error
  (probability about ``exp(-sum_all q)``) and 0 otherwise, so nothing is flagged when
  ``exp(-sum_all q)`` is at least the best top-k value (well under one error expected: a
  model that agrees with every label; without this rule every example would be flagged,
  as ``2 k q / (k + N q)`` grows with k when all q are equal). Needs one sort, N log N.

By default the indices returned with ``return_ranked=True`` are ordered by the default
label-quality score (``adaptive``, the best-ranking score on the development benchmark),
whichever filter decided; ``rank_by`` orders them by another score.

Tie-breaking: where several examples have exactly the same margin at a prune cut-off,
which of them is flagged may differ from cleanlab (which uses a full argsort; we use a
partial selection, ``numpy.argpartition``). Counts per cell are identical.
"""

from __future__ import annotations

import warnings

import numpy as np

from labelnoise import count, rank
from labelnoise._validation import (
    PredProbs,
    map_chunks,
    validate_choice,
    validate_labels_and_pred_probs,
    validate_noise_matrix,
)
from labelnoise.dask_arrays import _is_dask

CLEANLAB_FILTERS = (
    "prune_by_noise_rate",
    "prune_by_class",
    "both",
    "confident_learning",
    "predicted_neq_given",
    "low_self_confidence",
    "low_normalized_margin",
)
OUR_FILTERS = ("adaptive", "mixture", "pooled", "expected_f1")
#: the label-quality score each of our filters decides with (``adaptive``: the one it
#: decides with on confident pred_probs, computed during the validation pass; on flat ones
#: it counts with ``both`` and ranks by the ``adaptive`` score, see :func:`_adaptive_mask`)
_FILTER_SCORE = {"adaptive": "pooled", "mixture": "mixture", "pooled": "pooled",
                 "expected_f1": "pooled"}
FILTERS = OUR_FILTERS + CLEANLAB_FILTERS
DEFAULT_FILTER = "adaptive"


def _keep_at_least_n_per_class(prune_counts: np.ndarray, n: int, frac_noise: float) -> np.ndarray:
    """Integer prune counts with at least ``n`` examples kept per given class.

    Args:
        prune_counts: int (K, K) calibrated confident joint, transposed (rows = true j,
            columns = given i).
        n: ``min_examples_per_class``; each diagonal entry is raised to at least ``n``
            and the added mass is taken evenly from the column's nonzero noise cells
            (cells that would go negative become 0).
        frac_noise: only this fraction of each noise cell is pruned; the rest of the
            column's noise mass goes back to its diagonal.

    Returns:
        int64 (K, K).

    Order of operations (cleanlab 2.9.0 parity, pinned by ``tests/test_cleanlab_parity.py``):
    the float matrix is truncated to integers *before* any row rounding. cleanlab's
    ``frac_noise`` step already returns integers (truncated toward zero), so the
    row-total-preserving rounding it applies afterwards is the identity. Rounding the
    float matrix first would keep the row totals but gives other counts, hence other
    masks, whenever a cell has a fractional part (e.g. ``frac_noise=0.5`` on odd noise
    cells, or ``n`` spread over several cells). Every entry is >= 0 here, so the
    truncation is a floor.
    """
    diag = prune_counts.diagonal().astype(np.float64)
    new_diag = np.maximum(diag, n)
    per_col = np.maximum(np.count_nonzero(prune_counts, axis=0) - 1.0, 1.0)
    out = prune_counts - (new_diag - diag) / per_col
    out[out < 0] = 0
    np.fill_diagonal(out, new_diag)
    reduced = out * frac_noise
    np.fill_diagonal(reduced, out.diagonal())  # the diagonal itself is not reduced
    # the un-pruned part of each column's noise cells goes back to its diagonal
    np.fill_diagonal(reduced, out.diagonal() + np.sum(out - reduced, axis=0))
    return np.floor(reduced).astype(np.int64)


def _smallest(values: np.ndarray, num: int) -> np.ndarray:
    """Indices of the ``num`` smallest values (all when num >= len; argpartition's order)."""
    if num >= values.size:
        return np.arange(values.size)
    return np.argpartition(values, num - 1)[:num]


def _warn_small_class(c: int, size: int, min_examples_per_class: int, stacklevel: int) -> None:
    """The prune filters' warning for a class they leave alone."""
    warnings.warn(f"class {c} has only {size} examples (min_examples_per_class = "
                  f"{min_examples_per_class}); its label issues are not flagged",
                  stacklevel=stacklevel)


def _prune(labels: np.ndarray, pp: PredProbs, prune_counts: np.ndarray, by: str,
           min_examples_per_class: int) -> np.ndarray:
    """Per-class pruning over validated inputs; by is 'noise_rate' or 'class'."""
    k = pp.k
    mask = np.zeros(pp.n, dtype=bool)
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(k + 1))

    def one_class(c: int) -> None:
        rows = order[bounds[c]:bounds[c + 1]]
        if rows.size <= min_examples_per_class:
            _warn_small_class(c, rows.size, min_examples_per_class, stacklevel=5)
            return
        if by == "class":
            num = rows.size - int(prune_counts[c, c])
            if num >= 1:
                own = pp.take(rows)[:, c]
                mask[rows[_smallest(own, num)]] = True
            return
        quotas = prune_counts[:, c].copy()
        quotas[c] = 0
        cols = np.flatnonzero(quotas > 0)
        if not cols.size:
            return
        block = pp.take(rows)
        # own - p_j (exactly the negated margin p_j - own): one contiguous row per column
        neg = block[:, c] - block.T[cols]
        for i, j in enumerate(cols):
            mask[rows[_smallest(neg[i], int(quotas[j]))]] = True

    map_chunks(lambda a, b: [one_class(c) for c in range(a, b)], k, 1)
    return mask


def find_label_issues(labels, pred_probs, *, filter_by: str = DEFAULT_FILTER,
                      return_ranked: bool = False, rank_by: str | None = None,
                      frac_noise: float = 1.0, min_examples_per_class: int = 1,
                      noise_matrix=None):
    """Find the examples whose given label is likely wrong.

    Args:
        labels: int array-like (N,), given labels in [0, K).
        pred_probs: float (N, K) out-of-sample predicted probabilities (each row sums to 1;
            deviations up to 1e-3 are renormalised with a warning), a numpy memory map, or a
            list of such arrays from several models, combined by the arithmetic mean of
            their rows.
        filter_by: ``"adaptive"`` (default, ours), ``"pooled"``, ``"mixture"``,
            ``"expected_f1"`` (ours) or one of cleanlab's seven methods:
            ``"prune_by_noise_rate"``, ``"prune_by_class"``, ``"both"``,
            ``"confident_learning"``, ``"predicted_neq_given"``, ``"low_self_confidence"``,
            ``"low_normalized_margin"`` (see the module docstring).
        return_ranked: return int64 indices of the flagged examples ordered most likely
            wrong first (by ``rank_by``) instead of the mask.
        rank_by: label-quality method used to order the indices
            (:func:`labelnoise.rank.label_quality_scores`); default
            ``labelnoise.rank.DEFAULT_METHOD``.
        frac_noise: for the prune methods (and the ``"both"`` count of ``"adaptive"`` on
            flat pred_probs), the fraction of each estimated noise cell to flag, in (0, 1].
        min_examples_per_class: the prune methods (as above) leave classes with this many
            examples or fewer alone (with a warning).
        noise_matrix: optional known (K, K) ``P(given | true)`` for our filters.

    Returns:
        bool ndarray (N,), True = label issue; or int64 ndarray of indices when
        ``return_ranked``.

    Raises:
        ValueError: unknown ``filter_by``/``rank_by``, ``frac_noise`` not a number in
            (0, 1] (NaN and booleans included), ``min_examples_per_class`` not an integer
            >= 0 (booleans included), or invalid labels/pred_probs (see
            :mod:`labelnoise._validation`), including a class
            with no example.

    Dask arrays (chunked along N) are handled by :mod:`labelnoise.dask_arrays` (a lazy
    Dask mask is returned, every ``filter_by``).
    """
    if _is_dask(labels) or _is_dask(pred_probs):
        from labelnoise import dask_arrays

        return dask_arrays.find_label_issues(
            labels, pred_probs, filter_by=filter_by, return_ranked=return_ranked,
            rank_by=rank_by, frac_noise=frac_noise,
            min_examples_per_class=min_examples_per_class, noise_matrix=noise_matrix)
    validate_choice(filter_by, FILTERS, "filter_by")
    if rank_by is None:
        rank_by = rank.DEFAULT_METHOD
    validate_choice(rank_by, rank.METHODS, "rank_by")
    frac_noise, min_examples_per_class = _check_prune_options(frac_noise, min_examples_per_class)
    computed: dict[str, np.ndarray] = {}  # label-quality scores by method, computed once
    if filter_by in OUR_FILTERS:
        # "adaptive": the validation pass also computes what either branch's score needs
        fused = ("pooled", "adaptive") if filter_by == "adaptive" else _FILTER_SCORE[filter_by]
        labels, pp, margin = rank._validate_fused(labels, pred_probs, fused, noise_matrix)
        if noise_matrix is not None:
            noise_matrix = validate_noise_matrix(noise_matrix, num_classes=pp.k)

        def scores_of(method: str) -> np.ndarray:
            if method not in computed:
                computed[method] = rank._scores(labels, pp, method, noise_matrix=noise_matrix,
                                                margin=margin)
            return computed[method]

        if filter_by == "adaptive":
            mask = _adaptive_mask(labels, pp, scores_of, frac_noise, min_examples_per_class)
        else:
            mask = _filter_mask(filter_by, scores_of(_FILTER_SCORE[filter_by]))
    else:
        labels, pp = validate_labels_and_pred_probs(labels, pred_probs)
        mask = _issue_mask(labels, pp, filter_by, frac_noise, min_examples_per_class)
    if not return_ranked:
        return mask
    idx = np.flatnonzero(mask)
    if not idx.size:
        return idx.astype(np.int64)
    # the scores that decided, when they are rank_by's; else rank_by's own
    scores = computed[rank_by] if rank_by in computed else rank._scores(labels, pp, rank_by)
    return idx[np.argsort(scores[idx], kind="stable")]


def _check_prune_options(frac_noise, min_examples_per_class) -> tuple[float, int]:
    """``frac_noise`` as a float in (0, 1] and ``min_examples_per_class`` as an int >= 0, or
    a ValueError naming the argument (booleans are refused: True would pass as 1)."""
    if (isinstance(frac_noise, (bool, np.bool_))
            or not isinstance(frac_noise, (int, float, np.integer, np.floating))
            or not 0.0 < frac_noise <= 1.0):  # NaN fails the comparison
        raise ValueError(f"frac_noise must be a number in (0, 1], got {frac_noise!r}")
    if (isinstance(min_examples_per_class, (bool, np.bool_))
            or not isinstance(min_examples_per_class, (int, np.integer))
            or min_examples_per_class < 0):
        raise ValueError("min_examples_per_class must be an integer >= 0, "
                         f"got {min_examples_per_class!r}")
    return float(frac_noise), int(min_examples_per_class)


def expected_f1_mask(scores) -> np.ndarray:
    """Flags that maximise the plug-in expected F1 when ``scores`` are ``P(label correct)``.

    Args:
        scores: float (N,) in [0, 1], e.g. the pooled label-quality scores.

    Returns:
        bool ndarray (N,): the k lowest scores (ties in index order) for the k maximising
        ``2 sum_{top k} (1 - s) / (k + sum_all (1 - s))``; all False when that maximum is
        at most ``exp(-sum_all (1 - s))`` (no label expected to be wrong). See ``"expected_f1"`` in the module docstring for the source.

    Raises:
        ValueError: ``scores`` not 1-D, empty, NaN or outside [0, 1].
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1 or s.size == 0:
        raise ValueError(f"scores must be a non-empty 1-D array, got shape {s.shape}")
    bad = np.flatnonzero(~((s >= 0.0) & (s <= 1.0)))
    if bad.size:
        raise ValueError(f"scores must lie in [0, 1]; scores[{bad[0]}] = {s[bad[0]]}")
    q = 1.0 - s
    mask = np.zeros(s.size, dtype=bool)
    total = q.sum()
    if total <= 0.0:
        return mask
    order = np.argsort(s, kind="stable")
    f1 = 2.0 * np.cumsum(q[order]) / (np.arange(1, s.size + 1) + total)
    best = int(np.argmax(f1))
    if np.exp(-total) >= f1[best]:  # flagging nothing is expected to score better
        return mask
    mask[order[: best + 1]] = True
    return mask


def _filter_mask(filter_by: str, scores) -> np.ndarray:
    """The flags of one of our filters from the scores it decides with.

    Args:
        filter_by: ``"mixture"`` or ``"pooled"`` (flag ``scores < 0.5``) or
            ``"expected_f1"`` (:func:`expected_f1_mask`).
        scores: float (N,) in [0, 1], the ``label_quality_scores`` of method
            ``_FILTER_SCORE[filter_by]`` (``"mixture"`` or ``"pooled"``).

    Returns:
        bool ndarray (N,), True = label issue.

    Raises:
        ValueError: ``filter_by`` not one of ours.
    """
    validate_choice(filter_by, ("mixture", "pooled", "expected_f1"), "filter_by")
    scores = np.asarray(scores, dtype=np.float64)
    return expected_f1_mask(scores) if filter_by == "expected_f1" else scores < 0.5


def adaptive_uses_pooled(pred_probs) -> bool:
    """Whether the ``"adaptive"`` filter decides by ``"pooled"`` on these pred_probs (True:
    confident pred_probs) or by the ``"both"`` count (False: flat pred_probs).

    Args:
        pred_probs: float (N, K), a memory map, or a list of such arrays (rows averaged).

    Returns:
        bool: ``rank.row_entropy_statistic(pred_probs) < rank.ADAPTIVE_ENTROPY_THRESHOLD``.

    Raises:
        ValueError: invalid pred_probs (see :mod:`labelnoise._validation`).
    """
    return not rank._is_flat(rank.row_entropy_statistic(pred_probs))


def _adaptive_mask(labels: np.ndarray, pp: PredProbs, scores_of, frac_noise: float,
                   min_examples_per_class: int, joint: tuple | None = None):
    """The ``"adaptive"`` filter over validated inputs (module docstring).

    Args:
        labels, pp: validated labels (int64 (N,)) and pred_probs.
        scores_of: ``scores_of(method)`` -> float (N,) label-quality scores of ``method``
            on these inputs (computed once by the caller's cache where it has one).
        frac_noise, min_examples_per_class: checked options of the ``"both"`` count.
        joint: the calibrated confident joint and its off-diagonal indices, if computed.

    Returns:
        bool (N,) mask.
    """
    if not rank._is_flat(rank._entropy_statistic(pp)):
        return scores_of("pooled") < 0.5
    num = _both_count(labels, pp, frac_noise, min_examples_per_class, joint)
    return _lowest(scores_of("adaptive"), num)


def _lowest(scores: np.ndarray, num: int) -> np.ndarray:
    """bool (N,) mask of the ``num`` lowest ``scores``, ties at the cut-off in index order
    (the first ``num`` of a stable argsort), in O(N)."""
    mask = np.zeros(scores.size, dtype=bool)
    if num <= 0:
        return mask
    if num >= scores.size:
        mask[:] = True
        return mask
    cut = np.partition(scores, num - 1)[num - 1]
    mask = scores < cut
    ties = np.flatnonzero(scores == cut)
    mask[ties[: num - int(mask.sum())]] = True
    return mask


#: above this many examples, the ``adaptive`` filter counts with ``both`` on a strided
#: subsample of about this many rows and scales the count to N (the prunings sort
#: within each (class, class) cell, about 10x the cost of a pass over pred_probs; the
#: fraction flagged is a mean, so its standard error is below 0.0014 at this size). It is
#: not unbiased: the per-cell quotas come from the subsample's own confident joint, and
#: with few rows per class the count comes out high. One-off measurement (a scratch script,
#: not a benchmarks/ figure) at N = 1,000,000 (synthetic
#: pred_probs, 20% noise, against the exact count): K = 20 (6,550 rows per class) -0.1%,
#: K = 100 (1,310) +1.1%, K = 300 (437) +11% (+2.4% with 1,666 rows per class, at 4x the
#: time). Left so, since the weak-model branch that uses it is itself a rough count.
_BOTH_COUNT_ROWS = 1 << 17


def _both_count(labels: np.ndarray, pp: PredProbs, frac_noise: float,
                min_examples_per_class: int, joint: tuple | None = None) -> int:
    """How many examples cleanlab's ``"both"`` flags: exactly up to ``_BOTH_COUNT_ROWS``
    examples; beyond, ``N`` times the fraction ``"both"`` flags on every s-th example
    (s = ceil(N / _BOTH_COUNT_ROWS), plus the first example of any class the stride
    misses; its own confident joint; warnings about small classes of the subsample are not
    shown). The Dask path (``dask_arrays._both_count``) takes the same rows."""
    stride = _both_stride(pp.n)
    if stride == 1:
        return int(_issue_mask(labels, pp, "both", frac_noise, min_examples_per_class,
                               joint).sum())
    idx = np.arange(0, pp.n, stride)
    missing = np.flatnonzero(np.bincount(labels[idx], minlength=pp.k) == 0)
    if missing.size:  # every class keeps at least its first example
        first = np.flatnonzero(np.isin(labels, missing))
        _, at = np.unique(labels[first], return_index=True)
        idx = np.union1d(idx, first[at])
        rows = [a[idx] for a in pp.arrays]
    else:  # strided views, no copy
        rows = [a[::stride] for a in pp.arrays]
    return _count_both(labels[idx], rows, list(pp.renormalize), pp.n, frac_noise,
                       min_examples_per_class)


def _both_stride(n: int) -> int:
    """The stride of the ``"both"`` count's subsample of ``n`` examples (1: every row)."""
    return 1 if n <= _BOTH_COUNT_ROWS else -(-n // _BOTH_COUNT_ROWS)


def _count_both(labels: np.ndarray, arrays: list, renormalize: list, n: int,
                frac_noise: float, min_examples_per_class: int) -> int:
    """``n`` times the fraction of ``labels`` (the rows of a subsample, or all N) that
    ``"both"`` flags, rounded; ``arrays``: those rows of each validated pred_probs member,
    ``renormalize``: the members' flags (:class:`labelnoise._validation.PredProbs`)."""
    sub = PredProbs(arrays, renormalize, int(labels.size), int(np.shape(arrays[0])[1]))
    with warnings.catch_warnings():
        if labels.size < n:  # small classes of a subsample are not the user's
            warnings.simplefilter("ignore")
        flagged = int(_issue_mask(labels, sub, "both", frac_noise, min_examples_per_class).sum())
    return flagged if labels.size == n else int(round(flagged * n / labels.size))


def _issue_mask(labels: np.ndarray, pp: PredProbs, filter_by: str, frac_noise: float,
                min_examples_per_class: int, joint: tuple | None = None) -> np.ndarray:
    """Mask of one of cleanlab's seven filters over validated inputs; ``joint``: the
    calibrated confident joint and its off-diagonal indices, if already computed
    (:func:`labelnoise.count._confident_joint`)."""
    if filter_by == "predicted_neq_given":
        mask = np.empty(pp.n, dtype=bool)

        def work(a: int, b: int) -> None:
            mask[a:b] = pp.rows(a, b).argmax(axis=1) != labels[a:b]

        map_chunks(work, pp.n, pp.chunk)
    elif filter_by in ("low_self_confidence", "low_normalized_margin"):
        if joint is None:
            num = int(count._off_diagonal_issue_mask(labels, pp).sum())
        else:  # the same count from the joint's off-diagonal indices
            num = int((~count._predicted_equals_given(labels, pp)[joint[1]]).sum())
        scores = rank._scores(labels, pp, filter_by[4:])
        mask = np.zeros(pp.n, dtype=bool)
        mask[np.argsort(scores)[:num]] = True
        return mask
    else:
        cj, off = joint if joint is not None else count._confident_joint(
            labels, pp, None, calibrate=True)[::2]
        if filter_by == "confident_learning":
            mask = np.zeros(pp.n, dtype=bool)
            mask[off] = True
        else:
            prune_counts = _keep_at_least_n_per_class(cj.T, min_examples_per_class, frac_noise)
            if filter_by in ("prune_by_class", "both"):
                mask = _prune(labels, pp, prune_counts, "class", min_examples_per_class)
            if filter_by in ("prune_by_noise_rate", "both"):
                by_rate = _prune(labels, pp, prune_counts, "noise_rate", min_examples_per_class)
                mask = by_rate if filter_by == "prune_by_noise_rate" else mask & by_rate
    mask &= ~count._predicted_equals_given(labels, pp)
    return mask
