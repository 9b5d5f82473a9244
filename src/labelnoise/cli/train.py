"""``labelnoise train``: train a classifier on noisy CIFAR-10 labels with a robust method.

Writes into ``--out DIR``: ``config.json`` (the command's settings), ``metrics.jsonl``
(one JSON object per epoch, rewritten atomically after every epoch), ``checkpoint.pt``
(everything needed to resume) and, at the end, ``final.json`` (last and best clean test
accuracy, wall time, device). ``--resume DIR`` continues an interrupted run with the
settings saved in ``DIR/config.json``.

The choices of ``--method``, ``--model`` and ``--loss`` and the dispatch to a method come from
the registries :data:`labelnoise.training.METHODS`, :data:`labelnoise.models.MODELS` and
:data:`labelnoise.losses.LOSSES` (so loading this command imports torch; ``labelnoise --help``
does not load it).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from labelnoise import training
from labelnoise.cli._errors import Command
from labelnoise.losses import LOSSES as _LOSSES
from labelnoise.models import IMAGE_MODELS

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
METHOD_OPTIONS = {"loss": "ce", "forget_rate": None, "lambda_u": None, "warmup_epochs": None}


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


CONFIG_KEYS = ("dataset", "noise", "label_set", "method", "candidates", "loss", "model", "epochs",
               "batch_size", "lr", "forget_rate", "lambda_u", "warmup_epochs", "subset",
               "test_subset", "data_root", "seed", "device")


def read_config(path: Path) -> dict:
    """The settings saved in a run folder's ``config.json``.

    Raises:
        click.UsageError: the file is missing, not JSON, or lacks settings of this version.
    """
    if not path.is_file():
        raise click.UsageError(f"{path} not found: nothing to resume")
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise click.UsageError(f"{path} is not a valid run configuration ({exc})") from None
    missing = [k for k in CONFIG_KEYS if not isinstance(cfg, dict) or k not in cfg]
    if missing:
        raise click.UsageError(f"{path} is not a labelnoise train configuration "
                               f"(missing {', '.join(missing)})")
    if cfg["method"] not in METHODS or cfg["model"] not in MODELS:
        raise click.UsageError(f"{path}: unknown method {cfg['method']!r} or model {cfg['model']!r}")
    return cfg


def run(cfg: dict, out: Path, *, resume: bool, progress: bool) -> dict:
    """Train as ``cfg`` says, writing metrics, checkpoints and final.json into ``out``."""
    import torch

    from labelnoise.training import engine

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
    kwargs.update(entry.settings_for(noise_rate, asym))
    kwargs.update({opt: cfg[opt] for opt in entry.options if cfg[opt] is not None})
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
    _write_json_atomic(out / "final.json", json.dumps(final, indent=2) + "\n")
    return final


@click.command("train", cls=Command)
@click.option("--dataset", type=click.Choice(["cifar10"]), default="cifar10", show_default=True,
              help="Images and clean test set.")
@click.option("--noise", default=None, metavar="KIND:RATE",
              help="Synthetic noise on the clean labels: symmetric:R (resampled uniformly over "
                   "all classes, as in DivideMix/ELR) or asymmetric:R (Patrini et al. pairs).")
@click.option("--label-set", default=None,
              help="CIFAR-10N human label set: aggre, random1, random2, random3, worse (worst).")
@click.option("--method", type=click.Choice(METHODS), default="standard", show_default=True)
@click.option("--candidates", "candidates_file", default=None,
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help=f"Candidate sets for {'/'.join(PARTIAL_METHODS)}: .npy bool (50000, 10), or a "
                   "CSV with a 'candidates' column of class names joined by '|', one row per "
                   "training image.")
@click.option("--loss", type=click.Choice(LOSSES), default=METHOD_OPTIONS["loss"],
              show_default=True, help=f"Loss of --method {_methods_taking('loss')}.")
@click.option("--model", type=click.Choice(MODELS), default="preact-resnet18", show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Epochs (default: the method's paper setting).")
@click.option("--batch-size", type=click.IntRange(min=2), default=None)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None)
@click.option("--forget-rate", type=click.FloatRange(0, 1, max_open=True), default=None,
              help="Co-teaching's tau (default: the realised noise rate).")
@click.option("--lambda-u", type=click.FloatRange(min=0), default=None,
              help="DivideMix's unlabeled-loss weight (default: by noise level, as the paper).")
@click.option("--warmup-epochs", type=click.IntRange(min=0), default=None,
              help="Warm-up epochs of DivideMix (default 10) and Co-Reg (default 50).")
@click.option("--subset", type=click.IntRange(min=2), default=None,
              help="Train on a seeded random subset of this many training examples.")
@click.option("--test-subset", type=click.IntRange(min=1), default=None,
              help="Evaluate on a seeded random subset of the test set.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder (must be new or empty).")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False, exists=True,
              path_type=Path), default=None, help="Continue the run in this folder.")
@click.option("--data-root", default=None, help="Data root (default: $LABELNOISE_DATA).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default=None, help="torch device (default: cuda if available).")
@click.option("--progress/--no-progress", default=True, show_default=True)
def train(dataset, noise, label_set, method, candidates_file, loss, model, epochs, batch_size, lr,
          forget_rate, lambda_u, warmup_epochs, subset, test_subset, out, resume_dir, data_root,
          seed, device, progress):
    """Train a classifier on noisy labels and report its clean test accuracy.

    Example: labelnoise train --label-set worse --method dividemix --model resnet20
    --epochs 20 --subset 10000 --out runs/dm-worse
    """
    if resume_dir is not None:
        if out is not None and Path(out) != resume_dir:
            raise click.UsageError("give either --out (new run) or --resume (continue), not both")
        cfg = read_config(resume_dir / "config.json")
        out, resume = resume_dir, (resume_dir / "checkpoint.pt").exists()
        created_out = False
    else:
        if out is None:
            raise click.UsageError("--out DIR is required (or --resume DIR)")
        entry = training.METHODS[method]
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
        from labelnoise._io import check_output_dir

        check_output_dir(out, "--out")
        if out.exists() and any(out.iterdir()):
            raise click.UsageError(f"{out} is not empty; use a new folder or --resume {out}")
        given = dict(loss=loss, forget_rate=forget_rate, lambda_u=lambda_u,
                     warmup_epochs=warmup_epochs)
        for opt, default in METHOD_OPTIONS.items():
            if given[opt] != default and opt not in entry.options:
                raise click.UsageError(f"--{opt.replace('_', '-')} applies to --method "
                                       f"{_methods_taking(opt)} only")
        cfg = dict(dataset=dataset, noise=noise, label_set=label_set, method=method,
                   candidates=str(candidates_file) if candidates_file else None, loss=loss,
                   model=model, epochs=epochs, batch_size=batch_size, lr=lr,
                   forget_rate=forget_rate, lambda_u=lambda_u, warmup_epochs=warmup_epochs,
                   subset=subset, test_subset=test_subset, data_root=data_root, seed=seed,
                   device=device)
        created_out = not out.exists()
        out.mkdir(parents=True, exist_ok=True)
        _write_json_atomic(out / "config.json", json.dumps(cfg, indent=2) + "\n")
        resume = False
    try:
        final = run(cfg, out, resume=resume, progress=progress)
    except Exception:
        if resume_dir is None and not (out / "checkpoint.pt").exists():
            # a fresh run that failed before its first checkpoint leaves nothing behind, so
            # the same command can be run again once the problem is fixed
            for name in ("config.json", "metrics.jsonl", "checkpoint.json"):
                (out / name).unlink(missing_ok=True)
            if created_out and not any(out.iterdir()):
                out.rmdir()
        raise
    click.echo(f"final clean test accuracy {final['final_test_acc']:.4f} "
               f"(best {final['best_test_acc']:.4f} at epoch {final['best_epoch']}); "
               f"results in {out}")
