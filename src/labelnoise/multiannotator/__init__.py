"""Several annotators per example: consensus labels, annotator quality, annotation quality.

Input is an annotations matrix of shape (N, M): ``annotations[n, m]`` is the class that
annotator ``m`` gave example ``n``, or -1 where annotator ``m`` did not label it (NaN is also
read as missing). Such matrices are mostly empty (CIFAR-10N: 747 workers, 3 labels per
image), so they are stored as sorted (example, annotator, label) triplets in
:class:`Annotations` and every computation works on the L observed labels, never on the
dense N x M matrix. Build one from a dense matrix (:meth:`Annotations.from_dense`) or from a
long table (:meth:`Annotations.from_long`).

Methods of :func:`consensus_labels`:

* ``"majority_vote"``: the most frequent label; ties go to the lowest class index
  (``tie_break="lowest"``) or to a seeded random choice among the tied classes
  (``tie_break="random"``).
* ``"dawid_skene"``: Dawid and Skene (1979), "Maximum likelihood estimation of observer
  error-rates using the EM algorithm", Applied Statistics 28(1). Each annotator ``m`` has a
  confusion matrix ``noise_matrices[m, i, j] = P(annotator m says i | true class j)`` (our
  noise-matrix convention: columns sum to 1); annotators are independent given the true
  class. EM starts from the soft majority vote. Each column ``j`` of each annotator's matrix
  has a Dirichlet prior with mean equal to the pooled matrix of all annotators and
  ``prior_strength`` pseudo-labels (a hierarchical, empirical-Bayes prior): an annotator with
  few labels gets the crowd's matrix instead of a degenerate one, an annotator with many
  labels gets their own. The M-step is the MAP estimate under that prior.
* ``"glad"``: Whitehill, Ruvolo, Wu, Bergsma and Movellan (2009), "Whose vote should count
  more: optimal integration of labels from labelers of unknown expertise", NeurIPS.
  P(annotator m is right on example n) = sigmoid(alpha_m * beta_n), with ability alpha_m and
  inverse difficulty beta_n = exp(log_beta_n) > 0; wrong labels are uniform over the other
  K - 1 classes. EM with a gradient M-step and Gaussian priors on alpha and log_beta.
* ``"model_aware"``: Dawid-Skene with a classifier's out-of-sample ``pred_probs`` as a
  per-example prior over the true class (the supervised model of Raykar et al. 2010,
  "Learning from crowds", JMLR 11, with the classifier held fixed), co-calibrated so that
  neither source is over-trusted; no true labels are used:

  1. a crowd-only Dawid-Skene fit gives the annotators' confusion matrices;
  2. the classifier is recalibrated, ``P(true = k | x_n) = softmax_k(inverse_temperature *
     log pred_probs[n, k] + bias_k)``, by maximum likelihood on the "trusted" examples whose
     annotators (at least 2) all agree (with fewer than ``MIN_TRUSTED`` such examples: on
     all labelled examples against the crowd-only posterior);
  3. EM with a tempered crowd: ``posterior[n] ∝ P(true | x_n) * prod_m P(label_nm |
     true)**crowd_weight``. At iterations 1, 2, 4, 8, ... ``crowd_weight`` in [0, 4] is
     chosen by held-out likelihood on the annotations: each annotation (of an example with
     >= 2 labels) is predicted from the model and the example's *other* annotations, and
     the weight that predicts them best wins (``crowd_weight = 0`` is the calibrated model
     alone, so the crowd is down-weighted to nothing when it adds no held-out predictive
     information beyond the model). Each iteration then recomputes the posterior and
     re-estimates the confusion matrices from it. Annotators who make correlated mistakes
     on hard examples make plain Dawid-Skene over-confident; the crowd weight (about
     0.5-0.65 on CIFAR-10N) measures and removes that over-confidence.
  4. safeguard: the crowd-only Dawid-Skene result is returned instead when it predicts the
     held-out annotations (each from the example's other annotations) better than the
     model-aware fit by more than ``FALLBACK_Z`` = 2 standard errors (paired over
     annotations), i.e. when the model demonstrably hurts; on a tie the model-aware result
     is kept (``model_calibration["model_used"]`` says which; with unlabelled examples the
     model-aware result is always kept).

  Compare CROWDLAB (Goh, Tkachenko and Mueller 2022), which averages the model's
  pred_probs and smoothed one-hot annotator labels with weights from agreement rates.

Examples nobody labelled: ``consensus_labels`` raises ``ValueError`` unless ``pred_probs``
are given to ``"model_aware"``, in which case the (recalibrated) model alone decides them.

Annotators whose accuracy cannot be estimated get ``annotator_accuracy`` NaN and an
:class:`AnnotatorQualityWarning` naming them, with every method: an annotator with no
labels, and an annotator who labelled no example that another annotator also labelled (a
single annotator, or annotators who never overlap), whose accuracy agreement cannot
reveal. ``"model_aware"`` measures the latter against the model instead (step 2 then
calibrates the model only on examples labelled by overlapping annotators, and uses
``pred_probs`` as given when there are none, with a warning).

Ids (``Annotations.from_long``'s ``example_ids`` and ``annotator_ids``,
``Annotations.from_dense``'s ``annotator_ids``) must be of one type: a mix of strings and
numbers is refused with a ``ValueError`` naming the argument rather than cast (numpy would
silently turn ``2`` into ``"2"``); missing (None/NaN) and infinite ids are refused too.
"""


from __future__ import annotations

from labelnoise.multiannotator._checks import AnnotatorQualityWarning
from labelnoise.multiannotator.annotations import Annotations
from labelnoise.multiannotator.consensus import (
    annotator_quality,
    consensus_labels,
    label_quality_multiannotator,
)
from labelnoise.multiannotator.constants import METHODS
from labelnoise.multiannotator.results import AnnotatorQuality, ConsensusResult, LabelQualityResult
from labelnoise.multiannotator.vote import majority_vote

__all__ = [
    "METHODS",
    "Annotations",
    "AnnotatorQuality",
    "AnnotatorQualityWarning",
    "ConsensusResult",
    "LabelQualityResult",
    "annotator_quality",
    "consensus_labels",
    "label_quality_multiannotator",
    "majority_vote",
]
