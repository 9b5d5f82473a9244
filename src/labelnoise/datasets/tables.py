"""Tabular data (CSV / Parquet via pandas) and precomputed embeddings (.npz)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from labelnoise.datasets.container import LabeledDataset


def _sorted_classes(values) -> list:
    """Distinct values sorted (numbers numerically, anything else by its string)."""
    from labelnoise._validation import sorted_classes

    return sorted_classes(values)


def label_codes(values) -> tuple[np.ndarray, list]:
    """A table's label column as class indices: ``(codes, classes)``, the classes being its
    distinct values sorted (numbers numerically, anything else by its string) and the codes
    int64 (N,) indices into them. The one rule for a table's classes (:func:`load_table`,
    ``labelnoise simulate``), so that a noise matrix given in that order means the classes
    the audit sees. The values must not be missing (callers check)."""
    values = values.tolist() if hasattr(values, "tolist") else list(values)
    classes = _sorted_classes(values)
    index = {v: i for i, v in enumerate(classes)}
    return np.fromiter((index[v] for v in values), dtype=np.int64, count=len(values)), classes


def load_table(path: str | os.PathLike, label_column: str,
               feature_columns: Sequence[str] | None = None, *,
               true_label_column: str | None = None,
               id_column: str | None = None,
               text_columns: Sequence[str] | None = None,
               encoding: dict | None = None,
               keep_frame: bool = False,
               progress: bool = False) -> LabeledDataset:
    """A CSV (``.csv``, ``.tsv``) or Parquet (``.parquet``, ``.pq``) table.

    Args:
        path: the file.
        label_column: the column of given labels (any type). ``class_names`` are its
            distinct values, sorted (numbers numerically), as strings; ``labels`` index into
            them.
        feature_columns: the feature columns; default every column except the label and id
            columns: numbers (booleans as 0/1) as they are, other columns with at most
            ``MAX_CATEGORIES`` distinct values one-hot encoded, the rest (free text, ids) left
            out with a :class:`TableWarning`. Non-numeric columns given here are one-hot
            encoded. Text columns are never among them.
        true_label_column: an optional column of clean labels (same classes).
        id_column: an optional column naming each example (a row id such as
            ``bottle_id``); never a feature; its values are ``info["example_ids"]``.
        text_columns: free-text columns (a list of names) to embed with
            :func:`labelnoise.text.embed_texts` (all-MiniLM-L6-v2 sentence embeddings, 384
            float32 values per column, unit norm, offline; needs
            ``pip install "labelnoise[text]"``); each becomes 384 features after the numeric
            and one-hot ones. Every row needs a string there.
        encoding: the feature encoding of another table, its ``info["encoding"]``, for test or
            new data: the same feature columns (numeric ones as numbers, categorical ones
            one-hot over that table's categories, a value it did not have giving all zeros),
            so that the inputs have that table's columns in its order. Without it the
            categories are this table's own, and a test table with other categories would
            get other columns (scikit-learn's fit on train, transform on test).
        keep_frame: also return the feature and text columns as read (before encoding) as
            ``info["frame"]``, a pandas DataFrame, e.g. to show the values as written
            beside each example (the audit's report); off by default, as it keeps a copy
            of the table in memory.
        progress: show the embedding's progress bar (with ``text_columns``).

    Returns:
        :class:`LabeledDataset` with ``inputs`` float64 (N, D) (the numeric columns, then
        the one-hot columns, then 384 embedding values per text column), ``labels`` int64
        (N,), ``true_labels`` int64 (N,) or ``None``; ``info["feature_columns"]`` (the
        numeric and categorical columns), ``info["categorical_columns"]``,
        ``info["text_columns"]``, ``info["encoded_features"]`` (the D input names; a text
        column's are ``<column>_emb_000`` .. ``<column>_emb_383``), ``info["text_model"]``
        (with text columns: the model and package versions),
        ``info["example_ids"]`` (an (N,) array, with ``id_column``),
        ``info["id_column"]`` and ``info["encoding"]`` (a JSON-able dict: ``feature_columns``,
        ``categorical_columns``, ``categories`` per categorical column; give it as
        ``encoding`` to encode another table the same way); with ``keep_frame``,
        ``info["frame"]``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: unknown suffix, a missing column, missing labels, a missing or infinite
            value in a numeric feature column, true labels outside the given labels'
            classes; ``text_columns`` not a list of names, naming a label, id or feature
            column or one twice, or a text column with a missing or non-text value (the
            message names the column and the row); ``feature_columns`` a single string,
            naming a label or the id column or one twice; no feature column at all;
            ``encoding`` with ``feature_columns``, or a column of ``encoding`` that is
            numeric there and not here.
        labelnoise.text.MissingTextExtraError: (an ``ImportError``) ``text_columns`` given
            but the ``labelnoise[text]`` packages are not installed.
    """


    p, df = _read(path)
    if true_label_column is not None and true_label_column == label_column:
        raise ValueError(f"true_label_column {true_label_column!r} is the label column itself; "
                         "give the column of known-correct labels")
    label_cols = [c for c in (label_column, true_label_column) if c is not None]
    if id_column is not None and id_column in label_cols:
        raise ValueError(f"id column {id_column!r} is also a label column")
    text_columns = _text_columns(text_columns, label_cols, id_column, feature_columns)
    if feature_columns is not None:
        feature_columns = column_names(feature_columns, "feature_columns") or []
        for i, c in enumerate(feature_columns):
            if c in label_cols:  # the label among the inputs: a model that reads its answer
                raise ValueError(f"feature column {c!r} (--feature-column) is a label column")
            if id_column is not None and c == id_column:
                raise ValueError(f"feature column {c!r} (--feature-column) is also the id column")
            if c in feature_columns[:i]:
                raise ValueError(f"feature column {c!r} (--feature-column) is named twice")
    for c in (label_cols + list(feature_columns or []) + ([id_column] if id_column else [])
              + text_columns):
        if c not in df.columns:
            raise ValueError(f"column {c!r} not in {p.name} (columns: {list(df.columns)})")
    for c in label_cols:
        check_labels_present(df[c], c)
    if id_column is not None:
        _warn_repeated_ids(df[id_column], id_column)
    categories = None
    if encoding is not None:
        if feature_columns is not None:
            raise ValueError("give feature_columns or encoding (another table's), not both")
        feature_columns, categorical, categories = _check_encoding(encoding, df, p.name)
    else:
        feature_columns, categorical = _feature_columns(df, feature_columns, label_cols,
                                                        id_column, p.name, text_columns)
    labels, classes = label_codes(df[label_column])
    index = {v: i for i, v in enumerate(classes)}
    true_labels = None
    if true_label_column is not None:
        unknown = set(df[true_label_column]) - set(index)
        if unknown:
            raise ValueError(
                f"true_label_column {true_label_column!r} has classes not in {label_column!r}: "
                f"{sorted(map(str, unknown))[:5]}"
            )
        true_labels = np.fromiter((index[v] for v in df[true_label_column]), dtype=np.int64,
                                  count=len(df))
    inputs, encoded, categories, text_info = _encode(df, p.name, feature_columns, categorical,
                                                     categories, text_columns, progress)
    return LabeledDataset(
        inputs=inputs,
        labels=labels,
        true_labels=true_labels,
        class_names=[str(c) for c in classes],
        source=str(p),
        info={"dataset": "table", "feature_columns": feature_columns,
              "categorical_columns": categorical, "text_columns": list(text_columns),
              "encoding": {"feature_columns": list(feature_columns),
                           "categorical_columns": list(categorical),
                           "categories": categories or {}},
              "encoded_features": encoded, **text_info,
              **({"id_column": id_column, "example_ids": df[id_column].to_numpy()}
                 if id_column is not None else {}),
              **({"frame": df[list(feature_columns) + list(text_columns)]}
                 if keep_frame else {})},
    )


def read_label_table(path: str | os.PathLike, label_column: str | None = None,
                     id_column: str | None = None, option: str = "--labels", *,
                     multi_label: bool = False):
    """A table of given labels as ``labelnoise find-issues`` / ``audit --labels`` read it:
    the labels of ``label_column`` (default the first column), as written (strings stay
    strings, a categorical keeps its categories), and the ids of ``id_column``.

    Args:
        path: a CSV/TSV/Parquet file (:func:`labelnoise._io.read_table`).
        label_column, id_column: column names (None: the first column / no ids).
        option: how the file is named in messages (the CLI option).
        multi_label: the cells are label lists, where an empty cell is the empty list (read
            as ``""``, not as missing; CSV/TSV only) and no label is missing.

    Returns:
        ``(frame, labels, ids)``: the pandas DataFrame as read, the labels as a pandas
        Series (index 0..N-1), the ids as an (N,) array or None.

    Raises:
        labelnoise._io.InputFileError: the file cannot be read or has no rows.
        ValueError: a named column is not in the table; a label is missing (NaN, None,
            empty cell), with their count; (a TableWarning, not an error: ids that repeat).
    """
    from labelnoise._io import read_table

    text = Path(path).suffix.lower() not in (".parquet", ".pq")
    frame = (read_table(path, option, keep_default_na=False, na_values=[""])
             if multi_label and text else read_table(path, option))
    col = label_column if label_column is not None else frame.columns[0]
    for c, flag in ((col, "--label-column"), (id_column, "--id-column")):
        if c is not None and c not in frame.columns:
            raise ValueError(f"{option} {path}: column {c!r} ({flag}) is not in the table "
                             f"(columns: {list(frame.columns)})")
    labels = frame[col].reset_index(drop=True)
    if not multi_label:
        check_labels_present(labels, col, f"{option} {path}: ")
    if id_column is not None:
        _warn_repeated_ids(frame[id_column], id_column)
    return frame, labels, None if id_column is None else frame[id_column].to_numpy()


def check_labels_present(labels, column, where: str = "") -> None:
    """ValueError when a label of ``column`` (a pandas Series) is missing (NaN, None, pd.NA),
    naming the first row and their count; ``where`` starts the message (a file, an option)."""
    missing = labels.isna().to_numpy()
    if missing.any():
        rows = np.flatnonzero(missing)
        raise ValueError(f"{where}label column {column!r} has a missing value in row "
                         f"{int(rows[0])} ({len(rows)} of {len(labels)} rows have none; keep "
                         f"the labelled rows only, e.g. pandas' dropna(subset=[{column!r}]))")


def _warn_repeated_ids(ids, column) -> None:
    """A TableWarning when the id column ``column`` (a pandas Series) repeats a value."""
    dup = ids.duplicated(keep=False).to_numpy()
    if dup.any():
        first = ids.iloc[int(np.flatnonzero(dup)[0])]
        first = first.item() if isinstance(first, np.generic) else first
        rows = np.flatnonzero((ids == first).to_numpy())[:3].tolist()
        warnings.warn(TableWarning(
            f"id column {column!r} does not name each row once: {int(dup.sum())} rows share an "
            f"id (e.g. {first!r} in rows {rows}); the outputs keep the row index beside it"),
            stacklevel=3)


def column_names(value, name: str) -> list | None:
    """``value`` (a sequence of column names, as ``text_columns`` / ``feature_columns``) as a
    list, or None when it is None or empty.

    Raises:
        ValueError: a single string (a list was meant) or not a sequence; the message names
            ``name``.
    """
    if value is None:
        return None
    if isinstance(value, str | bytes):
        raise ValueError(f"{name} must be a list of column names, got the string {value!r} "
                         f"(use [{value!r}])")
    try:
        names = list(value)
    except TypeError:
        raise ValueError(f"{name} must be a list of column names, got "
                         f"{type(value).__name__}") from None
    return names or None


def _read(path, what: str = "table"):
    """(path, DataFrame) of a CSV/TSV/Parquet file (one-line errors naming it)."""
    from labelnoise._io import TABLE_SUFFIXES, read_table

    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"table not found: {p}")
    if p.suffix.lower() not in TABLE_SUFFIXES:  # the audit's and train's DATASET rule
        raise ValueError(f"path must end in one of {TABLE_SUFFIXES}, got {p.name!r}")
    return p, read_table(p, what)


def _text_columns(text_columns, label_cols, id_column, feature_columns) -> list[str]:
    """``text_columns`` as a list of distinct names that are not label, id or feature
    columns (one-line ValueErrors naming the argument)."""
    names = column_names(text_columns, "text_columns") or []
    for c in names:
        if c in label_cols:
            raise ValueError(f"text column {c!r} (--text-column) is also a label column")
        if id_column is not None and c == id_column:
            raise ValueError(f"text column {c!r} (--text-column) is also the id column")
        if feature_columns is not None and c in list(feature_columns):
            raise ValueError(f"text column {c!r} is also in feature_columns; name it in one "
                             "of the two")
    seen = set()
    for c in names:
        if c in seen:
            raise ValueError(f"text column {c!r} (--text-column) is named twice")
        seen.add(c)
    return names


def _encode(df, file_name: str, feature_columns, categorical, categories, text_columns,
            progress: bool):
    """(inputs float64 (N, D), encoded feature names, categories per categorical column,
    text-model info) of a table: numbers as they are, categorical columns one-hot (over
    ``categories`` when given, else their own), then 384 embedding values per text column."""
    numeric = [c for c in feature_columns if c not in categorical]
    inputs = df[numeric].to_numpy(dtype=np.float64) if numeric else None
    if inputs is not None:
        bad = ~np.isfinite(inputs)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise ValueError(f"{file_name}: feature column {numeric[col]!r} has a missing, "
                             f"NaN or infinite value in row {int(row)}")
    encoded = list(numeric)
    if categorical:
        from sklearn.preprocessing import OneHotEncoder

        enc = OneHotEncoder(categories="auto" if categories is None else
                            [categories[c] for c in categorical],
                            handle_unknown="ignore", sparse_output=False, dtype=np.float64)
        cats = df[categorical].astype(object).where(df[categorical].notna(), "(missing)")
        with warnings.catch_warnings():  # a category of the training table only: all zeros
            warnings.filterwarnings("ignore", message="Found unknown categories")
            onehot = enc.fit_transform(cats.astype(str))
        categories = {c: [str(v) for v in cats_c] for c, cats_c in zip(categorical,
                                                                       enc.categories_)}
        encoded += [str(n) for n in enc.get_feature_names_out(categorical)]
        inputs = onehot if inputs is None else np.hstack([inputs, onehot])
    if inputs is None and not text_columns:
        raise ValueError(f"{file_name} has no feature column (columns: {list(df.columns)}; the "
                         "label, id and free-text-like columns are not features)")
    text_info = {}
    if text_columns:
        from labelnoise import text

        for c in text_columns:  # every column checked before the model is loaded
            text._check_texts(df[c], f"{file_name}: text column {c!r}")
        blocks = [text.embed_texts(df[c], progress=progress,
                                   name=f"{file_name}: text column {c!r}").astype(np.float64)
                  for c in text_columns]
        encoded += [f"{c}_emb_{j:03d}" for c in text_columns for j in range(text.EMBEDDING_DIM)]
        inputs = np.hstack(([] if inputs is None else [inputs]) + blocks)
        text_info = {"text_model": text.model_description()}
    return inputs, encoded, categories or {}, text_info


def _check_encoding(encoding, df, file_name: str) -> tuple[list, list, dict]:
    """(feature columns, categorical columns, categories) of a table's ``info["encoding"]``,
    checked against the table ``df`` (each column present, numeric where it was)."""
    import pandas as pd

    try:
        features = list(encoding["feature_columns"])
        categorical = list(encoding["categorical_columns"])
        categories = {c: [str(v) for v in encoding["categories"][c]] for c in categorical}
    except (TypeError, KeyError) as exc:
        raise ValueError(f"encoding must be a table's info['encoding'] (feature_columns, "
                         f"categorical_columns, categories); {exc!r} is missing") from None
    if not set(categorical) <= set(features):
        raise ValueError("encoding: its categorical_columns must be among its feature_columns")
    for c in features:
        if c not in df.columns:
            raise ValueError(f"column {c!r} (a feature of the training table) not in "
                             f"{file_name} (columns: {list(df.columns)})")
        if c not in categorical and not pd.api.types.is_numeric_dtype(df[c]):
            raise ValueError(f"{file_name}: feature column {c!r} is numeric in the training "
                             f"table but holds non-numbers here ({df[c].dtype})")
    return features, categorical, categories


class TableWarning(UserWarning):
    """Something about a table's columns worth saying: a column not used as a feature (it
    looks like free text or an id; ``text_columns=`` / ``--text-column`` embeds free text
    instead), or an id column whose values repeat."""


#: a non-numeric column with at most this many distinct values (and fewer than half the
#: rows) is one-hot encoded by default; one with more looks like free text or an id
MAX_CATEGORIES = 50


def _feature_columns(df, feature_columns, label_cols, id_column, file_name, text_columns=()):
    """(feature columns in table order, the non-numeric ones among them, one-hot encoded).

    Default: every column but the labels and the id; numeric and boolean columns as
    numbers, other columns one-hot (scikit-learn's OneHotEncoder; a missing value is a
    category of its own) when they have at most ``MAX_CATEGORIES`` distinct values and fewer
    than half the rows, else left out with a :class:`TableWarning` naming them (free text
    or ids; no column is dropped silently). Columns given explicitly are all used:
    non-numeric ones one-hot encoded whatever their number of values. Text columns
    (``text_columns``, embedded by the caller) are never candidates.
    """
    import pandas as pd

    def is_number(c):
        return pd.api.types.is_numeric_dtype(df[c])

    if feature_columns is not None:
        feature_columns = list(feature_columns)
        return feature_columns, [c for c in feature_columns if not is_number(c)]
    candidates = [c for c in df.columns
                  if c not in label_cols and c != id_column and c not in text_columns]
    used, categorical, left_out = [], [], []
    for c in candidates:
        if is_number(c):
            used.append(c)
            continue
        distinct = df[c].nunique(dropna=False)
        if distinct <= MAX_CATEGORIES and distinct < 0.5 * len(df):
            used.append(c)
            categorical.append(c)
        else:
            left_out.append(f"{c!r} ({distinct} distinct values)")
    if left_out:
        warnings.warn(f"{file_name}: column(s) {', '.join(left_out)} look like free text or "
                      "ids and are not used as features (name an id with --id-column, embed "
                      "free text with --text-column (pip install \"labelnoise[text]\"), or "
                      "list the feature columns with --feature-column; in Python id_column=, "
                      "text_columns=, feature_columns=)", TableWarning, stacklevel=3)
    return used, categorical


def read_table_inputs(path: str | os.PathLike, encoding: dict, *,
                      label_column: str | None = None, id_column: str | None = None,
                      text_columns: Sequence[str] | None = None,
                      class_names: Sequence[str] | None = None,
                      progress: bool = False) -> tuple[np.ndarray, np.ndarray | None,
                                                       np.ndarray | None]:
    """New rows for a model trained on a table: the inputs of the table at ``path`` encoded
    as the training table was (``encoding``: its ``info["encoding"]``, see
    :func:`load_table`), with no label needed.

    Args:
        path: a ``.csv``/``.tsv``/``.parquet``/``.pq`` table.
        encoding: the training table's ``info["encoding"]``.
        label_column, id_column: the training table's; used when this table has them.
        text_columns: the training table's text columns (embedded the same way).
        class_names: the training table's class names. pandas reads an integer column with
            a missing value as floats (``3.0``); such a value is given as the class ``"3"``
            when that is a class name and ``"3.0"`` is not.
        progress: show the text embedding's progress bar.

    Returns:
        ``(inputs, labels, ids)``: float64 (N, D); the label column's values as strings (an
        object array; None for a missing value, and None when the table has no such
        column); the id column's values (None when absent).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: an unknown suffix, a feature or text column missing, a numeric feature
            column that holds non-numbers or a missing / infinite value.
    """
    p, df = _read(path)
    features, categorical, categories = _check_encoding(encoding, df, p.name)
    text_columns = list(text_columns or [])
    for c in text_columns:
        if c not in df.columns:
            raise ValueError(f"text column {c!r} (of the training table) not in {p.name} "
                             f"(columns: {list(df.columns)})")
    inputs, _, _, _ = _encode(df, p.name, features, categorical, categories, text_columns,
                              progress)
    labels = None
    if label_column is not None and label_column in df.columns:
        names = {str(n) for n in class_names or ()}

        def name(v):
            if v is None or (isinstance(v, float) and np.isnan(v)):
                return None
            if (isinstance(v, float) and v.is_integer() and str(v) not in names
                    and str(int(v)) in names):
                return str(int(v))  # an integer column that pandas read as floats
            return str(v)

        labels = np.asarray([name(v) for v in df[label_column]], dtype=object)
    ids = df[id_column].to_numpy() if id_column is not None and id_column in df.columns else None
    return inputs, labels, ids


#: the names an ``.npz``'s feature array may have (exactly one of them): ``X`` as
#: scikit-learn writes it, or what embedding code usually calls it
NPZ_FEATURE_KEYS = ("X", "features", "embeddings")


def npz_features(z, file_name: str) -> np.ndarray:
    """The feature array of an ``.npz`` (its one array named as in :data:`NPZ_FEATURE_KEYS`).

    Raises:
        ValueError: none of those names, or more than one of them (which is meant is
            unclear).
    """
    found = [k for k in NPZ_FEATURE_KEYS if k in z]
    if len(found) != 1:
        raise ValueError(
            f"{file_name} must hold one feature array named {' or '.join(map(repr, NPZ_FEATURE_KEYS))}"
            + (f"; it holds {found}, which is ambiguous" if found else f"; has {sorted(z)}"))
    return z[found[0]]


def load_embeddings(path: str | os.PathLike) -> LabeledDataset:
    """Precomputed features in a ``.npz``: the features (N, D) float, as ``X`` (or
    ``features`` / ``embeddings``, :data:`NPZ_FEATURE_KEYS`), ``labels`` (N,), and
    optionally ``true_labels`` (N,) and ``class_names`` (K,) str. Integer labels are class
    indices (into ``class_names`` when given); string (or boolean) labels are the classes
    themselves, sorted unless ``class_names`` gives their order
    (:func:`labelnoise._validation.encode_labels`, the rule of every labelnoise input).

    Read with ``allow_pickle=False`` (no code can run from the file; an array of Python
    strings saved as objects is refused, a NumPy string array is read).

    Returns:
        :class:`LabeledDataset` with ``inputs`` = the features (their float dtype kept),
        ``labels`` int64, ``true_labels`` int64 or ``None``; ``class_names`` from the file,
        the string labels, or ``"0".."K-1"``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: no feature array or several, no ``labels``, wrong shapes, non-integer
            numbers as labels, true labels not among the classes.
    """
    from labelnoise._io import read_npz
    from labelnoise._validation import encode_labels

    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"embeddings file not found: {p}")
    z = read_npz(p, "embeddings")
    X = npz_features(z, p.name)
    if "labels" not in z:
        raise ValueError(f"{p.name} must hold an array 'labels'; has {sorted(z)}")
    names = [str(s) for s in z["class_names"]] if "class_names" in z else None
    labels, names, _ = encode_labels(z["labels"], class_names=names, name="labels")
    true_labels = None
    if "true_labels" in z:
        true_labels = encode_labels(z["true_labels"], class_names=names, name="true_labels")[0]
    if X.ndim != 2 or not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        raise ValueError(f"{p.name}: the features must be a real numeric (N, D) array, got "
                         f"{X.dtype}{X.shape}")
    if not np.isfinite(X).all():
        row = int(np.flatnonzero(~np.isfinite(X).all(axis=1))[0])
        raise ValueError(f"{p.name}: the features have a NaN or infinite value in row {row}")
    if X.shape[0] != labels.shape[0]:
        raise ValueError(f"{p.name}: the features have {X.shape[0]} rows but labels has "
                         f"{labels.shape[0]} entries")
    if true_labels is not None and true_labels.shape != labels.shape:
        raise ValueError(f"true_labels has shape {true_labels.shape}, labels {labels.shape}")
    k = int(max(labels.max(), true_labels.max() if true_labels is not None else 0)) + 1
    if names is None:  # (with class_names, encode_labels checked every label against them)
        names = [str(i) for i in range(k)]
    if not np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.float64)
    return LabeledDataset(
        inputs=X, labels=labels, true_labels=true_labels, class_names=names,
        source=str(p), info={"dataset": "embeddings"},
    )
