"""PRODEN (Lv, Xu, Feng, Niu, Geng & Sugiyama 2020, "Progressive Identification of True
Labels for Partial-Label Learning", ICML): the partial-label baseline.

Every example n carries weights ``w[n]`` over its candidate set S_n (zero outside it),
initialised uniform over S_n. The network is trained with the weighted cross entropy
``-sum_j w[n, j] log p_j(x_n)`` (the paper's eq. 10, a re-weighting of the classifier-
consistent partial-label risk), and the weights are re-estimated from the model as
``w[n, j] = p_j(x_n) 1[j in S_n] / sum_{k in S_n} p_k(x_n)`` (eq. 11): the model
progressively identifies the true label inside the candidate set. As in the official code
(github.com/Lvcrezia77/PRODEN), the weights of the examples in a mini-batch are
re-estimated right after that mini-batch's update, from the same forward pass, so every
weight is refreshed once per epoch.

The paper trains for 500 epochs, batch 256, with a fixed learning rate; the
optimiser defaults here (SGD, one-cycle, lr 0.1) are the engine's, chosen for short CPU
runs, not the paper's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from labelnoise.partial import partial_label_loss, validate_candidates
from labelnoise.training import engine


class PartialLabelLoss(nn.Module):
    """``-log sum_{j in S} softmax(logits)_j`` as a loss module; see
    :func:`labelnoise.partial.partial_label_loss`. Called as ``loss(logits, candidates)``
    with logits (B, K) and bool candidates (B, K)."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        self.reduction = reduction

    def forward(self, logits, candidates):
        return partial_label_loss(logits, candidates, reduction=self.reduction)


def candidate_weights(probs: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """PRODEN's eq. 11: ``probs`` (B, K) restricted to ``candidates`` (bool (B, K)) and
    renormalised over each row's candidate set (uniform over it where the model puts no
    mass on any candidate)."""
    w = probs.float() * candidates
    total = w.sum(dim=1, keepdim=True)
    uniform = candidates.float() / candidates.sum(dim=1, keepdim=True)
    return torch.where(total > 0, w / total.clamp_min(1e-30), uniform)


def prepare_partial(images, candidates, *, test_images=None, test_labels=None, device=None,
                    true_labels=None):
    """(TrainData, candidates bool tensor on the device, clean labels tensor or None).

    ``data.y`` holds a placeholder (each example's first candidate); methods read the
    candidate sets instead.

    Raises:
        ValueError: invalid candidates (see :func:`labelnoise.partial.validate_candidates`),
            length mismatches, bad images (see :func:`engine.prepare_data`).
    """
    cand = validate_candidates(candidates)
    k = cand.shape[1]
    n_images = len(images) if hasattr(images, "__len__") else None
    if n_images is not None and cand.shape[0] != n_images:  # before prepare_data's message,
        # which would name the placeholder labels made from the candidates
        raise ValueError(f"candidates has {cand.shape[0]} rows but images has {n_images}")
    data = engine.prepare_data(images, np.argmax(cand, axis=1), num_classes=k,
                               test_images=test_images, test_labels=test_labels, device=device)
    if cand.shape[0] != data.n:
        raise ValueError(f"candidates has {cand.shape[0]} rows but images has {data.n}")
    clean = None
    if true_labels is not None:
        clean = torch.from_numpy(engine.validate_labels(true_labels, num_classes=k,
                                                        name="true_labels")).to(data.device)
        if len(clean) != data.n:
            raise ValueError(f"true_labels has {len(clean)} entries but images has {data.n}")
    return data, torch.from_numpy(cand).to(data.device), clean


@dataclass
class Proden(engine.Method):
    """PRODEN's network and candidate weights (hyperparameters: see :func:`fit`)."""

    name = "proden"
    checkpointed = {"model": "net", "optimizer": "optimizer", "weights": "weights"}
    model: object
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    momentum: float
    schedule: str
    augment: bool
    seed: int
    model_kwargs: dict | None
    candidates: object = engine.not_in_config(fingerprint=True)  # bool (N, K), device
    clean: object = engine.not_in_config()  # int (N,) true labels on the device, or None

    def setup(self, data):
        self.net = engine.make_model(self.model, data, seed=self.seed, **(self.model_kwargs or {}))
        self.optimizer = engine.sgd(self.net, self.lr, self.weight_decay, self.momentum)
        cand = self.candidates
        self.weights = cand.float() / cand.sum(dim=1, keepdim=True)  # uniform over S_n

    def train_epoch(self, epoch):
        data, net, cand, weights = self.data, self.net, self.candidates, self.weights
        net.train()
        total = torch.zeros((), device=data.device)
        partial = torch.zeros((), device=data.device)
        seen = 0
        for _, idx in self.batches(data.n, self.batch_size, epoch, [self.optimizer]):
            x = engine.batch_inputs(data, idx, self.generator, self.augment)
            with engine.autocast(data.device):
                logits = net(x).float()
            # eq. 10: cross entropy weighted by the current candidate weights
            loss = -(weights[idx] * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            with torch.no_grad():  # eq. 11, from this mini-batch's forward pass
                weights[idx] = candidate_weights(F.softmax(logits, dim=1), cand[idx])
                partial += partial_label_loss(logits, cand[idx], reduction="sum")
            total += loss.detach() * len(idx)
            seen += len(idx)
        record = dict(train_loss=float(total) / max(seen, 1),
                      partial_loss=float(partial) / max(seen, 1),
                      lr=engine.get_lr(self.optimizer))
        if self.clean is not None:
            record["weight_acc"] = float((weights.argmax(1) == self.clean).float().mean())
        return record


def fit(images, candidates, *, model="resnet8", epochs: int = 15, batch_size: int = 256,
        lr: float = 0.1, weight_decay: float = 5e-4, momentum: float = 0.9,
        schedule: str = "onecycle", augment: bool = True, seed: int = 0, device=None,
        test_images=None, test_labels=None, true_labels=None, checkpoint_dir=None,
        resume: bool = False, progress: bool = True, model_kwargs: dict | None = None,
        on_epoch=None) -> engine.FitResult:
    """Train one network on partial labels with PRODEN.

    Args:
        images: uint8 (N, H, W, C) images, or float (N, D) embeddings with ``model="mlp"``.
        candidates: bool (N, K) candidate sets (see :mod:`labelnoise.partial`).
        true_labels: optional int (N,) clean labels; the history then records
            ``weight_acc``, the fraction of examples whose largest weight is on the true class.
        Other arguments: as :func:`labelnoise.training.standard.fit`.

    Returns:
        :class:`~labelnoise.training.engine.FitResult`; the history has ``train_loss``
        (the weighted cross entropy) and ``partial_loss`` (``-log sum_S p``, per epoch).

    Raises:
        ValueError: bad data or candidates, ``epochs`` < 1, bad resume.
    """
    method = Proden(model=model, epochs=epochs, batch_size=batch_size, lr=lr,
                    weight_decay=weight_decay, momentum=momentum, schedule=schedule,
                    augment=augment, seed=seed, model_kwargs=model_kwargs)
    data, method.candidates, method.clean = prepare_partial(
        images, candidates, test_images=test_images, test_labels=test_labels, device=device,
        true_labels=true_labels)
    return engine.run(method, data, checkpoint_dir=checkpoint_dir, resume=resume,
                      progress=progress, on_epoch=on_epoch)
