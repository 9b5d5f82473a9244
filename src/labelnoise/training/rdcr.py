"""RDCR: Rotational-Decoupling Consistency Regularization (Tsai, Li & Zhu 2019, "Countering
Noisy Labels By Learning From Auxiliary Clean Labels", arXiv 1905.13305).

The labels of a self-supervised task are always correct: rotate an image by 0, 90, 180 or
270 degrees and the rotation is known exactly (Gidaris et al. 2018, "Unsupervised
Representation Learning by Predicting Image Rotations", ICLR). RDCR trains one backbone
with two heads on a shared representation, a class head (noisy labels) and a 4-way
rotation head (clean rotation labels), together with consistency regularisation in the
style of Mean Teacher (Tarvainen & Valpola 2017): an exponential moving average (EMA) of
the student's weights predicts targets on a differently augmented view, and the student's
class prediction must agree with them. The rotation task is "decoupled" from the
classification: the class prediction must be the same whatever the rotation, so the
consistency term compares the student's class prediction on a *rotated* view with the
teacher's on an upright view, while only upright views see the noisy labels.

Per mini-batch (this implementation):

1. two augmentations (random crop + flip) of each image; a rotation ``r ~ U{0,1,2,3}``
   per image, applied to the first view;
2. student forward on [upright view 1, rotated view 1]: cross entropy of the class head
   on the upright view against the noisy labels; cross entropy of the rotation head on
   the rotated view against ``r``;
3. teacher (EMA) forward on upright view 2; consistency = squared error between the
   student's class probabilities on the rotated view and the teacher's, summed over
   classes, averaged over the batch;
4. loss = CE + ``rotation_weight`` * rotation CE + ``w(t)`` * consistency, with the
   sigmoid ramp-up ``w(t) = consistency_weight * exp(-5 (1 - t/T)^2)`` over the first
   ``rampup_epochs`` epochs (Laine & Aila 2017; Mean Teacher); SGD step; teacher
   ``<- ema * teacher + (1 - ema) * student``.

The test prediction is the teacher's class head (Mean Teacher reports the EMA model).

Defaults and their sources: the retrieved text of arXiv 1905.13305 here was its
abstract and introduction only; the loss weights below are therefore not the paper's own
numbers. ``ema`` 0.99 during ramp-up then 0.999 (Mean Teacher, CIFAR-10);
``rampup_epochs`` 5 and the sigmoid shape (Mean Teacher code, CIFAR-10);
``rotation_weight`` 0.5 (Hendrycks, Mazeika, Kadavath & Song 2019, "Using Self-Supervised
Learning Can Improve Model Robustness and Uncertainty", NeurIPS: the auxiliary rotation
loss weight they use against label noise); ``consistency_weight`` 10 (our choice for MSE
summed over classes; Mean Teacher's CIFAR-10 value is 100 with MSE averaged over ten
classes, i.e. the same scale).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from labelnoise._validation import check_real
from labelnoise.training import engine

NUM_ROTATIONS = 4


# ------------------------------------------------------------------------------ rotations
def rotate(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Rotate each image of a batch by its own multiple of 90 degrees (counter-clockwise).

    Args:
        x: (B, C, H, W) images, H == W (any dtype).
        k: int tensor (B,) with values in {0, 1, 2, 3}: image b is rotated by ``90 k[b]``.

    Returns:
        A new (B, C, H, W) tensor; ``rotate(rotate(x, k), (4 - k) % 4)`` equals ``x``.

    Raises:
        ValueError: non-square images or a ``k`` of the wrong length.
    """
    if x.ndim != 4 or x.shape[2] != x.shape[3]:
        raise ValueError(f"rotate needs square (B, C, H, W) images, got shape {tuple(x.shape)}")
    if k.shape != (x.shape[0],):
        raise ValueError(f"k must have shape ({x.shape[0]},), got {tuple(k.shape)}")
    k = k.to(x.device) % NUM_ROTATIONS
    out = x.clone()
    for r in range(1, NUM_ROTATIONS):
        sel = k == r
        if sel.any():
            out[sel] = torch.rot90(x[sel], r, dims=(2, 3))
    return out


