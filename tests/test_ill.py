"""ILL (Imprecise Label Learning, Chen et al. 2024): the transition matrix, the E-step and
the loss terms against hand computations, bit-exact resume, recovery from symmetric noise
on sklearn digits (beats cross entropy), input validation and the registry."""

import math

import numpy as np
import pytest
import torch
from _data import colour_images, digits_split
from _resume import assert_resumes_exactly
from click.testing import CliRunner
from torch.nn import functional as F

from labelnoise import noise, training
from labelnoise.cli import main
from labelnoise.training import ill, standard

# tiny networks: one thread is faster, and immune to a busy CPU (two threads on two busy
# cores can be 100x slower)
torch.set_num_threads(1)


# ---------------------------------------------------------------- the pieces, by hand
def test_transition_matrix_starts_at_the_softmax_of_the_identity():
    m = ill.TransitionMatrix(3, scale=1.0)
    diag, off = math.e / (math.e + 2), 1 / (math.e + 2)
    want = torch.full((3, 3), off)
    want.fill_diagonal_(diag)
    torch.testing.assert_close(m.transition().detach(), want)
    torch.testing.assert_close(m.columns().detach(), want)  # symmetric at the start
    big = ill.TransitionMatrix(3, scale=4.0)  # a larger scale: closer to one-hot
    assert big.transition()[0, 0] > 0.9


def test_matrix_is_doubly_normalised_then_scaled():
    m = ill.TransitionMatrix(2, scale=2.0)
    with torch.no_grad():
        m.weight.copy_(torch.tensor([[3.0, 4.0], [0.0, 2.0]]))
    # columns to unit norm: [[3/3, 4/sqrt(20)], [0, 2/sqrt(20)]]; then rows to unit norm
    c = np.array([[1.0, 4 / math.sqrt(20)], [0.0, 2 / math.sqrt(20)]])
    r = c / np.linalg.norm(c, axis=1, keepdims=True)
    np.testing.assert_allclose(m().detach().numpy(), 2 * r, rtol=1e-6)
    e = np.exp(2 * r)
    np.testing.assert_allclose(m.transition().detach().numpy(), e / e.sum(1, keepdims=True),
                               rtol=1e-6)
    np.testing.assert_allclose(m.columns().detach().numpy(), e / e.sum(0, keepdims=True),
                               rtol=1e-6)


def test_posterior_is_prediction_times_the_given_labels_column():
    probs = torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]], dtype=torch.float64)
    t = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]], dtype=torch.float64)
    labels = torch.tensor([1, 0])
    # row 0, given 1: [0.5 * 0.2, 0.3 * 0.8, 0.2 * 0.3] = [0.10, 0.24, 0.06] / 0.40
    # row 1, given 0: [0.1 * 0.7, 0.1 * 0.1, 0.8 * 0.3] = [0.07, 0.01, 0.24] / 0.32
    want = torch.tensor([[0.25, 0.6, 0.15], [0.21875, 0.03125, 0.75]], dtype=torch.float64)
    torch.testing.assert_close(ill.posterior(probs, t, labels), want)
    # a candidate set {0, 2}: [0.5 * 0.7 * 0.1, 0.3 * 0.1 * 0.1, 0.2 * 0.3 * 0.4]
    cand = torch.tensor([[True, False, True]])
    r = np.array([0.035, 0.003, 0.024])
    torch.testing.assert_close(ill.candidate_posterior(probs[:1], t, cand),
                               torch.from_numpy(r / r.sum())[None])
    # a one-class candidate set is the noisy-label posterior of that class
    one = torch.tensor([[False, True, False], [True, False, False]])
    torch.testing.assert_close(ill.candidate_posterior(probs, t, one), want)


