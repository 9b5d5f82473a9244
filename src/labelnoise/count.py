"""Latent noise estimation by confident learning: confident joint, noise matrix, prior.

Source: Northcutt, Jiang and Chuang 2021, "Confident Learning: Estimating Uncertainty in
Dataset Labels", JAIR 70. Notation: ``labels`` are the given (possibly wrong) labels
``y~``, the true label is ``y*``; ``noise_matrix[i, j] = P(y~ = i | y* = j)`` (columns sum
to 1); ``inverse_noise_matrix[j, i] = P(y* = j | y~ = i)`` (columns sum to 1, i.e. the
transposed layout of the paper's ``Q_{y*|y~}``, matching cleanlab); ``confident_joint[i, j]``
counts examples with given label ``i`` confidently counted as true class ``j``.

All functions work on ``pred_probs`` in row chunks (see :mod:`labelnoise._validation`), so
(N, K) arrays far larger than memory allows for temporaries, or memory-mapped, work.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labelnoise._validation import (
    PredProbs,
    map_chunks,
    validate_labels_and_pred_probs,
)
from labelnoise.dask_arrays import _is_dask

#: Threshold slack of the confident-joint comparison ``p >= t - 1e-6`` (paper's Eq. 1 with
#: a floating point allowance; matches cleanlab).
THRESHOLD_SLACK = 1e-6
#: Lower bound on per-class thresholds, so that a threshold is never below the slack.
THRESHOLD_LOWER_BOUND = 2e-6
_TINY = 1e-100


@dataclass(frozen=True)
class NoiseEstimate:
    """Result of :func:`estimate_noise`.

    Attributes:
        confident_joint: int64 (K, K) counts, rows = given label, columns = true label
            (calibrated when ``calibrate=True``: rows sum to the given-label counts).
        joint: float64 (K, K), the estimated joint ``P(given = i, true = j)``; sums to 1.
        noise_matrix: float64 (K, K), ``P(given = i | true = j)``; columns sum to 1.
        inverse_noise_matrix: float64 (K, K), ``[j, i] = P(true = j | given = i)``;
            columns sum to 1.
        prior: float64 (K,), ``P(true = j)``; sums to 1.
        noise_rate: float, estimated fraction of examples whose given label is wrong,
            ``1 - trace(joint)``.
        num_label_issues: int, ``round(noise_rate * N)``.
        thresholds: float64 (K,), the per-class thresholds (mean self-confidence).
        num_examples: int, N.
    """

    confident_joint: np.ndarray
    joint: np.ndarray
    noise_matrix: np.ndarray
    inverse_noise_matrix: np.ndarray
    prior: np.ndarray
    noise_rate: float
    num_label_issues: int
    thresholds: np.ndarray
    num_examples: int

    def to_dict(self) -> dict:
        """A JSON-serialisable dict of every field (arrays as nested lists)."""
        out = {}
        for key, value in self.__dict__.items():
            out[key] = value.tolist() if isinstance(value, np.ndarray) else value
        return out


# ---------------------------------------------------------------------------------------
# building blocks over already validated inputs (labels int64, PredProbs)


def _self_confidence(labels: np.ndarray, pp: PredProbs) -> np.ndarray:
    """float64 (N,): ``pred_probs[n, labels[n]]``."""
    out = np.empty(pp.n, dtype=np.float64)

    def work(a: int, b: int) -> None:
        out[a:b] = pp.rows(a, b)[np.arange(b - a), labels[a:b]]

    map_chunks(work, pp.n, pp.chunk)
    return out


def _thresholds(labels: np.ndarray, self_conf: np.ndarray, k: int) -> np.ndarray:
    """Per-class thresholds ``t_j`` = mean self-confidence of the examples labelled j
    (paper, Eq. 2); classes with no example get 2 (never confident); clipped below."""
    counts = np.bincount(labels, minlength=k)
    sums = np.bincount(labels, weights=self_conf, minlength=k)
    t = np.where(counts > 0, sums / np.maximum(counts, 1), 2.0)
    return np.clip(t, THRESHOLD_LOWER_BOUND, None)


def _confident_guess(pp: PredProbs, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each example, whether any class is confident (``p_j >= t_j - 1e-6``) and the
    guessed true class: the only confident class, or the argmax of pred_probs when several
    classes are confident (cleanlab's convention). Returns (guess int64 (N,), confident bool (N,))."""
    guess = np.empty(pp.n, dtype=np.int64)
    confident = np.empty(pp.n, dtype=bool)
    cut = thresholds - THRESHOLD_SLACK

    def work(a: int, b: int) -> None:
        block = pp.rows(a, b)
        mask = block >= cut
        num = mask.sum(axis=1)
        confident[a:b] = num > 0
        guess[a:b] = np.where(num > 1, block.argmax(axis=1), mask.argmax(axis=1))

    map_chunks(work, pp.n, pp.chunk)
    return guess, confident


