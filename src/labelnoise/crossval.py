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

With ``client`` (a ``distributed.Client``), each fold is one task on the Dask cluster's
workers (the inputs are scattered to the cluster once); the task runs exactly the code of
the in-process path, so the pred_probs are the same, and it writes its fold's cache file
itself, so ``cache_dir`` must be on a filesystem every worker sees. A worker lost in the
middle of a fold costs only that fold: Dask runs the task again on another worker, which
resumes a torch fold from its last per-epoch checkpoint. :func:`cluster_client` opens such
a client on an existing scheduler or on a local cluster (the audit's ``--scheduler`` and
``--workers``). ``distributed`` is imported only then (``pip install "labelnoise[dask]"``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import threading
import uuid
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from labelnoise import _io
from labelnoise._validation import (
    check_all_classes_present,
    one_line,
    validate_labels,
    validate_seed,
)

_CACHE_VERSION = 1
#: seconds to wait for a scheduler at ``cluster_client(scheduler=...)`` (``--scheduler``),
#: and for the cluster to have a worker when the folds are sent to it
SCHEDULER_TIMEOUT = 20
#: one torch fold at a time per worker process: the training engine seeds torch's global
#: RNG, so two folds trained by two threads of one worker would draw from each other's
_TORCH_FOLD_LOCK = threading.Lock()
#: preload code of :func:`cluster_client`'s local workers (text: distributed runs it as a
#: module when the worker starts, in its main thread): ignore SIGINT (see there), and log
#: only critical messages (a failed fold is raised in the caller, as one line; the worker
#: would also log it with its traceback)
_WORKER_PRELOAD = ("import logging, signal\n"
                   "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                   "logging.getLogger('distributed').setLevel(logging.CRITICAL)\n")


def _inputs_of(dataset_or_X) -> np.ndarray | Any:
    """The (N, ...) inputs of a LabeledDataset-like object, or the argument itself."""
    inputs = getattr(dataset_or_X, "inputs", None)
    return dataset_or_X if inputs is None else inputs


def _model_description(model, train_kwargs: Mapping[str, Any]) -> str:
    if isinstance(model, str):
        return f"torch:{model}:{json.dumps(dict(train_kwargs), sort_keys=True, default=str)}"
    return f"sklearn:{model!r}"


def _inputs_sha1(X) -> str | None:
    """SHA-1 of in-memory inputs (a numeric ndarray: features or uint8 images), so that a
    cache made for other inputs with the same labels (say, other feature columns of a
    table) is refused; None for lazy inputs (an image folder's files are not re-read)."""
    if not isinstance(X, np.ndarray) or X.dtype == object:
        return None
    digest = hashlib.sha1(str((X.dtype.str, X.shape)).encode())
    flat = np.ascontiguousarray(X).reshape(X.shape[0], -1) if X.ndim else X.reshape(1)
    for start in range(0, flat.shape[0], 8192):  # in blocks: no full copy of a large array
        digest.update(np.ascontiguousarray(flat[start:start + 8192]).tobytes())
    return digest.hexdigest()


def _fingerprint(labels: np.ndarray, k: int, folds: int, seed: int, model_desc: str,
                 X=None) -> dict:
    inputs = _inputs_sha1(X)
    return {
        **({} if inputs is None else {"inputs_sha1": inputs}),
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
            old = _io.read_json(meta, "a valid cross-validation manifest")
        except _io.InputFileError as exc:
            raise _io.InputFileError(f"cache_dir {str(cache)!r}: {exc}; delete cache_dir") from None
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


# ------------------------------------------------------------------------ Dask clusters
def _distributed():
    """The ``distributed`` package, or an ImportError naming the ``dask`` extra."""
    try:
        import distributed
    except ImportError:
        exc = ImportError('folds on a Dask cluster need the optional extra: pip install '
                          '"labelnoise[dask]"')
        exc.extra = "dask"  # the CLI reports it as a usage error (cli/_errors.classify)
        raise exc from None
    return distributed


def check_cluster_args(scheduler: str | None = None, workers: int | None = None) -> None:
    """Check the arguments of :func:`cluster_client` without connecting or starting
    anything (the CLI checks them before its other checks).

    Raises:
        ValueError: both given, ``workers`` not an integer >= 1, ``scheduler`` not a
            non-empty string (one line naming ``--scheduler`` / ``--workers``).
    """
    if scheduler is not None and workers is not None:
        raise ValueError("scheduler (--scheduler, an existing Dask cluster) and workers "
                         "(--workers, a local one) cannot be given together; give one")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int | np.integer)
                                or workers < 1):
        raise ValueError(f"workers (--workers) must be an integer >= 1, got {workers!r}")
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler.strip()):
        raise ValueError(f"scheduler (--scheduler) must be the address of a Dask scheduler "
                         f"(tcp://host:8786), got {scheduler!r}")


