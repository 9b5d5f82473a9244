"""Train on your own data: an image folder, a table, embeddings or arrays, any number of classes.

:func:`fit_dataset` is what ``labelnoise train DATASET`` runs for everything but CIFAR-10. It

1. loads the data the way ``labelnoise audit`` does (:func:`load_dataset`: an image folder,
   a ``.csv``/``.tsv``/``.parquet`` table with a label column (and ``text_columns``: free
   text embedded with all-MiniLM-L6-v2, the ``text`` extra), an ``.npz`` of embeddings; or
   a :class:`~labelnoise.datasets.LabeledDataset`, or arrays);
2. makes one input array: images read and resized to ``image_size`` x ``image_size`` RGB
   (:func:`labelnoise.audit.image_array`), features standardised with the mean and
   standard deviation of the training part (recorded in ``config.json``);
3. with ``val_fraction > 0`` holds out a seeded stratified validation set of the *given*
   (noisy) labels (:func:`stratified_split`). It takes the place of the engine's test set,
   so ``val_acc`` (accuracy against the given labels) is recorded after every epoch; the
   epoch with the best ``val_acc`` (the first, on ties) is selected, and its network
   predicts the test set. No clean label is needed for this model selection;
4. trains through the method registry (:data:`labelnoise.training.METHODS`) and the one
   epoch loop (:func:`labelnoise.training.engine.run`), with its checkpoints and exact
   resume. The selected epoch's weights are kept as a copy of its checkpoint
   (``best-checkpoint/``) and restored at the end through the engine's own resume (the copy,
   marked as finished, resumed for zero epochs). The partial-label methods (``proden``,
   ``coreg``) need candidate sets and are CIFAR-10 only (``labelnoise train cifar10
   --candidates``);
5. writes into ``out_dir`` (each file atomically, :mod:`labelnoise._io`): ``config.json``
   (first), ``history.json`` (after every epoch), ``checkpoint.pt`` / ``checkpoint.json``
   (the engine's), and at the end ``model.pt`` (the final network's ``state_dict``, read
   with ``torch.load(weights_only=True)``), ``model_best.pt`` (the selected epoch's, with a
   validation set), ``pred_probs.npy`` (the selected network on the test set, when one is
   given) and ``final.json`` (last). If the final writes fail, the ones made are removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from labelnoise._io import TABLE_SUFFIXES  # the suffixes a table DATASET may have
from labelnoise.datasets.folders import skip_unreadable_refused

#: the default network for images: the smallest CIFAR ResNet of :data:`labelnoise.models.MODELS`
DEFAULT_IMAGE_MODEL = "resnet8"
#: the default (and only) network for features (tables, embeddings)
DEFAULT_FEATURE_MODEL = "mlp"
#: images are resized to this many pixels square by default
DEFAULT_IMAGE_SIZE = 32
#: ``config.json``'s ``format``: ``labelnoise train --resume`` tells such a run folder by it
CONFIG_FORMAT = "labelnoise-train-dataset"
CONFIG_VERSION = 1
#: the copy of the checkpoint of the best epoch so far (runs with a validation set)
BEST_DIR = "best-checkpoint"
#: written at the end; final.json last
OUTPUT_FILES = ("model.pt", "model_best.pt", "pred_probs.npy", "final.json")


# ------------------------------------------------------------------------------ data
def dataset_kind(path: str | os.PathLike) -> str:
    """``"images"`` (a folder), ``"table"`` (.csv/.tsv/.parquet/.pq) or ``"embeddings"``
    (.npz), by the path alone.

    Raises:
        ValueError: another suffix.
    """
    p = Path(path).expanduser()
    if p.is_dir():
        return "images"
    suffix = p.suffix.lower()
    if suffix in TABLE_SUFFIXES:
        return "table"
    if suffix == ".npz":
        return "embeddings"
    if not p.exists():
        raise FileNotFoundError(f"dataset {str(path)!r} not found: give an image folder, a "
                                ".csv/.parquet table or an .npz of embeddings")
    raise ValueError(f"dataset {str(path)!r}: unknown kind of file (expected a folder, .csv, "
                     ".tsv, .parquet or .npz)")


def check_table_options(dataset, *, id_column=None, feature_columns=None) -> tuple:
    """``(id_column, feature_columns)`` checked against the dataset before anything is
    loaded: both name columns of a table file, so they need a ``.csv``/``.tsv``/``.parquet``
    path. ``feature_columns`` comes back as a list of names, or None when none are given.

    The names themselves (present in the table, not the label column) are checked by
    :func:`labelnoise.datasets.load_table`.

    Raises:
        ValueError: ``id_column`` not a string; ``feature_columns`` a single string or not a
            sequence of names; either given while ``dataset`` is not a table path.
    """
    from labelnoise.datasets.tables import column_names

    if id_column is not None and not isinstance(id_column, str):
        raise ValueError(f"id_column must be a column name (a string), got "
                         f"{type(id_column).__name__}")
    feature_columns = column_names(feature_columns, "feature_columns")
    for value, name, option in ((id_column, "id_column", "--id-column"),
                                (feature_columns, "feature_columns", "--feature-column")):
        if value is not None:
            _needs_table(dataset, f"{name} ({option}) names columns of a table")
    return id_column, feature_columns


def _needs_table(dataset, says: str) -> None:
    """Refuse a column option (``says``: what it names) for a dataset that is not a table
    file."""
    if not isinstance(dataset, str | os.PathLike):
        raise ValueError(f"{says}; the dataset is a {type(dataset).__name__}, not a table file")
    if Path(dataset).suffix.lower() not in TABLE_SUFFIXES:
        raise ValueError(f"{says}; dataset {str(dataset)!r} is not a table")


def check_text_columns(text_columns, dataset) -> list[str] | None:
    """``text_columns`` as a list of names (None when none are given), checked against the
    dataset before anything is loaded: text columns are columns of a table file.

    The names themselves (present in the table, not the label column, not named twice) are
    checked by :func:`labelnoise.datasets.load_table`.

    Raises:
        ValueError: ``text_columns`` is a single string or not a sequence of names, or
            names are given but ``dataset`` is not a ``.csv``/``.tsv``/``.parquet`` path
            (the messages are those of ``labelnoise audit``).
    """
    from labelnoise.datasets.tables import column_names

    names = column_names(text_columns, "text_columns")
    if names is not None:
        _needs_table(dataset, "text_columns (--text-column) names free-text columns of a table")
    return names


def load_dataset(path: str | os.PathLike, *, label_column: str | None = None,
                 text_columns: list[str] | None = None, id_column: str | None = None,
                 feature_columns: list[str] | None = None, encoding: dict | None = None,
                 skip_unreadable: bool = False, progress: bool = False):
    """Load an image folder, a table (needs ``label_column``) or an ``.npz`` of embeddings
    with the loaders of :mod:`labelnoise.datasets`.

    Args:
        path: an image folder, a ``.csv``/``.tsv``/``.parquet``/``.pq`` table or an ``.npz``.
        label_column: the label column of a table.
        text_columns: free-text columns of a table, each embedded as 384 features
            (all-MiniLM-L6-v2, offline; :func:`labelnoise.datasets.load_table`); needs
            ``pip install "labelnoise[text]"``.
        id_column: a column of a table naming each example (never a feature).
        feature_columns: the feature columns of a table (default: every column but the
            label, id and text columns, as :func:`labelnoise.datasets.load_table` chooses).
        encoding: a table's feature encoding (``info["encoding"]`` of the training table) for
            a test table: its columns and categories (:func:`labelnoise.datasets.load_table`).
        skip_unreadable: an image folder's undecodable files are left out (listed in
            ``info["unreadable"]``; :func:`labelnoise.datasets.load_image_folder`).
        progress: show the text embedding's progress bar (with ``text_columns``) or the
            image check's (with ``skip_unreadable``).

    Returns:
        :class:`~labelnoise.datasets.LabeledDataset` (a table's ``inputs``: float64 (N, D),
        the numeric and one-hot columns, then 384 values per text column).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: an unknown kind of file, a table without ``label_column``,
            ``text_columns``, ``id_column`` or ``feature_columns`` for a file that is not a
            table, and the loaders' errors (no class
            folders, a missing column, NaN features, a missing or non-text value in a text
            column...).
        labelnoise.text.MissingTextExtraError: (an ``ImportError``) ``text_columns`` given
            but the ``labelnoise[text]`` packages are not installed.
    """
    from labelnoise import datasets as ds

    text_columns = check_text_columns(text_columns, path)
    id_column, feature_columns = check_table_options(path, id_column=id_column,
                                                     feature_columns=feature_columns)
    kind = dataset_kind(path)
    p = Path(path).expanduser()
    if skip_unreadable and kind != "images":
        raise skip_unreadable_refused(f"{p} is not an image folder")
    if kind == "images":
        return ds.load_image_folder(p, skip_unreadable=skip_unreadable, progress=progress)
    if kind == "table":
        if not label_column:
            raise ValueError(f"a table ({p.name}) needs a label column (--label-column NAME)")
        return ds.load_table(p, label_column, feature_columns, id_column=id_column,
                             text_columns=text_columns, encoding=encoding, progress=progress)
    return ds.load_embeddings(p)


def stratified_split(labels, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified split of ``range(N)`` into (train, validation) indices, both sorted.

    Of every class with ``n`` examples, ``round(fraction * n)`` go to the validation set, but
    at most ``n - 1`` (a class keeps at least one training example). Drawn with
    ``numpy.random.default_rng(seed)``, class by class in increasing order.

    Raises:
        ValueError: ``fraction`` outside [0, 1), or a positive fraction that leaves no
            validation example.
    """
    from labelnoise._validation import check_fraction

    fraction = check_fraction(fraction, "val_fraction")
    labels = np.asarray(labels)
    n = labels.shape[0]
    if fraction == 0:
        return np.arange(n), np.empty(0, dtype=np.int64)
    rng = np.random.default_rng(seed)
    parts = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        n_val = min(int(np.floor(fraction * len(idx) + 0.5)), len(idx) - 1)
        if n_val > 0:
            parts.append(rng.permutation(idx)[:n_val])
    if not parts:
        raise ValueError(f"val_fraction {fraction} leaves no validation example among {n} "
                         "(a class keeps at least one training example); use a larger fraction")
    val = np.sort(np.concatenate(parts)).astype(np.int64)
    return np.setdiff1d(np.arange(n), val), val


