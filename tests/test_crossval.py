"""Tests for labelnoise.crossval.out_of_sample_pred_probs."""

from __future__ import annotations

import numpy as np
import pytest
from _resume import count_calls
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

import labelnoise.crossval as cv
from labelnoise.crossval import out_of_sample_pred_probs


class SimulatedInterrupt(Exception):
    """Stands for a crash or Ctrl-C in the middle of cross-validation."""


@pytest.fixture()
def data():
    X, y = make_classification(n_samples=300, n_features=8, n_informative=5, n_classes=3,
                               random_state=0)
    return X, y.astype(np.int64)


def test_matches_manual_stratified_kfold(data):
    X, y = data
    model = LogisticRegression(max_iter=500)
    pp = out_of_sample_pred_probs(X, y, model, folds=4, seed=7, progress=False)
    ref = np.zeros((len(y), 3))
    for tr, te in StratifiedKFold(4, shuffle=True, random_state=7).split(X, y):
        ref[te] = clone(model).fit(X[tr], y[tr]).predict_proba(X[te])
    np.testing.assert_allclose(pp, ref, rtol=0, atol=1e-12)
    assert pp.shape == (300, 3) and pp.dtype == np.float64
    np.testing.assert_allclose(pp.sum(1), 1.0)
    assert not hasattr(model, "coef_")  # the passed estimator is never fitted


def test_out_of_sample_differs_from_in_sample():
    # a 1-nearest-neighbour model is perfect in-sample; out of sample it must err on noise
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    y = (X[:, 0] > 0).astype(np.int64)
    flip = rng.choice(200, 20, replace=False)
    y[flip] = 1 - y[flip]
    pp = out_of_sample_pred_probs(X, y, KNeighborsClassifier(1), folds=5, progress=False)
    assert (pp.argmax(1)[flip] != y[flip]).mean() > 0.7


def test_missing_class_in_a_fold_gets_zero_column():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(41, 3))
    y = np.r_[np.zeros(20), np.ones(20), [2]].astype(np.int64)
    with pytest.warns(UserWarning, match="fewer than folds"):
        pp = out_of_sample_pred_probs(X, y, LogisticRegression(), folds=2, progress=False)
    assert pp.shape == (41, 3)
    assert pp[40, 2] == 0.0  # the lone class-2 example was held out of its training fold
    np.testing.assert_allclose(pp.sum(1), 1.0)


def test_resume_after_interrupted_fold(data, tmp_path, monkeypatch):
    X, y = data
    model = LogisticRegression(max_iter=500)
    expected = out_of_sample_pred_probs(X, y, model, folds=5, seed=3, progress=False)

    count_calls(monkeypatch, cv, "_fit_predict_sklearn", fail_at=2,
                exc=SimulatedInterrupt("simulated interruption"))
    with pytest.raises(SimulatedInterrupt):
        out_of_sample_pred_probs(X, y, model, folds=5, seed=3, cache_dir=tmp_path, progress=False)
    assert sorted(p.name for p in tmp_path.glob("fold_*.npz")) == ["fold_0.npz"]
    assert not list(tmp_path.glob("*.tmp"))

    calls = count_calls(monkeypatch, cv, "_fit_predict_sklearn")
    resumed = out_of_sample_pred_probs(X, y, model, folds=5, seed=3, cache_dir=tmp_path,
                                       progress=False)
    assert len(calls) == 4  # only the 4 unfinished folds were trained
    np.testing.assert_array_equal(resumed, expected)
    calls.clear()
    again = out_of_sample_pred_probs(X, y, model, folds=5, seed=3, cache_dir=tmp_path, progress=False)
    assert len(calls) == 0
    np.testing.assert_array_equal(again, expected)