@contextlib.contextmanager
def cluster_client(scheduler: str | None = None, workers: int | None = None, *,
                   cache_dir: str | os.PathLike | None = None) -> Iterator[Any]:
    """A ``distributed.Client`` for :func:`out_of_sample_pred_probs` and
    :func:`labelnoise.audit.audit` (``client=``), as a context manager that closes what it
    opened: on an existing cluster (``scheduler``, the ``--scheduler`` option) or on a new
    ``distributed.LocalCluster`` of ``workers`` worker processes with one thread each
    (``--workers``), started here and closed on exit, also on Ctrl-C and SIGTERM. Neither
    given: yields ``None`` (the folds run in this process).

    The local workers ignore SIGINT, so a Ctrl-C in the terminal is acted on by this
    process only, which closes the cluster (no worker prints a traceback; while the
    cluster starts, a second or two, Ctrl-C is ignored here too), and they log only
    critical messages (a fold's error is raised by :func:`out_of_sample_pred_probs`). A torch
    fold stops at its next epoch's end when its worker closes (the checkpoint of that epoch
    is whole); a worker still busy a few seconds later is killed by its nanny, which can
    leave a temporary file (``_io.TMP_PREFIX``) of a write it was in: those under
    ``cache_dir`` are removed once the cluster is closed, so only whole files remain.

    Args:
        scheduler: address of a running ``distributed`` scheduler (``tcp://host:8786``);
            waits up to :data:`SCHEDULER_TIMEOUT` seconds for it.
        workers: number of local worker processes, an integer >= 1.
        cache_dir: with ``workers``, the folder the folds are cached in (the audit's
            ``out/cache``), cleaned of temporary files as above when the block is left
            by an exception (Ctrl-C, SIGTERM, an error).

    Yields:
        The ``distributed.Client`` (not set as Dask's default client), or ``None``.

    Raises:
        ValueError: both given, ``workers`` not an integer >= 1, a scheduler that cannot
            be reached (the message names ``--scheduler``), a local cluster that fails to
            start (names ``--workers``).
        ImportError: ``distributed`` is not installed (``pip install "labelnoise[dask]"``).
    """
    check_cluster_args(scheduler, workers)
    if scheduler is None and workers is None:
        yield None
        return
    distributed = _distributed()
    if scheduler is not None:
        try:
            client = distributed.Client(scheduler, timeout=SCHEDULER_TIMEOUT,
                                        set_as_default=False)
        except (OSError, ValueError, TypeError) as exc:  # TimeoutError is an OSError
            raise ValueError(f"scheduler (--scheduler) {scheduler!r}: cannot connect to a "
                             f"Dask scheduler there ({one_line(exc)})") from None
        with client:
            yield client
        return
    import logging

    import dask

    cluster = None
    # the workers ignore SIGINT: a Ctrl-C in the terminal reaches the whole process group,
    # and only this process should act on it (by closing the cluster). SIGINT is ignored
    # here while the cluster starts, so that the worker processes start with it ignored
    # (an ignored signal stays ignored across exec, and Python then installs no handler);
    # the preload ignores it again in workers the nanny restarts later
    in_main = threading.current_thread() is threading.main_thread()
    old_handler = signal.getsignal(signal.SIGINT) if in_main else None
    preload = list(dask.config.get("distributed.worker.preload", None) or []) + [_WORKER_PRELOAD]
    try:
        if old_handler is not None:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            # the scheduler's HTTP server always starts (None meant port 8787, with a
            # "Port 8787 is already in use" warning when two runs overlap): a free local port
            cluster = distributed.LocalCluster(
                n_workers=int(workers), threads_per_worker=1, processes=True,
                dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR, preload=preload)
        except Exception as exc:
            raise ValueError(f"workers (--workers) {workers}: the local Dask cluster did not "
                             f"start ({one_line(exc)})") from None
        finally:
            if old_handler is not None:
                signal.signal(signal.SIGINT, old_handler)
        with distributed.Client(cluster, set_as_default=False) as client:
            yield client
    except BaseException:
        if cluster is not None:
            cluster.close()  # every worker process has ended when this returns
            cluster = None
            if cache_dir is not None:
                _remove_temporary_files(Path(cache_dir).expanduser())
        raise
    finally:
        if cluster is not None:
            cluster.close()


