"""``labelnoise find-issues``: rank label issues from a labels file and a pred_probs file.

With ``--multi-label`` the labels are sets of classes (a 0/1 ``.npy`` matrix, or a table
column of label lists joined by ``--label-delimiter``) and the pred_probs independent
per-class probabilities; detection is :mod:`labelnoise.multilabel`.
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from labelnoise.cli._errors import (
    Command,
    class_names_option,
    merge_class_names,
    parse_class_names,
    progress_option,
)
from labelnoise.filter import DEFAULT_FILTER, FILTERS
from labelnoise.multilabel import DEFAULT_FILTER as MULTILABEL_DEFAULT_FILTER

#: suffixes of the label files read as tables


def read_labels(path: Path, column: str | None, id_column: str | None = None,
                option: str = "--labels"):
    """Labels from a .npy file (shape (N,)) or a column of a CSV/Parquet table (``column``,
    default the first), as they are written there (strings stay strings); with
    ``id_column``, also that column of the table as the examples' ids.

    Returns:
        the labels (a numpy array, or a pandas Series for a table column, so that a
        categorical keeps its categories) when ``id_column`` is None, else
        ``(labels, ids)``.

    Raises:
        InputFileError: the file cannot be read or has no rows.
        ValueError: a column is not in the table, a missing label
            (:func:`labelnoise.datasets.tables.read_label_table`).
        click.BadParameter: ``id_column`` with a .npy file, or the suffix is not
            .npy/.csv/.tsv/.txt/.parquet/.pq.
    """
    from labelnoise._io import LABEL_TABLE_SUFFIXES, read_npy

    suffix = _labels_file_suffix(path, option, id_column)
    if suffix == ".npy":
        labels = read_npy(path, option)
        return labels if id_column is None else (labels, None)
    if suffix in LABEL_TABLE_SUFFIXES:
        from labelnoise.datasets.tables import read_label_table

        _, labels, ids = read_label_table(path, column, id_column, option)
        if id_column is None:
            return labels.to_numpy() if labels.dtype.kind in "iufb" else labels
        return labels, ids
    raise click.BadParameter(f"{path}: expected a .npy file or a .csv/.parquet table",
                             param_hint=option)


def _true_labels(path: Path, column: str, class_names):
    """The known-correct labels of ``column`` of the --labels table, as class indices in the
    order of the given labels' classes (``class_names``; None: the labels are indices)."""
    from labelnoise._validation import encode_labels

    values = read_labels(path, column, option="--labels")
    try:
        codes, _, _ = encode_labels(values, class_names=class_names,
                                    name=f"--true-label-column {column!r}")
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--true-label-column") from None
    return codes


@click.command("find-issues", cls=Command)
@click.option("--labels", "labels_path", type=click.Path(path_type=Path),
              required=True, help="Given labels: .npy of shape (N,) or a column of a CSV/Parquet "
                                  "table (any values: strings, integers).")
@click.option("--label-column", default=None, help="Column of --labels when it is a table "
                                                   "(default: the first).")
@click.option("--id-column", default=None,
              help="Column of --labels (a table) naming each example; written as example_id.")
@click.option("--true-label-column", default=None,
              help="Column of --labels (a table) with known-correct labels (e.g. the "
                   "<label>_true column of `labelnoise simulate`): prints the flags' "
                   "precision, recall, F1 and AUPRC against it and writes true_label.")
@click.option("--pred-probs", "pred_probs_paths", type=click.Path(path_type=Path),
              required=True, multiple=True,
              help="Out-of-sample pred_probs (N, K): .npy, or a CSV/Parquet table with one column "
                   "per class (a header names the classes); repeat for an ensemble (rows averaged).")
@class_names_option
@click.option("--filter-by", default=None, type=click.Choice(list(FILTERS)),
              help=f"[default: {DEFAULT_FILTER}; with --multi-label the filter of each class, "
                   f"default {MULTILABEL_DEFAULT_FILTER}]")
@click.option("--multi-label", "multi_label", is_flag=True,
              help="Each example has a set of classes: --labels is an (N, K) 0/1 .npy matrix or a "
                   "table column of label lists (class names or indices joined by "
                   "--label-delimiter, or written as [a, b]; an empty cell is the empty set), "
                   "--pred-probs holds "
                   "independent per-class probabilities in [0, 1].")
@click.option("--label-delimiter", default=None,
              help="With --multi-label: what separates the classes of one cell of a label "
                   "table [default: ,].")
@click.option("--features", "features_path", type=click.Path(path_type=Path), default=None,
              help="Embeddings of the examples, .npy (N, D) or .npz (one array named X, "
                   "features or embeddings): rank by the pred_probs mixed with "
                   "the label vote of each example's 10 nearest neighbours in them (weight by "
                   "maximum likelihood; the ranking `labelnoise audit` uses when it trains its "
                   "model). Not with --multi-label.")
