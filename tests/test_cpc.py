"""CPC, the Class Prototype-based Cleaner (Huang, Chen, Feng & Wu 2022): the prototype score
on features against hand computations and planted flips, the class-aware division against
a planted class-dependent loss shift that one class-agnostic mixture misses, training on
blobs with 40% symmetric noise, bit-exact resume, the CLI on an .npz, validation."""

import json
import math

import numpy as np
import pytest
import torch
from _data import colour_images, gaussian_blobs
from _resume import assert_resumes_exactly
from click.testing import CliRunner

from labelnoise import noise, training
from labelnoise.cli import main
from labelnoise.data_issues import prototype_label_quality
from labelnoise.training import cpc, dividemix, engine

# tiny networks: one thread is faster, and immune to a busy CPU
torch.set_num_threads(1)


def blobs(n, seed, k=4, d=16, spread=1.2):
    """Overlapping Gaussian clusters around fixed random centres."""
    return gaussian_blobs(n, seed, k=k, d=d, spread=spread)


# ---------------------------------------------------------------- the prototype score
def test_prototype_score_by_hand():
    e = math.e
    # two classes on the axes, temperature 1: own prototype (the other example) at cosine 1,
    # the other class's at cosine 0
    x = np.array([[1.0, 0], [1, 0], [0, 1], [0, 1]])
    np.testing.assert_allclose(prototype_label_quality(x, [0, 0, 1, 1], temperature=1.0),
                               e / (e + 1))
    # weights shape the prototypes; each example is left out of its own class's prototype
    x = np.array([[1.0, 0], [0, 1], [0, 1], [0, 1]])
    y = np.array([0, 0, 1, 1])
    w = np.array([1.0, 0.0, 1.0, 1.0])
    got = prototype_label_quality(x, y, weights=w, temperature=1.0)
    # 0: its class without it has weight 0 left -> cosine 0; class 1 at cosine 0 -> 1/2
    # 1: own prototype (1, 0) -> cosine 0; class 1's (0, 1) -> cosine 1
    # 2, 3: own (0, 1) -> 1; class 0's prototype is (1, 0) (example 1 has weight 0) -> 0
    np.testing.assert_allclose(got, [0.5, 1 / (1 + e), e / (e + 1), e / (e + 1)])
    unweighted = prototype_label_quality(x, y, temperature=1.0)  # class 0: (1, 1) / sqrt 2
    np.testing.assert_allclose(unweighted[2:], e / (e + math.exp(1 / math.sqrt(2))))
    # a class with no example has no prototype: the scores do not change
    np.testing.assert_allclose(prototype_label_quality(x, y, weights=w, num_classes=5,
                                                       temperature=1.0), got)
    # weights that are all 0 in a class: its unweighted mean direction
    np.testing.assert_allclose(
        prototype_label_quality(x, y, weights=[0.0, 0.0, 1.0, 1.0], temperature=1.0),
        unweighted)


def test_prototype_score_ranks_planted_flips_lowest():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    k = 4
    centres = rng.normal(size=(k, 16))
    true = np.repeat(np.arange(k), 60)
    x = 4 * centres[true] + rng.normal(0, 1, (240, 16))
    given = true.copy()
    flip = rng.random(240) < 0.15
    given[flip] = (true[flip] + rng.integers(1, k, flip.sum())) % k
    score = prototype_label_quality(x, given)
    assert score.shape == (240,) and score.dtype == np.float64
    assert ((0 <= score) & (score <= 1)).all()
    assert roc_auc_score(~flip, score) > 0.99
    # the lowest scores are exactly the flipped labels
    assert set(np.argsort(score)[:flip.sum()]) == set(np.flatnonzero(flip))
    assert score[~flip].min() > 0.9 and score[flip].max() < 0.1