def round_preserving_row_totals(matrix: np.ndarray) -> np.ndarray:
    """Round each row of a float matrix to integers whose sum equals the rounded row sum.

    Largest-remainder rounding: round half to even first, then move the difference onto
    the entries whose rounding error points the right way (largest ``x - round(x)`` first
    when the sum is short, smallest first when it is over). Returns int64, same shape.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    out = np.empty(matrix.shape, dtype=np.int64)
    for r, row in enumerate(matrix):
        ints = np.round(row)
        target = np.round(row.sum())
        diff = int(np.round(target - ints.sum()))
        while diff != 0:
            step = 1 if diff > 0 else -1
            order = np.argsort(row - ints)
            order = order[::-1] if step > 0 else order
            for i in order[: min(abs(diff), row.size)]:
                ints[i] += step
            diff = int(np.round(target - ints.sum()))
        out[r] = ints.astype(np.int64)
    return out


def calibrate_confident_joint(confident_joint: np.ndarray, label_counts: np.ndarray) -> np.ndarray:
    """Calibrate a confident joint so each row sums to the number of examples with that
    given label and the total is N (paper, Eq. 3), then round preserving row totals.

    Args:
        confident_joint: (K, K) counts, rows = given label.
        label_counts: int (K,), number of examples per given label.
    Returns:
        int64 (K, K).
    """
    cj = np.asarray(confident_joint, dtype=np.float64)
    label_counts = np.asarray(label_counts, dtype=np.float64)
    cal = (cj.T / np.clip(cj.sum(axis=1), _TINY, None) * label_counts).T
    cal = cal / np.clip(cal.sum(), _TINY, None) * label_counts.sum()
    return round_preserving_row_totals(cal)


def _confident_joint(labels: np.ndarray, pp: PredProbs, thresholds: np.ndarray | None,
                     calibrate: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(confident_joint, thresholds, off-diagonal indices) over validated inputs."""
    k = pp.k
    if thresholds is None:
        thresholds = _thresholds(labels, _self_confidence(labels, pp), k)
    guess, confident = _confident_guess(pp, thresholds)
    g, t = labels[confident], guess[confident]
    cj = np.bincount(g * k + t, minlength=k * k).reshape(k, k).astype(np.int64)
    # at least one correctly labelled example per class keeps the estimates finite
    np.fill_diagonal(cj, np.maximum(cj.diagonal(), 1))
    if calibrate:
        cj = calibrate_confident_joint(cj, np.bincount(labels, minlength=k))
    off_diagonal = np.flatnonzero(confident)[g != t]
    return cj, thresholds, off_diagonal


