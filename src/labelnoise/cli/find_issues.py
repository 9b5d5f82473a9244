"""``labelnoise find-issues``: rank label issues from a labels file and a pred_probs file."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from labelnoise.cli._errors import Command
from labelnoise.filter import DEFAULT_FILTER, FILTERS


def read_labels(path: Path, column: str | None) -> np.ndarray:
    """Labels from a .npy file (shape (N,)) or a CSV column (``column``, default the first).

    Raises:
        InputFileError: the file cannot be read or has no rows.
        click.BadParameter: the column is not in the CSV, or the suffix is not .npy/.csv.
    """
    from labelnoise._io import InputFileError, read_npy, read_table

    if not path.is_file():
        raise InputFileError(f"--labels {path}: " + ("is a folder, expected a file"
                                                      if path.is_dir() else "file not found"))
    if path.suffix == ".npy":
        return read_npy(path, "--labels")
    if path.suffix in (".csv", ".txt"):
        frame = read_table(path, "--labels")
        col = column or frame.columns[0]
        if col not in frame.columns:
            raise click.BadParameter(f"column {col!r} not in {path} (columns: {list(frame.columns)})",
                                     param_hint="--label-column")
        return frame[col].to_numpy()
    raise click.BadParameter(f"{path}: expected a .npy or .csv file", param_hint="--labels")


@click.command("find-issues", cls=Command)
@click.option("--labels", "labels_path", type=click.Path(path_type=Path),
              required=True, help="Given labels: .npy of shape (N,) or a CSV column.")
@click.option("--label-column", default=None, help="Column of --labels when it is a CSV file.")
@click.option("--pred-probs", "pred_probs_paths", type=click.Path(path_type=Path),
              required=True, multiple=True,
              help="Out-of-sample pred_probs, .npy of shape (N, K); repeat for an ensemble (rows averaged).")
@click.option("--filter-by", default=DEFAULT_FILTER, show_default=True,
              type=click.Choice(list(FILTERS)))
@click.option("--out", "out_path", type=click.Path(path_type=Path), required=True,
              help="CSV of the ranked issues.")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
def find_issues(labels_path, label_column, pred_probs_paths, filter_by, out_path, force):
    """Rank label issues from given labels and out-of-sample pred_probs.

    Writes one row per flagged example, most likely wrong first (the columns of
    ``labelnoise.LabelIssues.to_frame``: rank, index, given_label, suggested_label,
    label_quality_score, is_label_issue; for our filters the score they decide with, for
    cleanlab's the default score); prints the estimated noise rate, the number of issues
    and the most confused class pairs. The same result as ``labelnoise.find_issues``.
    """
    from rich.console import Console
    from rich.table import Table

    from labelnoise._io import check_output_file, read_npy, write_csv
    from labelnoise.issues import find_issues as detect

    check_output_file(out_path, "--out", force=force)
    labels = read_labels(labels_path, label_column)
    arrays = [read_npy(p, "--pred-probs", mmap=True) for p in pred_probs_paths]
    result = detect(labels, arrays if len(arrays) > 1 else arrays[0], filter_by=filter_by)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    write_csv(out_path, result.to_frame(only_issues=True))

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
        table.add_row(str(g), str(t), f"{c:,}")
    console.print(table)
    console.print(f"wrote {out_path}")