def test_noisy_label_losses_match_a_direct_computation():
    g = torch.Generator().manual_seed(0)
    k = 4
    zw = torch.randn(5, k, generator=g, dtype=torch.float64)
    zs = torch.randn(5, k, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 3, 1, 1, 2])
    m = ill.TransitionMatrix(k).double()
    with torch.no_grad():
        m.weight.add_(0.3 * torch.rand(k, k, generator=g, dtype=torch.float64))
    out = ill.noisy_label_losses(zw, zs, y, m, balance_weight=0.1)

    def softmax(a, axis):
        e = np.exp(a - a.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)

    w = m.weight.detach().numpy()
    mm = w / np.linalg.norm(w, axis=0, keepdims=True)
    mm = mm / np.linalg.norm(mm, axis=1, keepdims=True)
    t, c = softmax(mm, 1), softmax(mm, 0)
    pw, ps = softmax(zw.numpy(), 1), softmax(zs.numpy(), 1)
    yy = y.numpy()
    q = pw @ c
    q /= q.sum(1, keepdims=True)
    noise_loss = -np.log(q[np.arange(5), yy]).mean()
    col = t[:, yy].T
    r = pw * col / (pw * col).sum(1, keepdims=True)
    s = ps * col / (ps * col).sum(1, keepdims=True)
    em_loss = -(r * np.log(s)).sum(1).mean()
    con_loss = -(pw * np.log(ps)).sum(1).mean()
    balance = -np.log(pw.mean(0)).mean()
    for key, want in [("noise_loss", noise_loss), ("em_loss", em_loss), ("con_loss", con_loss),
                      ("balance", balance),
                      ("loss", noise_loss + em_loss + con_loss + 0.1 * balance)]:
        assert out[key].item() == pytest.approx(want, rel=1e-10), key
    np.testing.assert_allclose(out["posterior"].numpy(), r, rtol=1e-10)


