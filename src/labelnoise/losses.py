"""Noise-robust classification losses as ``torch.nn.Module`` classes.

Every loss is called as ``loss(logits, labels)`` with ``logits`` a float tensor of shape
(N, K) (unnormalised scores) and ``labels`` an int64 tensor of shape (N,) with values in
[0, K); :class:`ELRLoss` also takes ``index``, the (N,) positions of the examples in the
training set. ``reduction`` is ``"mean"`` (default), ``"sum"`` or ``"none"`` (a (N,)
tensor of per-example losses), as in ``torch.nn.CrossEntropyLoss``. :data:`LOSSES` names them
all (``build_loss``, ``standard.fit(loss=...)`` and ``labelnoise train --loss`` read it).

Sources: GCE, Zhang & Sabuncu 2018 (NeurIPS), eq. 6; SCE, Wang et al. 2019 (ICCV), eq. 7-8;
NCE and RCE ("Active-Passive Loss"), Ma et al. 2020 (ICML), eq. 3 and 9; bootstrapping,
Reed et al. 2015 (ICLR workshop), section 3; ELR, Liu et al. 2020 (NeurIPS), eq. 5-6; label
smoothing, Szegedy et al. 2016 (CVPR), section 7.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import partial

import torch
from torch import nn
from torch.nn import functional as F

from labelnoise._validation import validate_choice

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(per_example: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return per_example.mean()
    if reduction == "sum":
        return per_example.sum()
    return per_example


class _Loss(nn.Module):
    #: True for losses whose forward needs the examples' dataset indices.
    needs_index = False

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = validate_choice(reduction, _REDUCTIONS, "reduction")


def _p_y(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.softmax(logits.float(), dim=1).gather(1, labels[:, None]).squeeze(1)


class CrossEntropy(_Loss):
    """Cross entropy ``-log p_y`` (the baseline, not robust)."""

    def forward(self, logits, labels):
        return F.cross_entropy(logits.float(), labels, reduction=self.reduction)


class GCELoss(_Loss):
    """Generalized cross entropy (Zhang & Sabuncu 2018, eq. 6): ``(1 - p_y ** q) / q``.

    Tends to cross entropy ``-log p_y`` as q -> 0 and equals the mean absolute error
    ``1 - p_y`` (half the L1 distance between p and the one-hot label) at q = 1.

    Args:
        q: in (0, 1]; the paper's default for CIFAR is 0.7.
        reduction: "mean", "sum" or "none".

    Raises:
        ValueError: q outside (0, 1].
    """

    def __init__(self, q: float = 0.7, reduction: str = "mean"):
        super().__init__(reduction)
        if not 0 < q <= 1:
            raise ValueError(f"q must lie in (0, 1], got {q}")
        self.q = float(q)

    def forward(self, logits, labels):
        p_y = _p_y(logits, labels).clamp_min(1e-7)
        return _reduce((1 - p_y**self.q) / self.q, self.reduction)


def _check_log_zero(A: float) -> float:
    """The RCE constant that replaces log 0 must be negative (ValueError otherwise)."""
    if A >= 0:
        raise ValueError(f"A (the value used for log 0) must be negative, got {A}")
    return float(A)


def _rce(logits: torch.Tensor, labels: torch.Tensor, A: float) -> torch.Tensor:
    # Reverse cross entropy -sum_k p_k log q_k with q the one-hot label and log 0 := A:
    # the K-1 wrong classes contribute -A * p_k each, i.e. -A * (1 - p_y).
    return -A * (1 - _p_y(logits, labels))


class SCELoss(_Loss):
    """Symmetric cross entropy (Wang et al. 2019, eq. 7-8): ``alpha * CE + beta * RCE``.

    RCE is the reverse cross entropy ``-sum_k p_k log q_k`` against the one-hot label q
    with ``log 0`` replaced by the constant ``A`` (paper: A = -4), which gives
    ``RCE = -A * (1 - p_y)``.

    Args:
        alpha, beta: weights; the paper uses alpha=0.1, beta=1.0 on CIFAR-10.
        A: the value of log 0 (< 0).
        reduction: "mean", "sum" or "none".
    """

    def __init__(self, alpha: float = 0.1, beta: float = 1.0, A: float = -4.0,
                 reduction: str = "mean"):
        super().__init__(reduction)
        self.alpha, self.beta, self.A = float(alpha), float(beta), _check_log_zero(A)

    def forward(self, logits, labels):
        ce = F.cross_entropy(logits.float(), labels, reduction="none")
        return _reduce(self.alpha * ce + self.beta * _rce(logits, labels, self.A), self.reduction)


class NCERCELoss(_Loss):
    """NCE+RCE, the Active-Passive Loss of Ma et al. 2020 (eq. 3 and 9).

    ``alpha * NCE + beta * RCE`` with normalised cross entropy
    ``NCE = -log p_y / (-sum_k log p_k)`` and the reverse cross entropy of
    :class:`SCELoss` (``-A * (1 - p_y)``, A = -4).

    Args:
        alpha, beta: weights; the paper uses alpha=1, beta=1 on CIFAR-10.
        A: the value of log 0 in RCE (< 0).
        reduction: "mean", "sum" or "none".
    """

    def __init__(self, alpha: float = 1.0, beta: float = 1.0, A: float = -4.0,
                 reduction: str = "mean"):
        super().__init__(reduction)
        self.alpha, self.beta, self.A = float(alpha), float(beta), _check_log_zero(A)

    def forward(self, logits, labels):
        log_p = F.log_softmax(logits.float(), dim=1)
        nce = log_p.gather(1, labels[:, None]).squeeze(1) / log_p.sum(dim=1)
        return _reduce(self.alpha * nce + self.beta * _rce(logits, labels, self.A),
                       self.reduction)


class BootstrappingLoss(_Loss):
    """Bootstrapping loss (Reed et al. 2015, section 3).

    * soft: ``-sum_k (beta * q_k + (1 - beta) * p_k) log p_k`` (q the one-hot label,
      p the prediction; gradients flow through both terms as in the paper, so the
      second term is an entropy regulariser); paper default beta = 0.95.
    * hard: ``-(beta * log p_y + (1 - beta) * log p_z)`` with ``z = argmax_k p_k``;
      paper default beta = 0.8.

    Args:
        mode: "soft" or "hard".
        beta: weight of the given label; None picks the paper's default for ``mode``.
        reduction: "mean", "sum" or "none".
    """

    def __init__(self, mode: str = "soft", beta: float | None = None, reduction: str = "mean"):
        super().__init__(reduction)
        self.mode = validate_choice(mode, ("soft", "hard"), "mode")
        self.beta = float(beta if beta is not None else (0.95 if mode == "soft" else 0.8))
        if not 0 <= self.beta <= 1:
            raise ValueError(f"beta must lie in [0, 1], got {self.beta}")

    def forward(self, logits, labels):
        log_p = F.log_softmax(logits.float(), dim=1)
        ce = -log_p.gather(1, labels[:, None]).squeeze(1)
        if self.mode == "soft":
            other = -(log_p.exp() * log_p).sum(dim=1)
        else:
            other = -log_p.max(dim=1).values
        return _reduce(self.beta * ce + (1 - self.beta) * other, self.reduction)


class LabelSmoothingLoss(_Loss):
    """Cross entropy against ``(1 - smoothing) * one_hot + smoothing / K`` (Szegedy et al. 2016)."""

    def __init__(self, smoothing: float = 0.1, reduction: str = "mean"):
        super().__init__(reduction)
        if not 0 <= smoothing <= 1:
            raise ValueError(f"smoothing must lie in [0, 1], got {smoothing}")
        self.smoothing = float(smoothing)

    def forward(self, logits, labels):
        return F.cross_entropy(logits.float(), labels, reduction=self.reduction,
                               label_smoothing=self.smoothing)


class ELRLoss(_Loss):
    """Early-learning regularization (Liu et al. 2020, eq. 5-6).

    Keeps for every training example i a target ``t_i``, a moving average of the model's
    predictions: at each call, for the examples in ``index``,
    ``t_i <- beta * t_i + (1 - beta) * p_i / sum(p_i)`` with p the softmax clamped to
    [1e-4, 1 - 1e-4] and detached (as in the official code). The loss is
    ``CE(p, y) + lam * log(1 - <p_i, t_i>)``, which pulls p towards the early-learning
    targets and away from memorising wrong labels.

    Args:
        num_examples: N, the size of the training set (the length of the target table).
        num_classes: K.
        lam: regularization weight lambda; paper: 3 for CIFAR-10, 7 for CIFAR-100.
        beta: moving-average momentum; paper: 0.7 for CIFAR-10, 0.9 for CIFAR-100.
        reduction: "mean", "sum" or "none".

    Attributes:
        target: (N, K) float32 buffer of targets (saved with ``state_dict``), zeros
            until an example is first seen.
    """

    needs_index = True

    def __init__(self, num_examples: int, num_classes: int, lam: float = 3.0,
                 beta: float = 0.7, reduction: str = "mean"):
        super().__init__(reduction)
        if not 0 <= beta < 1:
            raise ValueError(f"beta must lie in [0, 1), got {beta}")
        self.lam, self.beta = float(lam), float(beta)
        self.register_buffer("target", torch.zeros(int(num_examples), int(num_classes)))

    def forward(self, logits, labels, index):
        p = F.softmax(logits.float(), dim=1).clamp(1e-4, 1 - 1e-4)
        with torch.no_grad():
            if self.training:
                p_det = p.detach()
                self.target[index] = self.beta * self.target[index] + (1 - self.beta) * (
                    p_det / p_det.sum(dim=1, keepdim=True))
        ce = F.cross_entropy(logits.float(), labels, reduction="none")
        reg = torch.log1p(-(self.target[index] * p).sum(dim=1))
        return _reduce(ce + self.lam * reg, self.reduction)


#: name -> loss factory: the one list of losses (``build_loss``, ``standard.fit(loss=...)``
#: and the ``--loss`` choices of ``labelnoise train`` read it). A factory is a loss class or a
#: ``functools.partial`` of one; :func:`build_loss` passes it ``num_classes`` and
#: ``num_examples`` when its constructor takes them. Adding a loss: its class above and one
#: line here.
LOSSES: dict[str, Callable[..., nn.Module]] = {
    "ce": CrossEntropy,
    "gce": GCELoss,
    "sce": SCELoss,
    "nce+rce": NCERCELoss,
    "bootstrap-soft": partial(BootstrappingLoss, mode="soft"),
    "bootstrap-hard": partial(BootstrappingLoss, mode="hard"),
    "elr": ELRLoss,
    "label-smoothing": LabelSmoothingLoss,
}
LOSS_NAMES = tuple(LOSSES)


def build_loss(name: str, num_classes: int, *, num_examples: int | None = None,
               reduction: str = "mean", **kwargs) -> nn.Module:
    """Build a loss by name.

    Args:
        name: a key of :data:`LOSSES`: ``"ce"``, ``"gce"``, ``"sce"``, ``"nce+rce"``,
            ``"bootstrap-soft"``, ``"bootstrap-hard"``, ``"elr"``, ``"label-smoothing"``.
        num_classes: K.
        num_examples: N, required by losses with per-example state (``"elr"``: its (N, K)
            target table).
        reduction: "mean", "sum" or "none".
        **kwargs: the loss's hyperparameters (q, alpha, beta, A, lam, smoothing).

    Returns:
        The loss module, called as ``loss(logits, labels)`` (``loss(logits, labels, index)``
        when its ``needs_index`` is True).

    Raises:
        ValueError: unknown name, a loss with per-example state without ``num_examples``,
            or invalid hyperparameters (see each class).
    """
    factory = LOSSES[validate_choice(name, LOSS_NAMES, "loss")]
    params = inspect.signature(factory).parameters
    if "num_classes" in params:
        kwargs["num_classes"] = num_classes
    if "num_examples" in params:
        if num_examples is None:
            raise ValueError(f"build_loss({name!r}, ...) needs num_examples (the training set "
                             "size N)")
        kwargs["num_examples"] = num_examples
    return factory(reduction=reduction, **kwargs)


__all__ = ["LOSSES", "LOSS_NAMES", "build_loss",
           *dict.fromkeys(getattr(f, "func", f).__name__ for f in LOSSES.values())]
