"""Robust losses: hand-computed values, known limits, reductions, ELR's moving average."""

import math

import pytest
import torch

from labelnoise.losses import (
    LOSS_NAMES,
    BootstrappingLoss,
    CrossEntropy,
    ELRLoss,
    GCELoss,
    LabelSmoothingLoss,
    NCERCELoss,
    SCELoss,
    build_loss,
)

torch.set_num_threads(2)

# two classes, logits (0, ln 3) -> p = (0.25, 0.75)
LOGITS = torch.tensor([[0.0, math.log(3.0)]])
P = (0.25, 0.75)


def test_gce_hand_value():
    got = GCELoss(q=0.7)(LOGITS, torch.tensor([1]))
    assert got.item() == pytest.approx((1 - 0.75**0.7) / 0.7, rel=1e-6)
    assert got.item() == pytest.approx(0.260566, abs=1e-6)


def test_gce_limits():
    torch.manual_seed(0)
    logits, labels = torch.randn(32, 5), torch.randint(0, 5, (32,))
    ce = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
    near_zero = GCELoss(q=1e-4, reduction="none")(logits, labels)
    assert torch.allclose(near_zero, ce, rtol=1e-3, atol=1e-4)
    p_y = torch.softmax(logits, 1).gather(1, labels[:, None]).squeeze(1)
    assert torch.allclose(GCELoss(q=1.0, reduction="none")(logits, labels), 1 - p_y, atol=1e-6)
    # GCE decreases towards CE monotonically in q for a fixed example (CE is the q -> 0 limit)
    vals = [GCELoss(q=q)(LOGITS, torch.tensor([0])).item() for q in (1.0, 0.7, 0.3, 0.01)]
    assert vals == sorted(vals)
    assert vals[-1] < -math.log(0.25) and -math.log(0.25) - vals[-1] < 0.02
    with pytest.raises(ValueError, match="q"):
        GCELoss(q=0.0)


def test_sce_hand_value_and_definition():
    got = SCELoss(alpha=0.1, beta=1.0)(LOGITS, torch.tensor([1])).item()
    # CE = -ln 0.75; RCE = -A * p_0 = 4 * 0.25
    assert got == pytest.approx(0.1 * -math.log(0.75) + 1.0, rel=1e-6)
    # RCE from its definition -sum_k p_k log q_k with log 0 := A
    torch.manual_seed(1)
    logits, labels = torch.randn(16, 4), torch.randint(0, 4, (16,))
    p = torch.softmax(logits, 1)
    log_q = torch.full((16, 4), -4.0).scatter(1, labels[:, None], 0.0)
    rce = -(p * log_q).sum(1)
    only_rce = SCELoss(alpha=0.0, beta=1.0, reduction="none")(logits, labels)
    assert torch.allclose(only_rce, rce, atol=1e-6)


def test_nce_rce_hand_value():
    got = NCERCELoss(alpha=1.0, beta=1.0)(LOGITS, torch.tensor([1])).item()
    nce = math.log(0.75) / (math.log(0.25) + math.log(0.75))
    assert nce == pytest.approx(0.17186, abs=1e-5)
    assert got == pytest.approx(nce + 4 * 0.25, rel=1e-6)
    # NCE is normalised: summed over all possible labels it is exactly 1
    torch.manual_seed(2)
    logits = torch.randn(8, 6)
    total = sum(NCERCELoss(alpha=1.0, beta=0.0, reduction="none")(
        logits, torch.full((8,), k)) for k in range(6))
    assert torch.allclose(total, torch.ones(8), atol=1e-5)


def test_bootstrapping_hand_values():
    soft = BootstrappingLoss("soft")(LOGITS, torch.tensor([1])).item()
    assert soft == pytest.approx(-(0.0125 * math.log(0.25) + 0.9875 * math.log(0.75)), rel=1e-6)
    hard = BootstrappingLoss("hard")(LOGITS, torch.tensor([0])).item()
    # hard: beta = 0.8 on the label (class 0), 0.2 on the argmax (class 1)
    assert hard == pytest.approx(-(0.8 * math.log(0.25) + 0.2 * math.log(0.75)), rel=1e-6)
    # beta = 1 is plain cross entropy
    assert BootstrappingLoss("soft", beta=1.0)(LOGITS, torch.tensor([0])).item() == pytest.approx(
        -math.log(0.25), rel=1e-6)