@click.option("--out", "out_path", type=click.Path(path_type=Path), required=True,
              help="CSV of every example, ranked (most likely wrong first), with is_label_issue.")
@click.option("--only-issues", is_flag=True, help="Write only the flagged examples.")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@progress_option
def find_issues(labels_path, label_column, id_column, true_label_column, pred_probs_paths,
                class_names, filter_by, multi_label, label_delimiter, features_path, out_path,
                only_issues, force, progress):
    """Rank label issues from given labels and out-of-sample pred_probs.

    Writes one row per example, most likely wrong first (``labelnoise.LabelIssues.to_frame``,
    the layout of ``labelnoise audit``'s issues.csv: rank, index, [example_id], given_label,
    suggested_label, label_quality_score, is_label_issue; labels as class names when they
    are known; with --only-issues the flagged rows only); prints the estimated noise rate,
    the number of issues and the most confused class pairs. The same result as
    ``labelnoise.find_issues``.

    With --multi-label: one row per example, most likely wrong first (rank, index,
    [example_id], given_labels, suggested_labels, label_quality_score, is_label_issue, then
    one is_label_issue_<class> column per class); the same result as
    ``labelnoise.multilabel`` (``find_multilabel_issues``, ``per_class_label_issues``,
    ``multilabel_quality_scores``).

    With --features: ``labelnoise.find_issues(..., features=)``: the pred_probs (averaged
    over the files) are first mixed with the neighbours' label vote (10 neighbours, cosine
    distance); the CSV ranks by the mixture and the vote's weight is printed.
    """
    from rich.console import Console
    from rich.table import Table

    from labelnoise._io import check_output_file, read_pred_probs, write_csv
    from labelnoise.cli._tables import top_suspects
    from labelnoise.issues import find_issues as detect

    del progress  # detection shows no progress bar
    if label_delimiter is not None and not multi_label:
        raise click.BadParameter("is only used with --multi-label", param_hint="--label-delimiter")
    if label_delimiter == "":
        raise click.BadParameter("must not be empty", param_hint="--label-delimiter")
    if features_path is not None and multi_label:
        raise click.BadParameter("is not used with --multi-label", param_hint="--features")
    if true_label_column is not None and multi_label:
        raise click.BadParameter("is not used with --multi-label",
                                 param_hint="--true-label-column")
    if true_label_column is not None and labels_path.suffix.lower() == ".npy":
        raise click.BadParameter("names a column of a --labels table; --labels is a .npy",
                                 param_hint="--true-label-column")
    check_output_file(out_path, "--out", force=force)
    names = parse_class_names(class_names)
    if multi_label:
        _find_multilabel_issues(labels_path, label_column, id_column, pred_probs_paths, names,
                                filter_by, label_delimiter or ",", out_path, only_issues)
        return
    filter_by = filter_by or DEFAULT_FILTER
    if id_column:
        labels, ids = read_labels(labels_path, label_column, id_column)
    else:
        labels, ids = read_labels(labels_path, label_column), None
    read = [read_pred_probs(p, "--pred-probs") for p in pred_probs_paths]
    names = merge_class_names(names, [r[1] for r in read])
    arrays = [r[0] for r in read]
    features = None
    if features_path is not None:
        from labelnoise.audit import _read_features

        features = _read_features(features_path, len(labels))
    result = detect(labels, arrays if len(arrays) > 1 else arrays[0], class_names=names,
                    filter_by=filter_by, features=features)
    true = None if true_label_column is None else _true_labels(
        labels_path, true_label_column, result.class_names)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    write_csv(out_path, result.to_frame(only_issues=only_issues, example_ids=ids,
                                        true_labels=true))

    console = Console()
    n, noise = result.num_examples, result.noise
    console.print(f"[bold]{n:,}[/] examples, [bold]{noise.confident_joint.shape[0]}[/] classes")
    console.print(f"estimated noise rate: [bold]{noise.noise_rate:.2%}[/] "
                  f"({noise.num_label_issues:,} examples, confident learning)")
    if result.mixture_weight is not None:
        weight = result.mixture_weight
        kind = "mostly class-conditional" if weight >= 0.5 else "mostly instance-dependent"
        console.print(f"noise model: class-conditional weight [bold]{weight:.2f}[/] ({kind})")
    if result.neighbour_vote_weight is not None:
        console.print(f"neighbour vote: [bold]{result.neighbour_vote_weight:.3f}[/] of the "
                      "ranking's probabilities from the labels of each example's nearest "
                      f"neighbours in --features {features_path}")
    console.print(f"label issues found ({filter_by}): [bold]{result.num_issues:,}[/] "
                  f"({result.num_issues / n:.2%})")
    if true is not None:
        from labelnoise.audit import detection_metrics

        m = detection_metrics(result.labels, true, result.is_label_issue,
                              result.label_quality_scores)
        console.print(f"against --true-label-column {true_label_column!r}: true noise rate "
                      f"{m['true_noise_rate']:.4f}; precision / recall / F1 {m['precision']:.4f}"
                      f" / {m['recall']:.4f} / {m['f1']:.4f}; AUPRC {m['auprc']:.4f}",
                      soft_wrap=True)
    table = Table(title="most confused class pairs (confident joint)")
    for col in ("given", "true (estimated)", "count"):
        table.add_column(col, justify="right")
    for g, t, c in result.confused_pairs(top=5):
        table.add_row(str(result.class_name(g)), str(result.class_name(t)), f"{c:,}")
    console.print(table)
    suspects = top_suspects(result, ids)
    if suspects is not None:
        console.print(suspects)
    console.print(f"wrote {out_path}")


