"""``labelnoise find-issues``: rank label issues from a labels file and a pred_probs file."""

from __future__ import annotations

from pathlib import Path

import click

from labelnoise.cli._errors import (
    Command,
    class_names_option,
    merge_class_names,
    parse_class_names,
    progress_option,
)
from labelnoise.filter import DEFAULT_FILTER, FILTERS

#: suffixes of the label files read as tables
LABEL_TABLES = (".csv", ".tsv", ".txt", ".parquet", ".pq")


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
        click.BadParameter: a column is not in the table, ``id_column`` with a .npy file,
            or the suffix is not .npy/.csv/.tsv/.txt/.parquet/.pq.
    """
    from labelnoise._io import InputFileError, read_npy, read_table

    if not path.is_file():
        raise InputFileError(f"{option} {path}: " + ("is a folder, expected a file"
                                                      if path.is_dir() else "file not found"))
    suffix = path.suffix.lower()
    if suffix == ".npy":
        if id_column is not None:
            raise click.BadParameter(f"{path} is a .npy array; --id-column needs the labels in a "
                                     "CSV/Parquet table", param_hint="--id-column")
        labels = read_npy(path, option)
        return labels if id_column is None else (labels, None)
    if suffix in LABEL_TABLES:
        frame = read_table(path, option)
        col = column or frame.columns[0]
        for c, hint in ((col, "--label-column"), (id_column, "--id-column")):
            if c is not None and c not in frame.columns:
                raise click.BadParameter(f"column {c!r} not in {path} (columns: {list(frame.columns)})",
                                         param_hint=hint)
        labels = frame[col].reset_index(drop=True)
        if id_column is None:
            return labels.to_numpy() if labels.dtype.kind in "iufb" else labels
        return labels, frame[id_column].to_numpy()
    raise click.BadParameter(f"{path}: expected a .npy file or a .csv/.parquet table",
                             param_hint=option)


@click.command("find-issues", cls=Command)
@click.option("--labels", "labels_path", type=click.Path(path_type=Path),
              required=True, help="Given labels: .npy of shape (N,) or a column of a CSV/Parquet "
                                  "table (any values: strings, integers).")
@click.option("--label-column", default=None, help="Column of --labels when it is a table "
                                                   "(default: the first).")
@click.option("--id-column", default=None,
              help="Column of --labels (a table) naming each example; written as example_id.")
@click.option("--pred-probs", "pred_probs_paths", type=click.Path(path_type=Path),
              required=True, multiple=True,
              help="Out-of-sample pred_probs (N, K): .npy, or a CSV/Parquet table with one column "
                   "per class (a header names the classes); repeat for an ensemble (rows averaged).")
@class_names_option
@click.option("--filter-by", default=DEFAULT_FILTER, show_default=True,
              type=click.Choice(list(FILTERS)))
@click.option("--out", "out_path", type=click.Path(path_type=Path), required=True,
              help="CSV of every example, ranked (most likely wrong first), with is_label_issue.")
@click.option("--only-issues", is_flag=True, help="Write only the flagged examples.")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@progress_option
def find_issues(labels_path, label_column, id_column, pred_probs_paths, class_names, filter_by,
                out_path, only_issues, force, progress):
    """Rank label issues from given labels and out-of-sample pred_probs.

    Writes one row per example, most likely wrong first (``labelnoise.LabelIssues.to_frame``,
    the layout of ``labelnoise audit``'s issues.csv: rank, index, [example_id], given_label,
    suggested_label, label_quality_score, is_label_issue; labels as class names when they
    are known; with --only-issues the flagged rows only); prints the estimated noise rate,
    the number of issues and the most confused class pairs. The same result as
    ``labelnoise.find_issues``.
    """
    from rich.console import Console
    from rich.table import Table

    from labelnoise._io import check_output_file, read_pred_probs, write_csv
    from labelnoise.issues import find_issues as detect

    del progress  # detection shows no progress bar
    check_output_file(out_path, "--out", force=force)
    names = parse_class_names(class_names)
    if id_column:
        labels, ids = read_labels(labels_path, label_column, id_column)
    else:
        labels, ids = read_labels(labels_path, label_column), None
    read = [read_pred_probs(p, "--pred-probs") for p in pred_probs_paths]
    names = merge_class_names(names, [r[1] for r in read])
    arrays = [r[0] for r in read]
    result = detect(labels, arrays if len(arrays) > 1 else arrays[0], class_names=names,
                    filter_by=filter_by)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    write_csv(out_path, result.to_frame(only_issues=only_issues, example_ids=ids))

    console = Console()
    n, noise = result.num_examples, result.noise
    console.print(f"[bold]{n:,}[/] examples, [bold]{noise.confident_joint.shape[0]}[/] classes")
    console.print(f"estimated noise rate: [bold]{noise.noise_rate:.2%}[/] "
                  f"({noise.num_label_issues:,} examples, confident learning)")
    if result.mixture_weight is not None:
        weight = result.mixture_weight
        kind = "mostly class-conditional" if weight >= 0.5 else "mostly instance-dependent"
        console.print(f"noise model: class-conditional weight [bold]{weight:.2f}[/] ({kind})")
    console.print(f"label issues found ({filter_by}): [bold]{result.num_issues:,}[/] "
                  f"({result.num_issues / n:.2%})")
    table = Table(title="most confused class pairs (confident joint)")
    for col in ("given", "true (estimated)", "count"):
        table.add_column(col, justify="right")
    for g, t, c in result.confused_pairs(top=5):
        table.add_row(str(result.class_name(g)), str(result.class_name(t)), f"{c:,}")
    console.print(table)
    console.print(f"wrote {out_path}")