@pytest.mark.parametrize("kwargs, match", [
    (dict(features=np.array([[1.0, np.nan], [0, 1], [1, 1]])), r"features must be finite"),
    (dict(labels=[0, 1]), "labels has 2 entries but features has 3 rows"),
    (dict(labels=[0, 1, 2], num_classes=2), r"labels must lie in \[0, 2\)"),
    (dict(weights=[1.0, -1.0, 1.0]), r"weights must be finite and >= 0; weights\[1\]"),
    (dict(weights=[1.0, 1.0]), "weights must be a 1-D array of N = 3 numbers"),
    (dict(temperature=0.0), "temperature must be a finite number > 0"),
    (dict(num_classes=1), "num_classes must be an integer >= 2"),
])
def test_prototype_score_validation(kwargs, match):
    args = {"features": np.eye(3), "labels": [0, 1, 1], **kwargs}
    with pytest.raises(ValueError, match=match) as info:
        prototype_label_quality(args.pop("features"), args.pop("labels"), **args)
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------- the class-aware division
def test_class_aware_division_recovers_a_class_dependent_loss_shift():
    """The paper's point: class 1 is hard, its clean losses (~1.2) lie above class 0's noisy
    losses (~1.0). One class-agnostic mixture (DivideMix) calls all of class 1 noisy; one
    mixture per class recovers the planted division exactly."""
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 200)
    noisy = rng.random(400) < 0.3
    level = np.where(y == 0, np.where(noisy, 1.0, 0.1), np.where(noisy, 2.5, 1.2))
    loss = np.abs(level + rng.normal(0, 0.08, 400) * np.where(y == 0, 1.0, 1.5))
    aware = cpc.class_aware_clean_probability(loss, y, seed=0) > 0.5
    agnostic = dividemix.clean_probability(loss, seed=0) > 0.5
    assert (aware == ~noisy).all()
    assert not agnostic[(y == 1) & ~noisy].any()  # every clean label of the hard class lost
    assert (agnostic == ~noisy).mean() < 0.7
    # classes below min_class_size fall back to the class-agnostic mixture
    np.testing.assert_array_equal(
        cpc.class_aware_clean_probability(loss, y, min_class_size=201, seed=0),
        dividemix.clean_probability(loss, seed=0))
    with pytest.raises(ValueError, match="min_class_size must be an integer >= 2"):
        cpc.class_aware_clean_probability(loss, y, min_class_size=1)
    with pytest.raises(ValueError, match="labels has 3 entries but losses has 400"):
        cpc.class_aware_clean_probability(loss, [0, 1, 1])


def test_class_prototypes_are_weighted_mean_directions():
    g = torch.Generator().manual_seed(0)
    f = torch.randn(30, 5, generator=g)
    y = torch.arange(30) % 3
    w = torch.rand(30, generator=g)
    w[y == 2] = 0  # all weights 0: the unweighted mean direction
    protos = cpc.class_prototypes(f, y, w, 4)
    z = f / f.norm(dim=1, keepdim=True)
    for k in range(3):
        m = y == k
        want = (z[m] * (w[m] if k < 2 else torch.ones(int(m.sum())))[:, None]).sum(0)
        torch.testing.assert_close(protos[k], want / want.norm())
    assert torch.equal(protos[3], torch.zeros(5))  # no example
    # the posterior of the given label matches the score on features (up to leave-one-out,
    # negligible with 300 examples a class)
    x, lab = blobs(1200, 3, k=4)
    ft = torch.from_numpy(x)
    yt = torch.from_numpy(lab)
    p = cpc.class_prototypes(ft, yt, torch.ones(1200), 4)
    post = torch.softmax(torch.nn.functional.normalize(ft, dim=1) @ p.T / 0.1, 1)
    np.testing.assert_allclose(post[torch.arange(1200), yt].numpy(),
                               prototype_label_quality(x, lab), atol=0.02)


# ---------------------------------------------------------------- training
def test_cpc_trains_on_blobs_with_40_percent_symmetric_noise():
    x, y = blobs(400, 0)
    xt, yt = blobs(300, 1)
    given = noise.symmetric(y, 0.4, num_classes=4, seed=0).labels
    assert 0.35 < (given != y).mean() < 0.45
    res = cpc.fit(x, given, model="mlp", model_kwargs={"hidden": (32,)}, epochs=4,
                  warmup_epochs=1, batch_size=32, lr=0.05, test_images=xt, test_labels=yt,
                  true_labels=y, progress=False, seed=0)
    h = res.history
    assert "labeled_fraction" not in h[0] and "proto_loss" not in h[0]
    last = h[-1]
    # measured (seed 0): test accuracy 0.987, split precision 1.0, every AUROC 1.0
    assert last["test_acc"] > 0.9  # chance: 0.25
    assert last["split_precision"] > 0.9 and last["split_recall"] > 0.8
    assert 0.45 < last["labeled_fraction"] < 0.75  # about the 60% clean labels
    assert min(last["loss_auroc"], last["prototype_auroc"], last["clean_auroc"]) > 0.9
    assert np.isfinite(last["proto_loss"]) and last["proto_loss"] > 0
    assert isinstance(res.model, engine.Ensemble) and len(res.models) == 2
    p = engine.predict_proba(res.model, xt)
    np.testing.assert_allclose(p.sum(1), 1, atol=1e-5)


