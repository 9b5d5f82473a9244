"""The annotations matrix as sorted (example, annotator, label) triplets."""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from labelnoise._validation import (
    encode_labels,
    validate_labels,
)
from labelnoise.multiannotator._checks import _check_int, _validate_ids


# --------------------------------------------------------------------------- input
@dataclass(frozen=True)
class Annotations:
    """Sparse multi-annotator labels: L observed (example, annotator, label) triplets.

    Attributes:
        example: int64 (L,), example index in [0, N), sorted (then by annotator).
        annotator: int64 (L,), annotator index in [0, M).
        label: int64 (L,), class in [0, K).
        n_examples: N.
        n_annotators: M.
        num_classes: K.
        annotator_ids: (M,) array naming annotator column m (``None``: the column index).
        example_ids: (N,) array naming example row n (``None``: the row index).
        class_names: the K class names when the labels were given as names
            (:meth:`from_long` with string labels or ``class_names``), else ``None``;
            ``label`` indexes into it (``consensus_label_names`` of a result reads it).

    Build with :meth:`from_dense` or :meth:`from_long`; one example is labelled at most once
    by each annotator.
    """

    example: np.ndarray
    annotator: np.ndarray
    label: np.ndarray
    n_examples: int
    n_annotators: int
    num_classes: int
    annotator_ids: np.ndarray | None = None
    example_ids: np.ndarray | None = None
    class_names: list | None = None

    @property
    def n_labels(self) -> int:
        """L, the number of observed labels."""
        return int(self.label.shape[0])

    def labels_per_example(self) -> np.ndarray:
        """int64 (N,): how many annotators labelled each example."""
        return np.bincount(self.example, minlength=self.n_examples).astype(np.int64)

    def labels_per_annotator(self) -> np.ndarray:
        """int64 (M,): how many examples each annotator labelled."""
        return np.bincount(self.annotator, minlength=self.n_annotators).astype(np.int64)

    def vote_counts(self) -> sp.csr_matrix:
        """Sparse (N, K) float64 matrix: how many annotators gave example n class k."""
        return sp.csr_matrix(
            (np.ones(self.n_labels), (self.example, self.label)),
            shape=(self.n_examples, self.num_classes),
        )

    def to_dense(self) -> np.ndarray:
        """int64 (N, M) matrix with -1 where an annotator did not label an example."""
        out = np.full((self.n_examples, self.n_annotators), -1, dtype=np.int64)
        out[self.example, self.annotator] = self.label
        return out

    def with_num_classes(self, num_classes: int) -> Annotations:
        """The same annotations with K = ``num_classes`` (must cover every label)."""
        num_classes = _check_int(num_classes, "num_classes", 2)
        if self.n_labels and int(self.label.max()) >= num_classes:
            i = int(np.argmax(self.label))
            raise ValueError(
                f"annotations hold class {int(self.label[i])} (example {int(self.example[i])}, "
                f"annotator {int(self.annotator[i])}) but K = {num_classes} classes"
            )
        if self.class_names is not None:
            _check_k_of_names(num_classes, self.class_names)
        return Annotations(self.example, self.annotator, self.label, self.n_examples,
                           self.n_annotators, int(num_classes), self.annotator_ids,
                           self.example_ids, self.class_names)

    @classmethod
    def from_dense(cls, annotations, *, num_classes: int | None = None,
                   annotator_ids=None, class_names=None, example_ids=None) -> Annotations:
        """From an (N, M) matrix, one row per example and one column per annotator: class
        indices with -1 (or NaN) where unlabelled, or labels as people have them (strings,
        booleans) with None, NaN or an empty string where unlabelled. A pandas DataFrame
        works as is (the layout of cleanlab's ``labels_multiannotator``); its column names
        are the annotator ids.

        Args:
            annotations: array-like or DataFrame (N, M): integers (or integral floats) in
                [-1, K), or class names (the sorted distinct names are the classes unless
                ``class_names`` gives them; :func:`labelnoise._validation.encode_labels`).
            num_classes: K (default: the largest label + 1, or the number of class names).
            annotator_ids: optional (M,) names of the columns, distinct and of one type
                (all strings, or all numbers, ...); default a DataFrame's column names.
            class_names: optional K class names: the names' order (and classes no
                annotator used), or the names of integer classes; kept as
                ``class_names``.
            example_ids: optional (N,) names of the rows (distinct, of one type), kept as
                ``example_ids``.

        Raises:
            ValueError: not 2-D, empty, a boolean matrix, non-integral numbers, values
                below -1 or >= K (the message names the (row, column)), no label at all,
                a name not in ``class_names``, ``num_classes`` not an integer >= 2 or not
                the number of class names, or ``annotator_ids`` / ``example_ids`` of the
                wrong length, with a repeated or missing (None/NaN) id, or mixing id types
                (e.g. ``["w1", 2]``: refused rather than cast, since numpy would silently
                turn ``2`` into ``"2"``).
        """
        if num_classes is not None:
            num_classes = _check_int(num_classes, "num_classes", 2)
        if hasattr(annotations, "columns") and hasattr(annotations, "to_numpy"):  # DataFrame
            if annotator_ids is None:
                annotator_ids = np.asarray(list(annotations.columns), dtype=object)
            annotations = annotations.to_numpy()
        arr = np.asarray(annotations)
        if arr.ndim != 2:
            raise ValueError(f"annotations must be 2-D of shape (N, M), got shape {arr.shape}")
        if arr.shape[0] == 0 or arr.shape[1] == 0:
            raise ValueError(f"annotations is empty (shape {arr.shape})")
        if example_ids is not None:
            example_ids = _distinct_ids(example_ids, arr.shape[0], "example_ids", "rows")
        if arr.dtype == np.bool_:  # a mask, more likely than labels (as the Dask path)
            raise ValueError(f"annotations must hold integer class indices, got dtype {arr.dtype}")
        if arr.dtype.kind in "OUS":  # labels as names
            return cls._from_dense_names(arr, num_classes, annotator_ids, class_names,
                                         example_ids)
        if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise ValueError(f"annotations must hold class indices or class names, got dtype "
                             f"{arr.dtype}")
        if np.issubdtype(arr.dtype, np.floating):
            observed = ~np.isnan(arr)
            bad = observed & (~np.isfinite(arr) | (arr != np.round(arr)))
            if bad.any():
                r, c = np.argwhere(bad)[0]
                raise ValueError(f"annotations must hold integer class indices; "
                                 f"annotations[{r}, {c}] = {arr[r, c]!r}")
            observed &= arr != -1
        else:
            observed = arr != -1
        rows, cols = np.nonzero(observed)  # row-major: sorted by example, then annotator
        labels = arr[rows, cols].astype(np.int64)
        if labels.size and labels.min() < 0:
            i = int(np.argmin(labels))
            raise ValueError(f"annotations must be -1 (missing) or a class index >= 0; "
                             f"annotations[{rows[i]}, {cols[i]}] = {labels[i]}")
        k = _num_classes(labels, num_classes)
        if labels.size and labels.max() >= k:
            i = int(np.argmax(labels))
            raise ValueError(f"annotations must lie in [0, {k}) (K = {k} classes) or be -1; "
                             f"annotations[{rows[i]}, {cols[i]}] = {labels[i]}")
        names = None
        if class_names is not None:  # integer classes with names
            from labelnoise._validation import validate_class_names

            names = list(validate_class_names(class_names))
            _check_k_of_names(num_classes, names)
            if labels.size and labels.max() >= len(names):
                i = int(np.argmax(labels))
                raise ValueError(f"annotations[{rows[i]}, {cols[i]}] = {labels[i]} is not a "
                                 f"class of the {len(names)} class_names")
            k = len(names)
        return cls(rows.astype(np.int64), cols.astype(np.int64), labels, int(arr.shape[0]),
                   int(arr.shape[1]), k, _dense_annotator_ids(annotator_ids, arr.shape[1]),
                   example_ids, names)

    @classmethod
    def _from_dense_names(cls, arr: np.ndarray, num_classes, annotator_ids, class_names,
                          example_ids):
        """:meth:`from_dense` for a matrix of labels as names (None / NaN / "" missing)."""
        import pandas as pd

        flat = arr.astype(object).ravel()
        missing = pd.isna(flat) | np.fromiter((isinstance(v, str) and not v.strip()
                                               for v in flat), dtype=bool, count=flat.size)
        idx = np.flatnonzero(~missing)  # row-major: sorted by example, then annotator
        if idx.size == 0:
            raise ValueError("annotations hold no labels (every cell is missing)")
        if all(isinstance(v, numbers.Number) and not isinstance(v, (bool, np.bool_))
               for v in flat[idx]):  # numbers stored as objects (columns with gaps): indices
            return cls.from_dense(np.where(missing, np.nan, flat).reshape(arr.shape)
                                  .astype(np.float64), num_classes=num_classes,
                                  annotator_ids=annotator_ids, class_names=class_names,
                                  example_ids=example_ids)
        codes, names, _ = encode_labels(flat[idx], class_names=class_names,
                                        name="annotations")
        _check_k_of_names(num_classes, names)
        rows, cols = np.divmod(idx, arr.shape[1])
        return cls(rows.astype(np.int64), cols.astype(np.int64), codes.astype(np.int64),
                   int(arr.shape[0]), int(arr.shape[1]), len(names),
                   _dense_annotator_ids(annotator_ids, arr.shape[1]), example_ids, list(names))

    @classmethod
    def from_long(cls, example_ids, annotator_ids, labels, *, num_classes: int | None = None,
                  n_examples: int | None = None, class_names=None) -> Annotations:
        """From a long table with one row per annotation: (example id, annotator id, label).

        Args:
            example_ids: (L,) example of each annotation. Non-negative integers are used as
                row indices directly (N = ``n_examples`` or the largest id + 1; rows no one
                labelled stay empty); any other ids (strings, ...) are mapped to rows in
                sorted order and kept in ``example_ids`` of the result.
            annotator_ids: (L,) annotator of each annotation (any hashable values); columns
                are the sorted unique ids, kept in ``annotator_ids`` of the result (the
                annotator id order).
            labels: (L,) class indices in [0, K), or labels as people have them (strings,
                booleans, a pandas categorical): their sorted distinct values are the
                classes unless ``class_names`` gives them
                (:func:`labelnoise._validation.encode_labels`, the rule of every labelnoise
                input), and the result keeps them in ``class_names``.
            num_classes: K (default: the largest label + 1, or the number of class names).
            n_examples: N, for integer example ids (default: the largest id + 1).
            class_names: optional K class names in the order of the classes (e.g. of a
                model's pred_probs columns for ``method="model_aware"``); classes no
                annotator used are allowed.

        Ids of one argument must all be of one type: strings and numbers mixed (e.g.
        ``["w1", 2]``, or a table column read with some ids as text and some as numbers) are
        refused, not cast, because numpy would silently turn ``2`` into ``"2"`` and merge it
        with a string id ``"2"``; cast them yourself (e.g. all to ``str``) if that is meant.

        Raises:
            ValueError: lengths differ, bad labels (a name not in ``class_names``),
                ``num_classes`` or ``n_examples`` not an integer (>= 2, >= 1), a
                ``num_classes`` other than the number of class names, missing (None/NaN) or
                infinite ids, ``example_ids`` or
                ``annotator_ids`` mixing id types (the message names the argument and two
                positions of different types), negative or too large integer example ids,
                or one annotator labelling one example twice (names the pair).
        """
        if num_classes is not None:
            num_classes = _check_int(num_classes, "num_classes", 2)
        if n_examples is not None:
            n_examples = _check_int(n_examples, "n_examples", 1)
        lab, names, _ = encode_labels(labels, class_names=class_names, name="labels")
        if names is None:  # class indices: checked against num_classes too
            lab = validate_labels(lab, num_classes=num_classes, name="labels")
        else:
            names = list(names)
            _check_k_of_names(num_classes, names)
            num_classes = len(names)
        ex = _validate_ids(example_ids, "example_ids")
        an = _validate_ids(annotator_ids, "annotator_ids")
        if ex.ndim != 1 or an.ndim != 1 or ex.shape[0] != lab.shape[0] or an.shape[0] != lab.shape[0]:
            raise ValueError(f"example_ids, annotator_ids and labels must be 1-D of equal length; "
                             f"got shapes {ex.shape}, {an.shape}, {lab.shape}")
        k = _num_classes(lab, num_classes)
        if np.issubdtype(ex.dtype, np.integer):
            if ex.min() < 0:
                raise ValueError(f"integer example_ids must be >= 0; got {int(ex.min())}")
            n = int(ex.max()) + 1 if n_examples is None else int(n_examples)
            if ex.max() >= n:
                raise ValueError(f"example_ids must be < n_examples = {n}; got {int(ex.max())}")
            ex_index, ex_names = ex.astype(np.int64), None
        else:
            ex_names, ex_index = np.unique(ex, return_inverse=True)
            n = ex_names.shape[0]
        an_names, an_index = np.unique(an, return_inverse=True)
        order = np.lexsort((an_index, ex_index))
        e, a, lab = ex_index[order], an_index[order].astype(np.int64), lab[order]
        dup = (e[1:] == e[:-1]) & (a[1:] == a[:-1])
        if dup.any():
            i = int(np.flatnonzero(dup)[0])
            name_e = ex_names[e[i]] if ex_names is not None else e[i]
            raise ValueError(f"annotator {_py(an_names[a[i]])!r} labelled example "
                             f"{_py(name_e)!r} more than once; keep one label per "
                             "(example, annotator)")
        return cls(e, a, lab, n, int(an_names.shape[0]), k, an_names, ex_names, names)

    def design_matrix(self) -> sp.csr_matrix:
        """Sparse (N, M*K) float64 one-hot matrix with a 1 at (n, m*K + label)."""
        n, m, k = self.n_examples, self.n_annotators, self.num_classes
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.example, minlength=n), out=indptr[1:])
        cols = self.annotator * k + self.label
        return sp.csr_matrix((np.ones(self.n_labels), cols, indptr), shape=(n, m * k))


