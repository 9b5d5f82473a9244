"""labelnoise: find label errors, estimate label noise, and train models that survive it.

The detection core (``count``, ``rank``, ``filter``) needs only numpy; importing
``labelnoise`` never imports torch.
"""

from labelnoise._validation import LabelOrderWarning, PredProbsWarning
from labelnoise.count import NoiseEstimate, compute_confident_joint, estimate_noise
from labelnoise.filter import find_label_issues
from labelnoise.issues import LabelIssues, find_issues
from labelnoise.rank import get_label_quality_scores, label_quality_scores

__version__ = "0.1.0"

_SUBMODULES = ("count", "rank", "filter", "issues", "noise", "datasets", "multiannotator", "crossval",
               "losses", "models", "training", "report", "audit", "features",
               "estimators", "data_issues", "dask_arrays", "multilabel", "text")


def __getattr__(name):
    """Import submodules on first use (``labelnoise.noise.symmetric(...)``) so that
    ``import labelnoise`` stays light and never imports torch."""
    import importlib

    if name in _SUBMODULES:
        return importlib.import_module(f"labelnoise.{name}")
    if name in _LAZY_NAMES:
        return getattr(importlib.import_module(f"labelnoise.{_LAZY_NAMES[name]}"), name)
    raise AttributeError(f"module 'labelnoise' has no attribute {name!r}")

__all__ = [
    "NoiseEstimate",
    "compute_confident_joint",
    "estimate_noise",
    "find_label_issues",
    "find_issues",
    "LabelIssues",
    "LabelOrderWarning",
    "PredProbsWarning",
    "label_quality_scores",
    "get_label_quality_scores",
    "Annotations",
    "annotator_quality",
    "consensus_labels",
    "label_quality_multiannotator",
    "majority_vote",
    "CleanClassifier",
    "RobustMLPClassifier",
    "find_multilabel_issues",
    "multilabel_quality_scores",
    "per_class_label_issues",
    "per_class_label_quality_scores",
    "embed_texts",
]

#: public names re-exported lazily from submodules that import scipy
_LAZY_NAMES = {name: "multiannotator" for name in (
    "Annotations", "annotator_quality", "consensus_labels", "label_quality_multiannotator",
    "majority_vote")}
_LAZY_NAMES.update({name: "estimators" for name in ("CleanClassifier", "RobustMLPClassifier")})
_LAZY_NAMES.update({name: "multilabel" for name in (
    "find_multilabel_issues", "multilabel_quality_scores", "per_class_label_issues",
    "per_class_label_quality_scores")})
_LAZY_NAMES["embed_texts"] = "text"
