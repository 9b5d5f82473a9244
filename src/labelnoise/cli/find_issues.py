"""``labelnoise find-issues``: rank label issues from a labels file and a pred_probs file."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from labelnoise.cli._errors import Command
from labelnoise.filter import DEFAULT_FILTER, FILTERS, OUR_FILTERS


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


def most_confused_pairs(confident_joint: np.ndarray, top: int = 5) -> list[tuple[int, int, int]]:
    """The ``top`` largest off-diagonal cells of a confident joint as (given, true, count)."""
    cj = np.array(confident_joint, dtype=np.int64)
    np.fill_diagonal(cj, 0)
    flat = np.argsort(cj, axis=None, kind="stable")[::-1][:top]
    k = cj.shape[0]
    return [(int(i // k), int(i % k), int(cj.flat[i])) for i in flat if cj.flat[i] > 0]


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

    Writes one row per issue, most likely wrong first: rank, index, given_label,
    suggested_label, label_quality_score (for our filters the score they decide with, for
    cleanlab's the default score); prints the estimated noise rate, the number of
    issues and the most confused class pairs.
    """
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    from labelnoise._io import check_output_file, read_npy, write_csv
    from labelnoise._validation import validate_labels_and_pred_probs
    from labelnoise.count import _confident_joint, _noise_from_joint
    from labelnoise.filter import _FILTER_SCORE, _filter_mask, _issue_mask
    from labelnoise.rank import DEFAULT_METHOD, _mixture, _scores, _suggested

    check_output_file(out_path, "--out", force=force)
    labels = read_labels(labels_path, label_column)
    arrays = [read_npy(p, "--pred-probs", mmap=True) for p in pred_probs_paths]
    labels, pp = validate_labels_and_pred_probs(labels, arrays if len(arrays) > 1 else arrays[0])
    cj, thresholds, _ = _confident_joint(labels, pp, None, calibrate=True)
    noise = _noise_from_joint(cj, labels, pp.n, thresholds)
    # our filters: ranked by the score they decide with; cleanlab's: by the default score
    method = _FILTER_SCORE.get(filter_by, DEFAULT_METHOD)
    weight = None
    if method == "mixture":
        scores, weight = _mixture(labels, pp)
    else:
        scores = _scores(labels, pp, method)
    if filter_by in OUR_FILTERS:
        mask = _filter_mask(filter_by, scores)
    else:
        mask = _issue_mask(labels, pp, filter_by, 1.0, 1)
    suggested = _suggested(labels, pp, mask)
    idx = np.flatnonzero(mask)
    idx = idx[np.argsort(scores[idx], kind="stable")]
    frame = pd.DataFrame({
        "rank": np.arange(1, idx.size + 1),
        "index": idx,
        "given_label": labels[idx],
        "suggested_label": suggested[idx],
        "label_quality_score": scores[idx],
    })
    out_path.parent.mkdir(parents=True, exist_ok=True)
    write_csv(out_path, frame)

    console = Console()
    console.print(f"[bold]{pp.n:,}[/] examples, [bold]{pp.k}[/] classes")
    console.print(f"estimated noise rate: [bold]{noise.noise_rate:.2%}[/] "
                  f"({noise.num_label_issues:,} examples, confident learning)")
    if weight is not None:
        kind = "mostly class-conditional" if weight >= 0.5 else "mostly instance-dependent"
        console.print(f"noise model: class-conditional weight [bold]{weight:.2f}[/] ({kind})")
    console.print(f"label issues found ({filter_by}): [bold]{idx.size:,}[/] ({idx.size / pp.n:.2%})")
    table = Table(title="most confused class pairs (confident joint)")
    for col in ("given", "true (estimated)", "count"):
        table.add_column(col, justify="right")
    for g, t, c in most_confused_pairs(noise.confident_joint):
        table.add_row(str(g), str(t), f"{c:,}")
    console.print(table)
    console.print(f"wrote {out_path}")
