"""Seeded label-noise simulation (numpy only).

Every generator takes ``seed`` (an int, ``None`` or a :class:`numpy.random.Generator`,
passed to :func:`numpy.random.default_rng`) and returns what was *realised*, not only what
was asked for:

* :class:`NoisyLabels` ``(labels, noise_matrix)``: the noisy labels, int64 (N,), and the
  empirical ``noise_matrix[i, j]`` = fraction of the examples of true class j that were
  given label i, i.e. the realised P(given = i | true = j); columns sum to 1 (the column of
  a class without examples is the identity column). So ``noisy, nm = symmetric(...)``.
* :class:`MultiAnnotatorLabels` ``(annotations, noise_matrices)`` for several annotators.
* :class:`NoisyMultiLabels` ``(labels, noise_matrices)`` for multi-label data (a 0/1
  annotation per example and class, each flipped independently).

Conventions: ``labels`` are the true labels, int64 (N,) in [0, K); a transition matrix
``T[i, j] = P(given = i | true = j)`` (columns sum to 1), the same orientation as the
``noise_matrix`` of :mod:`labelnoise.count`. Class-conditional noise draws each example's
given label independently from column ``T[:, true]``, so the number of flipped labels is
binomial and the realised rate matches the requested one within binomial tolerance.
Inputs are never modified.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from labelnoise._validation import (
    check_real,
    validate_choice,
    validate_labels,
    validate_labels_and_pred_probs,
    validate_noise_matrix,
    validate_seed,
)

#: CIFAR-10 class pairs (true -> given) of the standard asymmetric noise (Patrini et al.
#: 2017): truck -> automobile, bird -> airplane, deer -> horse, cat <-> dog.
CIFAR10_ASYMMETRIC_PAIRS: dict[int, int] = {9: 1, 2: 0, 4: 7, 3: 5, 5: 3}

_ASYM_DATASETS = ("cifar10", "cifar100", "cifar100-blocks")
#: Rows (or samples) processed at once where a (chunk, K) or (chunk, D) temporary is needed.
_CHUNK = 8192


class NoisyLabels(NamedTuple):
    """Noisy labels, int64 (N,), and the realised noise matrix (K, K), float64, with
    ``noise_matrix[i, j]`` = fraction of true class j given label i."""

    labels: np.ndarray
    noise_matrix: np.ndarray


class MultiAnnotatorLabels(NamedTuple):
    """``annotations`` int64 (N, M), -1 where an annotator gave no label; ``noise_matrices``
    float64 (M, K, K), each annotator's realised P(given | true) over the examples it
    labelled."""

    annotations: np.ndarray
    noise_matrices: np.ndarray


class NoisyMultiLabels(NamedTuple):
    """Noisy multi-label annotations, bool (N, K) (``[n, k]`` True = example n annotated
    with class k), and the realised per-class noise matrices, float64 (K, 2, 2), with
    ``noise_matrices[k, i, j]`` = fraction of the examples whose true annotation of class k
    is j that were given i (0 = absent, 1 = present)."""

    labels: np.ndarray
    noise_matrices: np.ndarray


# --------------------------------------------------------------------------- helpers


def _rng(seed) -> np.random.Generator:
    return np.random.default_rng(validate_seed(seed))


def _check_rate(rate, name: str = "rate") -> float:
    try:
        r = float(rate)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in [0, 1], got {rate!r}") from None
    if not (0.0 <= r <= 1.0):
        raise ValueError(f"{name} must lie in [0, 1], got {rate!r}")
    return r


def _labels_and_k(labels, num_classes: int | None) -> tuple[np.ndarray, int]:
    if num_classes is not None and (int(num_classes) != num_classes or num_classes < 2):
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    lab = validate_labels(labels, num_classes=num_classes)
    k = int(num_classes) if num_classes is not None else max(int(lab.max()) + 1, 2)
    return lab, k


def empirical_noise_matrix(noisy_labels, true_labels, *, num_classes: int | None = None,
                           mask: np.ndarray | None = None) -> np.ndarray:
    """The realised noise matrix of ``(noisy_labels, true_labels)``.

    Args:
        noisy_labels, true_labels: int arrays (N,) in [0, K).
        num_classes: K (default: 1 + the largest label in either array).
        mask: optional bool (N,); only these examples are counted.

    Returns:
        float64 (K, K): ``[i, j]`` = #(noisy = i and true = j) / #(true = j), the empirical
        P(given = i | true = j). A class j with no (counted) example gets the identity
        column ``e_j``, so every column sums to 1.

    Raises:
        ValueError: invalid labels or different lengths.
    """
    true = validate_labels(true_labels, num_classes=num_classes, name="true_labels")
    noisy = validate_labels(noisy_labels, num_classes=num_classes, name="noisy_labels")
    if noisy.shape != true.shape:
        raise ValueError(
            f"noisy_labels has {noisy.shape[0]} entries but true_labels has {true.shape[0]}"
        )
    k = int(num_classes) if num_classes is not None else int(max(noisy.max(), true.max())) + 1
    if mask is not None:
        noisy, true = noisy[mask], true[mask]
    counts = np.bincount(noisy * k + true, minlength=k * k).reshape(k, k).astype(np.float64)
    col = counts.sum(axis=0)
    empty = col == 0
    counts[:, empty] = np.eye(k)[:, empty]
    col[empty] = 1.0
    return counts / col


def _sample_given(labels: np.ndarray, transition: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw each example's given label from ``transition[:, labels[n]]`` (inverse CDF).

    One uniform per example, in example order; examples are grouped by true class so only
    a (K,) CDF is used per class.
    """
    k = transition.shape[0]
    u = rng.random(labels.shape[0])
    cdf = np.cumsum(transition, axis=0)
    # x / x == 1 exactly, so the last class with nonzero probability (and every zero-
    # probability class after it) gets CDF 1.0 and u < 1 never lands on a zero-prob class
    cdf /= cdf[-1:, :]
    noisy = np.empty_like(labels)
    order = np.argsort(labels, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(labels, minlength=k))])
    for j in range(k):
        idx = order[bounds[j]:bounds[j + 1]]
        if idx.size:
            noisy[idx] = np.searchsorted(cdf[:, j], u[idx], side="right")
    return noisy


