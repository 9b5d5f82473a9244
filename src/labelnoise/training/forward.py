"""Forward loss correction with a given or estimated noise matrix (Patrini, Rozza, Krishna
Menon, Nock & Qu 2017, "Making Deep Neural Networks Robust to Label Noise: a Loss
Correction Approach", CVPR).

Algorithm: standard training (:mod:`labelnoise.training.standard`: one network, random
crop + flip, SGD with the chosen schedule) whose loss is cross entropy against the given
labels after the network's softmax is pushed through the noise matrix,
``-log (p @ T.T)_y`` (:class:`labelnoise.losses.ForwardCorrectedLoss`; the paper's
section 3.2 and Theorem 2: for class-conditional noise with the true ``T`` its minimiser
is the clean class posterior).

The noise matrix ``T[i, j] = P(given = i | true = j)``:

- given (``noise_matrix=``): forward correction from the first epoch (the paper's "known
  T" rows);
- otherwise estimated during the run: ``warmup_epochs`` epochs of plain cross entropy,
  then ``T`` from confident learning (:func:`labelnoise.count.estimate_noise`, our
  estimator, in place of the paper's anchor points at the 97th percentile of each class's
  probability) on the network's predicted probabilities for the training images (no
  augmentation), averaged over the last ``min(5, warmup_epochs)`` warm-up epochs to steady
  the estimate against the epoch-to-epoch swings of a high learning rate; forward
  correction for the remaining epochs. The paper trains a first network to convergence to
  estimate ``T`` and a second one from scratch; one run with a warm-up costs as much as
  cross entropy instead of twice as much, and estimates ``T`` in the early-learning phase,
  before the network has memorised the noisy labels (in-sample predictions of a network
  that has memorised them agree with every given label, and the estimate would be the
  identity).

The estimated matrix and noise rate are recorded in the history of the epoch that
estimated them (``noise_matrix``, ``estimated_noise_rate``) and checkpointed, so a resumed
run continues with the same ``T``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from labelnoise import count
from labelnoise._validation import check_int, validate_noise_matrix
from labelnoise.losses import ForwardCorrectedLoss
from labelnoise.training import engine, standard

#: how many of the last warm-up epochs' predictions are averaged for the estimate
AVERAGED_EPOCHS = 5


@dataclass
class Forward(standard.Standard):
    """Forward loss correction (hyperparameters: see :func:`fit`)."""

    name = "forward"
    checkpointed = {"model": "net", "optimizer": "optimizer",
                    "noise_matrix": "noise_matrix_", "pred_sum": "pred_sum_"}
    distributed = True
    warmup_epochs: int = 1  # a default only because Standard's fields have some; fit sets it
    noise_matrix: object = engine.not_in_config(fingerprint=True)

    def __post_init__(self):
        super().__post_init__()
        w = self.warmup_epochs = check_int(self.warmup_epochs, "warmup_epochs", 1)
        if self.noise_matrix is None and w >= self.epochs:
            raise ValueError(f"warmup_epochs must be below epochs ({self.epochs}) when the "
                             f"noise matrix is estimated, got {w}")

    @property
    def label(self):
        return self.name

    def setup(self, data):
        super().setup(data)  # the network, SGD and cross entropy (the warm-up loss)
        self.pred_sum_ = None
        self.noise_matrix_ = None
        if self.noise_matrix is not None:
            self.noise_matrix_ = validate_noise_matrix(
                self.noise_matrix, num_classes=data.num_classes, atol=1e-4)
            self._correct()

    def _correct(self):
        self.criterion = ForwardCorrectedLoss(self.noise_matrix_).to(self.data.device)

    def load_state_dict(self, state):
        super().load_state_dict(state)
        if self.noise_matrix_ is not None:
            self._correct()

    def _accumulate(self):
        """Add the network's predicted probabilities on the training images to the sum."""
        logits = engine.gathered_logits(self.net, self.data.x, self.world)
        probs = F.softmax(logits, dim=1).double().cpu().numpy()
        self.pred_sum_ = probs if self.pred_sum_ is None else self.pred_sum_ + probs

    def _estimate(self) -> dict:
        pred_probs = self.pred_sum_ / self.pred_sum_.sum(axis=1, keepdims=True)
        labels = self.data.y.cpu().numpy()
        try:
            est = count.estimate_noise(labels, pred_probs)
        except ValueError as exc:
            raise ValueError(f"forward: cannot estimate the noise matrix after the warm-up "
                             f"({exc}); pass noise_matrix") from None
        self.noise_matrix_ = est.noise_matrix
        self.pred_sum_ = None
        self._correct()
        return {"noise_matrix": est.noise_matrix.tolist(),
                "estimated_noise_rate": float(est.noise_rate)}

    def train_epoch(self, epoch):
        record = super().train_epoch(epoch)
        if self.noise_matrix_ is None and epoch >= self.warmup_epochs - AVERAGED_EPOCHS:
            with torch.no_grad():
                self._accumulate()
            if epoch == self.warmup_epochs - 1:
                record.update(self._estimate())
        return record


