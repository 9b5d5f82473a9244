"""Public entry points: consensus labels, annotator quality, annotation quality."""

from __future__ import annotations

import warnings

import numpy as np

from labelnoise._validation import (
    validate_choice,
    validate_pred_probs,
)
from labelnoise.dask_arrays import _is_dask
from labelnoise.multiannotator._checks import AnnotatorQualityWarning, _check_float, _check_int
from labelnoise.multiannotator.annotations import (
    Annotations,
    _as_annotations,
    _overlapping_annotators,
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
            annotator m did not label example n; or an :class:`Annotations`; or a
            ``dask.array`` (N, M) chunked along N only, for ``majority_vote`` and
            ``dawid_skene`` without ``pred_probs`` (see
            :mod:`labelnoise.multiannotator.dask_consensus`: the per-example fields of the
            result are then lazy Dask arrays and ``annotations`` is the Dask array;
            majority vote is identical to the in-memory result, Dawid-Skene equal to
            float rounding).
        method: ``"dawid_skene"`` (default), ``"majority_vote"``, ``"glad"`` or
            ``"model_aware"`` (needs ``pred_probs``); see the module docstring.
        pred_probs: float (N, K) out-of-sample predicted probabilities of a classifier
            (required by and only used by ``"model_aware"``), or a list of such arrays (an
            ensemble, averaged row by row).
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
        :class:`ConsensusResult`. ``annotator_accuracy`` is NaN for an annotator whose
        accuracy cannot be estimated (see Warns).

    Raises:
        ValueError: bad annotations or pred_probs (including NaN or inf in pred_probs), N
            mismatch, an unknown method, ``model_aware`` without pred_probs, ``num_classes``
            or ``max_iter`` not an integer (>= 2, >= 1), ``prior_strength`` neither
            ``"auto"`` nor a finite number > 0, ``tol`` not a finite number >= 0, or (except
            ``model_aware``) an example that nobody labelled. Each message names the
            argument. On a Dask array also: unknown chunk sizes, or chunks along M.
        NotImplementedError: a Dask ``annotations`` or ``pred_probs`` with ``glad``,
            ``model_aware`` or ``pred_probs``.

    Warns:
        AnnotatorQualityWarning: (a ``UserWarning``), naming the annotator ids, when

            * an annotator gave no labels (e.g. an empty column): their accuracy is NaN
              (their row of ``noise_matrices`` is only the prior, the pooled matrix);
            * an annotator labelled no example that another annotator also labelled (a
              single annotator, or annotators who never overlap): agreement says nothing
              about their accuracy, so with ``majority_vote``, ``dawid_skene`` and
              ``glad`` (and ``model_aware`` when it falls back to the crowd alone) it is
              NaN, and their ``noise_matrices`` row and the posterior of examples only
              they labelled are not estimates either. ``model_aware`` estimates it against
              the model instead, and when no two annotators share an example it warns
              that ``pred_probs`` are then used uncalibrated (taken as calibrated
              probabilities).
    """
    validate_choice(method, METHODS, "method")
    validate_choice(tie_break, TIE_BREAKS, "tie_break")
    if not (isinstance(prior_strength, str) and prior_strength == "auto"):
        if isinstance(prior_strength, str):
            raise ValueError(f"prior_strength must be 'auto' or a finite number > 0, "
                             f"got {prior_strength!r}")
        prior_strength = _check_float(prior_strength, "prior_strength", positive=True)
    max_iter = _check_int(max_iter, "max_iter", 1)
    tol = _check_float(tol, "tol", positive=False)
    if num_classes is not None:
        num_classes = _check_int(num_classes, "num_classes", 2)
    if _is_dask(annotations) or _is_dask(pred_probs):
        return _dask_consensus(annotations, method=method, pred_probs=pred_probs,
                               num_classes=num_classes, prior_strength=prior_strength,
                               tie_break=tie_break, max_iter=max_iter, tol=tol, seed=seed,
                               progress=progress)
    log_probs = None
    if pred_probs is not None:
        n_rows = (annotations.n_examples if isinstance(annotations, Annotations)
                  else np.shape(annotations)[0])
        ensemble = isinstance(pred_probs, (list, tuple))
        for i, member in enumerate(pred_probs if ensemble else [pred_probs]):
            if np.ndim(member) >= 1 and np.shape(member)[0] != n_rows:
                name = f"pred_probs[{i}]" if ensemble else "pred_probs"
                raise ValueError(f"{name} has {np.shape(member)[0]} rows but annotations "
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
    acc = np.full(m, np.nan)
    has = num_labels > 0
    acc[has] = np.bincount(ann.annotator, weights=correct, minlength=m)[has] / num_labels[has]
    _flag_unestimable(ann, method, calibration, acc)
    return ConsensusResult(
        consensus_labels=labels, consensus_quality=np.clip(quality, 0.0, 1.0), posterior=post,
        noise_matrices=conf, annotator_accuracy=acc, num_labels=num_labels,
        class_prior=np.asarray(prior, dtype=np.float64), n_iter=int(n_iter), method=method,
        annotations=ann, model_calibration=calibration, converged=converged,
        prior_strength=strength if calibration is None else calibration["prior_strength"])


def _dask_consensus(annotations, *, method, pred_probs, **kwargs) -> ConsensusResult:
    """Hand a Dask annotations matrix to :mod:`.dask_consensus` (majority vote and
    Dawid-Skene, without pred_probs)."""
    from labelnoise.multiannotator import dask_consensus

    if pred_probs is not None or method not in dask_consensus.DASK_METHODS:
        raise NotImplementedError(
            f"consensus_labels on a dask.array supports method='majority_vote' or "
            f"'dawid_skene' without pred_probs (got method={method!r}"
            f"{' with pred_probs' if pred_probs is not None else ''}); compute the "
            "annotations (and pred_probs) into memory for it")
    return dask_consensus.consensus_labels(annotations, method=method, **kwargs)


def _ids_text(annotator_ids, which: np.ndarray) -> str:
    """The ids of the annotators at indices ``which`` (at most 10 shown; ``annotator_ids``
    ``None``: the column indices), for messages."""
    ids = annotator_ids
    shown = ([int(i) for i in which[:10]] if ids is None else
             [ids[i].item() if hasattr(ids[i], "item") else ids[i] for i in which[:10]])
    more = f" and {which.size - 10} more" if which.size > 10 else ""
    return f"{shown}{more}"


def _flag_unestimable(ann: Annotations, method: str, calibration: dict | None,
                      acc: np.ndarray) -> None:
    """Set ``acc`` to NaN where an annotator's accuracy cannot be estimated, and warn.

    No labels: nothing to estimate. Labels only on examples nobody else labelled: a
    crowd-only method (majority vote, Dawid-Skene, GLAD, or model-aware after falling back
    to the crowd) can only compare the annotator with themself (a lone annotator got 0.999
    from Dawid-Skene and 0.919 from GLAD in the reported case), so the accuracy is NaN too. ``model_aware`` with the
    model in use measures them against the model and keeps the estimate.
    """
    _flag_unestimable_counts(ann.labels_per_annotator(), _overlapping_annotators(ann),
                             ann.annotator_ids, method, calibration, acc)


def _flag_unestimable_counts(num_labels: np.ndarray, overlapping: np.ndarray, annotator_ids,
                             method: str, calibration: dict | None, acc: np.ndarray,
                             stacklevel: int = 4) -> None:
    """:func:`_flag_unestimable` from the labels per annotator, int64 (M,), and whether each
    annotator shares an example with another, bool (M,) (the Dask path computes both by a
    reduction); ``stacklevel`` points the warnings at the caller of ``consensus_labels``."""
    empty = np.flatnonzero(num_labels == 0)
    if empty.size:
        warnings.warn(
            f"annotator(s) {_ids_text(annotator_ids, empty)} gave no labels: their accuracy "
            "cannot be estimated and is reported as NaN", AnnotatorQualityWarning, stacklevel=stacklevel)
    alone = np.flatnonzero((num_labels > 0) & ~overlapping)
    if not alone.size:
        return
    model_used = calibration is not None and calibration["model_used"]
    if model_used:
        if not overlapping.any():
            warnings.warn(
                "no two annotators labelled the same example, so pred_probs cannot be "
                "calibrated against annotator agreement: they are used as given (assumed "
                "calibrated) and every annotator's accuracy is estimated against the model "
                "alone", AnnotatorQualityWarning, stacklevel=stacklevel)
        return
    acc[alone] = np.nan
    hint = (" (model_aware kept the crowd-only Dawid-Skene fit, model_used=False)"
            if method == "model_aware" else
            "; give pred_probs with method='model_aware' to estimate it against a model")
    warnings.warn(
        f"annotator(s) {_ids_text(annotator_ids, alone)} labelled no example that another "
        f"annotator also labelled (a single annotator, or annotators who never overlap): with "
        f"method={method!r} their accuracy cannot be estimated from agreement between "
        f"annotators and is reported as NaN{hint}", AnnotatorQualityWarning, stacklevel=stacklevel)


def annotator_quality(annotations, consensus: ConsensusResult | None = None,
                      **consensus_kwargs) -> AnnotatorQuality:
    """Per-annotator estimated accuracy, number of labels and agreement with the consensus.

    Args:
        annotations: as in :func:`consensus_labels`.
        consensus: a :class:`ConsensusResult` already computed from these annotations; if
            ``None``, :func:`consensus_labels` is run with ``consensus_kwargs``.

    Returns:
        :class:`AnnotatorQuality` (arrays of shape (M,)); ``accuracy`` is NaN where it
        cannot be estimated (an annotator with no labels, or, except with ``model_aware``,
        one who never labelled an example that another annotator also labelled).

    Raises:
        ValueError: as :func:`consensus_labels`.

    Warns:
        AnnotatorQualityWarning: as :func:`consensus_labels`, when it is run here (a given
            ``consensus`` already warned when it was computed).
    """
    if consensus is None:
        consensus = consensus_labels(annotations, **consensus_kwargs)
    if _is_dask(consensus.annotations):
        from labelnoise.multiannotator import dask_consensus

        return dask_consensus.annotator_quality(consensus)
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

    Raises:
        ValueError: as :func:`consensus_labels`.
        NotImplementedError: Dask ``annotations`` or ``pred_probs`` (use
            :func:`consensus_labels` and :func:`annotator_quality` there).

    Warns:
        AnnotatorQualityWarning: as :func:`consensus_labels` (once per call).
    """
    if _is_dask(annotations) or _is_dask(consensus_kwargs.get("pred_probs")):
        raise NotImplementedError("label_quality_multiannotator needs in-memory annotations; "
                                  "on a dask.array use consensus_labels (majority_vote, "
                                  "dawid_skene) and annotator_quality")
    res = consensus_labels(annotations, **consensus_kwargs)
    ann = res.annotations
    quality = res.posterior[ann.example, ann.label]
    return LabelQualityResult(consensus=res, annotation_quality=quality,
                              annotator_quality=annotator_quality(ann, res))
