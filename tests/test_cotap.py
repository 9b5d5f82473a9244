"""CoTAPLoss (continuous-target AP, Wen et al. 2025): exact references, Smooth-AP for binary
targets, reductions, gradients, validation, and a noisy toy retrieval problem."""

import itertools
import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from labelnoise import losses
from labelnoise.losses import LOSSES, CoTAPLoss

torch.set_num_threads(1)


# ---------------------------------------------------------------------------------------
# references, written independently of the module


def brute_force_ap(scores, targets) -> float:
    """Continuous-target AP of one row by its definition, with Python loops (distinct
    scores): sum_i y_i * (mean relevance of the candidates ranked at or above i) / sum y."""
    s = [float(v) for v in scores]
    y = [float(v) for v in targets]
    total = 0.0
    for i in range(len(s)):
        at_or_above = [j for j in range(len(s)) if j == i or s[j] > s[i]]
        total += y[i] * sum(y[j] for j in at_or_above) / len(at_or_above)
    return total / sum(y)


def sorted_ap(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The same AP for every row (B,) by sorting (float64): precision at rank k is the
    cumulative relevance / k; rows without relevance are NaN."""
    s, y = scores.double(), targets.double()
    order = s.argsort(dim=1, descending=True)
    r = y.gather(1, order)
    precision = r.cumsum(1) / torch.arange(1, r.shape[1] + 1, dtype=torch.float64)
    return (precision * r).sum(1) / r.sum(1)


def smooth_ap_reference(scores, positive, tau) -> float:
    """Smooth-AP of Brown et al. 2020 for one query (binary relevance), from the paper's
    form: mean over positives i of (1 + sum_{j in P, j != i} G(s_j - s_i)) /
    (1 + sum_{j != i} G(s_j - s_i)), G the sigmoid with temperature tau."""
    s = [float(v) for v in scores]
    pos = [j for j, p in enumerate(positive) if p]

    def g(x):
        return 1.0 / (1.0 + math.exp(-x / tau))

    out = []
    for i in pos:
        num = 1 + sum(g(s[j] - s[i]) for j in pos if j != i)
        den = 1 + sum(g(s[j] - s[i]) for j in range(len(s)) if j != i)
        out.append(num / den)
    return sum(out) / len(out)


def spaced_scores(gen, b, m):
    """Scores with gaps >= 0.05 between any two candidates of a row (float64)."""
    rows = [torch.randperm(m, generator=gen).double() * 0.1 for _ in range(b)]
    return torch.stack(rows) + 0.05 * torch.rand(b, m, generator=gen, dtype=torch.float64)


# ---------------------------------------------------------------------------------------
# agreement with the references


def test_sorted_reference_matches_the_brute_force_definition():
    gen = torch.Generator().manual_seed(0)
    s = spaced_scores(gen, 4, 9)
    y = torch.rand(4, 9, generator=gen, dtype=torch.float64)
    y[1] = (y[1] > 0.5).double()
    y[1, 0] = 1.0  # at least one positive
    got = sorted_ap(s, y)
    for b in range(4):
        assert got[b].item() == pytest.approx(brute_force_ap(s[b], y[b]), abs=1e-12)
    # hand value: positives at ranks 1 and 3 -> (1/1 + 2/3) / 2
    assert brute_force_ap([0.9, 0.5, 0.1], [1, 0, 1]) == pytest.approx(5 / 6)


@pytest.mark.parametrize("kind", ["binary", "continuous"])
def test_tiny_temperature_gives_the_exact_ap(kind):
    gen = torch.Generator().manual_seed(1)
    s = spaced_scores(gen, 6, 11)
    y = torch.rand(6, 11, generator=gen, dtype=torch.float64)
    if kind == "binary":
        y = (y > 0.6).double()
        y[:, 0] = 1.0
    loss = CoTAPLoss(temperature=1e-3, reduction="none")
    want = sorted_ap(s, y)
    assert torch.allclose(loss.average_precision(s, y), want, atol=1e-12)
    assert torch.allclose(loss(s, y), 1 - want, atol=1e-12)
    for b in range(6):
        assert 1 - loss(s, y)[b].item() == pytest.approx(brute_force_ap(s[b], y[b]), abs=1e-12)


@pytest.mark.parametrize("tau", [0.01, 0.1, 1.0])
def test_binary_targets_give_smooth_ap(tau):
    gen = torch.Generator().manual_seed(2)
    s = torch.randn(5, 10, generator=gen, dtype=torch.float64) * 0.3  # ties and near ties
    s[0, 3] = s[0, 4]
    y = (torch.rand(5, 10, generator=gen) > 0.7).double()
    y[:, 2] = 1.0
    got = CoTAPLoss(temperature=tau, reduction="none")(s, y)
    for b in range(5):
        want = 1 - smooth_ap_reference(s[b], y[b].bool().tolist(), tau)
        assert got[b].item() == pytest.approx(want, abs=1e-12)


def test_sorting_by_relevance_maximises_continuous_ap():
    # the docstring's claim: the best ordering is by decreasing y, and its AP is < 1 for
    # soft targets (so the loss of a perfect ranking is positive)
    gen = torch.Generator().manual_seed(3)
    y = torch.rand(1, 6, generator=gen, dtype=torch.float64)
    best = sorted_ap(y, y).item()
    for perm in itertools.permutations(range(6)):
        s = torch.tensor([perm], dtype=torch.float64)
        assert sorted_ap(s, y).item() <= best + 1e-12
    assert best < 1
    loss = CoTAPLoss(temperature=1e-4)
    assert loss(y * 100, y).item() == pytest.approx(1 - best, abs=1e-9)
    binary = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    assert loss(torch.tensor([[4.0, 3.0, 2.0, 1.0]]), binary).item() == pytest.approx(0, abs=1e-6)
    # worst order: positives at ranks 3, 4 -> AP = (1/3 + 2/4) / 2
    worst = loss(torch.tensor([[1.0, 2.0, 3.0, 4.0]]), binary).item()
    assert worst == pytest.approx(1 - (1 / 3 + 1 / 2) / 2, abs=1e-6)


def test_ties_count_half():
    # two candidates with equal scores: sigma(0) = 1/2 each way
    loss = CoTAPLoss(temperature=0.01, reduction="none")
    got = loss(torch.tensor([[0.5, 0.5]], dtype=torch.float64),
               torch.tensor([[1.0, 0.0]], dtype=torch.float64))
    # positive 0: numerator 1, rank 1 + 1/2
    assert got.item() == pytest.approx(1 - 1 / 1.5, abs=1e-12)


# ---------------------------------------------------------------------------------------
# reductions, empty rows, dtypes, gradients


def test_reductions_and_rows_without_relevance():
    gen = torch.Generator().manual_seed(4)
    s = torch.randn(4, 7, generator=gen)
    y = torch.rand(4, 7, generator=gen)
    y[2] = 0.0  # no relevant candidate
    none = CoTAPLoss(reduction="none")(s, y)
    assert none.shape == (4,) and none.dtype == torch.float32
    assert none[2].item() == 0.0
    assert torch.isnan(CoTAPLoss().average_precision(s, y)[2])
    keep = torch.tensor([0, 1, 3])
    assert CoTAPLoss(reduction="mean")(s, y).item() == pytest.approx(
        none[keep].mean().item(), rel=1e-6)
    assert CoTAPLoss(reduction="sum")(s, y).item() == pytest.approx(none.sum().item(), rel=1e-6)
    assert ((none >= 0) & (none <= 1)).all()
    # the empty row gets no gradient, the others do; no NaN anywhere
    s.requires_grad_(True)
    CoTAPLoss()(s, y).backward()
    assert torch.isfinite(s.grad).all()
    assert (s.grad[2] == 0).all() and (s.grad[0] != 0).any()
    # no row with relevance: mean is 0 and still differentiable
    z = torch.zeros(2, 5)
    s2 = torch.randn(2, 5, generator=gen, requires_grad=True)
    out = CoTAPLoss()(s2, z)
    assert out.item() == 0.0
    out.backward()
    assert (s2.grad == 0).all()


def test_dtypes_and_target_kinds():
    gen = torch.Generator().manual_seed(5)
    s = torch.randn(3, 6, generator=gen)
    yb = torch.rand(3, 6, generator=gen) > 0.5
    yb[:, 0] = True
    loss = CoTAPLoss(reduction="none")
    ref = loss(s, yb.float())
    assert torch.equal(loss(s, yb), ref)  # bool targets
    assert torch.equal(loss(s, yb.long()), ref)  # integer 0/1 targets
    assert loss(s.double(), yb.double()).dtype == torch.float64
    assert loss(s.half(), yb).dtype == torch.float32  # half computed in float32
    assert torch.allclose(loss(s.double(), yb.double()).float(), ref, atol=1e-6)


def test_gradcheck_float64():
    gen = torch.Generator().manual_seed(6)
    s = torch.randn(3, 6, generator=gen, dtype=torch.float64, requires_grad=True)
    y = (0.1 + 0.8 * torch.rand(3, 6, generator=gen, dtype=torch.float64)).requires_grad_(True)
    for reduction in ("mean", "sum", "none"):
        loss = CoTAPLoss(temperature=0.5, reduction=reduction)
        assert torch.autograd.gradcheck(loss, (s, y), eps=1e-6, atol=1e-7)
    # small temperature, gradient w.r.t. the scores only
    assert torch.autograd.gradcheck(lambda a: CoTAPLoss(temperature=0.05)(a, y.detach()), (s,),
                                    eps=1e-7, atol=1e-6)


# ---------------------------------------------------------------------------------------
# validation and the module's place in the package


@pytest.mark.parametrize("scores, targets, match", [
    (torch.randn(5), torch.rand(5), "scores must have shape"),
    (torch.randn(2, 3, 4), torch.rand(2, 3, 4), "scores must have shape"),
    (torch.randn(0, 4), torch.rand(0, 4), "scores must have shape"),
    (torch.randn(2, 4), torch.rand(2, 5), "targets must have the shape"),
    (torch.randn(2, 4), torch.rand(4, 2), "targets must have the shape"),
    (torch.tensor([[0.1, float("nan")]]), torch.rand(1, 2), "scores must be finite"),
    (torch.tensor([[0.1, float("inf")]]), torch.rand(1, 2), "scores must be finite"),
    (torch.randn(1, 2), torch.tensor([[0.5, float("nan")]]), "targets must be finite"),
    (torch.randn(1, 2), torch.tensor([[0.5, 1.5]]), r"targets must lie in \[0, 1\]"),
    (torch.randn(1, 2), torch.tensor([[-0.1, 0.5]]), r"targets must lie in \[0, 1\]"),
    (torch.randn(1, 2), torch.tensor([[0, 2]]), r"targets must lie in \[0, 1\]"),
])
def test_value_errors(scores, targets, match):
    with pytest.raises(ValueError, match=match) as err:
        CoTAPLoss()(scores, targets)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match=match):
        CoTAPLoss().average_precision(scores, targets)


def test_type_and_parameter_errors():
    with pytest.raises(TypeError, match="scores must be a floating-point"):
        CoTAPLoss()(torch.tensor([[1, 2]]), torch.tensor([[1.0, 0.0]]))
    with pytest.raises(TypeError, match="scores must be a torch.Tensor"):
        CoTAPLoss()(np.zeros((1, 2)), torch.zeros(1, 2))
    with pytest.raises(TypeError, match="targets must be a torch.Tensor"):
        CoTAPLoss()(torch.zeros(1, 2), [[1.0, 0.0]])
    for bad in (0, -1.0, float("inf"), float("nan"), "x", None):
        with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
            CoTAPLoss(temperature=bad)
    assert CoTAPLoss(temperature=np.float32(0.05)).temperature == pytest.approx(0.05)
    with pytest.raises(ValueError, match="reduction must be one of"):
        CoTAPLoss(reduction="max")


def test_exported_but_not_a_classification_loss():
    assert "CoTAPLoss" in losses.__all__
    assert all(getattr(f, "func", f) is not CoTAPLoss for f in LOSSES.values())
    assert "cotap" not in LOSSES


# ---------------------------------------------------------------------------------------
# the test: a noisy toy retrieval problem, CoTAP against cross entropy
#
# Ten Gaussian clusters in 10-D; each point is a query against candidates of the training
# set, relevance = same cluster. The training targets are soft pseudo-labels, fixed per
# (query, candidate) pair: relevant pairs U(0.7, 1), irrelevant U(0, 0.3), and 30% of all
# pairs corrupted (y -> 1 - y). A linear map R^10 -> R^8 (cosine similarities as scores) is
# trained with Adam on the same batches and targets by (a) CoTAP (temperature 0.01, the
# Smooth-AP value for cosine similarities) and (b) the baseline: softmax cross entropy over
# the candidates against the targets normalised per row, -sum_j (y_j / sum y) log
# softmax(s / 0.1)_j. That baseline is the fair one: it is the listwise loss CoTAP replaces
# in the paper's setting (distilling a similarity map over candidates, as InfoNCE /
# SupCon-style multi-positive contrastive losses do, temperature 0.1 as there), it sees the
# same soft targets without thresholding them, and ranks the same candidate lists. Clean
# mAP is measured on held-out queries against a held-out gallery.

K, D, EMB, N_TRAIN, N_TEST = 10, 10, 8, 500, 500
STEPS, B, M, LR = 200, 32, 96, 0.01


def _toy_data(seed):
    gen = torch.Generator().manual_seed(seed)
    mu = torch.randn(K, D, generator=gen)
    mu = 3.0 * mu / mu.norm(dim=1, keepdim=True)

    def sample(n):
        lab = torch.randint(0, K, (n,), generator=gen)
        return mu[lab] + 0.8 * torch.randn(n, D, generator=gen), lab

    (xtr, ltr), (xte, lte) = sample(N_TRAIN), sample(N_TEST)
    clean = (ltr[:, None] == ltr[None, :]).float()
    soft = torch.where(clean > 0, 0.7 + 0.3 * torch.rand(clean.shape, generator=gen),
                       0.3 * torch.rand(clean.shape, generator=gen))
    corrupt = torch.rand(clean.shape, generator=gen) < 0.3
    noisy = torch.where(corrupt, 1 - soft, soft)
    return xtr, xte, lte, soft, noisy


def _softmax_ce(scores, targets, temperature=0.1):
    keep = targets.sum(1) > 0
    p = targets[keep] / targets[keep].sum(1, keepdim=True)
    return -(p * F.log_softmax(scores[keep] / temperature, dim=1)).sum(1).mean()


def _train_and_score(loss_name, seed, xtr, xte, lte, targets):
    torch.manual_seed(seed)
    net = torch.nn.Linear(D, EMB)
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    cotap = CoTAPLoss(temperature=0.01)
    gen = torch.Generator().manual_seed(seed + 1000)  # the same batches for both losses
    for _ in range(STEPS):
        iq = torch.randint(0, N_TRAIN, (B,), generator=gen)
        ic = torch.randint(0, N_TRAIN, (M,), generator=gen)
        y = targets[iq][:, ic]
        s = F.normalize(net(xtr[iq]), dim=1) @ F.normalize(net(xtr[ic]), dim=1).T
        loss = cotap(s, y) if loss_name == "cotap" else _softmax_ce(s, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        e = F.normalize(net(xte), dim=1)
        q, g = slice(0, N_TEST // 2), slice(N_TEST // 2, None)
        relevant = (lte[q][:, None] == lte[g][None, :]).float()
        return sorted_ap(e[q] @ e[g].T, relevant).nanmean().item()


def test_cotap_ranks_a_noisy_toy_retrieval_problem_better_than_cross_entropy():
    result = {}
    for seed in (0, 1, 2):
        xtr, xte, lte, soft, noisy = _toy_data(seed)
        for name in ("cotap", "ce"):
            result[name, "noisy", seed] = _train_and_score(name, seed, xtr, xte, lte, noisy)
            result[name, "clean", seed] = _train_and_score(name, seed, xtr, xte, lte, soft)
    seeds = (0, 1, 2)
    margin = [result["cotap", "noisy", s] - result["ce", "noisy", s] for s in seeds]
    # observed (torch 2.13 CPU): CoTAP 0.712 / 0.757 / 0.720, CE 0.529 / 0.614 / 0.606
    assert min(margin) > 0.04, result
    assert np.mean(margin) > 0.08, result
    # noise tolerance: corrupting 30% of the targets costs CoTAP less clean mAP than CE
    # (observed drops: CoTAP about 0.02, CE 0.08-0.16)
    drop = {name: np.mean([result[name, "clean", s] - result[name, "noisy", s] for s in seeds])
            for name in ("cotap", "ce")}
    assert drop["cotap"] < drop["ce"] - 0.04, (drop, result)
