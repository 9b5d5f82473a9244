"""Co-Reg (Wang et al. 2025, "Bridging Weakly-Supervised Learning and VLM Distillation:
Noisy Partial Label Learning for Efficient Downstream Adaptation", arXiv 2506.03229;
official code github.com/Portugas0807/Co-Reg, train.py): noisy partial labels, i.e.
candidate sets that may miss the true class, e.g. the union of several model annotators.

Two networks. Warm-up: each network alone, partial-label loss ``-log sum_{j in S} p_j``
plus a confidence penalty (negative entropy). Then every epoch, for each network in turn
(the other fixed: optimised alternately):

1. co-divide: the PEER network predicts every training example (no augmentation), its
   predictions are distribution-aligned to the uniform prior (``p / mean p``,
   renormalised), the loss ``-log max_{j in S} p_j`` is min-max scaled, averaged over the
   last 5 epochs, and a 2-component GMM gives ``w`` = the probability that the candidate
   set holds the true label (:func:`labelnoise.training.dividemix.clean_probability`);
   ``w > p_threshold`` forms the labeled split, the rest the unlabeled split;
2. co-pseudo-labels: for the labeled split, the PEER's aligned prediction restricted to
   the candidate set and renormalised (:func:`co_pseudo_labels`; inside the candidate
   set, always); targets ``sharpen(w * co_pseudo + (1 - w) * mean own p on two weak
   views)``. For the unlabeled split, ``sharpen(mean of both networks' p on two weak
   views)``, not restricted (the true class may lie outside the set);
3. label-space consistency: mixup (``l ~ Beta(alpha, alpha)``, ``l = max(l, 1 - l)``) of
   two further views of both splits; soft cross entropy on the labeled part plus
   ``lambda_u`` (ramped up linearly over 16 epochs) times squared error on the unlabeled
   part;
4. feature-space consistency (from ``start_contrastive`` epochs after the warm-up):
   class prototypes (EMA, momentum ``proto_momentum``, of the normalised embeddings of
   the labeled split by pseudo-label); a prototype loss on the mixed embeddings (KL to
   the mixed targets for the labeled part, squared error for the unlabeled part,
   temperature ``tau_proto``), weight 0.1; and a noisy-label supervised contrastive loss
   on the embeddings of two views (positives: the same pseudo-label within the labeled
   split; each example's other view always), temperature 0.07, weight 0.1.

The test prediction averages the two networks' logits.

Defaults from the official code (train.py arguments; CIFAR-10 command of its readme):
SGD lr 0.01, momentum 0.9, weight decay 5e-4, batch 256 (warm-up batch 512), 800 epochs,
50 warm-up epochs, alpha 4, T 0.5, p_threshold 0.5, lambda_u 1, embedding dimension 128,
start_cont 10, weight_protocont 0.1, proto_m 0.999, tau_proto 0.3, weight_supcont 0.1,
SupCon temperature 0.07; distribution alignment to a uniform prior; GMM on the loss
averaged over the last 5 epochs. Deviations, for a CPU-sized and readable module: the
"strong" views are the engine's crop + flip (the paper adds RandAugment), the supervised
contrastive loss uses the batch (no momentum encoder or 8192-entry queue), and the
engine's learning-rate schedules replace the code's step decay.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from labelnoise._validation import check_int, check_real
from labelnoise.partial import partial_label_loss
from labelnoise.training import engine
from labelnoise.training.dividemix import clean_probability, sharpen
from labelnoise.training.proden import prepare_partial
from labelnoise.training.rdcr import HeadedNet


# ------------------------------------------------------------------------------ pieces
def co_pseudo_labels(peer_probs: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """Co-Reg's co-pseudo-labels for the labeled split: the peer network's predicted
    probabilities (B, K) restricted to the candidate sets (bool (B, K)) and renormalised,
    so all their mass lies inside the candidate set (uniform over it where the peer puts
    no mass on any candidate)."""
    w = peer_probs.float() * candidates
    total = w.sum(dim=1, keepdim=True)
    uniform = candidates.float() / candidates.sum(dim=1, keepdim=True)
    return torch.where(total > 0, w / total.clamp_min(1e-30), uniform)


def distribution_alignment(probs: torch.Tensor, prior: torch.Tensor | None = None) -> torch.Tensor:
    """``p * prior / mean(p)`` renormalised per row (the official code's alignment of the
    predictions to the prior; uniform prior by default). probs: (N, K)."""
    mean = probs.mean(dim=0, keepdim=True).clamp_min(1e-12)
    prior = torch.full_like(mean, 1.0 / probs.shape[1]) if prior is None else prior.view(1, -1)
    out = probs * prior / mean
    return out / out.sum(dim=1, keepdim=True)


def max_candidate_loss(probs: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """``-log max_{j in S} p_j`` per example (N,): small when the network is confident in a
    candidate (the co-divide loss of the official code)."""
    return -torch.log((probs * candidates).max(dim=1).values.clamp_min(1e-12))


def neg_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Mean ``sum_k p_k log p_k`` (the warm-up confidence penalty)."""
    logp = F.log_softmax(logits.float(), dim=1)
    return (logp.exp() * logp).sum(dim=1).mean()


