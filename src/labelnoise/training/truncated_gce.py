"""Truncated GCE: the truncated Lq loss with periodic pruning (Zhang & Sabuncu 2018,
"Generalized Cross Entropy Loss for Training Deep Neural Networks with Noisy Labels",
NeurIPS; section 3.3, eq. 9-11 and Algorithm 1).

Algorithm: standard training (:mod:`labelnoise.training.standard`: one network, random
crop + flip, SGD with the chosen schedule) with the loss
``w_i (Lq(p_{i, y_i}) - Lq(k))``, ``Lq(p) = (1 - p ** q) / q``
(:class:`labelnoise.losses.TruncatedGCELoss`). Every weight ``w_i`` starts at 1 (plain GCE);
from epoch ``prune_start`` on, every ``prune_every`` epochs, before the epoch trains, the
pruning step sets ``w_i = [p_{i, y_i} > k]`` from the network's predicted probabilities of
the given labels on every training example (eval mode, no augmentation): an example whose
given label the network finds unlikely stops contributing a gradient until a later pruning
takes it back. This is the alternating (ACS) optimisation of the truncated loss, eq. 9: the
paper's experiments train 120 epochs and prune from epoch 40 every 10 epochs (q 0.7, k 0.5);
the defaults scale those to the run's length (``prune_start = round(epochs / 3)``,
``prune_every = max(1, round(epochs / 12))``).

Why the truncation: in the paper's CIFAR-10 experiments with class-dependent (asymmetric)
noise at its highest rate, GCE falls below cross entropy and the truncated loss does not; the
weights remove the examples that the bounded Lq loss still fits slowly but steadily.

The history records ``kept``, the fraction of weights that are 1 after the epoch's pruning
(1.0 before the first), and, given ``true_labels``, ``kept_precision`` / ``kept_recall``
(of the clean labels, as DivideMix's ``split_precision`` / ``split_recall``); the weights
are checkpointed with the loss, so a resumed run continues with the same pruned set.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from labelnoise._validation import check_int
from labelnoise.losses import TruncatedGCELoss
from labelnoise.training import engine, standard


def prunes_at(epoch: int, prune_start: int, prune_every: int) -> bool:
    """Whether the 0-based ``epoch`` starts with a pruning step: ``epoch >= prune_start``
    and ``(epoch - prune_start) % prune_every == 0``."""
    return epoch >= prune_start and (epoch - prune_start) % prune_every == 0


@dataclass
class TruncatedGCE(standard.Standard):
    """Truncated GCE (hyperparameters: see :func:`fit`)."""

    name = "truncated-gce"
    checkpointed = {"model": "net", "loss": "criterion", "optimizer": "optimizer"}
    distributed = False
    q: float = 0.7
    k: float = 0.5
    prune_start: int = 1  # defaults only because Standard's fields have some; fit sets them
    prune_every: int = 1

    def __post_init__(self):
        super().__post_init__()
        self.prune_start = check_int(self.prune_start, "prune_start", 0)
        self.prune_every = check_int(self.prune_every, "prune_every", 1)

    @property
    def label(self):
        return self.name

    def setup(self, data):
        super().setup(data)  # the network and SGD; the loss is replaced below
        self.criterion = TruncatedGCELoss(data.n, q=self.q, k=self.k).to(data.device)
        self.clean = engine.given_is_clean(self.true_labels, data)  # diagnostics only

    def train_epoch(self, epoch):
        if prunes_at(epoch, self.prune_start, self.prune_every):
            with torch.no_grad():
                logits = engine.logits_of(self.net, self.data.x)
                y = self.data.y.to(logits.device)
                p_y = F.softmax(logits, dim=1).gather(1, y[:, None]).squeeze(1)
                self.criterion.prune(p_y)
        record = super().train_epoch(epoch)
        kept = self.criterion.weight.cpu().numpy() > 0
        record["kept"] = float(kept.mean())
        if self.clean is not None:
            record["kept_precision"] = float(self.clean[kept].mean()) if kept.any() else 0.0
            record["kept_recall"] = (float(kept[self.clean].mean()) if self.clean.any()
                                     else 0.0)
        return record


def fit(images, labels, *, model="resnet8", q: float = 0.7, k: float = 0.5,
        prune_start: int | None = None, prune_every: int | None = None, epochs: int = 120,
        batch_size: int = 128, lr: float = 0.1, weight_decay: float = 5e-4,
        momentum: float = 0.9, schedule: str = "step", milestones=None, gamma: float = 0.1,
        augment: bool = True, seed: int = 0, device=None, test_images=None, test_labels=None,
        checkpoint_dir=None, resume: bool = False, progress: bool = True,
        num_classes: int | None = None, model_kwargs: dict | None = None, on_epoch=None,
        true_labels=None) -> engine.FitResult:
    """Train one network with the truncated Lq loss and periodic pruning (Zhang & Sabuncu
    2018, section 3.3; see the module docstring).

    Args:
        images: uint8 (N, H, W, C) images, or float (N, D) embeddings with ``model="mlp"``.
        labels: int (N,) given (noisy) labels in [0, K).
        q: the Lq exponent in (0, 1] (paper: 0.7).
        k: the truncation threshold in (0, 1) (paper: 0.5).
        prune_start: the 0-based epoch of the first pruning (an int >= 0; None:
            ``round(epochs / 3)``, the paper's 40 of 120 epochs).
        prune_every: epochs between prunings (an int >= 1; None: ``max(1, round(epochs /
            12))``, the paper's 10 of 120).
        epochs, batch_size, lr, weight_decay, momentum, schedule, milestones, gamma,
        augment, seed, device, test_images, test_labels, checkpoint_dir, resume, progress,
        num_classes, model_kwargs, on_epoch, true_labels: as
            :func:`labelnoise.training.standard.fit` (defaults: the step schedule, x0.1 at
            50% and 75% of the epochs, lr 0.1, weight decay 5e-4, batch 128, 120 epochs).

    Returns:
        :class:`~labelnoise.training.engine.FitResult`; every history record has ``kept``,
        the fraction of training examples whose weight is 1 (float in [0, 1]), and with
        ``true_labels`` ``kept_precision`` (the fraction of them whose given label is
        right) and ``kept_recall`` (the fraction of the right labels kept).

    Raises:
        ValueError: as :func:`labelnoise.training.standard.fit`; ``q`` outside (0, 1], ``k``
            outside (0, 1), ``prune_start`` not an int >= 0, ``prune_every`` not an
            int >= 1.
    """
    if prune_start is None:
        prune_start = round(epochs / 3) if isinstance(epochs, int) else 0
    if prune_every is None:
        prune_every = max(1, round(epochs / 12)) if isinstance(epochs, int) else 1
    method = TruncatedGCE(model=model, loss="gce", epochs=epochs, batch_size=batch_size, lr=lr,
                          weight_decay=weight_decay, momentum=momentum, schedule=schedule,
                          augment=augment, seed=seed, loss_kwargs=None,
                          model_kwargs=model_kwargs, milestones=milestones, gamma=gamma,
                          true_labels=true_labels, q=q, k=k, prune_start=prune_start,
                          prune_every=prune_every)
    return engine.run_on_labels(method, images, labels, num_classes=num_classes,
                                test_images=test_images, test_labels=test_labels, device=device,
                                checkpoint_dir=checkpoint_dir, resume=resume, progress=progress,
                                on_epoch=on_epoch)