def test_label_smoothing_hand_value():
    got = LabelSmoothingLoss(0.1)(LOGITS, torch.tensor([1])).item()
    assert got == pytest.approx(-(0.05 * math.log(0.25) + 0.95 * math.log(0.75)), rel=1e-6)


def test_elr_target_moving_average_and_value():
    loss = ELRLoss(num_examples=4, num_classes=2, lam=3.0, beta=0.7)
    index = torch.tensor([2])
    out1 = loss(LOGITS, torch.tensor([1]), index)
    t1 = 0.3 * torch.tensor(P)
    assert torch.allclose(loss.target[2], t1, atol=1e-6)
    assert torch.count_nonzero(loss.target[[0, 1, 3]]) == 0
    expected1 = -math.log(0.75) + 3.0 * math.log(1 - (t1 * torch.tensor(P)).sum().item())
    assert out1.item() == pytest.approx(expected1, rel=1e-5)
    # second visit with other logits: t <- 0.7 t + 0.3 p2
    logits2 = torch.tensor([[math.log(4.0), 0.0]])  # p = (0.8, 0.2)
    loss(logits2, torch.tensor([1]), index)
    t2 = 0.7 * t1 + 0.3 * torch.tensor([0.8, 0.2])
    assert torch.allclose(loss.target[2], t2, atol=1e-6)
    # eval mode reads the targets without updating them
    loss.eval()
    loss(LOGITS, torch.tensor([1]), index)
    assert torch.allclose(loss.target[2], t2, atol=1e-6)


def test_elr_regulariser_pulls_towards_target():
    loss = ELRLoss(num_examples=1, num_classes=3, lam=3.0, beta=0.7)
    loss.target[0] = torch.tensor([0.9, 0.05, 0.05])
    loss.eval()
    logits = torch.zeros(1, 3, requires_grad=True)
    loss(logits, torch.tensor([2]), torch.tensor([0])).backward()
    ce_grad = torch.softmax(torch.zeros(1, 3), 1) - torch.tensor([[0.0, 0.0, 1.0]])
    # the regulariser adds a negative gradient on the target's class 0 (raising its logit)
    assert logits.grad[0, 0] < ce_grad[0, 0]


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_reductions_agree(name):
    torch.manual_seed(3)
    logits, labels, index = torch.randn(10, 4), torch.randint(0, 4, (10,)), torch.arange(10)
    losses = {r: build_loss(name, 4, num_examples=10, reduction=r) for r in ("none", "sum", "mean")}
    vals = {}
    for r, fn in losses.items():
        vals[r] = fn(logits, labels, index) if fn.needs_index else fn(logits, labels)
    assert vals["none"].shape == (10,)
    assert torch.isfinite(vals["none"]).all()
    assert vals["sum"].item() == pytest.approx(vals["none"].sum().item(), rel=1e-5)
    assert vals["mean"].item() == pytest.approx(vals["none"].mean().item(), rel=1e-5)


def test_ce_matches_torch_and_errors():
    torch.manual_seed(4)
    logits, labels = torch.randn(6, 3), torch.randint(0, 3, (6,))
    assert torch.allclose(CrossEntropy()(logits, labels),
                          torch.nn.functional.cross_entropy(logits, labels))
    with pytest.raises(ValueError, match="reduction"):
        GCELoss(reduction="avg")
    with pytest.raises(ValueError, match="loss"):
        build_loss("focal", 3)
    with pytest.raises(ValueError, match="num_examples"):
        build_loss("elr", 3)
    with pytest.raises(ValueError, match="A"):
        SCELoss(A=4.0)
    # the two terms' weights: finite, >= 0, not both 0 (NaN would train a network of NaNs)
    for name in ("sce", "nce+rce"):
        for kw, match in (({"alpha": float("nan")}, "alpha must be a finite number >= 0"),
                          ({"beta": -1.0}, "beta must be a finite number >= 0"),
                          ({"alpha": 0.0, "beta": 0.0}, "both 0"),
                          ({"A": float("-inf")}, r"A \(the value used for log 0\) must be a finite number < 0")):
            with pytest.raises(ValueError, match=match):
                build_loss(name, 3, **kw)
    with pytest.raises(ValueError, match="lam must be a finite number >= 0"):
        build_loss("elr", 3, num_examples=5, lam=float("inf"))
