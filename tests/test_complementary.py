"""Complementary labels: the seeded generator, the unbiased risk estimator of Ishida et al.
2019 (its expectation is the ordinary cross-entropy risk), the stratified partial risks of
the non-negative correction, recovery on sklearn digits, exact resume and the registry."""

import itertools
import math

import numpy as np
import pytest
import torch
from _data import digits_split
from click.testing import CliRunner
from torch.nn import functional as F

from labelnoise import noise, training
from labelnoise.cli import main
from labelnoise.training import complementary

torch.set_num_threads(2)


# ---------------------------------------------------------------- the generator
def test_generator_draws_m_wrong_classes_uniformly_and_is_seeded():
    labels = np.repeat(np.arange(4), 20_000)
    for m in (1, 2, 3):
        comp = noise.complementary_labels(labels, 4, num_per_example=m, seed=0)
        assert comp.dtype == bool and comp.shape == (80_000, 4)
        assert np.all(comp.sum(axis=1) == m)
        assert not comp[np.arange(80_000), labels].any()
        # each wrong class is a complementary label with probability m / (K - 1)
        for c in range(4):
            rows = comp[labels == c]
            freq = np.delete(rows.mean(axis=0), c)
            se = math.sqrt(m / 3 * (1 - m / 3) / 20_000) if m < 3 else 0.0
            np.testing.assert_allclose(freq, m / 3, atol=5 * se + 1e-12)
    # pairs are uniform too: for m = 2 of K - 1 = 3, each of the 3 pairs has probability 1/3
    comp = noise.complementary_labels(labels, 4, num_per_example=2, seed=1)
    rows = comp[labels == 0]
    pairs = {p: np.mean(rows[:, p[0]] & rows[:, p[1]]) for p in [(1, 2), (1, 3), (2, 3)]}
    assert all(abs(v - 1 / 3) < 5 * math.sqrt(2 / 9 / 20_000) for v in pairs.values())
    a = noise.complementary_labels(labels[:100], 4, seed=7)
    assert np.array_equal(a, noise.complementary_labels(labels[:100], 4, seed=7))
    assert not np.array_equal(a, noise.complementary_labels(labels[:100], 4, seed=8))
    assert noise.complementary_labels([0, 1, 1], seed=0).shape == (3, 2)  # K from the labels


def test_generator_refuses_bad_arguments():
    for bad in (0, 4, 1.5, True):
        with pytest.raises(ValueError, match="num_per_example"):
            noise.complementary_labels([0, 1, 2, 3], 4, num_per_example=bad)
    with pytest.raises(ValueError, match="num_classes"):
        noise.complementary_labels([0, 1], 1)
    with pytest.raises(ValueError):
        noise.complementary_labels([0, 5], 4)
    labels = np.array([0, 1, 2])
    noise.complementary_labels(labels, 3, seed=0)
    assert labels.tolist() == [0, 1, 2]  # input left alone


