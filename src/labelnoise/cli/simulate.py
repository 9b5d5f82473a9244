"""``labelnoise simulate``: corrupt a dataset's labels with a seeded noise model."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from labelnoise.cli._errors import Command

NOISE_MODELS = ("symmetric", "asymmetric", "pairflip", "instance")
_ALIASES = {"sym": "symmetric", "asym": "asymmetric", "pair": "pairflip", "pair-flip": "pairflip",
            "pair_flip": "pairflip", "idn": "instance", "instance-dependent": "instance"}


def parse_noise(spec: str, allowed: tuple[str, ...] = NOISE_MODELS) -> tuple[str, float]:
    """``"symmetric:0.5"`` -> ``("symmetric", 0.5)`` (aliases such as ``sym`` accepted).

    Args:
        spec: ``MODEL:RATE``.
        allowed: the noise models the calling command supports.

    Raises:
        click.BadParameter: an unknown or unsupported model, or a rate that is not a
            number in [0, 1].
    """
    name, sep, value = spec.partition(":")
    name = _ALIASES.get(name.strip().lower(), name.strip().lower())
    if not sep or name not in allowed:
        expected = (f"MODEL:RATE with MODEL one of {', '.join(allowed)} (e.g. symmetric:0.5)"
                    if allowed == NOISE_MODELS else " or ".join(f"{a}:RATE" for a in allowed))
        raise click.BadParameter(f"expected {expected}, got {spec!r}", param_hint="--noise")
    try:
        rate = float(value)
    except ValueError:
        raise click.BadParameter(f"rate must be a number, got {value!r}",
                                 param_hint="--noise") from None
    if not 0.0 <= rate <= 1.0:
        raise click.BadParameter(f"rate must lie in [0, 1], got {rate}", param_hint="--noise")
    return name, rate


def _load(dataset: str, data_root, need_inputs: bool, download: bool = True):
    """(inputs or None, true labels, K, asymmetric-mapping name or None)."""

    from labelnoise import datasets

    if dataset in ("cifar10", "cifar10-test"):
        ds = datasets.load_cifar10("test" if dataset.endswith("test") else "train",
                                   data_root=data_root, load_images=need_inputs,
                                   download=download)
        return ds.inputs, ds.labels, 10, "cifar10"
    if dataset in ("cifar100", "cifar100-test"):
        ds = datasets.load_cifar100("test" if dataset.endswith("test") else "train",
                                    data_root=data_root, load_images=need_inputs,
                                   download=download)
        return ds.inputs, ds.labels, 100, "cifar100"
    path = Path(dataset)
    if path.suffix == ".npz" and path.is_file():
        ds = datasets.load_embeddings(path)
        return ds.inputs, ds.labels, ds.num_classes, None
    if path.suffix == ".npy" and path.is_file():
        from labelnoise._io import read_npy
        from labelnoise._validation import validate_labels

        labels = validate_labels(read_npy(path, "--dataset"), name=f"labels in {path}")
        k = int(labels.max()) + 1
        if k < 2:
            raise click.BadParameter(f"{path}: every label is class 0; simulating noise needs "
                                     "labels of at least 2 classes", param_hint="--dataset")
        return None, labels, k, None
    raise click.BadParameter(
        f"{dataset!r} is neither a known dataset (cifar10, cifar10-test, cifar100, "
        "cifar100-test) nor an existing .npy (labels) / .npz (X, labels) file",
        param_hint="--dataset")


@click.command("simulate", cls=Command)
@click.option("--dataset", required=True,
              help="cifar10, cifar10-test, cifar100, cifar100-test, or a labels .npy / "
                   "embeddings .npz (X, labels) file.")
@click.option("--noise", "noise_spec", required=True,
              help="MODEL:RATE with MODEL in symmetric, asymmetric, pairflip, instance "
                   "(e.g. symmetric:0.5).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Where to save the noisy labels (.npy, int64).")
@click.option("--data-root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Data root (default: $LABELNOISE_DATA or ~/.cache/labelnoise).")
@click.option("--include-true", is_flag=True,
              help="symmetric: resample over all K classes (DivideMix convention; realised "
                   "rate = rate * (K-1)/K) instead of flipping to another class.")
@click.option("--noise-matrix-out", type=click.Path(path_type=Path),
              default=None, help="Also save the realised noise matrix (K, K) as .npy.")
@click.option("--download/--no-download", default=True, show_default=True,
              help="Download a missing CIFAR dataset (checksum-verified).")
@click.option("--force", is_flag=True, help="Overwrite existing output files.")
def simulate(dataset, noise_spec, seed, out, data_root, include_true, noise_matrix_out, download,
             force):
    """Corrupt a dataset's labels with a seeded noise model and save them.

    Prints the realised noise rate (fraction of labels changed). Example:

        labelnoise simulate --dataset cifar10 --noise symmetric:0.5 --seed 0 --out noisy.npy
    """
    import numpy as np

    from labelnoise import _io, noise

    model, rate = parse_noise(noise_spec)
    if noise_matrix_out is not None and Path(noise_matrix_out).resolve() == Path(out).resolve():
        raise click.BadParameter("must differ from --out", param_hint="--noise-matrix-out")
    for option, path in (("--out", out), ("--noise-matrix-out", noise_matrix_out)):
        if path is not None:
            _io.check_output_file(path, option, force=force)
    inputs, labels, k, asym = _load(dataset, data_root, need_inputs=model == "instance",
                                     download=download)
    if model == "symmetric":
        result = noise.symmetric(labels, rate, num_classes=k, include_true=include_true,
                                 seed=seed)
    elif model == "asymmetric":
        if asym is None:
            raise click.BadParameter("asymmetric noise is defined for cifar10 / cifar100",
                                     param_hint="--noise")
        result = noise.asymmetric(labels, rate, dataset=asym, seed=seed)
    elif model == "pairflip":
        result = noise.pair_flip(labels, rate, num_classes=k, seed=seed)
    else:
        if inputs is None:
            raise click.BadParameter("instance noise needs inputs (a dataset or a .npz "
                                     "with X)", param_hint="--dataset")
        result = noise.instance_dependent(inputs, labels, rate, num_classes=k, seed=seed)
    # both files or neither: each is written to a temporary file first, renamed together
    with contextlib.ExitStack() as stack:
        for path, array in ((out, result.labels), (noise_matrix_out, result.noise_matrix)):
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                fh = stack.enter_context(_io.atomic_write(path))
                np.save(fh, array, allow_pickle=False)
    realised = float(np.mean(result.labels != labels))
    click.echo(f"{model} noise, requested rate {rate:g}, seed {seed}: {int(np.sum(result.labels != labels))}"
               f" of {labels.shape[0]} labels changed, realised noise rate {realised:.4f}")
    click.echo(f"saved noisy labels (int64, shape {result.labels.shape}) to {out}")