def _remove_temporary_files(folder: Path) -> None:
    """Remove the temporary files of atomic writes (``_io.TMP_PREFIX``) under ``folder``
    (left by a worker process killed in the middle of a write)."""
    if not folder.is_dir():
        return
    for path in folder.rglob(f"{_io.TMP_PREFIX}*"):
        with contextlib.suppress(OSError):
            path.unlink()


class WorkerLostError(RuntimeError):
    """A fold's task killed every Dask worker that ran it (``distributed.KilledWorker``:
    the scheduler gave up after ``distributed.scheduler.allowed-failures`` deaths); the
    message is one line naming the fold."""


def _check_client(client) -> None:
    distributed = _distributed()
    if not isinstance(client, distributed.Client):
        raise ValueError(f"client must be a distributed.Client (or None), got "
                         f"{type(client).__name__}")
    if client.status != "running":
        raise ValueError(f"client is not connected to a Dask cluster (status {client.status!r})")


def _fold_task(fold: int, model, X, labels, train_idx, test_idx, k, *, seed, cache,
               train_kwargs, features) -> tuple[np.ndarray, np.ndarray | None]:
    """One fold as a task on a Dask worker: :func:`_run_fold` (no progress bars; torch
    folds one at a time per process), after checking that the worker sees the cache."""
    if cache is not None and not (cache / "crossval.json").is_file():
        import socket

        raise ValueError(f"cache_dir {str(cache)!r} is not visible on the Dask worker on "
                         f"{socket.gethostname()}: the fold cache must be on a filesystem "
                         "every worker sees (or run without a cluster)")
    if isinstance(model, str):
        train_kwargs = dict(train_kwargs, on_epoch=_reschedule_if_closing(
            train_kwargs.get("on_epoch")))
    with _TORCH_FOLD_LOCK if isinstance(model, str) else contextlib.nullcontext():
        return _run_fold(fold, model, X, labels, train_idx, test_idx, k, seed=seed,
                         progress=False, cache=cache, train_kwargs=train_kwargs,
                         features=features)


def _reschedule_if_closing(on_epoch=None):
    """An ``on_epoch`` callback for a torch fold on a Dask worker: after each epoch (its
    checkpoint written), if the worker is closing, hand the task back to the scheduler
    (``distributed.Reschedule``: another worker resumes it from the checkpoint, or nobody
    when the client is gone) instead of training on until the worker is killed."""
    def callback(history):
        if on_epoch is not None:
            on_epoch(history)
        distributed = _distributed()
        try:
            status = distributed.get_worker().status.name
        except ValueError:  # not on a worker
            return
        if status in ("closing", "closed", "stopping", "stopped", "failed"):
            raise distributed.Reschedule()
    return callback


def _folds_on_cluster(client, todo: list[int], splits, model, X, labels, k, common):
    """Run the folds ``todo`` as tasks on ``client``'s cluster; yield ``(fold, pred_probs,
    features)`` as each finishes. The inputs and labels are scattered to every worker once
    (a lost worker loses no data the other folds need), and each fold's result is released
    on the workers as soon as it is here (a lost worker costs only the folds it was
    running). The first failure is raised as it was raised on the worker; on any exit
    before the end (failure, Ctrl-C) the folds not finished are cancelled (a task already
    running on another machine's worker runs to its end: Dask cannot stop it)."""
    distributed = _distributed()
    try:
        data = client.scatter([X, labels], hash=False, broadcast=True,
                              timeout=SCHEDULER_TIMEOUT)
    except (TimeoutError, OSError) as exc:
        raise ValueError(f"client: the Dask cluster has no worker to run the folds on "
                         f"({one_line(exc)}); start workers first") from None
    run = uuid.uuid4().hex[:8]
    kwargs = {key: common[key] for key in ("seed", "cache", "train_kwargs", "features")}
    pending = {
        client.submit(_fold_task, fold, model, *data, splits[fold][0], splits[fold][1], k,
                      key=f"labelnoise-fold-{fold}-{run}", pure=False, **kwargs): fold
        for fold in todo
    }
    try:
        for future in distributed.as_completed(list(pending), loop=client.loop):
            fold = pending.pop(future)
            try:
                proba, feats = future.result()
            except ModuleNotFoundError as exc:
                if (exc.name or "").split(".")[0] != "labelnoise":
                    raise
                raise ValueError("the Dask workers cannot import labelnoise: install it (the "
                                 "same version) where the workers run") from None
            except distributed.KilledWorker as exc:
                raise WorkerLostError(f"fold {fold}: every Dask worker that ran it died "
                                      f"({one_line(exc)}); out of memory?") from None
            future.release()
            yield fold, proba, feats
    finally:
        with contextlib.suppress(Exception):
            client.cancel(list(pending) + list(data))


