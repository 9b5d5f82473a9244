"""``labelnoise audit``: find the label errors of a dataset end to end and write a report."""

from __future__ import annotations

from pathlib import Path

import click

from labelnoise.cli._errors import (
    EXIT_INTERNAL,
    CLIError,
    Command,
    class_names_option,
    parse_class_names,
    progress_option,
    show_progress,
    skip_unreadable_option,
)


@click.command("audit", cls=Command)
@click.argument("dataset", required=False)
@click.option("--label-set", default="worse", show_default=True,
              help="CIFAR-10N label set: worse, aggre, random1, random2, random3, clean.")
@click.option("--pred-probs", "pred_probs", type=click.Path(),
              help="Out-of-sample predicted probabilities (N, K): .npy, or a CSV/Parquet table "
                   "with one column per class (a header names the classes); skips training.")
@click.option("--labels", "labels", type=click.Path(),
              help="Given labels for --pred-probs: (N,) .npy or a column of a CSV/Parquet table "
                   "(--label-column) (default: the DATASET's, or noisy_labels.npy beside it).")
@click.option("--row-to-index", "row_to_index", type=click.Path(),
              help="(N,) .npy mapping rows of --pred-probs to CIFAR-10 train indices (for images).")
@click.option("--label-column", help="Label column of a CSV/Parquet table (DATASET or --labels).")
@click.option("--id-column", help="Column of the table (DATASET or --labels) naming each example; "
                                  "written as example_id in issues.csv and shown in the report.")
@click.option("--true-label-column", default=None,
              help="Column of the DATASET table with known-correct labels (the <label>_true "
                   "column of `labelnoise simulate`): never a feature; the audit reports "
                   "precision, recall, F1 and AUPRC against it.")
@click.option("--text-column", "text_columns", multiple=True,
              help="Free-text column of the table to embed as features (all-MiniLM-L6-v2 "
                   "sentence embeddings, offline; repeatable; needs "
                   "pip install \"labelnoise[text]\").")
@click.option("--feature-column", "feature_columns", multiple=True,
              help="Feature column of the table (DATASET); repeatable (default: every column "
                   "but the label, id and text columns).")
@class_names_option
@click.option("--features", "features", type=click.Path(),
              help="Features of the examples for the data-issue checks (outliers, duplicates, "
                   "neighbours' labels) and for the neighbours' label vote the ranking mixes "
                   "in (with --pred-probs too): an (N, D) float .npy (or .npz with one array "
                   "named X, features or embeddings), one row per example "
                   "(default: the embeddings or table given, else each fold's network's "
                   "penultimate layer, with the vote in the images' own patch view; with "
                   "--pred-probs, images and no --features, no vote).")
@click.option("--data-root", type=click.Path(file_okay=False),
              help="Where datasets live (default: $LABELNOISE_DATA or the user cache).")
@click.option("--quick", is_flag=True,
              help="First report in a few minutes: a smaller network and fewer epochs.")
@click.option("--model", default=None,
              help="Image model trained per fold instead of the default (a small CNN; below "
                   "10,000 images averaged with patch features + logistic regression): a torch "
                   "network (resnet8, resnet20, airbench, preact-resnet18) or patch-features.")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Epochs per fold of the image network (the default's or --model's).")
@click.option("--folds", type=int, default=None,
              help="Cross-validation folds (default: 2 for the CPU image model, 3 below "
                   "10,000 images, else 5).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", "out_dir", required=True, type=click.Path(),
              help="Output folder for issues.csv, pred_probs.npy, noise.json, data_issues.json, "
                   "report.html.")
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="Run the cross-validation folds on an existing Dask cluster: the address of "
                   "its scheduler (tcp://host:8786); one task per fold. --out must be on a "
                   "filesystem every worker sees. Needs pip install \"labelnoise[dask]\".")
@click.option("--workers", type=int, default=None, metavar="N",
              help="Run the cross-validation folds on a local Dask cluster of N worker "
                   "processes (1 thread each), started and closed by this command.")
@click.option("--true-labels", "true_labels_file", type=click.Path(path_type=Path), default=None,
              help="For an image folder: a CSV with columns path (relative to the folder) and "
                   "true (a class folder name), such as the truth.csv of `labelnoise simulate "
                   "--dataset FOLDER`; the audit then reports precision, recall, F1 and AUPRC "
                   "against them.")