def compute_confident_joint(labels, pred_probs, *, thresholds=None, calibrate: bool = True,
                            return_indices_of_off_diagonals: bool = False):
    """The confident joint ``C[i, j]``: examples with given label i confidently in class j.

    An example counts in ``C[labels[n], j]`` when ``pred_probs[n, j] >= t_j - 1e-6`` for
    exactly one class j, or, when several classes pass their threshold, for j =
    ``argmax(pred_probs[n])``; examples with no confident class are not counted
    (Northcutt et al. 2021, Eq. 1; per-class thresholds ``t_j`` are the mean
    self-confidence of the examples labelled j, Eq. 2). The diagonal is raised to at least
    1, and with ``calibrate=True`` rows are rescaled to the given-label counts (Eq. 3).

    Args:
        labels: int array-like (N,), given labels in [0, K).
        pred_probs: float (N, K) out-of-sample predicted probabilities, or a list of such
            arrays (an ensemble, combined by the mean of the rows).
        thresholds: optional float (K,) per-class thresholds to use instead.
        calibrate: calibrate the counts (Eq. 3).
        return_indices_of_off_diagonals: also return the int64 indices of the examples
            counted off the diagonal (given label != confident class).

    Returns:
        int64 (K, K), rows = given label, columns = true label; and the indices when asked.

    Raises:
        ValueError: invalid labels or pred_probs (see :mod:`labelnoise._validation`), or a
            class with no example.
    """
    labels, pp = validate_labels_and_pred_probs(labels, pred_probs)
    if thresholds is not None:
        thresholds = np.asarray(thresholds, dtype=np.float64)
        if thresholds.shape != (pp.k,):
            raise ValueError(f"thresholds must have shape ({pp.k},), got {thresholds.shape}")
    cj, _, off = _confident_joint(labels, pp, thresholds, calibrate)
    return (cj, off) if return_indices_of_off_diagonals else cj


def _clip_noise_rates(matrix: np.ndarray) -> np.ndarray:
    """Clip off-diagonal rates to [0, 0.9999] and renormalise columns to sum to 1."""
    diag = matrix.diagonal().copy()
    out = np.clip(matrix, 0.0, 0.9999)
    np.fill_diagonal(out, diag)
    return out / np.clip(out.sum(axis=0), _TINY, None)


def _noise_from_joint(cj: np.ndarray, labels: np.ndarray, n: int, thresholds: np.ndarray) -> NoiseEstimate:
    k = cj.shape[0]
    label_prior = np.bincount(labels, minlength=k) / float(len(labels))
    given_counts = cj.sum(axis=1).astype(np.float64)
    true_counts = cj.sum(axis=0).astype(np.float64)
    noise_matrix = cj / np.clip(true_counts, _TINY, None)
    inverse = cj.T / np.clip(given_counts, _TINY, None)
    # prior by the 'cnt' estimator of the paper: P(y*=j) = Q[j|j] / T[j|j] * P(y~=j)
    prior = inverse.diagonal() / np.clip(noise_matrix.diagonal(), _TINY, None) * label_prior
    prior = np.clip(prior, 1e-6, 1.0)
    prior = prior / prior.sum()
    joint = cj / np.clip(float(cj.sum()), _TINY, None)
    noise_rate = float(1.0 - np.trace(joint))
    return NoiseEstimate(
        confident_joint=cj,
        joint=joint,
        noise_matrix=_clip_noise_rates(noise_matrix),
        inverse_noise_matrix=_clip_noise_rates(inverse),
        prior=prior,
        noise_rate=noise_rate,
        num_label_issues=int(np.rint(noise_rate * n)),
        thresholds=thresholds,
        num_examples=n,
    )


