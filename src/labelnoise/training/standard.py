"""Standard training: one network, one loss (cross entropy or a noise-robust loss).

Algorithm (per epoch): shuffle; for each batch, augment (random crop + flip), forward,
loss against the given (noisy) labels, SGD step with the learning rate of the schedule.
With ``loss="ce"`` this is the CE baseline of the CIFAR-N leaderboard (Wei et al. 2022);
with ``"gce"``, ``"sce"``, ``"nce+rce"``, ``"bootstrap-soft"``, ``"elr"``... it trains with
the robust losses of :mod:`labelnoise.losses`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from labelnoise._validation import check_real
from labelnoise.losses import build_loss
from labelnoise.training import engine


@dataclass
class Standard(engine.Method):
    """One network trained on the given labels with one loss (hyperparameters: see :func:`fit`)."""

    name = "standard"
    checkpointed = {"model": "net", "loss": "criterion", "optimizer": "optimizer"}
    distributed = True
    model: object
    loss: object
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    momentum: float
    schedule: str
    augment: bool
    seed: int
    loss_kwargs: dict | None
    model_kwargs: dict | None
    milestones: object
    gamma: float = 0.1
    true_labels: object = engine.not_in_config()
    #: float (N,) per-example loss weights (None: all equal), fingerprinted in the config
    sample_weight: object = engine.not_in_config(fingerprint=True)

    def __post_init__(self):
        super().__post_init__()
        check_real(self.gamma, "gamma", low=0, strict=True)
        if self.sample_weight is not None and type(self).train_epoch is not Standard.train_epoch:
            raise ValueError(f"sample_weight is not taken by {self.name} (only by the "
                             "standard loop: method 'standard' or 'elr')")
        if self.milestones is not None:
            if isinstance(self.milestones, (str, bytes)) or not hasattr(self.milestones,
                                                                        "__iter__"):
                raise ValueError(f"milestones must be a list of epochs (numbers >= 0), got "
                                 f"{self.milestones!r}")
            for m in self.milestones:
                check_real(m, "each of milestones", low=0)

    @property
    def label(self):
        return f"standard/{self.loss}"

    def config(self, data) -> dict:
        cfg = super().config(data)
        if self.sample_weight is None:  # configs (and checkpoints) as before the option
            cfg.pop("sample_weight_sha1")
        return cfg

    def setup(self, data):
        self.net = engine.make_model(self.model, data, seed=self.seed, **(self.model_kwargs or {}))
        criterion = self.loss if isinstance(self.loss, nn.Module) else build_loss(
            self.loss, data.num_classes, num_examples=data.n, **(self.loss_kwargs or {}))
        # per-example loss weights, rescaled to mean 1 (their scale does not change the
        # step size); None when not given or all equal (the unweighted loop, bit for bit)
        self.example_weight = None
        weight = (None if self.sample_weight is None
                  else normalised_sample_weight(self.sample_weight, data.n))
        if weight is not None and not np.all(weight == weight[0]):
            self.example_weight = torch.as_tensor(weight, dtype=torch.float32,
                                                  device=data.device)
            if not hasattr(criterion, "reduction"):
                raise ValueError("sample_weight needs a loss with a reduction attribute "
                                 "(per-example losses); the loss module given has none")
            if criterion is self.loss:  # the user's module is not modified
                criterion = copy.deepcopy(criterion)
            criterion.reduction = "none"
        self.criterion = criterion.to(data.device)
        self.optimizer = engine.sgd(self.net, self.lr, self.weight_decay, self.momentum)
        self.step_at = (tuple(self.milestones) if self.milestones is not None
                        else (0.5 * self.epochs, 0.75 * self.epochs))

    def lr_at(self, t):
        return self.lr * engine.lr_multiplier(t, self.epochs, self.schedule,
                                              milestones=self.step_at, gamma=self.gamma)

    def train_epoch(self, epoch):
        # distributed (self.world.active): each rank its share ``part`` of every global
        # batch, its mean loss weighted so that DDP's averaged gradient is the global batch's;
        # a loss with per-example state (ELR's targets: buffers with N rows) has the rows
        # every rank updated gathered at the end of the epoch (each example is in one batch
        # per epoch, so no rank reads a row another rank changed within it). In one process
        # ``part`` is everything and the weights and gathers are the identity.
        data, net, criterion, world = self.data, self.net, self.criterion, self.world
        net.train()
        criterion.train()
        forward = self.parallel(net)
        per_example = getattr(criterion, "needs_index", False)
        rows = ([b for b in criterion.buffers() if b.ndim >= 1 and b.shape[0] == data.n]
                if per_example and world.active else [])
        owned = []
        total, seen = torch.zeros((), device=data.device), 0
        for _, idx in self.batches(data.n, self.batch_size, epoch, [self.optimizer]):
            part = world.part(len(idx))
            mine = idx[part]
            x = engine.batch_inputs(data, idx, self.generator, self.augment, part=part)
            with engine.autocast(data.device):
                logits = forward(x)
            if per_example:
                loss = criterion(logits, data.y[mine], mine)
            else:
                loss = criterion(logits, data.y[mine])
            if self.example_weight is not None:  # per-example losses (reduction "none")
                if loss.shape != (len(mine),):
                    raise ValueError(f"sample_weight needs one loss per example from the "
                                     f"loss with reduction 'none'; it returned shape "
                                     f"{tuple(loss.shape)}")
                loss = (loss * self.example_weight[mine]).mean()
            loss = world.weight(loss, len(mine), len(idx))
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            total += loss.detach() * len(idx)
            seen += len(idx)
            if rows:
                owned.append(mine)
        if rows and owned:
            world.sync_rows(rows, torch.cat(owned))
        total = world.average(total)
        return dict(train_loss=float(total) / max(seen, 1), lr=engine.get_lr(self.optimizer))


def fit(images, labels, *, model="resnet8", loss="ce", epochs: int = 15, batch_size: int = 256,
        lr: float = 0.1, weight_decay: float = 5e-4, momentum: float = 0.9,
        schedule: str = "onecycle", augment: bool = True, seed: int = 0, device=None,
        test_images=None, test_labels=None, checkpoint_dir=None, resume: bool = False,
        progress: bool = True, num_classes: int | None = None, loss_kwargs: dict | None = None,
        model_kwargs: dict | None = None, milestones=None, gamma: float = 0.1,
        on_epoch=None, true_labels=None, sample_weight=None) -> engine.FitResult:
    """Train one network on (possibly noisy) labels.

    Args:
        images: uint8 (N, H, W, C) images, or float (N, D) embeddings with ``model="mlp"``.
        labels: int (N,) given labels in [0, K).
        model: a name of :data:`labelnoise.models.MODELS` or an ``nn.Module``.
        loss: a name of :data:`labelnoise.losses.LOSSES` or an ``nn.Module`` called as
            ``loss(logits, labels)`` (or ``(logits, labels, index)`` when it has
            ``needs_index = True``).
        epochs: passes over the training set.
        batch_size: examples per SGD step.
        lr: peak learning rate; the schedule multiplies it (see
            :func:`labelnoise.training.engine.lr_multiplier`).
        weight_decay, momentum: SGD (Nesterov) settings.
        schedule: "onecycle", "cosine", "cosine-restarts" (period 10 epochs, floor 5%),
            "step" (x ``gamma`` at each of ``milestones``) or "constant".
        milestones: epochs of the "step" schedule (default 50% and 75% of ``epochs``).
        gamma: the "step" schedule's factor at each milestone (> 0; default 0.1).
        augment: random crop (pad 4, reflect) + horizontal flip (images only).
        seed: seeds the network initialisation, data order and augmentation.
        device: torch device (default CUDA if available, else CPU).
        test_images, test_labels: a clean test set evaluated after every epoch.
        checkpoint_dir: write ``checkpoint.pt`` there after every epoch.
        resume: continue from the checkpoint in ``checkpoint_dir``.
        progress: show a progress bar.
        num_classes: K (default ``max(labels) + 1``).
        loss_kwargs, model_kwargs: passed to ``build_loss`` / ``build_model``.
        on_epoch: optional callable, called with the history (list of per-epoch dicts)
            after every epoch's checkpoint (e.g. to write metrics as they come).
        true_labels: optional int (N,) clean labels (diagnostics only, never trained on);
            the history then also records ``memorised``, ``corrected``,
            ``train_acc_given`` and ``train_acc_clean`` per epoch (see
            :class:`~labelnoise.training.engine.Memorisation`).
        sample_weight: optional float (N,) per-example weights (finite, >= 0, not all 0):
            each batch's loss is the mean of weight x the example's loss, the weights
            rescaled to mean 1 over the training set (so that their scale leaves the step
            size as it is; all equal: the same as None). Recorded as a fingerprint in the
            config, so a resume with other weights is refused. The loss must have a
            ``reduction`` (every loss of :data:`labelnoise.losses.LOSSES` has).

    Returns:
        :class:`~labelnoise.training.engine.FitResult` (model in eval mode, history with
        ``epoch``, ``train_loss``, ``test_acc``, ``lr``, ``seconds``).

    Raises:
        ValueError: bad data (see :func:`~labelnoise.training.engine.prepare_data`), unknown
            model/loss/schedule names, ``epochs`` < 1, ``gamma`` not a finite number > 0,
            a bad ``sample_weight``, resume without a checkpoint or with different
            settings.
    """
    method = Standard(model=model, loss=loss, epochs=epochs, batch_size=batch_size, lr=lr,
                      weight_decay=weight_decay, momentum=momentum, schedule=schedule,
                      augment=augment, seed=seed, loss_kwargs=loss_kwargs,
                      model_kwargs=model_kwargs, milestones=milestones, gamma=gamma,
                      true_labels=true_labels, sample_weight=sample_weight)
    return engine.run_on_labels(method, images, labels, num_classes=num_classes,
                                test_images=test_images, test_labels=test_labels, device=device,
                                checkpoint_dir=checkpoint_dir, resume=resume, progress=progress,
                                on_epoch=on_epoch)


def normalised_sample_weight(sample_weight, n: int) -> np.ndarray:
    """Per-example loss weights checked and rescaled to mean 1: float64 (n,).

    Raises:
        ValueError: not ``n`` numbers in one dimension, a NaN, an infinite or a negative
            weight, or every weight 0.
    """
    try:
        w = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("sample_weight must be numbers, one per example") from None
    if w.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},) (one weight per example), "
                         f"got {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError("sample_weight must be finite (it holds NaN or inf)")
    if (w < 0).any():
        raise ValueError(f"sample_weight must be >= 0, got {w.min()!r}")
    total = w.sum()
    if total <= 0:
        raise ValueError("sample_weight is 0 for every example; nothing would be learnt")
    return w * (n / total)