def rotation_batch(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """All four rotations of a batch: images (4B, C, H, W) and rotation labels (4B,)
    (``labels[i]`` = the number of 90-degree turns applied to image ``i``)."""
    k = torch.arange(NUM_ROTATIONS, device=x.device).repeat_interleave(x.shape[0])
    return rotate(x.repeat(NUM_ROTATIONS, 1, 1, 1), k), k


# ------------------------------------------------------------------------------ network
class _Tap(nn.Module):
    """Wraps a network's final linear layer and keeps its input (the representation)."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.linear = linear
        self.features: torch.Tensor | None = None

    def forward(self, x):
        self.features = x
        return self.linear(x)


class HeadedNet(nn.Module):
    """A backbone from :func:`labelnoise.models.build_model` with extra heads on its
    representation (the input of its final linear layer).

    ``forward(x)`` returns the class logits (B, K), so the engine's evaluation and
    :func:`~labelnoise.training.engine.predict_proba` work unchanged;
    ``forward_all(x)`` returns ``(class logits, {head name: head output}, features)``.

    Args:
        backbone: a network whose last ``nn.Linear`` (in module order) maps the
            representation to the class logits.
        heads: name -> module applied to the (B, D) representation.

    Raises:
        ValueError: the backbone has no ``nn.Linear``.
    """

    def __init__(self, backbone: nn.Module, heads: dict[str, nn.Module] | None = None):
        super().__init__()
        names = [n for n, m in backbone.named_modules() if isinstance(m, nn.Linear)]
        if not names:
            raise ValueError("the backbone has no nn.Linear final layer to take features from")
        parent_name, _, attr = names[-1].rpartition(".")
        parent = backbone.get_submodule(parent_name) if parent_name else backbone
        linear = getattr(parent, attr)
        self.feature_dim = linear.in_features
        setattr(parent, attr, _Tap(linear))
        self._tap_path = names[-1]
        self.backbone = backbone
        self.heads = nn.ModuleDict(heads or {})

    def _tap(self) -> _Tap:
        return self.backbone.get_submodule(self._tap_path)

    def forward(self, x):
        return self.backbone(x)

    def forward_all(self, x):
        logits = self.backbone(x)
        tap = self._tap()
        feats = tap.features
        tap.features = None
        return logits, {name: head(feats) for name, head in self.heads.items()}, feats


def ema_decay(step: int, total_steps: int, decay: float, horizon: float = 0.1) -> float:
    """The teacher's EMA decay at optimisation ``step`` (0-based) of ``total_steps``.

    ``min(decay, 1 - 1 / (step + 1), 1 - 1 / (horizon * total_steps))``: the first term
    is the configured decay; the second is Mean Teacher's start-up rule (its code's
    ``update_ema_variables``: an exact average of the iterates so far); the third bounds
    the EMA's time constant by a fraction ``horizon`` of the run, so a short run's teacher
    does not lag behind the student (with Mean Teacher's CIFAR-10 schedule, about 60,000
    steps, the bound is looser than 0.999 and changes nothing). Returns a float in [0, 1).
    """
    bound = 1.0 - 1.0 / max(1.0, horizon * total_steps)
    return max(0.0, min(decay, 1.0 - 1.0 / (step + 1), bound))


def sigmoid_rampup(t: float, length: float) -> float:
    """``exp(-5 (1 - t/length)^2)`` for t < length, else 1 (Laine & Aila 2017)."""
    if length <= 0 or t >= length:
        return 1.0
    phase = 1.0 - max(t, 0.0) / length
    return float(torch.exp(torch.tensor(-5.0 * phase * phase)))


def rdcr_loss(student: HeadedNet, teacher: HeadedNet, x1: torch.Tensor, x2: torch.Tensor,
              y: torch.Tensor, k: torch.Tensor, *, rotation_weight: float,
              consistency_weight: float) -> tuple[torch.Tensor, dict]:
    """The RDCR objective on one batch (steps 2-4 of the module docstring).

    Args:
        student, teacher: :class:`HeadedNet` with a ``"rotation"`` head (4 outputs).
        x1, x2: two augmented views (B, C, H, W); y: noisy labels (B,); k: rotations (B,).
        rotation_weight, consistency_weight: the weights (consistency already ramped).

    Returns:
        (loss, dict of the float parts ``ce``, ``rotation``, ``consistency``).
    """
    b = x1.shape[0]
    logits, heads, _ = student.forward_all(torch.cat([x1, rotate(x1, k)]))
    logits = logits.float()
    ce = F.cross_entropy(logits[:b], y)
    rot = F.cross_entropy(heads["rotation"][b:].float(), k)
    with torch.no_grad():
        target = F.softmax(teacher(x2).float(), dim=1)
    cons = ((F.softmax(logits[b:], dim=1) - target) ** 2).sum(dim=1).mean()
    loss = ce + rotation_weight * rot + consistency_weight * cons
    return loss, dict(ce=float(ce.detach()), rotation=float(rot.detach()),
                      consistency=float(cons.detach()))


@dataclass
class RDCR(engine.Method):
    """RDCR's student (with a rotation head) and EMA teacher (hyperparameters: see :func:`fit`)."""

    name = "rdcr"
    checkpointed = {"student": "student", "teacher": "teacher", "optimizer": "optimizer"}
    model: object
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    momentum: float
    schedule: str
    rotation_weight: float
    consistency_weight: float
    rampup_epochs: float
    ema: float
    ema_rampup: float
    ema_horizon: float
    augment: bool
    seed: int
    model_kwargs: dict | None

    def __post_init__(self):
        super().__post_init__()
        for name in ("rotation_weight", "consistency_weight", "rampup_epochs"):
            check_real(getattr(self, name), name, low=0)
        for name in ("ema", "ema_rampup"):
            check_real(getattr(self, name), name, low=0, high=1)
        check_real(self.ema_horizon, "ema_horizon", low=0, strict=True)

    def setup(self, data):
        if not data.is_image or data.x.shape[2] != data.x.shape[3]:
            raise ValueError("RDCR needs square uint8 images (N, H, H, C) to rotate")
        backbone = engine.make_model(self.model, data, seed=self.seed, **(self.model_kwargs or {}))
        torch.manual_seed(self.seed)
        student = HeadedNet(backbone)
        student.heads["rotation"] = nn.Linear(student.feature_dim, NUM_ROTATIONS)
        self.student = student.to(data.device)
        self.teacher = copy.deepcopy(self.student)
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.optimizer = engine.sgd(self.student, self.lr, self.weight_decay, self.momentum)

    def train_epoch(self, epoch):
        data, student, teacher = self.data, self.student, self.teacher
        student.train()
        teacher.train()
        sums = dict(loss=0.0, ce=0.0, rotation=0.0, consistency=0.0)
        seen = 0
        steps = engine.num_batches(data.n, self.batch_size)
        for step, idx in self.batches(data.n, self.batch_size, epoch, [self.optimizer]):
            t = epoch + step / steps
            # 1. two augmented views, a random rotation per image
            x1 = engine.batch_inputs(data, idx, self.generator, self.augment)
            x2 = engine.batch_inputs(data, idx, self.generator, self.augment)
            k = torch.randint(0, NUM_ROTATIONS, (len(idx),), generator=self.generator)
            k = k.to(data.device)
            # 2.-4. CE + rotation CE + ramped consistency with the teacher; SGD step; EMA
            with engine.autocast(data.device):
                ramp = sigmoid_rampup(t, self.rampup_epochs)
                loss, parts = rdcr_loss(
                    student, teacher, x1, x2, data.y[idx], k, rotation_weight=self.rotation_weight,
                    consistency_weight=self.consistency_weight * ramp)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            decay = self.ema_rampup if t < self.rampup_epochs else self.ema
            engine.ema_update(teacher, student, ema_decay(epoch * steps + step,
                                                          self.epochs * steps, decay,
                                                          self.ema_horizon))
            sums["loss"] += float(loss.detach()) * len(idx)
            for key in ("ce", "rotation", "consistency"):
                sums[key] += parts[key] * len(idx)
            seen += len(idx)
        seen = max(seen, 1)
        return dict(train_loss=sums["loss"] / seen, ce=sums["ce"] / seen,
                    rotation_loss=sums["rotation"] / seen,
                    consistency_loss=sums["consistency"] / seen,
                    lr=engine.get_lr(self.optimizer))

    def result(self):
        return self.teacher, (self.teacher, self.student)

    def evaluated(self):
        return {"test_acc": self.teacher, "test_acc_student": self.student}