def _input_kind(inputs, what: str) -> str:
    if inputs is None:
        raise ValueError(f"{what} has no inputs to train on (no numeric feature columns)")
    if isinstance(inputs, np.ndarray):
        if inputs.ndim == 4:
            return "images"
        if inputs.ndim == 2:
            return "features"
        raise ValueError(f"{what}: inputs must be images (N, H, W, C) or features (N, D), got "
                         f"shape {inputs.shape}")
    return "images"  # a (lazy) sequence of images, e.g. an image folder


@dataclass
class _Prep:
    """How raw inputs become the array the network reads (images: resized uint8; features:
    standardised float32)."""

    kind: str
    image_size: int
    mean: np.ndarray | None = None
    std: np.ndarray | None = None

    def __call__(self, inputs, index=None) -> np.ndarray:
        """The network's input array for ``inputs`` (rows ``index`` of features only); the
        first call on features fixes the mean and standard deviation."""
        if self.kind == "images":
            from labelnoise.audit import image_array

            return image_array(inputs, size=self.image_size)
        x = np.asarray(inputs)
        if index is not None:
            x = x[index]
        if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
            raise ValueError(f"features must be real numbers, got dtype {x.dtype}")
        if x.ndim != 2:
            raise ValueError(f"features must be a 2-D (N, D) array, got shape {x.shape}")
        x = x.astype(np.float64)
        if not np.isfinite(x).all():
            row = int(np.flatnonzero(~np.isfinite(x).all(axis=1))[0])
            raise ValueError(f"features have a NaN or infinite value in row {row}")
        if self.mean is None:
            self.mean = x.mean(axis=0)
            std = x.std(axis=0)
            self.std = np.where(std > 1e-12, std, 1.0)
        if x.shape[1] != self.mean.shape[0]:
            raise ValueError(f"features have {x.shape[1]} columns, the training set "
                             f"{self.mean.shape[0]}")
        return ((x - self.mean) / self.std).astype(np.float32)

    def describe(self) -> dict:
        if self.kind == "images":
            return {"kind": "images", "image_size": self.image_size,
                    "note": "RGB, resized (bicubic) unless given as one uint8 array"}
        return {"kind": "features", "standardize_mean": np.asarray(self.mean).tolist(),
                "standardize_std": np.asarray(self.std).tolist()}


