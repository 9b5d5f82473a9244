"""The main job: find the label errors of a dataset end to end and write a report.

Data flow (see DESIGN.md):

    dataset (images / table / embeddings, given labels [, true labels])
      -> out-of-sample pred_probs by K-fold cross-validation (:mod:`labelnoise.crossval`),
         mixed with the neighbours' label vote in the features given (table columns,
         embeddings, --features) or, for images, the images' own patch view
      -> estimate_noise (confident joint, noise matrix, prior)
      -> find_label_issues + label_quality_scores
      -> data-issue checks (:func:`labelnoise.data_issues.find_data_issues`: outliers,
         near/exact duplicates, overlapping classes, class health, kNN label issues);
         features from --features, the embeddings or table given, or the penultimate
         layer of each fold's network (each example's neighbours searched in the space of
         the network that did not see it); when it trains on images, the kNN label
         checks search the images' own patch view (``IMAGE_VIEW_FEATURES``)
      -> issues.csv, pred_probs.npy, noise.json, data_issues.json, report.html

With ``pred_probs`` given (a ``.npy`` file), training is skipped. For the files of the
label-error benchmark (``<dataset>/<model>/pred_probs.npy`` beside ``noisy_labels.npy``
and ``true_labels.npy``, and ``../row_to_cifar10_train_index.npy``) the labels, true
labels and the CIFAR-10 images are found automatically.
"""

from __future__ import annotations

import os
import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labelnoise._io import LABEL_TABLE_SUFFIXES, TABLE_SUFFIXES, read_json
from labelnoise._validation import LabelOrderWarning
from labelnoise.data_issues import _standardised, search_features, with_neighbour_vote
from labelnoise.datasets.folders import rgb8, skip_unreadable_refused

#: Names of the built-in image dataset for DATASET.
CIFAR_NAMES = ("cifar10", "cifar10n", "cifar-10", "cifar-10n")

#: The CPU default for images (chosen by measurement on CIFAR-10N worse labels, see
#: benchmarks/results/audit.md): a small CNN trained per fold by the training engine.
#: Two folds, so that 8 epochs per fold fit the 30-minute CPU budget.
CPU_IMAGE_PRESET = dict(model="airbench", folds=2, train_kwargs=dict(epochs=8))
#: Tried and not kept (study 50, 2026-12-06): label smoothing 0.2 + airbench94's frozen
#: whitening stem (``AirbenchNet(whiten=True)``) + flip test-time augmentation for this
#: preset. Chosen by a rule written first (select on a 10,000-image proxy of CIFAR-10N worse,
#: ``benchmarks/audit_cpu.py --parts proxy``: 0.835 against 0.820, 0.830 in the scratch run
#: that chose it; confirm as the full default audit: AUPRC 0.9085 against 0.9037 in 22
#: minutes; benchmarks/results/audit.md), it met the rule, but on
#: benchmarks/small_folder.py's 10,000-image folder (15% uniform noise; data not used in the
#: choice) it ranked worse than cross entropy (AUPRC 0.787 against 0.801).
#: The --quick preset on CPU: ResNet-8, 2 folds, 4 epochs (a first report in minutes).
QUICK_IMAGE_PRESET = dict(model="resnet8", folds=2, train_kwargs=dict(epochs=4))
#: Small data. The default presets' 8 epochs are only 48 optimizer steps per fold at 3,000
#: images, so below ``SMALL_DATA_N`` examples the default (not --quick) runs
#: ``SMALL_DATA_FOLDS`` folds (each network sees 2/3 of the data instead of 1/2) and raises
#: the epochs until the folds together train on at least ``MIN_TRAINING_IMAGES`` images
#: (folds x training examples per fold x epochs; 5.5 to 8 minutes at 3,000 images on the
#: 2-core AMD EPYC of benchmarks/results/small_folder.md, with the ensemble below). Chosen
#: on benchmarks/small_folder.py's 3,000-image folder among 2x27, 2x27 (batch 128), 3x14,
#: 4x10 and 5x8 folds x epochs of equal cost (AUPRC 0.62 / 0.63 / 0.71 / 0.68 / 0.67;
#: the preset's 2x8: 0.61), confirmed at 1,000 images (the table of 2026-12-03, in the git
#: history of benchmarks/results/small_folder.md). Label smoothing 0.2 with flipped-image
#: test-time augmentation, the best at 3,000 images on 2026-12-04, lost at 1,000 and was
#: not adopted (benchmarks/results/small_folder.md).
#: CIFAR-10 (50,000) is unchanged.
SMALL_DATA_N = 10_000
SMALL_DATA_FOLDS = 3
#: Small data, second model. Below ``SMALL_DATA_N`` images the default (not --quick) also
#: cross-validates the patch-feature model (``SMALL_DATA_PATCH_FEATURES`` dictionary +
#: ``feature_classifier``, the same folds) and averages its pred_probs with the network's:
#: a linear model on unsupervised features and a CNN trained from scratch err on different
#: images, and on a few thousand images neither is strong (the arithmetic mean of rows is
#: the library's ensemble rule, :mod:`labelnoise.rank`). Measured on the six small-images
#: cases of benchmarks/detection_cases.py (the average beat the network alone in all six;
#: both halves were read while exploring, so they do not confirm it) and then through the
#: audit on benchmarks/small_folder.py's folders: AUPRC 0.712 -> 0.742 at 3,000 images,
#: 0.481 -> 0.618 at 1,000 (with the mirror averaging below; benchmarks/RESULTS.md).
SMALL_DATA_PATCH_ENSEMBLE = True
MIN_TRAINING_IMAGES = 80_000
#: ... and at most this many epochs (a folder of a few dozen images)
MAX_SCALED_EPOCHS = 200
#: With a CUDA GPU: the full-quality audit, 5 folds.
GPU_IMAGE_PRESET = dict(model="airbench", folds=5, train_kwargs=dict(epochs=16))
#: ``--model patch-features``: Coates-Ng patch features + logistic regression per fold.
IMAGE_FEATURES = dict(n_centroids=1600, patch_size=6, n_patches=100_000, kmeans_iter=10)
IMAGE_CLASSIFIER_C = 0.001
#: ``--quick --model patch-features``: a stratified subset and a smaller dictionary.
QUICK_EXAMPLES = 10_000
QUICK_FEATURES = dict(n_centroids=400, patch_size=6, n_patches=50_000, kmeans_iter=10)
#: the dictionary of the small-data ensemble's patch-feature model, and its features made
#: flip-invariant (each image's averaged with its mirror image's; the networks train with
#: flips too): on the six small-images development cases the patch model alone gained
#: 0.03-0.09 AUPRC and the average 0.01-0.05, in every case
#: (benchmarks/small_folder.py --dev-cases)
SMALL_DATA_PATCH_FEATURES = QUICK_FEATURES
SMALL_DATA_PATCH_MIRROR = True
#: Small data, third model (None: none): scattering features
#: (:func:`labelnoise.features.scattering_features` with these arguments, mirror-averaged)
#: + ``feature_classifier``, the same folds, averaged with the other two. Adopted on
#: 2026-12-06 by a rule written before its figures (study 49: select on
#: benchmarks/small_folder.py's 3,000-image folder, confirm on the 1,000-image one; the
#: pred_probs before the neighbours' vote): AUPRC 0.738 -> 0.768 at 3,000 images and 0.618
#: -> 0.676 at 1,000; the whole default audit's wall time at 3,000 images is in
#: benchmarks/results/small_folder.md (256 s). Wavelet scattering is
#: fixed (nothing is fitted), so no label leaks across folds.
SMALL_DATA_SCATTERING = dict(J=2, L=8, pool=2)

#: The images' own view (mirror-averaged Coates-Ng patch features with this small dictionary,
#: standardised and projected to ``IMAGE_VIEW_PCA_DIM`` principal components; the recipe of
#: the features of benchmarks/data_issues.py). When the audit trains on images and the user
#: gives no features, the ranking reads the model's pred_probs mixed with the label vote of
#: each example's 10 nearest neighbours in this view
#: (:func:`labelnoise.data_issues.with_neighbour_vote`, the weight by maximum likelihood of
#: the given labels), and the neighbour-label checks search
#: it too. A network's penultimate layer votes much as the network predicts (default audit of
#: CIFAR-10N ``worse``: -0.0002 AUPRC), while this view, which no model fitted to the labels,
#: adds what pred_probs lack (+0.0016; --quick +0.029). Adopted by a rule fixed before the
#: figures: on the 41 CIFAR-10 development cases of benchmarks/detection_cases.py, mean
#: AUPRC +0.071 (select half) / +0.084 (confirm), F1 +0.045 / +0.058; with the strong
#: models of the label-error benchmark the weight falls to 0.00-0.20 and the AUPRC moves by
#: -0.0013 to +0.0009 (benchmarks/results/audit.md). About 28 s at 50,000 images. With
#: --pred-probs the vote searches --features (as ``labelnoise find-issues --features``
#: does) or a table's / embeddings' columns, never this view: --pred-probs with images and
#: no --features ranks by pred_probs alone.
#: Tables and embeddings vote in their own (standardised) columns and --features in the
#: user's features: the same rule on the 60 table cases met it by +0.139 / +0.132 AUPRC.
IMAGE_VIEW_FEATURES = dict(n_centroids=64, patch_size=6, stride=2, n_patches=50_000,
                           kmeans_iter=10)
IMAGE_VIEW_PCA_DIM = 128

OUTPUT_FILES = ("issues.csv", "pred_probs.npy", "noise.json", "data_issues.json", "report.html")
#: written beside them when image files were left out (``skip_unreadable``)
UNREADABLE_FILE = "unreadable.csv"
#: the report's note lists at most this many of the unreadable files by name
UNREADABLE_SHOWN = 10
#: neighbours per example of the data-issue checks (SimiFeat's k)
DATA_ISSUES_K = 10
#: the manifest an audit writes into --out first; --resume accepts only such folders
AUDIT_MANIFEST = "labelnoise-audit.json"
AUDIT_FORMAT = "labelnoise-audit"
#: the refusal of a Dask cluster (client=, --scheduler, --workers) with given pred_probs
CLIENT_WITH_PRED_PROBS = ("client (--scheduler / --workers) runs the cross-validation folds on "
                          "a Dask cluster; with pred_probs (--pred-probs) no model is trained")


