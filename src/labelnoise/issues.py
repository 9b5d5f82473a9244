"""One public detection call with one result that the API, the CLI and the report all read.

:func:`find_issues` validates ``labels`` and ``pred_probs`` once and computes, over those
validated inputs, everything a user looks at: the flags of a ``filter_by`` method, the
label-quality scores and the ranking of every example by them, the suggested labels, the
confident-learning noise estimate, and (for the ``mixture`` score) the fitted weight of the
class-conditional noise model. ``labelnoise find-issues``, ``labelnoise audit``
(issues.csv, noise.json) and the HTML report all read the same :class:`LabelIssues`, so
their counts, scores and order cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labelnoise import count, rank
from labelnoise import filter as lfilter
from labelnoise._validation import validate_choice, validate_noise_matrix
from labelnoise.count import NoiseEstimate


@dataclass(frozen=True)
class LabelIssues:
    """What :func:`find_issues` found.

    Attributes:
        labels: int64 (N,), the given labels (validated).
        is_label_issue: bool (N,), True = the label is flagged by ``filter_by``.
        label_quality_scores: float64 (N,) in [0, 1], higher = more likely correct, by
            ``score_method``.
        ranking: int64 (N,), every example ordered by ``label_quality_scores`` ascending
            (most likely wrong first; ties in index order).
        suggested_labels: int64 (N,): for flagged examples the most likely class other
            than the given label, else the most likely class (arg-max of the
            prior-adjusted pred_probs; :func:`labelnoise.rank.suggested_labels`).
        noise: :class:`labelnoise.NoiseEstimate` (confident joint, noise matrix
            ``P(given = i | true = j)``, prior, noise rate), confident learning.
        filter_by: the filter that decided ``is_label_issue``.
        score_method: the label-quality method of ``label_quality_scores``.
        mixture_weight: the fitted weight of the class-conditional noise model of the
            ``mixture`` score (near 0: the noise looks instance-dependent, near 1:
            class-conditional; :func:`labelnoise.rank.mixture_weight`) for our filters and
            whenever ``score_method`` is ``"mixture"``; None for cleanlab's filters.
    """

    labels: np.ndarray
    is_label_issue: np.ndarray
    label_quality_scores: np.ndarray
    ranking: np.ndarray
    suggested_labels: np.ndarray
    noise: NoiseEstimate
    filter_by: str
    score_method: str
    mixture_weight: float | None = None

    @property
    def num_examples(self) -> int:
        return int(self.labels.shape[0])

    @property
    def num_issues(self) -> int:
        return int(self.is_label_issue.sum())

    @property
    def issue_indices(self) -> np.ndarray:
        """int64 indices of the flagged examples, most likely wrong first."""
        return self.ranking[self.is_label_issue[self.ranking]]

    def to_frame(self, *, only_issues: bool = False, class_names=None, example_ids=None,
                 true_labels=None):
        """One row per example in ranked order, as a pandas DataFrame.

        Columns: ``rank`` (1-based), ``index`` (row in the input), ``example_id`` (when
        ``example_ids`` is given: a file path, a row id), ``given_label``, ``given_class``
        and ``suggested_class`` (when ``class_names`` is given), ``suggested_label``,
        ``label_quality_score``, ``is_label_issue``, and ``true_label`` (+ ``true_class``)
        when ``true_labels`` is given.

        Args:
            only_issues: keep only the flagged examples (ranks stay 1..num_issues).
            class_names: K names, or None.
            example_ids: (N,) ids, or None.
            true_labels: (N,) known true labels, or None.

        Raises:
            ValueError: ``class_names`` shorter than K, or ids/true labels not of length N.
        """
        import pandas as pd

        order = self.issue_indices if only_issues else self.ranking
        cols = {"rank": np.arange(1, order.size + 1, dtype=np.int64), "index": order}
        n = self.num_examples
        if example_ids is not None:
            ids = np.asarray(example_ids)
            if ids.shape[0] != n:
                raise ValueError(f"example_ids has {ids.shape[0]} entries, expected {n}")
            cols["example_id"] = ids[order]
        names = None
        if class_names is not None:
            names = np.asarray([str(c) for c in class_names], dtype=object)
            if names.size < self.noise.confident_joint.shape[0]:
                raise ValueError(f"class_names has {names.size} names, expected "
                                 f"{self.noise.confident_joint.shape[0]}")
        cols["given_label"] = self.labels[order]
        if names is not None:
            cols["given_class"] = names[self.labels[order]]
        cols["suggested_label"] = self.suggested_labels[order]
        if names is not None:
            cols["suggested_class"] = names[self.suggested_labels[order]]
        cols["label_quality_score"] = self.label_quality_scores[order]
        cols["is_label_issue"] = self.is_label_issue[order]
        if true_labels is not None:
            true = np.asarray(true_labels)
            if true.shape != (n,):
                raise ValueError(f"true_labels has shape {true.shape}, expected ({n},)")
            cols["true_label"] = true[order]
            if names is not None:
                cols["true_class"] = names[true[order]]
        return pd.DataFrame(cols)

    def confused_pairs(self, top: int = 10) -> list[tuple[int, int, int]]:
        """The ``top`` largest off-diagonal cells of the confident joint as (given label,
        estimated true label, count); see :func:`labelnoise.count.confused_pairs`."""
        return count.confused_pairs(self.noise.confident_joint, top)


def find_issues(labels, pred_probs, *, filter_by: str = lfilter.DEFAULT_FILTER,
                score_method: str | None = None, frac_noise: float = 1.0,
                min_examples_per_class: int = 1, noise_matrix=None) -> LabelIssues:
    """Find label issues, score and rank every example, and estimate the noise, in one call.

    Args:
        labels: int array-like (N,), given labels in [0, K); every class needs an example.
        pred_probs: float (N, K) out-of-sample predicted probabilities (a memory map, or a
            list of such arrays from several models, rows averaged).
        filter_by: which examples to flag; see :func:`labelnoise.find_label_issues`
            (default ``labelnoise.filter.DEFAULT_FILTER``).
        score_method: the label-quality method of the scores and the ranking (see
            :func:`labelnoise.label_quality_scores`); default
            ``labelnoise.rank.DEFAULT_METHOD``, the best-ranking score (the filter decides
            which examples are flagged; ``issue_indices`` lists them in this order).
        frac_noise, min_examples_per_class: for cleanlab's prune filters, as in
            :func:`labelnoise.find_label_issues`.
        noise_matrix: optional known (K, K) ``P(given | true)`` for our scores.

    Returns:
        :class:`LabelIssues`. Its ``is_label_issue`` equals
        ``find_label_issues(labels, pred_probs, filter_by=...)`` and its
        ``label_quality_scores`` equal ``label_quality_scores(labels, pred_probs,
        method=score_method)``; ``noise`` equals ``estimate_noise(labels, pred_probs)``.

    Raises:
        ValueError: invalid labels, pred_probs or options, as the functions named above.
    """
    validate_choice(filter_by, lfilter.FILTERS, "filter_by")
    filter_score = lfilter._FILTER_SCORE.get(filter_by)
    if score_method is None:
        score_method = rank.DEFAULT_METHOD
    validate_choice(score_method, rank.METHODS, "score_method")
    frac_noise, min_examples_per_class = lfilter._check_prune_options(frac_noise,
                                                                      min_examples_per_class)
    # one validation pass; it also computes what the first score needs from a full pass
    labels, pp, margin = rank._validate_fused(labels, pred_probs, filter_score or score_method,
                                              noise_matrix, require_all_classes=True)
    if noise_matrix is not None:
        noise_matrix = validate_noise_matrix(noise_matrix, num_classes=pp.k)
    cj, thresholds, off_diagonal = count._confident_joint(labels, pp, None, calibrate=True)
    noise = count._noise_from_joint(cj, labels, pp.n, thresholds)

    computed: dict[str, np.ndarray] = {}
    weight = None

    def scores_of(method: str) -> np.ndarray:
        nonlocal weight
        if method not in computed:
            if method == "mixture":
                computed[method], weight = rank._mixture(labels, pp, noise_matrix, margin)
            else:
                computed[method] = rank._scores(labels, pp, method, noise_matrix=noise_matrix,
                                                margin=margin)
        return computed[method]

    if filter_score is not None:
        mask = lfilter._filter_mask(filter_by, scores_of(filter_score))
    else:
        mask = lfilter._issue_mask(labels, pp, filter_by, frac_noise, min_examples_per_class,
                                   joint=(cj, off_diagonal))
    scores = scores_of(score_method)
    if filter_score is not None:
        scores_of("mixture")  # the kind-of-noise diagnostic: one more pass for our filters
    return LabelIssues(
        labels=labels,
        is_label_issue=mask,
        label_quality_scores=scores,
        ranking=np.argsort(scores, kind="stable").astype(np.int64),
        suggested_labels=rank._suggested(labels, pp, mask),
        noise=noise,
        filter_by=filter_by,
        score_method=score_method,
        mixture_weight=weight,
    )