@skip_unreadable_option("list them in unreadable.csv and the report")
@click.option("--force", is_flag=True, help="Overwrite the audit files in a non-empty --out.")
@click.option("--resume", is_flag=True, help="Continue an interrupted audit in --out.")
@progress_option
def audit(dataset, label_set, pred_probs, labels, row_to_index, label_column, id_column,
          true_label_column, text_columns, feature_columns, class_names, features, data_root,
          quick, model, epochs, folds, seed, out_dir, scheduler, workers, true_labels_file,
          skip_unreadable, force, resume, progress):
    """Find the label errors of DATASET and write a report to --out.

    DATASET is cifar10 (CIFAR-10 with CIFAR-10N labels, the default), an image folder
    (one subfolder per class), a .csv/.parquet table (with --label-column) or an .npz of
    embeddings (X or features or embeddings, labels: integers or class names). With --pred-probs no model is trained. Labels may be any
    values (strings, integers); --class-names gives the order of the pred_probs columns.
    Outliers, near and exact duplicates, overlapping classes, class health and label
    issues from the nearest neighbours' labels are checked too (data_issues.json, columns
    of issues.csv, sections of the report; without features some are stated as not run).
    With --scheduler or --workers the folds run on a Dask cluster, with the same results.
    """
    from rich.console import Console
    from rich.table import Table

    from labelnoise.audit import UNREADABLE_FILE
    from labelnoise.audit import audit as run_audit
    from labelnoise.cli._tables import top_suspects
    from labelnoise.crossval import WorkerLostError, check_cluster_args, cluster_client

    check_cluster_args(scheduler, workers)
    class_names = parse_class_names(class_names)
    if scheduler is not None or workers is not None:  # refused or checked before it starts
        from labelnoise.audit import CLIENT_WITH_PRED_PROBS, _check_out_dir

        if pred_probs is not None:
            raise ValueError(CLIENT_WITH_PRED_PROBS)
        _check_out_dir(out_dir, force=force, resume=resume)
    console = Console(stderr=True, log_path=False)
    train_kwargs = {"epochs": epochs} if epochs is not None else None
    # the local cluster (--workers) is closed on every way out: success, error, Ctrl-C
    with cluster_client(scheduler=scheduler, workers=workers,
                        cache_dir=Path(out_dir).expanduser() / "cache") as client:
        try:
            result = run_audit(
                dataset, out_dir=out_dir, label_set=label_set, pred_probs=pred_probs,
                labels=labels, row_to_index=row_to_index, label_column=label_column,
                id_column=id_column, true_label_column=true_label_column,
                text_columns=list(text_columns) or None,
                feature_columns=list(feature_columns) or None,
                class_names=class_names, features=features,
                data_root=data_root, quick=quick, model=model, train_kwargs=train_kwargs,
                folds=folds, seed=seed, force=force, resume=resume,
                progress=show_progress(progress), console=console, client=client,
                skip_unreadable=skip_unreadable, true_labels_file=true_labels_file,
            )
        except WorkerLostError as exc:  # not a bug of labelnoise: one line, exit 1
            raise CLIError(" ".join(str(exc).split()), EXIT_INTERNAL) from None

    table = Table(title="labelnoise audit", show_header=False)
    n = len(result.labels)
    table.add_row("examples", f"{n:,}")
    table.add_row("classes", str(len(result.class_names)))
    table.add_row("estimated noise rate", f"{result.noise.noise_rate:.4f}")
    table.add_row("label issues found", f"{int(result.is_issue.sum()):,} ({result.is_issue.mean():.2%})")
    if result.metrics:
        m = result.metrics
        table.add_row("true noise rate", f"{m['true_noise_rate']:.4f}")
        table.add_row("precision / recall / F1",
                      f"{m['precision']:.4f} / {m['recall']:.4f} / {m['f1']:.4f}")
        table.add_row("AUPRC", f"{m['auprc']:.4f}")
    di = result.data_issues
    for check, label in (("outliers", "outliers"), ("near_duplicates", "near-duplicate examples"),
                         ("exact_duplicates", "exact-duplicate examples")):
        if di is None or not di.ran(check):
            table.add_row(label, "not run" if di is None else di.not_run[check])
        elif check == "outliers":
            table.add_row(label, f"{int(di.is_outlier.sum()):,}")
        else:
            dup = getattr(di, check)
            table.add_row(label, f"{int(dup.is_duplicate.sum()):,} in {len(dup.sets):,} sets")
    if result.unreadable:
        table.add_row("unreadable files left out",
                      f"{len(result.unreadable):,} (listed in {result.out_dir / UNREADABLE_FILE})")
    table.add_row("model", str(result.settings.get("model", result.settings.get("pred_probs", ""))))
    table.add_row("time", f"{result.seconds:.1f} s")
    table.add_row("report", str(result.out_dir / "report.html"))
    Console().print(table)
    suspects = top_suspects(result.issues, result.example_ids,
                            class_names=result.class_names)
    if suspects is not None:
        Console().print(suspects)
