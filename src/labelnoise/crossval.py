"""Out-of-sample pred_probs by stratified K-fold cross-validation.

Every example's predicted class probabilities come from a model that never saw it
during training, the input that confident learning needs (Northcutt, Jiang & Chuang,
"Confident Learning: Estimating Uncertainty in Dataset Labels", JAIR 2021, Sec. 2:
"out-of-sample predicted probabilities ... computed by cross-validation").

Two kinds of model are supported:

* any scikit-learn classifier with ``predict_proba`` (cloned for each fold; folds can run
  in parallel through joblib);
* a PyTorch network named for :func:`labelnoise.models.build_model` (``"resnet8"``,
  ``"resnet20"``, ...), trained per fold by the training engine
  (:func:`labelnoise.training.standard.fit`) on uint8 images (N, H, W, C).

With ``cache_dir``, each finished fold's pred_probs and held-out indices are written to
disk atomically, so an interrupted run resumes from the folds already finished (and, for
torch models, an unfinished fold from the engine's last per-epoch checkpoint).

With ``return_features=True`` and a torch model, each fold's network also embeds every
example (its penultimate layer, :func:`labelnoise.models.capture_penultimate`: the held-out
examples in the same forward pass as their predictions, the training part in one more
pass); the features are saved in the fold's cache file and returned per fold, so that the
neighbours of each example can be searched in the space of the network that did not see it
(the audit's data-issue checks; networks of different folds have unrelated feature spaces).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from labelnoise import _io
from labelnoise._validation import check_all_classes_present, validate_labels, validate_seed

_CACHE_VERSION = 1


def _inputs_of(dataset_or_X) -> np.ndarray | Any:
    """The (N, ...) inputs of a LabeledDataset-like object, or the argument itself."""
    inputs = getattr(dataset_or_X, "inputs", None)
    return dataset_or_X if inputs is None else inputs


def _model_description(model, train_kwargs: Mapping[str, Any]) -> str:
    if isinstance(model, str):
        return f"torch:{model}:{json.dumps(dict(train_kwargs), sort_keys=True, default=str)}"
    return f"sklearn:{model!r}"


def _fingerprint(labels: np.ndarray, k: int, folds: int, seed: int, model_desc: str) -> dict:
    return {
        "version": _CACHE_VERSION,
        "num_examples": int(labels.shape[0]),
        "num_classes": int(k),
        "folds": int(folds),
        "seed": int(seed),
        "labels_sha1": hashlib.sha1(np.ascontiguousarray(labels).tobytes()).hexdigest(),
        "model": model_desc,
    }


def _prepare_cache(cache_dir, fingerprint: dict) -> Path | None:
    if cache_dir is None:
        return None
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    meta = cache / "crossval.json"
    if meta.exists():
        try:
            old = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"cache_dir {str(cache)!r}: {meta.name} is not a valid "
                             f"cross-validation manifest ({exc}); delete cache_dir") from None
        if not isinstance(old, dict):
            raise ValueError(f"cache_dir {str(cache)!r}: {meta.name} is not a valid "
                             "cross-validation manifest; delete cache_dir")
        if old != fingerprint:
            diff = sorted(k for k in set(old) | set(fingerprint) if old.get(k) != fingerprint.get(k))
            raise ValueError(
                f"cache_dir {str(cache)!r} holds folds of a different cross-validation "
                f"(differs in: {', '.join(diff)}); use another cache_dir or delete it"
            )
    else:
        _io.write_json(meta, fingerprint)
    return cache


def _reindex_columns(proba: np.ndarray, classes, k: int) -> np.ndarray:
    """Place the columns of ``predict_proba`` (ordered like ``classes_``) into K columns."""
    out = np.zeros((proba.shape[0], k), dtype=np.float64)
    out[:, np.asarray(classes, dtype=np.int64)] = proba
    return out


def _fit_predict_sklearn(estimator, X, labels, train_idx, test_idx, k: int) -> np.ndarray:
    from sklearn.base import clone

    model = clone(estimator)
    model.fit(_take(X, train_idx), labels[train_idx])
    return _reindex_columns(model.predict_proba(_take(X, test_idx)), model.classes_, k)


def _fit_predict_torch(
    name: str, X, labels, train_idx, test_idx, k: int, *, seed: int, progress: bool,
    checkpoint_dir: Path | None, train_kwargs: Mapping[str, Any], features: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Train one fold's network; return its held-out pred_probs (float64 (n_test, K)) and,
    with ``features``, its penultimate-layer features of every example (float32 (N, D); the
    held-out rows from the same forward pass as the pred_probs), else None."""
    import torch

    from labelnoise.models import capture_penultimate
    from labelnoise.training.engine import predict_proba
    from labelnoise.training.standard import fit

    kwargs = dict(train_kwargs)
    predict_kwargs = kwargs.pop("predict_kwargs", {})
    # an interrupted fold continues from its last finished epoch; the engine resumes only
    # from a checkpoint whose manifest says labelnoise wrote it for this fold's settings and
    # data, and reads it with weights_only=True (a planted file is refused, never run)
    resume = checkpoint_dir is not None and (Path(checkpoint_dir) / "checkpoint.pt").exists()
    result = fit(
        _take(X, train_idx), labels[train_idx], model=name, seed=seed, progress=progress,
        checkpoint_dir=checkpoint_dir, resume=resume, num_classes=k, **kwargs,
    )
    if not features:
        proba = predict_proba(result.model, _take(X, test_idx), **predict_kwargs)
        return np.asarray(proba, dtype=np.float64), None
    parts = []
    for idx in (test_idx, train_idx):
        with capture_penultimate(result.model) as captured:  # tta: the flipped pass comes second
            out = predict_proba(result.model, _take(X, idx), **predict_kwargs)
        parts.append(torch.cat(captured)[: idx.size].numpy())
        if idx is test_idx:
            proba = out
    every = np.empty((len(X), parts[0].shape[1]), dtype=np.float32)
    every[test_idx], every[train_idx] = parts
    return np.asarray(proba, dtype=np.float64), every