def _check_k_of_names(num_classes: int | None, names: list) -> None:
    """With class names K is their number: refuse another ``num_classes`` (a number names
    no class)."""
    if num_classes is not None and num_classes != len(names):
        raise ValueError(f"num_classes {num_classes}, but the labels name {len(names)} classes "
                         f"({', '.join(map(str, names[:10]))}); with class names K is their "
                         "number: give class_names to add classes that no annotator used")


def _dense_annotator_ids(annotator_ids, m: int) -> np.ndarray | None:
    """The (M,) annotator ids of a dense matrix's columns, checked, or None."""
    return None if annotator_ids is None else _distinct_ids(annotator_ids, m, "annotator_ids",
                                                            "columns")


def _distinct_ids(ids, n: int, name: str, what: str) -> np.ndarray:
    """``ids`` as an (n,) array: 1-D of length ``n``, of one type, distinct (the message
    names the first repeated id and two of its ``what``)."""
    if np.ndim(ids) != 1 or len(ids) != n:
        raise ValueError(f"{name} must have shape ({n},), got {np.shape(ids)}")
    ids = _validate_ids(ids, name)
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        dup = int(np.flatnonzero(counts > 1)[0])
        at = np.flatnonzero(ids == uniq[dup])[:2].tolist()
        raise ValueError(f"{name} must be distinct; {_py(uniq[dup])!r} names {what} {at[0]} "
                         f"and {at[1]}")
    return ids


