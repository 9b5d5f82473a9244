"""``labelnoise consensus``: consensus labels and annotator quality from several annotators."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click
import numpy as np

from labelnoise.cli._errors import Command


def read_annotations(path: Path, num_classes: int | None):
    """An :class:`~labelnoise.multiannotator.Annotations` from a .npy (N, M) matrix with -1
    for missing, or a CSV long table with columns example_id, annotator_id, label."""
    from labelnoise._io import InputFileError, read_npy, read_table
    from labelnoise.multiannotator import Annotations

    if not path.is_file():
        raise InputFileError(f"--annotations {path}: " + ("is a folder, expected a file"
                                                           if path.is_dir() else "file not found"))
    if path.suffix == ".npy":
        return Annotations.from_dense(read_npy(path, "--annotations"), num_classes=num_classes)
    if path.suffix == ".csv":
        frame = read_table(path, "--annotations")
        need = ["example_id", "annotator_id", "label"]
        missing = [c for c in need if c not in frame.columns]
        if missing:
            raise click.BadParameter(f"{path} lacks column(s) {missing} (has {list(frame.columns)})",
                                     param_hint="--annotations")
        return Annotations.from_long(frame["example_id"].to_numpy(),
                                     frame["annotator_id"].astype(str).to_numpy(),
                                     frame["label"].to_numpy(), num_classes=num_classes)
    raise click.BadParameter(f"{path}: expected a .npy (N x M) or .csv (long table) file",
                             param_hint="--annotations")


@click.command("consensus", cls=Command)
@click.option("--annotations", "annotations_path",
              type=click.Path(path_type=Path), required=True,
              help="Annotations: .npy (N, M) int with -1 for missing, or a CSV long table with "
                   "columns example_id, annotator_id, label.")
@click.option("--pred-probs", "pred_probs_path",
              type=click.Path(path_type=Path), default=None,
              help="Out-of-sample pred_probs .npy (N, K); switches the default method to model_aware.")
@click.option("--method", default=None,
              type=click.Choice(["majority_vote", "dawid_skene", "glad", "model_aware"]),
              help="Consensus method [default: model_aware with --pred-probs, else dawid_skene].")
@click.option("--num-classes", type=int, default=None, help="K (default: from the data).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Directory for consensus.csv and annotators.csv.")
@click.option("--force", is_flag=True, help="Overwrite existing output files.")
def consensus(annotations_path, pred_probs_path, method, num_classes, out_dir, force):
    """Consensus labels and annotator quality from several annotators per example.

    Writes DIR/consensus.csv (example, consensus_label, consensus_quality, num_labels,
    agreement) and DIR/annotators.csv (annotator, num_labels, accuracy,
    agreement_with_consensus), and prints a short summary.
    """
    import pandas as pd
    from rich.console import Console

    from labelnoise import _io
    from labelnoise.multiannotator import annotator_quality, consensus_labels

    _io.check_output_dir(out_dir, "--out")
    targets = [out_dir / "consensus.csv", out_dir / "annotators.csv"]
    for target in targets:
        _io.check_output_file(target, "--out", force=force)
    ann = read_annotations(annotations_path, num_classes)
    pred_probs = None
    if pred_probs_path is not None:
        pred_probs = _io.read_npy(pred_probs_path, "--pred-probs", mmap=True)
    method = method or ("model_aware" if pred_probs is not None else "dawid_skene")
    res = consensus_labels(ann, method=method, pred_probs=pred_probs, progress=True)
    ann = res.annotations
    quality = annotator_quality(ann, res)
    per_example = ann.labels_per_example()
    agree = np.bincount(ann.example, weights=ann.label == res.consensus_labels[ann.example],
                        minlength=ann.n_examples)
    with np.errstate(invalid="ignore", divide="ignore"):
        agreement = agree / per_example
    examples = ann.example_ids if ann.example_ids is not None else np.arange(ann.n_examples)
    frames = [
        pd.DataFrame({
            "example": examples, "consensus_label": res.consensus_labels,
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
