"""Development cases for label-error detection: out-of-sample pred_probs built here.

Each case is a labelled dataset with known true labels, given (noisy) labels and the
out-of-sample predicted probabilities of one model trained on the given labels, made by
stratified K-fold cross-validation (:func:`labelnoise.crossval.out_of_sample_pred_probs`,
folds cached so an interrupted build resumes). The cases span model strength (weak to
strong, calibrated to over-confident), noise kind (symmetric, pair-flip, CIFAR asymmetric,
instance-dependent, real CIFAR-10N human noise), noise rate (3% to 40%), binary to 20
classes, 178 to 50,000 examples. This script only builds data: it runs no detection method.

    python benchmarks/detection_cases.py --root DIR [--only FAMILY[,FAMILY]] [--models M[,M]] [--list]

writes ``DIR/detection-cases/<case>/{pred_probs.npy, noisy_labels.npy, true_labels.npy,
meta.json}`` (plus ``indices.npy`` for cases on a subset of CIFAR-10: the rows' positions
in the CIFAR-10 split) and ``DIR/detection-cases/split.json``. Intermediate files (feature
matrices, cross-validation folds) go to ``DIR/detection-cases/_cache/``. A case whose
``meta.json`` exists is finished and skipped on a rerun; ``meta.json`` is written last and
every file goes through ``labelnoise._io`` (atomic). One build at a time (a lock file,
``DIR/detection-cases/.build.lock``); torch cases also take ``/tmp/labelnoise-heavy.lock``
(the project's lock for heavy CPU jobs) one case at a time, and while another job holds it
the scikit-learn cases are built first. Run it niced:

    nohup nice -n 19 python benchmarks/detection_cases.py --root /root/.cache/labelnoise-bench \\
        > detection-cases.log 2>&1 &

CIFAR-10 must be under ``DIR/cifar-10-batches-py`` and CIFAR-10N under ``DIR/cifar-10n``
(``python ../shared/data/cifar-10-jpeg/make_cifar10.py DIR``; copy ``../shared/data/cifar-10n``).

Families (build order: digits, breast_cancer, wine, synthetic-k20, cifar10n px8 + patch,
small-images, cifar10n resnet8, cifar10-binary, cifar10-synthetic, cifar10n resnet20):

* ``digits``: sklearn's digits (1,797 x 64, 10 classes), noise sym20, pair20, pair40,
  inst03, inst20, inst40 (instance-dependent: Xia et al.'s recipe, flip-rate spread 0.1,
  or rate / 3 below rate 0.2 so that low rates stay low) x models lr, gnb (over-confident), knn3, rf, tree (depth 4, weak),
  mlp (unregularised, memorises); 5 folds.
* ``breast_cancer`` (binary, 569) and ``wine`` (3 classes, 178): sym10, inst10 x lr, gnb,
  knn3; 5 folds.
* ``synthetic-k20``: ``make_classification`` (6,000 x 40, 20 classes, 2 clusters per class)
  x inst05, inst20, sym20 x lr, gnb, knn3, mlp; 5 folds.
* ``cifar10n``: CIFAR-10 train (50,000) with the CIFAR-10N label sets aggre, random1,
  random2, random3, worse (true = clean labels) x px8 (logistic regression on 8x8
  downsampled pixels, weak), patch (Coates-Ng patch features, the audit's QUICK_FEATURES
  dictionary, computed once for all 50,000 images, + the audit's logistic regression); 3
  folds. Later in the build: resnet8 (the audit's QUICK_IMAGE_PRESET: 2 folds x 4 epochs)
  on a fixed stratified 10,000-image subset, all five label sets; resnet20 trained longer
  (2 folds x 15 epochs) on the same 10,000-image subset, aggre and worse.
* ``cifar10-synthetic``: the same images and features, clean labels with sym20, sym40,
  asym20, asym40 (CIFAR pairs), inst05, inst20, inst40 x px8, patch; 3 folds.
* ``cifar10-binary``: vehicles (airplane, automobile, ship, truck) vs animals on the same
  features, sym05 and inst10 x px8, patch; 3 folds.
* ``small-images``: stratified subsets of the CIFAR-10 test set, n1000-sym15, n3000-sym15,
  n3000-inst15 x airbench (the audit's CPU default, ``CPU_IMAGE_PRESET``: 2 folds x 8
  epochs) and resnet8 (``QUICK_IMAGE_PRESET``); the weak-model, small-data cases.

Existing cases (``cases()`` reads them, nothing is copied): the 15
``<shared>/data/label-error-benchmarks/<dataset>/<model>`` cases and the three 5-model
ensembles (rows averaged), family ``label-error-benchmarks``, named
``leb-<dataset>-<model>``.

Split rule (fixed before any detection result was looked at; written into split.json):
every case has a family, a setting (its data and noise, e.g. ``sym20`` or ``aggre``) and a
model. Within each family, sort the family's distinct settings by name (index s) and its
distinct models by name (index m), over ALL planned cases of the family whether built or
not; the case goes to ``select`` when s + m is even and to ``confirm`` when it is odd (a
checkerboard). So within a family every model and every setting with at least two
partners falls into both halves, and neither half holds all the cases of one model or
one noise kind. For ``label-error-benchmarks`` the settings are the three datasets and the
models the five networks plus ``ensemble``.

Seeds: noise of a setting is drawn with seed crc32(family/setting) (the same noisy labels
for every model of a setting), cross-validation uses seed 0 (torch folds seed + fold), the
subsets seed 0, sklearn models random_state 0.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import sys
import time
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "2")

import numpy as np  # noqa: E402

from labelnoise import _io  # noqa: E402
from labelnoise import noise as lnoise  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = REPO.parent / "shared"
SUBDIR = "detection-cases"
CV_SEED = 0
HEAVY_LOCK = Path("/tmp/labelnoise-heavy.lock")
LEB_DATASETS = ["cifar-10n-aggregate", "cifar-10n-worst", "cifar-10s"]
LEB_MODELS = ["resnet18", "resnet50d", "efficientnet_b1", "twins_pcpvt_base",
              "swin_base_patch4_window7_224"]
CIFAR10N_SETS = ["aggre", "random1", "random2", "random3", "worse"]
CIFAR_VEHICLES = (0, 1, 8, 9)  # airplane, automobile, ship, truck


# ------------------------------------------------------------------------ case specs
@dataclass(frozen=True)
class Spec:
    """One planned case. ``noise`` = (kind, rate) or ("cifar10n", label_set)."""

    family: str
    data: str          # a key of DATA
    setting: str       # data + noise, e.g. "sym20", "aggre", "n1000-sym15"
    noise: tuple
    model: str         # a key of MODELS
    folds: int
    subset: int | None = None  # stratified subset size (by true labels), None = all
    train_kwargs: dict | None = field(default=None, hash=False, compare=False)

    @property
    def name(self) -> str:
        return f"{self.family}-{self.setting}-{self.model}"

    @property
    def noise_seed(self) -> int:
        return zlib.crc32(f"{self.family}/{self.setting}".encode()) % (2**31)


def _rate_tag(kind: str, rate: float) -> str:
    return f"{kind}{round(rate * 100):02d}"


def planned_specs() -> list[Spec]:
    """All new cases, in build order (cheap families first)."""
    specs: list[Spec] = []
    digit_noise = [("sym", 0.2), ("pair", 0.2), ("pair", 0.4), ("inst", 0.03), ("inst", 0.2),
                   ("inst", 0.4)]
    for kind, rate in digit_noise:
        for model in ("lr", "gnb", "knn3", "rf", "tree", "mlp"):
            specs.append(Spec("digits", "digits", _rate_tag(kind, rate), (kind, rate), model, 5))
    for fam in ("breast_cancer", "wine"):
        for kind, rate in (("sym", 0.1), ("inst", 0.1)):
            for model in ("lr", "gnb", "knn3"):
                specs.append(Spec(fam, fam, _rate_tag(kind, rate), (kind, rate), model, 5))
    for kind, rate in (("inst", 0.05), ("inst", 0.2), ("sym", 0.2)):
        for model in ("lr", "gnb", "knn3", "mlp"):
            specs.append(Spec("synthetic-k20", "synthetic-k20", _rate_tag(kind, rate),
                              (kind, rate), model, 5))
    for ls in CIFAR10N_SETS:
        for model in ("px8", "patch"):
            specs.append(Spec("cifar10n", "cifar10-train", ls, ("cifar10n", ls), model, 3))
    from labelnoise.audit import CPU_IMAGE_PRESET, QUICK_IMAGE_PRESET

    for n, kind, rate in ((1000, "sym", 0.15), (3000, "sym", 0.15), (3000, "inst", 0.15)):
        for model, preset in (("airbench", CPU_IMAGE_PRESET), ("resnet8", QUICK_IMAGE_PRESET)):
            specs.append(Spec("small-images", "cifar10-test", f"n{n}-{_rate_tag(kind, rate)}",
                              (kind, rate), model, preset["folds"], subset=n,
                              train_kwargs=dict(preset["train_kwargs"])))
    for ls in CIFAR10N_SETS:
        specs.append(Spec("cifar10n", "cifar10-train", ls, ("cifar10n", ls), "resnet8",
                          QUICK_IMAGE_PRESET["folds"], subset=10_000,
                          train_kwargs=dict(QUICK_IMAGE_PRESET["train_kwargs"])))
    for kind, rate in (("sym", 0.05), ("inst", 0.1)):
        for model in ("px8", "patch"):
            specs.append(Spec("cifar10-binary", "cifar10-train-binary", _rate_tag(kind, rate),
                              (kind, rate), model, 3))
    for kind, rate in (("sym", 0.2), ("sym", 0.4), ("asym", 0.2), ("asym", 0.4),
                       ("inst", 0.05), ("inst", 0.2), ("inst", 0.4)):
        for model in ("px8", "patch"):
            specs.append(Spec("cifar10-synthetic", "cifar10-train", _rate_tag(kind, rate),
                              (kind, rate), model, 3))
    for ls in ("aggre", "worse"):
        specs.append(Spec("cifar10n", "cifar10-train", ls, ("cifar10n", ls), "resnet20", 2,
                          subset=10_000, train_kwargs=dict(epochs=15)))
    names = [s.name for s in specs]
    assert len(names) == len(set(names)), "duplicate case names"
    return specs


def _checkerboard(items: list[tuple[str, str, str, str]]) -> dict[str, str]:
    """items: (name, family, setting, model) -> {name: half} by the split rule."""
    out = {}
    for fam in sorted({f for _, f, _, _ in items}):
        members = [it for it in items if it[1] == fam]
        settings = sorted({s for _, _, s, _ in members})
        models = sorted({m for _, _, _, m in members})
        for name, _, s, m in members:
            out[name] = "select" if (settings.index(s) + models.index(m)) % 2 == 0 else "confirm"
    return out


def _leb_items() -> list[tuple[str, str, str, str]]:
    return [(f"leb-{d}-{m}", "label-error-benchmarks", d, m)
            for d in LEB_DATASETS for m in LEB_MODELS + ["ensemble"]]


def split() -> dict[str, str]:
    """{case name: "select" | "confirm"} for every planned new case and existing case."""
    items = [(s.name, s.family, s.setting, s.model) for s in planned_specs()] + _leb_items()
    return _checkerboard(items)


# ------------------------------------------------------------------------------ data
@dataclass
class Data:
    X: np.ndarray            # model inputs when the model is a plain sklearn model on X
    y: np.ndarray            # true labels
    k: int
    images: np.ndarray | None = None   # uint8 (N, 32, 32, 3) for CIFAR
    description: str = ""


def _load_sklearn(name: str) -> Data:
    from sklearn import datasets as skd

    if name == "synthetic-k20":
        X, y = skd.make_classification(
            n_samples=6000, n_features=40, n_informative=20, n_redundant=10, n_classes=20,
            n_clusters_per_class=2, class_sep=2.0, flip_y=0.0, random_state=0)
        desc = ("make_classification(n_samples=6000, n_features=40, n_informative=20, "
                "n_redundant=10, n_classes=20, n_clusters_per_class=2, class_sep=2.0, "
                "flip_y=0, random_state=0)")
    else:
        loader = {"digits": skd.load_digits, "breast_cancer": skd.load_breast_cancer,
                  "wine": skd.load_wine}[name]
        b = loader()
        X, y = b.data, b.target
        desc = f"sklearn.datasets.load_{name}()"
    return Data(np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.int64),
                int(np.max(y)) + 1, description=desc)


@cache
def _cifar(split_name: str, root: str):
    from labelnoise.datasets import load_cifar10

    d = load_cifar10(split_name, data_root=root, download=False)
    return d.inputs, np.asarray(d.labels, dtype=np.int64)


def _px8(images: np.ndarray) -> np.ndarray:
    n = images.shape[0]
    out = np.empty((n, 192), dtype=np.float32)
    for a in range(0, n, 5000):
        b = images[a:a + 5000].astype(np.float32).reshape(-1, 8, 4, 8, 4, 3).mean(axis=(2, 4))
        out[a:a + 5000] = b.reshape(-1, 192) / 255.0
    return out


def _cached_features(cache: Path, key: str, make) -> np.ndarray:
    path = cache / "features" / f"{key}.npy"
    if path.is_file():
        return _io.read_npy(path, "cached features")
    path.parent.mkdir(parents=True, exist_ok=True)
    t = time.time()
    print(f"  computing features {key} ...", flush=True)
    feats = make()
    _io.save_npy(path, feats)
    print(f"  features {key} {feats.shape} in {time.time() - t:.0f} s", flush=True)
    return feats


def cifar_features(root: Path, model: str) -> np.ndarray:
    """Unsupervised features of all 50,000 CIFAR-10 train images (cached under root)."""
    images, _ = _cifar("train", str(root))
    cache = root / SUBDIR / "_cache"
    if model == "px8":
        return _cached_features(cache, "cifar10-train-px8", lambda: _px8(images))
    if model == "patch":
        from labelnoise.audit import QUICK_FEATURES
        from labelnoise.features import PatchFeatures

        key = "cifar10-train-patch_" + "_".join(f"{k}{v}" for k, v in sorted(QUICK_FEATURES.items()))

        def make():
            ext = PatchFeatures(**QUICK_FEATURES, seed=0).fit(images)
            return ext.transform(images, progress=False)
        return _cached_features(cache, key + "_seed0", make)
    raise ValueError(model)


def _stratified_subset(y: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    from sklearn.model_selection import train_test_split

    if n >= y.shape[0]:
        return np.arange(y.shape[0])
    idx, _ = train_test_split(np.arange(y.shape[0]), train_size=n, stratify=y, random_state=seed)
    return np.sort(idx)


# ---------------------------------------------------------------------------- models
def sklearn_model(key: str):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    if key == "lr":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    if key == "gnb":
        return GaussianNB()
    if key == "knn3":
        return make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=3))
    if key == "rf":
        return RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=1)
    if key == "tree":
        return DecisionTreeClassifier(max_depth=4, random_state=0)
    if key == "mlp":
        return make_pipeline(StandardScaler(), MLPClassifier((128,), alpha=1e-5, max_iter=60,
                                                             random_state=0))
    if key == "px8":
        return make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=1000))
    if key == "patch":
        from labelnoise.audit import feature_classifier

        return feature_classifier()
    raise ValueError(f"unknown model {key!r}")


MODEL_DESCRIPTIONS = {
    "lr": "standardise + logistic regression (C=1)",
    "gnb": "Gaussian naive Bayes (over-confident)",
    "knn3": "standardise + kNN, k=3 (probabilities in thirds)",
    "rf": "random forest, 100 trees",
    "tree": "decision tree, max_depth=4 (weak)",
    "mlp": "standardise + MLP (128 hidden, alpha 1e-5, 60 Adam epochs)",
    "px8": "standardise + logistic regression (C=0.01) on 8x8 downsampled pixels (192 features)",
    "patch": "Coates-Ng patch features (audit QUICK_FEATURES: 400 centroids, 6x6) + "
             "audit feature_classifier (standardise + LR, C=0.001)",
    "resnet8": "ResNet-8 (torch), audit QUICK_IMAGE_PRESET",
    "airbench": "airbench-style CNN (torch), audit CPU_IMAGE_PRESET",
    "resnet20": "ResNet-20 (torch), longer training",
}
TORCH_MODELS = ("resnet8", "airbench", "resnet20")


# ---------------------------------------------------------------------------- build
def inst_norm_std(rate: float) -> float:
    """Spread of the per-example flip rates of instance-dependent noise: the paper's 0.1 from
    rate 0.2 up; rate / 3 below it, since N(rate, 0.1) truncated at 0 would raise the mean
    (rate 0.03 would give about 10% noise)."""
    return 0.1 if rate >= 0.2 else rate / 3


def _noisy(spec: Spec, y: np.ndarray, k: int, noise_X, root: Path, idx) -> np.ndarray:
    kind, rate = spec.noise
    seed = spec.noise_seed
    if kind == "cifar10n":
        from labelnoise.datasets import load_cifar10n

        d = load_cifar10n(rate, data_root=root, download=False, load_images=False)
        lab = np.asarray(d.labels, dtype=np.int64)
        true = np.asarray(d.true_labels, dtype=np.int64)
        if idx is not None:
            lab, true = lab[idx], true[idx]
        if not np.array_equal(true, y):
            raise RuntimeError("CIFAR-10N clean labels differ from the CIFAR-10 labels")
        return lab
    if kind == "sym":
        return lnoise.symmetric(y, rate, num_classes=k, seed=seed).labels
    if kind == "pair":
        return lnoise.pair_flip(y, rate, num_classes=k, seed=seed).labels
    if kind == "asym":
        return lnoise.asymmetric(y, rate, dataset="cifar10", seed=seed).labels
    if kind == "inst":
        return lnoise.instance_dependent(noise_X, y, rate, num_classes=k, seed=seed,
                                         norm_std=inst_norm_std(rate)).labels
    raise ValueError(kind)


def _prepare(spec: Spec, root: Path):
    """(model inputs, true labels, K, inputs for instance noise, indices or None, data desc)."""
    if spec.data in ("digits", "breast_cancer", "wine", "synthetic-k20"):
        d = _load_sklearn(spec.data)
        return d.X, d.y, d.k, d.X, None, d.description
    if spec.data in ("cifar10-train", "cifar10-train-binary"):
        images, y = _cifar("train", str(root))
        desc = "CIFAR-10 train (50,000; rebuilt from the shared JPEGs)"
        if spec.data == "cifar10-train-binary":
            y = np.isin(y, CIFAR_VEHICLES).astype(np.int64)
            desc += ", binary: vehicles (airplane, automobile, ship, truck) = 1 vs animals = 0"
        idx = None
        if spec.subset is not None:
            idx = _stratified_subset(y, spec.subset, 0)
            desc += f", stratified subset of {spec.subset} (seed 0)"
        if spec.model in TORCH_MODELS:
            X = images if idx is None else images[idx]
        else:
            X = cifar_features(root, spec.model)
            X = X if idx is None else X[idx]
        yy = y if idx is None else y[idx]
        noise_X = images if idx is None else images[idx]
        return X, yy, int(yy.max()) + 1, noise_X, idx, desc
    if spec.data == "cifar10-test":
        images, y = _cifar("test", str(root))
        idx = _stratified_subset(y, spec.subset, 0)
        desc = f"CIFAR-10 test, stratified subset of {spec.subset} (seed 0)"
        return images[idx], y[idx], 10, images[idx], idx, desc
    raise ValueError(spec.data)


def _try_heavy_lock(block: bool):
    """The project's lock for heavy CPU jobs (held by one torch case at a time): an open file
    holding the lock, or None when it is busy and ``block`` is False."""
    fh = open(HEAVY_LOCK, "a")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fh
    except BlockingIOError:
        if not block:
            fh.close()
            return None
    print(f"  waiting for {HEAVY_LOCK} ...", flush=True)
    fcntl.flock(fh, fcntl.LOCK_EX)
    return fh


def build_case(spec: Spec, root: Path, half: str) -> dict:
    from labelnoise.crossval import out_of_sample_pred_probs

    out = root / SUBDIR / spec.name
    out.mkdir(parents=True, exist_ok=True)
    X, y, k, noise_X, idx, desc = _prepare(spec, root)
    noisy = _noisy(spec, y, k, noise_X, root, idx)
    if np.bincount(noisy, minlength=k).min() == 0:
        raise RuntimeError(f"{spec.name}: a class has no given label")
    cache = root / SUBDIR / "_cache" / "folds" / spec.name
    resumed = cache.is_dir() and any(cache.glob("fold_*"))
    t, cpu = time.time(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if spec.model in TORCH_MODELS:
            import torch

            torch.set_num_threads(2)
            pp = out_of_sample_pred_probs(X, noisy, spec.model, folds=spec.folds, seed=CV_SEED,
                                          num_classes=k, cache_dir=cache, progress=False,
                                          train_kwargs=spec.train_kwargs)
        else:
            pp = out_of_sample_pred_probs(X, noisy, sklearn_model(spec.model), folds=spec.folds,
                                          seed=CV_SEED, num_classes=k, cache_dir=cache,
                                          progress=False)
    seconds, cpu = time.time() - t, time.process_time() - cpu
    pp = np.asarray(pp, dtype=np.float64)
    sums = pp.sum(axis=1)
    if not (np.isfinite(pp).all() and (pp >= 0).all() and np.allclose(sums, 1.0, atol=1e-5)):
        raise RuntimeError(f"{spec.name}: pred_probs are not probabilities")
    pp /= sums[:, None]
    pred = pp.argmax(axis=1)
    kind, rate = spec.noise
    meta = {
        "name": spec.name, "family": spec.family, "setting": spec.setting, "half": half,
        "data": desc, "model": spec.model, "model_description": MODEL_DESCRIPTIONS[spec.model],
        "train_kwargs": spec.train_kwargs,
        "noise_kind": {"sym": "symmetric", "pair": "pair-flip", "asym": "asymmetric (CIFAR pairs)",
                       "inst": "instance-dependent (Xia et al. 2020)",
                       "cifar10n": "real human (CIFAR-10N)"}[kind],
        "noise_rate_requested": None if kind == "cifar10n" else rate,
        "cifar10n_label_set": rate if kind == "cifar10n" else None,
        "N": int(y.shape[0]), "K": int(k), "folds": spec.folds, "cv_seed": CV_SEED,
        "noise_seed": None if kind == "cifar10n" else spec.noise_seed,
        "inst_norm_std": inst_norm_std(rate) if kind == "inst" else None,
        "subset": spec.subset,
        "accuracy_given": float((pred == noisy).mean()),
        "accuracy_true": float((pred == y).mean()),
        "realised_noise_rate": float((noisy != y).mean()),
        "seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1), "resumed_from_cached_folds": bool(resumed),
        "versions": _versions(),
    }
    _io.save_npy(out / "pred_probs.npy", pp)
    _io.save_npy(out / "noisy_labels.npy", noisy.astype(np.int64))
    _io.save_npy(out / "true_labels.npy", y.astype(np.int64))
    if idx is not None:
        _io.save_npy(out / "indices.npy", idx.astype(np.int64))
    _io.write_json(out / "meta.json", meta)
    return meta


@lru_cache(maxsize=1)
def _versions() -> dict:
    import sklearn

    import labelnoise

    v = {"numpy": np.__version__, "sklearn": sklearn.__version__,
         "labelnoise": getattr(labelnoise, "__version__", "?")}
    if "torch" in sys.modules:
        v["torch"] = sys.modules["torch"].__version__
    return v


# ----------------------------------------------------------------------- read cases
def _leb_dir(shared) -> Path:
    p = Path(shared if shared is not None else DEFAULT_SHARED)
    for cand in (p, p / "label-error-benchmarks", p / "data" / "label-error-benchmarks"):
        if (cand / LEB_DATASETS[0]).is_dir():
            return cand
    raise FileNotFoundError(f"label-error-benchmarks not found under {p}")


def cases(root, shared=None, *, half: str | None = None, families=None) -> Iterator[tuple]:
    """Yield ``(name, half, labels, pred_probs, true_labels, meta)`` for every built new case
    (under ``root/detection-cases``) and the 15 + 3 existing label-error-benchmark cases.

    Args:
        root: the data root the cases were built into.
        shared: ``../shared`` (or its ``data`` or ``data/label-error-benchmarks``); default
            the ``shared`` folder beside the repository.
        half: only ``"select"`` or only ``"confirm"`` cases (default both).
        families: only these families (default all).

    Cases not built yet are left out. Labels are int64, pred_probs float64 (N, K).
    """
    halves = split()
    base = Path(root) / SUBDIR
    fams = None if families is None else set([families] if isinstance(families, str) else families)
    for spec in planned_specs():
        h = halves[spec.name]
        if (half is not None and h != half) or (fams is not None and spec.family not in fams):
            continue
        d = base / spec.name
        if not (d / "meta.json").is_file():
            continue
        meta = json.loads((d / "meta.json").read_text())
        meta["half"] = h
        yield (spec.name, h, np.load(d / "noisy_labels.npy", allow_pickle=False),
               np.load(d / "pred_probs.npy", allow_pickle=False),
               np.load(d / "true_labels.npy", allow_pickle=False), meta)
    if fams is not None and "label-error-benchmarks" not in fams:
        return
    leb = _leb_dir(shared)
    for ds in LEB_DATASETS:
        labels = np.load(leb / ds / LEB_MODELS[0] / "noisy_labels.npy", allow_pickle=False)
        true = np.load(leb / ds / LEB_MODELS[0] / "true_labels.npy", allow_pickle=False)
        for m in LEB_MODELS + ["ensemble"]:
            name = f"leb-{ds}-{m}"
            h = halves[name]
            if half is not None and h != half:
                continue
            if m == "ensemble":
                pp = np.mean([np.load(leb / ds / mm / "pred_probs.npy", allow_pickle=False)
                              for mm in LEB_MODELS], axis=0)
            else:
                pp = np.load(leb / ds / m / "pred_probs.npy", allow_pickle=False)
            pred = pp.argmax(axis=1)
            meta = {"name": name, "family": "label-error-benchmarks", "setting": ds, "half": h,
                    "data": f"label-error-benchmarks/{ds} (CIFAR-10 train)", "model": m,
                    "model_description": "mean of the 5 models' pred_probs" if m == "ensemble"
                    else f"{m} (AutoGluon, 5-fold CV, Kuan & Mueller 2022)",
                    "noise_kind": "synthetic class-conditional (cleanlab)" if ds == "cifar-10s"
                    else "real human (CIFAR-10N)",
                    "N": int(labels.shape[0]), "K": int(pp.shape[1]), "folds": 5,
                    "accuracy_given": float((pred == labels).mean()),
                    "accuracy_true": float((pred == true).mean()),
                    "realised_noise_rate": float((labels != true).mean()),
                    "source": str(leb / ds / m)}
            yield name, h, labels, pp, true, meta


# ------------------------------------------------------------------------------ main
def _write_split(root: Path) -> dict:
    halves = split()
    specs = planned_specs()
    info = {s.name: {"family": s.family, "setting": s.setting, "model": s.model,
                     "half": halves[s.name]} for s in specs}
    for name, fam, ds, m in _leb_items():
        info[name] = {"family": fam, "setting": ds, "model": m, "half": halves[name]}
    counts = {}
    for v in info.values():
        c = counts.setdefault(v["family"], {"select": 0, "confirm": 0})
        c[v["half"]] += 1
    doc = {"rule": ("within each family: sort its distinct settings (data + noise) by name -> s, "
                    "its distinct models by name -> m, over all planned cases; select if s + m "
                    "is even, else confirm"),
           "counts": counts,
           "select": sorted(n for n, v in info.items() if v["half"] == "select"),
           "confirm": sorted(n for n, v in info.items() if v["half"] == "confirm"),
           "cases": info}
    _io.write_json(root / SUBDIR / "split.json", doc)
    return doc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, required=True, help="data root (holds cifar-10-batches-py)")
    ap.add_argument("--only", default=None, help="comma-separated families to build")
    ap.add_argument("--models", default=None, help="comma-separated models to build (e.g. px8)")
    ap.add_argument("--list", action="store_true", help="list the planned cases and exit")
    args = ap.parse_args()
    root = args.root.expanduser().resolve()
    specs = planned_specs()
    halves = split()
    if args.only:
        only = set(args.only.split(","))
        unknown = only - {s.family for s in specs}
        if unknown:
            ap.error(f"unknown families {sorted(unknown)}; known: "
                     f"{sorted({s.family for s in specs})}")
        specs = [s for s in specs if s.family in only]
    if args.models:
        models = set(args.models.split(","))
        known = {s.model for s in planned_specs()}
        if models - known:
            ap.error(f"unknown models {sorted(models - known)}; known: {sorted(known)}")
        specs = [s for s in specs if s.model in models]
    if args.list:
        for s in specs:
            done = (root / SUBDIR / s.name / "meta.json").is_file()
            print(f"{s.name:45s} {s.family:18s} {halves[s.name]:8s} {'built' if done else '-'}")
        return
    (root / SUBDIR).mkdir(parents=True, exist_ok=True)
    lock = open(root / SUBDIR / ".build.lock", "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        sys.exit(f"another build holds {root / SUBDIR / '.build.lock'}; not starting")
    _write_split(root)
    t0 = time.time()
    total = len(specs)
    pending = list(enumerate(specs, 1))
    while pending:
        i, s = pending.pop(0)
        if (root / SUBDIR / s.name / "meta.json").is_file():
            print(f"[{i}/{total}] {s.name}: built, skipped", flush=True)
            continue
        heavy = None
        if s.model in TORCH_MODELS:
            # torch cases wait for the heavy-job lock; while others hold it, build the
            # remaining scikit-learn cases first
            others = any(p.model not in TORCH_MODELS for _, p in pending)
            heavy = _try_heavy_lock(block=not others)
            if heavy is None:
                print(f"[{i}/{total}] {s.name}: {HEAVY_LOCK} busy, deferred", flush=True)
                pending.append((i, s))
                continue
        print(f"[{i}/{total}] {s.name} ...", flush=True)
        try:
            m = build_case(s, root, halves[s.name])
        finally:
            if heavy is not None:
                heavy.close()
        print(f"[{i}/{total}] {s.name}: N={m['N']} K={m['K']} noise={m['realised_noise_rate']:.3f} "
              f"acc_given={m['accuracy_given']:.3f} acc_true={m['accuracy_true']:.3f} "
              f"{m['seconds']:.0f} s, cpu {m['cpu_seconds']:.0f} s (total {time.time() - t0:.0f} s)",
              flush=True)
    print(f"done in {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
