"""Per-example label quality scores: higher = the given label is more likely correct.

Every score lies in [0, 1]. The three classic scores follow Kuan and Mueller 2022,
"Model-Agnostic Label Quality Scoring to Detect Real-World Label Errors" (ICML DataPerf
workshop), Section 2. Ours:

``adaptive`` (the default)
    ``prior_adjusted_confidence`` when the pred_probs are flat -- the mean normalised row
    entropy ``H(p_n) / log K`` (:func:`row_entropy_statistic`, on a strided subsample of at
    most 8,192 rows) is at least ``ADAPTIVE_ENTROPY_THRESHOLD`` (0.8), as a weak model
    gives -- and ``prior_adjusted_margin`` otherwise. Why: with a weak model the strongest
    other class is mostly noise, and the margin against it ranks worse than the given
    label's own (prior-adjusted) probability, which is what a calibrated model's
    posterior of a correct label is monotone in under symmetric noise; with a confident
    model the margin is better (development cases: ``benchmarks/RESULTS.md``, "Detection on
    the development cases"; the threshold chosen on the select half).
``prior_adjusted_margin``
    The margin of the given label over the strongest other class after dividing each
    class probability by the frequency of that class among the given labels:
    ``a_j = p_j / pi_j`` (by Bayes' rule proportional to the class-conditional likelihood
    ``p(x | j)``, the logit adjustment of Menon et al. 2021, "Long-tail learning via logit
    adjustment", ICLR), and ``s = a_y / (a_y + max_{j != y} a_j)``: 0.5 exactly when the
    given label ties with the most likely other class. A given label of probability 0 (as
    k-NN, trees and forests, or a saturated softmax give) is read as ``a_y = 1e-300``, so
    such labels rank by their strongest alternative rather than all tying at 0. One pass
    over pred_probs.
``prior_adjusted_confidence``
    The given label's share of the prior-adjusted pred_probs, ``q_y = a_y / sum_j a_j``
    (``a_j = p_j / pi_j`` as above): the class-balanced posterior of the given label
    (self-confidence after the logit adjustment of Menon et al. 2021). Examples with equal
    ``q_y`` (e.g. probability 0, as k-NN and trees give) are ordered by
    ``prior_adjusted_margin`` (added with weight ``2**-30``). One pass over pred_probs
    (the margin comes from the validation pass).
``noise_posterior``
    The posterior probability that the given label is the true one under class-conditional
    noise, ``P(y* = y | x, y~ = y) = T[y, y] q_y / sum_j T[y, j] q_j``, where ``q`` is the
    prior-adjusted pred_probs renormalised, read as ``P(y* | x)``, and ``T`` the noise matrix
    ``P(y~ | y*)``: given, or estimated as the column-normalised counts of (given label,
    argmax of the prior-adjusted pred_probs) -- the noise implied by the margin score's own
    decisions (the confident-learning estimate of Northcutt et al. 2021 was the other
    candidate; see the detection section of benchmarks/RESULTS.md).
``pooled``
    The logarithmic opinion pool (Genest and Zidek 1986, "Combining Probability
    Distributions: A Critique and an Annotated Bibliography", Statistical Science) of the
    two scores above, with equal weights: ``logit(s) = (logit(s_margin) +
    logit(s_posterior)) / 2``.
``mixture``
    ``P(label correct)`` under a two-component mixture of noise models for the given
    label, each component scored by its own expert:

    - *direct* (instance-dependent noise): the out-of-sample pred_probs, trained on the
      given labels, already describe how labels are given, ``P_d(y~ = y | x) = p_y``;
      its ``P(correct)`` is ``prior_adjusted_margin``;
    - *class-conditional*: ``P_c(y~ = y | x) = sum_j T[y, j] q_j`` (``T``, ``q`` as in
      ``noise_posterior``); its ``P(correct)`` is ``noise_posterior``.

    The weight ``w`` of the class-conditional component maximises the likelihood of the
    given labels, ``sum_n log(w P_c(y_n | x_n) + (1 - w) P_d(y_n | x_n))``: the mixing
    proportion of a mixture with fixed components, which EM (Dempster, Laird and Rubin
    1977) would reach by iteration; the log-likelihood is concave in ``w``, so we solve for
    the root of its derivative instead. By the law of total probability the score is
    ``s = r s_posterior + (1 - r) s_margin``, with ``r = w P_c / (w P_c + (1 - w) P_d)``
    the class-conditional component's posterior responsibility for the example. Human
    label noise is instance-dependent (hard images are mislabelled more), synthetic noise
    is class-conditional; the likelihood tells them apart without true labels (benchmark:
    ``w`` from 0 to 0.25 on both CIFAR-10N sets, 0.68 to 0.88 on the synthetic one,
    ``benchmarks/RESULTS.md``; :func:`mixture_weight` returns it). ``find_label_issues``
    with ``filter_by="mixture"`` flags ``s < 0.5``. Over-confident pred_probs (given-label probabilities
    near 0 on mislabelled examples) make the direct component unlikely and pull ``w``
    towards 1. Two passes over pred_probs plus the one-variable fit.

Ensembles: ``pred_probs`` may be a list of (N, K) arrays from several models; they are
combined by the arithmetic mean of their rows before scoring (measured better than the
geometric mean on the benchmark; see ``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from labelnoise._validation import (
    CHUNK_ELEMENTS,
    PredProbs,
    map_chunks,
    validate_choice,
    validate_labels_and_pred_probs,
    validate_noise_matrix,
)
from labelnoise.dask_arrays import _is_dask

CLASSIC_METHODS = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")
OUR_METHODS = ("adaptive", "prior_adjusted_margin", "prior_adjusted_confidence",
               "noise_posterior", "pooled", "mixture")
#: the methods that need the estimated noise matrix (a first pass over all rows)
_POSTERIOR_METHODS = ("noise_posterior", "pooled", "mixture")
#: the methods that use the prior-adjusted margin
_MARGIN_METHODS = ("adaptive", "prior_adjusted_margin", "prior_adjusted_confidence", "pooled",
                   "mixture")
#: the methods that use ``a_y / sum_j a_j`` (computed during validation when they are asked for)
_CONFIDENCE_METHODS = ("adaptive", "prior_adjusted_confidence")
METHODS = CLASSIC_METHODS + OUR_METHODS
DEFAULT_METHOD = "adaptive"
#: ``adaptive`` scores by ``prior_adjusted_confidence`` when the mean normalised entropy of
#: the pred_probs rows is at least this (flat pred_probs: a weak model), else by
#: ``prior_adjusted_margin``. Chosen on the select half of the development cases
#: (``benchmarks/detection_dev.py``) from the grid 0.60, 0.65, ..., 0.95 by the highest mean
#: AUPRC gap to cleanlab's best score; the confirm half is reported as it came.
ADAPTIVE_ENTROPY_THRESHOLD = 0.8
#: weight of the prior-adjusted margin inside ``prior_adjusted_confidence``: it only orders
#: examples whose confidence ties (e.g. the given label's probability is exactly 0, as k-NN
#: and trees give)
_TIE_WEIGHT = 2.0 ** -30

_CLIP = 1e-6  # lower clip of self-confidence inside confidence_weighted_entropy (as published)
_EPS = 1e-12  # keeps logits of scores at exactly 0 or 1 finite
#: the given label's prior-adjusted probability is read as at least this in the margin, so
#: labels of probability 0 are ordered by the strength of their alternative (largest
#: first) instead of all scoring 0: the ranking of every label of probability above it is
#: unchanged (development benchmark: benchmarks/results/detection.md)
_MARGIN_FLOOR = 1e-300
#: elements per sub-block of the margin's temporaries: one validation chunk (splitting a
#: chunk further measured slower: numpy call overhead outweighs cache reuse); larger
#: blocks are still worked through in pieces of this size
_SUB_ELEMENTS = CHUNK_ELEMENTS


class _Fused(NamedTuple):
    """What the validation pass computed for the scores: the prior-adjusted margin and
    ``a_y / sum_j a_j`` (float64 (N,) each). Passed as ``margin`` to :func:`_scores` and
    :func:`_mixture`, which also take a plain margin array."""

    margin: np.ndarray
    confidence: np.ndarray


def _split_fused(margin) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(margin, confidence) from what :func:`_validate_fused` returned."""
    if isinstance(margin, _Fused):
        return margin.margin, margin.confidence
    return margin, None