@dataclass
class AuditData:
    """What is audited: labels and, for training, inputs (internal to :func:`audit`)."""

    labels: np.ndarray
    class_names: list[str]
    inputs: Any = None
    true_labels: np.ndarray | None = None
    get_image: Callable[[int], Any] | None = None
    example_ids: np.ndarray | None = None
    description: str = ""
    notes: list[str] = field(default_factory=list)
    #: the class list was given (by the user, a pred_probs header or the dataset itself),
    #: so a class with no example is allowed
    explicit_classes: bool = False
    #: what ``example_ids`` are (the id column's name, "file"), for the report
    id_name: str = "id"
    #: features (N, D) for the data-issue checks that the data itself gives (embeddings,
    #: a table's columns), and a sentence saying what they are
    features: np.ndarray | None = None
    features_source: str | None = None
    #: a table's columns shown beside each suspect in the report (column -> (N,) values as
    #: in the file): its text columns and its ``REPORT_FEATURE_COLUMNS`` most label-informative
    #: feature columns (:func:`informative_columns`)
    shown_columns: dict | None = None
    #: the image inputs as one uint8 array (N, H, W, 3), filled by :func:`_images` on first
    #: use, so that an image folder is read and resized once per audit
    image_cache: np.ndarray | None = field(default=None, repr=False)
    #: image files left out because they cannot be decoded (``skip_unreadable``): dicts
    #: ``file``, ``given_label``, ``error``; and their rows in the folder's full listing
    unreadable: list = field(default_factory=list)
    unreadable_rows: np.ndarray | None = None


def _images(data: AuditData) -> np.ndarray:
    """``image_array(data.inputs)``, computed once per :class:`AuditData`."""
    if data.image_cache is None:
        data.image_cache = image_array(data.inputs)
    return data.image_cache


@dataclass
class AuditResult:
    """Result of :func:`audit`.

    Attributes:
        out_dir: the output folder.
        pred_probs: float (N, K), the out-of-sample predicted probabilities the ranking used
            (for images the audit trained on, the model's mixed with the neighbours' vote in
            the images' patch view; ``settings["neighbour vote"]`` gives the weight).
        model_pred_probs: float (N, K), the model's own out-of-sample pred_probs (the same
            array as ``pred_probs`` when there was no vote).
        issues: the :class:`labelnoise.issues.LabelIssues` (flags, scores, ranking,
            suggested labels, noise estimate) that issues.csv, noise.json and the report
            show; ``labels``, ``label_quality_scores``, ``is_issue``, ``ranking`` and
            ``noise`` are read from it.
        class_names, true_labels (int64 (N,) or None).
        metrics: precision / recall / f1 / auprc / auroc against the true labels, or None.
        settings (how it ran), seconds (wall time of the whole audit).
        data_issues: the :class:`labelnoise.data_issues.DataIssues` of the data-issue
            checks (what data_issues.json, the extra issues.csv columns and the report's
            data-issue sections show).
        example_ids: (N,) the examples' names in issues.csv's ``example_id`` (an image's
            path, a table's id column), or None (rows are named by their index).
        unreadable: the image files left out with ``skip_unreadable``, each a dict
            ``file``, ``given_label``, ``error`` (as in ``unreadable.csv``); empty otherwise.
    """

    out_dir: Path
    pred_probs: np.ndarray
    issues: Any
    class_names: list[str]
    true_labels: np.ndarray | None
    metrics: dict | None
    settings: dict
    seconds: float
    data_issues: Any = None
    example_ids: np.ndarray | None = None
    model_pred_probs: np.ndarray | None = None
    unreadable: list = field(default_factory=list)

    @property
    def labels(self) -> np.ndarray:
        return self.issues.labels

    @property
    def label_quality_scores(self) -> np.ndarray:
        return self.issues.label_quality_scores

    @property
    def is_issue(self) -> np.ndarray:
        return self.issues.is_label_issue

    @property
    def ranking(self) -> np.ndarray:
        return self.issues.ranking

    @property
    def noise(self):
        return self.issues.noise


# ----------------------------------------------------------------------------- helpers
def _say(console, msg: str) -> None:
    if console is not None:
        console.log(msg)


def _load_npy(path, what: str) -> np.ndarray:
    from labelnoise._io import read_npy

    return read_npy(path, what)


def detection_metrics(labels, true_labels, is_issue, label_quality_scores) -> dict:
    """Detection quality of flagged issues against known true labels.

    A true label error is ``labels != true_labels``. ``precision``, ``recall``, ``f1`` are
    those of the boolean ``is_issue``; ``auprc`` (average precision, scikit-learn) and
    ``auroc`` rank examples by ``1 - label_quality_scores``. Also returns
    ``true_noise_rate``, ``num_errors`` and ``num_flagged``.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    is_error = np.asarray(labels) != np.asarray(true_labels)
    is_issue = np.asarray(is_issue, dtype=bool)
    tp = int(np.sum(is_error & is_issue))
    precision = tp / max(1, int(is_issue.sum()))
    recall = tp / max(1, int(is_error.sum()))
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    score = 1.0 - np.asarray(label_quality_scores, dtype=np.float64)
    both = 0 < is_error.sum() < is_error.size
    return {
        "true_noise_rate": float(is_error.mean()),
        "num_errors": int(is_error.sum()),
        "num_flagged": int(is_issue.sum()),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "auprc": float(average_precision_score(is_error, score)) if both else float("nan"),
        "auroc": float(roc_auc_score(is_error, score)) if both else float("nan"),
    }


def _is_audit_folder(out: Path) -> bool:
    """Whether ``out`` holds the manifest of an audit this library wrote."""
    try:
        meta = read_json(out / AUDIT_MANIFEST, "an audit manifest")
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("format") == AUDIT_FORMAT


def _check_out_dir(out_dir, *, force: bool, resume: bool) -> Path:
    """Refuse an output folder that cannot be written, a non-empty one unless ``force`` or
    ``resume``, and ``resume`` on a non-empty folder that holds no audit manifest (it was
    not written by labelnoise). Creates nothing."""
    from labelnoise._io import check_output_dir

    out = check_output_dir(out_dir, "--out")
    nonempty = out.exists() and any(out.iterdir())
    if nonempty and resume and not _is_audit_folder(out):
        raise FileExistsError(
            f"--out {out} holds no {AUDIT_MANIFEST}, so it is not an audit this library "
            "wrote; --resume refused (nothing was changed). Choose another folder, or pass "
            "--force to overwrite the audit files in it"
        )
    if nonempty and not (force or resume):
        raise FileExistsError(
            f"--out {out} exists and is not empty; pass --force to overwrite its audit "
            "files, --resume to continue an interrupted audit, or choose another folder"
        )
    return out


def _prepare_out_dir(out: Path, *, force: bool, resume: bool, created: list[Path]) -> None:
    """Create the output folder, its cache and the manifest (recording in ``created`` what
    did not exist before, for :func:`_clean_up_failed`)."""
    from labelnoise import _io

    if force and not resume and (out / "cache").is_dir() and _is_audit_folder(out):
        shutil.rmtree(out / "cache")  # our own cache of an earlier audit: start afresh
    for path in (out, out / "cache"):
        if not path.exists():
            path.mkdir(parents=True)
            created.append(path)
    if not (out / AUDIT_MANIFEST).exists():
        created.append(out / AUDIT_MANIFEST)
    _io.write_json(out / AUDIT_MANIFEST, {"format": AUDIT_FORMAT, "version": 1,
                                          "outputs": list(OUTPUT_FILES)})


def _clean_up_failed(out: Path, created: list[Path]) -> None:
    """After a failed audit, remove what this run created, unless something in it is worth
    resuming (finished folds, fold checkpoints, features) or an output was written."""
    cache = out / "cache"
    progress = cache.is_dir() and any(p.is_file() for p in cache.rglob("*"))
    if progress or any((out / name).exists() for name in OUTPUT_FILES):
        return
    for path in reversed(created):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists():
            path.unlink()


# ------------------------------------------------------------------------ data loading
def _folder_true_labels(path: Path, relative_paths: list[str], class_names: list[str]):
    """int64 (N,) true classes of an image folder's images from a table with columns
    ``path`` (relative to the folder, as ``truth.csv`` of ``labelnoise simulate`` writes)
    and ``true`` (a class folder name); rows for other files are ignored. ValueError for a
    missing column, an image without a row, or a class that is not a folder."""
    from labelnoise._io import read_table

    frame = read_table(path, "--true-labels")
    missing = [c for c in ("path", "true") if c not in frame.columns]
    if missing:
        raise ValueError(f"--true-labels {path}: no column {missing[0]!r} (it needs 'path', "
                         f"relative to the folder, and 'true'; columns: {list(frame.columns)})")
    truth = dict(zip(frame["path"].astype(str), frame["true"].astype(str)))
    absent = [p for p in relative_paths if p not in truth]
    if absent:
        raise ValueError(f"--true-labels {path}: {len(absent)} image(s) of the folder have no "
                         f"row, e.g. {absent[0]!r}")
    index = {str(c): k for k, c in enumerate(class_names)}
    unknown = sorted({truth[p] for p in relative_paths} - set(index))
    if unknown:
        raise ValueError(f"--true-labels {path}: class(es) {unknown[:5]} are not class folders "
                         f"({', '.join(map(str, class_names[:10]))})")
    return np.asarray([index[truth[p]] for p in relative_paths], dtype=np.int64)


def unreadable_note(unreadable: list[dict]) -> str:
    """The report's sentence on the image files left out (``skip_unreadable``)."""
    shown = "; ".join(f"{u['file']} ({u['error']})" for u in unreadable[:UNREADABLE_SHOWN])
    more = len(unreadable) - UNREADABLE_SHOWN
    return (f"{len(unreadable)} image file(s) could not be read and were left out of the audit "
            f"(all listed in {UNREADABLE_FILE}): {shown}"
            + (f"; and {more} more" if more > 0 else "") + ".")


