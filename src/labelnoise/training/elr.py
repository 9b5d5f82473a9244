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

import numpy as np
import torch
from torch.nn import functional as F

from labelnoise.training import engine, standard


def fit(images, labels, *, model="preact-resnet18", epochs: int = 150, batch_size: int = 128,
        lr: float = 0.02, weight_decay: float = 1e-3, momentum: float = 0.9, lam: float = 3.0,
        beta: float = 0.7, schedule: str = "cosine-restarts", augment: bool = True,
        seed: int = 0, device=None, test_images=None, test_labels=None, checkpoint_dir=None,
        resume: bool = False, progress: bool = True, num_classes: int | None = None,
        model_kwargs: dict | None = None, on_epoch=None) -> engine.FitResult:
    """Train one network with the ELR loss.

    Args:
        images: uint8 (N, H, W, C) images, or float (N, D) embeddings with ``model="mlp"``.
        labels: int (N,) given (noisy) labels in [0, K).
        lam: weight lambda of the regulariser (paper: 3 on CIFAR-10, 7 on CIFAR-100).
        beta: momentum of the target moving average (paper: 0.7 / 0.9).
        schedule: learning-rate schedule (see :func:`labelnoise.training.engine.lr_multiplier`);
            the paper's is "cosine-restarts".
        Other arguments: as :func:`labelnoise.training.standard.fit`.

    Returns:
        :class:`~labelnoise.training.engine.FitResult`.

    Raises:
        ValueError: as :func:`labelnoise.training.standard.fit`.
    """
    return standard.fit(
        images, labels, model=model, loss="elr", loss_kwargs={"lam": lam, "beta": beta},
        epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
        momentum=momentum, schedule=schedule, augment=augment, seed=seed, device=device,
        test_images=test_images, test_labels=test_labels, checkpoint_dir=checkpoint_dir,
        resume=resume, progress=progress, num_classes=num_classes, model_kwargs=model_kwargs,
        on_epoch=on_epoch)


def sigmoid_rampup(step: float, length: float) -> float:
    """``exp(-5 (1 - step / length)^2)`` for step < length, else 1 (Laine & Aila 2017)."""
    if length <= 0 or step >= length:
        return 1.0
    t = 1.0 - max(step, 0.0) / length
    return float(math.exp(-5.0 * t * t))


@torch.no_grad()
def _update_ema(ema, net, momentum: float) -> None:
    for pe, p in zip(ema.parameters(), net.parameters()):
        pe.mul_(momentum).add_(p.detach(), alpha=1 - momentum)


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
        lam, beta: ELR weight and target momentum (paper CIFAR-10: 3, 0.7).
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
    if epochs < 1 or batch_size < 2 or mixup_alpha <= 0 or not 0 <= beta < 1:
        raise ValueError("need epochs >= 1, batch_size >= 2, mixup_alpha > 0, 0 <= beta < 1")
    data = engine.prepare_data(images, labels, num_classes=num_classes, test_images=test_images,
                               test_labels=test_labels, device=device)
    k = data.num_classes
    nets = [engine.make_model(model, data, seed=seed + i, **(model_kwargs or {}))
            for i in range(2)]
    emas = [copy.deepcopy(n) for n in nets]
    for e in emas:
        e.requires_grad_(False)
    opts = [engine.sgd(n, lr, weight_decay, momentum, nesterov=False) for n in nets]
    targets = [torch.zeros(data.n, k, device=data.device) for _ in range(2)]
    generator = engine.seeded_generator(seed)
    rng = np.random.default_rng(seed)
    lr_decay_epoch = 0.75 * epochs if lr_decay_epoch is None else lr_decay_epoch
    config = dict(method="elr+", model=str(model), epochs=epochs, batch_size=batch_size, lr=lr,
                  weight_decay=weight_decay, momentum=momentum, lr_decay_epoch=lr_decay_epoch,
                  lam=lam, beta=beta, mixup_alpha=mixup_alpha, ema_momentum=ema_momentum,
                  ema_rampup_steps=ema_rampup_steps, augment=augment, seed=seed, n=data.n,
                  num_classes=k, model_kwargs=model_kwargs)
    ckpt = engine.Checkpointer(checkpoint_dir, resume, config, data)
    state = ckpt.load()
    start, history = engine.restore(state, device=data.device, generator=generator, rng=rng,
                                    modules={"models": nets, "emas": emas},
                                    optimizers={"optimizers": opts})
    global_step = 0
    if state is not None:
        for i in range(2):
            targets[i].copy_(state["targets"][i])
        global_step = state["global_step"]

    steps = engine.num_batches(data.n, batch_size)
    ensemble = engine.Ensemble(emas)
    bar = engine.epoch_bar(start, epochs, desc="elr+", progress=progress)
    for epoch in bar:
        clock = engine.Stopwatch(data.device)
        cur_lr = lr * engine.lr_multiplier(epoch, epochs, "step", milestones=(lr_decay_epoch,))
        losses = []
        for i in range(2):  # network i, its targets from the peer's averaged copy
            net, peer_ema = nets[i], emas[1 - i]
            net.train()
            peer_ema.train()
            engine.set_lr(opts[i], cur_lr)
            total = torch.zeros((), device=data.device)
            for step, idx in enumerate(engine.batches(data.n, batch_size, generator,
                                                      data.device)):
                x = engine.batch_inputs(data, idx, generator, augment)
                with torch.no_grad(), engine.autocast(data.device):
                    p_peer = F.softmax(peer_ema(x).float(), 1)
                t = targets[i]
                t[idx] = beta * t[idx] + (1 - beta) * p_peer / p_peer.sum(1, keepdim=True)
                mix = float(rng.beta(mixup_alpha, mixup_alpha))
                mix = max(mix, 1 - mix)
                perm = torch.randperm(len(idx), generator=generator).to(data.device)
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
                loss = ce + lam * reg
                opts[i].zero_grad(set_to_none=True)
                loss.backward()
                opts[i].step()
                ramp = sigmoid_rampup(global_step + step + 1, ema_rampup_steps)
                _update_ema(emas[i], net, ramp * ema_momentum)
                total += loss.detach() * len(idx)
            losses.append(float(total) / data.n)
        global_step += steps
        record = dict(epoch=epoch + 1, train_loss=float(np.mean(losses)),
                      test_acc=engine.accuracy(ensemble, data.x_test, data.y_test), lr=cur_lr)
        record["seconds"] = clock.seconds()
        engine.end_epoch(history, record, bar, ckpt, on_epoch, dict(
            models=[n.state_dict() for n in nets], emas=[e.state_dict() for e in emas],
            optimizers=[o.state_dict() for o in opts], targets=targets,
            rng=engine.rng_state(generator, rng),
            global_step=global_step))
    bar.close()
    ensemble.eval()
    return engine.FitResult(model=ensemble, history=history, models=tuple(emas))
