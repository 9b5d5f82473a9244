"""DivideMix (Li, Socher & Hoi 2020, "DivideMix: Learning with Noisy Labels as
Semi-supervised Learning", ICLR; Algorithm 1).

Two networks. After a warm-up on all labels with cross entropy, every epoch:

1. co-divide: each network computes the cross entropy of every training example
   (no augmentation), the losses are scaled to [0, 1], and a two-component Gaussian mixture
   is fitted to them; ``w_i`` = posterior of the low-mean component is the probability that
   label i is clean (:func:`clean_probability`). Examples with ``w_i > p_threshold`` form
   the labeled set, the rest the unlabeled set (our option ``forget_rate``: the
   ``1 - forget_rate`` fraction with the highest ``w_i`` instead, :func:`labeled_mask`;
   ``forget_rate="estimate"``: at confident learning's estimate of the noise rate from
   2-fold out-of-sample predictions made before the warm-up, :meth:`DivideMix.estimate_noise_rate`);
2. each network is trained on the division made by its PEER (to avoid confirmation bias),
   with MixMatch (Berthelot et al. 2019): two augmentations of every image; label
   co-refinement for labeled examples, ``sharpen(w y + (1 - w) mean p_net)``; label
   co-guessing for unlabeled ones, ``sharpen(mean of both networks' p on both views)``;
   mixup with ``l ~ Beta(alpha, alpha)``, ``l = max(l, 1 - l)``; loss
   ``L_x + lambda_u * L_u + L_reg``: cross entropy on the mixed labeled part, mean squared
   error on the mixed unlabeled part (lambda_u ramped up linearly over 16 epochs after the
   warm-up) and the uniform-prior regulariser ``sum_k pi_k log(pi_k / mean p_k)``.

Test predictions average the two networks' logits. Defaults follow the paper and the
official code (github.com/LiJunnan1992/DivideMix, Train_cifar.py) for CIFAR-10: PreAct
ResNet-18, SGD lr 0.02 (momentum 0.9, weight decay 5e-4), divided by 10 after 150 of 300
epochs, batch 64 (warm-up batch 128), 10 warm-up epochs, alpha 4, T 0.5, p_threshold 0.5,
lambda_u 25 (0 for 20% symmetric noise, 50 for 90%), GMM with 10 EM iterations, tol 1e-2,
reg_covar 5e-4. For asymmetric noise the paper adds a confidence penalty (negative
entropy) during the warm-up: ``conf_penalty=True``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.mixture import GaussianMixture
from torch.nn import functional as F

from labelnoise._validation import check_fraction, check_int, check_real
from labelnoise.training import ESTIMATE_FORGET_RATE as ESTIMATE
from labelnoise.training import engine


def clean_probability(losses, *, seed: int = 0, reg_covar: float = 5e-4,
                      max_iter: int = 10, tol: float = 1e-2) -> np.ndarray:
    """Probability that each example's label is clean, from its loss (DivideMix, eq. 1).

    The losses are min-max scaled to [0, 1], a two-component 1-D Gaussian mixture is fitted
    by EM, and the posterior of the component with the smaller mean is returned.

    Args:
        losses: float (N,) per-example losses (e.g. cross entropy against the given labels).
        seed: random_state of the mixture's initialisation.
        reg_covar, max_iter, tol: EM settings (paper: 5e-4, 10, 1e-2).

    Returns:
        float64 ndarray (N,) in [0, 1].

    Raises:
        ValueError: not 1-D, fewer than 2 values, or non-finite values.
    """
    loss = np.asarray(losses, dtype=np.float64)
    if loss.ndim != 1 or loss.shape[0] < 2:
        raise ValueError(f"losses must be 1-D with at least 2 values, got shape {loss.shape}")
    if not np.isfinite(loss).all():
        raise ValueError("losses contains NaN or infinite values")
    span = loss.max() - loss.min()
    if span == 0:
        return np.ones_like(loss)
    scaled = ((loss - loss.min()) / span)[:, None]
    gmm = GaussianMixture(n_components=2, max_iter=max_iter, tol=tol, reg_covar=reg_covar,
                          random_state=seed)
    gmm.fit(scaled)
    return gmm.predict_proba(scaled)[:, int(np.argmin(gmm.means_[:, 0]))]


def labeled_mask(clean_prob, *, p_threshold: float = 0.5,
                 forget_rate: float | None = None) -> np.ndarray:
    """The labeled set of a division from the clean probabilities ``w`` (float (N,)).

    * ``forget_rate`` None (the paper, Algorithm 1 line 7): ``w > p_threshold``;
    * ``forget_rate`` in [0, 1): by rank, the ``round((1 - forget_rate) N)`` examples with
      the highest ``w`` (ties to the lower index), as Co-teaching keeps the small-loss
      fraction ``1 - tau`` (Han et al. 2018, Algorithm 1; ``tau`` = the noise rate). Our
      option, not DivideMix's: the 0.5 cut of a mixture fitted to a loss distribution
      with one hump (a weak warm-up network) puts most noisy labels in the labeled set
      although the loss still ranks them (``benchmarks/results/training_features.md``).

    At least the 2 most likely clean examples are labeled either way.

    Returns:
        bool ndarray (N,).

    Raises:
        ValueError: ``clean_prob`` not 1-D; ``forget_rate`` neither None nor a number in
            [0, 1).
    """
    w = np.asarray(clean_prob, dtype=np.float64)
    if w.ndim != 1:
        raise ValueError(f"clean_prob must be 1-D, got shape {w.shape}")
    forget_rate = check_fraction(forget_rate, "forget_rate", allow_none=True)
    if forget_rate is None:
        mask = w > p_threshold
        if mask.sum() < 2:  # degenerate division: keep the two most likely clean
            mask = np.zeros(w.size, dtype=bool)
            mask[np.argsort(-w)[:2]] = True
        return mask
    mask = np.zeros(w.size, dtype=bool)
    mask[np.argsort(-w, kind="stable")[:max(2, int(round((1 - forget_rate) * w.size)))]] = True
    return mask


def sharpen(p: torch.Tensor, temperature: float) -> torch.Tensor:
    """``p ** (1 / T)`` renormalised over the last dimension (MixMatch's sharpening)."""
    p = p ** (1 / temperature)
    return p / p.sum(dim=1, keepdim=True)


def paper_settings(noise_rate: float, asymmetric: bool) -> dict:
    """The paper's settings that depend on the noise (Li et al. 2020, section 4.1):
    ``lambda_u`` 0 for noise up to 25% and for asymmetric noise, 25 up to 85%, else 50; the
    confidence penalty in the warm-up for asymmetric noise. Used by ``labelnoise train``
    and the benchmarks when no ``--lambda-u`` is given."""
    if asymmetric or noise_rate <= 0.25:
        lambda_u = 0.0
    else:
        lambda_u = 25.0 if noise_rate <= 0.85 else 50.0
    return {"lambda_u": lambda_u, "conf_penalty": asymmetric}


@dataclass
class DivideMix(engine.Method):
    """DivideMix's two networks and Algorithm 1 (hyperparameters: see :func:`fit`)."""

    name = "dividemix"
    checkpointed = {"models": "nets", "optimizers": "optimizers", "past_losses": "past_losses"}
    distributed = True
    model: object
    epochs: int
    warmup_epochs: int
    batch_size: int
    warmup_batch_size: int | None
    lr: float
    weight_decay: float
    momentum: float
    lr_decay_epoch: float | None
    alpha: float
    lambda_u: float
    p_threshold: float
    temperature: float
    rampup_length: float
    conf_penalty: bool
    loss_history: int
    augment: bool
    seed: int
    model_kwargs: dict | None
    true_labels: object = engine.not_in_config()
    forget_rate: float | str | None = None

    def __post_init__(self):
        super().__post_init__()
        if isinstance(self.forget_rate, str) and self.forget_rate == ESTIMATE:
            if isinstance(self.warmup_epochs, int) and self.warmup_epochs < 1:
                raise ValueError(f"forget_rate={ESTIMATE!r} needs warmup_epochs >= 1 (the "
                                 f"estimate's networks train for the warm-up's epochs), got "
                                 f"{self.warmup_epochs}")
            # the estimate is state: checkpointed only in this mode, so checkpoints of the
            # other modes keep their layout
            self.checkpointed = {**type(self).checkpointed,
                                 "estimated_forget_rate": "forget_rate_"}
        else:
            try:  # any other word is refused here too, as not a number
                self.forget_rate = check_fraction(self.forget_rate, "forget_rate",
                                                  allow_none=True)
            except ValueError:
                raise ValueError(f"forget_rate must be None, a fraction in [0, 1) or "
                                 f"{ESTIMATE!r}, got {self.forget_rate!r}") from None
        check_int(self.warmup_epochs, "warmup_epochs", 0)
        check_real(self.p_threshold, "p_threshold", low=0, strict=True, high=1)
        check_real(self.temperature, "temperature", low=0, strict=True)
        check_real(self.alpha, "alpha", low=0, strict=True)
        check_int(self.loss_history, "loss_history", 1)
        check_real(self.lambda_u, "lambda_u", low=0)
        check_real(self.rampup_length, "rampup_length", low=0, strict=True)
        if self.warmup_batch_size is None:
            self.warmup_batch_size = 2 * self.batch_size
        else:
            check_int(self.warmup_batch_size, "warmup_batch_size", 2)
        if self.lr_decay_epoch is None:
            self.lr_decay_epoch = self.epochs / 2
        else:
            check_real(self.lr_decay_epoch, "lr_decay_epoch", low=0)

    def setup(self, data):
        # bool (N,) ndarray or None: is the given label right (split diagnostics)
        self.clean = engine.given_is_clean(self.true_labels, data)
        self.nets = [engine.make_model(self.model, data, seed=self.seed + i,
                                       **(self.model_kwargs or {})) for i in range(2)]
        self.optimizers = [engine.sgd(n, self.lr, self.weight_decay, self.momentum,
                                      nesterov=False) for n in self.nets]
        self.past_losses = [[], []]  # per network: scaled losses of the last epochs
        self.ensemble = engine.Ensemble(self.nets)
        # the division's forget rate: given, or (ESTIMATE) estimated before the warm-up
        self.forget_rate_ = None if self.forget_rate == ESTIMATE else self.forget_rate

    def lr_at(self, t):
        return self.lr * engine.lr_multiplier(t, self.epochs, "step",
                                              milestones=(self.lr_decay_epoch,))

    def train_epoch(self, epoch):
        if epoch < self.warmup_epochs:
            record = {}
            if self.forget_rate == ESTIMATE and self.forget_rate_ is None:
                self.forget_rate_ = self.estimate_noise_rate()
                record["estimated_noise_rate"] = self.forget_rate_
            losses = [self.warmup(net, opt, epoch) for net, opt in zip(self.nets, self.optimizers)]
            return dict(train_loss=float(np.mean(losses)), lr=self.lr_at(epoch + 1 - 1e-9),
                        **record)
        record = {}
        probs = self.co_divide(epoch)
        losses = []
        masks = [labeled_mask(w, p_threshold=self.p_threshold, forget_rate=self.forget_rate_)
                 for w in probs]
        for i in range(2):  # net i learns from the division of its peer
            w, mask = probs[1 - i], masks[1 - i]
            losses.append(self.train_one(i, epoch, np.flatnonzero(mask), w[mask],
                                         np.flatnonzero(~mask)))
        pred1 = masks[0]
        record["labeled_fraction"] = float(pred1.mean())
        if self.clean is not None:
            clean = self.clean
            record["split_precision"] = float(clean[pred1].mean()) if pred1.any() else 0.0
            record["split_recall"] = float(pred1[clean].mean()) if clean.any() else 0.0
        return dict(train_loss=float(np.mean(losses)), lr=self.lr_at(epoch + 1 - 1e-9), **record)

    def config(self, data) -> dict:
        cfg = super().config(data)
        if self.forget_rate is None:  # the paper's division: configs (and checkpoints) as
            cfg.pop("forget_rate")    # before the option existed
        return cfg

    def co_divide(self, epoch) -> list[np.ndarray]:
        """Each network's clean probability of every example, float64 (N,) per network:
        a GMM on its per-example loss (Algorithm 1, line 6; scaled to [0, 1], averaged over
        the last ``loss_history`` epochs). Methods built on DivideMix override it."""
        probs = []
        for i, net in enumerate(self.nets):
            # distributed: every rank computes a share, all gather the N losses, so every
            # rank fits the same mixture and makes the same division
            loss = engine.per_example_loss(net, self.data, world=self.world).cpu().numpy()
            scaled = (loss - loss.min()) / max(np.ptp(loss), 1e-12)
            self.past_losses[i] = (self.past_losses[i] + [scaled])[-self.loss_history:]
            probs.append(clean_probability(np.mean(self.past_losses[i], axis=0),
                                           seed=self.seed + epoch))
        return probs

    def regulariser(self, i, logits, mixed_target, n_labeled):
        """An extra loss term of network ``i``'s semi-supervised step, computed after the
        forward pass of the mixed batch (``logits`` (M, K); ``mixed_target`` (M, K); the
        first ``n_labeled`` rows are the labeled part; in a distributed run, this rank's
        rows); None: none (DivideMix). Methods built on DivideMix override it."""
        return None

    def estimate_noise_rate(self) -> float:
        """The noise rate for ``forget_rate="estimate"``: confident learning on 2-fold
        out-of-sample predictions of networks trained with the warm-up's settings
        (:func:`labelnoise.training.engine.cross_validated_noise`: ``warmup_epochs``
        epochs, the warm-up's batch size, cross entropy, this run's SGD). Out of sample, so
        a network that fits the noisy labels of its own half does not hide them: the
        in-sample predictions of the warm-up networks agree with more given labels every
        epoch, and an estimate from them falls towards no noise as they memorise. Costs as
        much as the warm-up of one of the two networks. Measured as the features track's
        ``dividemix-est`` row (``benchmarks/results/training_features.md``).

        Raises:
            ValueError: a class with fewer than 2 examples, or no estimate possible.
        """
        est = engine.cross_validated_noise(
            self.data, self.model, model_kwargs=self.model_kwargs, epochs=self.warmup_epochs,
            batch_size=self.warmup_batch_size, lr=self.lr, weight_decay=self.weight_decay,
            momentum=self.momentum, augment=self.augment, seed=self.seed,
            who=f"{self.name} forget_rate='estimate'", remedy="pass forget_rate")
        return float(est.noise_rate)

    def warmup(self, net, optimizer, epoch):
        """One warm-up epoch: cross entropy on all given labels (+ negative entropy if asked)."""
        data, world = self.data, self.world
        net.train()
        forward = self.parallel(net)
        total = torch.zeros((), device=data.device)
        for _, idx in self.batches(data.n, self.warmup_batch_size, epoch, [optimizer]):
            part = world.part(len(idx))  # distributed: this rank's share of the global batch
            mine = idx[part]
            x = engine.batch_inputs(data, idx, self.generator, self.augment, part=part)
            with engine.autocast(data.device):
                logits = forward(x).float()
            loss = F.cross_entropy(logits, data.y[mine])
            if self.conf_penalty:
                p = F.softmax(logits, 1)
                loss = loss + (p * torch.log(p.clamp_min(1e-12))).sum(1).mean()
            loss = world.weight(loss, len(mine), len(idx))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(idx)
        return float(world.average(total)) / data.n

    def train_one(self, i, epoch, labeled, w, unlabeled):
        """One DivideMix epoch of network ``i`` on its peer's division (Algorithm 1, lines
        10-27): ``labeled`` / ``unlabeled`` example indices (ndarrays) and the labeled
        examples' clean probabilities ``w``.

        Distributed: every rank draws the same global batches, views, mixup coefficient and
        permutation; the label guesses and refinements (network forward passes) are
        computed on each rank's share of the rows and gathered; each rank then mixes and
        trains on its share of the mixed rows (the mixup partners may be any row of the
        global batch), with BatchNorm over the global batch, the losses weighted so that
        DDP's averaged gradient is the global batch's, and the prior term computed from the
        mean prediction over the global batch (all-reduced with autograd)."""
        data, k, temperature = self.data, self.data.num_classes, self.temperature
        world = self.world
        net, peer, optimizer = self.nets[i], self.nets[1 - i], self.optimizers[i]
        forward = self.parallel(net)
        labeled = torch.from_numpy(labeled).to(data.device)
        unlabeled = torch.from_numpy(unlabeled).to(data.device)
        w = torch.from_numpy(w).float().to(data.device)
        net.train()
        peer.eval()
        prior = torch.full((k,), 1.0 / k, device=data.device)
        num_iter = len(labeled) // self.batch_size + 1
        u_perm = torch.empty(0, dtype=torch.long)
        u_pos = 0
        total = torch.zeros((), device=data.device)
        aug = self.generator if self.augment else None
        for step, pos in self.batches(len(labeled), self.batch_size, epoch, [optimizer],
                                         steps=num_iter):
            idx_x, w_x = labeled[pos], w[pos][:, None]
            b = len(idx_x)
            part = world.part(b)  # this rank's share of the rows (everything in one process)
            n_own = len(idx_x[part])
            x1, x2 = (engine.batch_inputs(data, idx_x, aug) for _ in range(2))
            onehot = F.one_hot(data.y[idx_x], k).float()
            use_u = len(unlabeled) >= 2
            with torch.no_grad(), engine.autocast(data.device):
                if use_u:
                    if u_pos + b > len(u_perm):  # cycle through the unlabeled set
                        u_perm, u_pos = torch.randperm(len(unlabeled), generator=self.generator), 0
                    idx_u = unlabeled[u_perm[u_pos:u_pos + b].to(data.device)]
                    u_pos += b
                    m_u = len(idx_u)  # b, or fewer when the unlabeled set is smaller
                    part_u = world.part(m_u)
                    u1, u2 = (engine.batch_inputs(data, idx_u, aug) for _ in range(2))
                    # label co-guessing: both networks, both views
                    pu = sum(F.softmax(m(u[part_u]).float(), 1) for m in (net, peer)
                             for u in (u1, u2)) / 4
                    targets_u = world.gather(sharpen(pu, temperature), m_u)
                # label co-refinement with the clean probability w
                px = (F.softmax(net(x1[part]).float(), 1) + F.softmax(net(x2[part]).float(), 1)) / 2
                targets_x = world.gather(
                    sharpen(w_x[part] * onehot[part] + (1 - w_x[part]) * px, temperature), b)
            # MixMatch: mixup of labeled and unlabeled views and their targets
            inputs = [x1, x2] + ([u1, u2] if use_u else [])
            targets = [targets_x, targets_x] + ([targets_u, targets_u] if use_u else [])
            all_inputs = torch.cat([t.float() for t in inputs])
            all_targets = torch.cat(targets)
            lam = float(self.rng.beta(self.alpha, self.alpha))
            lam = max(lam, 1 - lam)
            perm = torch.randperm(all_inputs.shape[0], generator=self.generator).to(data.device)
            blocks = [len(t) for t in inputs]  # [b, b] + [m_u, m_u] with unlabeled rows
            rows = world.rows(blocks, device=data.device)  # None in one process
            if rows is None:
                mixed_input = lam * all_inputs + (1 - lam) * all_inputs[perm]
                mixed_target = lam * all_targets + (1 - lam) * all_targets[perm]
            else:  # this rank's share of each block of b rows, mixed with any partner
                mixed_input = lam * all_inputs[rows] + (1 - lam) * all_inputs[perm[rows]]
                mixed_target = lam * all_targets[rows] + (1 - lam) * all_targets[perm[rows]]
            if mixed_input.ndim == 4:
                mixed_input = mixed_input.contiguous(memory_format=torch.channels_last)
            with engine.autocast(data.device):
                logits = forward(mixed_input).float()
            # L_x + lambda_u L_u + L_reg (distributed: means over the global batch's rows)
            nx = 2 * n_own
            loss_x = world.mean(-(F.log_softmax(logits[:nx], 1) * mixed_target[:nx]).sum(1),
                                2 * b)
            loss = loss_x
            if use_u:
                loss_u = world.mean((F.softmax(logits[nx:], 1) - mixed_target[nx:]) ** 2,
                                    2 * m_u * k)
                ramp = np.clip((epoch + step / num_iter - self.warmup_epochs) / self.rampup_length,
                               0.0, 1.0)
                loss = loss + self.lambda_u * float(ramp) * loss_u
            pred_mean = world.batch_mean(F.softmax(logits, 1), sum(blocks))
            loss = loss + (prior * torch.log(prior / pred_mean)).sum()
            extra = self.regulariser(i, logits, mixed_target, nx)
            if extra is not None:
                loss = loss + extra
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach() * b
        return float(world.average(total)) / max(len(labeled), 1)

    def result(self):
        return self.ensemble, tuple(self.nets)


def fit(images, labels, *, model="preact-resnet18", epochs: int = 300,
        warmup_epochs: int = 10, batch_size: int = 64, warmup_batch_size: int | None = None,
        lr: float = 0.02, weight_decay: float = 5e-4, momentum: float = 0.9,
        lr_decay_epoch: float | None = None, alpha: float = 4.0, lambda_u: float = 25.0,
        p_threshold: float = 0.5, temperature: float = 0.5, rampup_length: float = 16.0,
        conf_penalty: bool = False, loss_history: int = 1, augment: bool = True,
        seed: int = 0, device=None, test_images=None, test_labels=None, checkpoint_dir=None,
        resume: bool = False, progress: bool = True, num_classes: int | None = None,
        true_labels=None, model_kwargs: dict | None = None,
        forget_rate: float | str | None = None, on_epoch=None) -> engine.FitResult:
    """Train two networks with DivideMix.

    Args:
        images: uint8 (N, H, W, C) images, or float (N, D) embeddings with ``model="mlp"``
            (then the two "views" are identical and only mixup augments).
        labels: int (N,) given (noisy) labels in [0, K).
        model: backbone of both networks (initialised with seeds ``seed``, ``seed + 1``).
        epochs: total epochs including the warm-up (paper: 300).
        warmup_epochs: epochs of plain cross entropy on all labels (paper: 10 on CIFAR-10,
            30 on CIFAR-100).
        batch_size: labeled (and unlabeled) batch size (paper: 64);
            ``warmup_batch_size`` defaults to twice that, as in the official code.
        lr, weight_decay, momentum: SGD (paper: 0.02, 5e-4, 0.9); the lr is divided by 10
            at ``lr_decay_epoch`` (default ``epochs / 2``, the paper's 150 of 300).
        alpha: mixup Beta parameter (paper: 4).
        lambda_u: weight of the unlabeled loss (paper: 0 for 20% symmetric noise, 25 for
            50% and 80%, 50 for 90%; 0 for asymmetric noise).
        p_threshold: clean-probability threshold of the division (paper: 0.5).
        forget_rate: None (the paper's division by ``p_threshold``) or a fraction in [0, 1):
            divide by rank instead, this fraction of the examples (the least likely clean)
            unlabeled, as Co-teaching's forget rate (the noise rate; our option, see
            :func:`labeled_mask`); or ``"estimate"``: divide by rank at the noise rate
            estimated before the warm-up (needs ``warmup_epochs >= 1``): confident learning
            (:func:`labelnoise.count.estimate_noise`) on out-of-sample predicted
            probabilities of 2-fold cross-validation, each fold a network of ``model``
            trained ``warmup_epochs`` epochs as the warm-up (see
            :meth:`DivideMix.estimate_noise_rate`), recorded in the history as
            ``estimated_noise_rate`` (epoch 1) and checkpointed.
        temperature: sharpening temperature T (paper: 0.5).
        rampup_length: epochs over which lambda_u ramps up after the warm-up (paper: 16).
        conf_penalty: add the negative-entropy penalty in the warm-up (paper: asymmetric
            noise).
        loss_history: fit the mixture to the mean scaled loss of the last this-many epochs
            (paper: 5 for 90% noise, else 1).
        true_labels: optional int (N,) clean labels; the history then also records the
            division's ``split_precision`` / ``split_recall`` (of clean labels; network 1).
        Other arguments: as :func:`labelnoise.training.standard.fit`.

    Returns:
        :class:`~labelnoise.training.engine.FitResult`: ``model`` is the
        :class:`~labelnoise.training.engine.Ensemble` of both networks (mean logits),
        ``models`` the two networks. The history has ``labeled_fraction`` (network 1's
        division) after the warm-up, and ``estimated_noise_rate`` at the first epoch with
        ``forget_rate="estimate"``.

    Raises:
        ValueError: bad hyperparameters or data (see
            :func:`~labelnoise.training.engine.prepare_data`), bad resume; with
            ``forget_rate="estimate"``, no warm-up or an estimate that cannot be made (a
            class with fewer than 2 examples).
    """
    method = DivideMix(model=model, epochs=epochs, warmup_epochs=warmup_epochs,
                       batch_size=batch_size, warmup_batch_size=warmup_batch_size, lr=lr,
                       weight_decay=weight_decay, momentum=momentum,
                       lr_decay_epoch=lr_decay_epoch, alpha=alpha, lambda_u=lambda_u,
                       p_threshold=p_threshold, temperature=temperature,
                       rampup_length=rampup_length, conf_penalty=conf_penalty,
                       loss_history=loss_history, augment=augment, seed=seed,
                       model_kwargs=model_kwargs, true_labels=true_labels,
                       forget_rate=forget_rate)
    return engine.run_on_labels(method, images, labels, num_classes=num_classes,
                                test_images=test_images, test_labels=test_labels, device=device,
                                checkpoint_dir=checkpoint_dir, resume=resume, progress=progress,
                                on_epoch=on_epoch)