def _take(X, idx: np.ndarray):
    if hasattr(X, "iloc"):
        return X.iloc[idx]
    return X[idx]


def _run_fold(fold: int, model, X, labels, train_idx, test_idx, k, *, seed, progress, cache,
              train_kwargs, features: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Fit on one fold's training part, predict its held-out part (pred_probs, and with
    ``features`` a torch network's penultimate features of every example, else None), save
    it when caching."""
    if isinstance(model, str):
        ckpt = None if cache is None else cache / f"fold_{fold}_checkpoint"
        proba, features = _fit_predict_torch(
            model, X, labels, train_idx, test_idx, k, seed=seed + fold, progress=progress,
            checkpoint_dir=ckpt, train_kwargs=train_kwargs, features=features,
        )
    else:
        proba, features = _fit_predict_sklearn(model, X, labels, train_idx, test_idx, k), None
    if cache is not None:
        extra = {} if features is None else {"features": features}
        _io.save_npz(cache / f"fold_{fold}.npz", indices=test_idx, pred_probs=proba, **extra)
        shutil.rmtree(cache / f"fold_{fold}_checkpoint", ignore_errors=True)
    return proba, features


def out_of_sample_pred_probs(
    dataset_or_X,
    labels,
    model,
    *,
    folds: int = 5,
    seed: int = 0,
    num_classes: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    n_jobs: int | None = None,
    progress: bool = True,
    train_kwargs: Mapping[str, Any] | None = None,
    return_features: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray | None]:
    """Out-of-sample predicted probabilities for every example by stratified K-fold.

    The examples are split with ``sklearn.model_selection.StratifiedKFold(folds,
    shuffle=True, random_state=seed)`` on ``labels``; for each fold a fresh model is
    trained on the other folds and predicts the held-out one.

    Args:
        dataset_or_X: the inputs, indexable by an int array: features (N, D), a pandas
            DataFrame, uint8 images (N, H, W, C) for torch models, or a LabeledDataset
            (its ``inputs`` are used).
        labels: int array (N,), the given (possibly noisy) labels in [0, K).
        model: a scikit-learn classifier with ``fit`` and ``predict_proba`` (cloned per
            fold, never fitted in place), or the name of a torch network for
            :func:`labelnoise.models.build_model` (e.g. ``"resnet8"``), trained by
            :func:`labelnoise.training.standard.fit` with ``train_kwargs``.
        folds: number of folds (>= 2).
        seed: seeds the split, and (as ``seed + fold``) the torch training of each fold.
        num_classes: K (default ``labels.max() + 1``).
        cache_dir: folder where each finished fold is saved (``fold_<i>.npz`` with
            ``indices``, ``pred_probs`` and, with ``return_features`` and a torch model,
            ``features``, plus ``crossval.json`` describing the run); a rerun with the same
            arguments loads finished folds instead of training.
        n_jobs: folds trained at the same time through joblib (scikit-learn models only;
            default 1: the estimator's own BLAS threads already use the cores). Torch
            models always run folds one after another.
        progress: show a tqdm progress bar over folds (and the engine's own).
        train_kwargs: extra keyword arguments for the torch training engine's ``fit``
            (``epochs``, ``lr``, ``batch_size``, ...); ``predict_kwargs`` inside it goes to
            ``predict_proba``.
        return_features: also return, per fold, the penultimate-layer features of every
            example computed by that fold's torch network (one more forward pass over its
            training part; N x D float32 per fold, also in the fold's cache file).

    Returns:
        float64 array (N, K); row i is the held-out prediction for example i, rows sum to 1.
        Classes absent from a fold's training part get probability 0 in that fold.
        With ``return_features``: ``(pred_probs, fold_features)``, ``fold_features`` a list
        with one ``(held_out, features)`` per fold: int64 (n_fold,) the examples held out of
        the fold, float32 (N, D) the input of the final linear layer of the fold's network
        for every example (:func:`labelnoise.models.capture_penultimate`; out of sample for
        the held-out rows only); ``None`` for scikit-learn models, or when a cached fold
        holds no features (written without ``return_features``).

    Raises:
        ValueError: bad labels, fewer than 2 folds, more folds than examples, inputs and
            labels of different lengths, a model without ``predict_proba``, or a
            ``cache_dir`` that holds a different run.
    """
    X = _inputs_of(dataset_or_X)
    seed = validate_seed(seed)
    if not isinstance(seed, int):
        raise ValueError(f"seed must be a non-negative integer here, got {seed!r}")
    lab = validate_labels(labels, num_classes=num_classes)
    n = lab.shape[0]
    if len(X) != n:
        raise ValueError(f"inputs have {len(X)} rows but labels has {n} entries; they must match")
    k = int(num_classes) if num_classes is not None else int(lab.max()) + 1
    if k < 2:
        raise ValueError(f"need at least 2 classes, got num_classes = {k}")
    check_all_classes_present(lab, k)
    if not isinstance(folds, (int, np.integer)) or folds < 2:
        raise ValueError(f"folds must be an integer >= 2, got {folds!r}")
    if folds > n:
        raise ValueError(f"folds = {folds} is more than the {n} examples")
    if not isinstance(model, str) and not (hasattr(model, "fit") and hasattr(model, "predict_proba")):
        raise ValueError(
            "model must be a scikit-learn classifier with fit and predict_proba, or the name "
            f"of a torch network; got {type(model).__name__}"
        )
    train_kwargs = dict(train_kwargs or {})

    from sklearn.model_selection import StratifiedKFold

    if np.bincount(lab, minlength=k).min() < folds:
        warnings.warn(
            f"some class has fewer than folds = {folds} examples; its examples cannot be in "
            "every fold", UserWarning, stacklevel=2,
        )
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        splits = list(splitter.split(np.zeros(n), lab))

    cache = _prepare_cache(cache_dir, _fingerprint(lab, k, folds, seed, _model_description(model, train_kwargs)))
    pred_probs = np.zeros((n, k), dtype=np.float64)
    fold_features: dict[int, np.ndarray | None] = {}
    todo = []
    for fold, (_train_idx, test_idx) in enumerate(splits):
        saved = None if cache is None else cache / f"fold_{fold}.npz"
        if saved is not None and saved.exists():
            z = _io.read_npz(saved, "cached fold")
            proba = z.get("pred_probs")
            feats = z.get("features")
            if (not np.array_equal(z.get("indices"), test_idx) or proba is None
                    or proba.shape != (test_idx.size, k) or not np.isfinite(proba).all()
                    or (feats is not None and (feats.ndim != 2 or feats.shape[0] != n
                                               or not np.isfinite(feats).all()))):
                raise ValueError(f"{saved} does not match this split; delete cache_dir")
            pred_probs[test_idx] = proba
            fold_features[fold] = feats
        else:
            todo.append(fold)

    jobs = 1 if (n_jobs is None or isinstance(model, str)) else int(n_jobs)
    common = dict(seed=seed, progress=progress, cache=cache, train_kwargs=train_kwargs,
                  features=bool(return_features))
    if jobs == 1 or len(todo) <= 1:
        bar = None
        if progress and todo:
            from tqdm.auto import tqdm

            bar = tqdm(total=folds, initial=folds - len(todo), desc="cross-validation folds",
                       unit="fold")
        for fold in todo:
            train_idx, test_idx = splits[fold]
            pred_probs[test_idx], fold_features[fold] = _run_fold(
                fold, model, X, lab, train_idx, test_idx, k, **common)
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
    else:
        from joblib import Parallel, delayed

        results = Parallel(n_jobs=jobs, verbose=10 if progress else 0)(
            delayed(_run_fold)(fold, model, X, lab, splits[fold][0], splits[fold][1], k, **common)
            for fold in todo
        )
        for fold, (proba, feats) in zip(todo, results):
            pred_probs[splits[fold][1]] = proba
            fold_features[fold] = feats
    if not return_features:
        return pred_probs
    parts = [fold_features.get(fold) for fold in range(folds)]
    if any(p is None for p in parts):
        return pred_probs, None
    return pred_probs, [(test_idx.astype(np.int64), feats)
                        for (_train_idx, test_idx), feats in zip(splits, parts)]
