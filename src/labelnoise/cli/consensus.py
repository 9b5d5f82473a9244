"""``labelnoise consensus``: consensus labels and annotator quality from several annotators."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click
import numpy as np

from labelnoise.cli._errors import (
    Command,
    class_names_option,
    merge_class_names,
    parse_class_names,
    progress_option,
    show_progress,
)

#: the long table's default column names
DEFAULT_COLUMNS = {"example": "example_id", "annotator": "annotator_id", "label": "label"}


def read_annotations(path: Path, num_classes: int | None, *, columns: dict | None = None,
                     class_names: list | None = None, return_class_names: bool = False,
                     wide: bool = False):
    """An :class:`~labelnoise.multiannotator.Annotations` from a .npy (N, M) matrix (class
    indices with -1 for missing, or class names with "" for missing), a CSV/Parquet long
    table with one row per annotation, or (``wide``) a CSV/Parquet table with one row per
    example and one column per annotator (empty where unlabelled; cleanlab's
    ``labels_multiannotator`` layout).

    Args:
        path: the file.
        num_classes: K, or None (from the class names, else the data).
        columns: ``{"example": ..., "annotator": ..., "label": ...}``, the long table's
            column names (default :data:`DEFAULT_COLUMNS`); of a wide table, the example
            column (its ids) when the table has it, every other column an annotator.
        wide: the table is one row per example, one column per annotator.
        class_names: the classes in order (labels are matched to them as by
            :func:`labelnoise._validation.encode_labels`), or None: integer labels are
            class indices, other labels (strings) are the sorted distinct values.
        return_class_names: also return the class names (None when unknown).

    Rows of a long table without a label are skipped (an annotator who gave none).

    Raises:
        InputFileError: the file is missing or unreadable.
        click.BadParameter: a column is missing, or the suffix is unknown.
        ValueError: bad labels or ids (see ``Annotations.from_long``).
    """
    from labelnoise._io import TABLE_SUFFIXES, InputFileError, read_npy, read_table
    from labelnoise.multiannotator import Annotations

    if not path.is_file():
        raise InputFileError(f"--annotations {path}: " + ("is a folder, expected a file"
                                                           if path.is_dir() else "file not found"))
    suffix = path.suffix.lower()
    names = class_names
    if suffix == ".npy" or (wide and suffix in TABLE_SUFFIXES):
        ids = None
        if suffix == ".npy":
            matrix = read_npy(path, "--annotations")
        else:
            matrix = read_table(path, "--annotations")
            example = (columns or {}).get("example", DEFAULT_COLUMNS["example"])
            if example in matrix.columns:
                ids = matrix[example].to_numpy()
                matrix = matrix.drop(columns=example)
            if matrix.shape[1] == 0:
                raise click.BadParameter(f"{path.name} has no annotator column",
                                         param_hint="--annotations")
        ann = Annotations.from_dense(matrix, num_classes=num_classes, class_names=names,
                                     example_ids=ids)
        names = ann.class_names if ann.class_names is not None else names
    elif suffix in TABLE_SUFFIXES:
        frame = read_table(path, "--annotations")
        cols = {**DEFAULT_COLUMNS, **(columns or {})}
        missing = [c for c in cols.values() if c not in frame.columns]
        if missing:
            options = {"example": "--example-column", "annotator": "--annotator-column",
                       "label": "--label-column"}
            which = "; ".join(
                f"no column {v!r} (" + (f"{options[k]}" if (columns or {}).get(k) not in
                                        (None, DEFAULT_COLUMNS[k]) else
                                        f"the default; name its column with {options[k]}") + ")"
                for k, v in cols.items() if v in missing)
            raise click.BadParameter(f"{path.name} has {which}; its columns: "
                                     f"{list(frame.columns)}", param_hint="--annotations")
        labelled = frame[cols["label"]].notna().to_numpy()
        if not labelled.all():
            click.echo(f"Note: skipped {int((~labelled).sum())} row(s) of {path.name} with no "
                       "label", err=True)
            frame = frame[labelled]
        ann = Annotations.from_long(frame[cols["example"]].to_numpy(),
                                    frame[cols["annotator"]].astype(str).to_numpy(),
                                    frame[cols["label"]].reset_index(drop=True),
                                    class_names=names)
        names = ann.class_names
        if num_classes is not None and names is not None and num_classes != len(names):
            raise click.BadParameter(  # named as the option, before the consensus runs
                f"{num_classes}, but the labels name {len(names)} classes "
                f"({', '.join(map(str, names[:10]))}); with class names K is their number: "
                "give --class-names to add classes that no annotator used",
                param_hint="--num-classes")
        if num_classes is not None and num_classes != ann.num_classes:
            ann = ann.with_num_classes(num_classes)
    else:
        raise click.BadParameter(f"{path}: expected a .npy (N x M) or a .csv/.parquet long table",
                                 param_hint="--annotations")
    return (ann, names) if return_class_names else ann


@click.command("consensus", cls=Command)
@click.option("--annotations", "annotations_path",
              type=click.Path(path_type=Path), required=True,
              help="Annotations: .npy (N, M) (class indices with -1, or class names with '', "
                   "for missing), or a CSV/Parquet long table with one row per annotation "
                   "(example, annotator, label; labels may be strings), or with --wide a "
                   "table with one row per example and one column per annotator.")
@click.option("--wide", is_flag=True,
              help="--annotations is a table with one row per example and one column per "
                   "annotator, empty where unlabelled (cleanlab's labels_multiannotator "
                   "layout); its --example-column, when present, names the examples.")
@click.option("--example-column", default=DEFAULT_COLUMNS["example"], show_default=True,
              help="Column of the long table naming the example.")
@click.option("--annotator-column", default=DEFAULT_COLUMNS["annotator"], show_default=True,
              help="Column of the long table naming the annotator.")
@click.option("--label-column", default=DEFAULT_COLUMNS["label"], show_default=True,
              help="Column of the long table holding the label (any values: strings, integers).")
@class_names_option
@click.option("--pred-probs", "pred_probs_path",
              type=click.Path(path_type=Path), default=None,
              help="Out-of-sample pred_probs (N, K): .npy, or a CSV/Parquet table with one column "
                   "per class; switches the default method to model_aware.")
@click.option("--method", default=None,
              type=click.Choice(["majority_vote", "dawid_skene", "glad", "model_aware"]),
              help="Consensus method [default: model_aware with --pred-probs, else dawid_skene].")
@click.option("--num-classes", type=int, default=None, help="K (default: from the data).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Directory for consensus.csv and annotators.csv.")
@click.option("--force", is_flag=True, help="Overwrite existing output files.")
@progress_option
def consensus(annotations_path, wide, example_column, annotator_column, label_column,
              class_names, pred_probs_path, method, num_classes, out_dir, force, progress):
    """Consensus labels and annotator quality from several annotators per example.

    Writes DIR/consensus.csv (example, consensus_label, consensus_quality, num_labels,
    agreement; labels written as they were given: class names for string labels) and
    DIR/annotators.csv (annotator, num_labels, accuracy, agreement_with_consensus), and
    prints a short summary.
    """
    import pandas as pd
    from rich.console import Console

    from labelnoise import _io
    from labelnoise.multiannotator import annotator_quality, consensus_labels

    _io.check_output_dir(out_dir, "--out")
    targets = [out_dir / "consensus.csv", out_dir / "annotators.csv"]
    for target in targets:
        _io.check_output_file(target, "--out", force=force)
    names = parse_class_names(class_names)
    pred_probs = None
    if pred_probs_path is not None:
        pred_probs, header = _io.read_pred_probs(pred_probs_path, "--pred-probs")
        names = merge_class_names(names, [header])
    if wide and annotations_path.suffix.lower() == ".npy":
        raise click.BadParameter("applies to a table (.csv/.parquet); a .npy (N, M) is wide "
                                 "already", param_hint="--wide")
    ann, names = read_annotations(
        annotations_path, num_classes, class_names=names, return_class_names=True, wide=wide,
        columns={"example": example_column, "annotator": annotator_column, "label": label_column})
    if names is not None and pred_probs is not None and pred_probs.ndim == 2 \
            and pred_probs.shape[1] != len(names):
        raise click.BadParameter(f"--pred-probs has K = {pred_probs.shape[1]} columns but the "
                                 f"labels have {len(names)} classes; give --class-names in the "
                                 "order of its columns", param_hint="--pred-probs")
    method = method or ("model_aware" if pred_probs is not None else "dawid_skene")
    res = consensus_labels(ann, method=method, pred_probs=pred_probs,
                           progress=show_progress(progress))
    ann = res.annotations
    quality = annotator_quality(ann, res)
    per_example = ann.labels_per_example()
    agree = np.bincount(ann.example, weights=ann.label == res.consensus_labels[ann.example],
                        minlength=ann.n_examples)
    with np.errstate(invalid="ignore", divide="ignore"):
        agreement = agree / per_example
    examples = ann.example_ids if ann.example_ids is not None else np.arange(ann.n_examples)
    as_given = res.consensus_labels
    if names is not None:
        if len(names) < ann.num_classes:
            raise click.BadParameter(f"{len(names)} class names for K = {ann.num_classes} classes",
                                     param_hint="--class-names")
        as_given = np.asarray(names, dtype=object)[res.consensus_labels]
    frames = [
        pd.DataFrame({
            "example": examples, "consensus_label": as_given,
            "consensus_quality": res.consensus_quality, "num_labels": per_example,
            "agreement": agreement,
        }),
        pd.DataFrame({
            "annotator": quality.annotator_ids, "num_labels": quality.num_labels,
            "accuracy": quality.accuracy,
            "agreement_with_consensus": quality.agreement_with_consensus,
        }).sort_values("accuracy", ascending=False),
    ]
    # both files or neither: written to temporary files, then renamed one after the other
    out_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        for target, frame in zip(targets, frames):
            frame.to_csv(stack.enter_context(_io.atomic_write(target, "w", newline="")),
                         index=False)
    console = Console()
    console.print(f"[bold]{method}[/bold]: {ann.n_examples} examples, {ann.n_annotators} "
                  f"annotators, {ann.n_labels} labels, K = {ann.num_classes}, "
                  f"{res.n_iter} iterations")
    console.print(f"consensus differs from the lowest-index majority vote on "
                  f"{_mv_disagreement(ann, res.consensus_labels):.2%} of labelled examples; "
                  f"mean consensus quality {res.consensus_quality.mean():.3f}")
    acc = np.asarray(quality.accuracy, dtype=np.float64)
    has = (np.asarray(quality.num_labels) > 0) & np.isfinite(acc)
    if has.any():
        console.print(f"estimated annotator accuracy: median {np.median(acc[has]):.3f}, "
                      f"lowest {acc[has].min():.3f}")
    if not has.all():
        console.print(f"annotator accuracy not estimable for {int((~has).sum())} annotator(s) "
                      "(no labels, or no other annotator to compare with): NaN in annotators.csv")
    if res.model_calibration is not None:
        cal = res.model_calibration
        console.print(f"model: inverse temperature {cal['inverse_temperature']:.2f}, crowd weight "
                      f"{cal['crowd_weight']:.2f}, used: {cal['model_used']}")
    console.print(f"wrote {targets[0]} and {targets[1]}")


def _mv_disagreement(ann, labels: np.ndarray) -> float:
    from labelnoise.multiannotator.vote import _majority_vote

    labelled = ann.labels_per_example() > 0
    mv = _majority_vote(ann, "lowest", None)
    return float((mv[labelled] != labels[labelled]).mean())
