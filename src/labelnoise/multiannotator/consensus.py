"""Public entry points: consensus labels, annotator quality, annotation quality."""

from __future__ import annotations

import numpy as np

from labelnoise._validation import (
    validate_choice,
    validate_pred_probs,
)
from labelnoise.multiannotator.annotations import (
    Annotations,
    _as_annotations,
    _require_all_labelled,
)
from labelnoise.multiannotator.constants import METHODS, PROB_FLOOR, TIE_BREAKS
from labelnoise.multiannotator.em import _dawid_skene, _model_aware, _smoothed_confusions
from labelnoise.multiannotator.glad import _glad
from labelnoise.multiannotator.results import AnnotatorQuality, ConsensusResult, LabelQualityResult
from labelnoise.multiannotator.vote import _majority_vote


# --------------------------------------------------------------------------- public API
def consensus_labels(
    annotations,
    *,
    method: str = "dawid_skene",
    pred_probs=None,
    num_classes: int | None = None,
    prior_strength: float | str = "auto",
    tie_break: str = "lowest",
    max_iter: int = 100,
    tol: float = 1e-6,
    seed=None,
    progress: bool = False,
) -> ConsensusResult:
    """Consensus label of each example from several annotators (and optionally a model).

    Args:
        annotations: int array (N, M), class in [0, K) or -1 (NaN also accepted) where
            annotator m did not label example n; or an :class:`Annotations`.
        method: ``"dawid_skene"`` (default), ``"majority_vote"``, ``"glad"`` or
            ``"model_aware"`` (needs ``pred_probs``); see the module docstring.
        pred_probs: float (N, K) out-of-sample predicted probabilities of a classifier
            (required by and only used by ``"model_aware"``).
        num_classes: K (default: pred_probs' columns, else the largest label + 1).
        prior_strength: pseudo-labels per column of the Dirichlet prior on each
            annotator's confusion matrix (``dawid_skene``, ``model_aware``), or ``"auto"``
            (default): the empirical-Bayes value that maximises the Dirichlet-multinomial
            marginal likelihood of the annotators' soft counts, re-estimated at EM
            iterations 1, 2, 4, 8, ... (bounded to [1, 1e4]). ``majority_vote`` reports
            matrices smoothed with ``prior_strength`` (``"auto"``: 1).
        tie_break: majority-vote tie rule, ``"lowest"`` or ``"random"``.
        max_iter, tol: EM stops after ``max_iter`` iterations or when the log marginal
            likelihood changes by less than ``tol`` per example.
        seed: for ``tie_break="random"``.
        progress: show a progress bar over EM iterations.

    Returns:
        :class:`ConsensusResult`.

    Raises:
        ValueError: bad annotations or pred_probs, N mismatch, an unknown method,
            ``model_aware`` without pred_probs, or (except ``model_aware``) an example that
            nobody labelled.
    """
    validate_choice(method, METHODS, "method")
    validate_choice(tie_break, TIE_BREAKS, "tie_break")
    if prior_strength != "auto" and not (isinstance(prior_strength, (int, float))
                                         and prior_strength > 0):
        raise ValueError(f"prior_strength must be 'auto' or a number > 0, got {prior_strength!r}")
    if max_iter < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter}")
    log_probs = None
    if pred_probs is not None:
        n_rows = (annotations.n_examples if isinstance(annotations, Annotations)
                  else np.shape(annotations)[0])
        if np.ndim(pred_probs) >= 1 and np.shape(pred_probs)[0] != n_rows:
            raise ValueError(f"pred_probs has {np.shape(pred_probs)[0]} rows but annotations "
                             f"has {n_rows} examples (N); they must match")
        pp = validate_pred_probs(pred_probs, num_rows=n_rows, name="pred_probs")
        if num_classes is not None and num_classes != pp.k:
            raise ValueError(f"num_classes = {num_classes} but pred_probs has {pp.k} columns")
        num_classes = pp.k
        if method == "model_aware":
            log_probs = np.log(np.maximum(pp.materialize(), PROB_FLOOR))
    elif method == "model_aware":
        raise ValueError("method='model_aware' needs pred_probs (N, K)")
    ann = _as_annotations(annotations, num_classes)
    if method != "model_aware":
        _require_all_labelled(ann)
    m, k = ann.n_annotators, ann.num_classes
    calibration = None
    converged = True
    strength = None
    if method == "majority_vote":
        labels = _majority_vote(ann, tie_break, seed)
        post = ann.vote_counts().toarray()
        post /= post.sum(axis=1, keepdims=True)
        hard = np.zeros_like(post)
        hard[np.arange(ann.n_examples), labels] = 1.0
        counts = np.asarray(ann.design_matrix().T @ hard).reshape(m, k, k)
        conf = _smoothed_confusions(counts, 1.0 if prior_strength == "auto" else prior_strength)
        prior = np.bincount(labels, minlength=k) / ann.n_examples
        quality = post[np.arange(ann.n_examples), labels]
        n_iter = 0
        correct = (ann.label == labels[ann.example]).astype(np.float64)
    else:
        if method == "glad":
            post, conf, prior, n_iter, converged = _glad(ann, max_iter=max_iter, tol=tol,
                                                         progress=progress)
        elif method == "dawid_skene":
            post, conf, prior, n_iter, converged, strength = _dawid_skene(
                ann, prior_strength=prior_strength, max_iter=max_iter, tol=tol,
                progress=progress)
            calibration = None
        else:
            post, conf, prior, n_iter, converged, calibration = _model_aware(
                ann, log_probs, prior_strength=prior_strength, max_iter=max_iter, tol=tol,
                progress=progress)
        labels = np.argmax(post, axis=1).astype(np.int64)
        quality = post[np.arange(ann.n_examples), labels]
        correct = post[ann.example, ann.label]
    num_labels = ann.labels_per_annotator()
    acc = np.einsum("mkk,k->m", conf, prior)
    has = num_labels > 0
    acc[has] = np.bincount(ann.annotator, weights=correct, minlength=m)[has] / num_labels[has]
    return ConsensusResult(
        consensus_labels=labels, consensus_quality=np.clip(quality, 0.0, 1.0), posterior=post,
        noise_matrices=conf, annotator_accuracy=acc, num_labels=num_labels,
        class_prior=np.asarray(prior, dtype=np.float64), n_iter=int(n_iter), method=method,
        annotations=ann, model_calibration=calibration, converged=converged,
        prior_strength=strength if calibration is None else calibration["prior_strength"])