def _py(x):
    """A numpy scalar as the Python value (for readable messages); anything else as is."""
    return x.item() if isinstance(x, np.generic) else x


def _num_classes(labels: np.ndarray, num_classes: int | None) -> int:
    if num_classes is not None:
        return _check_int(num_classes, "num_classes", 2)
    if labels.size == 0:
        raise ValueError("annotations hold no labels; give num_classes or some labels")
    return max(2, int(labels.max()) + 1)


def _as_annotations(annotations, num_classes: int | None) -> Annotations:
    if isinstance(annotations, Annotations):
        if num_classes is not None and num_classes != annotations.num_classes:
            return annotations.with_num_classes(num_classes)
        return annotations
    if sp.issparse(annotations):
        raise ValueError("annotations must be a dense (N, M) array with -1 for missing or an "
                         "Annotations object (a scipy sparse matrix cannot tell class 0 "
                         "from missing)")
    return Annotations.from_dense(annotations, num_classes=num_classes)



def _require_all_labelled(ann: Annotations) -> None:
    missing = np.flatnonzero(ann.labels_per_example() == 0)
    if missing.size:
        raise ValueError(
            f"{missing.size} example(s) have no label from any annotator (first: example "
            f"{int(missing[0])}); drop them, or give pred_probs with method='model_aware' so "
            "that the model alone decides them"
        )


def _subset_examples(ann: Annotations, keep: np.ndarray) -> Annotations:
    new_index = np.cumsum(keep) - 1
    return Annotations(new_index[ann.example], ann.annotator, ann.label, int(keep.sum()),
                       ann.n_annotators, ann.num_classes, ann.annotator_ids, None,
                       ann.class_names)


def _overlapping_annotators(ann: Annotations) -> np.ndarray:
    """bool (M,): annotators who labelled at least one example that another annotator also
    labelled. Only their accuracy can be estimated from agreement between annotators."""
    shared = ann.labels_per_example()[ann.example] >= 2
    return np.bincount(ann.annotator[shared], minlength=ann.n_annotators) > 0
