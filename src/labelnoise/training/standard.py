"""Standard training: one network, one loss (cross entropy or a noise-robust loss).

Algorithm (per epoch): shuffle; for each batch, augment (random crop + flip), forward,
loss against the given (noisy) labels, SGD step with the learning rate of the schedule;
then evaluate on the clean test set and checkpoint. With ``loss="ce"`` this is the CE
baseline of the CIFAR-N leaderboard (Wei et al. 2022); with ``"gce"``, ``"sce"``,
``"nce+rce"``, ``"bootstrap-soft"``, ``"elr"``... it trains with the robust losses of
:mod:`labelnoise.losses`.
"""

from __future__ import annotations

import torch
from torch import nn

from labelnoise.losses import build_loss
from labelnoise.training import engine


def fit(images, labels, *, model="resnet8", loss="ce", epochs: int = 15, batch_size: int = 256,
        lr: float = 0.1, weight_decay: float = 5e-4, momentum: float = 0.9,
        schedule: str = "onecycle", augment: bool = True, seed: int = 0, device=None,
        test_images=None, test_labels=None, checkpoint_dir=None, resume: bool = False,
        progress: bool = True, num_classes: int | None = None, loss_kwargs: dict | None = None,
        model_kwargs: dict | None = None, milestones=None,
        on_epoch=None) -> engine.FitResult:
    """Train one network on (possibly noisy) labels.

    Args:
        images: uint8 (N, H, W, C) images, or float (N, D) embeddings with ``model="mlp"``.
        labels: int (N,) given labels in [0, K).
        model: a name for :func:`labelnoise.models.build_model` or an ``nn.Module``.
        loss: a name for :func:`labelnoise.losses.build_loss` or an ``nn.Module`` called as
            ``loss(logits, labels)`` (or ``(logits, labels, index)`` when it has
            ``needs_index = True``).
        epochs: passes over the training set.
        batch_size: examples per SGD step.
        lr: peak learning rate; the schedule multiplies it (see
            :func:`labelnoise.training.engine.lr_multiplier`).
        weight_decay, momentum: SGD (Nesterov) settings.
        schedule: "onecycle", "cosine", "cosine-restarts" (period 10 epochs, floor 5%),
            "step" (x0.1 at each of ``milestones``) or "constant".
        milestones: epochs of the "step" schedule (default 50% and 75% of ``epochs``).
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

    Returns:
        :class:`~labelnoise.training.engine.FitResult` (model in eval mode, history).

    Raises:
        ValueError: bad data (see :func:`~labelnoise.training.engine.prepare_data`), unknown
            model/loss/schedule names, ``epochs`` < 1, resume without a checkpoint or with
            different settings.
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs} and {batch_size}")
    engine.validate_choice(schedule, engine.SCHEDULES, "schedule")
    data = engine.prepare_data(images, labels, num_classes=num_classes, test_images=test_images,
                               test_labels=test_labels, device=device)
    net = engine.make_model(model, data, seed=seed, **(model_kwargs or {}))
    criterion = loss if isinstance(loss, nn.Module) else build_loss(
        loss, data.num_classes, num_examples=data.n, **(loss_kwargs or {}))
    criterion = criterion.to(data.device)
    optimizer = engine.sgd(net, lr, weight_decay, momentum)
    generator = engine.seeded_generator(seed)
    config = dict(method="standard", model=str(model), loss=str(loss), epochs=epochs,
                  batch_size=batch_size, lr=lr, weight_decay=weight_decay, momentum=momentum,
                  schedule=schedule, augment=augment, seed=seed, n=data.n,
                  num_classes=data.num_classes, loss_kwargs=loss_kwargs,
                  model_kwargs=model_kwargs, milestones=milestones)
    ckpt = engine.Checkpointer(checkpoint_dir, resume, config, data)

    start, history = engine.restore(ckpt.load(), device=data.device, generator=generator,
                                    modules={"model": net, "loss": criterion},
                                    optimizers={"optimizer": optimizer})

    steps = engine.num_batches(data.n, batch_size)
    milestones = tuple(milestones) if milestones is not None else (0.5 * epochs, 0.75 * epochs)
    bar = engine.epoch_bar(start, epochs, desc=f"standard/{loss}", progress=progress)
    for epoch in bar:
        clock = engine.Stopwatch(data.device)
        net.train()
        criterion.train()
        total = torch.zeros((), device=data.device)
        seen = 0
        for step, idx in enumerate(engine.batches(data.n, batch_size, generator, data.device)):
            cur_lr = lr * engine.lr_multiplier(epoch + step / steps, epochs, schedule,
                                               milestones=milestones)
            engine.set_lr(optimizer, cur_lr)
            x = engine.batch_inputs(data, idx, generator, augment)
            with engine.autocast(data.device):
                logits = net(x)
            if getattr(criterion, "needs_index", False):
                batch_loss = criterion(logits, data.y[idx], idx)
            else:
                batch_loss = criterion(logits, data.y[idx])
            optimizer.zero_grad(set_to_none=True)
            batch_loss.backward()
            optimizer.step()
            total += batch_loss.detach() * len(idx)
            seen += len(idx)
        record = dict(epoch=epoch + 1, train_loss=float(total) / max(seen, 1),
                      test_acc=engine.accuracy(net, data.x_test, data.y_test), lr=cur_lr,
                      seconds=clock.seconds())
        engine.end_epoch(history, record, bar, ckpt, on_epoch, dict(
            model=net.state_dict(), loss=criterion.state_dict(),
            optimizer=optimizer.state_dict(), rng=engine.rng_state(generator)))
    bar.close()
    net.eval()
    return engine.FitResult(model=net, history=history, models=(net,))

