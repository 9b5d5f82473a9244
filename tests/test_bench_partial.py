"""benchmarks/partial_labels.py: the long-regime profile's runs resume from their
checkpoints, its methods' settings, and its questions' sections."""

from __future__ import annotations

import numpy as np
import pytest
from _bench import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("partial_labels")


def _tiny(seed=0, n=48, k=10):
    from labelnoise.noise import partial_labels

    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    x = rng.integers(0, 255, size=(n, 8, 8, 3), dtype=np.uint8)
    cand = partial_labels(y, q=0.3, num_classes=k, noise_rate=0.2, seed=seed)
    ann = np.where(cand[np.arange(n), y], y, cand.argmax(1))[:, None]
    return x, y, ann, cand


@pytest.mark.parametrize("method", ["ce", "proden"])
def test_memorise_run_resumes_from_its_checkpoint(bench, tmp_path, method):
    """A run of the long regime checkpoints every epoch; called again (a chain restarted
    after the run finished) it resumes and returns the same result without training."""
    x, y, ann, cand = _tiny()
    kw = dict(profile="memorise", epochs=2, seed=0, x_test=x[:10], y_test=y[:10],
              checkpoint_dir=tmp_path / "ckpt", model="resnet8")
    first = bench.run_method(method, x, y, ann, cand, **kw)
    assert (tmp_path / "ckpt" / "checkpoint.pt").exists() and len(first.history) == 2
    again = bench.run_method(method, x, y, ann, cand, **kw)
    assert [h["test_acc"] for h in again.history] == [h["test_acc"] for h in first.history]
    assert [h["seconds"] for h in again.history] == [h["seconds"] for h in first.history]
    assert first.history[0]["lr"] == pytest.approx(0.1)  # CE's protocol optimiser


def test_memorise_profile_settings_and_titles(bench):
    assert bench.PROFILES["memorise"] == dict(model="resnet20", n_train=4000, n_test=2000,
                                              epochs=150)
    assert set(bench.MEMORISE_METHODS) == set(bench.METHOD_LABELS)
    # CE and PRODEN share the image track's CE loop, so that only the loss differs
    tc = load_benchmark("train_cifar")
    ce = {k: v for k, v in tc.MEMORISE["methods"]["standard"].items() if k != "epochs"}
    assert bench.MEMORISE_METHODS["ce"] == ce == bench.MEMORISE_METHODS["proden"]
    reduced = bench.question_title("weak", (0.3, 0.3))
    long = bench.question_title("weak", (0.3, 0.3), "memorise")
    assert long.startswith(reduced) and long != reduced
    assert bench._title_question("## " + long) == long


@pytest.mark.parametrize("profile", ["reduced", "memorise"])
def test_coreg_ablations_change_only_their_terms(bench, monkeypatch, profile):
    """coreg-ls / coreg-nou call Co-Reg with the same settings as coreg except the weights
    they switch off."""
    from labelnoise.training import coreg

    calls = {}
    monkeypatch.setattr(coreg, "fit", lambda *a, **kw: calls.setdefault(len(calls), kw))
    x, y, ann, cand = _tiny()
    for method in ("coreg", "coreg-ls", "coreg-nou"):
        bench.run_method(method, x, y, ann, cand, profile=profile, epochs=30, seed=0,
                         x_test=x[:4], y_test=y[:4])
    full, ls, nou = ({k: v for k, v in calls[i].items() if not isinstance(v, np.ndarray)}
                     for i in range(3))
    assert {k: v for k, v in ls.items() if k not in ("proto_weight", "supcon_weight")} == \
        {k: v for k, v in full.items() if k not in ("proto_weight", "supcon_weight")}
    assert ls["proto_weight"] == ls["supcon_weight"] == 0.0 and "proto_weight" not in full
    assert nou["lambda_u"] == 0.0 and {k: v for k, v in nou.items() if k != "lambda_u"} == full


@pytest.mark.parametrize("method", ["dividemix", "coreg", "ill"])
def test_memorise_settings_are_accepted_by_each_method(bench, method):
    """The long regime's settings of the slow methods run as given (a warm-up of 50 epochs
    needs at least 50: 52 epochs on 64 tiny images), starting at their learning rate."""
    x, y, ann, cand = _tiny(n=64)
    res = bench.run_method(method, x, y, ann, cand, profile="memorise", epochs=52, seed=0,
                           x_test=x[:8], y_test=y[:8], model="resnet8")
    assert len(res.history) == 52
    # (a cosine schedule has moved by at most 0.1% after the first epoch)
    assert res.history[0]["lr"] == pytest.approx(bench.MEMORISE_METHODS[method]["lr"], rel=1e-2)
