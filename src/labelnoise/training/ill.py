"""ILL, Imprecise Label Learning (Chen, Shah, Wang, Tao, Wang, Xie, Sugiyama, Singh & Raj,
"Imprecise Label Learning: A Unified Framework for Learning with Various Imprecise Label
Configurations", NeurIPS 2024, arXiv 2305.12715): expectation-maximisation with the true
label as the latent variable.

The paper's text was not reachable here; this module follows the authors' official code
(github.com/Hhhhhhao/General-Framework-Weak-Supervision): ``src/algorithms/noisy_label/
imp_noisy_label.py`` (class ``ImpreciseNoisyLabelLearning`` and its ``NoiseMatrixLayer``)
for noisy labels, ``src/algorithms/partial_noisy_ulb/imp_partial_noisy_ulb.py`` (class
``ImpPartialNoisyUnlabeledLearning``) for candidate sets, and their CIFAR-10 configuration
files under ``config/``. Our own implementation; no code was copied.

**The transition matrix.** A free (K, K) parameter ``W`` initialised to the identity is
normalised to unit L2 norm along its columns, then along its rows, and multiplied by
``noise_scale``: ``M``. Two stochastic matrices are read from it: ``T = softmax(M, rows)``,
``T[i, j] = P(given label j | true class i)``, used in the E-step, and ``C = softmax(M,
columns)``, used in the likelihood of the given label (as in the official code, where the two
differ once ``M`` is not symmetric). With ``noise_scale`` 1 and K = 10 the identity gives
``T[i, i] = e / (e + 9) = 0.23``: the matrix stays far from one-hot, which makes the
likelihood term a bounded loss. ``W`` is trained by plain SGD (no momentum, no weight decay,
constant learning rate ``noise_lr``) on the same loss as the network.

**Noisy labels** (:func:`fit`, registry ``"ill"``). Each step draws a weak view ``x_w``
and a strong view ``x_s`` of the batch, forwards both in one batch, ``p_w = softmax(f(x_w))``,
and minimises the sum of

* ``noise_loss = -log q_y``, ``q = normalise(p_w C)``: the likelihood of the given label
  ``y`` under the model's prediction passed through the noise (gradient into the network and
  ``W``);
* ``em_loss = -sum_i r_i log normalise(p_s * T[:, y])_i``, with the E-step posterior of the
  true class ``r = normalise(p_w * T[:, y])`` (prediction on the weak view times the column
  of the given label, detached): the posterior of the strong view is pulled to the
  posterior of the weak view;
* ``con_loss = -sum_i p_w,i log p_s,i`` (``p_w`` detached): consistency of the two views;
* ``balance_weight * (-(1/K) sum_i log mean_batch(p_w)_i)`` (the batch's mean prediction
  clamped to [1e-6, 1]): cross entropy from the uniform prior to the mean prediction,
  against collapse onto few classes (the code's ``average_entropy_loss``, weight 0.1).

**Candidate sets** (:func:`fit_partial`, registry ``"ill-partial"``): bool (N, K) sets
``S`` that may miss the true class (noisy partial labels). The official algorithm's
labelled part: ``sup_loss = -sum_{j not in S} log(1 + 1e-7 - q_j)`` (the model's noisy
prediction ``q`` as above puts no mass outside the set), the E-step posterior ``r =
normalise(p_w * prod_{j in S} T[:, j])`` (each candidate treated as one noisy draw given the
true class), ``em_loss = -sum_i r_i log p_s,i`` and the same balance term. The official
code also trains on unlabelled data, at weight 1: ``uratio`` unlabelled examples per
labelled one (3 in its CIFAR-10 configurations; the unlabelled set is the whole training
set again), each with a weak and a strong view in the same forward pass, and ``unsup_loss
= -sum_i t_i log p_s,i`` with the distribution-aligned pseudo-label ``t = normalise(p_w /
p_hat)`` of the weak view, ``p_hat`` an exponential moving average (0.999 per step, from the
uniform distribution) of the unlabelled batches' mean weak prediction
(:func:`distribution_alignment`). ``unlabeled_ratio`` turns it on (default 0: the candidate
sets alone, at a quarter of the cost per step of the official ratio 3). The official code
also evaluates an exponential moving average of the weights (0.999); that is left out
here.

**Views.** The official code's weak view is random crop + flip; its strong view adds
AutoAugment (CIFAR-10 policy) + RandomErasing for noisy labels and RandAugment (3 ops, each
at a magnitude drawn over its whole range, then a Cutout of side up to half the image) for
candidate sets; the consistency terms rely on it most at high noise. Here (images,
``augment=True``) the weak view is the engine's crop + flip and the strong view, with
``strong_augment="randaugment"`` (the default), an independent crop + flip followed by
:func:`~labelnoise.training.augment.rand_augment` with random magnitudes up to the maximum
(``random_magnitude=True``, M = 10, the official code's uniform draw over each op's range)
and then, for noisy labels, 2 ops and
:func:`~labelnoise.training.augment.random_erasing` (probability 0.5, torchvision's
defaults, as the official code's RandomErasing), for candidate sets 3 ops and
:func:`~labelnoise.training.augment.cutout` of side 0 to W / 2 (the official RandAugment's
own last step). AutoAugment's learned CIFAR-10 policy is not implemented: for noisy labels
RandAugment with random magnitudes + random erasing is our stand-in for it (RandAugment
matches AutoAugment on CIFAR-10 in Cubuk et al. 2020, and FixMatch uses either). Occluded
areas are filled with the CIFAR-10 mean pixel (125, 123, 114), as the official Cutout's
colour and the official RandomErasing's 0 on normalised images; geometric ops fill with
black, as PIL. ``strong_augment="crop-flip"`` makes the strong view a second crop + flip
draw only (this module's behaviour before the option existed, and that of
:mod:`~labelnoise.training.coreg`'s "strong" views). With ``augment=False`` or (N, D)
embeddings the two views are the same input (``strong_augment`` has no effect) and the
network is run once. The E-step target is then the detached prediction of the same input,
so ``em_loss`` and ``con_loss`` of noisy labels have zero gradient and the network is
trained by ``noise_loss`` and the balance term (for candidate sets, ``em_loss`` still
trains: its target is the posterior, compared with the plain prediction). For embeddings,
``view_dropout`` > 0 (not in the official code, which trains on images only) makes the
strong view the embedding with each feature dropped with that probability (the rest scaled
by ``1 / (1 - view_dropout)``), the weak view the embedding itself.

Defaults (official CIFAR-10 configurations ``config/noisy_label/classic_cv/
imp_noisy_label_cifar10_*.yaml``, the same for sym 0.2 / 0.5 / 0.8 and asym 0.4: nothing
is set from the noise rate): PreAct ResNet-18, 300 epochs, batch 128, SGD lr 0.02, momentum
0.9 (not Nesterov), weight decay 1e-3 (the official code exempts BatchNorm and bias
parameters; ours decays every parameter, as the engine's other methods do), cosine
annealing per step (to 2e-4 there; to 0 with the engine's ``"cosine"``), ``noise_scale`` 1
(CIFAR-100: 2.0 / 2.25 / 2.5 at sym 0.2 / 0.5 / 0.8, 2.0 at asym 0.4), noise-matrix lr =
lr, balance weight 0.1. Candidate sets (``config/partial_noisy_ulb/classic_cv/
imp_partial_noisy_ulb_cifar10_*.yaml``): ResNet-18 (ours: PreAct ResNet-18), batch 64, SGD
lr 0.02, momentum 0.9, weight decay 1e-3, cosine to 1e-4, ``noise_scale`` 1, balance weight
0.1; the configuration says 150 epochs, but its 307,200 steps of 64 are about 393 passes
over 50,000 examples (our ``epochs`` counts passes; default 150).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from labelnoise._validation import check_int, check_real
from labelnoise.models import CIFAR10_MEAN
from labelnoise.partial import validate_candidates
from labelnoise.training import engine
from labelnoise.training.augment import cutout, rand_augment, random_erasing
from labelnoise.training.proden import prepare_partial

#: the lower clamp of the batch's mean prediction in the balance term (official code)
_MEAN_FLOOR = 1e-6
#: momentum per step of the running class distribution of distribution alignment (official)
_DA_MOMENTUM = 0.999
#: added inside ``log(1 - q)`` of the candidate-set loss (official code: ``log(1.0000001 - q)``)
_SUP_EPS = 1e-7
#: the strong views of images: RandAugment + erasing / Cutout, or a second crop + flip only
STRONG_AUGMENTS = ("randaugment", "crop-flip")
#: what occlusion fills with: the CIFAR-10 mean pixel (the official Cutout's colour)
_OCCLUSION_FILL = tuple(round(255 * m) for m in CIFAR10_MEAN)  # (125, 123, 114)


# ------------------------------------------------------------------------------ pieces
class TransitionMatrix(nn.Module):
    """ILL's learned label-noise model: a (K, K) parameter ``weight`` (initialised to the
    identity), its doubly L2-normalised and scaled form :meth:`forward` ``M``, the
    row-stochastic :meth:`transition` ``T = softmax(M, dim=1)`` (``T[i, j] = P(given j |
    true i)``) and the column-stochastic :meth:`columns` ``C = softmax(M, dim=0)``."""

    def __init__(self, num_classes: int, scale: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.eye(int(num_classes)))
        self.scale = float(scale)

    def forward(self) -> torch.Tensor:
        m = F.normalize(self.weight, dim=0)  # unit columns
        m = F.normalize(m, dim=1)  # then unit rows
        return self.scale * m

    def transition(self) -> torch.Tensor:
        """``T``: row i is the distribution of the given label when the true class is i."""
        return torch.softmax(self(), dim=1)

    def columns(self) -> torch.Tensor:
        """``C``: the matrix the official code maps predictions through for the likelihood
        of the given label (each column sums to 1)."""
        return torch.softmax(self(), dim=0)


def posterior(probs: torch.Tensor, transition: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The E-step for noisy labels: ``r[b, i] ∝ probs[b, i] * transition[i, labels[b]]``,
    each row normalised to sum to 1.

    Args:
        probs: (B, K) predicted class probabilities.
        transition: (K, K) ``T[i, j] = P(given j | true i)``, entries > 0.
        labels: int (B,) given labels.
    """
    r = probs * transition[:, labels].T
    return r / r.sum(dim=1, keepdim=True)


