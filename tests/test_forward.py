"""Forward loss correction (Patrini et al. 2017): the loss and the training method."""

import numpy as np
import pytest
import torch
from _data import gaussian_blobs
from _resume import assert_resumes_exactly

from labelnoise import training
from labelnoise.losses import ForwardCorrectedLoss
from labelnoise.training import forward, standard

torch.set_num_threads(2)


def pair_flip_matrix(k, rate):
    """P(given = i | true = j): class j keeps its label with 1 - rate, goes to j + 1 with rate."""
    t = np.eye(k) * (1 - rate)
    for j in range(k):
        t[(j + 1) % k, j] += rate
    return t


def pair_flip(y, rate, seed, k):
    rng = np.random.default_rng(seed)
    flip = rng.random(y.size) < rate
    return np.where(flip, (y + 1) % k, y)


# ---------------------------------------------------------------- the loss
def test_loss_matches_reference_and_reduces_to_cross_entropy():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(7, 3, generator=gen)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 2])
    t = np.array([[0.7, 0.1, 0.0], [0.2, 0.8, 0.3], [0.1, 0.1, 0.7]])
    got = ForwardCorrectedLoss(t, reduction="none")(logits, labels)
    p = torch.softmax(logits, 1).double().numpy()
    q = p @ t.T  # q_i = sum_j P(given = i | true = j) p_j
    want = -np.log(q[np.arange(7), labels.numpy()])
    assert np.allclose(got.double().numpy(), want, atol=1e-6)
    assert torch.isclose(ForwardCorrectedLoss(t)(logits, labels), got.mean())
    assert torch.isclose(ForwardCorrectedLoss(t, reduction="sum")(logits, labels), got.sum())
    ce = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
    assert torch.allclose(ForwardCorrectedLoss(np.eye(3), reduction="none")(logits, labels), ce,
                          atol=1e-6)
    assert torch.allclose(ForwardCorrectedLoss(t).noise_matrix.double(), torch.tensor(t))


def test_loss_minimiser_is_the_clean_posterior():
    # Theorem 2: for labels drawn from T p_clean, the expected forward-corrected loss is
    # minimised by p = p_clean (plain cross entropy would give T p_clean)
    t = torch.tensor(pair_flip_matrix(4, 0.35))
    p_clean = torch.tensor([0.05, 0.8, 0.1, 0.05], dtype=torch.float64)
    p_noisy = t @ p_clean
    logits = torch.zeros(1, 4, dtype=torch.float64, requires_grad=True)
    loss_fn = ForwardCorrectedLoss(t.numpy(), reduction="none")
    opt = torch.optim.LBFGS([logits], max_iter=500, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        per_label = loss_fn(logits.expand(4, 4), torch.arange(4))
        loss = (p_noisy * per_label.double()).sum()
        loss.backward()
        return loss

    opt.step(closure)
    assert np.allclose(torch.softmax(logits, 1).detach().numpy()[0], p_clean.numpy(), atol=2e-3)


def test_loss_validates_the_noise_matrix():
    with pytest.raises(ValueError, match="column 0"):
        ForwardCorrectedLoss([[0.5, 0.0], [0.4, 1.0]])
    with pytest.raises(ValueError, match="finite"):
        ForwardCorrectedLoss([[np.nan, 0.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match="square"):
        ForwardCorrectedLoss(np.ones((2, 3)) / 2)
    with pytest.raises(ValueError, match="3 classes"):
        ForwardCorrectedLoss(np.eye(2))(torch.zeros(4, 3), torch.zeros(4, dtype=torch.long))


# ---------------------------------------------------------------- the method
def _data(k=4, rate=0.4):
    x, y = gaussian_blobs(800, 0, k=k, d=16, spread=3.0)
    xt, yt = gaussian_blobs(400, 1, k=k, d=16, spread=3.0)
    return x, pair_flip(y, rate, 2, k), y, xt, yt


KW = dict(model="mlp", epochs=8, batch_size=64, lr=0.05, schedule="constant", progress=False,
          model_kwargs={"hidden": (64,)}, seed=0)


def test_forward_with_the_true_matrix_predicts_clean_classes_where_ce_learns_the_noise():
    x, noisy, y, xt, yt = _data()
    t = pair_flip_matrix(4, 0.4)
    fwd = forward.fit(x, noisy, noise_matrix=t, test_images=xt, test_labels=yt, **KW)
    ce = standard.fit(x, noisy, loss="ce", test_images=xt, test_labels=yt, **KW)
    p_fwd = training.engine.predict_proba(fwd.model, xt)
    p_ce = training.engine.predict_proba(ce.model, xt)
    true_fwd = p_fwd[np.arange(yt.size), yt].mean()
    true_ce = p_ce[np.arange(yt.size), yt].mean()
    # CE fits P(given | x): about 0.6 on the true class; forward fits P(true | x)
    assert abs(true_ce - 0.6) < 0.1
    assert true_fwd > 0.85
    assert fwd.history[-1]["test_acc"] > 0.9
    assert "noise_matrix" not in fwd.history[0]  # given, not estimated


def test_forward_estimates_the_noise_matrix_after_the_warm_up():
    # 30% pair flips (at 40% the flipped and kept halves of a class are close to even and
    # in-sample estimates after a few epochs are rough)
    x, noisy, y, xt, yt = _data(rate=0.3)
    res = forward.fit(x, noisy, warmup_epochs=3, test_images=xt, test_labels=yt, **KW)
    h = res.history
    assert all("noise_matrix" not in r for r in h[:2] + h[3:])
    est = np.array(h[2]["noise_matrix"])
    assert est.shape == (4, 4) and np.allclose(est.sum(0), 1)
    assert np.abs(est - pair_flip_matrix(4, 0.3)).max() < 0.06
    assert abs(h[2]["estimated_noise_rate"] - (noisy != y).mean()) < 0.04
    p = training.engine.predict_proba(res.model, xt)
    assert p[np.arange(yt.size), yt].mean() > 0.8
    assert h[-1]["test_acc"] > 0.9


def test_forward_resumes_exactly_across_the_estimate(tmp_path, monkeypatch):
    x, noisy, y, xt, yt = _data()
    kw = {**KW, "epochs": 5, "warmup_epochs": 2}
    # interrupted during the warm-up (predictions being summed) and after the estimate
    assert_resumes_exactly(forward.fit, (x, noisy), kw, (1, 3), tmp_path, monkeypatch)
    with pytest.raises(ValueError, match="other settings"):
        forward.fit(x, noisy, checkpoint_dir=tmp_path / "3", resume=True,
                    **{**kw, "warmup_epochs": 3})


def test_forward_validates_its_arguments():
    x, noisy, *_ = _data()
    with pytest.raises(ValueError, match="warmup_epochs must be below epochs"):
        forward.fit(x, noisy, **{**KW, "epochs": 3}, warmup_epochs=3)
    with pytest.raises(ValueError, match="warmup_epochs must be an integer"):
        forward.fit(x, noisy, **KW, warmup_epochs=0)
    with pytest.raises(ValueError, match="must be \\(4, 4\\)"):
        forward.fit(x, noisy, **KW, noise_matrix=np.eye(3))
    with pytest.raises(ValueError, match="column"):
        forward.fit(x, noisy, **KW, noise_matrix=np.ones((4, 4)))
    assert "forward" in training.METHODS and training.get("forward") is forward.fit
