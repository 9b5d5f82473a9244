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

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from labelnoise._validation import check_fraction, check_int, check_real
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


def paper_settings(noise_rate: float, asymmetric: bool) -> dict:
    """The paper's setting that depends on the noise: ``forget_rate`` = the noise rate
    (assumed known, Han et al. 2018, section 3). Used by ``labelnoise train`` and the
    benchmarks when no ``--forget-rate`` is given."""
    return {"forget_rate": noise_rate}


@dataclass
class CoTeaching(engine.Method):
    """Co-teaching's two networks and Algorithm 1 (hyperparameters: see :func:`fit`)."""

    name = "coteaching"
    checkpointed = {"models": "nets", "optimizers": "optimizers"}
    distributed = True
    model: object
    forget_rate: float
    num_gradual: int
    epochs: int
    batch_size: int
    lr: float
    optimizer: str
    decay_start: float | None
    weight_decay: float
    schedule: str
    augment: bool
    seed: int
    model_kwargs: dict | None
    true_labels: object = engine.not_in_config()

    def __post_init__(self):
        super().__post_init__()
        self.forget_rate = check_fraction(self.forget_rate, "forget_rate")
        engine.validate_choice(self.optimizer, ("adam", "sgd"), "optimizer")
        check_int(self.num_gradual, "num_gradual", 0)
        if self.decay_start is None:
            self.decay_start = 0.4 * self.epochs
        else:
            check_real(self.decay_start, "decay_start", low=0)

    def setup(self, data):
        self.clean = None  # bool (N,): is the given label right (for label_precision)
        if self.true_labels is not None:
            truth = torch.from_numpy(engine.validate_labels(self.true_labels, name="true_labels"))
            if len(truth) != data.n:
                raise ValueError(f"true_labels has {len(truth)} entries but labels has {data.n}")
            self.clean = truth.to(data.device) == data.y
        self.nets = [engine.make_model(self.model, data, seed=self.seed + i,
                                       **(self.model_kwargs or {})) for i in range(2)]
        if self.optimizer == "adam":
            self.optimizers = [torch.optim.Adam(n.parameters(), lr=self.lr,
                                                weight_decay=self.weight_decay) for n in self.nets]
        else:
            self.optimizers = [engine.sgd(n, self.lr, self.weight_decay) for n in self.nets]

    def lr_at(self, t):
        if self.optimizer == "adam":  # the official code: constant, then linear decay to 0
            return _paper_lr(int(t), self.lr, self.epochs, self.decay_start)[0]
        return super().lr_at(t)

    def train_epoch(self, epoch):
        data, nets, opts = self.data, self.nets, self.optimizers
        keep = kept_fraction(epoch, self.forget_rate, self.num_gradual)  # R(T)
        if self.optimizer == "adam":  # and Adam's beta1 0.9, then 0.1 from the decay start
            beta1 = _paper_lr(epoch, self.lr, self.epochs, self.decay_start)[1]
            for opt in opts:
                for group in opt.param_groups:
                    group["betas"] = (beta1, 0.999)
        for n in nets:
            n.train()
        world = self.world
        forwards = [self.parallel(n) for n in nets]
        total = torch.zeros((), device=data.device)
        kept_clean = torch.zeros((), device=data.device)
        kept = seen = 0
        for _, idx in self.batches(data.n, self.batch_size, epoch, opts):
            part = world.part(len(idx))  # distributed: this rank's share of the global batch
            mine = idx[part]
            x = engine.batch_inputs(data, idx, self.generator, self.augment, part=part)
            y = data.y[mine]
            with engine.autocast(data.device):
                logits = [f(x) for f in forwards]
            losses = [F.cross_entropy(lg.float(), y, reduction="none") for lg in logits]
            # each network picks its R(T) small-loss examples; its peer learns from them
            if world.active:
                picked, updates = self._peer_updates(losses, len(idx), keep)
            else:
                picked = [select_small_loss(lo.detach(), keep) for lo in losses]
                updates = [losses[0][picked[1]].mean(), losses[1][picked[0]].mean()]
            for opt in opts:
                opt.zero_grad(set_to_none=True)
            (updates[0] + updates[1]).backward()
            for opt in opts:
                opt.step()
            total += updates[0].detach() * len(idx)
            seen += len(idx)
            if self.clean is not None:
                kept_clean += self.clean[idx][picked[0]].sum()
                kept += len(picked[0])
        total = world.average(total)
        record = dict(train_loss=float(total) / max(seen, 1), lr=engine.get_lr(opts[0]),
                      kept_fraction=keep)
        if self.clean is not None:
            record["label_precision"] = float(kept_clean) / max(kept, 1)
        return record

    def _peer_updates(self, losses, n, keep):
        """Distributed small-loss selection: the per-example losses (this rank's share of
        the global batch of ``n``) of both networks are gathered, every rank selects the
        same R(T) smallest of the global batch, and each network's update is its loss on
        the examples of its share that the peer kept, summed and weighted so that DDP's
        average is the mean over all the peer kept. Returns (the positions in the global
        batch each network kept, the two updates)."""
        world = self.world
        start, stop = world.bounds(n)
        full = world.gather(torch.stack([lo.detach() for lo in losses], 1), n)  # (n, 2)
        picked = [select_small_loss(full[:, j].contiguous(), keep) for j in range(2)]
        mine = [p[(p >= start) & (p < stop)] - start for p in picked]
        scale = world.size / len(picked[0])
        return picked, [losses[0][mine[1]].sum() * scale, losses[1][mine[0]].sum() * scale]

    def result(self):
        return self.nets[0], tuple(self.nets)

    def evaluated(self):
        return {"test_acc": self.nets[0], "test_acc_net2": self.nets[1]}


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
        ValueError: forget_rate outside [0, 1), unknown optimizer, ``num_gradual`` not an
            integer >= 0, ``decay_start`` < 0, a shared hyperparameter outside its range
            (:data:`labelnoise.training.engine.COMMON_HYPERPARAMETERS`), bad data (see
            :func:`~labelnoise.training.engine.prepare_data`), bad resume.
    """
    method = CoTeaching(model=model, forget_rate=forget_rate, num_gradual=num_gradual,
                        epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
                        decay_start=decay_start, weight_decay=weight_decay, schedule=schedule,
                        augment=augment, seed=seed, model_kwargs=model_kwargs,
                        true_labels=true_labels)
    return engine.run_on_labels(method, images, labels, num_classes=num_classes,
                                test_images=test_images, test_labels=test_labels, device=device,
                                checkpoint_dir=checkpoint_dir, resume=resume, progress=progress,
                                on_epoch=on_epoch)