def _as_dataset(source, labels, *, label_column, what: str, text_columns=None,
                id_column=None, feature_columns=None, encoding=None,
                skip_unreadable: bool = False, progress: bool = False):
    """(LabeledDataset, description) for a path, a LabeledDataset or (inputs, labels)."""
    from labelnoise.datasets import LabeledDataset

    if isinstance(source, LabeledDataset):
        ds = source
        desc = f"{ds.source or 'LabeledDataset'} ({len(ds)} examples)"
    elif isinstance(source, (str, os.PathLike)):
        try:
            ds = load_dataset(source, label_column=label_column, text_columns=text_columns,
                              id_column=id_column, feature_columns=feature_columns,
                              encoding=encoding, skip_unreadable=skip_unreadable,
                              progress=progress)
        except (FileNotFoundError, ValueError) as exc:
            if what == "dataset":
                raise
            raise type(exc)(f"{what} {source}: {exc}") from None
        desc = str(Path(source).expanduser().resolve())  # so that a resume finds it anywhere
    else:
        if labels is None:
            raise ValueError(f"{what}: give labels with an array of inputs")
        ds = LabeledDataset(inputs=source, labels=labels, source="arrays")
        shape = getattr(source, "shape", (len(source),))
        desc = f"arrays {tuple(shape)}"
        labels = None
    if labels is not None:
        ds = LabeledDataset(inputs=ds.inputs, labels=labels, true_labels=ds.true_labels,
                            class_names=list(ds.class_names), source=ds.source, info=ds.info)
    return ds, desc


def _class_names(ds, num_classes: int | None) -> list[str]:
    names = [str(c) for c in ds.class_names] or [str(i) for i in range(ds.num_classes)]
    if num_classes is not None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, int | np.integer):
            raise ValueError(f"num_classes must be an integer, got {num_classes!r}")
        if num_classes < len(names):
            raise ValueError(f"num_classes {num_classes} is below the {len(names)} classes of "
                             "the dataset")
        if num_classes > len(names) and names != [str(i) for i in range(len(names))]:
            # named classes (strings, a file's class_names): a number is no name for the rest
            raise ValueError(
                f"num_classes {num_classes} is above the {len(names)} named classes of the "
                f"dataset ({', '.join(names[:10])}); name every class instead (an .npz's "
                "class_names array)")
        names += [str(i) for i in range(len(names), num_classes)]
    if len(names) < 2:
        raise ValueError(f"training needs at least 2 classes, the dataset has {len(names)}")
    return names


def _test_labels(test_ds, class_names: list[str]) -> np.ndarray:
    """The test set's labels as indices into the training set's ``class_names`` (by name)."""
    names = [str(c) for c in test_ds.class_names] or [str(i) for i in range(test_ds.num_classes)]
    index = {n: i for i, n in enumerate(class_names)}
    mapping = np.array([index.get(n, -1) for n in names], dtype=np.int64)
    y = mapping[test_ds.labels]
    if (y < 0).any():
        name = names[int(test_ds.labels[np.flatnonzero(y < 0)[0]])]
        raise ValueError(f"the test set has class {name!r}, which is not a class of the training "
                         f"set ({', '.join(class_names[:10])}{' ...' if len(class_names) > 10 else ''})")
    return y


# ------------------------------------------------------------------------------ result
class NewInputs(NamedTuple):
    """New data read by :meth:`TrainResult.read_inputs`, as the training set was read.

    Attributes:
        inputs: what :meth:`TrainResult.predict_proba` takes: float (N, D) features, or
            an :class:`labelnoise.datasets.ImageFolderSequence` of N images.
        labels: the given labels as class names (object (N,)), or None when the data
            has none.
        example_ids: object (N,) ids (a table's ``id_column``, the images' paths relative
            to the folder, with ``/``), or None.
        unreadable: tuple of str, the image files left out by ``skip_unreadable`` (paths
            relative to the folder, with ``/``, sorted); empty otherwise.
    """

    inputs: Any
    labels: np.ndarray | None
    example_ids: np.ndarray | None
    unreadable: tuple[str, ...] = ()


