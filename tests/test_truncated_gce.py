"""Truncated GCE (Zhang & Sabuncu 2018, section 3.3): the loss and the training method."""

import numpy as np
import pytest
import torch
from _data import gaussian_blobs
from _resume import assert_resumes_exactly

from labelnoise import training
from labelnoise.losses import GCELoss, TruncatedGCELoss
from labelnoise.training import standard, truncated_gce

torch.set_num_threads(2)


# ---------------------------------------------------------------- the loss
def test_loss_is_gce_minus_its_value_at_k_until_pruned():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 3, generator=gen, requires_grad=True)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    index = torch.tensor([5, 0, 3, 1, 4, 2])
    loss = TruncatedGCELoss(6, q=0.7, k=0.5, reduction="none")
    got = loss(logits, labels, index)
    p_y = torch.softmax(logits, 1)[torch.arange(6), labels]
    want = (1 - p_y**0.7) / 0.7 - (1 - 0.5**0.7) / 0.7  # eq. 9 above k, shifted by Lq(k)
    assert torch.allclose(got, want, atol=1e-6)
    # the same gradient as GCE while every weight is 1
    g_trunc = torch.autograd.grad(got.sum(), logits)[0]
    g_gce = torch.autograd.grad(GCELoss(0.7, reduction="sum")(logits, labels), logits)[0]
    assert torch.allclose(g_trunc, g_gce, atol=1e-6)
    assert torch.isclose(TruncatedGCELoss(6)(logits, labels, index), got.mean())
    assert torch.isclose(TruncatedGCELoss(6, reduction="sum")(logits, labels, index), got.sum())


def test_prune_keeps_the_examples_whose_given_label_is_above_k():
    loss = TruncatedGCELoss(5, k=0.5)
    kept = loss.prune(torch.tensor([0.9, 0.5, 0.2, 0.51, 0.0]))
    assert loss.weight.tolist() == [1.0, 0.0, 0.0, 1.0, 0.0] and kept == pytest.approx(0.4)
    # a partial update touches only the rows of index
    kept = loss.prune(torch.tensor([0.7, 0.1]), torch.tensor([2, 0]))
    assert loss.weight.tolist() == [0.0, 0.0, 1.0, 1.0, 0.0] and kept == pytest.approx(0.4)
    with pytest.raises(ValueError, match=r"p_y must have shape \(5,\)"):
        loss.prune(torch.ones(3))


def test_pruned_examples_give_no_loss_and_no_gradient():
    logits = torch.randn(4, 3, generator=torch.Generator().manual_seed(1), requires_grad=True)
    labels = torch.tensor([0, 1, 2, 1])
    loss = TruncatedGCELoss(4, reduction="none")
    loss.prune(torch.tensor([0.9, 0.1, 0.8, 0.3]))  # examples 1 and 3 pruned
    per = loss(logits, labels, torch.arange(4))
    assert per[1].item() == 0 and per[3].item() == 0 and per[0].item() != 0
    grad = torch.autograd.grad(per.sum(), logits)[0]
    assert torch.count_nonzero(grad[[1, 3]]) == 0 and torch.count_nonzero(grad[[0, 2]]) > 0
    # the weights travel with the module's state
    again = TruncatedGCELoss(4)
    again.load_state_dict(loss.state_dict())
    assert again.weight.tolist() == [1.0, 0.0, 1.0, 0.0]


def test_loss_validates_its_arguments():
    with pytest.raises(ValueError, match=r"q must be a finite number in \(0, 1\]"):
        TruncatedGCELoss(4, q=0)
    with pytest.raises(ValueError, match=r"k must be a finite number in \(0, 1\)"):
        TruncatedGCELoss(4, k=1.0)
    with pytest.raises(ValueError, match="num_examples must be >= 1"):
        TruncatedGCELoss(0)


# ---------------------------------------------------------------- the method
def pair_flip(y, rate, seed, k):
    rng = np.random.default_rng(seed)
    return np.where(rng.random(y.size) < rate, (y + 1) % k, y)


def _data(rate=0.4, k=4):
    x, y = gaussian_blobs(800, 0, k=k, d=16, spread=1.0)
    xt, yt = gaussian_blobs(400, 1, k=k, d=16, spread=1.0)
    return x, pair_flip(y, rate, 2, k), y, xt, yt


KW = dict(model="mlp", batch_size=64, lr=0.05, schedule="constant", progress=False,
          model_kwargs={"hidden": (64,)}, seed=0)


def test_prunes_at_the_paper_schedule():
    assert [e for e in range(120) if truncated_gce.prunes_at(e, 40, 10)] == list(range(40, 120, 10))
    assert not truncated_gce.prunes_at(39, 40, 10)


def test_pruning_drops_mostly_wrong_labels_and_the_history_says_how_many():
    # 40% pair flips on overlapping clusters: after 6 epochs of GCE the pruning keeps the
    # examples whose given label the network finds likely; the dropped ones are mostly the
    # flipped labels, so the kept set is far cleaner than the data
    x, noisy, y, xt, yt = _data()
    res = truncated_gce.fit(x, noisy, epochs=10, prune_start=6, prune_every=2,
                            test_images=xt, test_labels=yt, true_labels=y, **KW)
    h = res.history
    assert [r["kept"] for r in h[:6]] == [1.0] * 6
    assert all(0.3 < r["kept"] < 0.9 for r in h[6:])
    clean = noisy == y
    assert all(r["kept_precision"] > clean.mean() + 0.2 for r in h[6:])
    assert h[6]["kept_recall"] > 0.8
    # the diagnostics (clean labels given) change nothing in the training
    plain = truncated_gce.fit(x, noisy, epochs=10, prune_start=6, prune_every=2, **KW)
    for a, b in zip(plain.model.state_dict().values(), res.model.state_dict().values()):
        assert torch.equal(a, b)
    # and the network trained on it ends above plain GCE's (the paper's shape under
    # class-dependent noise; here 0.93 against 0.82)
    gce = standard.fit(x, noisy, loss="gce", epochs=10, test_images=xt, test_labels=yt, **KW)
    assert h[-1]["test_acc"] > gce.history[-1]["test_acc"] + 0.05


def test_resumes_exactly_across_a_pruning(tmp_path, monkeypatch):
    x, noisy, *_ = _data()
    kw = {**KW, "epochs": 5, "prune_start": 2, "prune_every": 2}
    # interrupted right after the first pruning's epoch, and between two prunings
    assert_resumes_exactly(truncated_gce.fit, (x, noisy), kw, (2, 3), tmp_path, monkeypatch)
    with pytest.raises(ValueError, match="other settings"):
        truncated_gce.fit(x, noisy, checkpoint_dir=tmp_path / "3", resume=True,
                          **{**kw, "prune_every": 1})


def test_defaults_scale_the_papers_schedule_and_arguments_are_checked():
    x, noisy, *_ = _data()
    res = truncated_gce.fit(x, noisy, epochs=12, **KW)  # prune_start 4, prune_every 1
    assert [r["kept"] == 1.0 for r in res.history] == [True] * 4 + [False] * 8
    with pytest.raises(ValueError, match="prune_every must be an integer >= 1"):
        truncated_gce.fit(x, noisy, epochs=2, prune_every=0, **KW)
    with pytest.raises(ValueError, match="prune_start must be an integer >= 0"):
        truncated_gce.fit(x, noisy, epochs=2, prune_start=-1, **KW)
    with pytest.raises(ValueError, match=r"k must be a finite number in \(0, 1\)"):
        truncated_gce.fit(x, noisy, epochs=2, k=1.5, **KW)
    assert training.get("truncated-gce") is truncated_gce.fit