def estimate_noise(labels, pred_probs, *, calibrate: bool = True) -> NoiseEstimate:
    """Estimate the label noise of a dataset by confident learning.

    Computes the confident joint (:func:`compute_confident_joint`), calibrates it (Eq. 3)
    and derives the joint ``P(given, true)`` (Eq. 4), the noise matrix
    ``P(given = i | true = j)``, the inverse noise matrix ``P(true = j | given = i)``, the
    true-class prior (the paper's 'cnt' estimator) and the noise rate
    ``1 - trace(joint)``. Source: Northcutt, Jiang and Chuang 2021, "Confident Learning:
    Estimating Uncertainty in Dataset Labels", JAIR, Sections 2-3.

    Args:
        labels: int array-like (N,), given labels in [0, K).
        pred_probs: float (N, K) out-of-sample predicted probabilities (rows sum to 1), a
            memory map, or a list of such arrays from several models (combined by the mean
            of their rows).
        calibrate: calibrate the confident joint before normalising it (recommended).

    Returns:
        :class:`NoiseEstimate`.

    Raises:
        ValueError: invalid labels or pred_probs, or a class with no example.

    Dask arrays (chunked along N) are handled by :mod:`labelnoise.dask_arrays`.
    """
    if _is_dask(labels) or _is_dask(pred_probs):
        from labelnoise import dask_arrays

        return dask_arrays.estimate_noise(labels, pred_probs, calibrate=calibrate)
    labels, pp = validate_labels_and_pred_probs(labels, pred_probs)
    cj, thresholds, _ = _confident_joint(labels, pp, None, calibrate)
    return _noise_from_joint(cj, labels, pp.n, thresholds)


def num_label_issues(labels, pred_probs, *, method: str = "off_diagonal") -> int:
    """Estimated number of label issues.

    ``method="off_diagonal"``: the number of examples counted off the diagonal of the
    (uncalibrated) confident joint, excluding those whose given label is also the argmax
    of pred_probs; ``"off_diagonal_calibrated"``: ``round((1 - trace(joint)) * N)`` from the
    calibrated joint. Raises ``ValueError`` for invalid inputs or an unknown method.
    """
    from labelnoise._validation import validate_choice

    validate_choice(method, ["off_diagonal", "off_diagonal_calibrated"], "method")
    labels, pp = validate_labels_and_pred_probs(labels, pred_probs)
    if method == "off_diagonal_calibrated":
        cj, thresholds, _ = _confident_joint(labels, pp, None, True)
        return _noise_from_joint(cj, labels, pp.n, thresholds).num_label_issues
    return int(_off_diagonal_issue_mask(labels, pp).sum())


def confused_pairs(confident_joint, top: int = 10) -> list[tuple[int, int, int]]:
    """The ``top`` largest off-diagonal cells of a confident joint.

    Args:
        confident_joint: int (K, K), rows = given label, columns = estimated true label.
        top: how many cells at most.

    Returns:
        ``(given label i, true label j, count)`` tuples, largest count first (ties by i,
        then j); only cells with a count above 0.
    """
    cj = np.asarray(confident_joint)
    k = cj.shape[0]
    cells = [(int(cj[i, j]), i, j) for i in range(k) for j in range(k) if i != j and cj[i, j] > 0]
    cells.sort(key=lambda c: (-c[0], c[1], c[2]))
    return [(i, j, c) for c, i, j in cells[:top]]


def _predicted_equals_given(labels: np.ndarray, pp: PredProbs, slack: float = 1e-6) -> np.ndarray:
    """bool (N,): the given label is the argmax of pred_probs after adding ``slack`` to it
    (ties and near-ties go to the given label)."""
    out = np.empty(pp.n, dtype=bool)

    def work(a: int, b: int) -> None:
        block = pp.rows(a, b)
        r = np.arange(b - a)
        given = block[r, labels[a:b]] + slack
        best = block.argmax(axis=1)
        # argmax of the block with the given entry raised by slack
        other = block[r, best]
        out[a:b] = (best == labels[a:b]) | (given > other) | (
            (given == other) & (labels[a:b] < best)
        )

    map_chunks(work, pp.n, pp.chunk)
    return out


def _off_diagonal_issue_mask(labels: np.ndarray, pp: PredProbs) -> np.ndarray:
    _, _, off = _confident_joint(labels, pp, None, False)
    mask = np.zeros(pp.n, dtype=bool)
    mask[off] = True
    mask &= ~_predicted_equals_given(labels, pp)
    return mask