def candidate_posterior(probs: torch.Tensor, transition: torch.Tensor,
                        candidates: torch.Tensor) -> torch.Tensor:
    """The E-step for (noisy) candidate sets: ``r[b, i] ∝ probs[b, i] * prod_{j in S_b}
    transition[i, j]``, each row normalised (computed in log space).

    Args:
        probs: (B, K) predicted class probabilities (> 0).
        transition: (K, K) row-stochastic matrix with entries > 0.
        candidates: bool (B, K) candidate sets.
    """
    log_r = torch.log(probs) + candidates.to(transition.dtype) @ torch.log(transition).T
    return torch.softmax(log_r, dim=1)


def noisy_prediction(probs: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
    """``normalise(probs @ columns)``: the model's prediction of the given label. (B, K)."""
    q = probs @ columns
    return q / q.sum(dim=1, keepdim=True)


def balance_penalty(probs: torch.Tensor) -> torch.Tensor:
    """``-(1/K) sum_i log mean_b(probs)[i]`` (mean clamped to [1e-6, 1]): cross entropy from
    the uniform distribution to the batch's mean prediction (scalar)."""
    mean = probs.mean(dim=0).clamp(_MEAN_FLOOR, 1.0)
    return -torch.log(mean).mean()


def distribution_alignment(probs: torch.Tensor, p_hat: torch.Tensor,
                           momentum: float = _DA_MOMENTUM) -> tuple[torch.Tensor, torch.Tensor]:
    """The unlabelled term's pseudo-labels: ``p_hat`` moved towards the batch's mean
    prediction, ``momentum * p_hat + (1 - momentum) * mean_b(probs)``, then each row of
    ``probs`` divided by it and normalised (the official code's distribution alignment).

    Args:
        probs: (B, K) predicted class probabilities (weak views), detached.
        p_hat: (K,) the running class distribution of the predictions (sums to 1).
        momentum: the running average's momentum per call.

    Returns:
        ``(targets (B, K) rows summing to 1, the updated p_hat (K,))``.
    """
    p_hat = momentum * p_hat + (1.0 - momentum) * probs.mean(dim=0)
    aligned = probs / p_hat
    return aligned / aligned.sum(dim=1, keepdim=True), p_hat


def noisy_label_losses(logits_w: torch.Tensor, logits_s: torch.Tensor, labels: torch.Tensor,
                       matrix: TransitionMatrix, balance_weight: float) -> dict:
    """ILL's losses on a batch of noisy labels (see the module docstring).

    Args:
        logits_w, logits_s: (B, K) float logits of the weak and the strong view.
        labels: int (B,) given labels.
        matrix: the :class:`TransitionMatrix`.
        balance_weight: weight of :func:`balance_penalty`.

    Returns:
        dict of scalar tensors ``loss`` (the total, to minimise), ``noise_loss``,
        ``em_loss``, ``con_loss``, ``balance``, and the (B, K) E-step ``posterior``
        (detached).
    """
    probs_w = torch.softmax(logits_w, dim=1)
    q = noisy_prediction(probs_w, matrix.columns())
    noise_loss = -torch.log(q.gather(1, labels[:, None])).mean()
    with torch.no_grad():  # the E-step: detached, as is T's column in the strong posterior
        transition = matrix.transition()
        col = transition[:, labels].T  # (B, K): T[i, y_b]
        target = posterior(probs_w, transition, labels)
    # log normalise(p_s * T[:, y]) = log_softmax(z_s + log T[:, y])
    em_loss = -(target * F.log_softmax(logits_s + torch.log(col), dim=1)).sum(1).mean()
    con_loss = -(probs_w.detach() * F.log_softmax(logits_s, dim=1)).sum(1).mean()
    balance = balance_penalty(probs_w)
    loss = noise_loss + em_loss + con_loss + balance_weight * balance
    return dict(loss=loss, noise_loss=noise_loss, em_loss=em_loss, con_loss=con_loss,
                balance=balance, posterior=target)


def candidate_losses(logits_w: torch.Tensor, logits_s: torch.Tensor, candidates: torch.Tensor,
                     matrix: TransitionMatrix, balance_weight: float) -> dict:
    """ILL's losses on a batch of (noisy) candidate sets (see the module docstring).

    Args:
        logits_w, logits_s: (B, K) float logits of the weak and the strong view.
        candidates: bool (B, K) candidate sets.
        matrix: the :class:`TransitionMatrix`.
        balance_weight: weight of :func:`balance_penalty`.

    Returns:
        dict of scalar tensors ``loss``, ``sup_loss``, ``em_loss``, ``balance`` and the
        (B, K) E-step ``posterior`` (detached).
    """
    probs_w = torch.softmax(logits_w, dim=1)
    q = noisy_prediction(probs_w, matrix.columns())
    outside = (~candidates).to(q.dtype)
    sup_loss = -(torch.log(1.0 + _SUP_EPS - q) * outside).sum(1).mean()
    with torch.no_grad():  # the E-step
        target = candidate_posterior(probs_w, matrix.transition(), candidates)
    em_loss = -(target * F.log_softmax(logits_s, dim=1)).sum(1).mean()
    balance = balance_penalty(probs_w)
    loss = em_loss + sup_loss + balance_weight * balance
    return dict(loss=loss, sup_loss=sup_loss, em_loss=em_loss, balance=balance,
                posterior=target)


# ------------------------------------------------------------------------------ the method
@dataclass
class ILL(engine.Method):
    """ILL on noisy labels: the network, the transition matrix and their optimisers
    (hyperparameters: see :func:`fit`)."""

    name = "ill"
    #: the loss terms recorded in the history (epoch means)
    terms = ("noise_loss", "em_loss", "con_loss", "balance")
    #: the strong view's RandAugment ops per image and its occlusion ("erasing": random
    #: erasing, the official noisy-label RandomErasing; "cutout": the official RandAugment's)
    strong_ops = 2
    strong_occlusion = "erasing"
    checkpointed = {"model": "net", "transition": "matrix", "optimizer": "optimizer",
                    "noise_optimizer": "noise_optimizer"}
    model: object
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    momentum: float
    noise_lr: float | None
    noise_scale: float
    balance_weight: float
    schedule: str
    augment: bool
    view_dropout: float
    seed: int
    model_kwargs: dict | None
    strong_augment: str = "randaugment"
    true_labels: object = engine.not_in_config()

    def __post_init__(self):
        super().__post_init__()
        # checked, not converted: the values stay as given (the checkpoint's config)
        if self.noise_lr is not None:
            check_real(self.noise_lr, "noise_lr", low=0)
        check_real(self.noise_scale, "noise_scale", low=0, strict=True)
        check_real(self.balance_weight, "balance_weight", low=0)
        check_real(self.view_dropout, "view_dropout", low=0, high=1)
        engine.validate_choice(self.strong_augment, STRONG_AUGMENTS, "strong_augment")

    def setup(self, data):
        if data.is_image and self.view_dropout > 0:
            raise ValueError("view_dropout applies to (N, D) embeddings only (images get augmented "
                             f"views), got view_dropout={self.view_dropout!r}")
        self.net = engine.make_model(self.model, data, seed=self.seed, **(self.model_kwargs or {}))
        self.optimizer = engine.sgd(self.net, self.lr, self.weight_decay, self.momentum,
                                    nesterov=False)
        self.matrix = TransitionMatrix(data.num_classes, self.noise_scale).to(data.device)
        noise_lr = self.lr if self.noise_lr is None else self.noise_lr
        self.noise_optimizer = torch.optim.SGD(self.matrix.parameters(), lr=noise_lr,
                                               momentum=0.0, weight_decay=0.0)
        self.clean = None
        if self.true_labels is not None:  # E-step diagnostic only
            self.clean = torch.from_numpy(engine.validate_labels(
                self.true_labels, num_classes=data.num_classes, name="true_labels")).to(data.device)
            if len(self.clean) != data.n:
                raise ValueError(f"true_labels has {len(self.clean)} entries but images has "
                                 f"{data.n}")

    def _strong(self, x):
        """The strong view of the crop + flip images ``x`` (uint8 (B, C, H, W)): RandAugment
        then random erasing / Cutout (``strong_augment="randaugment"``), or ``x`` itself
        (``"crop-flip"``); see the module docstring."""
        if self.strong_augment == "crop-flip":
            return x
        x = rand_augment(x, self.generator, num_ops=self.strong_ops, magnitude=10.0,
                         random_magnitude=True)
        fill = (_OCCLUSION_FILL if x.shape[1] == 3
                else round(sum(_OCCLUSION_FILL) / len(_OCCLUSION_FILL)))
        if self.strong_occlusion == "cutout":
            return cutout(x, self.generator, (0, min(x.shape[2:]) // 2), fill=fill)
        return random_erasing(x, self.generator, fill=fill)

    def _views(self, idx):
        """Logits (float) of the weak and the strong view of the examples ``idx`` in one
        forward pass: a crop + flip draw and a strong view (:meth:`_strong` of another
        crop + flip draw) of images, or the embeddings and a feature-dropout copy
        (``view_dropout`` > 0); one pass when the views are the same input (embeddings,
        ``augment=False``)."""
        data = self.data
        x_w = engine.batch_inputs(data, idx, self.generator, self.augment)
        if data.is_image and self.augment:
            x_s = self._strong(engine.batch_inputs(data, idx, self.generator, self.augment))
        elif not data.is_image and self.view_dropout > 0:
            keep = torch.rand(x_w.shape, generator=self.generator).to(x_w.device)
            x_s = x_w * (keep >= self.view_dropout) / (1 - self.view_dropout)
        else:
            with engine.autocast(data.device):
                logits = self.net(x_w).float()
            return logits, logits
        with engine.autocast(data.device):
            logits = self.net(torch.cat([x_w, x_s])).float()
        return logits[:len(idx)], logits[len(idx):]

    def _losses(self, idx, logits_w, logits_s):
        return noisy_label_losses(logits_w, logits_s, self.data.y[idx], self.matrix,
                                  self.balance_weight)

    def train_epoch(self, epoch):
        data = self.data
        self.net.train()
        sums = {k: torch.zeros((), device=data.device) for k in ("loss", *self.terms)}
        hits = torch.zeros((), device=data.device)
        seen = 0
        for _, idx in self.batches(data.n, self.batch_size, epoch, [self.optimizer]):
            logits_w, logits_s = self._views(idx)
            out = self._losses(idx, logits_w, logits_s)
            self.optimizer.zero_grad(set_to_none=True)
            self.noise_optimizer.zero_grad(set_to_none=True)
            out["loss"].backward()
            self.optimizer.step()
            self.noise_optimizer.step()  # constant learning rate (official)
            for key, total in sums.items():
                total += out[key].detach() * len(idx)
            if self.clean is not None:
                hits += (out["posterior"].argmax(1) == self.clean[idx]).sum()
            seen += len(idx)
        seen = max(seen, 1)
        record = {"train_loss": float(sums.pop("loss")) / seen,
                  "lr": engine.get_lr(self.optimizer)}
        record.update((key, float(total) / seen) for key, total in sums.items())
        with torch.no_grad():
            record["transition_diag"] = float(torch.diagonal(self.matrix.transition()).mean())
        if self.clean is not None:
            record["posterior_acc"] = float(hits) / seen
        return record


@dataclass
class ILLPartial(ILL):
    """ILL on (noisy) candidate sets (hyperparameters: see :func:`fit_partial`)."""

    name = "ill-partial"
    terms = ("sup_loss", "em_loss", "unsup_loss", "balance")
    strong_ops = 3  # official: RandAugment(3, 5), which ends with a Cutout
    strong_occlusion = "cutout"
    checkpointed = {**ILL.checkpointed, "p_hat": "p_hat"}
    unlabeled_ratio: int = 0
    candidates: object = engine.not_in_config(fingerprint=True)  # bool (N, K), device

    def __post_init__(self):
        super().__post_init__()
        check_int(self.unlabeled_ratio, "unlabeled_ratio", 0)

    def setup(self, data):
        super().setup(data)
        # the clean labels are a diagnostic (posterior_acc) only: data.y is a placeholder, so
        # the engine's memorisation diagnostic (which compares with data.y) does not apply
        self.true_labels = None
        self.p_hat = torch.full((data.num_classes,), 1.0 / data.num_classes, device=data.device)

    def _views(self, idx):
        """The weak and strong logits of the batch ``idx`` followed by those of
        ``unlabeled_ratio * len(idx)`` examples drawn uniformly from the whole training set
        (the unlabelled batch), all in one forward pass."""
        if self.unlabeled_ratio:
            drawn = torch.randint(0, self.data.n, (self.unlabeled_ratio * len(idx),),
                                  generator=self.generator).to(idx.device)
            idx = torch.cat([idx, drawn])
        return super()._views(idx)

    def _losses(self, idx, logits_w, logits_s):
        b = len(idx)
        out = candidate_losses(logits_w[:b], logits_s[:b], self.candidates[idx], self.matrix,
                               self.balance_weight)
        unsup = torch.zeros((), device=logits_w.device)
        if self.unlabeled_ratio:
            with torch.no_grad():
                target, self.p_hat = distribution_alignment(torch.softmax(logits_w[b:], 1),
                                                            self.p_hat)
            unsup = -(target * F.log_softmax(logits_s[b:], dim=1)).sum(1).mean()
        out["unsup_loss"] = unsup
        out["loss"] = out["loss"] + unsup
        return out


# ------------------------------------------------------------------------------ fit
def fit(images, labels, *, model="preact-resnet18", epochs: int = 300, batch_size: int = 128,
        lr: float = 0.02, weight_decay: float = 1e-3, momentum: float = 0.9,
        noise_lr: float | None = None, noise_scale: float = 1.0, balance_weight: float = 0.1,
        schedule: str = "cosine", augment: bool = True, view_dropout: float = 0.0,
        strong_augment: str = "randaugment",
        seed: int = 0, device=None, test_images=None, test_labels=None,
        checkpoint_dir=None, resume: bool = False,
        progress: bool = True, num_classes: int | None = None,
        model_kwargs: dict | None = None, on_epoch=None,
        true_labels=None) -> engine.FitResult:
    """Train one network on noisy labels with ILL (Chen et al. 2024; see the module docstring).

    Args:
        images: uint8 (N, H, W, C) images, or float (N, D) embeddings with ``model="mlp"``.
        labels: int (N,) given (noisy) labels in [0, K).
        lr, weight_decay, momentum: the network's SGD (not Nesterov; official CIFAR-10:
            0.02, 1e-3, 0.9).
        noise_lr: learning rate of the transition matrix (plain SGD, constant); None: ``lr``
            (official).
        noise_scale: the scale of the normalised matrix before the softmax (official: 1 on
            CIFAR-10, 2.0-2.5 on CIFAR-100 by noise rate); larger lets ``T`` come closer
            to one-hot.
        balance_weight: weight of the class-balance term (official: 0.1; 0 turns it off).
        schedule: the network's learning-rate schedule (see
            :func:`labelnoise.training.engine.lr_multiplier`; official: cosine).
        augment: augment images (a crop + flip weak view and a strong view; False: the
            images as they are, one view); ignored for embeddings.
        strong_augment: images with ``augment`` only: ``"randaugment"`` (default, as the
            official code: a strong view; here crop + flip, RandAugment with 2 ops at random
            magnitudes, random erasing, our stand-in for the official AutoAugment +
            RandomErasing) or ``"crop-flip"`` (the strong view another crop + flip draw);
            see the module docstring.
        view_dropout: embeddings only: the probability with which the strong view drops
            each feature (0: the two views are the same input; not in the official code).
        true_labels: optional int (N,) clean labels (diagnostics only, never trained on);
            the history then also records the engine's memorisation diagnostic and
            ``posterior_acc``, the fraction of the epoch's examples whose E-step posterior
            puts most mass on the clean class.
        Other arguments: as :func:`labelnoise.training.standard.fit`.

    Returns:
        :class:`~labelnoise.training.engine.FitResult`; the history also has the epoch means
        of ``noise_loss``, ``em_loss``, ``con_loss``, ``balance`` and ``transition_diag``
        (the mean diagonal of ``T`` after the epoch).

    Raises:
        ValueError: bad data (see :func:`~labelnoise.training.engine.prepare_data`); a
            hyperparameter out of range (the message names it); unknown model or schedule;
            ``view_dropout`` > 0 with images; true_labels of the wrong length or outside
            [0, K); bad resume.
    """
    method = ILL(model=model, epochs=epochs, batch_size=batch_size, lr=lr,
                 weight_decay=weight_decay, momentum=momentum, noise_lr=noise_lr,
                 noise_scale=noise_scale, balance_weight=balance_weight, schedule=schedule,
                 augment=augment, view_dropout=view_dropout, seed=seed,
                 model_kwargs=model_kwargs, strong_augment=strong_augment,
                 true_labels=true_labels)
    return engine.run_on_labels(method, images, labels, num_classes=num_classes,
                                test_images=test_images, test_labels=test_labels, device=device,
                                checkpoint_dir=checkpoint_dir, resume=resume, progress=progress,
                                on_epoch=on_epoch)


def fit_partial(images, candidates, *, model="preact-resnet18", epochs: int = 150,
                batch_size: int = 64, lr: float = 0.02, weight_decay: float = 1e-3,
                momentum: float = 0.9, noise_lr: float | None = None, noise_scale: float = 1.0,
                balance_weight: float = 0.1, schedule: str = "cosine", augment: bool = True,
                view_dropout: float = 0.0, strong_augment: str = "randaugment",
                unlabeled_ratio: int = 0, seed: int = 0,
                device=None, test_images=None, test_labels=None,
                true_labels=None, checkpoint_dir=None, resume: bool = False,
                progress: bool = True, model_kwargs: dict | None = None,
                on_epoch=None) -> engine.FitResult:
    """Train one network on (noisy) candidate sets with ILL (see the module docstring).

    Args:
        images: uint8 (N, H, W, C) images, or float (N, D) embeddings with ``model="mlp"``.
        candidates: bool (N, K) candidate sets (see :mod:`labelnoise.partial`); the true
            class may be missing from a set.
        true_labels: optional int (N,) clean labels; the history then records
            ``posterior_acc`` (the fraction of the epoch's examples whose E-step posterior
            puts most mass on the clean class).
        strong_augment: as :func:`fit`, but ``"randaugment"`` is the official candidate-set
            strong view: crop + flip, RandAugment with 3 ops at random magnitudes, Cutout of
            side 0 to W / 2.
        unlabeled_ratio: unlabelled examples (drawn from the whole training set, their
            candidate sets unused) per labelled one in every step, trained on their
            distribution-aligned pseudo-labels (official: 3; default 0, off; see the module
            docstring).
        Other arguments: as :func:`fit` (official defaults for CIFAR-10 noisy partial
            labels: batch 64, lr 0.02, weight decay 1e-3; 150 epochs here, where the
            official run is about 393 passes, see the module docstring).

    Returns:
        :class:`~labelnoise.training.engine.FitResult`; the history also has the epoch means
        of ``sup_loss``, ``em_loss``, ``unsup_loss`` (0 when ``unlabeled_ratio`` is 0),
        ``balance`` and ``transition_diag``.

    Raises:
        ValueError: bad data or candidates (see
            :func:`labelnoise.partial.validate_candidates`); a hyperparameter out of range
            (``unlabeled_ratio`` not an integer >= 0); bad resume.
    """
    method = ILLPartial(model=model, epochs=epochs, batch_size=batch_size, lr=lr,
                        weight_decay=weight_decay, momentum=momentum, noise_lr=noise_lr,
                        noise_scale=noise_scale, balance_weight=balance_weight,
                        schedule=schedule, augment=augment, view_dropout=view_dropout,
                        seed=seed, model_kwargs=model_kwargs, strong_augment=strong_augment,
                        unlabeled_ratio=unlabeled_ratio, true_labels=true_labels)
    n_images = engine.as_input_tensor(images, "images").shape[0]
    n_sets = validate_candidates(candidates).shape[0]
    if n_sets != n_images:  # before prepare_partial, whose message would say "labels"
        raise ValueError(f"candidates has {n_sets} rows but images has {n_images}")
    data, method.candidates, _ = prepare_partial(
        images, candidates, test_images=test_images, test_labels=test_labels, device=device)
    return engine.run(method, data, checkpoint_dir=checkpoint_dir, resume=resume,
                      progress=progress, on_epoch=on_epoch)