@dataclass
class TrainResult:
    """What :func:`fit_dataset` returns.

    Attributes:
        model: the network after the last epoch, in eval mode (``model.pt``).
        best_model: the network of the selected epoch (``model_best.pt``): the epoch of the
            best ``val_acc`` with a validation set, else the last (then ``model`` itself).
        history: one dict per epoch: ``epoch``, ``train_loss``, ``lr``, ``seconds``, the
            method's entries, and ``val_acc`` (accuracy against the given labels of the
            validation set) with a validation set, else ``test_acc`` (None without a test
            set); ``history.json``.
        selected_epoch: the epoch (1-based) whose network predicted ``pred_probs``.
        pred_probs: float32 (N_test, K) of ``best_model`` on the test set, or None.
        test_labels: int64 (N_test,) test labels as indices into ``class_names``, or None.
        class_names: the K class names.
        train_index, val_index: indices into the dataset of the training and validation parts
            (None in a result read back by :func:`load_run`: the folder does not keep them).
        summary: the contents of ``final.json``.
        out_dir: the output folder, or None.
    """

    model: Any
    best_model: Any
    history: list[dict]
    selected_epoch: int
    pred_probs: np.ndarray | None
    test_labels: np.ndarray | None
    class_names: list[str]
    train_index: np.ndarray | None
    val_index: np.ndarray | None
    summary: dict
    out_dir: Path | None = None
    _prep: _Prep | None = field(default=None, repr=False)
    _config: dict | None = field(default=None, repr=False)

    @property
    def test_acc(self) -> float | None:
        """Accuracy of ``pred_probs`` against the test labels (None without a test set)."""
        return self.summary.get("test_acc")

    def predict_proba(self, inputs, *, best: bool = True) -> np.ndarray:
        """pred_probs (N, K) of ``best_model`` (or ``model``) on raw inputs of the training
        set's kind (images are resized, features standardised as in training)."""
        from labelnoise.training.engine import predict_proba

        if len(inputs) == 0:
            raise ValueError("no inputs to predict (0 rows)")
        return predict_proba(self.best_model if best else self.model, self._prep(inputs))

    def read_inputs(self, path: str | os.PathLike, *, progress: bool = False,
                    skip_unreadable: bool = False):
        """New data for :meth:`predict_proba`, read as the training set was: a table with the
        training table's feature columns, categories and text columns (its label column
        optional), an ``.npz`` (``X`` / ``features`` / ``embeddings``), an ``.npy`` (N, D) array, or an image folder (every
        image file under it, in sorted order; with ``skip_unreadable`` every file is decoded
        once now and those that cannot be are left out, so that the returned ids lack them).

        Returns:
            :class:`NewInputs` ``(inputs, labels, example_ids, unreadable)``: the inputs,
            the given labels as names (an object array, or None when the data has none),
            the examples' ids (a table's ``id_column``, the images' relative paths, or
            None) and the image files left out by ``skip_unreadable``.

        Raises:
            FileNotFoundError: ``path`` does not exist.
            ValueError: data of another kind than the training set, a missing column, a
                label outside the run's classes, non-finite features, ``skip_unreadable``
                for data that is not an image folder or whose images none can be read.
        """
        from labelnoise import datasets as ds
        from labelnoise._io import read_npy, read_npz

        cfg = self._config or {}
        p = Path(path).expanduser()
        if not p.exists():
            raise FileNotFoundError(f"data not found: {p}")
        images = self._prep is not None and self._prep.kind == "images"
        kind = "images" if p.is_dir() else ("table" if p.suffix.lower() in TABLE_SUFFIXES
                                            else p.suffix.lower())
        if (kind == "images") != images:
            raise ValueError(f"{p.name}: the run trained on "
                             f"{'images' if images else 'features'}; give data of that kind")
        if skip_unreadable and kind != "images":
            raise skip_unreadable_refused(f"{p.name} is not an image folder")
        if kind == "images":
            from labelnoise.datasets.folders import IMAGE_SUFFIXES, image_files, unreadable_reason

            files = image_files(p)
            if not files:
                raise ValueError(f"{p} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
            left_out = ()
            if skip_unreadable:
                from tqdm.auto import tqdm

                readable = [unreadable_reason(f) is None
                            for f in tqdm(files, desc="checking images", unit="image",
                                          disable=not progress)]
                left_out = tuple(sorted(f.relative_to(p).as_posix()
                                        for f, ok in zip(files, readable) if not ok))
                files = [f for f, ok in zip(files, readable) if ok]
                if not files:
                    raise ValueError(f"{p}: none of its image files can be read")
            rel = [f.relative_to(p).parts for f in files]
            # a folder of class subfolders (a labelled set, as the training folder): labels
            labelled = all(len(r) > 1 and r[0] in self.class_names for r in rel)
            labels = np.asarray([r[0] for r in rel], dtype=object) if labelled else None
            return NewInputs(ds.ImageFolderSequence(files), labels,
                             np.asarray(["/".join(r) for r in rel], dtype=object), left_out)
        if kind == "table":
            encoding = cfg.get("table_encoding")
            if encoding is None:
                raise ValueError(f"{p.name} is a table, but the run's config.json holds no "
                                 "table encoding (the run did not train on a table, or was "
                                 "made before labelnoise recorded it: train it again)")
            return NewInputs(*ds.read_table_inputs(
                p, encoding, label_column=cfg.get("label_column"),
                id_column=cfg.get("id_column"), text_columns=cfg.get("text_columns"),
                class_names=self.class_names, progress=progress))
        if kind == ".npz":
            z = read_npz(p, "data")
            X = ds.npz_features(z, p.name)
            labels = None
            if "labels" in z:
                idx = np.asarray(z["labels"])
                if idx.dtype.kind in "USb":  # the labels themselves (class names)
                    if idx.ndim != 1:
                        raise ValueError(f"{p.name}: labels must be 1-D (N,), got shape "
                                         f"{idx.shape}")
                    return NewInputs(X, idx.astype(str).astype(object), None)
                names = ([str(n) for n in z["class_names"]] if "class_names" in z
                         else self.class_names)
                if (idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer)
                        or (idx.size and (idx.min() < 0 or idx.max() >= len(names)))):
                    raise ValueError(f"{p.name}: labels must be (N,) integers indexing its "
                                     f"{len(names)} class names, or the class names")
                labels = np.asarray(names, dtype=object)[idx]
            return NewInputs(X, labels, None)
        if kind == ".npy":
            return NewInputs(read_npy(p, "data"), None, None)
        raise ValueError(f"{p.name}: give a table (.csv/.tsv/.parquet), an .npz, an .npy or an "
                         "image folder")


# ------------------------------------------------------------------------------ outputs
def _rename_for_validation(history: list[dict], validating: bool) -> list[dict]:
    """The engine's history with its ``test_acc*`` entries renamed ``val_acc*`` when its
    test set is the validation set."""
    if not validating:
        return [dict(r) for r in history]
    return [{(("val_acc" + k[len("test_acc"):]) if k.startswith("test_acc") else k): v
             for k, v in r.items()} for r in history]


def _copy_atomic(src: Path, dst: Path) -> None:
    from labelnoise import _io

    with _io.atomic_write(dst) as out, open(src, "rb") as fh:
        shutil.copyfileobj(fh, out)


def _keep_best(ckpt_dir: Path, history: list[dict]) -> None:
    """Copy the checkpoint to ``BEST_DIR`` when its epoch (the last of ``history``) has the
    best validation accuracy so far (strictly: the first best is kept on ties)."""
    accs = [r["test_acc"] for r in history]
    if int(np.argmax(accs)) != len(accs) - 1:
        return
    best = ckpt_dir / BEST_DIR
    best.mkdir(exist_ok=True)
    from labelnoise.training.engine import CHECKPOINT_NAME, MANIFEST_NAME

    _copy_atomic(ckpt_dir / MANIFEST_NAME, best / MANIFEST_NAME)
    _copy_atomic(ckpt_dir / CHECKPOINT_NAME, best / CHECKPOINT_NAME)


