"""Result objects of consensus labelling."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labelnoise.multiannotator.annotations import Annotations


# --------------------------------------------------------------------------- results
@dataclass
class ConsensusResult:
    """What :func:`consensus_labels` estimated.

    Attributes:
        consensus_labels: int64 (N,), the consensus class of each example.
        consensus_quality: float64 (N,) in [0, 1], the estimated probability that the
            consensus label is correct (majority vote: the fraction of votes for it). For
            an example labelled only by annotators whose ``annotator_accuracy`` is NaN it
            rests on the prior, not on evidence about those annotators.
        posterior: float64 (N, K), the estimated P(true class = k | all evidence); for
            majority vote the vote fractions.
        noise_matrices: float64 (M, K, K), ``noise_matrices[m, i, j]`` = P(annotator m
            says i | true class j); columns sum to 1. Where ``annotator_accuracy[m]`` is
            NaN, row m is the prior (the pooled matrix) or a self-confirming fit, not an
            estimate.
        annotator_accuracy: float64 (M,), estimated fraction of annotator m's labels that
            are correct (mean posterior probability of their labels; majority vote: their
            agreement with the consensus). NaN, with an ``AnnotatorQualityWarning``
            naming them, where it cannot be estimated: an annotator with no labels, and
            (except ``model_aware`` with the model in use, which measures them against
            the model) an annotator who labelled no example that another annotator also
            labelled (e.g. the only annotator).
        num_labels: int64 (M,), labels given by each annotator.
        class_prior: float64 (K,), estimated P(true class = k).
        n_iter: EM iterations run (0 for majority vote).
        method: the method used.
        model_calibration: ``model_aware`` only: {"inverse_temperature", "bias",
            "crowd_weight" (chosen by held-out annotation likelihood), "trusted_examples",
            "prior_strength", "model_used" (False: crowd-only Dawid-Skene was returned),
            "heldout_loglik_model", "heldout_loglik_crowd" (mean held-out log-likelihood
            per annotation)}; ``None`` otherwise.
        annotations: the :class:`Annotations` used.
        converged: whether EM met ``tol`` before ``max_iter``.
        prior_strength: the Dirichlet prior strength used (``dawid_skene`` and
            ``model_aware``).
    """

    consensus_labels: np.ndarray
    consensus_quality: np.ndarray
    posterior: np.ndarray
    noise_matrices: np.ndarray
    annotator_accuracy: np.ndarray
    num_labels: np.ndarray
    class_prior: np.ndarray
    n_iter: int
    method: str
    annotations: Annotations
    model_calibration: dict | None = None
    converged: bool = True
    prior_strength: float | None = None

    @property
    def consensus_label_names(self) -> np.ndarray | None:
        """object (N,): the consensus labels as class names, when the annotations were
        given as names (``annotations.class_names``); else ``None``."""
        names = self.annotations.class_names
        return None if names is None else np.asarray(names, dtype=object)[self.consensus_labels]


@dataclass
class AnnotatorQuality:
    """Per-annotator quality (see :func:`annotator_quality`). All arrays have shape (M,).

    Attributes:
        annotator_ids: names of the annotators (column indices when none were given).
        num_labels: int64, labels each annotator gave.
        accuracy: float64, estimated accuracy (as in ``ConsensusResult.annotator_accuracy``:
            NaN where it cannot be estimated, e.g. no labels or a single annotator).
        agreement_with_consensus: float64, fraction of their labels equal to the consensus
            label (NaN for an annotator with no labels; a plain count, trivially 1 for an
            annotator who alone decides the consensus of all their examples).
    """

    annotator_ids: np.ndarray
    num_labels: np.ndarray
    accuracy: np.ndarray
    agreement_with_consensus: np.ndarray


@dataclass
class LabelQualityResult:
    """Consensus plus a quality score for every individual annotation.

    Attributes:
        consensus: the :class:`ConsensusResult`.
        annotation_quality: float64 (L,), aligned with ``consensus.annotations`` (its
            ``example``, ``annotator`` and ``label`` arrays): the estimated probability
            that this annotation is correct, ``posterior[example, label]``.
        annotator_quality: the :class:`AnnotatorQuality`.
    """

    consensus: ConsensusResult
    annotation_quality: np.ndarray
    annotator_quality: AnnotatorQuality

    def annotation_quality_dense(self) -> np.ndarray:
        """float64 (N, M) matrix of ``annotation_quality`` with NaN where unlabelled."""
        ann = self.consensus.annotations
        out = np.full((ann.n_examples, ann.n_annotators), np.nan)
        out[ann.example, ann.annotator] = self.annotation_quality
        return out
