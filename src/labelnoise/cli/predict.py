"""``labelnoise predict``: predict new data with a model trained by ``labelnoise train``."""

from __future__ import annotations

from pathlib import Path

import click

from labelnoise.cli._errors import (
    Command,
    device_option,
    progress_option,
    show_progress,
    skip_unreadable_option,
)


def _lead_name(name: str, classes: list[str]) -> str:
    """``name`` with underscores appended until no class is so named (the pred_probs columns
    keep the class names)."""
    while name in classes:
        name += "_"
    return name


@click.command("predict", cls=Command)
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--out", "out_path", type=click.Path(path_type=Path), required=True,
              help="Where to write: a .csv table (example_id and given_label when DATA "
                   "has them, predicted_label, then one column of pred_probs per class, named "
                   "by the class; a leading column named like a class gets a trailing '_') or "
                   "a .npy of the (N, K) pred_probs.")
@click.option("--last", is_flag=True,
              help="Predict with the last epoch's network (default: the selected epoch's, "
                   "model_best.pt, when the run held out a validation set).")
@device_option
@skip_unreadable_option("name them")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@progress_option
def predict(run_dir, data, out_path, last, device, skip_unreadable, force, progress):
    """Predict DATA with the model of RUN_DIR (a finished `labelnoise train DATASET --out
    RUN_DIR`, or `labelnoise train cifar10 --out RUN_DIR`).

    DATA is of the training set's kind: a table (its feature columns encoded as the training
    table's; the label column is optional), an .npz (X or features or embeddings[, labels, class_names]) or .npy (N, D)
    of embeddings, or an image folder (every image under it; class subfolders give labels;
    a CIFAR-10 run's images are resized to 32 x 32).
    Where DATA has labels, the accuracy against them is printed.

    Example: labelnoise train shop.csv --label-column y --id-column sku --out runs/shop;
    labelnoise predict runs/shop new-items.csv --out predictions.csv
    """
    import numpy as np
    import pandas as pd

    from labelnoise import _io
    from labelnoise.training.data import load_run

    suffix = out_path.suffix.lower()
    if suffix not in (".csv", ".npy"):
        raise click.BadParameter(f"must end in .csv or .npy, got {out_path.name!r}",
                                 param_hint="--out")
    _io.check_output_file(out_path, "--out", force=force)
    result = load_run(run_dir, device=device)
    inputs, labels, ids, left_out = result.read_inputs(
        data, progress=show_progress(progress), skip_unreadable=skip_unreadable)
    if left_out:
        click.echo(f"{len(left_out)} unreadable image file(s) left out: "
                   f"{', '.join(left_out[:10])}{', ...' if len(left_out) > 10 else ''}")
    pred_probs = result.predict_proba(inputs, best=not last)
    names = result.class_names
    predicted = np.asarray(names, dtype=object)[pred_probs.argmax(1)]
    if suffix == ".npy":
        _io.save_npy(out_path, pred_probs)
    else:
        classes = [str(n) for n in names]
        lead = {"example_id": ids, "given_label": labels, "predicted_label": predicted}
        frame = pd.DataFrame({_lead_name(key, classes): value for key, value in lead.items()
                              if value is not None})
        renamed = [col for col in frame.columns if col not in lead]
        if renamed:
            click.echo(f"a class is named like a leading column; that column is written as "
                       f"{', '.join(renamed)}")
        frame = pd.concat([frame, pd.DataFrame(pred_probs, columns=classes)], axis=1)
        _io.write_csv(out_path, frame, index=False)
    click.echo(f"{len(pred_probs)} predictions ({'last' if last else 'selected'} epoch's "
               f"network) -> {out_path}")
    if labels is not None:
        known = np.asarray([lab is not None for lab in labels])
        unknown = sorted({str(lab) for lab in labels[known]} - set(names))
        if unknown:
            click.echo(f"labels of DATA outside the run's classes (counted as wrong): "
                       f"{unknown[:5]}")
        acc = float(np.mean(predicted[known] == labels[known])) if known.any() else float("nan")
        click.echo(f"accuracy against the labels in {Path(data).name}: {acc:.4f} "
                   f"({int(known.sum())} labelled examples)")
