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
smoothing, Szegedy et al. 2016 (CVPR), section 7; LDR-KL and ALDR-KL, Zhu, Ying & Yang 2023
(ICML), "Label Distributionally Robust Losses for Multi-class Classification".

:class:`ForwardCorrectedLoss` (forward loss correction, Patrini et al. 2017, CVPR) needs the
noise matrix, so it is not in :data:`LOSSES`; the training method ``forward`` builds
it (exported in ``__all__``). Likewise :class:`TruncatedGCELoss` (the truncated Lq loss of
the GCE paper, section 3.3), whose pruning step reads the network's predictions on the whole
training set: the training method ``truncated-gce`` builds and prunes it.

:class:`CoTAPLoss` is a ranking loss, not a classification loss: it is called as
``loss(scores, targets)`` with (B, M) query-candidate scores and soft relevance targets, and
is therefore not in :data:`LOSSES` (it is exported in ``__all__``). Source: Wen, Xu, Dai,
Cong & Huang 2025, "Semantic Concentration for Self-Supervised Dense Representations
Learning" (arXiv 2509.09429), built on Smooth-AP, Brown et al. 2020 (ECCV).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from functools import partial

import torch
from torch import nn
from torch.nn import functional as F

from labelnoise._validation import check_real, validate_choice, validate_noise_matrix

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


def _check_q(q: float) -> float:
    return check_real(q, "q", low=0, strict=True, high=1, high_inclusive=True)


def _lq(p_y, q: float):
    """GCE's Lq loss ``(1 - p_y ** q) / q`` (Zhang & Sabuncu 2018, eq. 6), of a tensor or a
    float ``p_y``."""
    return (1 - p_y**q) / q


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
        self.q = _check_q(q)

    def forward(self, logits, labels):
        p_y = _p_y(logits, labels).clamp_min(1e-7)
        return _reduce(_lq(p_y, self.q), self.reduction)


def _check_log_zero(A: float) -> float:
    """The RCE constant that replaces log 0 must be a finite negative number (ValueError
    otherwise)."""
    return check_real(A, "A (the value used for log 0)", high=0)


def _check_weights(alpha: float, beta: float) -> tuple[float, float]:
    """The two terms' weights of SCE / NCE+RCE: finite, >= 0, not both 0."""
    alpha, beta = check_real(alpha, "alpha", low=0), check_real(beta, "beta", low=0)
    if alpha == 0 and beta == 0:
        raise ValueError("alpha and beta are both 0: the loss would be 0")
    return alpha, beta


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
        (self.alpha, self.beta), self.A = _check_weights(alpha, beta), _check_log_zero(A)

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
        (self.alpha, self.beta), self.A = _check_weights(alpha, beta), _check_log_zero(A)

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
        self.beta = check_real(beta if beta is not None else (0.95 if mode == "soft" else 0.8),
                               "beta", low=0, high=1, high_inclusive=True)

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
        self.smoothing = check_real(smoothing, "smoothing", low=0, high=1, high_inclusive=True)

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
        self.lam = check_real(lam, "lam", low=0)
        self.beta = check_real(beta, "beta", low=0, high=1)
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