# ------------------------------------------------------------- transition matrices


def transition_matrix_symmetric(rate: float, num_classes: int, *,
                                include_true: bool = False) -> np.ndarray:
    """The symmetric (uniform) noise transition matrix ``T[i, j] = P(given = i | true = j)``.

    Args:
        rate: in [0, 1]; with ``include_true=False`` the probability that a label is wrong.
        num_classes: K >= 2.
        include_true: the convention (see :func:`symmetric`). ``False``: ``T = (1 - rate) I
            + rate / (K - 1) (1 - I)``. ``True``: ``T = (1 - rate) I + rate / K``, i.e. a
            resampled label may equal the true one and the probability of a wrong label is
            ``rate * (K - 1) / K``.

    Returns:
        float64 (K, K), columns sum to 1.
    """
    r = _check_rate(rate)
    k = int(num_classes)
    if k != num_classes or k < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    if include_true:
        t = np.full((k, k), r / k)
        t[np.diag_indices(k)] = 1.0 - r + r / k
    else:
        t = np.full((k, k), r / (k - 1))
        t[np.diag_indices(k)] = 1.0 - r
    return t


def transition_matrix_pair_flip(rate: float, num_classes: int) -> np.ndarray:
    """Pair-flip transition matrix (Han et al. 2018, "Co-teaching", NeurIPS): class j keeps
    its label with probability ``1 - rate`` and becomes ``(j + 1) mod K`` with probability
    ``rate``. Returns float64 (K, K), ``T[i, j] = P(given = i | true = j)``."""
    r = _check_rate(rate)
    k = int(num_classes)
    if k != num_classes or k < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    t = np.eye(k) * (1.0 - r)
    t[(np.arange(k) + 1) % k, np.arange(k)] += r
    return t