def fit(images, labels, *, model="resnet8", epochs: int = 15, batch_size: int = 256,
        lr: float = 0.1, weight_decay: float = 5e-4, momentum: float = 0.9,
        schedule: str = "onecycle", rotation_weight: float = 0.5,
        consistency_weight: float = 10.0, rampup_epochs: float = 5.0,
        ema: float = 0.999, ema_rampup: float = 0.99, ema_horizon: float = 0.1,
        augment: bool = True, seed: int = 0,
        device=None, test_images=None, test_labels=None, checkpoint_dir=None,
        resume: bool = False, progress: bool = True, num_classes: int | None = None,
        model_kwargs: dict | None = None, on_epoch=None) -> engine.FitResult:
    """Train with RDCR on noisy labels.

    Args:
        images: uint8 (N, H, W, C) square images (rotations need H == W).
        labels: int (N,) noisy labels in [0, K).
        rotation_weight: weight of the rotation cross entropy (default 0.5; see module).
        consistency_weight: maximum weight of the consistency term (default 10).
        rampup_epochs: length of the sigmoid ramp-up of the consistency weight (5).
        ema, ema_rampup: teacher EMA decay after / during the ramp-up (0.999 / 0.99).
        ema_horizon: the EMA's time constant is at most this fraction of the run's steps
            (default 0.1; see :func:`ema_decay`).
        Other arguments: as :func:`labelnoise.training.standard.fit`.

    Returns:
        :class:`~labelnoise.training.engine.FitResult` whose ``model`` is the teacher
        (class logits only) and ``models`` = (teacher, student). The history also has
        ``ce``, ``rotation_loss``, ``consistency_loss`` and ``test_acc_student``.

    Raises:
        ValueError: embeddings instead of images, non-square images, bad data, a
            hyperparameter outside its range (weights and ``rampup_epochs`` < 0, ``ema`` /
            ``ema_rampup`` outside [0, 1), ``ema_horizon`` <= 0; the shared ones:
            :data:`labelnoise.training.engine.COMMON_HYPERPARAMETERS`), bad resume.
    """
    method = RDCR(model=model, epochs=epochs, batch_size=batch_size, lr=lr,
                  weight_decay=weight_decay, momentum=momentum, schedule=schedule,
                  rotation_weight=rotation_weight, consistency_weight=consistency_weight,
                  rampup_epochs=rampup_epochs, ema=ema, ema_rampup=ema_rampup,
                  ema_horizon=ema_horizon, augment=augment, seed=seed, model_kwargs=model_kwargs)
    return engine.run_on_labels(method, images, labels, num_classes=num_classes,
                                test_images=test_images, test_labels=test_labels, device=device,
                                checkpoint_dir=checkpoint_dir, resume=resume, progress=progress,
                                on_epoch=on_epoch)