def _cifar_images(data_root) -> np.ndarray | None:
    from labelnoise.datasets import load_cifar10

    try:
        return load_cifar10("train", data_root=data_root, download=False).inputs
    except FileNotFoundError:
        return None


def _from_dataset(dataset, *, label_set: str, data_root, label_column, load_images: bool,
                  id_column: str | None = None, text_columns: list[str] | None = None,
                  feature_columns: list[str] | None = None,
                  true_label_column: str | None = None,
                  skip_unreadable: bool = False, true_labels_file=None,
                  progress: bool = False) -> AuditData:
    from labelnoise import datasets as ds
    from labelnoise.training.data import check_text_columns

    name = str(dataset)
    check_text_columns(text_columns, name)  # the message labelnoise train gives too
    if id_column is not None and Path(name).suffix.lower() not in TABLE_SUFFIXES:
        raise ValueError(f"id_column (--id-column) names a column of a table or of a labels "
                         f"CSV; dataset {name!r} is not a table (an image folder's examples are "
                         "named by their paths)")
    if true_label_column is not None and Path(name).suffix.lower() not in TABLE_SUFFIXES:
        raise ValueError(f"true_label_column (--true-label-column) names a column of a table; "
                         f"dataset {name!r} is not a table")
    if true_labels_file is not None and not Path(name).expanduser().is_dir():
        raise ValueError(f"true_labels_file (--true-labels) gives an image folder's known-correct "
                         f"classes; dataset {name!r} is not an image folder (a table names its "
                         "column with --true-label-column)")
    if skip_unreadable and not Path(name).expanduser().is_dir():
        raise skip_unreadable_refused(f"dataset {name!r} is not an image folder")
    if name.lower() in CIFAR_NAMES:
        d = ds.load_cifar10n(label_set, data_root=data_root, load_images=load_images)
        desc = f"CIFAR-10 train set with CIFAR-10N '{d.info['label_set']}' human labels"
        images = d.inputs
        return AuditData(
            labels=d.labels, class_names=list(d.class_names), inputs=images,
            true_labels=d.true_labels, description=desc,
            get_image=None if images is None else (lambda i: images[i]), explicit_classes=True,
        )
    p = Path(name).expanduser()
    if not p.exists():
        raise FileNotFoundError(
            f"dataset {name!r} not found: give 'cifar10' (CIFAR-10 with CIFAR-10N labels), an "
            "image folder, a .csv/.parquet table or an .npz of embeddings"
        )
    if p.is_dir():
        d = ds.load_image_folder(p, skip_unreadable=skip_unreadable, progress=progress)
        seq = d.inputs
        bad = d.info["unreadable"]
        truth = None if true_labels_file is None else _folder_true_labels(
            Path(true_labels_file).expanduser(), d.info["relative_paths"], list(d.class_names))
        return AuditData(labels=d.labels, class_names=list(d.class_names), inputs=seq,
                         true_labels=truth,
                         description=f"image folder {p}", get_image=lambda i: seq[i],
                         example_ids=np.asarray(d.info["relative_paths"], dtype=object),
                         id_name="file", explicit_classes=True, unreadable=bad,
                         unreadable_rows=d.info["unreadable_rows"],
                         notes=[unreadable_note(bad)] if bad else [])
    suffix = p.suffix.lower()
    if suffix in TABLE_SUFFIXES:
        if not label_column:
            raise ValueError(f"a table ({p.name}) needs --label-column naming its label column")
        d = ds.load_table(p, label_column, feature_columns, id_column=id_column,
                          true_label_column=true_label_column, text_columns=text_columns,
                          keep_frame=True, progress=progress)
        text_cols = d.info.get("text_columns")
        return AuditData(labels=d.labels, class_names=list(d.class_names), inputs=d.inputs,
                         shown_columns=_shown_columns(d),
                         true_labels=d.true_labels, description=f"table {p}",
                         notes=[f"Text column(s) {', '.join(map(repr, text_cols))} embedded "
                                f"with {d.info['text_model']}: 384 features each (sentence "
                                "embeddings, Reimers & Gurevych 2019)."] if text_cols else [],
                         example_ids=d.info.get("example_ids"), id_name=id_column or "id",
                         features=_standardised(d.inputs),
                         features_source=f"the feature columns of {p.name}, each standardised "
                                         "to mean 0 and standard deviation 1")
    if suffix == ".npz":
        d = ds.load_embeddings(p)
        return AuditData(labels=d.labels, class_names=list(d.class_names), inputs=d.inputs,
                         true_labels=d.true_labels, description=f"embeddings {p}",
                         features=np.asarray(d.inputs),
                         features_source=f"the embeddings of {p.name}, as given")
    raise ValueError(
        f"dataset {name!r}: unknown kind of file (expected a folder, .csv, .parquet or .npz)"
    )


#: how many of a table's feature columns the report shows beside each suspected label error
#: (the most label-informative ones, values as in the file; its text columns are always shown)
REPORT_FEATURE_COLUMNS = 5


def informative_columns(inputs: np.ndarray, labels: np.ndarray, info: dict,
                        n: int = REPORT_FEATURE_COLUMNS) -> list[str]:
    """The ``n`` feature columns of a table that tell the most about its labels, most first.

    A column's strength is scikit-learn's one-way ANOVA F statistic of its values between
    the classes of the given labels (:func:`sklearn.feature_selection.f_classif`); a
    categorical column counts by the largest F of its one-hot columns; a constant column
    ranks last (ties in table order). Used for the few columns the report shows beside each
    suspect: the values a reviewer needs to judge a label, rather than the first columns
    of a wide table.

    Args:
        inputs: float64 (N, D), a :func:`labelnoise.datasets.load_table` result's ``inputs``.
        labels: int (N,) class indices, its ``labels``.
        info: its ``info`` (``feature_columns``, ``encoding``).
        n: how many columns (at most the number of feature columns).

    Returns:
        column names of the table (not the encoded names), strongest first.
    """
    from sklearn.feature_selection import f_classif

    columns = list(info.get("feature_columns") or [])
    if len(columns) <= 1 or len(np.unique(labels)) < 2:
        return columns[:n]
    categorical = set(info["encoding"]["categorical_columns"])
    categories = info["encoding"]["categories"]
    owner = [c for c in columns if c not in categorical]  # encoded order: numbers, one-hots
    owner += [c for c in info["encoding"]["categorical_columns"] for _ in categories[c]]
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant columns: sklearn warns and gives NaN
        f_stat, _ = f_classif(inputs[:, :len(owner)], labels)
    f_stat = np.where(np.isfinite(f_stat), f_stat, -1.0)
    strength = dict.fromkeys(columns, -1.0)
    for c, f in zip(owner, f_stat):
        strength[c] = max(strength[c], float(f))
    order = sorted(range(len(columns)), key=lambda i: (-strength[columns[i]], i))
    return [columns[i] for i in order[:n]]


def _shown_columns(d) -> dict:
    """The columns of a table's :class:`LabeledDataset` (loaded with ``keep_frame``) that the
    report shows beside each suspect (:attr:`AuditData.shown_columns`): its text columns
    and its :func:`informative_columns`, values as read from the file."""
    frame = d.info.pop("frame")
    cols = (list(d.info.get("text_columns") or [])
            + informative_columns(d.inputs, d.labels, d.info))
    return {c: frame[c].to_numpy(dtype=object) for c in cols}


def _merge_class_names(class_names, header) -> list | None:
    """One class order from ``class_names`` and a pred_probs header (they must agree)."""
    if class_names is not None and header is not None and \
            [str(c) for c in class_names] != [str(c) for c in header]:
        raise ValueError(
            f"class_names ({', '.join(map(str, class_names))}) differs from the class names in "
            f"the header of --pred-probs ({', '.join(map(str, header))}); the header fixes which "
            "column is which class")
    return list(class_names) if class_names is not None else header


def _reorder_classes(data: AuditData, order: list) -> None:
    """Make ``data``'s labels index into ``order`` (class names matched by their string)."""
    pos = {str(c): i for i, c in enumerate(order)}
    used = np.bincount(data.labels, minlength=len(data.class_names)) > 0
    if data.true_labels is not None:
        used |= np.bincount(data.true_labels, minlength=len(data.class_names)) > 0
    missing = [str(c) for c, u in zip(data.class_names, used) if u and str(c) not in pos]
    if missing:
        raise ValueError(f"class_names ({', '.join(map(str, order))}) lacks the class(es) "
                         f"{missing[:5]} of the labels")
    remap = np.array([pos.get(str(c), -1) for c in data.class_names], dtype=np.int64)
    data.labels = remap[data.labels]
    if data.true_labels is not None:
        data.true_labels = remap[data.true_labels]
    data.class_names = list(order)
    data.explicit_classes = True


def _read_labels_file(path: Path, label_column: str | None, id_column: str | None):
    """(labels as written, ids or None, shown columns) from a ``.npy`` (N,) or a column of a
    CSV/Parquet table (``label_column``, default the first column; ``id_column``: the ids;
    the shown columns: the table's first ``REPORT_FEATURE_COLUMNS`` other columns, e.g. the
    text that was labelled, for the report's table of suspects)."""
    from labelnoise.datasets.tables import read_label_table

    if path.suffix.lower() not in LABEL_TABLE_SUFFIXES:
        if id_column is not None:
            raise ValueError(f"--labels {path} is a .npy array; id_column (--id-column) needs "
                             "the labels in a CSV/Parquet table")
        return _load_npy(path, "--labels"), None, {}
    frame, labels, ids = read_label_table(path, label_column, id_column, "--labels")
    others = [c for c in frame.columns
              if c not in (labels.name, id_column)][:REPORT_FEATURE_COLUMNS]
    return labels, ids, {str(c): frame[c].to_numpy(dtype=object) for c in others}


