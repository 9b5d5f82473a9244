"""Method names and numerical constants of the consensus methods."""

METHODS = ("majority_vote", "dawid_skene", "glad", "model_aware")
TIE_BREAKS = ("lowest", "random")
#: Floor on pred_probs before taking logs in ``model_aware``.
PROB_FLOOR = 1e-12
#: Upper bound of the empirical-Bayes prior strength (pseudo-labels per confusion column).
EB_MAX_STRENGTH = 1e4
#: Fewest unanimous examples (>= 2 labels, all equal) to calibrate the model on.
MIN_TRUSTED = 100
#: Upper bound of the crowd weight in ``model_aware`` (1 = plain Dawid-Skene likelihood).
MAX_CROWD_WEIGHT = 4.0
#: Most (annotations x K) entries used to fit the crowd weight (an evenly spaced subset).
LOO_MAX_ELEMENTS = 1 << 22
#: ``model_aware`` falls back to crowd-only Dawid-Skene only when that predicts held-out
#: annotations better by more than this many standard errors.
FALLBACK_Z = 2.0