def _asymmetric_targets(dataset: str) -> np.ndarray:
    """target[j] = the class that true class j is flipped to (j itself if never flipped)."""
    validate_choice(dataset, _ASYM_DATASETS, "dataset")
    if dataset == "cifar10":
        target = np.arange(10)
        for src, dst in CIFAR10_ASYMMETRIC_PAIRS.items():
            target[src] = dst
        return target
    if dataset == "cifar100-blocks":
        j = np.arange(100)
        return (j // 5) * 5 + (j % 5 + 1) % 5
    from labelnoise.datasets.cifar import CIFAR100_FINE_TO_COARSE

    coarse = np.asarray(CIFAR100_FINE_TO_COARSE)
    target = np.empty(100, dtype=np.int64)
    for c in range(20):
        members = np.flatnonzero(coarse == c)  # ascending fine labels of superclass c
        target[members] = np.roll(members, -1)
    return target


def transition_matrix_asymmetric(rate: float, *, dataset: str = "cifar10") -> np.ndarray:
    """The standard asymmetric (class-dependent) CIFAR noise as a transition matrix
    ``T[i, j] = P(given = i | true = j)``; see :func:`asymmetric` for the mappings.

    Returns:
        float64 (10, 10) or (100, 100).
    """
    r = _check_rate(rate)
    target = _asymmetric_targets(dataset)
    k = target.shape[0]
    t = np.eye(k)
    flips = np.flatnonzero(target != np.arange(k))
    t[flips, flips] = 1.0 - r
    t[target[flips], flips] += r
    return t


# ----------------------------------------------------------------------- generators


def from_noise_matrix(labels, noise_matrix, *, seed=None) -> NoisyLabels:
    """Class-conditional noise: each example's given label is drawn independently from
    ``noise_matrix[:, true label]``.

    Args:
        labels: true labels, int (N,) in [0, K).
        noise_matrix: (K, K), ``noise_matrix[i, j] = P(given = i | true = j)``, columns sum
            to 1.
        seed: int, None or numpy Generator.

    Returns:
        :class:`NoisyLabels` (noisy int64 (N,), realised (K, K)).

    Raises:
        ValueError: invalid labels (outside [0, K)) or an invalid noise matrix.
    """
    t = validate_noise_matrix(noise_matrix)
    k = t.shape[0]
    lab = validate_labels(labels, num_classes=k)
    noisy = _sample_given(lab, t, _rng(seed))
    return NoisyLabels(noisy, empirical_noise_matrix(noisy, lab, num_classes=k))


def symmetric(labels, rate: float, *, num_classes: int | None = None,
              include_true: bool = False, seed=None) -> NoisyLabels:
    """Symmetric (uniform) label noise.

    The literature uses two conventions, and their rates are not comparable:

    * ``include_true=False`` (flip to a uniformly chosen *other* class; e.g. Patrini et al.
      2017, Han et al. 2018 "Co-teaching"): each label is wrong with probability ``rate``,
      so the realised noise rate is ``rate``.
    * ``include_true=True`` (resample uniformly over *all* K classes; DivideMix, Li et al.
      2020, ICLR, and the ELR code): a resampled label equals the true one with probability
      1/K, so the realised noise rate is ``rate * (K - 1) / K`` (e.g. 0.45 for
      ``rate=0.5``, K = 10).

    Args:
        labels: true labels, int (N,) in [0, K).
        rate: in [0, 1].
        num_classes: K (default ``max(labels) + 1``).
        include_true: the convention, see above.
        seed: int, None or numpy Generator.

    Returns:
        :class:`NoisyLabels`: noisy int64 (N,), realised noise matrix (K, K).

    Raises:
        ValueError: ``rate`` outside [0, 1]; invalid labels.
    """
    lab, k = _labels_and_k(labels, num_classes)
    t = transition_matrix_symmetric(rate, k, include_true=include_true)
    noisy = _sample_given(lab, t, _rng(seed))
    return NoisyLabels(noisy, empirical_noise_matrix(noisy, lab, num_classes=k))


def asymmetric(labels, rate: float, *, dataset: str = "cifar10", seed=None) -> NoisyLabels:
    """The standard asymmetric (class-dependent) noise of the CIFAR benchmarks.

    Each example of a class that has a target is given that target with probability
    ``rate`` (independently), following Patrini et al. 2017, "Making Deep Neural Networks
    Robust to Label Noise: a Loss Correction Approach", CVPR (also DivideMix and ELR):

    * ``"cifar10"``: truck -> automobile, bird -> airplane, deer -> horse, cat <-> dog
      (5 of the 10 classes flip, so the overall noise rate is about ``rate / 2``);
    * ``"cifar100"``: each fine class -> the next fine class (by index) of the same
      superclass, cyclically (the 5 fine classes of a superclass form a cycle);
    * ``"cifar100-blocks"``: class j -> the next class within its block of 5 consecutive
      indices, cyclically. This is what the widely copied ``noisify_cifar100_asymmetric``
      code does; because fine labels are alphabetical, those blocks are NOT superclasses.
      Use it only to reproduce numbers from code that did so.

    Args:
        labels: true labels, int (N,) in [0, 10) or [0, 100).
        rate: flip probability of the affected classes, in [0, 1].
        dataset: ``"cifar10"``, ``"cifar100"`` or ``"cifar100-blocks"``.
        seed: int, None or numpy Generator.

    Returns:
        :class:`NoisyLabels`: noisy int64 (N,), realised noise matrix (K, K).

    Raises:
        ValueError: unknown ``dataset``, ``rate`` outside [0, 1], labels outside [0, K).
    """
    t = transition_matrix_asymmetric(rate, dataset=dataset)
    k = t.shape[0]
    lab = validate_labels(labels, num_classes=k)
    noisy = _sample_given(lab, t, _rng(seed))
    return NoisyLabels(noisy, empirical_noise_matrix(noisy, lab, num_classes=k))


def pair_flip(labels, rate: float, *, num_classes: int | None = None, seed=None) -> NoisyLabels:
    """Pair-flip noise (Han et al. 2018, "Co-teaching", NeurIPS): each example of class j is
    given class ``(j + 1) mod K`` with probability ``rate``, independently.

    Args:
        labels: true labels, int (N,) in [0, K).
        rate: in [0, 1] (the realised noise rate is ``rate``; below 0.5 the true class
            stays the most frequent given label of each class).
        num_classes: K (default ``max(labels) + 1``).
        seed: int, None or numpy Generator.

    Returns:
        :class:`NoisyLabels`.

    Raises:
        ValueError: ``rate`` outside [0, 1]; invalid labels.
    """
    lab, k = _labels_and_k(labels, num_classes)
    t = transition_matrix_pair_flip(rate, k)
    noisy = _sample_given(lab, t, _rng(seed))
    return NoisyLabels(noisy, empirical_noise_matrix(noisy, lab, num_classes=k))


def _truncated_normal(rng: np.random.Generator, mean: float, std: float, size: int) -> np.ndarray:
    """Samples of N(mean, std^2) truncated to [0, 1], by rejection (exact)."""
    if std == 0:
        return np.full(size, mean)
    out = np.empty(size)
    filled = 0
    while filled < size:
        need = size - filled
        draw = rng.normal(mean, std, size=max(2 * need, 64))
        draw = draw[(draw >= 0.0) & (draw <= 1.0)][:need]
        out[filled:filled + draw.size] = draw
        filled += draw.size
    return out


def _feature_moments(x2d_rows, n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and std over all rows, computed chunk by chunk in float64."""
    s = np.zeros(d)
    ss = np.zeros(d)
    for a in range(0, n, _CHUNK):
        block = x2d_rows(np.arange(a, min(n, a + _CHUNK)))
        s += block.sum(axis=0)
        ss += np.square(block).sum(axis=0)
    mean = s / n
    std = np.sqrt(np.maximum(ss / n - mean**2, 0.0))
    std[std == 0] = 1.0
    return mean, std


def instance_dependent(X, labels, rate: float, *, num_classes: int | None = None, seed=None,
                       norm_std: float = 0.1, standardize: bool = True) -> NoisyLabels:
    """Instance-dependent noise of Xia et al. 2020, "Part-dependent Label Noise: Towards
    Instance-dependent Label Noise", NeurIPS (their ``get_instance_noisy_label``; used by
    CORES, CAL and most instance-dependent-noise benchmarks).

    Recipe, for each example n with features x_n (flattened) and true label y_n:

    1. a flip rate ``q_n`` ~ Normal(``rate``, ``norm_std``^2) truncated to [0, 1];
    2. for each class y, random projection weights ``W_y`` (D, K) with i.i.d. N(0, 1)
       entries (drawn once per class);
    3. scores ``s = x_n W_{y_n}``, ``s[y_n] = -inf``; the example's transition column is
       ``q_n softmax(s)`` plus ``1 - q_n`` on ``y_n``;
    4. the given label is drawn from that column.

    So the expected noise rate is the mean of the truncated normal (``rate`` away from 0
    and 1), and where a wrong label goes depends on the input.

    Args:
        X: numeric array (N, ...) (e.g. CIFAR uint8 (N, 32, 32, 3) or features (N, D)); each
            row is flattened to D features and read chunk by chunk as float64 (no float
            copy of the whole of X is made).
        labels: true labels, int (N,) in [0, K).
        rate: the mean flip rate, in [0, 1].
        num_classes: K (default ``max(labels) + 1``).
        seed: int, None or numpy Generator.
        norm_std: standard deviation of the per-example flip rates (0.1 in the paper).
        standardize: scale each feature to zero mean and unit variance over the dataset
            first. The official code projects normalised image tensors (per-channel mean/std
            normalisation); this is the feature-wise equivalent and keeps the recipe
            independent of the input's units (raw 0..255 pixels would make every softmax
            one-hot). ``False`` uses X as given.

    Returns:
        :class:`NoisyLabels`.

    Raises:
        ValueError: X and labels differ in length, non-numeric X, NaN or inf in X,
            ``rate`` outside [0, 1], ``norm_std`` negative or not finite, invalid labels, a
            bad ``seed``.
    """
    lab, k = _labels_and_k(labels, num_classes)
    r = _check_rate(rate)
    norm_std = check_real(norm_std, "norm_std", low=0)
    x = np.asarray(X)
    n = lab.shape[0]
    if x.ndim < 1 or x.shape[0] != n:
        raise ValueError(f"X has {x.shape[0] if x.ndim else 0} rows but labels has {n} entries")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_) or x.dtype.kind == "c":
        raise ValueError(f"X must be real numbers, got dtype {x.dtype}")
    d = int(np.prod(x.shape[1:], dtype=np.int64)) if x.ndim > 1 else 1

    check_finite = not np.issubdtype(x.dtype, np.integer) and x.dtype != np.bool_

    def rows(idx: np.ndarray) -> np.ndarray:
        block = x[idx].reshape(idx.size, d).astype(np.float64)
        if check_finite:
            bad = ~np.isfinite(block).all(axis=1)
            if bad.any():
                raise ValueError(f"X has a NaN or infinite value in row {int(idx[np.argmax(bad)])}")
        return block

    if standardize:
        mean, std = _feature_moments(rows, n, d)
    rng = _rng(seed)
    flip_rate = _truncated_normal(rng, r, float(norm_std), n)
    noisy = np.empty(n, dtype=np.int64)
    for y in range(k):
        w = rng.standard_normal((d, k))
        members = np.flatnonzero(lab == y)
        for a in range(0, members.size, _CHUNK):
            idx = members[a:a + _CHUNK]
            block = rows(idx)
            if standardize:
                block -= mean
                block /= std
            s = block @ w
            s[:, y] = -np.inf
            s -= s.max(axis=1, keepdims=True)
            np.exp(s, out=s)
            s /= s.sum(axis=1, keepdims=True)
            q = flip_rate[idx][:, None]
            p = q * s
            p[:, y] += 1.0 - q[:, 0]
            cdf = np.cumsum(p, axis=1)
            cdf /= cdf[:, -1:]
            u = rng.random(idx.size)[:, None]
            noisy[idx] = (cdf <= u).sum(axis=1)
    return NoisyLabels(noisy, empirical_noise_matrix(noisy, lab, num_classes=k))


def _uniform_member(mask: np.ndarray, u: np.ndarray) -> np.ndarray:
    """One column per row of a bool (M, K) ``mask``, uniformly among its True entries, from
    uniform draws ``u`` in [0, 1) (M,): the ``floor(u * count)``-th True column of each row.
    Rows must hold at least one True. Returns int64 (M,)."""
    count = mask.sum(axis=1)
    return np.argmax(np.cumsum(mask, axis=1) > (u * count)[:, None], axis=1)


def partial_labels(labels, *, q: float, num_classes: int | None = None,
                   noise_rate: float = 0.0, seed=None) -> np.ndarray:
    """Uniform partial-label candidate sets: the true label, plus each other class
    independently with probability ``q`` (the "uniform" generation of Feng et al. 2020,
    "Provably Consistent Partial-Label Learning", NeurIPS, and PRODEN / PiCO); with
    ``noise_rate`` > 0, noisy partial labels: each example independently with probability
    ``noise_rate`` has its true label removed from its set and one class from outside the
    set, chosen uniformly, added in its place (sets already holding all K classes stay
    as they are), the generation of Xu et al. 2023, "ALIM: Adjusting Label Importance
    Mechanism for Noisy Partial Label Learning", NeurIPS.

    Args:
        labels: true labels, int (N,) in [0, K).
        q: in [0, 1]; the expected candidate set size is ``1 + q (K - 1)``.
        num_classes: K (default ``max(labels) + 1``).
        noise_rate: in [0, 1]; the probability that an example's set misses its true label
            (a little less in effect when ``q`` is near 1: full sets cannot be corrupted).
        seed: int, None or numpy Generator.

    Returns:
        bool (N, K): ``candidates[n, c]`` is True when class c is a candidate of example n;
        with ``noise_rate`` = 0, ``candidates[n, labels[n]]`` is always True. The set sizes
        do not change with ``noise_rate``.

    Raises:
        ValueError: ``q`` or ``noise_rate`` outside [0, 1]; invalid labels.
    """
    lab, k = _labels_and_k(labels, num_classes)
    qq = _check_rate(q, "q")
    eta = _check_rate(noise_rate, "noise_rate")
    rng = _rng(seed)
    n = lab.shape[0]
    out = np.empty((n, k), dtype=bool)
    step = max(1, _CHUNK * 16 // k)
    for a in range(0, n, step):
        b = min(n, a + step)
        out[a:b] = rng.random((b - a, k)) < qq
    out[np.arange(n), lab] = True
    if eta > 0.0:
        flip = np.flatnonzero(rng.random(n) < eta)
        outside = ~out[flip]
        num_outside = outside.sum(axis=1)
        draw = rng.random(flip.size)
        flip, outside, num_outside, draw = (v[num_outside > 0] for v in
                                            (flip, outside, num_outside, draw))
        pick = _uniform_member(outside, draw)
        out[flip, lab[flip]] = False
        out[flip, pick] = True
    return out


def partial_labels_from_pred_probs(labels, pred_probs, *, rate: float = 0.4,
                                   seed=None) -> np.ndarray:
    """Instance-dependent partial-label candidate sets from a model's ``pred_probs``
    (Xu et al. 2021, "Instance-Dependent Partial Label Learning" (VALEN), NeurIPS): classes
    the model confuses with the true one are more likely candidates.

    For each example, with ``p`` its predicted probabilities: ``p[true] = 0``; ``p /= max(p)``
    (the most confusing wrong class gets 1); ``p = p / mean(p) * rate`` (mean over all K
    entries); clip to [0, 1]; each wrong class c becomes a candidate with probability
    ``p[c]``. The true label is always a candidate.

    Args:
        labels: true labels, int (N,) in [0, K).
        pred_probs: float (N, K), rows sum to 1 (e.g. out-of-sample predictions of a model
            trained on clean labels).
        rate: scale of the flipping probabilities (0.4 in VALEN's code); the mean
            per-class probability is ``rate`` before clipping.
        seed: int, None or numpy Generator.

    Returns:
        bool (N, K) candidate sets that always contain the true label.

    Raises:
        ValueError: invalid labels / pred_probs (see :mod:`labelnoise._validation`) or
            ``rate`` negative or not finite.
    """
    lab, pp = validate_labels_and_pred_probs(labels, pred_probs, require_all_classes=False)
    rate = check_real(rate, "rate", low=0)
    rng = _rng(seed)
    n, k = pp.shape
    out = np.empty((n, k), dtype=bool)
    for a, b in pp.chunks():
        p = np.array(pp.rows(a, b), dtype=np.float64)
        rows = np.arange(b - a)
        p[rows, lab[a:b]] = 0.0
        top = p.max(axis=1, keepdims=True)
        p = np.divide(p, top, out=np.zeros_like(p), where=top > 0)
        mean = p.mean(axis=1, keepdims=True)
        p = np.divide(p, mean, out=np.zeros_like(p), where=mean > 0) * float(rate)
        np.clip(p, 0.0, 1.0, out=p)
        out[a:b] = rng.random((b - a, k)) < p
        out[a + rows, lab[a:b]] = True
    return out


def complementary_labels(labels, num_classes: int | None = None, *, num_per_example: int = 1,
                         seed=None) -> np.ndarray:
    """Complementary labels: for each example, ``num_per_example`` classes it does NOT
    belong to, drawn uniformly without replacement among the K - 1 other classes (the
    uniform generation of Ishida et al. 2017, "Learning from Complementary Labels", NeurIPS,
    and Ishida et al. 2019, "Complementary-Label Learning for Arbitrary Losses and Models",
    ICML; with several per example, the uniform multiple-complementary-label setting of Feng
    et al. 2020, "Learning with Multiple Complementary Labels", ICML, at a fixed set size).

    Args:
        labels: true labels, int (N,) in [0, K).
        num_classes: K (default ``max(labels) + 1``, at least 2).
        num_per_example: m, the number of complementary labels per example, in [1, K - 1];
            m = K - 1 excludes every wrong class (the ordinary label).
        seed: int, None or numpy Generator.

    Returns:
        bool (N, K) mask: ``mask[n, c]`` is True when class c is a complementary label of
        example n (a class n does not belong to); every row holds exactly m True entries and
        ``mask[n, labels[n]]`` is always False. The candidate sets of the training methods
        (the classes an example may belong to) are ``~mask``, the input of
        :func:`labelnoise.training.complementary.fit`. An int (N,) array ``comp`` of single
        complementary labels (e.g. a CLImage dataset) is ``np.eye(K, dtype=bool)[comp]`` in
        this form.

    Raises:
        ValueError: invalid labels or num_classes; ``num_per_example`` not an integer in
            [1, K - 1].
    """
    lab, k = _labels_and_k(labels, num_classes)
    if isinstance(num_per_example, bool) or int(num_per_example) != num_per_example or not (
            1 <= num_per_example <= k - 1):
        raise ValueError(f"num_per_example must be an integer in [1, {k - 1}] (K - 1), "
                         f"got {num_per_example!r}")
    m = int(num_per_example)
    rng = _rng(seed)
    n = lab.shape[0]
    out = np.zeros((n, k), dtype=bool)
    step = max(1, _CHUNK * 16 // k)
    for a in range(0, n, step):
        b = min(n, a + step)
        rows = np.arange(b - a)
        # i.i.d. uniform keys; the true class gets a key above every other, so the m smallest
        # keys are a uniformly random m-subset of the K - 1 wrong classes
        keys = rng.random((b - a, k))
        keys[rows, lab[a:b]] = 2.0
        pick = np.argpartition(keys, m - 1, axis=1)[:, :m]
        out[a + rows[:, None], pick] = True
    return out


def multi_annotator(labels, noise_matrices, *, seed=None, labels_per_example: int | None = None,
                    num_annotators: int | None = None) -> MultiAnnotatorLabels:
    """Simulate M annotators, each with its own class-conditional confusion (the model of
    Dawid & Skene 1979, "Maximum Likelihood Estimation of Observer Error-Rates Using the EM
    Algorithm").

    Annotator m gives example n a label drawn from ``noise_matrices[m][:, labels[n]]``.

    Args:
        labels: true labels, int (N,) in [0, K).
        noise_matrices: (M, K, K), one ``P(given | true)`` per annotator (columns sum to 1),
            or one (K, K) matrix shared by ``num_annotators`` annotators.
        seed: int, None or numpy Generator.
        labels_per_example: r in [1, M]: each example is labelled by r annotators chosen
            uniformly at random (the others are -1); ``None``: every annotator labels every
            example.
        num_annotators: M, required when ``noise_matrices`` is a single (K, K) matrix.

    Returns:
        :class:`MultiAnnotatorLabels`: ``annotations`` int64 (N, M) with -1 for missing,
        ``noise_matrices`` float64 (M, K, K) realised over the examples each annotator
        labelled (identity column for a class it never saw).

    Raises:
        ValueError: invalid matrices (each checked by ``validate_noise_matrix``), a shared
            matrix without ``num_annotators``, ``labels_per_example`` outside [1, M],
            invalid labels.
    """
    arr = np.asarray(noise_matrices)
    if arr.ndim == 2:
        if num_annotators is None:
            raise ValueError(
                "noise_matrices is a single (K, K) matrix: give num_annotators (M) too, or "
                "pass an (M, K, K) array"
            )
        if int(num_annotators) != num_annotators or num_annotators < 1:
            raise ValueError(f"num_annotators must be an integer >= 1, got {num_annotators!r}")
        mats = [validate_noise_matrix(arr, name="noise_matrices")] * int(num_annotators)
    elif arr.ndim == 3:
        if num_annotators is not None and num_annotators != arr.shape[0]:
            raise ValueError(
                f"num_annotators={num_annotators} but noise_matrices holds {arr.shape[0]}"
            )
        if arr.shape[0] == 0:
            raise ValueError("noise_matrices holds no annotator")
        mats = [validate_noise_matrix(a, name=f"noise_matrices[{m}]") for m, a in enumerate(arr)]
    else:
        raise ValueError(f"noise_matrices must be (K, K) or (M, K, K), got shape {arr.shape}")
    k = mats[0].shape[0]
    if any(m.shape[0] != k for m in mats):
        raise ValueError("all noise_matrices must have the same K")
    lab = validate_labels(labels, num_classes=k)
    n, num = lab.shape[0], len(mats)
    rng = _rng(seed)
    if labels_per_example is None:
        assigned = np.ones((n, num), dtype=bool)
    else:
        r = labels_per_example
        if int(r) != r or not 1 <= r <= num:
            raise ValueError(f"labels_per_example must be an integer in [1, {num}], got {r!r}")
        chosen = np.argsort(rng.random((n, num)), axis=1)[:, : int(r)]
        assigned = np.zeros((n, num), dtype=bool)
        assigned[np.arange(n)[:, None], chosen] = True
    annotations = np.full((n, num), -1, dtype=np.int64)
    realised = np.empty((num, k, k))
    for m, t in enumerate(mats):
        idx = np.flatnonzero(assigned[:, m])
        given = _sample_given(lab[idx], t, rng) if idx.size else idx
        annotations[idx, m] = given
        if idx.size:
            realised[m] = empirical_noise_matrix(given, lab[idx], num_classes=k)
        else:
            realised[m] = np.eye(k)
    return MultiAnnotatorLabels(annotations, realised)


def _per_class_rates(rate, k: int, name: str) -> np.ndarray:
    """float64 (K,) flip rates from a number or a (K,) array, each in [0, 1]."""
    if isinstance(rate, (bool, np.bool_)):
        raise ValueError(f"{name} must be a number in [0, 1] or K = {k} of them, got {rate!r}")
    if np.ndim(rate) == 0:
        return np.full(k, _check_rate(rate, name))
    arr = np.asarray(rate)
    if arr.ndim != 1 or arr.shape[0] != k:
        raise ValueError(f"{name} must be a number or one rate per class (K = {k}), got shape "
                         f"{arr.shape}")
    if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.integer)
                                     or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"{name} must hold numbers in [0, 1], got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    bad = np.flatnonzero(~((arr >= 0.0) & (arr <= 1.0)))  # NaN fails both
    if bad.size:
        raise ValueError(f"{name}[{bad[0]}] must lie in [0, 1], got {arr[bad[0]]!r}")
    return arr


def multilabel_flips(labels, flip_0to1, flip_1to0=None, *, num_classes: int | None = None,
                     seed=None) -> NoisyMultiLabels:
    """Class-conditional noise for multi-label data: every (example, class) annotation is
    flipped independently, an absent class added with probability ``flip_0to1[k]`` and a
    present one removed with probability ``flip_1to0[k]``.

    This is the per-class binary noise of the one-vs-rest view of multi-label data (each
    class a binary problem with its own 2 x 2 noise matrix ``[[1 - r01, r10], [r01, 1 -
    r10]]`` in ``P(given | true)`` orientation), as used to inject errors in the
    multi-label benchmarks of Thyagarajan et al. 2023, "Identifying Incorrect Annotations
    in Multi-Label Classification Data". Annotators more often miss a class than add a
    wrong one, so ``flip_1to0 > flip_0to1`` is the realistic case.

    Args:
        labels: the true annotations: N label lists (``[[0, 2], [], [1]]``) or an (N, K)
            0/1 matrix (see :func:`labelnoise.multilabel.validate_multilabel_labels`).
        flip_0to1: P(class added | absent): a number in [0, 1] for every class, or (K,)
            one per class.
        flip_1to0: P(class removed | present), likewise; ``None`` (default): equal to
            ``flip_0to1`` (symmetric noise).
        num_classes: K (label lists only; default 1 + the largest index; a matrix gives
            its own K).
        seed: int, None or numpy Generator.

    Returns:
        :class:`NoisyMultiLabels`: noisy bool (N, K) annotations and the realised
        per-class noise matrices (K, 2, 2) (a column with no example is the identity
        column). The number of flips of class k is binomial.

    Raises:
        ValueError: invalid labels (see the validator), a rate outside [0, 1] or not
            one per class, a bad ``num_classes`` or ``seed``.
    """
    from labelnoise.multilabel import validate_multilabel_labels

    true = validate_multilabel_labels(labels, num_classes=num_classes)
    n, k = true.shape
    r01 = _per_class_rates(flip_0to1, k, "flip_0to1")
    r10 = r01 if flip_1to0 is None else _per_class_rates(flip_1to0, k, "flip_1to0")
    rng = _rng(seed)
    noisy = np.empty_like(true)
    step = max(1, _CHUNK * 16 // k)
    for a in range(0, n, step):
        b = min(n, a + step)
        block = true[a:b]
        # one uniform per (example, class), row-major, whatever the chunking
        noisy[a:b] = block ^ (rng.random((b - a, k)) < np.where(block, r10, r01))
    counts = np.empty((k, 2, 2))
    for i in (0, 1):
        for j in (0, 1):
            counts[:, i, j] = ((noisy == bool(i)) & (true == bool(j))).sum(axis=0)
    col = counts.sum(axis=1, keepdims=True)  # (K, 1, 2): examples per true value
    realised = np.where(col > 0, counts / np.where(col > 0, col, 1.0), np.eye(2))
    return NoisyMultiLabels(noisy, realised)


__all__ = [
    "CIFAR10_ASYMMETRIC_PAIRS",
    "MultiAnnotatorLabels",
    "NoisyLabels",
    "NoisyMultiLabels",
    "asymmetric",
    "complementary_labels",
    "empirical_noise_matrix",
    "from_noise_matrix",
    "instance_dependent",
    "multi_annotator",
    "multilabel_flips",
    "pair_flip",
    "partial_labels",
    "partial_labels_from_pred_probs",
    "symmetric",
    "transition_matrix_asymmetric",
    "transition_matrix_pair_flip",
    "transition_matrix_symmetric",
]


from labelnoise.partial import candidates_from_annotations  # noqa: E402,F401  (re-export)