def test_gradients_flow_as_in_the_official_code():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(6, 3, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    m = ill.TransitionMatrix(3).double()
    # the E-step target and T's column are detached: the matrix learns from noise_loss only
    zw, zs = z.clone().requires_grad_(), (z + 0.5).requires_grad_()
    out = ill.noisy_label_losses(zw, zs, y, m, 0.1)
    (out["em_loss"] + out["con_loss"]).backward()
    assert m.weight.grad is None and zw.grad is None and zs.grad.abs().sum() > 0
    out["noise_loss"].backward()
    assert m.weight.grad.abs().sum() > 0 and zw.grad.abs().sum() > 0
    # one view (embeddings): the EM and consistency terms have zero gradient
    same = z.clone().requires_grad_()
    out = ill.noisy_label_losses(same, same, y, m, 0.0)
    (out["em_loss"] + out["con_loss"]).backward()
    torch.testing.assert_close(same.grad, torch.zeros_like(same.grad))
    # candidate sets: the EM term still trains with one view
    same = z.clone().requires_grad_()
    cand = F.one_hot(y, 3).bool() | torch.tensor([True, False, False])
    out = ill.candidate_losses(same, same, cand, m, 0.1)
    out["em_loss"].backward()
    assert same.grad.abs().sum() > 0
    # the candidate loss: -sum_{j not in S} log(1 + 1e-7 - q_j)
    q = ill.noisy_prediction(torch.softmax(z, 1), m.columns().detach())
    want = -(torch.log(1 + 1e-7 - q) * (~cand)).sum(1).mean()
    torch.testing.assert_close(out["sup_loss"].detach(), want)


def test_distribution_alignment_by_hand():
    probs = torch.tensor([[0.5, 0.5], [0.9, 0.1]])
    target, p_hat = ill.distribution_alignment(probs, torch.tensor([0.5, 0.5]), momentum=0.9)
    torch.testing.assert_close(p_hat, torch.tensor([0.52, 0.48]))  # 0.9 * 0.5 + 0.1 * mean
    raw = torch.tensor([[0.5 / 0.52, 0.5 / 0.48], [0.9 / 0.52, 0.1 / 0.48]])
    torch.testing.assert_close(target, raw / raw.sum(1, keepdim=True))
    # a class the predictions favour on average is pulled down, the other pushed up
    assert target[0, 1] > 0.5 and target[1, 0] < 0.9


def test_unlabeled_term_trains_resumes_exactly_and_is_validated(tmp_path, monkeypatch):
    rng = np.random.default_rng(5)
    y = rng.integers(0, 3, 60)
    x = (np.eye(3)[y] * 2 + rng.normal(0, 1, (60, 3))).astype(np.float32)
    cand = np.eye(3, dtype=bool)[y] | (rng.random((60, 3)) < 0.3)
    kw = dict(model="mlp", model_kwargs={"hidden": (16,)}, epochs=3, batch_size=16, lr=0.05,
              seed=4, view_dropout=0.3, progress=False)
    off = ill.fit_partial(x, cand, **kw).history
    assert all(h["unsup_loss"] == 0 for h in off)
    full = assert_resumes_exactly(ill.fit_partial, (x, cand), {**kw, "unlabeled_ratio": 2},
                                  (2,), tmp_path, monkeypatch)
    assert all(h["unsup_loss"] > 0 for h in full.history)
    assert full.history[0]["train_loss"] != off[0]["train_loss"]
    with pytest.raises(ValueError, match="other settings"):
        ill.fit_partial(x, cand, checkpoint_dir=tmp_path / "2", resume=True, **kw)
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(ValueError, match="unlabeled_ratio must be an integer >= 0"):
            ill.fit_partial(x, cand, unlabeled_ratio=bad, **{**kw, "epochs": 1})


# ---------------------------------------------------------------- training


@pytest.mark.parametrize("partial", [False, True])
def test_resume_is_bit_exact(tmp_path, monkeypatch, partial):
    x, y = colour_images(n=48)
    rng = np.random.default_rng(1)
    noisy = np.where(rng.random(48) < 0.3, rng.integers(0, 3, 48), y)
    kw = dict(model="resnet8", model_kwargs={"widths": (8, 8, 8)}, epochs=3, batch_size=16,
              lr=0.05, seed=3, progress=False, true_labels=y, test_images=x[:16],
              test_labels=y[:16])
    if partial:
        fit = ill.fit_partial
        target = np.zeros((48, 3), dtype=bool)
        target[np.arange(48), noisy] = True
        target[np.arange(48), rng.integers(0, 3, 48)] = True
    else:
        fit, target = ill.fit, noisy
    full = assert_resumes_exactly(fit, (x, target), kw, (2,), tmp_path, monkeypatch)
    last = full.history[-1]
    assert 0 < last["transition_diag"] < 1 and 0 <= last["posterior_acc"] <= 1
    assert ("memorised" in last) is (not partial)  # data.y is a placeholder for candidates
    with pytest.raises(ValueError, match="other settings"):
        fit(x, target, checkpoint_dir=tmp_path / "2", resume=True, **{**kw, "noise_scale": 2.0})


def test_view_dropout_gives_embeddings_a_strong_view_and_resumes_exactly(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 60)
    x = (np.eye(3)[y] * 2 + rng.normal(0, 1, (60, 3))).astype(np.float32)
    noisy = np.where(rng.random(60) < 0.4, rng.integers(0, 3, 60), y)
    kw = dict(model="mlp", model_kwargs={"hidden": (16,)}, epochs=3, batch_size=16, lr=0.05,
              seed=4, progress=False)
    one_view = ill.fit(x, noisy, **kw).history
    full = assert_resumes_exactly(ill.fit, (x, noisy), {**kw, "view_dropout": 0.3}, (1,),
                                  tmp_path, monkeypatch)
    assert full.history[0]["train_loss"] != one_view[0]["train_loss"]
    images, labels = colour_images(n=12)
    with pytest.raises(ValueError, match="view_dropout applies to"):
        ill.fit(images, labels, model="resnet8", epochs=1, view_dropout=0.3, progress=False)


def test_recovers_from_symmetric_noise_better_than_cross_entropy():
    x_tr, y_tr, x_te, y_te = digits_split()
    given = noise.symmetric(y_tr, 0.6, num_classes=10, seed=0).labels
    assert 0.55 < (given != y_tr).mean() < 0.65
    kw = dict(model="mlp", model_kwargs={"hidden": (128,)}, epochs=30, batch_size=64, lr=0.05,
              weight_decay=5e-4, schedule="constant", seed=0, test_images=x_te,
              test_labels=y_te, progress=False)
    ce = standard.fit(x_tr, given, **kw).last_test_acc
    res = ill.fit(x_tr, given, true_labels=y_tr, **kw)
    # measured (seeds 0-3): CE 0.36-0.49 (it memorises the wrong labels), ILL 0.82-0.84
    assert res.last_test_acc > ce + 0.2
    assert res.last_test_acc > 0.7
    h = res.history[-1]
    assert h["memorised"] < 0.9 and h["posterior_acc"] > 0.5


# ---------------------------------------------------------------- validation, registry
@pytest.mark.parametrize("kwargs, match", [
    (dict(noise_scale=0.0), "noise_scale must be a finite number > 0"),
    (dict(balance_weight=-0.1), "balance_weight must be a finite number >= 0"),
    (dict(noise_lr=-1.0), "noise_lr must be a finite number >= 0"),
    (dict(momentum=1.0), r"momentum must be a finite number in \[0, 1\)"),
    (dict(epochs=0), "epochs must be an integer >= 1"),
    (dict(batch_size=1), "batch_size must be an integer >= 2"),
    (dict(lr=0.0), "lr must be a finite number > 0"),
    (dict(schedule="linear"), "schedule"),
    (dict(view_dropout=1.0), r"view_dropout must be a finite number in \[0, 1\)"),
    (dict(true_labels=np.zeros(5, dtype=int)), "true_labels has 5 entries"),
])
def test_bad_settings_raise_one_line_errors(kwargs, match):
    x, y = colour_images(n=12)
    with pytest.raises(ValueError, match=match) as info:
        ill.fit(x, y, model="resnet8", epochs=kwargs.pop("epochs", 1), progress=False, **kwargs)
    assert "\n" not in str(info.value)


def test_bad_labels_and_candidates_raise_one_line_errors():
    x, y = colour_images(n=12)
    kw = dict(model="resnet8", epochs=1, progress=False)
    for bad, match in [(y[:5], "labels has 5 entries"), (y + 0.5, "labels"),
                       (np.full(12, 7), "labels")]:
        with pytest.raises(ValueError, match=match) as info:
            ill.fit(x, bad, num_classes=3, **kw)
        assert "\n" not in str(info.value)
    cand = np.eye(3, dtype=bool)[y]
    cand[4] = False
    with pytest.raises(ValueError, match="candidates") as info:
        ill.fit_partial(x, cand, **kw)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="candidates has 11 rows"):
        ill.fit_partial(x, np.eye(3, dtype=bool)[y][:11], **kw)