def _num_columns(pred_probs) -> int:
    if isinstance(pred_probs, (list, tuple)):
        if not pred_probs:
            return 0
        first = pred_probs[0]
    else:
        first = pred_probs
    return int(np.shape(first)[1]) if np.ndim(first) == 2 else 0


def _gather(block: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return block[np.arange(block.shape[0]), labels]


def _max_other(block: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Max over classes j != label of each row (a copy with the label entry set to -inf)."""
    tmp = block.copy()
    tmp[np.arange(block.shape[0]), labels] = -np.inf
    return tmp.max(axis=1)


def _adjust_by_thresholds(block: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """cleanlab's ``adjust_pred_probs``: subtract the per-class thresholds, shift by their
    max so every entry stays non-negative, renormalise rows."""
    out = block - thresholds + thresholds.max()
    out /= out.sum(axis=1, keepdims=True)
    return out


def _score_block(method: str, block: np.ndarray, labels: np.ndarray, ctx: dict,
                 margin: np.ndarray | None = None) -> np.ndarray:
    """Scores of one chunk; ``margin``, when given, is the chunk's prior-adjusted margin
    already computed during validation (:func:`_argmax_pair_counter`)."""
    if ctx.get("thresholds") is not None:
        block = _adjust_by_thresholds(block, ctx["thresholds"])
    if method == "self_confidence":
        return _gather(block, labels)
    if method == "normalized_margin":
        return (_gather(block, labels) - _max_other(block, labels) + 1.0) / 2.0
    if method == "confidence_weighted_entropy":
        ratio = _normalised_entropy(block) / np.clip(_gather(block, labels), _CLIP, None)
        return np.log(ratio + 1.0) / np.clip(ratio, _CLIP, None)
    if method == "prior_adjusted_confidence":
        return _prior_adjusted_confidence(block, labels, ctx["inv_prior"], margin)
    if method in _MARGIN_METHODS and margin is None:
        margin, _ = _margin_and_top(block, labels, ctx["inv_prior"])
    if method == "prior_adjusted_margin":
        return margin
    posterior, _, _ = _posterior_block(block, labels, ctx["posterior_weights"])
    if method == "noise_posterior":
        return posterior
    # equal-weight logarithmic pool, sigmoid((logit m + logit p) / 2), in the equivalent
    # odds form sqrt(m p) / (sqrt(m p) + sqrt((1 - m)(1 - p))): no log or exp needed
    m = np.clip(margin, _EPS, 1 - _EPS)
    p = np.clip(posterior, _EPS, 1 - _EPS)
    agree = np.sqrt(m * p)
    return agree / (agree + np.sqrt((1.0 - m) * (1.0 - p)))


def _prior_adjusted_confidence(block: np.ndarray, labels: np.ndarray, inv_prior: np.ndarray,
                               margin: np.ndarray) -> np.ndarray:
    """``q_y = a_y / sum_j a_j`` (``a = p / pi``) of one chunk, ties ordered by ``margin``
    (the prior-adjusted margin, weight ``_TIE_WEIGHT``). float64 (n,) in [0, 1]."""
    q = np.empty(block.shape[0], dtype=np.float64)
    # the same arithmetic as the validation pass, so both paths give identical bits
    computed_margin, _ = _margin_and_top(block, labels, inv_prior, confidence_out=q)
    if margin is None:
        margin = computed_margin
    return (1.0 - _TIE_WEIGHT) * q + _TIE_WEIGHT * margin


def row_entropy_statistic(pred_probs) -> float:
    """Mean normalised entropy ``H(p_n) / log K`` of the pred_probs rows, on the strided
    subsample of at most 8,192 rows (every row when N is at most that):
    near 1 for the flat pred_probs of a weak model, near 0 for a confident one. The
    ``adaptive`` score switches on it (``ADAPTIVE_ENTROPY_THRESHOLD``).

    Args:
        pred_probs: float (N, K), a memory map, or a list of such arrays (rows averaged).

    Returns:
        float in [0, 1].

    Raises:
        ValueError: invalid pred_probs (see :mod:`labelnoise._validation`).
    """
    from labelnoise._validation import validate_pred_probs

    return _entropy_statistic(validate_pred_probs(pred_probs))


#: rows of the strided subsample the ``adaptive`` statistic reads (its standard error is
#: below 0.002 at this size: row entropies lie in [0, 1])
_ENTROPY_SUBSAMPLE = 1 << 13


def _subsample_indices(n: int) -> np.ndarray:
    """The strided rows the ``adaptive`` statistic reads (int64, ascending)."""
    return np.arange(0, n, max(1, -(-n // _ENTROPY_SUBSAMPLE)), dtype=np.int64)


def _normalised_entropy(rows: np.ndarray) -> np.ndarray:
    """``H(p) / log K`` of each row (0 log 0 = 0); float64 (n,)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(rows > 0, rows * np.log(np.where(rows > 0, rows, 1.0)), 0.0)
    return -plogp.sum(axis=1) / np.log(rows.shape[1])


def _normalised_entropy_sum(rows: np.ndarray) -> float:
    """Sum over rows of :func:`_normalised_entropy`; float (0 for no rows or K < 2)."""
    if rows.shape[1] < 2 or rows.shape[0] == 0:
        return 0.0
    return float(_normalised_entropy(rows).sum())


def _entropy_statistic(pp: PredProbs) -> float:
    idx = _subsample_indices(pp.n)
    return _normalised_entropy_sum(pp.take(idx)) / max(idx.size, 1)


def _is_flat(statistic: float) -> bool:
    """Whether pred_probs with this row-entropy statistic count as flat (a weak model):
    the switch of the ``adaptive`` score and of the ``adaptive`` filter."""
    return statistic >= ADAPTIVE_ENTROPY_THRESHOLD


def _resolve_adaptive(statistic: float) -> str:
    """The method ``adaptive`` uses for a given row-entropy statistic."""
    return "prior_adjusted_confidence" if _is_flat(statistic) else "prior_adjusted_margin"


def _posterior_block(block: np.ndarray, labels: np.ndarray, w: np.ndarray):
    """Noise posterior of one chunk, with ``w[y, j] = T[y, j] / pi_j``: ``T[y, y] p_y / pi_y
    / sum_j T[y, j] p_j / pi_j``. Returns (posterior, denominator ``sum_j T[y, j] a_j``,
    ``p_y``), float64 (n,) each."""
    own_p = block[np.arange(block.shape[0]), labels]
    # row-wise dot products <p_n, W[y_n]> (take + einsum measured faster than fancy
    # indexing + a batched matmul)
    denominator = np.einsum("ij,ij->i", block, w.take(labels, axis=0))
    posterior = w[labels, labels] * own_p / np.clip(denominator, 1e-300, None)
    return posterior, denominator, own_p


def _mixture_parts(block: np.ndarray, labels: np.ndarray, ctx: dict, margin: np.ndarray | None):
    """What the ``mixture`` score needs from one chunk, four float64 (n,) arrays: margin, noise
    posterior, ``P_c(y | x) = sum_j T[y, j] q_j`` and ``P_d(y | x) = p_y``."""
    if margin is None:
        margin, _ = _margin_and_top(block, labels, ctx["inv_prior"])
    posterior, denominator, own_p = _posterior_block(block, labels, ctx["posterior_weights"])
    # q = a / sum_j a_j with a = p / pi, so sum_j T[y, j] q_j = denominator / (p . inv_prior)
    p_class_conditional = denominator / np.clip(block @ ctx["inv_prior"], 1e-300, None)
    return margin, posterior, p_class_conditional, own_p


#: probabilities of the given label below this are read as this in the mixture's likelihood
_LIKELIHOOD_FLOOR = 1e-12


#: the mixture weight is first located on a strided subsample of about this many rows,
#: then refined on all rows (Newton converges in a step or two from there)
_FIT_SUBSAMPLE = 1 << 16


def _newton_root(u: np.ndarray, w: float, lo: float, hi: float) -> float:
    """Root in (lo, hi) of the decreasing ``w -> sum_n u_n / (1 + w u_n)``: Newton's method
    kept inside a shrinking bracket (a bisection step whenever Newton would leave it),
    starting at ``w``; to 1e-13."""

    def moments(w):
        v = u / (1.0 + w * u)  # 1 + w u > 0: u > -1 and w in [0, 1]
        return float(v.sum()), float(np.dot(v, v))  # curvature = -derivative

    return _bracketed_newton(moments, w, lo, hi)


def _bracketed_newton(moments, w: float, lo: float, hi: float) -> float:
    """Root in (lo, hi) of a decreasing function given ``moments(w) -> (value, -derivative)``:
    Newton's method inside a shrinking bracket (bisection whenever Newton would leave it),
    to 1e-13. Shared by the in-memory and the Dask mixture fits."""
    for _ in range(200):
        slope, curvature = moments(w)
        if slope > 0.0:
            lo = w
        else:
            hi = w
        step = w + slope / curvature if curvature > 0.0 else (lo + hi) / 2.0
        new = step if lo < step < hi else (lo + hi) / 2.0
        if abs(new - w) < 1e-13 or hi - lo < 1e-13:
            return new
        w = new
    return w


def _likelihood_ratio(p_class_conditional: np.ndarray, p_direct: np.ndarray) -> np.ndarray:
    """``P_c / P_d`` of each example, both floored at ``_LIKELIHOOD_FLOOR``; float64 (N,)."""
    return np.maximum(p_class_conditional, _LIKELIHOOD_FLOOR) / np.maximum(p_direct, _LIKELIHOOD_FLOOR)


def _weight_from_ratio(ratio: np.ndarray, start: float = 0.5) -> float:
    """The weight ``w`` in [0, 1] maximising ``sum_n log(w P_c[n] + (1 - w) P_d[n])``, from
    the likelihood ratios ``ratio = P_c / P_d`` (float (N,), :func:`_likelihood_ratio`).

    With ``u = ratio - 1`` the derivative (divided by ``P_d``) ``sum_n u_n / (1 + w u_n)``
    decreases in ``w`` (the log-likelihood is concave), so ``w = 0`` when it is <= 0 at 0,
    ``w = 1`` when it is >= 0 at 1, and otherwise its root (:func:`_newton_root` from
    ``start``; the result does not depend on the start)."""
    u = ratio - 1.0
    if u.sum() <= 0.0:
        return 0.0
    if np.sum(u / (1.0 + u)) >= 0.0:
        return 1.0
    return _newton_root(u, start, 0.0, 1.0)


def _fit_mixture_weight(ratio: np.ndarray) -> float:
    """:func:`_weight_from_ratio` of all rows, started from the weight of a strided
    subsample of about ``_FIT_SUBSAMPLE`` rows (moved inside the open bracket), from which
    Newton needs a step or two."""
    start = 0.5
    stride = ratio.size // _FIT_SUBSAMPLE
    if stride > 1:
        start = min(max(_weight_from_ratio(ratio[::stride]), 1e-9), 1.0 - 1e-9)
    return _weight_from_ratio(ratio, start)


def _mixture(labels: np.ndarray, pp: PredProbs, noise_matrix: np.ndarray | None = None,
             margin: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """The ``mixture`` score (float64 (N,)) and its fitted weight over validated inputs;
    ``margin``: the prior-adjusted margins from the validation pass, if any."""
    margin, _ = _split_fused(margin)
    ctx = _context(labels, pp, "mixture", noise_matrix)
    parts = np.empty((4, pp.n), dtype=np.float64)

    def work(a: int, b: int) -> None:
        for row, values in zip(parts, _mixture_parts(pp.rows(a, b), labels[a:b], ctx,
                                                     None if margin is None else margin[a:b])):
            row[a:b] = values

    map_chunks(work, pp.n, pp.chunk)
    margin, posterior, p_cc, p_direct = parts
    ratio = _likelihood_ratio(p_cc, p_direct)
    w = _fit_mixture_weight(ratio)
    # responsibility w P_c / (w P_c + (1 - w) P_d), divided through by P_d
    responsibility = w * ratio / (w * ratio + (1.0 - w))
    return margin + responsibility * (posterior - margin), w


def _sub_rows(k: int) -> int:
    """Rows per sub-block (``_SUB_ELEMENTS`` elements) of a block of K columns."""
    return max(1, _SUB_ELEMENTS // k)


def _inv_prior_tile(inv_prior: np.ndarray) -> np.ndarray:
    """``inv_prior`` repeated on every row of a sub-block: numpy multiplies by a same-shape
    contiguous array faster than it broadcasts a row."""
    return np.ascontiguousarray(np.broadcast_to(inv_prior, (_sub_rows(inv_prior.size), inv_prior.size)))


def _margin_and_top(block: np.ndarray, labels: np.ndarray, inv_prior: np.ndarray,
                    inv_tile: np.ndarray | None = None, confidence_out: np.ndarray | None = None):
    """Prior-adjusted margin ``a_y / (a_y + max_{j != y} a_j)`` (``a = p / pi``) and the
    arg-max of ``a`` (numpy's tie-break: lowest index) of each row of one chunk.

    Works through sub-blocks of at most ``_SUB_ELEMENTS`` elements; ``inv_tile`` is
    :func:`_inv_prior_tile` of ``inv_prior`` (made here when not given). Returns float64
    (n,), int64 (n,). With ``confidence_out`` (float64 (n,)) it also writes each row's
    ``a_y / sum_j a_j`` there (``prior_adjusted_confidence`` before its tie-break)."""
    n, k = block.shape
    if inv_tile is None:
        inv_tile = _inv_prior_tile(inv_prior)
    margin = np.empty(n, dtype=np.float64)
    top = np.empty(n, dtype=np.int64)
    sub = _sub_rows(k)
    buf = np.empty((min(sub, n), k))
    row_start = np.arange(0, min(sub, n) * k, k)  # flat index of each row's first entry
    for s in range(0, n, sub):
        m = min(sub, n - s)
        lab = labels[s:s + m]
        adjusted = np.multiply(block[s:s + m], inv_tile[:m], out=buf[:m])
        flat = adjusted.reshape(-1)
        own_at = row_start[:m] + lab
        own = flat.take(own_at)
        if confidence_out is not None:
            # row sums of a as a BLAS matrix-vector product (faster than sum(axis=1))
            confidence_out[s:s + m] = own / np.maximum(block[s:s + m] @ inv_prior, 1e-300)
        flat.put(own_at, -np.inf)
        best_other = adjusted.argmax(axis=1)
        other = flat.take(row_start[:m] + best_other)
        # a given label of probability 0 (k-NN, trees, forests, saturated softmax) scores
        # by its strongest alternative instead of tying at 0 with every other such label
        np.maximum(own, _MARGIN_FLOOR, out=own)
        margin[s:s + m] = own / (own + other)
        # arg-max of the row including the given label (lowest index on a tie)
        top[s:s + m] = np.where((own > other) | ((own == other) & (lab < best_other)),
                                lab, best_other)
    return margin, top


def _argmax_pair_counter(labels: np.ndarray, k: int, margin_out: np.ndarray | None = None,
                         confidence_out: np.ndarray | None = None):
    """Per-chunk counts of (given label, arg-max of the prior-adjusted pred_probs) pairs, as
    a function ``(block, start, stop) -> int64 (K * K,)`` usable during validation
    (``fused``). With ``margin_out`` it also writes each row's prior-adjusted margin into
    ``margin_out[start:stop]`` while the chunk is in cache, so the default score needs one
    more pass over pred_probs instead of two; that margin is valid only when validation
    needed no renormalisation (``PredProbs.fused`` is set). ``confidence_out`` likewise
    receives ``a_y / sum_j a_j`` (:func:`_margin_and_top`)."""
    if labels.max() >= k:  # invalid labels: validation reports them after this pass
        return lambda block, a, b: np.zeros(k * k, dtype=np.int64)
    inv_prior = float(labels.size) / np.maximum(np.bincount(labels, minlength=k), 1)
    inv_tile = _inv_prior_tile(inv_prior)

    def counts(block: np.ndarray, a: int, b: int) -> np.ndarray:
        conf = None if confidence_out is None else confidence_out[a:b]
        margin, top = _margin_and_top(block, labels[a:b], inv_prior, inv_tile, conf)
        if margin_out is not None:
            margin_out[a:b] = margin
        return np.bincount(labels[a:b] * k + top, minlength=k * k)[: k * k]

    return counts


def _argmax_noise_matrix(labels: np.ndarray, pp: PredProbs) -> np.ndarray:
    """Noise matrix ``P(given = i | true = j)`` estimated by counting (given label, argmax
    of the prior-adjusted pred_probs) pairs and normalising columns; a class that is never
    the argmax keeps an identity column. Reuses the counts made during validation when
    there are any (``PredProbs.fused``)."""
    k = pp.k
    if pp.fused is not None and np.shape(pp.fused) == (k * k,):
        total = pp.fused
    else:
        counter = _argmax_pair_counter(labels, k)
        total = np.sum(map_chunks(lambda a, b: counter(pp.rows(a, b), a, b), pp.n, pp.chunk), axis=0)
    counts = np.asarray(total).reshape(k, k).astype(np.float64)
    cols = counts.sum(axis=0)
    out = np.where(cols > 0, counts / np.where(cols > 0, cols, 1.0), np.eye(k))
    return out


def _context(labels: np.ndarray, pp: PredProbs, method: str, noise_matrix: np.ndarray | None) -> dict:
    """The class statistics our methods need: ``inv_prior`` (N / class counts of the given
    labels) and, for the posterior methods, ``posterior_weights`` ``T[y, j] / pi_j``."""
    ctx: dict = {}
    if method in OUR_METHODS:
        ctx["inv_prior"] = float(pp.n) / np.maximum(np.bincount(labels, minlength=pp.k), 1)
    if method in _POSTERIOR_METHODS:
        if noise_matrix is None:
            noise_matrix = _argmax_noise_matrix(labels, pp)
        ctx["posterior_weights"] = noise_matrix * ctx["inv_prior"][None, :]
    return ctx


def mixture_weight(labels, pred_probs, *, noise_matrix=None) -> float:
    """The weight of the class-conditional noise model in the ``mixture`` score.

    A diagnostic of the kind of label noise: near 0 when the given labels are explained by
    the pred_probs directly (instance-dependent noise, as human annotators make), near 1
    when a class-conditional noise matrix applied to the prior-adjusted pred_probs explains
    them better (as synthetic noise). See ``mixture`` in the module docstring.

    Args:
        labels: int array-like (N,), given labels in [0, K).
        pred_probs: float (N, K) out-of-sample predicted probabilities, a memory map, or a
            list of such arrays (rows averaged).
        noise_matrix: optional (K, K) ``P(given = i | true = j)``; estimated as for
            ``"noise_posterior"`` when omitted.

    Returns:
        float in [0, 1]: the maximum-likelihood weight ``w``.

    Raises:
        ValueError: invalid labels/pred_probs/noise_matrix, or a class with no example.
    """
    labels, pp, margin = _validate_fused(labels, pred_probs, "mixture", noise_matrix,
                                         require_all_classes=True)
    if noise_matrix is not None:
        noise_matrix = validate_noise_matrix(noise_matrix, num_classes=pp.k)
    return _mixture(labels, pp, noise_matrix, margin)[1]


def _check_adjust(method: str, adjust_pred_probs: bool) -> None:
    """ValueError unless ``adjust_pred_probs`` is off or ``method`` is one of cleanlab's two
    scores that take it (shared by the in-memory and the Dask paths)."""
    if adjust_pred_probs and method not in ("self_confidence", "normalized_margin"):
        raise ValueError(
            "adjust_pred_probs is supported only for method='self_confidence' or "
            f"'normalized_margin', got method={method!r}"
        )


def _scores(labels: np.ndarray, pp: PredProbs, method: str, *, adjust_pred_probs: bool = False,
            noise_matrix: np.ndarray | None = None, thresholds: np.ndarray | None = None,
            margin: np.ndarray | None = None) -> np.ndarray:
    """Scores over validated inputs, chunk by chunk (threads over chunks). ``margin``: the
    prior-adjusted margins from the validation pass (:func:`_argmax_pair_counter`), if any."""
    from labelnoise import count

    ctx: dict = {}
    _check_adjust(method, adjust_pred_probs)
    if adjust_pred_probs:
        if thresholds is None:
            thresholds = count._thresholds(labels, count._self_confidence(labels, pp), pp.k)
        ctx["thresholds"] = thresholds
    if method == "mixture":
        return _mixture(labels, pp, noise_matrix, margin)[0]
    margin, confidence = _split_fused(margin)
    if method == "adaptive":
        method = _resolve_adaptive(_entropy_statistic(pp))
    ctx.update(_context(labels, pp, method, noise_matrix))
    if method not in _MARGIN_METHODS:
        margin = None
    elif margin is not None and method == "prior_adjusted_margin":
        return margin
    elif margin is not None and confidence is not None and method == "prior_adjusted_confidence":
        return (1.0 - _TIE_WEIGHT) * confidence + _TIE_WEIGHT * margin
    out = np.empty(pp.n, dtype=np.float64)

    def work(a: int, b: int) -> None:
        out[a:b] = _score_block(method, pp.rows(a, b), labels[a:b], ctx,
                                None if margin is None else margin[a:b])

    map_chunks(work, pp.n, pp.chunk)
    return out


def label_quality_scores(labels, pred_probs, *, method: str = DEFAULT_METHOD,
                         adjust_pred_probs: bool = False, noise_matrix=None) -> np.ndarray:
    """Score how likely each given label is correct, from out-of-sample pred_probs.

    Methods (all in [0, 1], higher = label more likely correct):

    - ``"self_confidence"``: ``p[n, y_n]`` (Kuan and Mueller 2022, Eq. 1).
    - ``"normalized_margin"``: ``(p[n, y_n] - max_{j != y_n} p[n, j] + 1) / 2`` (Eq. 2).
    - ``"confidence_weighted_entropy"``: ``log(r + 1) / r`` with ``r = H(p_n) / log(K) /
      p[n, y_n]`` (self-confidence clipped at 1e-6; Eq. 3).
    - ``"adaptive"`` (default), ``"prior_adjusted_margin"``, ``"prior_adjusted_confidence"``,
      ``"noise_posterior"``, ``"pooled"``, ``"mixture"``: ours, see the module docstring.

    Which to use: for ranking, the default (``prior_adjusted_margin`` for confident
    pred_probs, ``prior_adjusted_confidence`` for the flat pred_probs of a weak model; one
    pass over pred_probs plus a subsample of at most 8,192 rows; above every classic score in
    AUPRC on all three detection benchmarks). For a
    decision, ``"mixture"``, whose value is a calibrated ``P(label correct)`` under the
    noise model the given labels support (``find_label_issues`` flags it below 0.5 by
    default); it reads pred_probs twice, like ``"noise_posterior"`` and ``"pooled"``
    (the noise matrix is estimated from all rows before any posterior). Timings and
    accuracy: ``benchmarks/RESULTS.md``.

    Args:
        labels: int array-like (N,), given labels in [0, K).
        pred_probs: float (N, K) out-of-sample predicted probabilities, a memory map, or a
            list of such arrays from several models (combined by the mean of their rows).
        method: one of the names above.
        adjust_pred_probs: subtract each class's threshold (mean self-confidence) before
            scoring, as cleanlab's option of that name (only for the first two methods).
        noise_matrix: optional (K, K) ``P(given = i | true = j)`` for ``"noise_posterior"``,
            ``"pooled"`` and ``"mixture"``; estimated from the (given label, arg-max of the
            prior-adjusted pred_probs) counts when omitted (see the module docstring).

    Returns:
        float64 ndarray (N,) in [0, 1].

    Raises:
        ValueError: unknown method, invalid labels/pred_probs/noise_matrix, or a class with
            no example (for the methods that use class statistics).

    Dask arrays (chunked along N) are handled by :mod:`labelnoise.dask_arrays` (a lazy
    Dask array is returned).
    """
    if _is_dask(labels) or _is_dask(pred_probs):
        from labelnoise import dask_arrays

        return dask_arrays.label_quality_scores(labels, pred_probs, method=method,
                                                adjust_pred_probs=adjust_pred_probs,
                                                noise_matrix=noise_matrix)
    validate_choice(method, METHODS, "method")
    needs_all = method in OUR_METHODS or adjust_pred_probs
    labels, pp, margin = _validate_fused(labels, pred_probs, method, noise_matrix,
                                         require_all_classes=needs_all)
    if noise_matrix is not None:
        noise_matrix = validate_noise_matrix(noise_matrix, num_classes=pp.k)
    return _scores(labels, pp, method, adjust_pred_probs=adjust_pred_probs,
                   noise_matrix=noise_matrix, margin=margin)


def _validate_fused(labels, pred_probs, method, noise_matrix, **kwargs):
    """Validate, computing during the same pass what ``method`` (a name or a sequence of
    names) needs from a full pass: the (given, arg-max) counts of the estimated noise matrix,
    the prior-adjusted margin and, for ``_CONFIDENCE_METHODS``, ``a_y / sum_j a_j``.
    Returns (labels, PredProbs, margin array, :class:`_Fused` or None)."""
    methods = (method,) if isinstance(method, str) else tuple(method)
    wants_margin = any(m in _MARGIN_METHODS for m in methods)
    wants_confidence = any(m in _CONFIDENCE_METHODS for m in methods)
    wants_counts = any(m in _POSTERIOR_METHODS for m in methods) and noise_matrix is None
    if not (wants_margin or wants_counts):
        return (*validate_labels_and_pred_probs(labels, pred_probs, **kwargs), None)
    k = _num_columns(pred_probs)
    size = np.shape(labels)[0] if np.ndim(labels) else 0
    margin = np.empty(size, dtype=np.float64)
    confidence = np.empty(size, dtype=np.float64) if wants_confidence else None

    def fused(lab: np.ndarray):
        ok = margin.shape == lab.shape
        return _argmax_pair_counter(lab, k, margin if ok else None, confidence if ok else None)

    labels, pp = validate_labels_and_pred_probs(labels, pred_probs, fused=fused, **kwargs)
    if not (wants_margin and pp.fused is not None and margin.shape == labels.shape):
        return labels, pp, None
    return labels, pp, margin if confidence is None else _Fused(margin, confidence)


def get_label_quality_scores(labels, pred_probs, *, method: str = DEFAULT_METHOD, **kwargs) -> np.ndarray:
    """Alias of :func:`label_quality_scores` under cleanlab's name."""
    return label_quality_scores(labels, pred_probs, method=method, **kwargs)


def order_label_issues(label_issues_mask, labels, pred_probs, *, rank_by: str = DEFAULT_METHOD) -> np.ndarray:
    """Indices of the examples flagged in ``label_issues_mask`` (bool (N,)), ordered by
    ``label_quality_scores(..., method=rank_by)`` ascending (most likely wrong first; ties
    in index order). Returns int64 (num_issues,)."""
    mask = np.asarray(label_issues_mask, dtype=bool)
    scores = label_quality_scores(labels, pred_probs, method=rank_by)
    if mask.shape != scores.shape:
        raise ValueError(f"label_issues_mask must have shape {scores.shape}, got {mask.shape}")
    idx = np.flatnonzero(mask)
    return idx[np.argsort(scores[idx], kind="stable")]


def _suggested(labels: np.ndarray, pp: PredProbs, issues: np.ndarray | None) -> np.ndarray:
    inv_prior = float(pp.n) / np.maximum(np.bincount(labels, minlength=pp.k), 1)
    out = np.empty(pp.n, dtype=np.int64)

    def work(a: int, b: int) -> None:
        adjusted = pp.rows(a, b) * inv_prior
        best = adjusted.argmax(axis=1)
        if issues is not None:
            flagged = np.flatnonzero(issues[a:b])
            other = adjusted[flagged]
            other[np.arange(flagged.size), labels[a:b][flagged]] = -np.inf
            best[flagged] = other.argmax(axis=1)
        out[a:b] = best

    map_chunks(work, pp.n, pp.chunk)
    return out


def suggested_labels(labels, pred_probs, *, issues=None) -> np.ndarray:
    """The most likely label of each example: the argmax of the prior-adjusted pred_probs
    ``p_j / pi_j`` (``pi`` = given-label frequencies; see ``prior_adjusted_margin``). For the
    examples flagged in ``issues`` (bool (N,)), the most likely class other than the given
    label. Returns int64 (N,). Raises ``ValueError`` for invalid inputs."""
    labels, pp = validate_labels_and_pred_probs(labels, pred_probs)
    if issues is not None:
        issues = np.asarray(issues, dtype=bool)
        if issues.shape != (pp.n,):
            raise ValueError(f"issues must have shape ({pp.n},), got {issues.shape}")
    return _suggested(labels, pp, issues)