# ------------------------------------------------------------------------- multi-label


def _is_int_token(token: str) -> bool:
    return token.lstrip("-").isdigit()


def _cell_tokens(value, delimiter: str) -> list[str]:
    """The class tokens of one table cell: NaN/None/empty -> []; a list (a Parquet list
    column) -> its items; text -> the stripped parts between ``delimiter``, a cell written
    as a Python list (``[0, 2]``, ``['cat', 'dog']``, as pandas writes list cells) read
    without its brackets and quotes."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return [str(v.item() if isinstance(v, np.generic) else v).strip() for v in value]
    if value is None or (isinstance(value, float) and value != value):
        return []
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)  # a numeric column read as floats because of an empty cell
    text = str(value).strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
        parts = [t.strip().strip("'\"") for t in text.split(",")]
        return [t for t in parts if t]
    return [t.strip() for t in text.split(delimiter) if t.strip()]


def parse_label_lists(cells, delimiter: str, num_classes: int, class_names: list | None,
                      option: str = "--labels") -> tuple[list[list[int]], list | None]:
    """Label lists (class indices) from the cells of a table column.

    Each cell holds the classes of one example joined by ``delimiter`` (an empty cell: no
    class; see :func:`_cell_tokens` for list cells). Rules: with ``class_names``, tokens are looked up by name (``str`` equality);
    when the names are not all integers and every token is an integer, tokens are indices
    into ``class_names``. Without names, integer tokens are indices; otherwise the sorted
    distinct tokens are the classes and there must be K of them.

    Returns:
        (label lists, the K class names or None).

    Raises:
        click.BadParameter: a token that is not a class name, or names to infer that do
            not number K (the message names the row and token).
    """
    rows = [_cell_tokens(v, delimiter) for v in cells]
    tokens = sorted({t for r in rows for t in r})
    all_int = all(_is_int_token(t) for t in tokens)
    names = class_names
    if names is None and not all_int:
        if len(tokens) != num_classes:
            raise click.BadParameter(
                f"the label lists name {len(tokens)} distinct classes but pred_probs has K = "
                f"{num_classes} columns; give the classes in column order with --class-names",
                param_hint=option)
        names = tokens
    if names is None or (all_int and not all(isinstance(n, int) for n in names)):
        return [[int(t) for t in r] for r in rows], names
    index = {str(n): i for i, n in enumerate(names)}
    out = []
    for i, r in enumerate(rows):
        codes = []
        for t in r:
            if t not in index:
                shown = names if len(names) <= 12 else [*names[:12], "..."]
                raise click.BadParameter(f"row {i}: {t!r} is not one of the classes {shown}",
                                         param_hint=option)
            codes.append(index[t])
        out.append(codes)
    return out, names


def _labels_file_suffix(path: Path, option: str, id_column: str | None) -> str:
    """The lower-case suffix of a labels file, after refusing a missing file or folder
    (InputFileError naming ``option``) and ``--id-column`` with a .npy array."""
    from labelnoise._io import InputFileError

    if not path.is_file():
        raise InputFileError(f"{option} {path}: " + ("is a folder, expected a file"
                                                      if path.is_dir() else "file not found"))
    suffix = path.suffix.lower()
    if suffix == ".npy" and id_column is not None:
        raise click.BadParameter(f"{path} is a .npy array; --id-column needs the labels in a "
                                 "CSV/Parquet table", param_hint="--id-column")
    return suffix


def _read_multilabel_labels(path: Path, column: str | None, id_column: str | None,
                            delimiter: str, num_classes: int, names: list | None):
    """(labels: label lists or an (N, K) matrix, class names or None, ids or None)."""
    from labelnoise._io import LABEL_TABLE_SUFFIXES, read_npy

    suffix = _labels_file_suffix(path, "--labels", id_column)
    if suffix == ".npy":
        matrix = read_npy(path, "--labels")
        if matrix.ndim == 1:
            raise click.BadParameter(f"{path.name} holds one class per example (shape "
                                     f"{matrix.shape}): that is multi-class; drop --multi-label "
                                     "(a multi-label .npy is an (N, K) 0/1 matrix)",
                                     param_hint="--labels")
        return matrix, names, None
    if suffix not in LABEL_TABLE_SUFFIXES:
        raise click.BadParameter(f"{path}: expected a .npy 0/1 matrix or a .csv/.parquet table",
                                 param_hint="--labels")
    from labelnoise.datasets.tables import read_label_table

    _, labels, ids = read_label_table(path, column, id_column, "--labels", multi_label=True)
    lists, names = parse_label_lists(labels.tolist(), delimiter, num_classes, names)
    return lists, names, ids


def _multilabel_frame(det, names: list | None, ids, delimiter: str, only_issues: bool):
    """issues.csv of --multi-label as a pandas DataFrame (see :func:`find_issues`)."""
    import pandas as pd

    n, k = det.labels.shape
    shown = [str(c) for c in names] if names is not None else [str(c) for c in range(k)]
    order = det.ranking[det.is_label_issue[det.ranking]] if only_issues else det.ranking

    def joined(matrix: np.ndarray) -> list[str]:
        return [delimiter.join(shown[c] for c in np.flatnonzero(row)) for row in matrix]

    cols = {"rank": np.arange(1, order.size + 1, dtype=np.int64), "index": order}
    if ids is not None:
        cols["example_id"] = np.asarray(ids)[order]
    given = det.labels[order]
    cols["given_labels"] = joined(given)
    cols["suggested_labels"] = joined(given ^ det.per_class_issues[order])
    cols["label_quality_score"] = det.label_quality_scores[order]
    cols["is_label_issue"] = det.is_label_issue[order]
    for c in range(k):
        cols[f"is_label_issue_{shown[c]}"] = det.per_class_issues[order, c]
    return pd.DataFrame(cols)


def _find_multilabel_issues(labels_path: Path, label_column, id_column, pred_probs_paths,
                            names: list | None, filter_by, delimiter: str, out_path: Path,
                            only_issues: bool) -> None:
    """``find-issues --multi-label``: read, detect (:func:`labelnoise.multilabel._detect`),
    write issues.csv atomically, print a summary."""
    from rich.console import Console
    from rich.table import Table

    from labelnoise import multilabel
    from labelnoise._io import read_pred_probs, write_csv

    filter_by = filter_by or MULTILABEL_DEFAULT_FILTER
    read = [read_pred_probs(p, "--pred-probs", mmap=False) for p in pred_probs_paths]
    names = merge_class_names(names, [r[1] for r in read])
    if len(read) == 1:
        pred_probs = read[0][0]
    else:  # an ensemble: the mean of the members' per-class probabilities
        members = [multilabel.validate_multilabel_pred_probs(r[0], name=f"pred_probs[{m}]",
                                                             num_rows=read[0][0].shape[0],
                                                             num_classes=np.shape(read[0][0])[1])
                   for m, r in enumerate(read)]
        pred_probs = np.mean(members, axis=0)
    num_classes = np.shape(pred_probs)[1] if np.ndim(pred_probs) == 2 else 0
    if names is not None and len(names) != num_classes:
        raise click.BadParameter(f"{len(names)} class names for K = {num_classes} pred_probs "
                                 "columns", param_hint="--class-names")
    labels, names, ids = _read_multilabel_labels(labels_path, label_column, id_column, delimiter,
                                                 num_classes, names)
    det = multilabel._detect(labels, pred_probs, filter_by=filter_by)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    write_csv(out_path, _multilabel_frame(det, names, ids, delimiter, only_issues))

    console = Console()
    n, k = det.labels.shape
    num = int(det.is_label_issue.sum())
    console.print(f"[bold]{n:,}[/] examples, [bold]{k}[/] classes (multi-label), "
                  f"{det.labels.sum():,} annotations")
    console.print(f"examples with label issues ({filter_by}, per class): [bold]{num:,}[/] "
                  f"({num / n:.2%}); class annotations flagged: {int(det.per_class_issues.sum()):,}")
    table = Table(title="classes with the most flagged annotations")
    for col in ("class", "annotated", "flagged as missing", "flagged as wrongly given"):
        table.add_column(col, justify="right")
    missing = (det.per_class_issues & ~det.labels).sum(axis=0)
    extra = (det.per_class_issues & det.labels).sum(axis=0)
    for c in np.argsort(-(missing + extra), kind="stable")[:10]:
        if missing[c] + extra[c] == 0:
            break
        table.add_row(str(names[c] if names is not None else c), f"{int(det.labels[:, c].sum()):,}",
                      f"{int(missing[c]):,}", f"{int(extra[c]):,}")
    console.print(table)
    console.print(f"wrote {out_path}")