def test_resume_is_bit_exact_on_images(tmp_path, monkeypatch):
    x, y = colour_images(n=48)
    rng = np.random.default_rng(1)
    noisy = np.where(rng.random(48) < 0.3, rng.integers(0, 3, 48), y)
    kw = dict(model="resnet8", model_kwargs={"widths": (8, 8, 8)}, epochs=3, warmup_epochs=1,
              batch_size=16, lr=0.05, min_class_size=4, seed=2, progress=False,
              true_labels=y, test_images=x[:16], test_labels=y[:16])
    # interrupted after the first post-warm-up epoch
    full = assert_resumes_exactly(cpc.fit, (x, noisy), kw, (2,), tmp_path, monkeypatch)
    assert all(np.isfinite(r["train_loss"]) for r in full.history)
    assert "proto_loss" in full.history[-1]
    with pytest.raises(ValueError, match="other settings"):
        cpc.fit(x, noisy, checkpoint_dir=tmp_path / "2", resume=True,
                **{**kw, "prototype_weight": 0.5})


def test_cli_trains_cpc_on_an_npz_of_embeddings(tmp_path):
    x, y = blobs(160, 4, k=3, d=6, spread=2.0)
    given = noise.symmetric(y, 0.3, num_classes=3, seed=1).labels
    xt, yt = blobs(90, 5, k=3, d=6, spread=2.0)
    np.savez(tmp_path / "emb.npz", X=x, labels=given)
    np.savez(tmp_path / "test.npz", X=xt, labels=yt)
    out = tmp_path / "run"
    res = CliRunner().invoke(main, [
        "train", str(tmp_path / "emb.npz"), "--test", str(tmp_path / "test.npz"),
        "--method", "cpc", "--warmup-epochs", "1", "--lambda-u", "5", "--forget-rate", "0.25",
        "--epochs", "3",
        "--batch-size", "32", "--lr", "0.05", "--device", "cpu", "--no-progress",
        "--out", str(out)])
    assert res.exit_code == 0, res.output
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["method"] == "cpc"
    assert cfg["method_kwargs"] == {"lambda_u": 5.0, "warmup_epochs": 1, "forget_rate": 0.25}
    history = json.loads((out / "history.json").read_text())
    assert [r["epoch"] for r in history] == [1, 2, 3]
    assert "proto_loss" in history[-1]
    assert [r["labeled_fraction"] for r in history[1:]] == [0.75, 0.75]  # by rank
    final = json.loads((out / "final.json").read_text())
    assert final["test_acc"] > 0.8  # chance: 1/3
    assert np.load(out / "pred_probs.npy").shape == (90, 3)


def test_registry_and_cli_list_cpc():
    entry = training.METHODS["cpc"]
    assert entry.load() is cpc.fit and not entry.candidates and not entry.distributed
    assert entry.settings_for(0.5, False) == dividemix.paper_settings(0.5, False)
    assert entry.settings_for(0.2, False)["lambda_u"] == 0.0
    assert entry.accepts("true_labels") and entry.accepts("num_classes")
    flat = " ".join(CliRunner().invoke(main, ["train", "--help"], terminal_width=200)
                    .output.split())
    assert "|cpc|" in flat


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize("kwargs, match", [
    (dict(prototype_temperature=0.0), "prototype_temperature must be a finite number > 0"),
    (dict(prototype_temperature=float("nan")), "prototype_temperature must be a finite number > 0"),
    (dict(prototype_weight=-1.0), "prototype_weight must be a finite number >= 0"),
    (dict(prototype_mix=1.5), r"prototype_mix must be a finite number in \[0, 1\]"),
    (dict(min_class_size=1), "min_class_size must be an integer >= 2"),
    (dict(min_class_size=2.5), "min_class_size must be an integer >= 2"),
    (dict(p_threshold=1.0), "p_threshold"),
    (dict(epochs=0), "epochs must be an integer >= 1"),
    (dict(true_labels=np.zeros(5, dtype=int)), "true_labels has 5 entries"),
    (dict(model="resnet8"), "embeddings need model in"),
])
def test_bad_settings_raise_one_line_errors(kwargs, match):
    x, y = blobs(12, 0, k=3, d=4)
    kw = dict(model="mlp", epochs=1, progress=False)
    with pytest.raises(ValueError, match=match) as info:
        cpc.fit(x, y, **{**kw, **kwargs})
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="labels has 5 entries"):
        cpc.fit(x, y[:5], **kw)
