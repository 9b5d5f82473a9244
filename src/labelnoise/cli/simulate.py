"""``labelnoise simulate``: corrupt a dataset's labels with a seeded noise model."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from labelnoise.cli._errors import Command, progress_option

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
    """(inputs or None, true labels, K, asymmetric-mapping name or None, class names of
    string labels in a ``.npy`` or None)."""

    from labelnoise import datasets

    if dataset in ("cifar10", "cifar10-test"):
        ds = datasets.load_cifar10("test" if dataset.endswith("test") else "train",
                                   data_root=data_root, load_images=need_inputs,
                                   download=download)
        return ds.inputs, ds.labels, 10, "cifar10", None
    if dataset in ("cifar100", "cifar100-test"):
        ds = datasets.load_cifar100("test" if dataset.endswith("test") else "train",
                                    data_root=data_root, load_images=need_inputs,
                                   download=download)
        return ds.inputs, ds.labels, 100, "cifar100", None
    path = Path(dataset)
    if path.suffix == ".npz" and path.is_file():
        ds = datasets.load_embeddings(path)
        return ds.inputs, ds.labels, ds.num_classes, None, None
    if path.suffix == ".npy" and path.is_file():
        from labelnoise._io import read_npy
        from labelnoise._validation import encode_labels

        # class indices, or class names (sorted; written back as names): the one rule
        labels, classes, _ = encode_labels(read_npy(path, "--dataset"), name=f"labels in {path}")
        k = len(classes) if classes is not None else int(labels.max()) + 1
        if k < 2:
            raise click.BadParameter(f"{path}: every label is class 0; simulating noise needs "
                                     "labels of at least 2 classes", param_hint="--dataset")
        return None, labels, k, None, classes
    raise click.BadParameter(
        f"{dataset!r} is neither a known dataset (cifar10, cifar10-test, cifar100, "
        "cifar100-test) nor an existing .npy (labels) / .npz (features, labels) file",
        param_hint="--dataset")


#: the column of ``simulate``'s output table holding a table's original labels
TRUE_SUFFIX = "_true"


def _load_table(dataset: str, label_column: str | None, out: Path, *, need_inputs: bool):
    """A table --dataset: ``{"frame", "column", "classes", "labels" (int64 codes into the
    sorted classes), "inputs" (its encoded feature columns, for instance noise, or None)}``;
    None for any other --dataset. Refuses a table without --label-column, --label-column
    without a table, an --out that is not .csv/.tsv, a label column that is missing, has a
    missing value or one class, and an existing ``<label>_true`` column."""
    from labelnoise import _io
    from labelnoise.datasets.tables import check_labels_present, label_codes

    path = Path(dataset).expanduser()
    if path.suffix.lower() not in _io.TABLE_SUFFIXES:
        if label_column is not None:
            raise click.BadParameter("applies to a table --dataset (.csv, .tsv, .parquet)",
                                     param_hint="--label-column")
        return None
    if label_column is None:
        raise click.BadParameter(f"{path.name} is a table: give --label-column",
                                 param_hint="--label-column")
    if out.suffix.lower() not in (".csv", ".tsv"):
        raise click.BadParameter(f"a table --dataset is saved as a table: .csv or .tsv, got "
                                 f"{out.name!r}", param_hint="--out")
    frame = _io.read_table(path, "--dataset")
    if label_column not in frame.columns:
        raise click.BadParameter(f"column {label_column!r} not in {path.name} (columns: "
                                 f"{list(frame.columns)})", param_hint="--label-column")
    if label_column + TRUE_SUFFIX in frame.columns:
        raise click.BadParameter(f"{path.name} already has a column "
                                 f"{label_column + TRUE_SUFFIX!r}, where the original labels "
                                 "would go", param_hint="--label-column")
    values = frame[label_column]
    try:
        check_labels_present(values, label_column)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--label-column") from None
    labels, classes = label_codes(values)
    if len(classes) < 2:
        raise click.BadParameter(f"column {label_column!r} holds one class; simulating noise "
                                 "needs at least 2", param_hint="--label-column")
    inputs = None
    if need_inputs:  # instance noise: the table's feature columns, encoded as the audit does
        from labelnoise import datasets

        inputs = datasets.load_table(path, label_column).inputs
    return {"frame": frame, "column": label_column, "classes": classes, "labels": labels,
            "inputs": inputs}


#: the file ``simulate`` writes at the root of a noisy image folder: each image's path in
#: it, its path in the original folder, its true class and the class folder it was put in
TRUTH_FILE = "truth.csv"


def _load_folder(dataset: str, out: Path, *, need_inputs: bool):
    """An image-folder --dataset: ``{"data": LabeledDataset, "inputs" (32 x 32 images for
    instance noise, or None)}``; None for any other --dataset. Refuses an --out
    that exists and is not an empty folder (the noisy folder is new)."""
    from labelnoise import _io, datasets

    root = Path(dataset).expanduser()
    if not root.is_dir():
        return None
    d = datasets.load_image_folder(root)
    if len(d.class_names) < 2:
        raise click.BadParameter(f"{root} has one class folder; simulating noise needs at "
                                 "least 2", param_hint="--dataset")
    if out.suffix.lower() in (".npy", ".npz", ".csv", ".tsv", ".parquet", ".pq", ".json"):
        raise click.BadParameter(f"the noisy copy of an image folder is a new folder; got the "
                                 f"file name {out.name!r}", param_hint="--out")
    _io.check_output_dir(out, "--out")
    if out.exists() and any(out.iterdir()):
        raise click.BadParameter(f"{out} exists and is not empty; the noisy copy of an image "
                                 "folder goes into a new folder", param_hint="--out")
    if out.resolve() == root.resolve() or root.resolve() in out.resolve().parents:
        raise click.BadParameter("must be outside the --dataset folder", param_hint="--out")
    inputs = None
    if need_inputs:  # instance noise: the images as the audit reads them (32 x 32 RGB)
        from labelnoise.audit import image_array

        inputs = image_array(d.inputs)
    return {"data": d, "inputs": inputs}


def _write_noisy_folder(folder: dict, noisy, out: Path) -> None:
    """The image folder with each image in the folder of its noisy class: ``out/<given
    class>/<n><suffix>`` (n its index in the original sorted listing, so that no name tells
    the true class and no two names collide), hard-linked where the filesystem allows, else
    copied; and ``out/truth.csv`` (``path``, ``original``, ``true``, ``given``). Built in a
    ``.partial`` sibling folder and renamed, so an interrupted run leaves no folder under
    ``out``'s name."""
    import os
    import shutil

    import pandas as pd

    from labelnoise import _io

    d = folder["data"]
    names = list(d.class_names)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    rows = []
    width = len(str(len(d.labels)))
    for i, (src, t, g) in enumerate(zip(d.info["paths"], d.labels, noisy)):
        src = Path(src)
        rel = f"{names[g]}/{i:0{width}d}{src.suffix.lower()}"
        (tmp / names[g]).mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, tmp / rel)
        except OSError:
            shutil.copy2(src, tmp / rel)
        rows.append((rel, d.info["relative_paths"][i], names[t], names[g]))
    for name in names:  # a class that lost every image keeps its (empty) folder
        (tmp / name).mkdir(parents=True, exist_ok=True)
    _io.write_csv(tmp / TRUTH_FILE, pd.DataFrame(rows, columns=["path", "original", "true",
                                                                 "given"]))
    if out.exists():
        out.rmdir()  # checked empty before
    tmp.rename(out)