def annotator_quality(annotations, consensus: ConsensusResult | None = None,
                      **consensus_kwargs) -> AnnotatorQuality:
    """Per-annotator estimated accuracy, number of labels and agreement with the consensus.

    Args:
        annotations: as in :func:`consensus_labels`.
        consensus: a :class:`ConsensusResult` already computed from these annotations; if
            ``None``, :func:`consensus_labels` is run with ``consensus_kwargs``.

    Returns:
        :class:`AnnotatorQuality` (arrays of shape (M,)).
    """
    if consensus is None:
        consensus = consensus_labels(annotations, **consensus_kwargs)
    ann = consensus.annotations
    m = ann.n_annotators
    agree = (ann.label == consensus.consensus_labels[ann.example]).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        agreement = np.bincount(ann.annotator, weights=agree, minlength=m) / consensus.num_labels
    ids = ann.annotator_ids if ann.annotator_ids is not None else np.arange(m)
    return AnnotatorQuality(annotator_ids=ids, num_labels=consensus.num_labels.copy(),
                            accuracy=consensus.annotator_accuracy.copy(),
                            agreement_with_consensus=agreement)


def label_quality_multiannotator(annotations, **consensus_kwargs) -> LabelQualityResult:
    """Consensus labels, annotator quality, and a quality score for every annotation.

    The score of annotation (n, m, l) is the estimated probability that label l is the
    true class of example n, ``posterior[n, l]`` from :func:`consensus_labels` (higher =
    more likely correct; for majority vote, the fraction of votes for l).

    Args:
        annotations: as in :func:`consensus_labels`.
        **consensus_kwargs: passed to :func:`consensus_labels` (``method``,
            ``pred_probs``, ...).

    Returns:
        :class:`LabelQualityResult`; ``annotation_quality`` is float64 (L,), aligned with
        the triplets of ``result.consensus.annotations``.
    """
    res = consensus_labels(annotations, **consensus_kwargs)
    ann = res.annotations
    quality = res.posterior[ann.example, ann.label]
    return LabelQualityResult(consensus=res, annotation_quality=quality,
                              annotator_quality=annotator_quality(ann, res))