class LDRKLLoss(_Loss):
    r"""Label-distributionally robust loss with a KL regulariser, LDR-KL, and its adaptive
    variant ALDR-KL (Zhu, Ying & Yang 2023, "Label Distributionally Robust Losses for
    Multi-class Classification: Consistency, Robustness and Adaptivity", ICML).

    With scores ``s`` (B, K) from the logits and margins ``d_k = c * [k != y] + s_k - s_y``,
    LDR-KL takes the worst case over label distributions ``p`` in the simplex of the
    expected margin minus ``lam`` times ``KL(p || uniform)``, which has a closed form::

        psi_lam(s, y) = max_p  sum_k p_k d_k - lam * KL(p, 1/K)
                      = lam * log( (1/K) * sum_k exp(d_k / lam) )

    (the maximiser is ``p = softmax(d / lam)``; computed with ``logsumexp``). Limits: as
    ``lam -> 0`` it tends to the Crammer-Singer multi-class hinge
    ``max(0, max_{k != y} (c + s_k - s_y))``; as ``lam -> inf`` to the mean margin
    ``c (K - 1) / K + mean_k(s_k) - s_y``, linear in the scores and symmetric (its sum over
    the K possible labels does not depend on ``s``), the property that makes a loss robust
    to symmetric label noise (Ghosh et al. 2017). With ``lam = 1``, ``margin = 0`` and
    ``normalize=False`` it is cross entropy minus ``log K``.

    Scores: with ``normalize=True`` (default, as the authors' code does) the scores are
    ``softplus(z) / mean_k softplus(z)`` (positive, mean 1, so bounded in [0, K]), which
    keeps the large-``lam`` limit bounded (the MAE-like regime); ``normalize=False`` uses the
    logits ``z`` as they are.

    ALDR-KL (``alpha`` given): every example gets its own temperature, the adversary also
    choosing ``lam`` near ``lam_0 = lam`` under a quadratic penalty (scaled as in the authors'
    code)::

        psi(s, y) = max_{lam_i, p}  sum_k p_k d_k - lam_i * KL(p, 1/K)
                                    - alpha * log(K) / (2 * lam_0) * (lam_i - lam_0) ** 2

    The stationary condition in ``lam_i`` is
    ``lam_i = lam_0 * (1 - KL(softmax(d / lam_i), 1/K) / (alpha * log K))``, in
    ``[lam_0 (1 - 1/alpha), lam_0]``: confident predictions (large KL to uniform) get a
    smaller temperature (towards the consistent, CE/hinge-like end), uncertain ones stay near
    ``lam_0`` (the robust end). It is solved per example by bisection (50 halvings, no
    gradient; the authors' code instead takes one alternating step per visit of the example,
    from the previous visit's value, which needs per-example state). The gradient is that of
    ``psi_{lam_i}`` at the fixed ``lam_i``, which by the envelope theorem is the gradient of the
    maximum. The loss value includes the penalty term.

    Defaults are those of the authors' experiment script (github.com/Optimization-AI/
    ICML2023_LDR): ``lam = 10``, ``margin = 0.1``, ``alpha = 2`` (registered as ``"aldr-kl"``).

    Args:
        lam: the temperature lambda (> 0); for ALDR-KL the reference ``lam_0``.
        margin: the margin c (>= 0) added to every wrong class.
        alpha: None for LDR-KL (fixed ``lam``); a float > 1 for ALDR-KL.
        normalize: score normalisation (see above).
        reduction: "mean", "sum" or "none".

    Called as ``loss(logits, labels)`` with ``logits`` float (B, K) (float64 is kept as
    float64, other dtypes are computed in float32) and ``labels`` int64 (B,) in [0, K).

    Raises:
        ValueError: ``lam`` not a positive finite number, ``margin`` negative or not finite,
            ``alpha`` not > 1.
    """

    #: bisection halvings for the per-example temperature of ALDR-KL
    BISECTION_STEPS = 50

    def __init__(self, lam: float = 10.0, margin: float = 0.1, alpha: float | None = None,
                 normalize: bool = True, reduction: str = "mean"):
        super().__init__(reduction)
        self.lam = check_real(lam, "lam", low=0, strict=True)
        self.margin = check_real(margin, "margin", low=0)
        self.alpha = None if alpha is None else check_real(alpha, "alpha", low=1, strict=True)
        self.normalize = bool(normalize)

    def margins(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The margins ``d`` (B, K): ``c * [k != y] + s_k - s_y`` (``d_y = 0``)."""
        z = logits if logits.dtype == torch.float64 else logits.float()
        if self.normalize:
            sp = F.softplus(z)
            z = sp / sp.mean(dim=1, keepdim=True).clamp_min(torch.finfo(z.dtype).tiny)
        d = z - z.gather(1, labels[:, None]) + self.margin
        return d.scatter(1, labels[:, None], 0.0)

    @staticmethod
    def _psi(d: torch.Tensor, lam: torch.Tensor | float) -> torch.Tensor:
        # lam * log((1/K) sum_k exp(d_k / lam)), lam a float or a (B,) tensor
        col = lam[:, None] if isinstance(lam, torch.Tensor) else lam
        return lam * (torch.logsumexp(d / col, dim=1) - math.log(d.shape[1]))

    @torch.no_grad()
    def adaptive_lambda(self, d: torch.Tensor) -> torch.Tensor:
        """ALDR-KL's per-example temperature (B,) for margins ``d`` (B, K): the root of
        ``lam_0 (1 - KL(softmax(d / lam), 1/K) / (alpha log K)) - lam`` in
        ``[lam_0 (1 - 1/alpha), lam_0]``, by bisection."""
        k = d.shape[1]
        log_k = math.log(k)
        lam0 = self.lam
        lo = torch.full(d.shape[:1], lam0 * (1 - 1 / self.alpha), dtype=d.dtype, device=d.device)
        hi = torch.full_like(lo, lam0)
        for _ in range(self.BISECTION_STEPS):
            mid = 0.5 * (lo + hi)
            log_p = F.log_softmax(d / mid[:, None], dim=1)
            kl = (log_p.exp() * log_p).sum(dim=1) + log_k
            above = lam0 * (1 - kl / (self.alpha * log_k)) > mid  # root lies above mid
            lo = torch.where(above, mid, lo)
            hi = torch.where(above, hi, mid)
        return 0.5 * (lo + hi)

    def forward(self, logits, labels):
        d = self.margins(logits, labels)
        if self.alpha is None:
            return _reduce(self._psi(d, self.lam), self.reduction)
        lam_i = self.adaptive_lambda(d.detach())
        penalty = self.alpha * math.log(d.shape[1]) / (2 * self.lam) * (lam_i - self.lam) ** 2
        return _reduce(self._psi(d, lam_i) - penalty, self.reduction)


class TruncatedGCELoss(_Loss):
    r"""The truncated Lq loss (Zhang & Sabuncu 2018, section 3.3, eq. 9-11): GCE with the
    examples whose given label the model finds unlikely pruned.

    ``L_trunc(p, y) = Lq(k)`` when ``p_y <= k``, ``Lq(p_y) = (1 - p_y ** q) / q`` otherwise
    (eq. 9): a constant, so no gradient, for an example whose given label has probability at
    most ``k``. The paper optimises it by alternating (its Algorithm 1, "ACS") between the
    network and binary per-example weights ``w_i``, minimising
    ``sum_i w_i (Lq(p_{i, y_i}) - Lq(k))``: for a fixed network the best ``w_i`` is
    ``[p_{i, y_i} > k]`` (the "pruning" step, :meth:`prune`), for fixed weights the network
    takes gradient steps on the weighted Lq loss. This module holds the weights and computes
    ``w_i (Lq(p_y) - Lq(k))`` per example; the training method ``truncated-gce``
    (:mod:`labelnoise.training.truncated_gce`) calls :meth:`prune` on the schedule of the
    paper. Until the first pruning every weight is 1 and the gradient is GCE's.

    Args:
        num_examples: N, the size of the training set (the length of the weight table).
        q: in (0, 1]; the paper's 0.7.
        k: the truncation threshold in (0, 1); the paper's 0.5.
        reduction: "mean" (over the batch, pruned examples included as zeros, as in the
            objective above), "sum" or "none".

    Called as ``loss(logits, labels, index)`` (``needs_index``): logits float (B, K), labels
    int64 (B,), index int64 (B,) positions in the training set.

    Attributes:
        weight: (N,) float32 buffer of the weights ``w_i`` in {0, 1} (saved with
            ``state_dict``).

    Raises:
        ValueError: q outside (0, 1], k outside (0, 1), num_examples < 1.
    """

    needs_index = True

    def __init__(self, num_examples: int, q: float = 0.7, k: float = 0.5,
                 reduction: str = "mean"):
        super().__init__(reduction)
        self.q = _check_q(q)
        self.k = check_real(k, "k", low=0, strict=True, high=1)
        if int(num_examples) < 1:
            raise ValueError(f"num_examples must be >= 1, got {num_examples}")
        self.register_buffer("weight", torch.ones(int(num_examples)))

    def forward(self, logits, labels, index):
        p_y = _p_y(logits, labels).clamp_min(1e-7)
        per = (_lq(p_y, self.q) - _lq(self.k, self.q)) * self.weight[index]
        return _reduce(per, self.reduction)

    @torch.no_grad()
    def prune(self, p_y: torch.Tensor, index: torch.Tensor | None = None) -> float:
        """The pruning step: ``w_i = [p_{i, y_i} > k]`` for the examples of ``index`` (all N
        when None), from ``p_y`` (float (len(index),) or (N,)), the probabilities of their
        given labels under the current network. Returns the fraction of all N weights that
        are 1 afterwards."""
        keep = (p_y.to(self.weight.device) > self.k).to(self.weight.dtype)
        if index is None:
            if keep.shape != self.weight.shape:
                raise ValueError(f"p_y must have shape {tuple(self.weight.shape)} when index "
                                 f"is None, got {tuple(keep.shape)}")
            self.weight.copy_(keep)
        else:
            self.weight[index] = keep
        return float(self.weight.mean())


class ForwardCorrectedLoss(_Loss):
    r"""Cross entropy after forward loss correction (Patrini, Rozza, Krishna Menon, Nock
    & Qu 2017, "Making Deep Neural Networks Robust to Label Noise: a Loss Correction
    Approach", CVPR, section 3.2, Theorem 2).

    The network's softmax ``p(true | x)`` (B, K) is pushed through the noise matrix
    ``T[i, j] = P(given = i | true = j)`` to the distribution of the given label,
    ``q = p @ T.T``, and the loss is ``-log q_y`` for the given label ``y``. Its minimiser
    over ``p`` is the clean class posterior when ``T`` is the true noise matrix of
    class-conditional noise (the paper's Theorem 2), so the network predicts clean classes
    although it is trained on noisy ones. ``q`` is clamped below at 1e-12 (a label that
    ``T`` makes impossible would otherwise give ``inf``).

    Not in :data:`LOSSES`, because it needs the noise matrix: the training method
    ``forward`` (:mod:`labelnoise.training.forward`) builds it, from a given matrix or one
    estimated by confident learning during training.

    Args:
        noise_matrix: float (K, K), ``P(given = i | true = j)`` at ``[i, j]`` (columns sum
            to 1; the convention of :func:`labelnoise.count.estimate_noise`).
        reduction: "mean", "sum" or "none".

    Raises:
        ValueError: ``noise_matrix`` not square, with NaN/inf or negative entries, or with a
            column that does not sum to 1.
    """

    def __init__(self, noise_matrix, reduction: str = "mean"):
        super().__init__(reduction)
        if isinstance(noise_matrix, torch.Tensor):
            noise_matrix = noise_matrix.detach().cpu().double().numpy()
        matrix = validate_noise_matrix(noise_matrix, atol=1e-4)
        # stored transposed: q = p @ T.T
        self.register_buffer("transition", torch.as_tensor(matrix.T.copy(), dtype=torch.float32))

    @property
    def noise_matrix(self) -> torch.Tensor:
        """The (K, K) noise matrix ``P(given = i | true = j)`` (float32, on the loss's device)."""
        return self.transition.T

    def forward(self, logits, labels):
        if logits.shape[1] != self.transition.shape[0]:
            raise ValueError(f"logits have {logits.shape[1]} classes but noise_matrix is "
                             f"{tuple(self.transition.shape)}")
        q = F.softmax(logits.float(), dim=1) @ self.transition
        q_y = q.gather(1, labels[:, None]).squeeze(1)
        return _reduce(-torch.log(q_y.clamp_min(1e-12)), self.reduction)


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
    "ldr-kl": LDRKLLoss,
    "aldr-kl": partial(LDRKLLoss, alpha=2.0),
}
LOSS_NAMES = tuple(LOSSES)


def build_loss(name: str, num_classes: int, *, num_examples: int | None = None,
               reduction: str = "mean", **kwargs) -> nn.Module:
    """Build a loss by name.

    Args:
        name: a key of :data:`LOSSES`: ``"ce"``, ``"gce"``, ``"sce"``, ``"nce+rce"``,
            ``"bootstrap-soft"``, ``"bootstrap-hard"``, ``"elr"``, ``"label-smoothing"``,
            ``"ldr-kl"``, ``"aldr-kl"``.
        num_classes: K.
        num_examples: N, required by losses with per-example state (``"elr"``: its (N, K)
            target table).
        reduction: "mean", "sum" or "none".
        **kwargs: the loss's hyperparameters (q, alpha, beta, A, lam, smoothing, margin).

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


# ---------------------------------------------------------------------------------------
# ranking losses: called as loss(scores, targets), not in LOSSES (a classification registry)


class CoTAPLoss(nn.Module):
    r"""Continuous-target average-precision loss, CoTAP (Wen, Xu, Dai, Cong & Huang 2025,
    "Semantic Concentration for Self-Supervised Dense Representations Learning", arXiv
    2509.09429): ``1 - AP`` of each query's ranking of its candidates, with the relevance of
    a candidate a soft value in [0, 1] (a noisy pseudo-label) instead of 0/1. The paper uses
    it to distil a teacher's patch-similarity maps (the soft targets) into a student (the
    scores), crediting its noise tolerance to AP's "decision-agnostic and adaptive focusing
    properties". Our reading of these: the targets are used as they are, with no threshold
    deciding positives from negatives, and the loss is bounded and rank-based, so a wrong
    pseudo-label costs only the ranks it affects, and pairs already ordered with a margin
    (compared with the temperature) get almost no gradient.

    **Definition.** For one query with scores ``s`` (M,) and relevances ``y`` (M,) in
    [0, 1], the exact continuous-target AP, with ``H`` the step function (``H(x) = 1`` for
    ``x > 0``, else 0; scores assumed distinct), is::

        R_i     = 1   + sum_{j != i} H(s_j - s_i)          (rank of candidate i)
        R_i^+   = y_i + sum_{j != i} y_j H(s_j - s_i)      (relevance ranked at or above i)
        AP(s, y) = (1 / sum_i y_i) * sum_i y_i * R_i^+ / R_i

    i.e. the relevance-weighted mean, over candidates, of the precision at each candidate's
    rank, precision being the mean relevance of the candidates ranked at or above it. With
    binary ``y`` it is exactly the AP of retrieval (the mean over positives of
    ``#positives ranked at or above / rank``). The loss replaces ``H(x)`` by the sigmoid
    ``sigma(x / temperature)`` (the self term stays 1), which is the Smooth-AP of Brown et
    al. 2020 (ECCV, "Smooth-AP: Smoothing the Path Towards Large-Scale Image Retrieval",
    section 3, their ``G(D_ij; tau)``) with the set of positives replaced by the weights
    ``y``::

        loss = 1 - (1 / sum_i y_i) * sum_i y_i * (y_i + sum_{j != i} y_j sigma((s_j - s_i)/t))
                                              / (1   + sum_{j != i}     sigma((s_j - s_i)/t))

    For binary targets this is exactly the Smooth-AP loss; as ``t -> 0`` it tends to
    ``1 - AP(s, y)`` above (``tests/test_cotap.py`` checks both).

    **What the sources leave open, and our choices.** The CoTAP equations themselves were
    not available to us (only the abstract and summaries of the paper: "extending the AP
    loss to continuous targets"); the formula above is the direct extension of Smooth-AP,
    obtained by replacing every positive indicator with its relevance ``y`` (in the
    numerator count of the precision and in the weight of the average), and its equation
    numbers in the paper are not cited for that reason. Further choices:

    * smoothing: the sigmoid with temperature (Smooth-AP's; the paper's exact surrogate is
      not known to us); default ``temperature = 0.01``, Smooth-AP's value for cosine
      similarities in [-1, 1]. Scale it with the spread of your scores;
    * ties: ``sigma(0) = 1/2``, so tied candidates count as half above each other;
    * the maximum of ``AP(s, y)`` over orderings is reached by sorting candidates by
      decreasing ``y`` (an adjacent swap that puts the larger ``y`` first never lowers it)
      but is below 1 when some ``y`` lie strictly between 0 and 1, so the loss of a perfect
      ranking of soft targets is positive; we do not divide by that ideal AP (an NDCG-like
      normalisation), which would only rescale each row's loss and gradient;
    * rows whose relevances sum to 0 have no AP: their loss is 0 with zero gradient (not
      NaN), and ``"mean"`` averages over the other rows only (the usual mAP convention:
      queries with no relevant candidate are left out); 0 if no row has relevance;
    * ``targets`` are not detached: for a stop-gradient teacher (the usual self-distillation
      set-up) pass ``targets.detach()``.

    Args:
        temperature: the sigmoid temperature ``t`` (> 0, finite).
        reduction: ``"mean"`` (over the rows with positive total relevance), ``"sum"`` or
            ``"none"`` (a (B,) tensor, 0 for rows without relevance).

    Called as ``loss(scores, targets)``:

    * ``scores``: float tensor (B, M), row b holding query b's scores (e.g. similarities)
      for its M candidates, higher = ranked first; float64 is kept as float64, other
      floating dtypes are computed in float32;
    * ``targets``: tensor (B, M) of relevances in [0, 1] (floating, bool or integer 0/1).

    Returns ``1 - AP``: a scalar (``"mean"``, ``"sum"``) or (B,) (``"none"``), in [0, 1]
    per row.

    Memory and time are O(B M^2): the (B, M, M) matrix of pairwise sigmoids (about three
    such tensors live at once with autograd). For large M, rank each query against a
    sampled subset of candidates.

    Not in :data:`LOSSES` (a registry of classification losses over logits and integer
    labels, read by ``build_loss`` and ``labelnoise train --loss``); import it as
    ``from labelnoise.losses import CoTAPLoss``.

    Raises:
        ValueError: ``temperature`` not a positive finite number; ``scores`` not 2-D or
            empty; ``targets`` not of the shape of ``scores``; ``scores`` or ``targets``
            holding NaN or inf; ``targets`` outside [0, 1].
        TypeError: ``scores`` or ``targets`` not tensors, ``scores`` not floating point,
            ``targets`` complex.
    """

    def __init__(self, temperature: float = 0.01, reduction: str = "mean"):
        super().__init__()
        self.temperature = check_real(temperature, "temperature", low=0, strict=True)
        self.reduction = validate_choice(reduction, _REDUCTIONS, "reduction")

    @staticmethod
    def _check(scores: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for name, t in (("scores", scores), ("targets", targets)):
            if not isinstance(t, torch.Tensor):
                raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if not scores.is_floating_point():
            raise TypeError(f"scores must be a floating-point tensor, got {scores.dtype}")
        if targets.is_complex():
            raise TypeError(f"targets must be real (floating, bool or integer), got {targets.dtype}")
        if scores.ndim != 2 or scores.shape[0] == 0 or scores.shape[1] == 0:
            raise ValueError("scores must have shape (B, M) with B, M >= 1 (one row of candidate "
                             f"scores per query), got shape {tuple(scores.shape)}")
        if targets.shape != scores.shape:
            raise ValueError(f"targets must have the shape of scores {tuple(scores.shape)}, got "
                             f"{tuple(targets.shape)}")
        dtype = torch.float64 if scores.dtype == torch.float64 else torch.float32
        s = scores.to(dtype)
        y = targets.to(device=s.device, dtype=dtype)
        if not bool(torch.isfinite(s.detach()).all()):
            raise ValueError("scores must be finite, found NaN or inf")
        y_values = y.detach()
        if not bool(torch.isfinite(y_values).all()):
            raise ValueError("targets must be finite, found NaN or inf")
        lo, hi = float(y_values.min()), float(y_values.max())
        if lo < 0 or hi > 1:
            raise ValueError(f"targets must lie in [0, 1], got values in [{lo:g}, {hi:g}]")
        return s, y

    def _ap(self, s: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # diff[b, i, j] = s_j - s_i: row i compares every candidate j with candidate i
        diff = s.unsqueeze(1) - s.unsqueeze(2)
        above = torch.sigmoid(diff / self.temperature)
        eye = torch.eye(s.shape[1], dtype=torch.bool, device=s.device)
        above = above.masked_fill(eye, 1.0)  # the self term counts 1 (rank starts at 1)
        rank = above.sum(dim=2)  # (B, M), >= 1
        rank_rel = torch.bmm(above, y.unsqueeze(2)).squeeze(2)  # sum_j y_j * above_ij
        total = y.sum(dim=1)
        valid = total > 0
        ap = (y * rank_rel / rank).sum(dim=1) / torch.where(valid, total, torch.ones_like(total))
        return ap, valid

    def average_precision(self, scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The smoothed continuous-target AP of every row, (B,) (NaN for rows whose targets
        sum to 0); the loss is ``1 - average_precision``. Same inputs and errors as the
        loss."""
        ap, valid = self._ap(*self._check(scores, targets))
        return torch.where(valid, ap, torch.full_like(ap, float("nan")))

    def forward(self, scores, targets):
        ap, valid = self._ap(*self._check(scores, targets))
        per_row = torch.where(valid, 1 - ap, torch.zeros_like(ap))
        if self.reduction == "mean":
            return per_row.sum() / valid.sum().clamp_min(1)
        return _reduce(per_row, self.reduction)


__all__ = ["LOSSES", "LOSS_NAMES", "build_loss",
           *dict.fromkeys(getattr(f, "func", f).__name__ for f in LOSSES.values()),
           "CoTAPLoss",  # a ranking loss, outside the classification registry
           "ForwardCorrectedLoss",  # needs a noise matrix: the method "forward" builds it
           "TruncatedGCELoss"]  # its pruning needs the network: the method "truncated-gce"
