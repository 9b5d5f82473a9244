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

import dataclasses
import warnings
from dataclasses import dataclass

import numpy as np

from labelnoise import count, rank
from labelnoise import filter as lfilter
from labelnoise._validation import (
    LabelOrderWarning,
    _is_nested_matrix,
    argmax_agreement,
    encode_labels,
    looks_misaligned,
    map_chunks,
    validate_choice,
    validate_noise_matrix,
    validate_pred_probs,
)
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
        class_names: the K class names in the order of the pred_probs columns (``labels``
            and ``suggested_labels`` index into it), or None when the labels were integer
            indices and no names were given.
        neighbour_vote_weight: the weight of the neighbours' label vote in the probabilities
            detected from (``find_issues(..., features=)``), or None without features.
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
    class_names: list | None = None
    neighbour_vote_weight: float | None = None

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

    def class_name(self, index: int):
        """The name of class ``index`` (the index itself when the names are unknown)."""
        return self.class_names[index] if self.class_names is not None else int(index)

    def to_frame(self, *, only_issues: bool = False, class_names=None, example_ids=None,
                 true_labels=None):
        """One row per example in ranked order, as a pandas DataFrame: the one layout of
        issues.csv (``labelnoise find-issues`` and ``labelnoise audit``).

        Columns: ``rank`` (1-based), ``index`` (row in the input), ``example_id`` (when
        ``example_ids`` is given: a file path, a row id), ``given_label``,
        ``suggested_label``, ``label_quality_score``, ``is_label_issue``, and
        ``true_label`` when ``true_labels`` is given. Labels are written as people have
        them: the class names (``class_names``, else ``self.class_names``) when known,
        else the class indices.

        Args:
            only_issues: keep only the flagged examples (ranks stay 1..num_issues).
            class_names: K names overriding ``self.class_names``, or None.
            example_ids: (N,) ids, or None.
            true_labels: int (N,) known true labels as class indices, or None.

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
        k = self.noise.confident_joint.shape[0]
        if class_names is None:
            class_names = self.class_names
        names = None
        if class_names is not None:
            names = np.empty(len(class_names), dtype=object)
            names[:] = [c.item() if isinstance(c, np.generic) else c for c in class_names]
            if names.size < k:
                raise ValueError(f"class_names has {names.size} names, expected {k}")

        def named(codes):
            return codes if names is None else names[codes]

        cols["given_label"] = named(self.labels[order])
        cols["suggested_label"] = named(self.suggested_labels[order])
        cols["label_quality_score"] = self.label_quality_scores[order]
        cols["is_label_issue"] = self.is_label_issue[order]
        if true_labels is not None:
            true = np.asarray(true_labels)
            if true.shape != (n,):
                raise ValueError(f"true_labels has shape {true.shape}, expected ({n},)")
            cols["true_label"] = named(true[order])
        return pd.DataFrame(cols)

    def confused_pairs(self, top: int = 10) -> list[tuple[int, int, int]]:
        """The ``top`` largest off-diagonal cells of the confident joint as (given label,
        estimated true label, count); see :func:`labelnoise.count.confused_pairs`."""
        return count.confused_pairs(self.noise.confident_joint, top)


def find_issues(labels, pred_probs, *, class_names=None, filter_by: str = lfilter.DEFAULT_FILTER,
                score_method: str | None = None, frac_noise: float = 1.0,
                min_examples_per_class: int = 1, noise_matrix=None,
                features=None, neighbors=None) -> LabelIssues:
    """Find label issues, score and rank every example, and estimate the noise, in one call.

    Args:
        labels: array-like (N,) or a pandas Series/Categorical: the given labels as people
            have them (see :func:`labelnoise._validation.encode_labels`): integer class
            indices in [0, K); strings or other values (the classes are then their sorted
            distinct values, unless ``class_names`` gives the order); a categorical (its
            categories in order are the classes); or, with ``class_names``, any values of
            that list (integers such as 3, 7, 9 included).
        pred_probs: float (N, K) out-of-sample predicted probabilities (a memory map, or a
            list of such arrays from several models, rows averaged).
        class_names: optional sequence of the K classes in the order of the pred_probs
            columns. With a class list (this, or a categorical's categories) a class with
            no example is allowed: its column is left out and the rows renormalised over
            the classes that have examples (nobody gave that label, so confident learning
            cannot estimate its noise); the noise estimate then holds zeros for it (an
            identity column in ``noise_matrix`` and ``inverse_noise_matrix``, prior 0,
            threshold 2.0, above any probability).
        filter_by: which examples to flag; see :func:`labelnoise.find_label_issues`
            (default ``labelnoise.filter.DEFAULT_FILTER``).
        score_method: the label-quality method of the scores and the ranking (see
            :func:`labelnoise.label_quality_scores`); default
            ``labelnoise.rank.DEFAULT_METHOD``, the best-ranking score (the filter decides
            which examples are flagged; ``issue_indices`` lists them in this order).
        frac_noise, min_examples_per_class: for cleanlab's prune filters, as in
            :func:`labelnoise.find_label_issues`.
        noise_matrix: optional known (K, K) ``P(given | true)`` for our scores.
        features: optional float (N, D) features of the examples (embeddings, standardised
            table columns; a view no model fitted to the labels serves best). Given, the
            pred_probs are first mixed with the label vote of each example's
            ``labelnoise.data_issues.NEIGHBOUR_VOTE_K`` nearest neighbours in them
            (:func:`labelnoise.data_issues.with_neighbour_vote`, weight by maximum
            likelihood; cosine distance; wider than 1,024 columns: 256 principal
            components first), and everything below is computed from that mixture: the
            ranking of ``labelnoise audit`` and ``labelnoise find-issues --features``.
        neighbors: optional ``(distances, indices)`` of
            :func:`labelnoise.data_issues.nearest_neighbors` (indices int (N, k), each
            example's neighbours without itself), used for the vote instead of searching
            ``features`` (the audit passes the neighbours its data checks share). The
            :class:`LabelOrderWarning` check reads the pred_probs given, not the mixture (a
            vote in the labels' own neighbourhoods would hide misaligned columns).

    Returns:
        :class:`LabelIssues` (``labels`` and ``suggested_labels`` as int64 indices into
        its ``class_names``). For integer labels its ``is_label_issue`` equals
        ``find_label_issues(labels, pred_probs, filter_by=...)`` and its
        ``label_quality_scores`` equal ``label_quality_scores(labels, pred_probs,
        method=score_method)``; ``noise`` equals ``estimate_noise(labels, pred_probs)``
        (with ``features``: of the mixture; its weight is ``neighbour_vote_weight``).

    Raises:
        ValueError: invalid labels, pred_probs, class_names or options, as the functions
            named above; ``class_names`` (or the number of distinct string labels) not
            matching the K columns of pred_probs.
            ``features`` not (N, D) finite real numbers for N >= 3 examples; ``neighbors``
            not a (distances, indices) pair with one row of indices per example.

    Warns:
        LabelOrderWarning: the labels and the pred_probs columns look misaligned: the
            arg-max of pred_probs would agree with the given labels on at least 10% more
            of the examples (and 3 sqrt(N) more) if its columns were re-ordered (the best
            order by the linear assignment of the (given label, arg-max) counts,
            :func:`labelnoise._validation.argmax_agreement`); the message names that order.
    """
    validate_choice(filter_by, lfilter.FILTERS, "filter_by")
    if score_method is None:
        score_method = rank.DEFAULT_METHOD
    validate_choice(score_method, rank.METHODS, "score_method")
    codes, names, explicit = encode_labels(labels, class_names=class_names)
    if features is None and neighbors is None:
        return _detect(codes, names, explicit, class_names, pred_probs, filter_by=filter_by,
                       score_method=score_method, frac_noise=frac_noise,
                       min_examples_per_class=min_examples_per_class,
                       noise_matrix=noise_matrix)
    mixed, weight = _with_vote(codes, pred_probs, features, neighbors)
    with warnings.catch_warnings():  # the columns' alignment is checked on pred_probs below
        warnings.simplefilter("ignore", LabelOrderWarning)
        result = _detect(codes, names, explicit, class_names, mixed, filter_by=filter_by,
                         score_method=score_method, frac_noise=frac_noise,
                         min_examples_per_class=min_examples_per_class,
                         noise_matrix=noise_matrix)
    _warn_if_misaligned_probs(codes, pred_probs, names)
    return dataclasses.replace(result, neighbour_vote_weight=weight)


def _detect(codes: np.ndarray, names, explicit: bool, class_names, pred_probs, *, filter_by,
            score_method, frac_noise, min_examples_per_class, noise_matrix) -> LabelIssues:
    """find_issues over encoded labels (``codes``, the class ``names`` or None, whether the
    class list was ``explicit``)."""
    options = dict(filter_by=filter_by, score_method=score_method, frac_noise=frac_noise,
                   min_examples_per_class=min_examples_per_class, noise_matrix=noise_matrix)
    if names is not None:
        k = _num_columns(pred_probs)
        if k and k != len(names):
            what = ("class_names has" if class_names is not None else
                    "the labels' categories are" if explicit else
                    "the labels have")
            raise ValueError(
                f"{what} {len(names)} classes ({_shown(names)}) but pred_probs has K = {k} "
                "columns; give class_names (CLI: --class-names): the class of each pred_probs "
                "column, in order")
        present = np.bincount(codes, minlength=len(names)) > 0
        if explicit and not present.all():
            return _with_empty_classes(codes, pred_probs, names, present, options)
    result = _find(codes, pred_probs, **options)
    _warn_if_misaligned(result.pop("argmax_counts"), names, stacklevel=4)
    return LabelIssues(**result, class_names=names)


def _with_vote(codes: np.ndarray, pred_probs, features, neighbors) -> tuple[np.ndarray, float]:
    """pred_probs mixed with the label vote of each example's nearest neighbours (``neighbors``
    given, else searched in ``features``, validated here), and the vote's weight."""
    from labelnoise.data_issues import _vote_in_features, with_neighbour_vote

    if neighbors is None:
        return _vote_in_features(codes, pred_probs, features)
    if not isinstance(neighbors, (tuple, list)) or len(neighbors) != 2:
        raise ValueError("neighbors must be the (distances, indices) pair of "
                         "labelnoise.data_issues.nearest_neighbors")
    return with_neighbour_vote(codes, pred_probs, neighbors[1])


def _warn_if_misaligned_probs(codes: np.ndarray, pred_probs, names) -> None:
    """The :class:`LabelOrderWarning` check on pred_probs as given (over the classes that
    have examples), for a detection that read something else (the vote's mixture)."""
    from labelnoise.data_issues import _present_classes

    pp = validate_pred_probs(pred_probs, num_rows=codes.shape[0])
    present, lab, sub = _present_classes(codes, pp.materialize())
    counts = _argmax_counts(lab, validate_pred_probs(sub))
    _warn_if_misaligned(counts, None if names is None else [names[i] for i in present],
                        stacklevel=4)


def _num_columns(pred_probs) -> int:
    """K of pred_probs (one array, nested lists, or an ensemble), 0 when it is not 2-D."""
    if isinstance(pred_probs, list | tuple) and not _is_nested_matrix(pred_probs):
        pred_probs = pred_probs[0] if pred_probs else None
    shape = np.shape(pred_probs) if pred_probs is not None else ()
    return int(shape[1]) if len(shape) == 2 else 0


def _shown(names, limit: int = 12) -> str:
    return ", ".join(map(str, names[:limit])) + (", ..." if len(names) > limit else "")


def _find(labels, pred_probs, *, filter_by, score_method, frac_noise, min_examples_per_class,
          noise_matrix) -> dict:
    """The detection over integer labels: LabelIssues' fields and the (K, K) counts of
    (given label, arg-max of the prior-adjusted pred_probs) pairs ``argmax_counts``."""
    filter_score = lfilter._FILTER_SCORE.get(filter_by)
    frac_noise, min_examples_per_class = lfilter._check_prune_options(frac_noise,
                                                                      min_examples_per_class)
    # one validation pass; it also computes what the first score needs from a full pass
    labels, pp, margin = rank._validate_fused(labels, pred_probs,
                                              [m for m in (filter_score, score_method) if m],
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

    if filter_by == "adaptive":
        mask = lfilter._adaptive_mask(labels, pp, scores_of, frac_noise,
                                         min_examples_per_class, joint=(cj, off_diagonal))
    elif filter_score is not None:
        mask = lfilter._filter_mask(filter_by, scores_of(filter_score))
    else:
        mask = lfilter._issue_mask(labels, pp, filter_by, frac_noise, min_examples_per_class,
                                   joint=(cj, off_diagonal))
    scores = scores_of(score_method)
    if filter_score is not None:
        scores_of("mixture")  # the kind-of-noise diagnostic: one more pass for our filters
    return dict(
        labels=labels,
        is_label_issue=mask,
        label_quality_scores=scores,
        ranking=np.argsort(scores, kind="stable").astype(np.int64),
        suggested_labels=rank._suggested(labels, pp, mask),
        noise=noise,
        filter_by=filter_by,
        score_method=score_method,
        mixture_weight=weight,
        argmax_counts=_argmax_counts(labels, pp),
    )


def _argmax_counts(labels: np.ndarray, pp) -> np.ndarray:
    """(K, K) counts of (given label, arg-max of the prior-adjusted pred_probs): the counts
    the validation pass made when it made them (``PredProbs.fused``), else one more pass."""
    k = pp.k
    if pp.fused is not None and np.shape(pp.fused) == (k * k,):
        total = pp.fused
    else:
        counter = rank._argmax_pair_counter(labels, k)
        total = np.sum(map_chunks(lambda a, b: counter(pp.rows(a, b), a, b), pp.n, pp.chunk),
                       axis=0)
    return np.asarray(total, dtype=np.int64).reshape(k, k)


def _warn_if_misaligned(counts: np.ndarray, names: list | None, stacklevel: int = 3) -> None:
    """Issue :class:`LabelOrderWarning` when re-ordering the pred_probs columns would make
    their arg-max agree far better with the given labels (see ``looks_misaligned``)."""
    if not looks_misaligned(counts):
        return
    as_given, best, column_of_class = argmax_agreement(counts)
    k = counts.shape[0]
    shown = list(range(k)) if names is None else names
    likely = [None] * k
    for cls, col in enumerate(column_of_class):
        likely[col] = shown[cls]
    taken = ("the class indices 0..K-1" if names is None else f"[{_shown(shown)}]")
    warnings.warn(
        f"the labels and the pred_probs columns look misaligned: the arg-max of pred_probs "
        f"agrees with the given labels on {as_given:.0%} of the examples but would agree on "
        f"{best:.0%} if its columns were the classes [{_shown(likely)}]; the columns are "
        f"taken to be {taken} (string labels are sorted unless class_names gives the order). "
        "Give class_names (CLI: --class-names) in the order of the pred_probs columns",
        LabelOrderWarning, stacklevel=stacklevel)


def _with_empty_classes(codes: np.ndarray, pred_probs, names: list, present: np.ndarray,
                        options: dict) -> LabelIssues:
    """find_issues when some classes of an explicit class list have no example: detect over
    the classes present (their pred_probs columns, rows renormalised), then map the result
    back to the K classes (see :func:`find_issues`)."""
    k = len(names)
    keep = np.flatnonzero(present)
    if keep.size < 2:
        raise ValueError(f"labels has examples of only {keep.size} class "
                         f"({_shown([names[i] for i in keep])}) of the {k} in class_names; "
                         "label issues need examples of at least 2 classes")
    pp = validate_pred_probs(pred_probs, num_rows=codes.shape[0])
    sub = np.empty((pp.n, keep.size), dtype=np.float64)

    def restrict(a: int, b: int) -> None:
        block = pp.rows(a, b)[:, keep]
        total = block.sum(axis=1, keepdims=True)
        block = np.divide(block, total, out=np.full_like(block, 1.0 / keep.size),
                          where=total > 0)
        sub[a:b] = block

    map_chunks(restrict, pp.n, pp.chunk)
    to_sub = np.full(k, -1, dtype=np.int64)
    to_sub[keep] = np.arange(keep.size)
    options = dict(options)
    if options["noise_matrix"] is not None:
        nm = validate_noise_matrix(options["noise_matrix"], num_classes=k)[np.ix_(keep, keep)]
        options["noise_matrix"] = nm / np.clip(nm.sum(axis=0), 1e-12, None)
    result = _find(to_sub[codes], sub, **options)
    _warn_if_misaligned(result.pop("argmax_counts"), [names[i] for i in keep], stacklevel=5)
    result["labels"] = codes
    result["suggested_labels"] = keep[result["suggested_labels"]]
    result["noise"] = _expand_noise(result["noise"], keep, k)
    return LabelIssues(**result, class_names=names)


def _expand_noise(noise: NoiseEstimate, keep: np.ndarray, k: int) -> NoiseEstimate:
    """A noise estimate over the classes ``keep`` as one over all K classes (zeros for the
    others; identity columns in the two noise matrices so that columns still sum to 1)."""
    def square(m, identity: bool, dtype):
        out = np.eye(k, dtype=dtype) if identity else np.zeros((k, k), dtype=dtype)
        if identity:
            out[:, keep] = 0
        out[np.ix_(keep, keep)] = m
        return out

    prior = np.zeros(k)
    prior[keep] = noise.prior
    thresholds = np.full(k, 2.0)
    thresholds[keep] = noise.thresholds
    return dataclasses.replace(
        noise,
        confident_joint=square(noise.confident_joint, False, np.int64),
        joint=square(noise.joint, False, np.float64),
        noise_matrix=square(noise.noise_matrix, True, np.float64),
        inverse_noise_matrix=square(noise.inverse_noise_matrix, True, np.float64),
        prior=prior,
        thresholds=thresholds,
    )