def _sync_best_before_resume(ckpt_dir: Path) -> None:
    """An interrupted run may have saved the checkpoint of its best epoch without copying
    it (the copy follows the save): copy it now, before the resumed run overwrites it.
    Does nothing when the checkpoint cannot be read (the engine's resume then reports it)."""
    import torch

    from labelnoise.training.engine import CHECKPOINT_FORMAT, CHECKPOINT_NAME, MANIFEST_NAME

    try:
        manifest = json.loads((ckpt_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
        if manifest.get("format") != CHECKPOINT_FORMAT:
            return
        state = torch.load(ckpt_dir / CHECKPOINT_NAME, map_location="cpu", weights_only=True)
        history = state["history"]
        if history:
            _keep_best(ckpt_dir, history)
    except Exception:  # the engine's resume reports a bad checkpoint
        return


def _restore(fit, x, y, kwargs: dict, best_dir: Path, epochs: int):
    """The network of the checkpoint in ``best_dir``: the copy, marked as the last epoch,
    resumed through the engine (the method is set up and loaded; no epoch runs)."""
    import torch

    from labelnoise._io import temp_path
    from labelnoise.training.engine import CHECKPOINT_NAME, MANIFEST_NAME

    tmp = temp_path(best_dir)  # named before it exists: removed also if interrupted
    try:
        tmp.mkdir(mode=0o700)
        state = torch.load(best_dir / CHECKPOINT_NAME, map_location="cpu", weights_only=True)
        state["epoch"] = epochs
        torch.save(state, tmp / CHECKPOINT_NAME)
        shutil.copyfile(best_dir / MANIFEST_NAME, tmp / MANIFEST_NAME)
        result = fit(x, y, **kwargs, checkpoint_dir=tmp, resume=True, progress=False)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result.model


def save_state_dict(path: Path, model) -> None:
    """Write ``model``'s ``state_dict`` (tensors detached, copied to the CPU) to ``path``
    atomically (:func:`labelnoise._io.atomic_write`): the ``model.pt`` of a run, which
    :func:`load_run` reads back with ``torch.load(..., weights_only=True)``.

    Raises:
        OSError: ``path``'s folder is not writable (nothing is left under ``path``).
    """
    import torch

    from labelnoise import _io

    state = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
    with _io.atomic_write(path) as fh:
        torch.save(state, fh)


def _normalise(obj):
    return json.loads(json.dumps(obj, default=str))


# ------------------------------------------------------------------------------ main
def fit_dataset(
    dataset,
    labels=None,
    *,
    label_column: str | None = None,
    text_columns: list[str] | None = None,
    id_column: str | None = None,
    feature_columns: list[str] | None = None,
    test=None,
    method: str = "standard",
    model: str | None = None,
    val_fraction: float = 0.0,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    method_kwargs: dict | None = None,
    num_classes: int | None = None,
    image_size: int = DEFAULT_IMAGE_SIZE,
    seed: int = 0,
    device=None,
    out_dir: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
    skip_unreadable: bool = False,
) -> TrainResult:
    """Train a classifier on a dataset's given (noisy) labels with a method of
    :data:`labelnoise.training.METHODS`; optionally select the epoch on a noisy validation
    split and predict a test set. See the module docstring for the steps and files.

    Args:
        dataset: an image folder, a ``.csv``/``.tsv``/``.parquet`` table (with
            ``label_column``) or an ``.npz`` of embeddings (``X`` / ``features`` / ``embeddings``,
            ``labels`` as indices or class names[,
            ``class_names``]); a :class:`~labelnoise.datasets.LabeledDataset`; or inputs as
            an array: uint8 images (N, H, W, C), features (N, D), or a sequence of images.
        labels: int (N,) given labels: required with array inputs; with a path or a
            LabeledDataset they replace its labels (e.g. simulated noisy labels).
        label_column: the label column of a table (also of a test table).
        text_columns: free-text columns of a table (also of a test table), each embedded as
            384 float features (all-MiniLM-L6-v2 sentence embeddings, offline, as
            ``labelnoise audit --text-column``; :func:`labelnoise.datasets.load_table`)
            before the standardisation; needs ``pip install "labelnoise[text]"``. A list of
            names; ``dataset`` must then be a table path. :meth:`TrainResult.predict_proba`
            takes the features, so embed new texts with
            :func:`labelnoise.text.embed_texts` first.
        id_column: a column of a table (also of a test table) naming each example (such as
            ``bottle_id``): never a feature, and no warning that it is left out.
        feature_columns: the feature columns of a table (also of a test table), a list of
            names; default every column but the label, id and text columns (non-numeric
            ones with few values one-hot encoded, free text and ids left out with a
            :class:`~labelnoise.datasets.TableWarning`).
        test: an optional labelled test set of the same kind: a path, a LabeledDataset or
            ``(inputs, labels)``. Classes are matched to the training set's by name (a path or
            a LabeledDataset) or taken as indices (arrays).
        method: a name of :data:`labelnoise.training.METHODS` (not the partial-label ones).
        model: a network of :data:`labelnoise.models.MODELS`; default
            :data:`DEFAULT_IMAGE_MODEL` for images, ``"mlp"`` for features.
        val_fraction: in [0, 1): hold out this stratified, seeded fraction of the examples
            (with their given labels) to select the epoch by ``val_acc``.
        epochs, batch_size, lr: the method's settings (default: the method's own defaults).
        method_kwargs: other keyword arguments of the method's ``fit`` (``loss``,
            ``forget_rate``, ``lambda_u``, ``warmup_epochs``, ...).
        num_classes: K, when it exceeds the classes the dataset names (an ``.npz`` without
            ``class_names`` whose last classes have no training example).
        image_size: images are resized to this square size (an image folder or a sequence;
            a uint8 array is used as given).
        seed: seeds the split, the network initialisation and the data order.
        device: torch device (default CUDA if available, else CPU).
        out_dir: where to write (see the module docstring); must be absent or empty unless
            ``resume``. None: nothing is written.
        resume: continue the interrupted run in ``out_dir`` (same data and settings; the
            result is that of an uninterrupted run).
        progress: show a progress bar.
        skip_unreadable: leave the undecodable files of an image folder (the dataset, and
            an image-folder test set) out instead of stopping at the first (each file is
            decoded once beforehand; :func:`labelnoise.datasets.load_image_folder`); their
            paths are kept in config.json (``unreadable``, ``test_unreadable``). Only with
            a dataset given by its path and no ``labels``.

    Returns:
        :class:`TrainResult`. In a distributed run (a process group of several processes,
        see :mod:`labelnoise.training.distributed`; every rank calls ``fit_dataset``), rank
        0 writes every file and returns the result, the other ranks return None.

    Raises:
        ValueError: bad arguments, data, or a resume whose settings differ.
        FileNotFoundError: a missing dataset.
        FileExistsError: ``out_dir`` is not empty and not ``resume``.
        labelnoise._io.OutputError: ``out_dir`` cannot be written.
        labelnoise.text.MissingTextExtraError: (an ``ImportError``) ``text_columns`` given
            but the ``labelnoise[text]`` packages are not installed (nothing is written).
    """
    from labelnoise import _io, training
    from labelnoise._validation import check_fraction, validate_seed
    from labelnoise.models import MODELS

    t0 = time.perf_counter()
    # ---- arguments (cheap checks first)
    if method not in training.METHODS:
        raise ValueError(f"method must be one of {list(training.METHODS)}, got {method!r}")
    entry = training.METHODS[method]
    if entry.candidates:
        raise ValueError(f"method {method!r} learns from candidate sets; it is available for "
                         "CIFAR-10 only (labelnoise train cifar10 --candidates FILE)")
    check_fraction(val_fraction, "val_fraction")
    if isinstance(image_size, bool) or not isinstance(image_size, int | np.integer) or image_size < 8:
        raise ValueError(f"image_size must be an integer >= 8, got {image_size!r}")
    seed = validate_seed(seed)
    if model is not None and model not in MODELS:
        raise ValueError(f"model must be one of {list(MODELS)}, got {model!r}")
    if resume and out_dir is None:
        raise ValueError("resume=True needs out_dir (the folder of the interrupted run)")
    text_columns = check_text_columns(text_columns, dataset)
    id_column, feature_columns = check_table_options(dataset, id_column=id_column,
                                                     feature_columns=feature_columns)
    method_kwargs = dict(method_kwargs or {})
    reserved = {"model", "epochs", "batch_size", "lr", "seed", "device", "test_images",
                "test_labels", "checkpoint_dir", "resume", "progress", "on_epoch",
                "num_classes", "true_labels"}
    if reserved & set(method_kwargs):
        raise ValueError(f"method_kwargs may not set {sorted(reserved & set(method_kwargs))}; "
                         "they are arguments of fit_dataset or set by it")
    if "sample_weight" in method_kwargs:  # rows of the dataset, not of the split trained on
        raise ValueError("method_kwargs may not set sample_weight: fit_dataset takes no "
                         "per-example weights (train with standard.fit / elr.fit, or "
                         "RobustMLPClassifier.fit(X, y, sample_weight=))")
    unknown = sorted(a for a in method_kwargs if not entry.accepts(a))
    if unknown:
        raise ValueError(f"method_kwargs: method {method!r} takes no {', '.join(unknown)}")
    if isinstance(dataset, (str, os.PathLike)) and isinstance(test, (str, os.PathLike)):
        kind, test_kind = dataset_kind(dataset), dataset_kind(test)
        if kind != test_kind:
            raise ValueError(f"the test set {str(test)!r} is {'an' if test_kind[0] in 'ie' else 'a'} "
                             f"{test_kind} but the dataset is {'an' if kind[0] in 'ie' else 'a'} "
                             f"{kind}; give one of the same kind")
    out = None
    if out_dir is not None:
        out = _io.check_output_dir(out_dir, "--out")
        nonempty = out.exists() and any(out.iterdir())
        if nonempty and not resume:
            raise FileExistsError(f"--out {out} is not empty; use a new folder, or resume "
                                  f"(--resume {out}) to continue the run in it")
        if resume and not (out / "config.json").is_file():
            raise ValueError(f"{out} holds no config.json: nothing to resume")

    # ---- data
    if skip_unreadable and not isinstance(dataset, (str, os.PathLike)):
        raise skip_unreadable_refused("the dataset is not given by its path")
    if skip_unreadable and labels is not None:
        raise ValueError("skip_unreadable (--skip-unreadable) with labels: their rows cannot "
                         "be matched to the files left out; remove the unreadable files")
    table = dict(text_columns=text_columns, id_column=id_column,
                 feature_columns=feature_columns)
    ds, desc = _as_dataset(dataset, labels, label_column=label_column, what="dataset",
                           skip_unreadable=skip_unreadable, progress=progress, **table)
    kind = _input_kind(ds.inputs, f"dataset {desc}")
    class_names = _class_names(ds, num_classes)
    k = len(class_names)
    if model is None:
        model = DEFAULT_IMAGE_MODEL if kind == "images" else DEFAULT_FEATURE_MODEL
    takes = MODELS[model].inputs
    if (takes == "images") != (kind == "images"):
        nets = [n for n, s in MODELS.items() if (s.inputs == "images") == (kind == "images")]
        raise ValueError(f"model {model!r} takes {takes}, but the dataset holds "
                         f"{'images' if kind == 'images' else 'features'}; use one of {nets}")
    test_ds = test_desc = y_test = None
    if test is not None:
        if isinstance(test, tuple) and len(test) == 2:
            from labelnoise._validation import validate_labels
            from labelnoise.datasets import LabeledDataset

            y_test = validate_labels(test[1], num_classes=k, name="test labels")
            test_ds = LabeledDataset(inputs=test[0], labels=y_test, source="arrays")
            test_desc = f"arrays {tuple(getattr(test[0], 'shape', (len(test[0]),)))}"
        else:
            # a test table is encoded as the training table (its columns and categories)
            encoding = ds.info.get("encoding") if ds.info else None
            test_table = dict(table, feature_columns=None) if encoding else table
            test_ds, test_desc = _as_dataset(
                test, None, label_column=label_column, what="test set", progress=progress,
                encoding=encoding, skip_unreadable=skip_unreadable and isinstance(
                    test, (str, os.PathLike)) and dataset_kind(test) == "images", **test_table)
            y_test = _test_labels(test_ds, class_names)
        if _input_kind(test_ds.inputs, f"test set {test_desc}") != kind:
            raise ValueError("the test set must be of the dataset's kind (images or features)")
    train_idx, val_idx = stratified_split(ds.labels, float(val_fraction), seed)
    if len(train_idx) < 2:
        raise ValueError(f"training needs at least 2 examples, got {len(train_idx)}")
    validating = len(val_idx) > 0
    prep = _Prep(kind, int(image_size))
    if kind == "images":
        x_all = prep(ds.inputs)
        x, x_val = x_all[train_idx], x_all[val_idx]
    else:
        x = prep(ds.inputs, train_idx)  # standardised with the training part's statistics
        x_val = prep(ds.inputs, val_idx)
    y, y_val = ds.labels[train_idx], ds.labels[val_idx]
    x_test = prep(test_ds.inputs) if test_ds is not None else None
    if x_test is not None and x_test.shape[1:] != x.shape[1:]:
        raise ValueError(f"test inputs have shape {x_test.shape[1:]} per example, the dataset "
                         f"{x.shape[1:]}")

    settings = {
        "format": CONFIG_FORMAT, "version": CONFIG_VERSION, "dataset": desc,
        "label_column": label_column, "text_columns": text_columns, "test": test_desc,
        # absent (None) in the configs of runs made before these options: a resume compares
        # saved.get(key), so such runs still resume
        "id_column": id_column, "feature_columns": feature_columns,
        "skip_unreadable": skip_unreadable or None,
        # the files left out (skip_unreadable): the dataset's and the test set's
        "unreadable": [u["file"] for u in (ds.info or {}).get("unreadable", [])] or None,
        "test_unreadable": [u["file"] for u in ((test_ds.info or {}) if test_ds is not None
                                                else {}).get("unreadable", [])] or None,
        # how a new table is encoded as this one (load_run, labelnoise predict); derived
        # from the data, which the engine's checkpoint already fingerprints: not compared
        "table_encoding": (ds.info or {}).get("encoding"),
        "method": method, "model": model,
        "method_kwargs": method_kwargs, "epochs": epochs, "batch_size": batch_size, "lr": lr,
        "val_fraction": float(val_fraction), "num_classes": num_classes,
        "image_size": int(image_size), "seed": seed, "device": None if device is None else str(device),
        "class_names": class_names, "preprocessing": prep.describe(),
    }
    settings = _normalise(settings)
    if resume:
        from labelnoise._io import read_json

        saved = read_json(out / "config.json", "a valid run configuration")
        ignore = ("device", "table_encoding")
        diff = {key: (saved.get(key) if isinstance(saved, dict) else None, value)
                for key, value in settings.items()
                if key not in ignore and (not isinstance(saved, dict) or saved.get(key) != value)}
        if diff:
            raise ValueError(f"{out / 'config.json'} was written with other settings or data "
                             f"(saved, now): {diff}"[:2000])

    # ---- training
    from labelnoise.training import distributed, engine

    # a distributed run (every rank calls fit_dataset): every rank has made the checks above
    # before rank 0 writes anything; rank 0 alone writes and returns the result
    world = distributed.current()
    world.barrier()
    fit = entry.load()
    dev = engine.resolve_device(device)
    kwargs: dict[str, Any] = dict(model=model, seed=seed, device=dev)
    if entry.accepts("num_classes"):
        kwargs["num_classes"] = k
    for key, value in (("epochs", epochs), ("batch_size", batch_size), ("lr", lr)):
        if value is not None:
            kwargs[key] = value
    kwargs.update(method_kwargs)
    train_kwargs = dict(kwargs)  # without the evaluation set and diagnostics: for the restore
    if validating:
        kwargs.update(test_images=x_val, test_labels=y_val)
    elif x_test is not None:
        kwargs.update(test_images=x_test, test_labels=y_test)
    if ds.true_labels is not None and entry.accepts("true_labels"):
        kwargs["true_labels"] = ds.true_labels[train_idx]  # diagnostics only, never trained on

    scratch = None
    created = out is not None and not out.exists()
    written: list[Path] = []
    try:
        if out is not None:
            if world.is_main:
                out.mkdir(parents=True, exist_ok=True)
                if not resume:
                    _io.write_json(out / "config.json", settings)
            ckpt_dir = out
        elif validating:
            scratch = tempfile.TemporaryDirectory(prefix=_io.TMP_PREFIX)
            ckpt_dir = Path(scratch.name)
        else:
            ckpt_dir = None

        def on_epoch(history):
            if validating:
                _keep_best(ckpt_dir, history)
            if out is not None:
                _io.write_json(out / "history.json", _rename_for_validation(history, validating))

        resuming = resume and (out / engine.CHECKPOINT_NAME).exists()
        if resuming and validating and world.is_main:
            _sync_best_before_resume(out)
        result = fit(x, y, checkpoint_dir=ckpt_dir, resume=resuming, progress=progress,
                     on_epoch=on_epoch, **kwargs)
        if not world.is_main:
            return None
        history = _rename_for_validation(result.history, validating)
        final_model = result.model
        if validating:
            accs = [r["val_acc"] for r in history]
            selected = int(np.argmax(accs)) + 1
            if selected == len(history):
                best_model = final_model
            else:  # rank 0 alone (no collective) in a distributed run
                with distributed.local():
                    best_model = _restore(fit, x, y, train_kwargs, ckpt_dir / BEST_DIR,
                                          len(history))
        else:
            selected, best_model = len(history), final_model
        pred_probs = None
        if x_test is not None:
            pred_probs = engine.predict_proba(best_model, x_test)

        def acc(pp, labels):
            return None if pp is None else float(np.mean(pp.argmax(1) == labels))

        final_test_pp = (pred_probs if best_model is final_model or x_test is None
                         else engine.predict_proba(final_model, x_test))
        import torch

        summary = {
            "method": method, "model": model, "dataset": desc, "test": test_desc,
            "num_classes": k, "class_names": class_names, "n_train": int(len(train_idx)),
            "n_val": int(len(val_idx)), "n_test": None if y_test is None else int(len(y_test)),
            "val_fraction": float(val_fraction), "epochs": len(history),
            "unreadable_left_out": len(settings["unreadable"] or []),
            "test_unreadable_left_out": len(settings["test_unreadable"] or []),
            "selection": "best val_acc (given labels)" if validating else "last epoch",
            "selected_epoch": selected,
            "best_val_acc": history[selected - 1]["val_acc"] if validating else None,
            "final_val_acc": history[-1]["val_acc"] if validating else None,
            "test_acc": acc(pred_probs, y_test),
            "final_test_acc": acc(final_test_pp, y_test),
            "train_seconds": sum(r["seconds"] for r in history),
            "wall_seconds_this_call": time.perf_counter() - t0,
            "device": str(dev),
            "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
            "torch": torch.__version__,
        }
        if out is not None:
            outputs = [("model.pt", final_model)]
            if validating:
                outputs.append(("model_best.pt", best_model))
            for name, net in outputs:
                written.append(out / name)
                save_state_dict(out / name, net)
            if pred_probs is not None:
                written.append(out / "pred_probs.npy")
                _io.save_npy(out / "pred_probs.npy", pred_probs)
            summary["outputs"] = [p.name for p in written] + ["final.json"]
            written.append(out / "final.json")
            _io.write_json(out / "final.json", summary)
    except BaseException:
        for path in written:
            with contextlib.suppress(OSError):
                path.unlink()
        if (out is not None and world.is_main and not resume
                and not (out / engine.CHECKPOINT_NAME).exists()):
            # a fresh run that failed before its first checkpoint leaves nothing behind
            for name in ("config.json", "history.json", engine.MANIFEST_NAME):
                with contextlib.suppress(OSError):
                    (out / name).unlink()
            shutil.rmtree(out / BEST_DIR, ignore_errors=True)
            if created and out.is_dir() and not any(out.iterdir()):
                out.rmdir()
        raise
    finally:
        if scratch is not None:
            scratch.cleanup()
    return TrainResult(model=final_model, best_model=best_model, history=history,
                       selected_epoch=selected, pred_probs=pred_probs, test_labels=y_test,
                       class_names=class_names, train_index=train_idx, val_index=val_idx,
                       summary=summary, out_dir=out, _prep=prep, _config=settings)


# ------------------------------------------------------------------------------ read back
def load_run(run_dir: str | os.PathLike, *, device=None) -> TrainResult:
    """The result of a finished ``labelnoise train DATASET`` / :func:`fit_dataset` run, or of
    a ``labelnoise train cifar10`` run, read back from its folder, to predict new data of the
    training set's kind (a CIFAR-10 run: images, resized to 32 x 32, its ten classes).

    The networks are rebuilt from the engine's manifest (``checkpoint.json``: the network,
    its options, K and the input shape) and loaded from ``model.pt`` / ``model_best.pt``
    with ``torch.load(weights_only=True)`` (two-network methods: the
    :class:`~labelnoise.training.engine.Ensemble` they predict with). The preprocessing is the
    run's (``config.json``: the features' mean and standard deviation, or the image size);
    a table's encoding (columns, categories) is in ``config.json`` too, for
    :meth:`TrainResult.read_inputs`. The training data is not needed.

    Args:
        run_dir: the ``out_dir`` of a finished run (``final.json`` present).
        device: where the networks go (default CUDA if available, else CPU).

    Returns:
        :class:`TrainResult` with ``model``, ``best_model`` (``model`` itself without a
        validation set), ``history`` (``history.json``; a CIFAR-10 run's
        ``metrics.jsonl``), ``selected_epoch``, ``pred_probs``
        (``pred_probs.npy`` or None), ``class_names``, ``summary`` (``final.json``) and
        ``out_dir``; ``test_labels``, ``train_index`` and ``val_index`` are None.

    Raises:
        FileNotFoundError: ``run_dir`` or one of its files is missing (an unfinished run has
            no ``final.json``: finish it with ``labelnoise train --resume``).
        ValueError: the folder is not a ``labelnoise train`` run, or its weights do not fit
            the network the manifest names.
    """
    import torch

    from labelnoise import _io
    from labelnoise.models import MODELS, build_model
    from labelnoise.training import engine

    run = Path(run_dir).expanduser()
    if not run.is_dir():
        raise FileNotFoundError(f"run folder not found: {run}")

    def read(name):
        path = run / name
        if not path.is_file():
            if name == "config.json":
                raise FileNotFoundError(f"{run} is not a labelnoise train run (no config.json)")
            hint = (f" (the run is not finished: labelnoise train --resume {run})"
                    if name == "final.json" else "")
            raise FileNotFoundError(f"{path} is missing{hint}")
        return _io.read_json(path, "valid JSON")

    config = read("config.json")
    # a labelnoise train cifar10 run: its own config.json (the command's settings), its
    # history in metrics.jsonl, the last epoch's network (no validation set)
    cifar = (isinstance(config, dict) and "format" not in config
             and config.get("dataset") == "cifar10")
    if not cifar and (not isinstance(config, dict) or config.get("format") != CONFIG_FORMAT):
        raise ValueError(f"{run} is not a labelnoise train run (its config.json has neither "
                         f"format {CONFIG_FORMAT!r} nor dataset 'cifar10')")
    summary, manifest = read("final.json"), read(engine.MANIFEST_NAME)
    if cifar:
        from labelnoise.datasets import CIFAR10_CLASSES

        try:
            history = [json.loads(line) for line in (run / "metrics.jsonl").read_text(
                encoding="utf-8").splitlines() if line.strip()]
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _io.InputFileError(f"{run / 'metrics.jsonl'} is not a run's history "
                                     f"({exc})") from None
        config = dict(config, class_names=list(CIFAR10_CLASSES),
                      preprocessing={"kind": "images", "image_size": 32})
        summary = dict(summary, selected_epoch=len(history))
    else:
        history = read("history.json")
    try:
        name = manifest["config"]["model"]
        model_kwargs = dict(manifest["config"].get("model_kwargs") or {})
        k = int(manifest["data"]["num_classes"])
        shape = list(manifest["data"]["input_shape"])
        spec = MODELS[name]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{run / engine.MANIFEST_NAME}: no network to rebuild ({exc!r})") from None
    model_kwargs.setdefault("in_channels" if spec.inputs == "images" else "in_features", shape[0])
    dev = engine.resolve_device(device)

    def build(state, prefix):
        """One network whose weights are the keys of ``state`` under ``prefix``: the
        backbone, or a ``HeadedNet`` (RDCR, CPC, Co-Reg) without its extra heads, which
        predicting does not use (``rebuild`` drops their weights)."""
        from labelnoise.training.rdcr import HeadedNet

        net = build_model(name, k, **model_kwargs)
        if any(key.startswith(prefix + "backbone.") for key in state):
            net = HeadedNet(net)
        return net

    head_key = re.compile(r"^(members\.\d+\.)?heads\.")  # a HeadedNet's extra heads

    def rebuild(file_name):
        path = run / file_name
        if not path.is_file():
            hint = (f"; a cifar10 run made before 2026-12-06 has none: labelnoise train "
                    f"--resume {run} writes it" if cifar else "")
            raise FileNotFoundError(f"{path} is missing (the run's final network{hint})")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ValueError(f"{path} is not a readable weights file ({first[:120]})") from None
        if not isinstance(state, dict):
            raise ValueError(f"{path} holds no state_dict")
        state = {key: value for key, value in state.items() if not head_key.match(key)}
        members = sorted({int(key.split(".")[1]) for key in state if key.startswith("members.")})
        net = (engine.Ensemble([build(state, f"members.{i}.") for i in members]) if members
               else build(state, ""))
        try:
            net.load_state_dict(state)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise ValueError(f"{run / file_name}: the weights do not fit the network "
                             f"{name!r} of method {config.get('method')!r} ({first})") from None
        net = net.to(dev)
        if spec.inputs == "images":
            net = net.to(memory_format=torch.channels_last)
        return net.eval()

    model = rebuild("model.pt")
    best = rebuild("model_best.pt") if (run / "model_best.pt").is_file() else model
    prep_cfg = config.get("preprocessing") or {}
    if prep_cfg.get("kind") == "images":
        prep = _Prep("images", int(prep_cfg["image_size"]))
    else:
        prep = _Prep("features", int(config.get("image_size") or DEFAULT_IMAGE_SIZE),
                     mean=np.asarray(prep_cfg["standardize_mean"], dtype=np.float64),
                     std=np.asarray(prep_cfg["standardize_std"], dtype=np.float64))
    pred_probs = (_io.read_npy(run / "pred_probs.npy", "pred_probs.npy")
                  if (run / "pred_probs.npy").is_file() else None)
    return TrainResult(model=model, best_model=best, history=history,
                       selected_epoch=int(summary["selected_epoch"]), pred_probs=pred_probs,
                       test_labels=None, class_names=list(config["class_names"]),
                       train_index=None, val_index=None, summary=summary, out_dir=run,
                       _prep=prep, _config=config)