def _from_pred_probs_file(pred_probs_path, *, labels_path, row_to_index_path, data_root,
                          dataset_data: AuditData | None, class_names=None,
                          label_column: str | None = None,
                          id_column: str | None = None) -> tuple[AuditData, np.ndarray]:
    from labelnoise._io import read_pred_probs
    from labelnoise._validation import encode_labels

    pp_path = Path(pred_probs_path).expanduser()
    pred_probs, header = read_pred_probs(pp_path, "--pred-probs", mmap=False)
    order = _merge_class_names(class_names, header)
    if pred_probs.ndim != 2:
        raise ValueError(f"--pred-probs {pp_path} must be a 2-D (N, K) array, got shape {pred_probs.shape}")
    here = pp_path.parent
    true_labels = None
    ids = None
    shown = None
    if labels_path is not None:
        labels, ids, shown = _read_labels_file(Path(labels_path).expanduser(), label_column,
                                               id_column)
        beside_true = Path(labels_path).expanduser().parent / "true_labels.npy"
        if beside_true.is_file():
            true_labels = _load_npy(beside_true, "true labels")
        source = f"labels {labels_path}"
    elif dataset_data is not None:
        labels, true_labels = dataset_data.labels, dataset_data.true_labels
        source = dataset_data.description
    elif (here / "noisy_labels.npy").is_file():
        labels = _load_npy(here / "noisy_labels.npy", "noisy labels")
        if (here / "true_labels.npy").is_file():
            true_labels = _load_npy(here / "true_labels.npy", "true labels")
        source = f"labels {here / 'noisy_labels.npy'}"
    else:
        raise ValueError(
            f"--pred-probs {pp_path}: no labels; give --labels FILE (an (N,) .npy of given "
            "labels) or a DATASET"
        )
    from labelnoise._validation import validate_labels

    names, explicit = None, False
    if dataset_data is not None and labels_path is None:
        if order is not None:
            _reorder_classes(dataset_data, order)
        labels, true_labels = dataset_data.labels, dataset_data.true_labels
        skipped = dataset_data.unreadable_rows
        if skipped is not None and len(skipped) and \
                pred_probs.shape[0] == labels.shape[0] + len(skipped):
            # rows for every file of the folder: the unreadable files' rows are left out too
            pred_probs = np.delete(pred_probs, skipped, axis=0)
            dataset_data.notes.append(
                f"--pred-probs {pp_path.name} has a row for every file of the folder "
                f"({pred_probs.shape[0] + len(skipped)}); the rows of the {len(skipped)} "
                "unreadable files were left out with them.")
    else:
        labels, names, explicit = encode_labels(labels, class_names=order)
    if pred_probs.shape[0] != labels.shape[0]:
        raise ValueError(
            f"--pred-probs {pp_path} has shape {pred_probs.shape} but there are "
            f"{labels.shape[0]} labels; it must be (N, K) = ({labels.shape[0]}, K)"
        )
    k = pred_probs.shape[1]  # the values are checked once, by find_issues
    if names is not None and len(names) != k:
        raise ValueError(
            f"--pred-probs {pp_path} has K = {k} columns but there are {len(names)} classes "
            f"({', '.join(map(str, names[:12]))}{', ...' if len(names) > 12 else ''}); give "
            "class_names (--class-names): the class of each pred_probs column, in order")
    if labels.max() >= k:
        raise ValueError(
            f"--pred-probs {pp_path} has K = {k} columns but the labels reach {labels.max()}; "
            f"shape must be (N, K) with K > max label"
        )
    if true_labels is not None:
        true_labels = validate_labels(true_labels, num_classes=k, name="true_labels")
        if true_labels.shape != labels.shape:
            true_labels = None

    data = AuditData(labels=labels, class_names=names or [str(i) for i in range(k)],
                     true_labels=true_labels, description=f"pred_probs {pp_path}; {source}",
                     explicit_classes=explicit, example_ids=ids, id_name=id_column or "id",
                     shown_columns=shown or None)
    if dataset_data is not None:
        if labels_path is not None and names is None:
            data.class_names = dataset_data.class_names
        elif labels_path is None:
            data.class_names = dataset_data.class_names
            data.explicit_classes = dataset_data.explicit_classes
            data.example_ids = dataset_data.example_ids
            data.id_name = dataset_data.id_name
        data.get_image = dataset_data.get_image
        data.unreadable = dataset_data.unreadable
        if len(dataset_data.labels) == len(labels):  # the dataset's rows are the examples
            data.inputs = dataset_data.inputs
            data.features, data.features_source = dataset_data.features, dataset_data.features_source
            data.notes += dataset_data.notes  # e.g. how text columns were embedded
            data.shown_columns = data.shown_columns or dataset_data.shown_columns
        return data, pred_probs
    if names is not None:
        return data, pred_probs
    if row_to_index_path is None and (here.parent / "row_to_cifar10_train_index.npy").is_file():
        row_to_index_path = here.parent / "row_to_cifar10_train_index.npy"
    if row_to_index_path is not None:
        rows = validate_labels(_load_npy(row_to_index_path, "--row-to-index"), name="row_to_index")
        if rows.shape != labels.shape:
            raise ValueError(f"--row-to-index has shape {rows.shape}, expected {labels.shape}")
        data.example_ids = rows
        from labelnoise.datasets import CIFAR10_CLASSES

        if k == len(CIFAR10_CLASSES):
            data.class_names = list(CIFAR10_CLASSES)
        images = _cifar_images(data_root)
        if images is not None and rows.max() < len(images):
            data.get_image = lambda i: images[rows[i]]
            data.description += "; images: CIFAR-10 train (rows mapped by row_to_index)"
        else:
            data.notes.append("CIFAR-10 was not found under the data root, so no images are shown.")
    return data, pred_probs


# -------------------------------------------------------------------------- models
def _stratified_subset(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    from sklearn.model_selection import train_test_split

    if n >= labels.shape[0]:
        return np.arange(labels.shape[0])
    idx, _ = train_test_split(np.arange(labels.shape[0]), train_size=n, stratify=labels,
                              random_state=seed)
    return np.sort(idx)


def image_array(inputs, *, size: int = 32) -> np.ndarray:
    """Images as one uint8 array (N, H, W, 3); a lazy sequence of files (image folder) is
    read and resized to ``size`` x ``size`` (the patch-feature model needs one shape; a
    JPEG decoded at a reduced scale first, :meth:`ImageFolderSequence.read_resized`)."""
    if isinstance(inputs, np.ndarray):
        return inputs
    from PIL import Image

    from labelnoise.datasets import ImageFolderSequence

    out = np.empty((len(inputs), size, size, 3), dtype=np.uint8)
    if isinstance(inputs, ImageFolderSequence):
        for i in range(len(inputs)):
            out[i] = inputs.read_resized(i, size)
        return out
    for i in range(len(inputs)):
        img = inputs[i]
        if not isinstance(img, Image.Image):
            img = Image.fromarray(np.asarray(img))
        out[i] = np.asarray(rgb8(img).resize((size, size), Image.BICUBIC))
    return out


def feature_classifier(C: float | None = None):
    """Standardise, then multinomial logistic regression (scikit-learn); ``C`` defaults to
    ``IMAGE_CLASSIFIER_C``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    C = IMAGE_CLASSIFIER_C if C is None else C
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=500))


def table_classifier():
    """Standardise, then multinomial logistic regression with scikit-learn's default C."""
    return feature_classifier(C=1.0)


def _patch_features(images: np.ndarray, params: dict, cache: Path, *, seed: int, resume: bool,
                    progress: bool, console, mirror: bool = False) -> np.ndarray:
    """Patch features (N, 4 x n_centroids) of ``images`` (dictionary fitted on them), cached
    under ``cache`` (the file named by the parameters and a SHA-1 of the images' bytes, so
    that a resumed audit never reads the features of other images); with ``mirror`` the
    average of the features of each image and of its horizontal mirror image (features that
    do not change under a flip)."""
    from labelnoise.features import PatchFeatures

    def compute():
        extractor = PatchFeatures(**params, seed=seed)
        extractor.fit(images)
        feats = extractor.transform(images, progress=progress)
        if mirror:
            flipped = np.ascontiguousarray(images[:, :, ::-1])
            feats = (feats + extractor.transform(flipped, progress=progress)) / 2
        return feats

    key = "_".join(f"{k}{v}" for k, v in sorted(params.items())) + ("_mirror" if mirror else "")
    return _cached_features("patch_features", images, f"{key}_seed{seed}", compute, cache,
                            resume=resume, console=console)


def _cached_features(name: str, images: np.ndarray, key: str, compute, cache: Path, *,
                     resume: bool, console) -> np.ndarray:
    """``compute()`` (the (N, D) features of ``images``), cached as
    ``cache/<name>_<N>_<sha1 of the images' bytes>_<key>.npy`` so that a resumed audit
    never reads the features of other images or settings; with ``resume`` a cached file is
    read instead."""
    import hashlib

    from labelnoise._io import read_npy, save_npy

    what = name.replace("_", " ")
    digest = hashlib.sha1(np.ascontiguousarray(images).data).hexdigest()[:12]
    path = cache / f"{name}_{images.shape[0]}_{digest}_{key}.npy"
    if resume and path.is_file():
        _say(console, f"{what}: reusing {path.name}")
        return read_npy(path, f"cached {what}")
    t = time.time()
    feats = compute()
    save_npy(path, feats)
    _say(console, f"{what} {feats.shape} in {time.time() - t:.0f} s")
    return feats


def _image_view_features(images: np.ndarray, cache: Path, *, seed: int, resume: bool,
                         progress: bool, console) -> tuple[np.ndarray, str]:
    """The images' patch view (``IMAGE_VIEW_FEATURES``, mirror-averaged), standardised and
    projected to ``IMAGE_VIEW_PCA_DIM`` principal components (PCA seeded; kept whole when N
    or D is not larger): float32 (N, D), and a sentence naming it."""
    from sklearn.decomposition import PCA

    x = _patch_features(images, IMAGE_VIEW_FEATURES, cache, seed=seed, resume=resume,
                        progress=progress, console=console, mirror=True)
    x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-6)
    dim = IMAGE_VIEW_PCA_DIM
    if min(x.shape) > dim:
        x = PCA(dim, svd_solver="randomized", random_state=seed).fit_transform(x)
    p = IMAGE_VIEW_FEATURES
    return np.ascontiguousarray(x, dtype=np.float32), (
        f"the images' patch view (Coates & Ng 2011 features, {p['n_centroids']} k-means "
        f"centroids, {p['patch_size']}x{p['patch_size']} patches at stride {p['stride']}, "
        "averaged with the mirror image, standardised"
        + (f", {dim} principal components" if x.shape[1] == dim else "") + ")")


