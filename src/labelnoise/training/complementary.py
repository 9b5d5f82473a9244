"""Complementary-label learning: the unbiased risk estimator of Ishida, Niu, Menon &
Sugiyama 2019 ("Complementary-Label Learning for Arbitrary Losses and Models", ICML) with its
non-negative correction.

Each training example n carries complementary labels: a set ``Ybar_n`` of m_n >= 1 classes
it does NOT belong to, drawn uniformly among the K - 1 wrong classes (see
:func:`labelnoise.noise.complementary_labels`). Here they arrive as candidate sets, the
classes an example may belong to: ``candidates = ~complementary`` (the input of the
partial-label methods, so ``labelnoise train --candidates`` feeds both).

**Unbiased risk estimator** (Ishida et al. 2019, Theorem 1, for one complementary label;
for a set of m it is the average of Theorem 1 over the m labels, each marginally uniform over
the wrong classes). With ``l_j = -log softmax(f(x))_j`` (cross entropy against class j)::

    rbar(x, Ybar) = sum_j l_j - (K - 1) / m * sum_{j in Ybar} l_j
                  = sum_{j not in Ybar} l_j - (K - 1 - m) / m * sum_{j in Ybar} l_j

(the second form is the estimator of Feng et al. 2020, "Learning with Multiple
Complementary Labels", ICML, for sets of size m).

Its expectation over the uniform draw of Ybar is the ordinary loss ``l_y`` at the true
label, so its average is an unbiased estimate of the cross-entropy risk (tested in
``tests/test_complementary.py`` by enumerating every draw).

**Non-negative correction** (Ishida et al. 2019). Grouping the estimator by the
class j of the loss gives K partial risks whose expectations
``P(y = j) E[l_j(x) | y = j]`` are non-negative; on a mini-batch they are estimated
stratified by complementary class, with the class prior ``pibar`` of the complementary
labels of the whole training set, as the official code does (see :func:`partial_risks`)::

    r_j = sum_k pibar_k * mean_{(n, k)} l_j(x_n) - (K - 1) * pibar_j * mean_{(n, j)} l_j(x_n)

The estimates go negative when a flexible model overfits (the unbiased estimator is not
bounded below). ``correction`` chooses what a step minimises:

* ``"ga"`` (default; the paper's gradient-ascent variant, its Algorithm 1): when some ``r_j < 0``, a step of gradient *ascent* on
  ``sum_j min(0, r_j)`` (implemented as descent on ``-sum_j min(0, r_j)``), which pushes
  the negative partial risks back up; otherwise descent on ``sum_j r_j``. Threshold
  beta = 0 and no ascent discount, as in the official code
  (github.com/takashiishida/comp, ``demo.py -me ga``);
* ``"max"``: descent on ``sum_j max(0, r_j)`` (the paper's non-negative estimator with the
  max operator, ``-me nn``);
* ``"none"``: descent on the unbiased estimate ``sum_j r_j`` itself (``-me free``).

Two departures from the official code, both in how the correction is scaled: the first
term weights stratum k by ``pibar_k`` (the code multiplies by ``pibar_j``, the same for the
near-uniform priors of uniform complementary labels), and the ascent objective is
``-sum_j min(0, r_j)`` (the code weights each ``r_j`` there by its stratum's count in the
batch). The paper trains with Adam (lr 5e-5, weight decay 1e-4,
batch 256, 300 epochs); the optimiser defaults here (SGD, one-cycle, lr 0.1) are the
engine's, chosen for short CPU runs, not the paper's.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from labelnoise.training import engine
from labelnoise.training.proden import prepare_partial

CORRECTIONS = ("ga", "max", "none")


def _float(logits: torch.Tensor) -> torch.Tensor:
    """float64 logits as they are, anything else in float32."""
    return logits if logits.dtype == torch.float64 else logits.float()


def complementary_priors(complementary: torch.Tensor) -> torch.Tensor:
    """The class prior of the complementary labels, float32 (K,): the fraction of all
    (example, complementary label) pairs of a bool (N, K) mask whose complementary label is
    class k (pi-bar in Ishida et al. 2019)."""
    counts = complementary.bool().sum(dim=0).float()
    return counts / counts.sum().clamp_min(1)


def partial_risks(logits: torch.Tensor, complementary: torch.Tensor,
                  priors: torch.Tensor) -> torch.Tensor:
    """The K class-wise partial risks ``r_j`` (K,) of a mini-batch, stratified by
    complementary class as in Ishida et al. 2019 (and their code)::

        r_j = sum_k pibar_k * mean_{(n, k)} l_j(x_n) - (K - 1) * pibar_j * mean_{(n, j)} l_j(x_n)

    where ``mean_{(n, k)}`` averages over the batch's (example, complementary label) pairs
    whose complementary label is k (an example with m complementary labels gives m pairs, the
    decomposition of Feng et al. 2020), and strata absent from the batch are left out. Their
    sum is the stratified mean over pairs of the unbiased estimator
    ``sum_j l_j - (K - 1) l_k``. Weighting the strata by the training set's ``pibar`` rather
    than the batch's own proportions removes the batch-to-batch noise of the proportions,
    which otherwise makes some ``r_j`` negative on most steps.

    Args:
        logits: float (B, K) (float64 kept, other dtypes computed in float32).
        complementary: bool (B, K), True at each example's complementary labels.
        priors: float (K,), :func:`complementary_priors` of the whole training set.

    Returns:
        float (K,) tensor, differentiable in ``logits``.
    """
    loss = -F.log_softmax(_float(logits), dim=1)  # l_j(x_n), (B, K)
    comp = complementary.to(loss.dtype)
    k = logits.shape[1]
    counts = comp.sum(dim=0)  # pairs per complementary class in the batch
    present = counts > 0
    means = (comp.T @ loss) / counts.clamp_min(1)[:, None]  # [k, j]: mean l_j over stratum k
    weights = torch.where(present, priors.to(loss.device, loss.dtype), 0.0)
    return weights @ means - (k - 1) * weights * means.diagonal()


def unbiased_risk(logits: torch.Tensor, complementary: torch.Tensor,
                  reduction: str = "mean") -> torch.Tensor:
    """Ishida et al. 2019's unbiased estimator (Theorem 1) of the cross-entropy risk from
    complementary labels, per example:
    ``sum_j l_j - (K - 1) / m * sum_{j in Ybar} l_j`` with ``l_j = -log softmax(logits)_j``.

    Args:
        logits: float (B, K) (float64 kept, other dtypes computed in float32).
        complementary: bool (B, K), True at each example's complementary labels (>= 1 per
            row).
        reduction: "mean", "sum" or "none" (a (B,) tensor).

    Raises:
        ValueError: unknown reduction, shapes that differ, a row without a complementary
            label.
    """
    engine.validate_choice(reduction, ("mean", "sum", "none"), "reduction")
    if complementary.shape != logits.shape:
        raise ValueError(f"complementary has shape {tuple(complementary.shape)} but logits "
                         f"has {tuple(logits.shape)}")
    if not complementary.bool().any(dim=1).all():
        raise ValueError("every row of complementary needs at least one complementary label")
    comp = complementary.bool()
    loss = -F.log_softmax(_float(logits), dim=1)
    m = comp.sum(dim=1).to(loss.dtype)
    per = loss.sum(dim=1) - (logits.shape[1] - 1) / m * (loss * comp).sum(dim=1)
    if reduction == "mean":
        return per.mean()
    return per.sum() if reduction == "sum" else per


@dataclass
class Complementary(engine.Method):
    """One network trained from complementary labels (hyperparameters: see :func:`fit`)."""

    name = "complementary"
    checkpointed = {"model": "net", "optimizer": "optimizer"}
    model: object
    correction: str
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

    def __post_init__(self):
        super().__post_init__()
        engine.validate_choice(self.correction, CORRECTIONS, "correction")

    @property
    def label(self):
        return f"complementary/{self.correction}"

    def setup(self, data):
        self.net = engine.make_model(self.model, data, seed=self.seed, **(self.model_kwargs or {}))
        self.optimizer = engine.sgd(self.net, self.lr, self.weight_decay, self.momentum)
        self.complementary = ~self.candidates
        self.priors = complementary_priors(self.complementary)

    def train_epoch(self, epoch):
        data, net = self.data, self.net
        net.train()
        total = torch.zeros((), device=data.device)
        hits = torch.zeros((), device=data.device)
        seen = negative = steps = 0
        for _, idx in self.batches(data.n, self.batch_size, epoch, [self.optimizer]):
            x = engine.batch_inputs(data, idx, self.generator, self.augment)
            with engine.autocast(data.device):
                logits = net(x).float()
            risks = partial_risks(logits, self.complementary[idx], self.priors)
            has_negative = bool((risks < 0).any())
            negative += has_negative
            if self.correction == "ga" and has_negative:
                objective = -risks.clamp(max=0).sum()  # gradient ascent on sum_j min(0, r_j)
            elif self.correction == "max":
                objective = risks.clamp(min=0).sum()
            else:
                objective = risks.sum()
            self.optimizer.zero_grad(set_to_none=True)
            objective.backward()
            self.optimizer.step()
            total += risks.detach().sum() * len(idx)
            if self.clean is not None:
                hits += (logits.detach().argmax(1) == self.clean[idx]).sum()
            seen += len(idx)
            steps += 1
        record = dict(train_loss=float(total) / max(seen, 1),
                      negative_risk_steps=negative / max(steps, 1),
                      lr=engine.get_lr(self.optimizer))
        if self.clean is not None:
            record["train_acc_clean"] = float(hits) / max(seen, 1)
        return record


def fit(images, candidates, *, model="resnet8", correction: str = "ga", epochs: int = 15,
        batch_size: int = 256, lr: float = 0.1, weight_decay: float = 5e-4,
        momentum: float = 0.9, schedule: str = "onecycle", augment: bool = True, seed: int = 0,
        device=None, test_images=None, test_labels=None, true_labels=None,
        checkpoint_dir=None, resume: bool = False, progress: bool = True,
        model_kwargs: dict | None = None, on_epoch=None) -> engine.FitResult:
    """Train one network from complementary labels with the unbiased risk estimator of
    Ishida et al. 2019 and its non-negative correction (see the module docstring).

    Args:
        images: uint8 (N, H, W, C) images, or float (N, D) embeddings with ``model="mlp"``.
        candidates: bool (N, K): the classes each example may belong to, i.e. every class
            except its complementary labels (``~noise.complementary_labels(...)``; for int
            (N,) single complementary labels ``comp``, ``~np.eye(K, dtype=bool)[comp]``).
            Every row must exclude at least one class and keep at least one.
        correction: "ga" (gradient ascent on negative partial risks, the paper's
            Algorithm 1), "max" (non-negative estimator with the max operator) or "none"
            (the unbiased estimator as it is).
        true_labels: optional int (N,) clean labels (diagnostics only); the history then
            records ``train_acc_clean``, the accuracy of the training-mode predictions of
            each batch (before its step) on the clean labels.
        Other arguments: as :func:`labelnoise.training.standard.fit`.

    Returns:
        :class:`~labelnoise.training.engine.FitResult`; the history has ``train_loss`` (the
        unbiased risk estimate, mean per example, which can be negative) and
        ``negative_risk_steps`` (the fraction of steps with a negative partial risk, where
        the correction acted).

    Raises:
        ValueError: bad data or candidates (see
            :func:`labelnoise.partial.validate_candidates`), a row of ``candidates`` holding
            every class (no complementary label), unknown ``correction``, ``epochs`` < 1, bad
            resume.
    """
    method = Complementary(model=model, correction=correction, epochs=epochs,
                           batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                           momentum=momentum, schedule=schedule, augment=augment, seed=seed,
                           model_kwargs=model_kwargs)
    data, method.candidates, method.clean = prepare_partial(
        images, candidates, test_images=test_images, test_labels=test_labels, device=device,
        true_labels=true_labels)
    full = method.candidates.all(dim=1)
    if bool(full.any()):
        raise ValueError(f"candidates has {int(full.sum())} rows holding every class, i.e. "
                         f"no complementary label (first: row {int(full.nonzero()[0, 0])})")
    return engine.run(method, data, checkpoint_dir=checkpoint_dir, resume=resume,
                      progress=progress, on_epoch=on_epoch)
