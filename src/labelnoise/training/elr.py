"""Early-learning regularization (ELR; Liu et al. 2020, "Early-Learning Regularization
Prevents Memorization of Noisy Labels", NeurIPS).

Algorithm: standard training where the loss is
``CE(p_i, y_i) + lam * log(1 - <p_i, t_i>)`` and ``t_i`` is a running average of the
network's own (detached) predictions on example i, updated every time i is in a batch
(:class:`labelnoise.losses.ELRLoss`). During the early-learning phase the predictions are
mostly right even for mislabelled examples, so the targets keep the network from later
memorising the wrong labels.

Defaults follow the official CIFAR-10 configuration (github.com/shengliu66/ELR,
ELR/config_cifar10.json): SGD lr 0.02, momentum 0.9, weight decay 1e-3, batch 128,
150 epochs of cosine annealing with warm restarts every 10 epochs down to lr 0.001,
lambda 3, beta 0.7 (CIFAR-100: lambda 7, beta 0.9). The paper's backbone is a ResNet-34;
pass ``model`` to choose ours.

ELR+ (:func:`fit_plus`, the paper's section 4 and the official ELR_plus code) adds: two
networks, each with a weight-averaged copy (exponential moving average of the weights,
momentum 0.997 ramped up with a sigmoid schedule over ``ema_rampup_steps``); the targets
of network 1 are the moving average of the predictions of network 2's averaged copy on the
un-mixed images (and vice versa); mixup (alpha = 1) of the inputs, the one-hot labels and
the targets; prediction by the mean logits of the two averaged networks. CIFAR-10 defaults
(ELR_plus/config_cifar10.json): PreAct ResNet-18, SGD lr 0.02, momentum 0.9, weight decay
5e-4, batch 128, 200 epochs, lr x0.1 at epoch 150, lambda 3, beta 0.7.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from labelnoise._validation import check_int, check_real
from labelnoise.training import engine, standard


def fit(images, labels, *, model="preact-resnet18", epochs: int = 150, batch_size: int = 128,
        lr: float = 0.02, weight_decay: float = 1e-3, momentum: float = 0.9, lam: float = 3.0,
        beta: float = 0.7, schedule: str = "cosine-restarts", milestones=None,
        gamma: float = 0.1, augment: bool = True, seed: int = 0, device=None, test_images=None, test_labels=None, checkpoint_dir=None,
        resume: bool = False, progress: bool = True, num_classes: int | None = None,
        model_kwargs: dict | None = None, on_epoch=None,
        true_labels=None, sample_weight=None) -> engine.FitResult:
    """Train one network with the ELR loss.

    Args:
        images: uint8 (N, H, W, C) images, or float (N, D) embeddings with ``model="mlp"``.
        labels: int (N,) given (noisy) labels in [0, K).
        lam: weight lambda of the regulariser (paper: 3 on CIFAR-10, 7 on CIFAR-100).
        beta: momentum of the target moving average (paper: 0.7 / 0.9).
        schedule: learning-rate schedule (see :func:`labelnoise.training.engine.lr_multiplier`);
            the paper's is "cosine-restarts" (its symmetric-noise CIFAR-10 configuration);
            its asymmetric-noise configuration steps down instead (``"step"``, ``gamma``
            0.01 at epochs 40 and 80 of 120).
        milestones, gamma: the epochs and the factor of the ``"step"`` schedule (see
            :func:`labelnoise.training.standard.fit`).
        Other arguments: as :func:`labelnoise.training.standard.fit`.

    Returns:
        :class:`~labelnoise.training.engine.FitResult`.

    Raises:
        ValueError: as :func:`labelnoise.training.standard.fit`.
    """
    return standard.fit(
        images, labels, model=model, loss="elr", loss_kwargs={"lam": lam, "beta": beta},
        epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
        momentum=momentum, schedule=schedule, milestones=milestones, gamma=gamma,
        augment=augment, seed=seed, device=device, test_images=test_images,
        test_labels=test_labels, checkpoint_dir=checkpoint_dir, resume=resume, progress=progress, num_classes=num_classes, model_kwargs=model_kwargs,
        on_epoch=on_epoch, true_labels=true_labels, sample_weight=sample_weight)


def paper_settings(noise_rate: float, asymmetric: bool, epochs: int | None = None) -> dict:
    """The official code's per-noise-kind settings (Liu et al. 2020,
    ``ELR/config_cifar10_asym.json`` against ``config_cifar10.json``): asymmetric noise
    ``lam`` 1, ``beta`` 0.9 and, given the run's ``epochs``, the step schedule of that
    configuration (120 epochs, x0.01 at epochs 40 and 80: ``schedule="step"``,
    ``milestones`` at 1/3 and 2/3 of ``epochs``, ``gamma`` 0.01) instead of cosine with warm
    restarts; symmetric noise the defaults (``lam`` 3, ``beta`` 0.7, cosine with warm
    restarts). The noise rate itself is not used. Used by ``labelnoise train`` and the
    benchmarks unless their own settings override it."""
    if not asymmetric:
        return {}
    out = {"lam": 1.0, "beta": 0.9}
    if epochs is not None:
        out.update(schedule="step", milestones=[epochs / 3, 2 * epochs / 3], gamma=0.01)
    return out


def paper_settings_plus(noise_rate: float, asymmetric: bool) -> dict:
    """ELR+'s per-noise-kind settings in the official code (Liu et al. 2020,
    ``ELR_plus/config_cifar10_asym.json`` against ``config_cifar10.json``; the two differ only
    in the loss's weights): asymmetric noise ``lam`` 1, ``beta`` 0.9; symmetric noise the
    defaults of :func:`fit_plus` (``lam`` 3, ``beta`` 0.7). The schedule is the same for both.
    The noise rate itself is not used. Used by ``labelnoise train`` and the benchmarks unless
    their own settings override it."""
    return {"lam": 1.0, "beta": 0.9} if asymmetric else {}


def sigmoid_rampup(step: float, length: float) -> float:
    """``exp(-5 (1 - step / length)^2)`` for step < length, else 1 (Laine & Aila 2017)."""
    if length <= 0 or step >= length:
        return 1.0
    t = 1.0 - max(step, 0.0) / length
    return float(math.exp(-5.0 * t * t))


@dataclass
class ELRPlus(engine.Method):
    """ELR+'s two networks, their weight averages and targets (hyperparameters: see
    :func:`fit_plus`)."""

    name = "elr+"  # its checkpoints' tag since before the registry named it "elr-plus"
    checkpointed = {"models": "nets", "emas": "emas", "optimizers": "optimizers",
                    "targets": "targets", "global_step": "global_step"}
    model: object
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    momentum: float
    lr_decay_epoch: float | None
    lam: float
    beta: float
    mixup_alpha: float
    ema_momentum: float
    ema_rampup_steps: int
    augment: bool
    seed: int
    model_kwargs: dict | None

    def __post_init__(self):
        super().__post_init__()
        check_real(self.mixup_alpha, "mixup_alpha", low=0, strict=True)
        check_real(self.beta, "beta", low=0, high=1)
        check_real(self.lam, "lam", low=0)
        check_real(self.ema_momentum, "ema_momentum", low=0, high=1)
        check_int(self.ema_rampup_steps, "ema_rampup_steps", 0)
        if self.lr_decay_epoch is None:
            self.lr_decay_epoch = 0.75 * self.epochs
        else:
            check_real(self.lr_decay_epoch, "lr_decay_epoch", low=0)

    def setup(self, data):
        self.nets = [engine.make_model(self.model, data, seed=self.seed + i,
                                       **(self.model_kwargs or {})) for i in range(2)]
        self.emas = [copy.deepcopy(n) for n in self.nets]
        for e in self.emas:
            e.requires_grad_(False)
        self.optimizers = [engine.sgd(n, self.lr, self.weight_decay, self.momentum,
                                      nesterov=False) for n in self.nets]
        self.targets = [torch.zeros(data.n, data.num_classes, device=data.device)
                        for _ in range(2)]
        self.global_step = 0
        self.ensemble = engine.Ensemble(self.emas)

    def lr_at(self, t):
        return self.lr * engine.lr_multiplier(t, self.epochs, "step",
                                              milestones=(self.lr_decay_epoch,))

    def train_epoch(self, epoch):
        data, k, beta = self.data, self.data.num_classes, self.beta
        lr = self.lr_at(epoch)
        losses = []
        for i in range(2):  # network i, its targets from the peer's averaged copy
            net, peer_ema, opt = self.nets[i], self.emas[1 - i], self.optimizers[i]
            t = self.targets[i]
            net.train()
            peer_ema.train()
            engine.set_lr(opt, lr)
            total = torch.zeros((), device=data.device)
            for step, idx in enumerate(engine.batches(data.n, self.batch_size, self.generator,
                                                      data.device)):
                x = engine.batch_inputs(data, idx, self.generator, self.augment)
                with torch.no_grad(), engine.autocast(data.device):
                    p_peer = F.softmax(peer_ema(x).float(), 1)
                t[idx] = beta * t[idx] + (1 - beta) * p_peer / p_peer.sum(1, keepdim=True)
                # mixup of the inputs, the one-hot labels and the targets
                mix = float(self.rng.beta(self.mixup_alpha, self.mixup_alpha))
                mix = max(mix, 1 - mix)
                perm = torch.randperm(len(idx), generator=self.generator).to(data.device)
                xf = x.float()
                mixed = mix * xf + (1 - mix) * xf[perm]
                if mixed.ndim == 4:
                    mixed = mixed.contiguous(memory_format=torch.channels_last)
                onehot = F.one_hot(data.y[idx], k).float()
                y_mix = mix * onehot + (1 - mix) * onehot[perm]
                q = mix * t[idx] + (1 - mix) * t[idx][perm]
                with engine.autocast(data.device):
                    logits = net(mixed).float()
                p = F.softmax(logits, 1).clamp(1e-4, 1 - 1e-4)
                ce = -(y_mix * F.log_softmax(logits, 1)).sum(1).mean()
                reg = torch.log(1 - (q * p).sum(1)).mean()
                loss = ce + self.lam * reg
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                ramp = sigmoid_rampup(self.global_step + step + 1, self.ema_rampup_steps)
                engine.ema_update(self.emas[i], net, ramp * self.ema_momentum)
                total += loss.detach() * len(idx)
            losses.append(float(total) / data.n)
        self.global_step += engine.num_batches(data.n, self.batch_size)
        return dict(train_loss=float(np.mean(losses)), lr=lr)

    def result(self):
        return self.ensemble, tuple(self.emas)


def fit_plus(images, labels, *, model="preact-resnet18", epochs: int = 200,
             batch_size: int = 128, lr: float = 0.02, weight_decay: float = 5e-4,
             momentum: float = 0.9, lr_decay_epoch: float | None = None, lam: float = 3.0,
             beta: float = 0.7, mixup_alpha: float = 1.0, ema_momentum: float = 0.997,
             ema_rampup_steps: int = 40000, augment: bool = True, seed: int = 0, device=None,
             test_images=None, test_labels=None, checkpoint_dir=None, resume: bool = False,
             progress: bool = True, num_classes: int | None = None,
             model_kwargs: dict | None = None, on_epoch=None) -> engine.FitResult:
    """Train ELR+ (two networks, weight averaging, mixup; see the module docstring).

    Args:
        images: uint8 (N, H, W, C) images, or float (N, D) embeddings with ``model="mlp"``.
        labels: int (N,) given (noisy) labels in [0, K).
        lr_decay_epoch: the lr is multiplied by 0.1 there (default 75% of ``epochs``, the
            paper's 150 of 200).
        lam, beta: ELR weight and target momentum (official CIFAR-10 configuration: 3, 0.7
            for symmetric noise; 1, 0.9 for asymmetric, :func:`paper_settings_plus`).
        mixup_alpha: Beta(alpha, alpha) of mixup, ``l = max(l, 1 - l)`` (paper: 1).
        ema_momentum, ema_rampup_steps: weight averaging (paper: 0.997, 40000 steps).
        Other arguments: as :func:`labelnoise.training.standard.fit`.

    Returns:
        :class:`~labelnoise.training.engine.FitResult`: ``model`` the
        :class:`~labelnoise.training.engine.Ensemble` of the two weight-averaged networks,
        ``models`` the two averaged networks.

    Raises:
        ValueError: bad data or hyperparameters, bad resume.
    """
    method = ELRPlus(model=model, epochs=epochs, batch_size=batch_size, lr=lr,
                     weight_decay=weight_decay, momentum=momentum, lr_decay_epoch=lr_decay_epoch,
                     lam=lam, beta=beta, mixup_alpha=mixup_alpha, ema_momentum=ema_momentum,
                     ema_rampup_steps=ema_rampup_steps, augment=augment, seed=seed,
                     model_kwargs=model_kwargs)
    return engine.run_on_labels(method, images, labels, num_classes=num_classes,
                                test_images=test_images, test_labels=test_labels, device=device,
                                checkpoint_dir=checkpoint_dir, resume=resume, progress=progress,
                                on_epoch=on_epoch)