def _small_data_patch_pred_probs(images: np.ndarray, labels: np.ndarray, num_classes: int, *,
                                 folds: int, seed: int, cache: Path, resume: bool,
                                 progress: bool, console) -> np.ndarray:
    """Out-of-sample pred_probs (N, num_classes) of the small-data ensemble's second model:
    ``SMALL_DATA_PATCH_FEATURES`` patch features + ``feature_classifier()``, cross-validated
    with the network's folds (same ``folds`` and ``seed``); folds cached under
    ``cache/folds-patch`` (``folds-patch-mirror`` with the mirror averaging: the fold cache's
    fingerprint does not hash the features; an interrupted audit resumes)."""
    from labelnoise.crossval import out_of_sample_pred_probs

    X = _patch_features(images, SMALL_DATA_PATCH_FEATURES, cache, seed=seed, resume=resume,
                        progress=progress, console=console, mirror=SMALL_DATA_PATCH_MIRROR)
    _say(console, f"cross-validating the patch-feature model ({folds} folds)")
    return out_of_sample_pred_probs(X, labels, feature_classifier(), folds=folds, seed=seed,
                                    num_classes=num_classes,
                                    cache_dir=cache / ("folds-patch-mirror"
                                                       if SMALL_DATA_PATCH_MIRROR else "folds-patch"),
                                    progress=progress)


def _small_data_scattering_pred_probs(images: np.ndarray, labels: np.ndarray, num_classes: int,
                                      *, folds: int, seed: int, cache: Path, resume: bool,
                                      progress: bool, console) -> np.ndarray | None:
    """Out-of-sample pred_probs (N, num_classes) of the small-data ensemble's third model:
    scattering features (:func:`labelnoise.features.scattering_features` with
    ``SMALL_DATA_SCATTERING``, mirror-averaged) + ``feature_classifier()``, cross-validated
    with the network's folds; the features cached under ``cache``
    (:func:`_cached_features`), the folds under ``cache/folds-scattering``. None when the
    images are smaller than one scattering window (``2**J x pool`` pixels)."""
    from labelnoise.crossval import out_of_sample_pred_probs
    from labelnoise.features import scattering_features

    # the scattering maps need sides that are multiples of 2**J x pool: centre-crop to them
    # (32 x 32 images, folders included, are kept whole)
    unit = 2 ** SMALL_DATA_SCATTERING["J"] * SMALL_DATA_SCATTERING["pool"]
    h, w = images.shape[1] // unit * unit, images.shape[2] // unit * unit
    if h == 0 or w == 0:
        return None
    top, left = (images.shape[1] - h) // 2, (images.shape[2] - w) // 2
    images = images[:, top:top + h, left:left + w]
    key = "_".join(f"{k}{v}" for k, v in sorted(SMALL_DATA_SCATTERING.items()))
    X = _cached_features(
        "scattering_features", images, f"{key}_mirror",
        lambda: scattering_features(images, mirror=True, progress=progress,
                                    **SMALL_DATA_SCATTERING),
        cache, resume=resume, console=console)
    _say(console, f"cross-validating the scattering model ({folds} folds)")
    return out_of_sample_pred_probs(X, labels, feature_classifier(), folds=folds, seed=seed,
                                    num_classes=num_classes, cache_dir=cache / "folds-scattering",
                                    progress=progress)


def _is_images(inputs) -> bool:
    return inputs is not None and (not isinstance(inputs, np.ndarray) or inputs.ndim == 4)


def image_preset(quick: bool) -> dict:
    """The default image model: GPU preset with CUDA, else the CPU (or quick) preset."""
    import torch

    if torch.cuda.is_available():
        preset = dict(GPU_IMAGE_PRESET)
        if quick:
            preset["train_kwargs"] = dict(preset["train_kwargs"], epochs=4)
        return preset
    return dict(QUICK_IMAGE_PRESET if quick else CPU_IMAGE_PRESET)