def _noisy_table(table: dict, noisy):
    """The --dataset table with the noisy labels (class values) in its label column and the
    original ones in ``<label>_true`` right after it."""
    import numpy as np

    frame = table["frame"].copy()
    column = table["column"]
    at = list(frame.columns).index(column) + 1
    frame.insert(at, column + TRUE_SUFFIX, frame[column].to_numpy())
    frame[column] = np.asarray(table["classes"], dtype=object)[noisy]
    return frame


def read_noise_matrix(path: Path, num_classes: int | None, *, transpose: bool = False,
                      option: str = "--noise-matrix"):
    """A noise matrix ``noise_matrix[i, j] = P(given = i | true = j)`` (columns sum to 1)
    from a ``.npy``, a CSV/Parquet table of K columns (a header of class names is
    skipped) or the ``noise.json`` that ``labelnoise audit`` writes (its ``noise_matrix``);
    with ``transpose`` the file holds ``[true, given]`` (rows sum to 1). ``option`` names
    the command-line option in messages.

    Columns within 1e-3 of summing to 1 (a matrix written with rounded decimals) are
    renormalised.

    Returns:
        float64 (K, K).

    Raises:
        InputFileError: the file is missing, unreadable or not numeric.
        click.BadParameter: not square, negative or non-finite entries, a column (a row
            with ``transpose``) not summing to 1, or K not ``num_classes`` (the message
            names the entry, the column or both K).
    """
    import numpy as np

    from labelnoise._io import read_pred_probs
    from labelnoise._validation import validate_noise_matrix

    if Path(path).suffix.lower() == ".json":
        m = _audit_noise_matrix(Path(path), option)
    else:
        m, _ = read_pred_probs(path, option, mmap=False)
    m = np.array(m, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise click.BadParameter(f"{path} must hold a square (K, K) matrix, got shape {m.shape}",
                                 param_hint=option)
    if transpose:
        m = m.T
    try:
        m = validate_noise_matrix(m, atol=1e-3, name="noise matrix")
    except ValueError as exc:
        hint = ""
        rows = m.sum(axis=1)
        if np.isfinite(m).all() and np.allclose(rows, 1.0, atol=1e-3):
            hint = ("; its rows sum to 1: if it is stored as [true, given] (row = true class), "
                    "add --noise-matrix-transpose" if not transpose else
                    "; its rows sum to 1 after --noise-matrix-transpose: drop that option")
        layout = "[true, given] (rows" if transpose else "[given, true] (columns"
        raise click.BadParameter(f"{path}: {exc} (read as {layout} sum to 1){hint}",
                                 param_hint=option) from None
    m = m / m.sum(axis=0, keepdims=True)
    if num_classes is not None and m.shape[0] != num_classes:
        raise click.BadParameter(f"{path} is {m.shape[0]} x {m.shape[0]} but the dataset has "
                                 f"K = {num_classes} classes", param_hint=option)
    return m


def _audit_noise_matrix(path: Path, option: str):
    """The ``noise_matrix`` entry of an audit's ``noise.json`` (InputFileError otherwise)."""
    import numpy as np

    from labelnoise._io import InputFileError, read_json

    try:
        doc = read_json(path, "a readable JSON file")
    except FileNotFoundError:
        raise InputFileError(f"{option} {path}: no such file") from None
    except InputFileError as exc:
        raise InputFileError(f"{option} {exc}") from None
    if not isinstance(doc, dict) or "noise_matrix" not in doc:
        raise InputFileError(f"{option} {path}: a JSON file must be an audit's noise.json, "
                             "with a 'noise_matrix' entry")
    try:
        return np.array(doc["noise_matrix"], dtype=np.float64)
    except (TypeError, ValueError):
        raise InputFileError(f"{option} {path}: 'noise_matrix' is not a numeric "
                             "(K, K) matrix") from None


@click.command("simulate", cls=Command)
@click.option("--dataset", required=True,
              help="cifar10, cifar10-test, cifar100, cifar100-test, a labels .npy (class "
                   "indices or names) / embeddings .npz (features, labels) file, a "
                   ".csv/.tsv/.parquet table (--label-column), or an image folder (one "
                   "subfolder per class).")
@click.option("--label-column", default=None,
              help="The label column of a table --dataset (any values: strings, integers); "
                   "its classes are its sorted distinct values (the order of a "
                   "--noise-matrix's rows and columns).")
@click.option("--noise", "noise_spec", default=None,
              help="MODEL:RATE with MODEL in symmetric, asymmetric, pairflip, instance "
                   "(e.g. symmetric:0.5); or give --noise-matrix.")
@click.option("--noise-matrix", "noise_matrix_path", type=click.Path(path_type=Path), default=None,
              help="Class-conditional noise from a (K, K) matrix file (.npy or CSV/Parquet): "
                   "entry [i, j] = P(given = i | true = j), each column summing to 1; any K.")
@click.option("--noise-matrix-transpose", is_flag=True,
              help="--noise-matrix is stored as [true, given]: entry [i, j] = P(given = j | "
                   "true = i), each row summing to 1.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Where to save the noisy labels (.npy: int64, or the class names when "
                   "--dataset is a .npy of class names); for a table --dataset a "
                   ".csv/.tsv: the table with the noisy labels in --label-column and the "
                   "original ones in a new column <label-column>_true (for `labelnoise "
                   "audit --true-label-column`); for an image folder a new folder: each image "
                   "in the folder of its noisy class, and truth.csv (for `labelnoise audit "
                   "--true-labels`).")
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
@progress_option
def simulate(dataset, label_column, noise_spec, noise_matrix_path, noise_matrix_transpose, seed,
             out, data_root, include_true, noise_matrix_out, download, force, progress):
    """Corrupt a dataset's labels with a seeded noise model and save them.

    Prints the realised noise rate (fraction of labels changed). Examples:

        labelnoise simulate --dataset cifar10 --noise symmetric:0.5 --seed 0 --out noisy.npy

        labelnoise simulate --dataset labels.npy --noise-matrix T.csv --out noisy.npy

        labelnoise simulate --dataset shop.csv --label-column y --noise pairflip:0.2
        --out shop-noisy.csv; then labelnoise audit shop-noisy.csv --label-column y
        --true-label-column y_true measures the audit on your own data

        labelnoise simulate --dataset photos/ --noise symmetric:0.15 --out photos-noisy/;
        then labelnoise audit photos-noisy/ --true-labels photos-noisy/truth.csv
    """
    import numpy as np

    from labelnoise import _io, noise

    del progress  # simulation shows no progress bar
    if (noise_spec is None) == (noise_matrix_path is None):
        raise click.BadParameter("give one of --noise MODEL:RATE or --noise-matrix FILE",
                                 param_hint="--noise")
    if noise_matrix_transpose and noise_matrix_path is None:
        raise click.BadParameter("only with --noise-matrix", param_hint="--noise-matrix-transpose")
    model, rate = parse_noise(noise_spec) if noise_spec is not None else ("matrix", None)
    if noise_matrix_out is not None and Path(noise_matrix_out).resolve() == Path(out).resolve():
        raise click.BadParameter("must differ from --out", param_hint="--noise-matrix-out")
    for option, path in (("--out", out), ("--noise-matrix-out", noise_matrix_out)):
        if path is not None and not (path is out and Path(dataset).expanduser().is_dir()):
            _io.check_output_file(path, option, force=force)
    if noise_matrix_out is not None and noise_matrix_out.suffix.lower() != ".npy":
        raise click.BadParameter(f"the matrix is saved as a NumPy array: give a .npy name, got "
                                 f"{noise_matrix_out.name!r}", param_hint="--noise-matrix-out")
    folder = None if label_column is not None else _load_folder(
        dataset, out, need_inputs=model == "instance")
    table = None if folder is not None else _load_table(dataset, label_column, out,
                                                        need_inputs=model == "instance")
    classes = None
    if folder is not None:
        inputs, labels, asym = folder["inputs"], folder["data"].labels, None
        k = len(folder["data"].class_names)
    elif table is not None:
        inputs, labels, k, asym = table["inputs"], table["labels"], len(table["classes"]), None
    else:
        if out.suffix.lower() != ".npy":  # a table --dataset was checked by _load_table
            raise click.BadParameter(f"noisy labels are saved as a NumPy array: give a .npy "
                                     f"name, got {out.name!r}", param_hint="--out")
        inputs, labels, k, asym, classes = _load(dataset, data_root,
                                                  need_inputs=model == "instance",
                                                  download=download)
    if model == "matrix":
        # CIFAR, X with labels or a table: K is the data's (a labels .npy: any K above its max)
        fixed_k = (asym is not None or Path(dataset).suffix == ".npz" or table is not None
                   or folder is not None)
        matrix = read_noise_matrix(noise_matrix_path, k if fixed_k else None,
                                   transpose=noise_matrix_transpose)
        if labels.max() >= matrix.shape[0]:
            raise click.BadParameter(
                f"{noise_matrix_path} is {matrix.shape[0]} x {matrix.shape[0]} but the labels reach "
                f"class {int(labels.max())}; K must exceed the largest label",
                param_hint="--noise-matrix")
        result = noise.from_noise_matrix(labels, matrix, seed=seed)
    elif model == "symmetric":
        result = noise.symmetric(labels, rate, num_classes=k, include_true=include_true,
                                 seed=seed)
    elif model == "asymmetric":
        if asym is None:
            raise click.BadParameter("asymmetric noise is defined for cifar10 / cifar100; for "
                                     "other data give the noise matrix with --noise-matrix FILE",
                                     param_hint="--noise")
        result = noise.asymmetric(labels, rate, dataset=asym, seed=seed)
    elif model == "pairflip":
        result = noise.pair_flip(labels, rate, num_classes=k, seed=seed)
    else:
        if inputs is None:
            raise click.BadParameter("instance noise needs inputs (a dataset, a table or a "
                                     ".npz with features)", param_hint="--dataset")
        result = noise.instance_dependent(inputs, labels, rate, num_classes=k, seed=seed)
    if folder is not None:
        if noise_matrix_out is not None:
            noise_matrix_out.parent.mkdir(parents=True, exist_ok=True)
            _io.save_npy(noise_matrix_out, result.noise_matrix)
        _write_noisy_folder(folder, result.labels, out)
    # both files or neither: each is written to a temporary file first, renamed together
    with contextlib.ExitStack() as stack:
        for path, array in ((out, result.labels), (noise_matrix_out, result.noise_matrix)):
            if path is not None and folder is None:
                path.parent.mkdir(parents=True, exist_ok=True)
                if table is not None and path is out:
                    fh = stack.enter_context(_io.atomic_write(path, "w", newline=""))
                    _noisy_table(table, result.labels).to_csv(
                        fh, index=False, sep="\t" if path.suffix.lower() == ".tsv" else ",")
                else:
                    if path is out and classes is not None:
                        array = np.asarray(classes)[array]  # the class names, as given
                    fh = stack.enter_context(_io.atomic_write(path))
                    np.save(fh, array, allow_pickle=False)
    realised = float(np.mean(result.labels != labels))
    requested = (f"requested rate {rate:g}" if rate is not None else
                 f"K = {result.noise_matrix.shape[0]}, expected rate "
                 f"{1.0 - float(np.mean(matrix.diagonal()[labels])):.4f}")
    click.echo(f"{model} noise, {requested}, seed {seed}: {int(np.sum(result.labels != labels))}"
               f" of {labels.shape[0]} labels changed, realised noise rate {realised:.4f}")
    if folder is not None:
        names = folder["data"].class_names
        click.echo(f"classes (the order of a noise matrix): {', '.join(map(str, names))}")
        click.echo(f"saved the {labels.shape[0]} images in the folders of their noisy classes "
                   f"to {out} ({TRUTH_FILE} there: each image's true and given class); "
                   f"labelnoise audit {out} --true-labels {out / TRUTH_FILE} measures an audit "
                   "against them")
    elif table is not None:
        click.echo(f"classes (the order of a noise matrix): {', '.join(map(str, table['classes']))}")
        click.echo(f"saved the table with noisy labels in {table['column']!r} and the original "
                   f"ones in {table['column'] + TRUE_SUFFIX!r} to {out}")
    elif classes is not None:
        click.echo(f"classes (the order of a noise matrix): {', '.join(map(str, classes))}")
        click.echo(f"saved noisy labels (class names, shape {result.labels.shape}) to {out}")
    else:
        click.echo(f"saved noisy labels (int64, shape {result.labels.shape}) to {out}")