# ---------------------------------------------------------------- the estimator
def _fixed_logits(n=12, k=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (3 * torch.randn(n, k, generator=g, dtype=torch.float64),
            torch.randint(0, k, (n,), generator=g))


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_unbiased_risk_averages_to_cross_entropy_over_every_draw(m):
    logits, y = _fixed_logits()
    n, k = logits.shape
    ce = F.cross_entropy(logits, y, reduction="none")
    total = torch.zeros(n, dtype=torch.float64)
    count = 0
    # every m-subset of the K - 1 wrong classes, each equally likely under uniform generation
    for subset in itertools.combinations(range(k - 1), m):
        comp = torch.zeros(n, k, dtype=torch.bool)
        for i in range(n):
            wrong = [c for c in range(k) if c != int(y[i])]
            comp[i, [wrong[j] for j in subset]] = True
        total += complementary.unbiased_risk(logits, comp, reduction="none")
        count += 1
    torch.testing.assert_close(total / count, ce, rtol=1e-12, atol=1e-12)
    if m == k - 1:  # every wrong class excluded: the estimator is cross entropy itself
        torch.testing.assert_close(complementary.unbiased_risk(logits, comp, reduction="none"),
                                   ce, rtol=1e-12, atol=1e-12)


def test_unbiased_risk_monte_carlo_with_the_generator():
    logits, y = _fixed_logits(n=8, k=6, seed=1)
    ce = F.cross_entropy(logits, y)
    draws = 4000  # the 8 examples repeated: one generator call, one estimator call
    comp = noise.complementary_labels(np.tile(y.numpy(), draws), 6, seed=0)
    per = complementary.unbiased_risk(logits.repeat(draws, 1), torch.from_numpy(comp),
                                      reduction="none").reshape(draws, 8).mean(dim=1).numpy()
    se = per.std() / math.sqrt(draws)
    assert abs(per.mean() - ce.item()) < 4 * se
    # a single draw is far from it: the estimator is unbiased, not exact
    assert per.std() > 0.5


def test_unbiased_risk_validates_and_reduces():
    logits, y = _fixed_logits(n=4, k=3)
    comp = torch.from_numpy(noise.complementary_labels(y.numpy(), 3, seed=0))
    per = complementary.unbiased_risk(logits, comp, reduction="none")
    assert complementary.unbiased_risk(logits, comp, reduction="sum").item() == pytest.approx(
        per.sum().item())
    assert complementary.unbiased_risk(logits, comp).item() == pytest.approx(per.mean().item())
    with pytest.raises(ValueError, match="at least one complementary label"):
        complementary.unbiased_risk(logits, torch.zeros(4, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="shape"):
        complementary.unbiased_risk(logits, comp[:, :2])
    with pytest.raises(ValueError, match="reduction"):
        complementary.unbiased_risk(logits, comp, reduction="max")


def test_partial_risks_match_a_direct_computation():
    logits, y = _fixed_logits(n=30, k=4, seed=2)
    comp_np = noise.complementary_labels(y.numpy(), 4, num_per_example=2, seed=3)
    comp = torch.from_numpy(comp_np)
    priors = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    got = complementary.partial_risks(logits, comp, priors)
    loss = -F.log_softmax(logits, dim=1).numpy()
    want = np.zeros(4)
    for j in range(4):
        for kk in range(4):
            stratum = comp_np[:, kk]
            if stratum.any():
                want[j] += priors[kk].item() * loss[stratum, j].mean()
        want[j] -= 3 * priors[j].item() * loss[comp_np[:, j], j].mean()
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    # priors of a mask: the share of (example, complementary label) pairs per class
    torch.testing.assert_close(complementary.complementary_priors(comp),
                               torch.from_numpy(comp_np.sum(0) / comp_np.sum()).float())


def test_partial_risks_sum_to_the_unbiased_risk_when_strata_match_priors():
    # one complementary label per example, every class equally often as the prior says: the
    # stratified sum is the plain mean of the unbiased estimator
    k = 4
    logits, _ = _fixed_logits(n=12, k=k, seed=4)
    comp_labels = np.tile(np.arange(k), 3)
    comp = torch.from_numpy(np.eye(k, dtype=bool)[comp_labels])
    got = complementary.partial_risks(logits, comp, torch.full((k,), 1 / k)).sum()
    torch.testing.assert_close(got, complementary.unbiased_risk(logits, comp))


# ---------------------------------------------------------------- training


def test_recovers_the_classes_from_complementary_labels_on_digits():
    x_tr, y_tr, x_te, y_te = digits_split()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: one thread is faster, and immune to a busy CPU
    acc = {}
    try:
        for m in (1, 5):
            comp = noise.complementary_labels(y_tr, 10, num_per_example=m, seed=0)
            result = complementary.fit(
                x_tr, ~comp, model="mlp", model_kwargs={"hidden": (128,)}, epochs=60,
                batch_size=256, lr=0.01, seed=0, test_images=x_te, test_labels=y_te,
                true_labels=y_tr, progress=False)
            acc[m] = result.last_test_acc
            assert {"train_loss", "negative_risk_steps", "train_acc_clean"} <= set(
                result.history[-1])
    finally:
        torch.set_num_threads(threads)
    # measured: 0.454 with one complementary label per example (chance: 0.10), 0.624 with five
    assert acc[1] > 0.3
    assert acc[5] > acc[1] + 0.1


def test_corrections_and_validation():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 60)
    x = (np.eye(3)[y] * 3 + rng.normal(0, 1, (60, 3))).astype(np.float32)
    cand = ~noise.complementary_labels(y, 3, seed=0)
    kw = dict(model="mlp", model_kwargs={"hidden": (16,)}, epochs=2, batch_size=16, lr=0.05,
              progress=False)
    losses = {}
    for correction in complementary.CORRECTIONS:
        h = complementary.fit(x, cand, correction=correction, **kw).history
        assert 0 <= h[-1]["negative_risk_steps"] <= 1
        losses[correction] = h[-1]["train_loss"]
    assert len(set(losses.values())) == 3  # three different training paths
    with pytest.raises(ValueError, match="correction"):
        complementary.fit(x, cand, correction="nn", **kw)
    full = cand.copy()
    full[5] = True
    with pytest.raises(ValueError, match="no complementary label"):
        complementary.fit(x, full, **kw)
    with pytest.raises(ValueError, match="no candidate"):
        complementary.fit(x, np.zeros_like(cand), **kw)


def test_resume_matches_uninterrupted(tmp_path):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 80)
    x = (np.eye(4)[y] * 2 + rng.normal(0, 1, (80, 4))).astype(np.float32)
    cand = ~noise.complementary_labels(y, 4, num_per_example=2, seed=2)
    kw = dict(model="mlp", model_kwargs={"hidden": (16,)}, epochs=3, batch_size=16, lr=0.05,
              seed=3, progress=False, true_labels=y)
    full = complementary.fit(x, cand, **kw)

    class Stop(Exception):
        pass

    def interrupt(history):
        if len(history) == 1:
            raise Stop

    with pytest.raises(Stop):
        complementary.fit(x, cand, checkpoint_dir=tmp_path, on_epoch=interrupt, **kw)
    resumed = complementary.fit(x, cand, checkpoint_dir=tmp_path, resume=True, **kw)
    for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in full.history]
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in resumed.history] == strip
    with pytest.raises(ValueError, match="other settings"):
        complementary.fit(x, cand, checkpoint_dir=tmp_path, resume=True,
                          **{**kw, "correction": "max"})


def test_registry_and_cli_list_the_method_and_losses():
    entry = training.METHODS["complementary"]
    assert entry.candidates and entry.load() is complementary.fit
    assert training.get("complementary") is complementary.fit
    out = CliRunner().invoke(main, ["train", "--help"], terminal_width=200).output
    flat = " ".join(out.split())
    assert "complementary" in flat and "ldr-kl" in flat and "aldr-kl" in flat
