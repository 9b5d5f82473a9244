"""Cross-validation folds as tasks on a Dask cluster (crossval.out_of_sample_pred_probs(
client=...), audit(client=...), `labelnoise audit --workers N / --scheduler ADDRESS`):
the same pred_probs as the in-process path (bit for bit), the fold cache reused, a lost
worker costing only its fold, and one-line errors."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

distributed = pytest.importorskip("distributed")

import labelnoise.crossval as cv  # noqa: E402
from labelnoise.audit import audit  # noqa: E402
from labelnoise.cli import main  # noqa: E402
from labelnoise.crossval import cluster_client, out_of_sample_pred_probs  # noqa: E402

REFUSED = "tcp://127.0.0.1:1"  # nothing listens on port 1


@pytest.fixture(scope="module")
def client():
    with cluster_client(workers=2) as c:
        yield c


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=240, n_features=6, n_informative=4, n_classes=3,
                               random_state=0)
    return X, y.astype(np.int64)


class DiesOnce(BaseEstimator, ClassifierMixin):
    """Logistic regression whose first fit anywhere kills its process (a lost worker);
    every fit appends a line to ``log``."""

    def __init__(self, marker: str = "", log: str = ""):
        self.marker = marker
        self.log = log

    def fit(self, X, y):
        with open(self.log, "a") as fh:
            fh.write(f"{len(y)}\n")
        try:  # created by exactly one fit, even when two workers start at once
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            pass
        else:
            os._exit(1)  # the worker process dies in the middle of the fold
        self.model_ = LogisticRegression(max_iter=500).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(X)


def test_sklearn_folds_on_workers_identical(data, client, tmp_path):
    X, y = data
    model = LogisticRegression(max_iter=500)
    expected = out_of_sample_pred_probs(X, y, model, folds=4, seed=7, progress=False)
    got = out_of_sample_pred_probs(X, y, model, folds=4, seed=7, progress=False, client=client,
                                   cache_dir=tmp_path)
    np.testing.assert_array_equal(got, expected)  # bit for bit
    # the workers wrote the fold files, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "crossval.json", "fold_0.npz", "fold_1.npz", "fold_2.npz", "fold_3.npz"]
    for fold in range(4):
        z = np.load(tmp_path / f"fold_{fold}.npz")
        np.testing.assert_array_equal(z["pred_probs"], expected[z["indices"]])


def test_torch_folds_on_workers_identical_to_one_thread(client):
    torch = pytest.importorskip("torch")
    X, y = make_classification(n_samples=120, n_features=6, n_informative=4, n_classes=2,
                               random_state=1)
    X = X.astype(np.float32)
    kwargs = dict(folds=2, seed=3, progress=False, return_features=True,
                  train_kwargs=dict(epochs=1, batch_size=32, lr=0.05))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as on a worker of one thread
    try:
        expected, expected_feats = out_of_sample_pred_probs(X, y, "mlp", **kwargs)
    finally:
        torch.set_num_threads(threads)
    got, feats = out_of_sample_pred_probs(X, y, "mlp", client=client, **kwargs)
    np.testing.assert_array_equal(got, expected)
    for (held, every), (held2, every2) in zip(expected_feats, feats):
        np.testing.assert_array_equal(held, held2)
        np.testing.assert_array_equal(every, every2)


def test_resume_reuses_a_cached_fold(data, client, tmp_path):
    X, y = data
    model = LogisticRegression(max_iter=500)
    expected = out_of_sample_pred_probs(X, y, model, folds=4, seed=2, progress=False,
                                        cache_dir=tmp_path)
    kept = tmp_path / "fold_1.npz"
    for fold in (0, 2, 3):  # as if interrupted after fold 1 finished
        (tmp_path / f"fold_{fold}.npz").unlink()
    before = kept.stat()
    got = out_of_sample_pred_probs(X, y, model, folds=4, seed=2, progress=False,
                                   cache_dir=tmp_path, client=client)
    np.testing.assert_array_equal(got, expected)
    after = kept.stat()  # not recomputed: an atomic rewrite would give a new inode
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert all((tmp_path / f"fold_{fold}.npz").is_file() for fold in (0, 2, 3))


def test_a_lost_worker_costs_only_its_fold(data, client, tmp_path):
    X, y = data
    marker, log = tmp_path / "died", tmp_path / "fits.log"
    model = DiesOnce(marker=str(marker), log=str(log))
    got = out_of_sample_pred_probs(X, y, model, folds=3, seed=0, progress=False, client=client,
                                   cache_dir=tmp_path / "cache")
    assert marker.exists()
    fits = log.read_text().split()
    assert len(fits) == 4  # 3 folds, one of them twice (Dask ran it again elsewhere)
    log.unlink()
    expected = out_of_sample_pred_probs(X, y, model, folds=3, seed=0, progress=False)
    assert len(log.read_text().split()) == 3
    np.testing.assert_array_equal(got, expected)


def test_fold_error_on_a_worker_is_the_in_process_error(data, client):
    X, y = data
    bad = LogisticRegression(C=-1.0)  # scikit-learn refuses it in fit
    with pytest.raises(ValueError) as here:
        out_of_sample_pred_probs(X, y, bad, folds=3, progress=False)
    with pytest.raises(ValueError) as there:
        out_of_sample_pred_probs(X, y, bad, folds=3, progress=False, client=client)
    assert type(there.value) is type(here.value)
    assert str(there.value) == str(here.value) and "'C' parameter" in str(here.value)


def test_bad_arguments(data, client, monkeypatch, tmp_path):
    X, y = data
    with pytest.raises(ValueError, match="client must be a distributed.Client"):
        out_of_sample_pred_probs(X, y, LogisticRegression(), progress=False, client="tcp://x:1")
    with pytest.raises(ValueError, match="n_jobs = 2 with client"):
        out_of_sample_pred_probs(X, y, LogisticRegression(), progress=False, client=client,
                                 n_jobs=2)
    for kwargs, match in ((dict(scheduler=REFUSED, workers=2), "cannot be given together"),
                          (dict(workers=0), r"workers \(--workers\) must be an integer >= 1"),
                          (dict(workers=True), "integer >= 1"),
                          (dict(scheduler=""), r"scheduler \(--scheduler\) must be")):
        with pytest.raises(ValueError, match=match), cluster_client(**kwargs):
            pass
    monkeypatch.setattr(cv, "SCHEDULER_TIMEOUT", 1)
    with pytest.raises(ValueError, match=r"scheduler \(--scheduler\) 'tcp://127.0.0.1:1': "
                                         "cannot connect"), cluster_client(scheduler=REFUSED):
        pass
    # a worker that does not see the fold cache (another machine, not a shared filesystem)
    with pytest.raises(ValueError, match="is not visible on the Dask worker on .*: the fold "
                                         "cache must be on a filesystem every worker sees"):
        cv._fold_task(0, LogisticRegression(), X, y, np.arange(100), np.arange(100, 240), 3,
                      seed=0, cache=tmp_path / "elsewhere", train_kwargs={}, features=False)
    np.save(tmp_path / "pp.npy", np.full((4, 2), 0.5))
    with pytest.raises(ValueError, match="with pred_probs"):
        audit(pred_probs=tmp_path / "pp.npy", out_dir=tmp_path / "out", client=client,
              progress=False)
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    X, y = make_classification(n_samples=150, n_features=5, n_informative=3, n_classes=3,
                               random_state=4)
    y[::10] = (y[::10] + 1) % 3  # some wrong labels
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(5)])
    frame["y"] = np.array(["ant", "bee", "cat"])[y]
    path = tmp_path_factory.mktemp("table") / "data.csv"
    frame.to_csv(path, index=False)
    return path


def _cli(*args):
    res = CliRunner().invoke(main, ["audit", *map(str, args), "--no-progress"])
    return res.exit_code, res.output


def test_cli_workers_gives_the_same_issues(table, tmp_path):
    code, out = _cli(table, "--label-column", "y", "--out", tmp_path / "here")
    assert code == 0, out
    code, out = _cli(table, "--label-column", "y", "--out", tmp_path / "there", "--workers", 2)
    assert code == 0, out
    assert "Dask cluster" in out
    here = (tmp_path / "here" / "issues.csv").read_bytes()
    assert (tmp_path / "there" / "issues.csv").read_bytes() == here
    folds = sorted(p.name for p in (tmp_path / "there" / "cache" / "folds").iterdir())
    assert folds == ["crossval.json"] + [f"fold_{i}.npz" for i in range(5)]


def test_cli_errors_are_one_line(table, tmp_path, monkeypatch):
    monkeypatch.setattr(cv, "SCHEDULER_TIMEOUT", 1)
    base = [table, "--label-column", "y", "--out", tmp_path / "out"]
    np.save(tmp_path / "pp.npy", np.full((150, 3), 1 / 3))
    for extra, says in ((["--workers", 0], "workers (--workers) must be an integer >= 1"),
                        (["--workers", -3], "workers (--workers) must be an integer >= 1"),
                        (["--workers", 2, "--scheduler", REFUSED], "cannot be given together"),
                        (["--scheduler", REFUSED], "scheduler (--scheduler) 'tcp://127.0.0.1:1'"),
                        (["--workers", 2, "--pred-probs", tmp_path / "pp.npy"],
                         "with pred_probs (--pred-probs) no model is trained")):
        code, out = _cli(*base, *extra)
        assert code == 2, (extra, out)
        lines = [line for line in out.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("Error: ") and says in lines[0], out
        assert not (tmp_path / "out").exists()


def test_cli_fold_error_on_a_worker_is_the_in_process_error(table, client, tmp_path):
    # the network name is checked when the fold builds it: on the worker, via --scheduler
    args = [table, "--label-column", "y", "--model", "nosuchnet", "--folds", 2]
    runs = [_cli(*args, "--out", tmp_path / "here"),
            _cli(*args, "--out", tmp_path / "there", "--scheduler", client.scheduler.address)]
    errors = [(code, [line for line in out.splitlines() if line.startswith("Error")])
              for code, out in runs]
    assert errors[0] == errors[1], errors
    assert "folds run on the Dask cluster" in runs[1][1]
    code, lines = errors[1]
    assert code == 2 and len(lines) == 1 and "Traceback" not in runs[1][1]
    assert "model must be one of" in lines[0] and "'nosuchnet'" in lines[0]


def test_ctrl_c_closes_the_local_cluster_and_leaves_whole_files(table, tmp_path):
    """Ctrl-C in a terminal (SIGINT to the whole process group) while the folds train on
    `--workers 1`: exit 130 with one line, every worker process gone, no temporary file,
    every file left whole (the fold checkpoints, loadable)."""
    import signal
    import subprocess
    import sys
    import time

    psutil = pytest.importorskip("psutil")
    pytest.importorskip("torch")
    out = tmp_path / "out"
    env = {**os.environ, "TQDM_DISABLE": "1"}
    env.pop("LABELNOISE_DEBUG", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "labelnoise", "audit", str(table), "--label-column", "y",
         "--out", str(out), "--workers", "1", "--model", "mlp", "--epochs", "100000",
         "--folds", "2", "--no-progress"],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, start_new_session=True,  # its own process group, as in a terminal
        # SIGINT at its default action, as for a foreground job: a test run started in the
        # background ('&' in a script) ignores SIGINT, and the child would inherit that
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        started = time.monotonic()
        while not list(out.glob("cache/folds/fold_*_checkpoint/checkpoint.pt")):
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() - started < 900  # a guard against a hang, not a speed claim
            time.sleep(0.05)
        children = psutil.Process(proc.pid).children(recursive=True)
        assert [c for c in children if "resource_tracker" not in " ".join(c.cmdline())]
        # as if a worker had been killed in the middle of an atomic write
        planted = next(out.glob("cache/folds/fold_*_checkpoint")) / ".labelnoise-tmp-x.pt.1"
        planted.write_bytes(b"half a file")
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)  # a guard against a hang, not a speed claim
    finally:
        if proc.poll() is None:  # the test failed: leave no process behind
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("Error")] == \
        ["Error: interrupted"], err
    _, alive = psutil.wait_procs(children, timeout=60)  # e.g. the resource tracker; returns when all are gone
    assert not alive, [(c.pid, c.cmdline()) for c in alive]
    assert not [p for p in out.rglob("*") if p.name.startswith(".labelnoise-tmp-")]
    assert not (out / "issues.csv").exists()
    for manifest in out.glob("cache/folds/fold_*_checkpoint/checkpoint.json"):
        assert isinstance(json.loads(manifest.read_text()), dict)
    for ckpt in out.glob("cache/folds/fold_*_checkpoint/checkpoint.pt"):
        import torch

        assert isinstance(torch.load(ckpt, weights_only=True), dict)