def scaled_epochs(n: int, folds: int, epochs: int, min_images: int = MIN_TRAINING_IMAGES,
                  max_epochs: int = MAX_SCALED_EPOCHS) -> int:
    """Epochs per fold for ``n`` examples in ``folds`` folds: ``epochs``, raised so that the
    folds together train on at least ``min_images`` images (``folds x (n - n // folds) x
    epochs``), but not above ``max(epochs, max_epochs)``.

    >>> scaled_epochs(3000, 3, 8), scaled_epochs(50_000, 2, 8), scaled_epochs(20, 3, 8)
    (14, 8, 200)
    """
    per_epoch = max(1, folds * (n - n // folds))
    return int(min(max(epochs, -(-min_images // per_epoch)), max(epochs, max_epochs)))


def _compute_pred_probs(data: AuditData, *, model, quick: bool, folds: int | None, seed: int,
                        cache: Path, resume: bool, progress: bool, console, settings: dict,
                        train_kwargs: dict | None, client=None):
    """Out-of-sample pred_probs (N, K) by cross-validation, and the features the model
    gives for the data-issue checks: ``(pred_probs, features or None, source or reason)``:
    for a torch network the per-fold features of
    :func:`labelnoise.crossval.out_of_sample_pred_probs` (a list of ``(held_out, (N, D))``),
    for the patch-feature model its features (N, D), else None with the reason."""
    from labelnoise.crossval import out_of_sample_pred_probs

    k = len(data.class_names)
    is_images = _is_images(data.inputs)
    ensemble = False
    if model is None and is_images:
        preset = image_preset(quick)
        model = preset["model"]
        small = not quick and len(data.labels) < SMALL_DATA_N
        ensemble = small and SMALL_DATA_PATCH_ENSEMBLE
        folds = folds or max(preset["folds"], SMALL_DATA_FOLDS if small else 0)
        given_epochs = "epochs" in (train_kwargs or {})
        train_kwargs = {**preset["train_kwargs"], **(train_kwargs or {})}
        if small and not given_epochs:
            train_kwargs["epochs"] = scaled_epochs(len(data.labels), folds,
                                                   train_kwargs["epochs"])
    if train_kwargs and not (isinstance(model, str) and model != "patch-features"):
        what = ("the patch-feature model" if model == "patch-features" else
                "a table's or embeddings' scikit-learn model")
        raise ValueError(f"train_kwargs (--epochs: {train_kwargs}) apply to a torch network "
                         f"(images, or model=<network name>); {what} takes none")
    folds = folds or 5
    settings["folds"] = folds
    if model == "patch-features":
        if not is_images:
            raise ValueError("model 'patch-features' needs images")
        images = _images(data)
        params = QUICK_FEATURES if quick else IMAGE_FEATURES
        settings["model"] = (
            f"patch features (Coates & Ng 2011: {params['n_centroids']} k-means centroids, "
            f"{params['patch_size']}x{params['patch_size']} patches, 4-quadrant pooling) + "
            f"logistic regression (C={IMAGE_CLASSIFIER_C})"
        )
        X = _patch_features(images, params, cache, seed=seed, resume=resume, progress=progress,
                            console=console)
        model = feature_classifier()
        features, source = X, "the patch features of the model (unsupervised)"
    elif isinstance(model, str):  # a torch network trained per fold by the engine
        settings["model"] = f"{model} (PyTorch, trained per fold from scratch), {train_kwargs or {}}"
        X = _images(data) if is_images else np.asarray(data.inputs, np.float32)
        features, source = None, None  # from the folds
    else:
        if data.inputs is None:
            raise ValueError("the dataset has no inputs to train on; give --pred-probs")
        if is_images:
            raise ValueError("for images give model=None, 'patch-features' or a torch network name")
        X = np.asarray(data.inputs)
        features, source = None, "the scikit-learn model has no feature layer"
        if model is None:
            model = table_classifier()
            settings["model"] = "standardise + logistic regression (scikit-learn)"
        else:
            settings["model"] = repr(model)
    _say(console, f"cross-validating {len(data.labels)} examples ({folds} folds): {settings['model']}")
    if client is not None:
        n_workers = len(client.nthreads())
        settings["folds on"] = f"a Dask cluster of {n_workers} worker(s), one task per fold"
        _say(console, f"folds run on the Dask cluster at {client.scheduler.address} "
                      f"({n_workers} worker(s) now)")
    # a class of the class list with no example: train on the classes present, then give
    # the class a zero column (find_issues leaves such columns out)
    present = np.flatnonzero(np.bincount(data.labels, minlength=k) > 0)
    to_fit = np.full(k, -1, dtype=np.int64)
    to_fit[present] = np.arange(present.size)
    pp, fold_features = out_of_sample_pred_probs(
        X, to_fit[data.labels], model, folds=folds, seed=seed, num_classes=present.size,
        cache_dir=cache / "folds", progress=progress,
        train_kwargs=train_kwargs if isinstance(model, str) else None, return_features=True,
        client=client)
    if ensemble:  # X: the network's input, _images(data) (a folder read once)
        members = [pp, _small_data_patch_pred_probs(
            X, to_fit[data.labels], present.size, folds=folds, seed=seed,
            cache=cache, resume=resume, progress=progress, console=console)]
        params = SMALL_DATA_PATCH_FEATURES
        settings["model"] += (
            f"; averaged with patch features (Coates & Ng 2011: {params['n_centroids']} "
            f"k-means centroids, {params['patch_size']}x{params['patch_size']} patches"
            f"{', averaged with the mirror image' if SMALL_DATA_PATCH_MIRROR else ''}) + "
            f"logistic regression (C={IMAGE_CLASSIFIER_C})")
        scattering = None if not SMALL_DATA_SCATTERING else _small_data_scattering_pred_probs(
            X, to_fit[data.labels], present.size, folds=folds, seed=seed, cache=cache,
            resume=resume, progress=progress, console=console)
        if scattering is not None:
            members.append(scattering)
            sc = SMALL_DATA_SCATTERING
            settings["model"] += (
                f" and with scattering features (Bruna & Mallat 2013: J={sc['J']}, "
                f"L={sc['L']}, order 2, log(1 + S) pooled {sc['pool']}x{sc['pool']}, averaged "
                f"with the mirror image) + logistic regression (C={IMAGE_CLASSIFIER_C})")
        settings["model"] += ", the same folds"
        pp = sum(members) / len(members)
    if isinstance(model, str):
        features = fold_features
        source = ("the penultimate layer of each fold's network (each example's neighbours "
                  "searched in the space of the network that did not see it)"
                  if features is not None else
                  "the cached folds hold no features (written by an earlier version of "
                  "labelnoise); run with --force to recompute them, or give --features")
    if present.size < k:
        full = np.zeros((pp.shape[0], k), dtype=pp.dtype)
        full[:, present] = pp
        pp = full
    return pp, features, source


#: below this agreement of the out-of-sample arg-max with the given labels, or above this
#: estimated noise rate, the report says the classifier is too weak to trust its flags
#: (benchmarks/small_folder.py: at agreement 0.38 / 0.47 on 3,000 images with 15% noise the
#: flags' precision was 0.23 / 0.30 and the estimated noise rate 3-4x the true one)
WEAK_AGREEMENT = 0.6
WEAK_NOISE_RATE = 0.4


def _agreement(labels: np.ndarray, pred_probs: np.ndarray) -> float:
    """Fraction of examples whose out-of-sample arg-max equals the given label."""
    return float(np.mean(np.argmax(pred_probs, axis=1) == labels))


def weak_classifier_note(labels: np.ndarray, pred_probs: np.ndarray,
                         noise_rate: float) -> str | None:
    """A plain warning when the classifier is too weak for its flags to be trusted, or None.

    Rule: the out-of-sample arg-max agrees with the given labels on fewer than
    ``WEAK_AGREEMENT`` of the examples, or the estimated noise rate exceeds
    ``WEAK_NOISE_RATE``. Either way confident learning cannot tell a weak model from
    wrong labels: the estimated noise rate and the number flagged are then upper bounds
    (mostly the model's own errors), not estimates.

    Args:
        labels: int (N,) given labels; pred_probs: float (N, K); noise_rate: the estimate.
    """
    a = _agreement(labels, pred_probs)
    if a >= WEAK_AGREEMENT and noise_rate <= WEAK_NOISE_RATE:
        return None
    return (f"the classifier is weak: out of sample it agrees with the given labels on "
            f"{100 * a:.0f}% of the examples and the estimated noise rate is "
            f"{100 * noise_rate:.0f}%. Confident learning cannot tell a weak model from wrong "
            "labels, so the noise rate and the flags are upper bounds, many of them the "
            "model's own mistakes: review the top of the ranking rather than every flag, or "
            "give better pred_probs (--pred-probs from a stronger or pretrained model).")


# ---------------------------------------------------------------------------- outputs
def _noise_json(issues, data: AuditData, metrics, settings) -> dict:
    noise = issues.noise
    return {
        "class_names": list(data.class_names),
        "num_examples": int(data.labels.shape[0]),
        "noise_rate": float(noise.noise_rate),
        "num_label_issues_estimated": int(noise.num_label_issues),
        "num_issues_flagged": issues.num_issues,
        "filter_by": issues.filter_by,
        "score_method": issues.score_method,
        "mixture_weight": issues.mixture_weight,
        "prior": np.asarray(noise.prior).tolist(),
        "noise_matrix": np.asarray(noise.noise_matrix).tolist(),
        "noise_matrix_layout": "noise_matrix[i][j] = P(given = i | true = j); columns sum to 1",
        "inverse_noise_matrix": np.asarray(noise.inverse_noise_matrix).tolist(),
        "confident_joint": np.asarray(noise.confident_joint).tolist(),
        "metrics": metrics,
        "settings": settings,
    }


# ------------------------------------------------------------------------ data issues
def _read_features(features, n: int) -> np.ndarray:
    """The user's ``--features``: a ``.npy`` file, an ``.npz`` holding one array named ``X``,
    ``features`` or ``embeddings`` (:func:`labelnoise.datasets.npz_features`; both read
    without unpickling) or an array, checked to be finite real numbers of shape (N, D) for
    the N examples audited.

    Raises:
        InputFileError: the file is missing, unreadable, not a ``.npy`` array or holds
            Python objects.
        ValueError: not 2-D, another number of rows than N, not real numbers, NaN/inf (one
            line naming the file and the first bad entry).
    """
    from labelnoise.data_issues import validate_features

    if isinstance(features, np.ndarray):
        arr, what = features, "features"
    else:
        path = Path(features).expanduser()
        what = f"--features {path}"
        if path.suffix.lower() == ".npz" and path.is_file():
            from labelnoise._io import read_npz
            from labelnoise.datasets import npz_features

            try:
                arr = np.asarray(npz_features(read_npz(path, "--features"), path.name))
            except ValueError as exc:
                raise ValueError(f"--features {exc}") from None
        else:
            arr = _load_npy(path, "--features")
    if arr.ndim != 2:
        raise ValueError(f"{what} must be a 2-D (N, D) array with one row per example, got "
                         f"shape {arr.shape}")
    try:
        return validate_features(arr, name="features", num_rows=n, min_rows=1)
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None


def _raw_inputs(data: AuditData):
    """What the exact-duplicate check hashes, and a sentence naming it: an image folder's
    files (their bytes, read one at a time), else the input rows; ``(None, None)`` when
    the audit has no inputs (pred_probs only)."""
    inputs = data.inputs
    if inputs is None:
        return None, None
    paths = getattr(inputs, "paths", None)
    if paths is not None:  # an image folder: identical files
        return (Path(q).read_bytes() for q in paths), "image files (compared byte for byte)"
    if _is_image_array(inputs):
        return inputs, "images (compared pixel for pixel)"
    if isinstance(inputs, np.ndarray):
        return inputs, "input rows (compared value for value)"
    return list(inputs), "images (compared pixel for pixel)"


def _pixel_images(data: AuditData):
    """The images for the near-duplicate pixel check: an image folder's lazy sequence or an
    image array (N, H, W[, C]); None for tables and embeddings."""
    inputs = data.inputs
    if getattr(inputs, "paths", None) is not None:
        return inputs
    if _is_image_array(inputs):
        return inputs
    return None


def _is_image_array(inputs) -> bool:
    """Whether the audit's inputs are an image array, (N, H, W) or (N, H, W, C) (tables and
    embeddings are (N, D)): the one test of both the exact-duplicate and the pixel check."""
    return isinstance(inputs, np.ndarray) and inputs.ndim in (3, 4)


def _choose_features(features_arg, user_features, data: AuditData, model_features,
                     model_source):
    """The features of the data-issue checks and a sentence saying where they come from,
    or ``(None, why there are none)``: ``--features`` first, then the embeddings or table
    given, then what the cross-validated model gives (each fold's network, patch
    features)."""
    if user_features is not None:
        return user_features, ("features given" if isinstance(features_arg, np.ndarray)
                               else f"--features {features_arg}")
    if data.features is not None:
        return data.features, data.features_source
    if model_features is not None:
        return model_features, model_source
    return None, model_source or ("with --pred-probs no network is trained to compute them; "
                                  "give --features FILE.npy, an (N, D) array such as "
                                  "embeddings from a pretrained network")


def _data_issue_checks(data: AuditData, pp: np.ndarray, issues, *, features, source: str | None,
                       no_features: str | None, seed: int, console, label_features=None,
                       label_source: str | None = None, label_neighbors=None):
    """Every data-issue check on what the audit has (:func:`find_data_issues`).

    ``features``: None, an (N, D) array (one space), or per-fold features of the
    cross-validation networks (a list of ``(held_out, (N, D))``): then each example's
    neighbours are searched in the space of the network that did not see it
    (:func:`labelnoise.data_issues.nearest_neighbors_by_fold`), the held-out rows are
    the features described, and the Gaussian of the Mahalanobis outlier ranking is fitted
    per fold (each fold's held-out rows are in its own network's space).
    ``label_features``: optional (N, D2) features of the neighbour-label checks alone (the
    images' patch view), described by ``label_source``, with their ``label_neighbors``
    when already found."""
    from labelnoise.data_issues import find_data_issues, nearest_neighbors_by_fold

    def log(msg):
        _say(console, f"data issues: {msg}")

    neighbors = spaces = None
    if isinstance(features, list):
        n = len(data.labels)
        held = np.empty((n, features[0][1].shape[1]), dtype=np.float32)
        spaces = np.zeros(n, dtype=np.int64)
        for fold, (rows, feats) in enumerate(features):
            held[rows] = feats[rows]
            spaces[rows] = fold
        if n > 2:
            log(f"nearest neighbours of each fold's held-out examples among all {n} in its "
                f"network's space, k = {min(DATA_ISSUES_K, n - 1)}")
            neighbors = nearest_neighbors_by_fold(features, min(DATA_ISSUES_K, n - 1), seed=seed)
        features = held
    elif features is not None:
        features, note = search_features(features, seed=seed)
        source = f"{source}{note}"
    inputs, inputs_source = _raw_inputs(data)
    return find_data_issues(
        data.labels, pp, features=features, inputs=inputs, images=_pixel_images(data),
        class_names=data.class_names,
        is_label_issue=issues.is_label_issue, noise=issues.noise, k=DATA_ISSUES_K,
        features_source=source, no_features_reason=no_features, inputs_source=inputs_source,
        neighbors=neighbors, feature_spaces=spaces, label_features=label_features,
        label_features_source=label_source, label_neighbors=label_neighbors, seed=seed,
        log=log)


# ------------------------------------------------------------------------------- main
def audit(
    dataset: str | os.PathLike | None = None,
    *,
    out_dir: str | os.PathLike,
    label_set: str = "worse",
    pred_probs: str | os.PathLike | None = None,
    labels: str | os.PathLike | None = None,
    row_to_index: str | os.PathLike | None = None,
    label_column: str | None = None,
    class_names=None,
    id_column: str | None = None,
    true_label_column: str | None = None,
    text_columns: list[str] | None = None,
    feature_columns: list[str] | None = None,
    features: str | os.PathLike | np.ndarray | None = None,
    data_root: str | os.PathLike | None = None,
    quick: bool = False,
    model=None,
    train_kwargs: dict | None = None,
    folds: int | None = None,
    seed: int = 0,
    force: bool = False,
    resume: bool = False,
    progress: bool = True,
    console=None,
    client=None,
    skip_unreadable: bool = False,
    true_labels_file: str | os.PathLike | None = None,
) -> AuditResult:
    """Audit a dataset's labels end to end and write issues.csv, pred_probs.npy, noise.json,
    data_issues.json and report.html to ``out_dir``.

    Besides the label issues, the data-issue checks of
    :func:`labelnoise.data_issues.find_data_issues` run on features (outliers, near
    duplicates, label issues from the nearest neighbours' labels, alone and combined with
    pred_probs) and on the raw inputs (exact duplicates), and per class (overlapping
    classes, class health). The features are ``features`` when given, else the embeddings
    or the standardised table columns of the dataset, else the penultimate layer of each
    fold's torch network (which embeds every example; each example's neighbours are
    searched in the space of the network that did not see it; cached with the fold), else
    the patch features; without any, the feature checks are reported as not run, with the
    reason. When the audit trains its model (no ``pred_probs``), the ranking reads the
    model's pred_probs mixed with the label vote of each example's 10 nearest neighbours
    (:func:`labelnoise.data_issues.with_neighbour_vote`, weight by maximum likelihood;
    ``settings["neighbour vote"]``) in the user's ``features``, else the embeddings or
    standardised table columns, else, for images, the images' patch view
    (``IMAGE_VIEW_FEATURES``: a view no model fitted to the labels, so that the vote adds
    to pred_probs rather than repeating them); with ``pred_probs`` it does so in the user's
    ``features`` (as ``labelnoise find-issues --features``) or a table's / embeddings'
    columns, never in the images' view (images with ``pred_probs`` and no ``features``:
    ranked by pred_probs alone); the two neighbour-label checks search the same neighbours.
    Each check adds columns to issues.csv (after the label-issue columns), an entry to
    data_issues.json and a section to report.html; the label-issue flags and ranking do not
    depend on them.

    Args:
        dataset: ``"cifar10"`` / ``"cifar10n"`` (CIFAR-10 train images with the CIFAR-10N
            ``label_set``; the default when neither dataset nor ``pred_probs`` is given), an
            image folder, a ``.csv``/``.parquet`` table (needs ``label_column``), or an
            ``.npz`` of embeddings (``X`` / ``features`` / ``embeddings``, ``labels``[,
            ``true_labels``, ``class_names``]; :func:`labelnoise.datasets.load_embeddings`).
        out_dir: output folder; must be empty or absent unless ``force`` / ``resume``.
        label_set: the CIFAR-10N label set (``worse``, ``aggre``, ``random1``..3, ``clean``).
        pred_probs: out-of-sample predicted probabilities (N, K): a ``.npy``, or a
            CSV/Parquet table with one column per class (its header names the classes, in
            order; :func:`labelnoise._io.read_pred_probs`); skips training. Labels come from
            ``labels``, the dataset, or ``noisy_labels.npy`` beside the file
            (``true_labels.npy`` and ``../row_to_cifar10_train_index.npy`` are used when
            present).
        labels: the given labels for ``pred_probs``: a ``.npy`` (N,), or a column of a
            CSV/Parquet table (``label_column``, default its first column), as written
            there (strings, integers).
        row_to_index: a ``.npy`` (N,) mapping rows of ``pred_probs`` to CIFAR-10 train
            indices (for the report's images).
        label_column: the label column of a table (the dataset, or the ``labels`` table).
        class_names: the classes in the order of the pred_probs columns (a sequence); for
            a dataset, its classes re-ordered to it (matched by name), which sets the
            columns of the pred_probs the audit computes. Default: the header of a
            pred_probs table, else the dataset's classes (sorted label values, folder
            names), else the sorted label values or the indices 0..K-1. With a class list
            (this, a header, image folders, CIFAR) a class with no example is allowed.
        id_column: a column of the table (the dataset or the ``labels`` table) naming each
            example (e.g. ``bottle_id``): written as ``example_id`` in issues.csv and shown in
            the report; image folders are named by their file paths relative to the folder.
        true_label_column: a column of the dataset table holding known-correct labels (the
            ``<label>_true`` column that ``labelnoise simulate`` writes beside the noisy
            labels): never a feature; the audit then reports precision, recall, F1 and AUPRC
            of its flags against them, as for CIFAR-10N.
        text_columns: free-text columns of the dataset table to embed as features
            (all-MiniLM-L6-v2 sentence embeddings, 384 per column, offline; see
            :func:`labelnoise.datasets.load_table`); needs ``pip install "labelnoise[text]"``.
        feature_columns: the feature columns of the dataset table (a list of names); default
            every column but the label, id and text columns (non-numeric ones with few
            values one-hot encoded, free text and ids left out with a
            :class:`~labelnoise.datasets.TableWarning`).
        features: a ``.npy`` file (read with ``allow_pickle=False``) or an array of float
            (N, D) features of the examples (e.g. embeddings from a pretrained network),
            one row per example in the order of the labels, for the data-issue checks.
        data_root: where datasets live (default ``LABELNOISE_DATA`` or the user cache).
        quick: the quick preset (stated in the report): for images a small network
            (``QUICK_IMAGE_PRESET``); with ``model="patch-features"`` a stratified subset
            of ``QUICK_EXAMPLES`` examples and a smaller dictionary.
        model: ``None`` (default: for images ``CPU_IMAGE_PRESET``, or ``GPU_IMAGE_PRESET``
            when CUDA is available, with ``SMALL_DATA_FOLDS`` folds and the epochs of
            :func:`scaled_epochs` below ``SMALL_DATA_N`` images unless ``folds`` /
            ``train_kwargs["epochs"]`` are given, and there (not with ``quick``) the
            pred_probs averaged with those of the patch-feature model and of the
            scattering model on the same folds, ``SMALL_DATA_PATCH_ENSEMBLE`` and
            ``SMALL_DATA_SCATTERING``; for tables/embeddings standardise + logistic
            regression), ``"patch-features"`` (Coates-Ng features + logistic regression),
            the name of a torch network for the training engine (e.g. ``"resnet20"``), or
            a scikit-learn classifier (tables/embeddings).
        train_kwargs: options for the training engine's ``fit`` (``epochs``, ``loss``,
            ...) when the model is a torch network.
        folds: cross-validation folds (default: the image preset's, else 5).
        seed: seeds the folds and the training.
        force: overwrite the audit files in a non-empty ``out_dir`` (and start afresh).
        resume: continue an interrupted audit in ``out_dir`` from its finished folds.
        progress: show progress bars.
        console: a ``rich.console.Console`` for step messages, or ``None``.
        client: a ``distributed.Client`` (e.g. from
            :func:`labelnoise.crossval.cluster_client`, the CLI's ``--scheduler`` /
            ``--workers``): the cross-validation folds run as one task each on its
            cluster's workers, with the same result
            (:func:`labelnoise.crossval.out_of_sample_pred_probs`); the fold cache
            (``out_dir/cache/folds``) must be on a filesystem every worker sees. Not with
            ``pred_probs`` (nothing is trained). Default None: the folds run in this
            process.
        skip_unreadable: for an image folder, leave out the files Pillow cannot decode
            (checked by decoding every file once before the audit;
            :func:`labelnoise.datasets.load_image_folder`) instead of stopping at the first;
            they are listed in ``unreadable.csv`` (file, given_label, error), the report and
            ``AuditResult.unreadable``. With ``pred_probs`` that has a row for every file of
            the folder, the unreadable files' rows are left out too. Not with ``labels``.
        true_labels_file: for an image folder, a CSV/Parquet table with columns ``path``
            (relative to the folder) and ``true`` (a class folder name), e.g. the
            ``truth.csv`` that ``labelnoise simulate --dataset FOLDER`` writes: the audit
            then reports precision, recall, F1 and AUPRC against them (as
            ``true_label_column`` does for a table).

    Returns:
        :class:`AuditResult`.

    Raises:
        FileNotFoundError: a missing dataset or file.
        FileExistsError: ``out_dir`` is not empty and neither ``force`` nor ``resume``.
        ValueError: an unknown label set, a pred_probs file whose shape does not match the
            labels, a table without ``label_column``, ``features`` that are not finite (N, D),
            ``text_columns`` or ``feature_columns`` without a dataset table,
            ``train_kwargs`` for a model that is not a torch network, ``client`` with
            ``pred_probs`` or not a connected ``distributed.Client``, and the errors of the
            loaders and of :func:`labelnoise.crossval.out_of_sample_pred_probs` (a fold failing on a
            worker raises what it raises in this process).
        labelnoise.crossval.WorkerLostError: a fold's task killed every worker that ran it.
        labelnoise._io.InputFileError: an unreadable ``features`` file.
        labelnoise.text.MissingTextExtraError: (an ``ImportError``) ``text_columns`` without
            the ``labelnoise[text]`` packages.
    """
    from labelnoise import _io
    from labelnoise._validation import validate_choice, validate_seed
    from labelnoise.issues import find_issues

    t0 = time.time()
    if folds is not None and (isinstance(folds, bool) or not isinstance(folds, int | np.integer)
                              or folds < 2):
        raise ValueError(f"folds must be an integer >= 2, got {folds!r}")
    seed = validate_seed(seed)
    if not isinstance(seed, int):
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if class_names is not None:
        from labelnoise._validation import validate_class_names

        class_names = validate_class_names(class_names)
    if pred_probs is None and dataset is None:
        dataset = "cifar10"
    if true_labels_file is not None and dataset is None:
        raise ValueError("true_labels_file (--true-labels) gives an image folder DATASET's "
                         "known-correct classes; no dataset was given")
    if skip_unreadable and dataset is None:
        raise skip_unreadable_refused("no dataset was given")
    if skip_unreadable and labels is not None:
        raise ValueError("skip_unreadable (--skip-unreadable) with labels (--labels): the labels' "
                         "rows cannot be matched to the files left out; remove the unreadable "
                         "files, or leave --labels out (the folder names the labels)")
    if client is not None:
        if pred_probs is not None:
            raise ValueError(CLIENT_WITH_PRED_PROBS)
        from labelnoise.crossval import _check_client

        _check_client(client)
    if text_columns and dataset is None:
        raise ValueError("text_columns (--text-column) names free-text columns of a table given "
                         "as the dataset; no dataset was given")
    if feature_columns is not None:
        from labelnoise.training.data import check_table_options

        if dataset is None:
            raise ValueError("feature_columns (--feature-column) names columns of a table given "
                             "as the dataset; no dataset was given")
        feature_columns = check_table_options(dataset, feature_columns=feature_columns)[1]
    if dataset is not None and str(dataset).lower() in CIFAR_NAMES:
        from labelnoise.datasets import CIFAR10N_LABEL_SETS

        choices = sorted(CIFAR10N_LABEL_SETS) + ["worst"]
        validate_choice(label_set, choices, "label_set")
    out = _check_out_dir(out_dir, force=force, resume=resume)
    cache = out / "cache"
    settings: dict[str, Any] = {}
    notes: list[str] = []

    created: list[Path] = []  # what this run made, removed again if it fails early
    try:
        dataset_data = None
        if dataset is not None:
            _say(console, f"loading dataset {dataset}")
            dataset_data = _from_dataset(dataset, label_set=label_set, data_root=data_root,
                                         label_column=label_column, load_images=True,
                                         id_column=id_column if labels is None else None,
                                         true_label_column=true_label_column,
                                         text_columns=text_columns,
                                         feature_columns=feature_columns,
                                         skip_unreadable=skip_unreadable,
                                         true_labels_file=true_labels_file, progress=progress)
        if pred_probs is not None:
            data, pp = _from_pred_probs_file(pred_probs, labels_path=labels,
                                             row_to_index_path=row_to_index, data_root=data_root,
                                             dataset_data=dataset_data, class_names=class_names,
                                             label_column=label_column if labels is not None else None,
                                             id_column=id_column if labels is not None else None)
            settings["pred_probs"] = f"given: {pred_probs} (no training)"
            model_features = model_source = None
            user_features = None if features is None else _read_features(features, len(data.labels))
            _prepare_out_dir(out, force=force, resume=resume, created=created)
        else:
            user_features = None if features is None else _read_features(
                features, len(dataset_data.labels))
            _prepare_out_dir(out, force=force, resume=resume, created=created)
            data = dataset_data
            if class_names is not None:
                _reorder_classes(data, list(class_names))
            if quick and model == "patch-features" and len(data.labels) > QUICK_EXAMPLES:
                sub = _stratified_subset(data.labels, QUICK_EXAMPLES, seed)
                full_n = len(data.labels)
                inputs, get_image = data.inputs, data.get_image
                if user_features is not None:
                    user_features = user_features[sub]
                data = AuditData(
                    labels=data.labels[sub], class_names=data.class_names,
                    inputs=image_array(inputs)[sub] if isinstance(inputs, np.ndarray) else [inputs[i] for i in sub],
                    true_labels=None if data.true_labels is None else data.true_labels[sub],
                    get_image=None if get_image is None else (lambda i: get_image(int(sub[i]))),
                    example_ids=sub if data.example_ids is None else data.example_ids[sub],
                    description=data.description, explicit_classes=data.explicit_classes,
                    id_name="index" if data.example_ids is None else data.id_name,
                    notes=data.notes, unreadable=data.unreadable,
                )
                notes.append(
                    f"Quick preset: audited a stratified random subset of {len(sub)} of the {full_n} "
                    f"examples with a {QUICK_FEATURES['n_centroids']}-centroid feature dictionary; "
                    "run without --quick for the full audit."
                )
            t = time.time()
            pp, model_features, model_source = _compute_pred_probs(
                data, model=model, quick=quick, folds=folds, seed=seed, cache=cache,
                resume=resume, progress=progress, console=console, settings=settings,
                train_kwargs=train_kwargs, client=client)
            settings["cross-validation"] = (
                f"{settings.pop('folds')}-fold stratified, seed {seed}, {time.time() - t:.0f} s")
            if quick and model is None and _is_images(data.inputs):
                notes.append("Quick preset: a small network trained for a few epochs per fold; run "
                             "without --quick for the full audit.")
        notes = data.notes + notes

        model_pp = pp
        view = view_source = view_neighbors = None
        # the vote: when the audit trained the model; with the user's pred_probs, in the
        # features the data checks search (--features, a table's columns, embeddings)
        if (pred_probs is None or user_features is not None or data.features is not None) \
                and len(data.labels) > 2:
            t = time.time()
            if user_features is not None:  # the vote's features: the user's, the table's or
                view, view_source = search_features(user_features, seed=seed)  # embeddings, else
                view_source = ("features given" if isinstance(features, np.ndarray)  # the
                               else f"--features {features}") + view_source  # images' view
            elif data.features is not None:
                view, view_source = search_features(data.features, seed=seed)
                view_source = f"{data.features_source}{view_source}"
            elif pred_probs is None and _is_images(data.inputs):
                images = _images(data)  # the model's input: read once
                if min(images.shape[1:3]) >= IMAGE_VIEW_FEATURES["patch_size"]:
                    view, view_source = _image_view_features(
                        images, cache, seed=seed, resume=resume, progress=progress,
                        console=console)
            if view is not None:
                from labelnoise.data_issues import nearest_neighbors

                k_view = min(DATA_ISSUES_K, len(data.labels) - 1)
                view_neighbors = nearest_neighbors(view, k_view, seed=seed)
                pp, weight = with_neighbour_vote(data.labels, model_pp, view_neighbors[1])
                settings["neighbour vote"] = (
                    f"the model's pred_probs mixed with the labels of each example's {k_view} "
                    f"nearest neighbours in {view_source}, weight {weight:.3f} on the vote (the "
                    f"maximum-likelihood weight), {time.time() - t:.0f} s")

        _say(console, "estimating the noise and ranking the examples")
        names = [str(c) for c in data.class_names]  # strings: data.labels are indices
        try:
            if not data.explicit_classes:  # a class list implied by K only: as before
                from labelnoise._validation import check_all_classes_present

                check_all_classes_present(data.labels, max(len(names), int(data.labels.max()) + 1))
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", LabelOrderWarning)
                # with the vote: find_issues mixes it in again from the same neighbours (the
                # same ``pp``) and checks the columns' alignment on the model's pred_probs
                issues = find_issues(data.labels, model_pp, class_names=names,
                                     neighbors=view_neighbors)
        except ValueError as exc:
            if pred_probs is None:
                raise
            raise ValueError(f"--pred-probs {pred_probs}: {exc}") from None
        for w in caught:  # shown as usual, and the class-order warning also in the report
            if issubclass(w.category, LabelOrderWarning):
                notes.append(f"Warning: {w.message}")
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        weak = weak_classifier_note(data.labels, model_pp, issues.noise.noise_rate)
        settings["agreement"] = round(float(_agreement(data.labels, model_pp)), 4)  # the model
        if weak is not None:
            notes.append(f"Warning: {weak}")
            _say(console, f"[yellow]Warning:[/yellow] {weak}")
        metrics = None
        if data.true_labels is not None:
            metrics = detection_metrics(data.labels, data.true_labels, issues.is_label_issue,
                                        issues.label_quality_scores)

        t = time.time()
        _say(console, "checking for outliers, duplicates and other data issues")
        feats, source = _choose_features(features, user_features, data, model_features,
                                         model_source)
        data_issues = _data_issue_checks(  # the vote and its combination from the model's
            data, model_pp, issues, features=feats,  # pred_probs, as the ranking above
            source=source if feats is not None else None,
            no_features=None if feats is not None else f"no features: {source}", seed=seed,
            console=console, label_features=view, label_source=view_source,
            label_neighbors=view_neighbors)
        settings["features"] = (f"{data_issues.features_source} ({data_issues.features_shape[0]}"
                                f" x {data_issues.features_shape[1]})"
                                if data_issues.features_shape is not None
                                else data_issues.not_run["outliers"])
        if data_issues.label_features_source is not None:
            n_l, d_l = data_issues.label_features_shape
            settings["features"] += (f"; the neighbour-label checks: "
                                     f"{data_issues.label_features_source} ({n_l} x {d_l})")
        settings["data-issue checks"] = f"{time.time() - t:.1f} s"

        seconds = time.time() - t0
        settings = {"dataset": data.description, **settings, "time": f"{seconds:.1f} s"}
        frame = issues.to_frame(class_names=data.class_names, example_ids=data.example_ids,
                                true_labels=data.true_labels)
        extra = data_issues.to_frame(order=frame["index"].to_numpy())
        _io.write_csv(out / "issues.csv", frame.join(extra))  # label-issue columns first
        _io.save_npy(out / "pred_probs.npy", np.asarray(pp))
        _io.write_json(out / "noise.json", _noise_json(issues, data, metrics, settings), indent=1)
        _io.write_json(out / "data_issues.json",
                       data_issues.summary(example_ids=data.example_ids), indent=1)
        if data.unreadable:
            import pandas as pd

            _io.write_csv(out / UNREADABLE_FILE, pd.DataFrame(
                data.unreadable, columns=["file", "given_label", "error"]))
        elif (out / UNREADABLE_FILE).is_file() and _is_audit_folder(out):
            (out / UNREADABLE_FILE).unlink()  # an earlier audit's, not this one's

        from labelnoise.report import ReportData, write_report

        write_report(out / "report.html", ReportData(
            issues=issues, class_names=data.class_names, true_labels=data.true_labels,
            metrics=metrics, get_image=data.get_image, example_ids=data.example_ids,
            id_name=data.id_name, title="labelnoise audit", settings=settings, notes=notes,
            data_issues=data_issues, columns=data.shown_columns,
        ))
        _say(console, f"wrote {', '.join(OUTPUT_FILES)} to {out}")
        return AuditResult(
            out_dir=out, pred_probs=pp, issues=issues, class_names=list(data.class_names),
            true_labels=data.true_labels, metrics=metrics, settings=settings,
            seconds=time.time() - t0, data_issues=data_issues, model_pred_probs=model_pp,
            example_ids=data.example_ids, unreadable=list(data.unreadable),
        )
    except Exception:
        _clean_up_failed(out, created)
        raise