def fit(images, labels, *, model="resnet8", noise_matrix=None, warmup_epochs: int | None = None,
        epochs: int = 150, batch_size: int = 128, lr: float = 0.1, weight_decay: float = 5e-4,
        momentum: float = 0.9, schedule: str = "step", milestones=None, gamma: float = 0.1,
        augment: bool = True, seed: int = 0, device=None, test_images=None, test_labels=None,
        checkpoint_dir=None, resume: bool = False, progress: bool = True,
        num_classes: int | None = None, model_kwargs: dict | None = None, on_epoch=None,
        true_labels=None) -> engine.FitResult:
    """Train one network with forward loss correction (Patrini et al. 2017).

    Args:
        images: uint8 (N, H, W, C) images, or float (N, D) embeddings with ``model="mlp"``.
        labels: int (N,) given (noisy) labels in [0, K).
        noise_matrix: optional float (K, K), ``P(given = i | true = j)`` at ``[i, j]``
            (columns sum to 1), e.g. ``labelnoise.count.estimate_noise(labels,
            pred_probs).noise_matrix`` from out-of-sample pred_probs. None (default):
            estimated during the run after ``warmup_epochs`` (see the module docstring).
        warmup_epochs: epochs of plain cross entropy before the estimate (ignored when
            ``noise_matrix`` is given); an int >= 1, below ``epochs``. Default (None):
            ``epochs / 50`` rounded, at least 1 (1 of the 50 epochs of
            :class:`labelnoise.estimators.RobustMLPClassifier`). Why: the in-sample estimate
            shrinks towards the identity as the network memorises the given labels, and an
            MLP on small tables memorises within a few epochs. Chosen among 1, 2, 5 and 10
            of 50 epochs by the highest mean clean test accuracy over digits' noisy settings
            (``benchmarks/robust_mlp.py``, 3 seeds: 73.0 / 77.0% at 1 epoch against 69.1 /
            71.3% at 10, 40% symmetric / 30% pair flip); breast cancer, seen when it was
            chosen, agreed, and wine confirmed it (1 epoch above cross entropy in every noisy
            setting of the three datasets). Networks that memorise slowly (a ResNet on images
            with a large step-schedule learning rate) can warm up longer:
            ``benchmarks/train_cifar.py``'s memorise profile uses 30 of 150.
        epochs, batch_size, lr, weight_decay, momentum, schedule, milestones, gamma,
        augment, seed, device, test_images, test_labels, checkpoint_dir, resume, progress,
        num_classes, model_kwargs, on_epoch, true_labels: as
            :func:`labelnoise.training.standard.fit` (defaults: the step schedule, x0.1 at
            50% and 75% of the epochs, lr 0.1, weight decay 5e-4, batch 128, 150 epochs).

    Returns:
        :class:`~labelnoise.training.engine.FitResult`; the history's record of the last
        warm-up epoch holds ``noise_matrix`` (K x K nested lists) and
        ``estimated_noise_rate`` when the matrix was estimated.

    Raises:
        ValueError: as :func:`labelnoise.training.standard.fit`; ``warmup_epochs`` not an
            int >= 1 or (estimating) not below ``epochs``; ``noise_matrix`` not a valid
            (K, K) noise matrix (NaN/inf or negative entries, a column not summing to 1,
            another K than the labels'); the estimate impossible (a class without any
            example).
    """
    if warmup_epochs is None:
        warmup_epochs = max(1, round(epochs / 50)) if isinstance(epochs, int) else 1
    method = Forward(model=model, loss="ce", epochs=epochs, batch_size=batch_size, lr=lr,
                     weight_decay=weight_decay, momentum=momentum, schedule=schedule,
                     augment=augment, seed=seed, loss_kwargs=None, model_kwargs=model_kwargs,
                     milestones=milestones, gamma=gamma, true_labels=true_labels,
                     warmup_epochs=warmup_epochs,
                     noise_matrix=(None if noise_matrix is None
                                   else validate_noise_matrix(noise_matrix, atol=1e-4)))
    return engine.run_on_labels(method, images, labels, num_classes=num_classes,
                                test_images=test_images, test_labels=test_labels, device=device,
                                checkpoint_dir=checkpoint_dir, resume=resume, progress=progress,
                                on_epoch=on_epoch)