def _fold_bar(progress: bool, folds: int, todo: list[int]):
    """The tqdm bar over folds (the cached ones counted as done), or None."""
    if not (progress and todo):
        return None
    from tqdm.auto import tqdm

    return tqdm(total=folds, initial=folds - len(todo), desc="cross-validation folds",
                unit="fold")


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
    client=None,
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
            ``features``, plus ``crossval.json`` describing the run: labels, folds, seed,
            model and, for in-memory array inputs, their SHA-1); a rerun with the same
            arguments loads finished folds instead of training.
        n_jobs: folds trained at the same time through joblib (scikit-learn models only;
            default 1: the estimator's own BLAS threads already use the cores). Torch
            models always run folds one after another in this process. Not with
            ``client`` (refused unless None or 1: the cluster's workers are the
            parallelism).
        progress: show a tqdm progress bar over folds (and the engine's own; with
            ``client`` only the bar over folds, advanced as each fold finishes on its
            worker).
        train_kwargs: extra keyword arguments for the torch training engine's ``fit``
            (``epochs``, ``lr``, ``batch_size``, ...); ``predict_kwargs`` inside it goes to
            ``predict_proba``.
        return_features: also return, per fold, the penultimate-layer features of every
            example computed by that fold's torch network (one more forward pass over its
            training part; N x D float32 per fold, also in the fold's cache file).
        client: a ``distributed.Client`` (see :func:`cluster_client`): the folds not yet
            cached run as one task each on its cluster's workers (the inputs and labels
            are scattered once); the result is the same as without it (bit for bit for
            scikit-learn models; for torch models on CPU with the same number of torch
            threads, e.g. workers of one thread each and ``torch.set_num_threads(1)``).
            Each task writes its fold's cache file, so ``cache_dir`` must be on a
            filesystem every worker sees (a task checks, and fails naming it). Workers
            need labelnoise (the same version) installed; a worker with several threads
            trains one torch fold at a time. Default None: the folds run in this process.

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
            labels of different lengths, a model without ``predict_proba``, a
            ``cache_dir`` that holds a different run, ``client`` that is not a connected
            ``distributed.Client``, ``n_jobs`` > 1 with ``client``, a cluster without
            workers, workers that do not see ``cache_dir`` or cannot import labelnoise.
        WorkerLostError: (a ``RuntimeError``) a fold's task killed every worker that ran it.
        Any error a fold raises on a worker is raised here as it was raised there (the
        same type and message as in this process).
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
    if client is not None:
        _check_client(client)
        if n_jobs not in (None, 1):
            raise ValueError(f"n_jobs = {n_jobs!r} with client: the folds run as tasks on the "
                             "cluster's workers; give one of them")

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

    if cache_dir is not None and client is not None:
        cache_dir = Path(cache_dir).resolve()  # the workers may run in other folders
    cache = _prepare_cache(cache_dir, _fingerprint(lab, k, folds, seed,
                                                   _model_description(model, train_kwargs), X))
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
    if client is not None and todo:
        bar = _fold_bar(progress, folds, todo)
        try:
            with contextlib.closing(_folds_on_cluster(client, todo, splits, model, X, lab, k,
                                                      common)) as finished:
                for fold, proba, feats in finished:
                    pred_probs[splits[fold][1]], fold_features[fold] = proba, feats
                    if bar is not None:
                        bar.set_postfix_str(f"fold {fold} finished", refresh=False)
                        bar.update(1)
        finally:
            if bar is not None:
                bar.close()
    elif jobs == 1 or len(todo) <= 1:
        bar = _fold_bar(progress, folds, todo)
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
