"""Co-teaching (Han et al. 2018, "Co-teaching: Robust Training of Deep Neural Networks with
Extremely Noisy Labels", NeurIPS; Algorithm 1).

Two networks see the same mini-batches. In every batch each network ranks the examples by
its own cross entropy and keeps the ``R(T)`` fraction with the smallest loss; each network
is then updated on the examples its PEER kept. The kept fraction falls from 1 to
``1 - forget_rate`` over the first ``num_gradual`` epochs:
``R(T) = 1 - min(T / T_k * tau, tau)`` (paper, eq. in Algorithm 1; tau = forget_rate,
T_k = num_gradual = 10, T the 0-based epoch).

Defaults follow the paper and the official code (github.com/bhanML/Co-teaching): Adam,
lr 0.001, 200 epochs, batch 128, lr constant until epoch 80 then linearly decayed to 0,
Adam's beta1 0.9 switched to 0.1 from the decay start; ``forget_rate`` is the noise rate
(assumed known in the paper). Pass ``optimizer="sgd"`` to use SGD with an engine schedule
instead (faster for short runs).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from labelnoise.training import engine


def kept_fraction(epoch: int, forget_rate: float, num_gradual: int) -> float:
    """R(T) of Algorithm 1: the fraction of each batch kept at 0-based epoch ``epoch``."""
    if num_gradual <= 0:
        return 1 - forget_rate
    return 1 - min(epoch / num_gradual * forget_rate, forget_rate)


def select_small_loss(loss: torch.Tensor, keep: float) -> torch.Tensor:
    """Indices of the ``int(keep * B)`` (at least 1) smallest entries of ``loss`` (B,)."""
    n_keep = max(1, int(keep * loss.shape[0]))
    return torch.argsort(loss)[:n_keep]


def _paper_lr(epoch: int, lr: float, epochs: int, decay_start: float) -> tuple[float, float]:
    """(lr, Adam beta1) of the official code: constant, then linear decay to 0 and beta1 0.1."""
    if epoch < decay_start:
        return lr, 0.9
    return lr * (epochs - epoch) / max(epochs - decay_start, 1e-12), 0.1


def fit(images, labels, *, model="resnet8", forget_rate: float = 0.2, num_gradual: int = 10,
        epochs: int = 200, batch_size: int = 128, lr: float = 0.001,
        optimizer: str = "adam", decay_start: float | None = None,
        weight_decay: float = 0.0, schedule: str = "onecycle", augment: bool = True,
        seed: int = 0, device=None, test_images=None, test_labels=None, checkpoint_dir=None,
        resume: bool = False, progress: bool = True, num_classes: int | None = None,
        true_labels=None, model_kwargs: dict | None = None,
        on_epoch=None) -> engine.FitResult:
    """Train two networks with Co-teaching.

    Args:
        images: uint8 (N, H, W, C) images, or float (N, D) embeddings with ``model="mlp"``.
        labels: int (N,) given (noisy) labels in [0, K).
        model: backbone name (both networks; initialised with seeds ``seed`` and ``seed + 1``).
        forget_rate: tau in [0, 1), the fraction of each batch dropped after the ramp;
            the paper sets it to the noise rate.
        num_gradual: T_k, epochs over which the dropped fraction ramps up from 0 (paper: 10).
        epochs, batch_size, lr: paper: 200, 128, 0.001.
        optimizer: "adam" (paper; lr constant then linear decay from ``decay_start``, default
            40% of ``epochs`` = the paper's 80 of 200) or "sgd" (momentum 0.9, Nesterov, lr
            by ``schedule``).
        weight_decay: L2 penalty (paper: 0).
        true_labels: optional int (N,) clean labels; then the history also records
            ``label_precision``, the fraction of kept examples whose given label is right
            (the paper's Figure 4 metric).
        Other arguments: as :func:`labelnoise.training.standard.fit`.

    Returns:
        :class:`~labelnoise.training.engine.FitResult` with ``model`` the first network
        (the paper reports each network; the history has ``test_acc`` of network 1 and
        ``test_acc_net2``) and ``models`` both networks.

    Raises:
        ValueError: forget_rate outside [0, 1), unknown optimizer, bad data (see
            :func:`~labelnoise.training.engine.prepare_data`), bad resume.
    """
    if not 0 <= forget_rate < 1:
        raise ValueError(f"forget_rate must lie in [0, 1), got {forget_rate}")
    engine.validate_choice(optimizer, ("adam", "sgd"), "optimizer")
    if epochs < 1 or batch_size < 2:
        raise ValueError(f"epochs must be >= 1 and batch_size >= 2, got {epochs}, {batch_size}")
    data = engine.prepare_data(images, labels, num_classes=num_classes, test_images=test_images,
                               test_labels=test_labels, device=device)
    clean = None
    if true_labels is not None:
        clean = torch.from_numpy(engine.validate_labels(true_labels, name="true_labels"))
        if len(clean) != data.n:
            raise ValueError(f"true_labels has {len(clean)} entries but labels has {data.n}")
        clean = clean.to(data.device) == data.y
    nets = [engine.make_model(model, data, seed=seed + i, **(model_kwargs or {}))
            for i in range(2)]
    if optimizer == "adam":
        opts = [torch.optim.Adam(n.parameters(), lr=lr, weight_decay=weight_decay) for n in nets]
    else:
        opts = [engine.sgd(n, lr, weight_decay) for n in nets]
    decay_start = 0.4 * epochs if decay_start is None else decay_start
    generator = engine.seeded_generator(seed)
    config = dict(method="coteaching", model=str(model), forget_rate=forget_rate,
                  num_gradual=num_gradual, epochs=epochs, batch_size=batch_size, lr=lr,
                  optimizer=optimizer, decay_start=decay_start, weight_decay=weight_decay,
                  schedule=schedule, augment=augment, seed=seed, n=data.n,
                  num_classes=data.num_classes, model_kwargs=model_kwargs)
    ckpt = engine.Checkpointer(checkpoint_dir, resume, config, data)

    start, history = engine.restore(ckpt.load(), device=data.device, generator=generator,
                                    modules={"models": nets}, optimizers={"optimizers": opts})

    steps = engine.num_batches(data.n, batch_size)
    bar = engine.epoch_bar(start, epochs, desc="coteaching", progress=progress)
    for epoch in bar:
        clock = engine.Stopwatch(data.device)
        keep = kept_fraction(epoch, forget_rate, num_gradual)
        for n in nets:
            n.train()
        total = torch.zeros((), device=data.device)
        kept_clean = torch.zeros((), device=data.device)
        kept = seen = 0
        for step, idx in enumerate(engine.batches(data.n, batch_size, generator, data.device)):
            if optimizer == "adam":
                cur_lr, beta1 = _paper_lr(epoch, lr, epochs, decay_start)
                for opt in opts:
                    for group in opt.param_groups:
                        group["lr"], group["betas"] = cur_lr, (beta1, 0.999)
            else:
                cur_lr = lr * engine.lr_multiplier(epoch + step / steps, epochs, schedule)
                for opt in opts:
                    engine.set_lr(opt, cur_lr)
            x, y = engine.batch_inputs(data, idx, generator, augment), data.y[idx]
            with engine.autocast(data.device):
                logits = [n(x) for n in nets]
            losses = [F.cross_entropy(lg.float(), y, reduction="none") for lg in logits]
            # each network picks its small-loss examples; its peer learns from them
            picked = [select_small_loss(lo.detach(), keep) for lo in losses]
            updates = [losses[0][picked[1]].mean(), losses[1][picked[0]].mean()]
            for opt in opts:
                opt.zero_grad(set_to_none=True)
            (updates[0] + updates[1]).backward()
            for opt in opts:
                opt.step()
            total += updates[0].detach() * len(idx)
            seen += len(idx)
            if clean is not None:
                kept_clean += clean[idx][picked[0]].sum()
                kept += len(picked[0])
        record = dict(epoch=epoch + 1, train_loss=float(total) / max(seen, 1),
                      test_acc=engine.accuracy(nets[0], data.x_test, data.y_test),
                      test_acc_net2=engine.accuracy(nets[1], data.x_test, data.y_test),
                      lr=cur_lr, kept_fraction=keep)
        if clean is not None:
            record["label_precision"] = float(kept_clean) / max(kept, 1)
        record["seconds"] = clock.seconds()
        engine.end_epoch(history, record, bar, ckpt, on_epoch, dict(
            models=[n.state_dict() for n in nets],
            optimizers=[o.state_dict() for o in opts],
            rng=engine.rng_state(generator)))
    bar.close()
    for n in nets:
        n.eval()
    return engine.FitResult(model=nets[0], history=history, models=tuple(nets))