def supcon_loss(z: torch.Tensor, pseudo: torch.Tensor, labeled: torch.Tensor,
                temperature: float = 0.07) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al. 2020) with noisy-label positives.

    Args:
        z: (2B, D) L2-normalised embeddings, views 1 then views 2 of the same B examples.
        pseudo: (B,) pseudo-labels; labeled: (B,) bool, True for the labeled split.
        temperature: tau.

    Positives of anchor i: its other view, and every view of another labeled example with
    the same pseudo-label when i itself is labeled.
    """
    b = pseudo.shape[0]
    lab = torch.cat([pseudo, pseudo])
    is_l = torch.cat([labeled, labeled])
    same_ex = torch.arange(2 * b, device=z.device) % b
    pos = (same_ex[:, None] == same_ex[None, :]) | (
        (lab[:, None] == lab[None, :]) & is_l[:, None] & is_l[None, :])
    self_mask = torch.eye(2 * b, dtype=torch.bool, device=z.device)
    pos &= ~self_mask
    sim = (z @ z.T) / temperature
    sim = sim.masked_fill(self_mask, float("-inf"))
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    log_prob = log_prob.masked_fill(self_mask, 0.0)
    return -((log_prob * pos).sum(1) / pos.sum(1).clamp_min(1)).mean()


class Prototypes(nn.Module):
    """Class prototypes (K, D): per pseudo-label, an EMA of normalised embeddings.

    :meth:`update` applies, in batch order, ``proto[y_i] <- m proto[y_i] + (1 - m) z_i`` for
    every example of the batch and then L2-normalises the prototypes, as the official
    code's loop (PiCO's prototype update, Wang et al. 2022) does; computed in closed form
    (``m^r proto + (1 - m) sum_t m^(r - t) z_t`` over the ``r`` examples of a class) with
    one ``index_add_`` instead of a Python loop over examples.
    """

    def __init__(self, num_classes: int, dim: int, momentum: float):
        super().__init__()
        self.momentum = momentum
        self.register_buffer("protos", torch.zeros(num_classes, dim))

    @torch.no_grad()
    def update(self, z: torch.Tensor, labels: torch.Tensor) -> None:
        """z: (B, D) embeddings; labels: int (B,) pseudo-labels in [0, K)."""
        if labels.numel() == 0:
            return
        m = self.momentum
        k = self.protos.shape[0]
        order = torch.argsort(labels, stable=True)
        lab = labels[order]
        counts = torch.bincount(labels, minlength=k)
        first = torch.cumsum(counts, 0) - counts  # position of each class's first example
        later = counts[lab] - 1 - (torch.arange(lab.numel(), device=lab.device) - first[lab])
        dtype = self.protos.dtype
        weight = (1 - m) * torch.pow(m, later.to(dtype))
        self.protos.mul_(torch.pow(m, counts.to(dtype))[:, None])
        self.protos.index_add_(0, lab, z[order].to(self.protos.dtype) * weight[:, None])
        self.protos.copy_(F.normalize(self.protos, dim=1))

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        return z @ self.protos.T


def _make_net(model, data, seed, low_dim, model_kwargs):
    backbone = engine.make_model(model, data, seed=seed, **(model_kwargs or {}))
    torch.manual_seed(seed)
    net = HeadedNet(backbone)
    d = net.feature_dim
    net.heads["embed"] = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, low_dim))
    return net.to(data.device)


@torch.no_grad()
def _predict(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return F.softmax(engine.logits_of(net, x), dim=1)


def _co_divide(peer, data, cand, loss_history, seed):
    """(clean probability w (N,), aligned peer predictions (N, K)) from the peer network."""
    probs = distribution_alignment(_predict(peer, data.x))
    loss = max_candidate_loss(probs, cand)
    loss = (loss - loss.min()) / (loss.max() - loss.min()).clamp_min(1e-12)
    loss_history.append(loss.cpu())
    del loss_history[:-5]
    avg = torch.stack(loss_history).mean(0).numpy()
    return torch.from_numpy(clean_probability(avg, seed=seed)).float().to(data.device), probs


@dataclass
class CoReg(engine.Method):
    """Co-Reg's two networks, prototypes and loss history (hyperparameters: see :func:`fit`)."""

    name = "coreg"
    checkpointed = {"models": "nets", "protos": "protos", "optimizers": "optimizers",
                    "loss_history": "loss_history"}
    model: object
    epochs: int
    warmup_epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    momentum: float
    schedule: str
    alpha: float
    temperature: float
    lambda_u: float
    p_threshold: float
    low_dim: int
    start_contrastive: int
    proto_momentum: float
    tau_proto: float
    proto_weight: float
    supcon_weight: float
    augment: bool
    seed: int
    model_kwargs: dict | None
    candidates: object = engine.not_in_config(fingerprint=True)  # bool (N, K), device
    clean: object = engine.not_in_config()  # int (N,) true labels on the device, or None

    def __post_init__(self):
        super().__post_init__()
        if check_int(self.warmup_epochs, "warmup_epochs", 0) > self.epochs:
            raise ValueError(f"warmup_epochs must be at most epochs ({self.epochs}), got "
                             f"{self.warmup_epochs}")
        for name in ("alpha", "temperature", "tau_proto"):
            check_real(getattr(self, name), name, low=0, strict=True)
        for name in ("lambda_u", "proto_weight", "supcon_weight"):
            check_real(getattr(self, name), name, low=0)
        check_real(self.p_threshold, "p_threshold", low=0, strict=True, high=1)
        check_real(self.proto_momentum, "proto_momentum", low=0, high=1)
        check_int(self.low_dim, "low_dim", 1)
        check_int(self.start_contrastive, "start_contrastive", 0)

    def setup(self, data):
        self.nets = [_make_net(self.model, data, self.seed + i, self.low_dim, self.model_kwargs)
                     for i in range(2)]
        self.protos = [Prototypes(data.num_classes, self.low_dim, self.proto_momentum)
                       .to(data.device) for _ in range(2)]
        self.optimizers = [engine.sgd(n, self.lr, self.weight_decay, self.momentum,
                                      nesterov=False) for n in self.nets]
        self.loss_history: list[list] = [[], []]  # per network: its last 5 scaled losses
        self.ensemble = engine.Ensemble(self.nets)

    def train_epoch(self, epoch):
        if epoch < self.warmup_epochs:
            return self.warmup(epoch)
        data, cand, record = self.data, self.candidates, {"phase": "train"}
        total, seen = 0.0, 0
        for i in range(2):  # net i trained on the division made by its peer, peer fixed
            w, peer_probs = _co_divide(self.nets[1 - i], data, cand, self.loss_history[1 - i],
                                       self.seed + epoch)
            if i == 1 and self.clean is not None:
                sel = w > self.p_threshold
                hit = cand[torch.arange(data.n, device=data.device), self.clean]
                record["labeled_fraction"] = float(sel.float().mean())
                record["labeled_precision"] = float(hit[sel].float().mean()) if sel.any() else None
            t, s = self.train_one(i, epoch, w, peer_probs)
            total += t
            seen += s
        return dict(train_loss=total / max(seen, 1), lr=self.lr_at(epoch + 1), **record)

    def warmup(self, epoch):
        """Each network alone: partial-label loss plus the confidence penalty."""
        data, cand = self.data, self.candidates
        total, seen = 0.0, 0
        for net, opt in zip(self.nets, self.optimizers):
            net.train()
            for _, idx in self.batches(data.n, 2 * self.batch_size, epoch, [opt]):
                x = engine.batch_inputs(data, idx, self.generator, self.augment)
                with engine.autocast(data.device):
                    logits = net(x).float()
                pl = partial_label_loss(logits, cand[idx])
                loss = pl + neg_entropy(logits)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += float(pl.detach()) * len(idx)
                seen += len(idx)
        return dict(train_loss=total / max(seen, 1), lr=self.lr_at(epoch + 1), phase="warmup")

    def train_one(self, i, epoch, w, peer_probs):
        """One Co-Reg epoch of network ``i`` with its peer fixed, on the peer's division
        (clean probabilities ``w`` (N,), aligned peer predictions ``peer_probs`` (N, K));
        returns (sum of losses, examples)."""
        data, cand, temperature = self.data, self.candidates, self.temperature
        net, peer, protos = self.nets[i], self.nets[1 - i], self.protos[i]
        optimizer = self.optimizers[i]
        gen, bs = self.generator, self.batch_size
        labeled = torch.nonzero(w > self.p_threshold).flatten()
        unlabeled = torch.nonzero(w <= self.p_threshold).flatten()
        if len(labeled) < 2:  # nothing trustworthy yet: treat the most reliable half as labeled
            order = torch.argsort(w, descending=True)
            labeled, unlabeled = order[: max(2, data.n // 2)], order[max(2, data.n // 2):]
        net.train()
        peer.eval()
        total, seen = 0.0, 0
        n_steps = engine.num_batches(len(labeled), bs)
        u_iter = None
        use_cont = epoch >= self.warmup_epochs + self.start_contrastive
        ramp = self.lambda_u * float(np.clip((epoch - self.warmup_epochs) / 16.0, 0.0, 1.0))
        for _, pos in self.batches(len(labeled), bs, epoch, [optimizer], steps=max(n_steps, 1)):
            ix = labeled[pos]
            if len(unlabeled) >= 2:
                if u_iter is None:
                    u_iter = iter(engine.batches(len(unlabeled), bs, gen, data.device))
                upos = next(u_iter, None)
                if upos is None:
                    u_iter = iter(engine.batches(len(unlabeled), bs, gen, data.device))
                    upos = next(u_iter)
                iu = unlabeled[upos]
            else:
                iu = labeled[:0]
            bx, bu = len(ix), len(iu)
            views = [engine.batch_inputs(data, torch.cat([ix, iu]), gen, self.augment)
                     for _ in range(4)]  # weak 1, weak 2, "strong" 1, "strong" 2
            # co-pseudo-labels (labeled split) and co-guessed labels (unlabeled split)
            with torch.no_grad():
                own = [F.softmax(net(v).float(), 1) for v in views[:2]]
                px = (own[0][:bx] + own[1][:bx]) / 2
                wx = w[ix][:, None]
                targets_x = sharpen(wx * co_pseudo_labels(peer_probs[ix], cand[ix])
                                    + (1 - wx) * px, temperature)
                if bu:
                    theirs = [F.softmax(peer(v[bx:]).float(), 1) for v in views[:2]]
                    pu = (own[0][bx:] + own[1][bx:] + theirs[0] + theirs[1]) / 4
                    targets_u = sharpen(pu, temperature)
                else:
                    targets_u = targets_x[:0]
            # prototypes from the weak view of the labeled split, updated before use
            with torch.no_grad():
                _, hw, _ = net.forward_all(views[0][:bx])
                protos.update(F.normalize(hw["embed"].float(), dim=1), targets_x.argmax(1))
            # label-space consistency: mixup of the "strong" views and their targets
            lam = float(self.rng.beta(self.alpha, self.alpha))
            lam = max(lam, 1 - lam)
            inputs = torch.cat([views[2][:bx], views[3][:bx], views[2][bx:], views[3][bx:]]).float()
            targets = torch.cat([targets_x, targets_x, targets_u, targets_u])
            perm = torch.randperm(inputs.shape[0], generator=gen).to(data.device)
            mixed = lam * inputs + (1 - lam) * inputs[perm]
            mixed_t = lam * targets + (1 - lam) * targets[perm]
            with engine.autocast(data.device):
                logits, heads, _ = net.forward_all(mixed)
            logits = logits.float()
            lx = -(mixed_t[: 2 * bx] * F.log_softmax(logits[: 2 * bx], 1)).sum(1).mean()
            lu = ((F.softmax(logits[2 * bx:], 1) - mixed_t[2 * bx:]) ** 2).mean() if bu else 0.0
            loss = lx + ramp * lu
            if use_cont:  # feature-space consistency: prototype loss and supervised contrast
                z_mixed = F.normalize(heads["embed"].float(), dim=1)
                sim = protos.logits(z_mixed) / self.tau_proto
                lp_x = F.kl_div(F.log_softmax(sim[: 2 * bx], 1), mixed_t[: 2 * bx],
                                reduction="batchmean")
                lp_u = ((F.softmax(sim[2 * bx:], 1) - mixed_t[2 * bx:]) ** 2).mean() if bu else 0.0
                _, h2, _ = net.forward_all(torch.cat([views[2], views[3]]))
                z = F.normalize(h2["embed"].float(), dim=1)
                pseudo = torch.cat([targets_x, targets_u]).argmax(1)
                is_l = torch.arange(bx + bu, device=data.device) < bx
                loss = (loss + self.proto_weight * (lp_x + self.lambda_u * lp_u)
                        + self.supcon_weight * supcon_loss(z, pseudo, is_l))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * bx
            seen += bx
        return total, seen

    def result(self):
        return self.ensemble, tuple(self.nets)


def fit(images, candidates, *, model="resnet8", epochs: int = 800, warmup_epochs: int = 50,
        batch_size: int = 256, lr: float = 0.01, weight_decay: float = 5e-4,
        momentum: float = 0.9, schedule: str = "cosine", alpha: float = 4.0,
        temperature: float = 0.5, lambda_u: float = 1.0, p_threshold: float = 0.5,
        low_dim: int = 128, start_contrastive: int = 10, proto_momentum: float = 0.999,
        tau_proto: float = 0.3, proto_weight: float = 0.1, supcon_weight: float = 0.1,
        augment: bool = True, seed: int = 0, device=None, test_images=None,
        test_labels=None, true_labels=None, checkpoint_dir=None, resume: bool = False,
        progress: bool = True, model_kwargs: dict | None = None,
        on_epoch=None) -> engine.FitResult:
    """Train two networks with Co-Reg on noisy partial labels.

    Args:
        images: uint8 (N, H, W, C) images (or float (N, D) embeddings with ``model="mlp"``).
        candidates: bool (N, K) candidate sets, which may miss the true class.
        epochs, warmup_epochs: total and warm-up epochs (code: 800 and 50 on CIFAR-10).
        alpha, temperature, lambda_u, p_threshold: mixup Beta parameter, sharpening T,
            unlabeled weight, GMM threshold (code: 4, 0.5, 1, 0.5).
        low_dim: embedding dimension of the contrastive head (128).
        start_contrastive: epochs after the warm-up before the feature-space terms (10).
        proto_momentum, tau_proto, proto_weight, supcon_weight: 0.999, 0.3, 0.1, 0.1.
        true_labels: optional int (N,) clean labels; the history then records
            ``labeled_fraction`` and ``labeled_precision`` (fraction of the labeled split
            whose candidate set holds the true label) of network 1's division.
        Other arguments: as :func:`labelnoise.training.standard.fit`.

    Returns:
        :class:`~labelnoise.training.engine.FitResult` with ``model`` the
        :class:`~labelnoise.training.engine.Ensemble` of both networks (class logits) and
        ``models`` the two networks.

    Raises:
        ValueError: bad data or candidates, ``warmup_epochs`` > ``epochs``, a
            hyperparameter outside its range (a one-line message naming it; the shared ones:
            :data:`labelnoise.training.engine.COMMON_HYPERPARAMETERS`), bad resume.
    """
    method = CoReg(model=model, epochs=epochs, warmup_epochs=warmup_epochs,
                   batch_size=batch_size, lr=lr, weight_decay=weight_decay, momentum=momentum,
                   schedule=schedule, alpha=alpha, temperature=temperature, lambda_u=lambda_u,
                   p_threshold=p_threshold, low_dim=low_dim, start_contrastive=start_contrastive,
                   proto_momentum=proto_momentum, tau_proto=tau_proto,
                   proto_weight=proto_weight, supcon_weight=supcon_weight, augment=augment,
                   seed=seed, model_kwargs=model_kwargs)
    data, method.candidates, method.clean = prepare_partial(
        images, candidates, test_images=test_images, test_labels=test_labels, device=device,
        true_labels=true_labels)
    return engine.run(method, data, checkpoint_dir=checkpoint_dir, resume=resume,
                      progress=progress, on_epoch=on_epoch)


__all__ = ["co_pseudo_labels", "distribution_alignment", "max_candidate_loss", "neg_entropy",
           "supcon_loss", "Prototypes", "CoReg", "fit"]