def test_cache_of_another_run_is_refused(data, tmp_path):
    X, y = data
    out_of_sample_pred_probs(X, y, LogisticRegression(), folds=3, seed=0, cache_dir=tmp_path,
                             progress=False)
    with pytest.raises(ValueError, match="seed"):
        out_of_sample_pred_probs(X, y, LogisticRegression(), folds=3, seed=1, cache_dir=tmp_path,
                                 progress=False)
    # the same labels and settings on other inputs (say, other feature columns): refused too
    with pytest.raises(ValueError, match="inputs_sha1"):
        out_of_sample_pred_probs(X[:, ::-1], y, LogisticRegression(), folds=3, seed=0,
                                 cache_dir=tmp_path, progress=False)
    again = out_of_sample_pred_probs(X.copy(), y, LogisticRegression(), folds=3, seed=0,
                                     cache_dir=tmp_path, progress=False)  # equal inputs: reused
    assert again.shape == (len(y), int(y.max()) + 1)


def test_parallel_folds_equal_sequential(data):
    X, y = data
    seq = out_of_sample_pred_probs(X, y, LogisticRegression(), folds=4, progress=False)
    par = out_of_sample_pred_probs(X, y, LogisticRegression(), folds=4, n_jobs=2, progress=False)
    np.testing.assert_allclose(par, seq, atol=1e-12)


def test_bad_inputs(data):
    X, y = data
    with pytest.raises(ValueError, match="folds"):
        out_of_sample_pred_probs(X, y, LogisticRegression(), folds=1, progress=False)
    with pytest.raises(ValueError, match="rows"):
        out_of_sample_pred_probs(X[:-1], y, LogisticRegression(), progress=False)
    with pytest.raises(ValueError, match="predict_proba"):
        out_of_sample_pred_probs(X, y, object(), progress=False)
    with pytest.raises(ValueError, match="labels"):
        out_of_sample_pred_probs(X, -y, LogisticRegression(), progress=False)


def test_torch_model_through_engine(tmp_path):
    pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    n = 48
    images = rng.integers(0, 60, size=(n, 16, 16, 3), dtype=np.uint8)
    y = np.repeat([0, 1], n // 2).astype(np.int64)
    images[y == 1] += 150  # bright vs dark: learnable in one epoch
    kwargs = dict(folds=2, progress=False, cache_dir=tmp_path,
                  train_kwargs=dict(epochs=3, batch_size=16, lr=0.05))
    pp, feats = out_of_sample_pred_probs(images, y, "resnet8", return_features=True, **kwargs)
    assert pp.shape == (n, 2)
    np.testing.assert_allclose(pp.sum(1), 1.0, atol=1e-5)
    assert (pp.argmax(1) == y).mean() > 0.8
    # each fold's network embeds every example (penultimate layer), kept in the fold's file
    assert [held.tolist() for held, _ in feats] == [
        te.tolist() for _, te in StratifiedKFold(2, shuffle=True, random_state=0).split(images, y)]
    for fold, (_held, every) in enumerate(feats):
        assert every.shape == (n, 64) and every.dtype == np.float32 and np.isfinite(every).all()
        z = np.load(tmp_path / f"fold_{fold}.npz")
        np.testing.assert_array_equal(z["features"], every)
    assert not np.allclose(feats[0][1], feats[1][1])  # two networks, two spaces
    again, cached = out_of_sample_pred_probs(images, y, "resnet8", return_features=True, **kwargs)
    np.testing.assert_array_equal(again, pp)
    for (held, every), (held2, every2) in zip(feats, cached):  # from the cache: not retrained
        np.testing.assert_array_equal(held, held2)
        np.testing.assert_array_equal(every, every2)
    # a fold cached without features (an earlier version): no features, same pred_probs
    z = dict(np.load(tmp_path / "fold_1.npz"))
    del z["features"]
    np.savez(tmp_path / "fold_1.npz", **z)
    old, none = out_of_sample_pred_probs(images, y, "resnet8", return_features=True, **kwargs)
    assert none is None
    np.testing.assert_array_equal(old, pp)
    # scikit-learn models have no feature layer
    X = images.reshape(n, -1).astype(np.float64)
    assert out_of_sample_pred_probs(X, y, LogisticRegression(), folds=2, progress=False,
                                    return_features=True)[1] is None