def test_registry_and_cli_list_both_entries():
    assert training.METHODS["ill"].load() is ill.fit and not training.METHODS["ill"].candidates
    entry = training.METHODS["ill-partial"]
    assert entry.candidates and entry.load() is ill.fit_partial
    assert training.METHODS["ill"].settings_for(0.5, False) == {}  # nothing from the noise rate
    assert training.METHODS["ill"].accepts("true_labels")
    out = CliRunner().invoke(main, ["train", "--help"], terminal_width=200).output
    flat = " ".join(out.split())
    assert "ill" in flat and "ill-partial" in flat


# ---------------------------------------------------------------- the strong view
def test_strong_view_is_recorded_in_the_config_and_resumes_bit_exactly(tmp_path, monkeypatch):
    import json

    x, y = colour_images(n=48)
    kw = dict(model="resnet8", model_kwargs={"widths": (8, 8, 8)}, epochs=2, batch_size=16,
              lr=0.05, seed=5, progress=False)
    # the default: RandAugment + random erasing
    full = assert_resumes_exactly(ill.fit, (x, y), kw, (1,), tmp_path, monkeypatch)
    config = json.loads((tmp_path / "1" / "checkpoint.json").read_text())["config"]
    assert config["strong_augment"] == "randaugment"
    with pytest.raises(ValueError, match="other settings"):
        ill.fit(x, y, checkpoint_dir=tmp_path / "1", resume=True, strong_augment="crop-flip",
                **kw)
    # the strong view changes training; "crop-flip" is a second crop + flip draw only
    plain = ill.fit(x, y, strong_augment="crop-flip", **{**kw, "epochs": 1})
    assert plain.history[0]["train_loss"] != full.history[0]["train_loss"]
    assert ill.ILL.__dataclass_fields__["strong_augment"].default == "randaugment"
    assert ill.ILLPartial.__dataclass_fields__["strong_augment"].default == "randaugment"


def test_strong_views_follow_the_official_recipes():
    from labelnoise.training import engine

    x, y = colour_images(n=32)
    data = engine.prepare_data(x, y)
    images = data.x[:32]
    common = dict(model="resnet8", epochs=1, batch_size=16, lr=0.05, weight_decay=0.0,
                  momentum=0.9, noise_lr=None, noise_scale=1.0, balance_weight=0.1,
                  schedule="cosine", augment=True, view_dropout=0.0, seed=0, model_kwargs=None)
    for cls, ops in ((ill.ILL, 2), (ill.ILLPartial, 3)):
        method = cls(**common)
        assert cls.strong_ops == ops
        method.generator = engine.seeded_generator(0)
        strong = method._strong(images)
        assert strong.dtype == torch.uint8 and strong.shape == images.shape
        assert not torch.equal(strong, images)
        method = cls(**common, strong_augment="crop-flip")
        method.generator = engine.seeded_generator(0)
        assert method._strong(images) is images
    with pytest.raises(ValueError, match="strong_augment must be one of"):
        ill.fit(x, y, model="resnet8", epochs=1, progress=False, strong_augment="autoaugment")
