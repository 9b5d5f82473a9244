"""The training engine: one epoch loop for every method (airbench-style: small, explicit, fast).

:func:`run` owns the loop: progress bar, the epoch's clock, evaluation on the clean test
set, the history, an atomic checkpoint after every epoch and the exact resume from it. A
method (:class:`Method`) supplies its networks and state (``setup``) and one epoch of its
algorithm (``train_epoch``), so a method module reads like its paper's algorithm box.

The toolkit the methods use:

* data: the training set is held on the device as one uint8 tensor of shape (N, C, H, W)
  in channels_last layout (a zero-copy view of the (N, H, W, C) input), or as a float
  (N, D) tensor of embeddings; batches are gathered by index on the device;
* augmentation on whole batches of tensors: random crop with reflect padding (4 pixels)
  and horizontal flip, done as a single gather (no torchvision, no per-image Python);
* mixed precision (bfloat16 autocast) on CUDA only; float32 on CPU;
* learning-rate schedules as a function of fractional epochs (one-cycle, cosine, step), set
  before every step by :meth:`Method.batches`;
* evaluation on a clean test set, softmax prediction with optional flip TTA;
* checkpoints after every epoch (atomic write) holding everything needed for an exact
  resume: networks, optimizers, loss state, the method's state, RNG states, epoch,
  history; read back with ``torch.load(weights_only=True)`` after a manifest check (see
  :class:`Checkpointer`).

Distributed data-parallel training (``labelnoise train --nproc N``, ``torchrun``): inside a
process group of several processes :func:`run` trains with ``DistributedDataParallel``, every
rank its share of each global batch, BatchNorm over the global batch, per-example state
gathered, rank 0 writing checkpoints; see :mod:`labelnoise.training.distributed`. In one
process none of it runs.

Randomness: every method draws data order and augmentations from a ``torch.Generator``
seeded with ``seed`` and mixup coefficients from a numpy Generator seeded with ``seed``
(both saved in checkpoints), and initialises its networks after ``torch.manual_seed(seed)``;
on CPU a run is therefore repeatable bit for bit, and a resumed run ends with the same
weights as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import json
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from labelnoise._io import read_json
from labelnoise._validation import check_int, check_real, validate_choice, validate_labels
from labelnoise.models import MODELS, build_model
from labelnoise.training import distributed as _dist

SCHEDULES = ("onecycle", "cosine", "cosine-restarts", "step", "constant")
CHECKPOINT_NAME = "checkpoint.pt"
#: the manifest beside every checkpoint; a resume refuses a folder without it
MANIFEST_NAME = "checkpoint.json"
CHECKPOINT_FORMAT = "labelnoise-checkpoint"
CHECKPOINT_VERSION = 2


# ------------------------------------------------------------------------------ results
@dataclass
class FitResult:
    """What a method's ``fit`` returns.

    Attributes:
        model: the trained network in eval mode (for two-network methods, the
            :class:`Ensemble` the paper evaluates), returning (N, K) logits.
        history: one dict per epoch with keys ``epoch`` (1-based), ``train_loss``,
            ``test_acc`` (fraction in [0, 1], None without a test set), ``lr`` (at the end
            of the epoch), ``seconds`` (wall time of the epoch, training + evaluation),
            plus method-specific keys.
        models: every network trained (one, or two for Co-teaching and DivideMix).
    """

    model: nn.Module
    history: list[dict]
    models: tuple[nn.Module, ...] = field(default_factory=tuple)

    @property
    def last_test_acc(self) -> float | None:
        """Clean test accuracy after the last epoch (None without a test set)."""
        return self.history[-1]["test_acc"] if self.history else None

    @property
    def best_test_acc(self) -> float | None:
        """Best clean test accuracy over the epochs (None without a test set)."""
        accs = [h["test_acc"] for h in self.history if h["test_acc"] is not None]
        return max(accs) if accs else None


class Ensemble(nn.Module):
    """Average the logits of several networks, as DivideMix (Li et al. 2020) and ELR+
    (Liu et al. 2020) evaluate their two networks."""

    def __init__(self, models: Sequence[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(models)

    def forward(self, x):
        return torch.stack([m(x).float() for m in self.members]).mean(0)


# ------------------------------------------------------------------------------ device
def resolve_device(device=None) -> torch.device:
    """``device`` as a ``torch.device``; None picks CUDA when available, else CPU.

    Raises:
        ValueError: ``device`` is not a torch device name, or names a CUDA / MPS device that
            this machine or this torch build does not have (a one-line message, instead of
            torch's error from deep inside the first tensor moved there).
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"device {device!r} is not a torch device (e.g. 'cpu', 'cuda', "
                         "'cuda:1')") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            why = ("this torch build has no CUDA" if torch.version.cuda is None
                   else "no CUDA GPU is visible")
            raise ValueError(f"device {device!r}: {why} (torch {torch.__version__}); "
                             "use 'cpu'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r}: {torch.cuda.device_count()} CUDA GPU(s) "
                             "visible")
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"device {device!r}: MPS is not available here; use 'cpu'")
    return dev


def autocast(device: torch.device):
    """bfloat16 autocast on CUDA devices that support it; a no-op elsewhere (CPU: fp32)."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def seeded_generator(seed: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``seed`` (data order and augmentation draws)."""
    return torch.Generator().manual_seed(int(seed))


# ------------------------------------------------------------------------------ data
def as_input_tensor(images, name: str = "images") -> torch.Tensor:
    """Check ``images`` and return them as a CPU tensor the models accept.

    Args:
        images: uint8 array (N, H, W, C) with C in {1, 3} (HWC images), or a float array
            (N, D) of embeddings; a numpy array or a torch tensor.

    Returns:
        uint8 tensor (N, C, H, W) in channels_last layout (a view, no copy, when the
        input is a C-contiguous numpy array), or a float32 tensor (N, D).

    Raises:
        ValueError: other shapes or dtypes, empty, or non-finite embeddings.
    """
    t = images if isinstance(images, torch.Tensor) else torch.from_numpy(np.asarray(images))
    if t.ndim == 4:
        if t.dtype != torch.uint8:
            raise ValueError(f"{name} with 4 dimensions must be uint8 (N, H, W, C) pixels, got {t.dtype}")
        if t.shape[-1] not in (1, 3):
            raise ValueError(f"{name} must be (N, H, W, C) with C in (1, 3), got shape {tuple(t.shape)}")
        if t.shape[0] == 0:
            raise ValueError(f"{name} is empty")
        return t.permute(0, 3, 1, 2)
    if t.ndim == 2:
        if not t.is_floating_point():
            raise ValueError(f"{name} with 2 dimensions must be float (N, D) embeddings, got {t.dtype}")
        if t.shape[0] == 0:
            raise ValueError(f"{name} is empty")
        t = t.float()
        if not torch.isfinite(t).all():
            raise ValueError(f"{name} contains NaN or infinite values")
        return t
    raise ValueError(f"{name} must be uint8 (N, H, W, C) images or float (N, D) embeddings, "
                     f"got shape {tuple(t.shape)}")


@dataclass
class TrainData:
    """A training set (and optional clean test set) on the device; see :func:`prepare_data`."""

    x: torch.Tensor
    y: torch.Tensor
    num_classes: int
    device: torch.device
    x_test: torch.Tensor | None = None
    y_test: torch.Tensor | None = None

    @property
    def n(self) -> int:
        return self.x.shape[0]

    @property
    def is_image(self) -> bool:
        return self.x.ndim == 4


def prepare_data(images, labels, *, num_classes=None, test_images=None, test_labels=None,
                 device=None) -> TrainData:
    """Validate a training set (and test set) and move it to ``device`` once.

    Args:
        images: uint8 (N, H, W, C) or float (N, D); see :func:`as_input_tensor`.
        labels: int (N,) noisy labels in [0, K).
        num_classes: K; default ``max(labels, test_labels) + 1``.
        test_images, test_labels: an optional clean test set, same format (both or none).
        device: torch device (default CUDA if available, else CPU).

    Raises:
        ValueError: bad shapes or dtypes, length mismatch, labels outside [0, K),
            only one of test_images / test_labels given.
    """
    device = resolve_device(device)
    x = as_input_tensor(images, "images")
    y = validate_labels(labels, num_classes=num_classes, name="labels")
    if len(y) != x.shape[0]:
        raise ValueError(f"labels has {len(y)} entries but images has {x.shape[0]}")
    if (test_images is None) != (test_labels is None):
        raise ValueError("give both test_images and test_labels, or neither")
    k = num_classes if num_classes is not None else int(y.max()) + 1
    x_test = y_test = None
    if test_images is not None:
        x_test = as_input_tensor(test_images, "test_images")
        y_test = validate_labels(test_labels, num_classes=num_classes, name="test_labels")
        if len(y_test) != x_test.shape[0]:
            raise ValueError(f"test_labels has {len(y_test)} entries but test_images has "
                             f"{x_test.shape[0]}")
        if x_test.shape[1:] != x.shape[1:]:
            raise ValueError(f"test_images have shape {tuple(x_test.shape[1:])} per example, "
                             f"images have {tuple(x.shape[1:])}")
        if num_classes is None:
            k = max(k, int(y_test.max()) + 1)
    if k < 2:
        raise ValueError(f"num_classes must be >= 2, got {k}")

    def put(t):
        return t.to(device, memory_format=torch.channels_last) if t.ndim == 4 else t.to(device)

    return TrainData(
        x=put(x), y=torch.from_numpy(y).to(device), num_classes=int(k), device=device,
        x_test=None if x_test is None else put(x_test),
        y_test=None if y_test is None else torch.from_numpy(y_test).to(device),
    )


def make_model(model, data: TrainData, *, seed: int, **model_kwargs) -> nn.Module:
    """Build ``model`` (a name for :func:`labelnoise.models.build_model`, or a module to
    train as given) after ``torch.manual_seed(seed)``; move it to the device, channels_last."""
    torch.manual_seed(int(seed))
    if isinstance(model, nn.Module):
        net = model
    else:
        validate_choice(model, tuple(MODELS), "model")
        takes_images = MODELS[model].inputs == "images"
        if data.is_image and not takes_images:
            raise ValueError(f"model {model!r} needs (N, D) float embeddings, got images")
        if not data.is_image and takes_images:
            embedding_nets = [name for name, spec in MODELS.items() if spec.inputs == "embeddings"]
            raise ValueError(f"(N, D) embeddings need model in {embedding_nets}, "
                             f"got model={model!r}")
        if not data.is_image:
            model_kwargs = {"in_features": data.x.shape[1], **model_kwargs}
        else:
            model_kwargs = {"in_channels": data.x.shape[1], **model_kwargs}
        net = build_model(model, data.num_classes, **model_kwargs)
        if getattr(net, "whiten", False):  # airbench's whitening stem, from the training images
            net.init_from_data(data.x)
    net = net.to(data.device)
    if data.is_image:
        net = net.to(memory_format=torch.channels_last)
    if _dist.current().active:  # BatchNorm over the global batch (see distributed)
        net = _dist.convert_batchnorm(net)
    return net


def batches(n: int, batch_size: int, generator: torch.Generator | None,
            device: torch.device, min_batch: int = 2) -> Iterator[torch.Tensor]:
    """Yield index tensors (on ``device``) covering a random permutation of range(n) (or
    range(n) in order when ``generator`` is None) in batches of ``batch_size``; a last
    batch of fewer than ``min_batch`` examples is dropped (default 2: BatchNorm needs two;
    a distributed run of P processes passes max(2, P), one example per process)."""
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    order = order.to(device)
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        if len(idx) >= min_batch or n == 1:
            yield idx


def num_batches(n: int, batch_size: int, min_batch: int = 2) -> int:
    """Number of batches :func:`batches` yields for ``n`` examples."""
    full, rest = divmod(n, batch_size)
    return full + (1 if rest >= min_batch or (n == 1) else 0)


# ------------------------------------------------------------------------------ augmentation
def _reflect(i: torch.Tensor, size: int) -> torch.Tensor:
    i = i.abs()
    return torch.where(i > size - 1, 2 * (size - 1) - i, i)


def augment(x: torch.Tensor, generator: torch.Generator, *, pad: int = 4,
            flip: bool = True, total: int | None = None, part: slice | None = None) -> torch.Tensor:
    """Random crop with reflect padding and random horizontal flip of a batch of images.

    Equivalent to padding each image by ``pad`` pixels on every side (reflect mode),
    cropping a random (H, W) window and flipping it left-right with probability 1/2, done
    as one gather on the device: output pixel (r, c) of image b reads input pixel
    ``(reflect(r + dy_b), reflect(c + dx_b))`` (c mirrored when flipped).

    Args:
        x: (B, C, H, W) tensor of any dtype (uint8 pixels here), on any device.
        generator: CPU generator the random shifts and flips are drawn from.
        pad: maximum shift in pixels (< H and < W).
        flip: whether to flip horizontally at random.
        total, part: a distributed run's share of a global batch: the shifts and flips are
            drawn for ``total`` images (the global batch, so the generator advances as in
            one process) and the rows ``part`` of them applied to ``x``, which holds those
            rows. Default: ``x`` is the whole batch.

    Returns:
        A new (B, C, H, W) tensor of the same dtype and device, channels_last.
    """
    b, _, h, w = x.shape
    drawn = b if total is None else int(total)
    shifts = torch.randint(-pad, pad + 1, (drawn, 2), generator=generator)
    flips = (torch.rand(drawn, generator=generator) < 0.5 if flip
             else torch.zeros(drawn, dtype=torch.bool))
    if total is not None:
        shifts, flips = shifts[part], flips[part]
    shifts, flips = shifts.to(x.device), flips.to(x.device)
    rows = _reflect(torch.arange(h, device=x.device)[None] + shifts[:, :1], h)
    cols_idx = torch.arange(w, device=x.device)[None].expand(b, w)
    cols_idx = torch.where(flips[:, None], w - 1 - cols_idx, cols_idx)
    cols = _reflect(cols_idx + shifts[:, 1:], w)
    bidx = torch.arange(b, device=x.device)[:, None, None]
    out = x[bidx, :, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2)


def batch_inputs(data: TrainData, idx: torch.Tensor, generator: torch.Generator | None,
                 augment_images: bool = True, part: slice | None = None) -> torch.Tensor:
    """The training inputs of the examples ``idx``: augmented images, or the embeddings.

    With ``part`` (a distributed run, :meth:`labelnoise.training.distributed.World.part`),
    only the rows ``idx[part]`` of the global batch ``idx``, augmented with their share of
    the augmentation drawn for the whole global batch (so every rank's generator advances
    alike and the rows match those of one process)."""
    if part is None or part == slice(None):
        x = data.x[idx]
        if data.is_image and augment_images and generator is not None:
            x = augment(x, generator)
        return x
    x = data.x[idx[part]]
    if data.is_image and augment_images and generator is not None:
        x = augment(x, generator, total=len(idx), part=part)
    return x


# ------------------------------------------------------------------------------ optimisation
def lr_multiplier(t: float, total: float, schedule: str = "onecycle", *,
                  warmup: float = 0.2, milestones: Sequence[float] = (),
                  gamma: float = 0.1, period: float = 10.0, floor: float = 0.05) -> float:
    """Learning-rate multiplier at time ``t`` (fractional epochs) of a ``total``-epoch run.

    * ``"onecycle"``: linear from 0.1 up to 1 over the first ``warmup`` fraction of
      training, then linearly down to 0 at the end (the triangular schedule of airbench);
    * ``"cosine"``: ``0.5 * (1 + cos(pi * t / total))`` (Loshchilov & Hutter 2017, no restarts);
    * ``"cosine-restarts"``: cosine from 1 down to ``floor`` over every ``period`` epochs,
      then restart (SGDR, Loshchilov & Hutter 2017; ELR's CIFAR setting is period 10,
      floor 0.001 / 0.02 = 0.05);
    * ``"step"``: ``gamma ** (number of milestones <= t)`` (milestones in epochs);
    * ``"constant"``: 1.
    """
    validate_choice(schedule, SCHEDULES, "schedule")
    if schedule == "cosine-restarts":
        phase = (t % period) / period
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * phase))
    frac = min(max(t / max(total, 1e-12), 0.0), 1.0)
    if schedule == "onecycle":
        if warmup > 0 and frac < warmup:
            return 0.1 + 0.9 * frac / warmup
        return max(0.0, (1 - frac) / (1 - warmup)) if warmup < 1 else 1.0
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * frac))
    if schedule == "step":
        return gamma ** sum(t >= m for m in milestones)
    return 1.0


#: the hyperparameters many methods share, by field name, and their one check each
#: (a value refused by its check raises a one-line ValueError naming the field)
COMMON_HYPERPARAMETERS = {
    "epochs": lambda v: check_int(v, "epochs", 1),
    # a last batch of one example is dropped (BatchNorm needs two), so 1 would train nothing
    "batch_size": lambda v: check_int(v, "batch_size", 2),
    "lr": lambda v: check_real(v, "lr", low=0, strict=True),
    "weight_decay": lambda v: check_real(v, "weight_decay", low=0),
    "momentum": lambda v: check_real(v, "momentum", low=0, high=1),
    "schedule": lambda v: validate_choice(v, SCHEDULES, "schedule"),
}


def check_hyperparameters(method, *, others: bool = True) -> None:
    """Check a method's hyperparameters (its dataclass fields) before any training: the
    shared ones of :data:`COMMON_HYPERPARAMETERS` (``epochs`` >= 1, ``batch_size`` >= 2,
    ``lr`` > 0, ``weight_decay`` >= 0, ``momentum`` in [0, 1), ``schedule`` one of
    :data:`SCHEDULES`) wherever the method has them, and (``others``) no other float field
    NaN or infinite (torch would train on without complaint and return a network of NaNs).
    :meth:`Method.__post_init__` checks the shared ones; a method checks its own other
    fields in its ``__post_init__``, after ``super().__post_init__()``, with its own
    ranges; :func:`run` calls this once more, with ``others``, before any training.

    Raises:
        ValueError: naming the first field refused and its value.
    """
    if not dataclasses.is_dataclass(method):
        return
    for f in dataclasses.fields(method):
        value = getattr(method, f.name, None)
        check = COMMON_HYPERPARAMETERS.get(f.name)
        if check is not None:
            check(value)
        elif others and isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{f.name} must be a finite number, got {value}")


def sgd(model: nn.Module, lr: float, weight_decay: float, momentum: float = 0.9,
        nesterov: bool = True) -> torch.optim.SGD:
    """SGD with (Nesterov) momentum over ``model``'s parameters."""
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum,
                           weight_decay=weight_decay, nesterov=nesterov and momentum > 0)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set the learning rate of every parameter group of ``optimizer``."""
    for group in optimizer.param_groups:
        group["lr"] = lr


def get_lr(optimizer: torch.optim.Optimizer) -> float:
    """The learning rate of ``optimizer``'s first parameter group (the last one set)."""
    return optimizer.param_groups[0]["lr"]


# ------------------------------------------------------------------------------ evaluation
@torch.no_grad()
def logits_of(model: nn.Module, x: torch.Tensor, *, batch_size: int = 1024,
              device: torch.device | None = None) -> torch.Tensor:
    """float32 logits (N, K) of ``model`` in eval mode on the inputs ``x`` (any device),
    computed in batches on ``device`` (default: the model's device). Restores the model's
    train/eval mode."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    try:
        for start in range(0, x.shape[0], batch_size):
            xb = x[start:start + batch_size].to(device, non_blocking=True)
            if xb.ndim == 4:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with autocast(device):
                out.append(model(xb).float())
    finally:
        model.train(was_training)
    return torch.cat(out)


def gathered_logits(model: nn.Module, x: torch.Tensor, world: _dist.World, *,
                    batch_size: int = 1024) -> torch.Tensor:
    """:func:`logits_of` for all of ``x`` (N, ...), each rank of a distributed run computing
    its share of the rows and all ranks gathering them (every rank gets the same (N, K));
    :func:`logits_of` itself when single-process."""
    if not world.active:
        return logits_of(model, x, batch_size=batch_size)
    own = logits_of(model, x[world.part(x.shape[0])], batch_size=batch_size)
    return world.gather(own, x.shape[0])


def cross_validated_noise(data: TrainData, model, *, model_kwargs: dict | None = None,
                          epochs: int, batch_size: int, lr: float, weight_decay: float,
                          momentum: float = 0.9, augment: bool = True, seed: int = 0,
                          who: str = "the noise estimate", remedy: str = ""):
    """Confident learning's noise estimate (:func:`labelnoise.count.estimate_noise`) from
    out-of-sample predicted probabilities of 2-fold cross-validation on the training data.

    The examples are split by ``StratifiedKFold(2, shuffle=True, random_state=seed)`` on
    the given labels; per fold a fresh network (``model``, a name built with the seed
    ``seed + 1000 + fold``, or a copy of a given module) is trained on the other half for
    ``epochs`` epochs with cross entropy, SGD (``lr``, ``weight_decay``, ``momentum``, no
    Nesterov, constant learning rate), batches of ``batch_size`` and the training
    augmentation, then predicts its held-out half (eval mode, no augmentation). The fold
    networks are discarded; their random streams are their own (the calling run's
    generator is not touched). Every process of a distributed
    run computes the same estimate (same seeds, no communication). Source of the estimate:
    Northcutt, Jiang & Chuang 2021, "Confident Learning", sections 2-3 (the calibrated
    confident joint); the cross-validation is ours, so that networks which fit their own
    half's noisy labels do not hide them.

    Args:
        data: the run's :class:`TrainData` (inputs on the device, int64 labels (N,)).
        model, model_kwargs: the network, as for :func:`make_model`.
        epochs, batch_size: training of each fold network (ints >= 1, >= 2).
        lr, weight_decay, momentum: its SGD settings (floats).
        augment: train on augmented images (embeddings are never augmented).
        seed: the split's ``random_state`` and the fold networks' seeds (int).
        who, remedy: the start and the end of an error message.

    Returns:
        :class:`labelnoise.count.NoiseEstimate` (``noise_rate`` float in [0, 1),
        ``noise_matrix`` float64 (K, K)).

    Raises:
        ValueError: a class with fewer than 2 examples, or the estimate impossible;
            the message starts with ``who`` and ends with ``remedy``.
    """
    from sklearn.model_selection import StratifiedKFold

    from labelnoise import count

    y = data.y.cpu().numpy()
    tail = f"; {remedy}" if remedy else ""
    if np.bincount(y, minlength=data.num_classes).min() < 2:
        raise ValueError(f"{who} needs at least 2 examples of every class (2-fold "
                         f"cross-validation){tail}")
    pred_probs = np.zeros((data.n, data.num_classes))
    splits = StratifiedKFold(2, shuffle=True, random_state=seed).split(y, y)
    for fold, (train_idx, test_idx) in enumerate(splits):
        # a module given as the model is copied (the run trains the module itself)
        given = copy.deepcopy(model) if isinstance(model, nn.Module) else model
        net = make_model(given, data, seed=seed + 1000 + fold, **(model_kwargs or {}))
        opt = sgd(net, lr, weight_decay, momentum, nesterov=False)
        gen = torch.Generator().manual_seed(seed + 1000 + fold)
        rows = torch.as_tensor(train_idx, device=data.device)
        net.train()
        for _ in range(epochs):
            for idx in batches(len(rows), batch_size, gen, data.device):
                idx = rows[idx]
                x = batch_inputs(data, idx, gen, augment)
                with autocast(data.device):
                    logits = net(x).float()
                loss = F.cross_entropy(logits, data.y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        held_out = torch.as_tensor(test_idx, device=data.x.device)
        logits = logits_of(net, data.x[held_out])
        pred_probs[test_idx] = F.softmax(logits, dim=1).double().cpu().numpy()
    try:
        return count.estimate_noise(y, pred_probs)
    except ValueError as exc:
        raise ValueError(f"{who}: cannot estimate the noise ({exc}){tail}") from None


def accuracy(model: nn.Module, x: torch.Tensor | None, y: torch.Tensor | None,
             batch_size: int = 1024, world: _dist.World = _dist.SINGLE
             ) -> float | None:
    """Top-1 accuracy (fraction in [0, 1]) of ``model`` on (x, y); None if x is None. In a
    distributed run (``world``) every rank predicts its share and the logits are gathered."""
    if x is None:
        return None
    pred = gathered_logits(model, x, world, batch_size=batch_size).argmax(1)
    return float((pred == y.to(pred.device)).float().mean())


def per_example_loss(model: nn.Module, data: TrainData, batch_size: int = 1024,
                     world: _dist.World = _dist.SINGLE) -> torch.Tensor:
    """Cross entropy (N,) of ``model`` (eval mode, no augmentation) against the given labels
    of every training example, float32 on the model's device. In a distributed run
    (``world``) every rank computes its share and all ranks gather the N losses."""
    logits = gathered_logits(model, data.x, world, batch_size=batch_size)
    return F.cross_entropy(logits, data.y.to(logits.device), reduction="none")


def predict_proba(model: nn.Module, images, *, batch_size: int = 512, device=None,
                  tta: bool = False) -> np.ndarray:
    """Softmax predictions of a trained model.

    Args:
        model: a network from :func:`labelnoise.models.build_model` (or any module taking
            raw-pixel (N, C, H, W) tensors or (N, D) floats and returning logits).
        images: uint8 (N, H, W, C) images or float (N, D) embeddings (numpy or torch).
        batch_size: examples per forward pass.
        device: where to compute (default: the model's device). The model is moved there.
        tta: average with the prediction on horizontally flipped images (images only).

    Returns:
        pred_probs: float32 ndarray (N, K), rows sum to 1.

    Raises:
        ValueError: bad ``images`` (see :func:`as_input_tensor`), ``tta`` with embeddings.
    """
    x = as_input_tensor(images, "images")
    if tta and x.ndim != 4:
        raise ValueError("tta=True needs images (N, H, W, C), got (N, D) embeddings")
    if device is not None:
        model = model.to(resolve_device(device))
    probs = F.softmax(logits_of(model, x, batch_size=batch_size), dim=1)
    if tta:
        probs = 0.5 * (probs + F.softmax(logits_of(model, x.flip(3), batch_size=batch_size), dim=1))
    probs = probs / probs.sum(dim=1, keepdim=True)
    return probs.cpu().numpy().astype(np.float32)


# ------------------------------------------------------------------------------ checkpoints
def rng_state(generator: torch.Generator, rng: np.random.Generator | None = None) -> dict:
    """The states of the data generator, torch's global RNG and an optional numpy Generator."""
    state = {"generator": generator.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if rng is not None:
        # plain JSON (ints and strings) so that the checkpoint loads with weights_only=True
        state["numpy"] = json.dumps(rng.bit_generator.state)
    return state


def set_rng_state(state: dict, generator: torch.Generator,
                  rng: np.random.Generator | None = None) -> None:
    """Restore what :func:`rng_state` saved."""
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if rng is not None and "numpy" in state:
        rng.bit_generator.state = json.loads(state["numpy"])


class Checkpointer:
    """Atomic per-epoch checkpoints in ``checkpoint_dir/checkpoint.pt`` and safe resume.

    Two files are written: ``checkpoint.json``, the manifest (format name and version, the
    run's config and a fingerprint of its training data), once at the first save; and
    ``checkpoint.pt`` after every epoch (weights, optimizer states, RNG states as plain
    tensors, ints and lists, the history). A resume reads the manifest first and refuses a
    folder this library did not write, another format version, other settings or other
    data; the checkpoint itself is read with ``torch.load(..., weights_only=True)``, which
    cannot run code, so even a crafted file only fails to load.

    Args:
        checkpoint_dir: folder (created at the first save), or None to disable
            checkpointing.
        resume: load the checkpoint in ``checkpoint_dir`` (see :meth:`load`).
        config: the run's settings (method, data size, hyperparameters; JSON-serialisable);
            a resume with different settings raises ``ValueError``.
        data: the run's :class:`TrainData`, whose fingerprint (shapes, a hash of the labels
            and of a strided sample of the inputs) a resume must match.
    """

    def __init__(self, checkpoint_dir, resume: bool, config: dict, data: TrainData | None = None):
        self.dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self.resume = bool(resume)
        # the config as JSON stores it (tuples become lists), so a reload compares equal
        self.config = json.loads(json.dumps(config, default=str))
        self.fingerprint = None if data is None else data_fingerprint(data)
        self._manifest_written = False
        if self.resume and self.dir is None:
            raise ValueError("resume=True needs a checkpoint_dir")

    @property
    def path(self) -> Path | None:
        return None if self.dir is None else self.dir / CHECKPOINT_NAME

    @property
    def manifest_path(self) -> Path | None:
        return None if self.dir is None else self.dir / MANIFEST_NAME

    def _manifest(self) -> dict:
        return {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
                "config": self.config, "data": self.fingerprint}

    def load(self) -> dict | None:
        """The saved state when resuming (None when not resuming).

        Raises:
            ValueError: resuming but no checkpoint exists; no manifest beside it (not written
                by labelnoise, or by a version before manifests); a malformed manifest, or
                one of another format version, other settings or other training data; a
                checkpoint that ``torch.load(weights_only=True)`` refuses (it holds code
                or is corrupt).
        """
        if not self.resume:
            return None
        if not self.path.exists():
            raise ValueError(f"resume=True but there is no checkpoint at {self.path}")
        if not self.manifest_path.is_file():
            raise ValueError(f"{self.path} has no {MANIFEST_NAME} beside it: it was not written "
                             "by this version of labelnoise, so it is not loaded")
        saved = read_json(self.manifest_path, "a valid manifest")
        if not isinstance(saved, dict) or saved.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{self.manifest_path} is not a labelnoise checkpoint manifest")
        if saved.get("version") != CHECKPOINT_VERSION:
            raise ValueError(f"{self.path} has checkpoint format version {saved.get('version')!r}; "
                             f"this labelnoise reads version {CHECKPOINT_VERSION}")
        if saved.get("config") != self.config:
            old = saved.get("config") if isinstance(saved.get("config"), dict) else {}
            diff = {k: (old.get(k), v) for k, v in self.config.items() if old.get(k) != v}
            raise ValueError(f"the checkpoint at {self.path} was written with other settings "
                             f"(saved, now): {diff}")
        if self.fingerprint is not None and saved.get("data") != self.fingerprint:
            raise ValueError(f"the checkpoint at {self.path} was written for other training "
                             "data (labels or inputs differ); use a new folder")
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as exc:  # UnpicklingError (code refused), corrupt or truncated file
            lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
            why = next((ln for ln in lines if "Unsupported" in ln or "Unpickler" in ln),
                       lines[0] if lines else type(exc).__name__)
            raise ValueError(f"{self.path} cannot be loaded safely ({why[:300]}); "
                             "it was not resumed") from None
        if not isinstance(state, dict) or state.get("config") != self.config:
            raise ValueError(f"{self.path} does not match its manifest; it was not resumed")
        return _unpack(state)

    def save(self, state: dict) -> None:
        """Write ``state`` (plus the config) atomically, and the manifest at the first save."""
        if self.dir is None:
            return
        from labelnoise import _io

        self.dir.mkdir(parents=True, exist_ok=True)
        if not self._manifest_written:
            _io.write_json(self.manifest_path, self._manifest())
            self._manifest_written = True
        with _io.atomic_write(self.path) as fh:
            torch.save(_pack({**state, "config": self.config}), fh)


_NDARRAY = "__labelnoise_ndarray__"


def _pack(obj):
    """``obj`` with numpy arrays as tagged tensors and numpy scalars as Python numbers, so
    that ``torch.load(weights_only=True)`` can read it back."""
    if isinstance(obj, np.ndarray):
        return {_NDARRAY: torch.from_numpy(np.ascontiguousarray(obj))}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {k: _pack(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_pack(v) for v in obj)
    return obj


def _unpack(obj):
    """The inverse of :func:`_pack`."""
    if isinstance(obj, dict):
        if len(obj) == 1 and _NDARRAY in obj:
            return obj[_NDARRAY].numpy()
        return {k: _unpack(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_unpack(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_unpack(v) for v in obj)
    return obj


def data_fingerprint(data: TrainData) -> dict:
    """Shapes and SHA-1 hashes identifying a training set: all labels, and up to 1,000
    evenly spaced examples of the inputs (cheap for 50,000 images)."""
    step = max(1, data.n // 1000)
    sample = data.x[::step].detach().to("cpu").contiguous()
    return {
        "n": int(data.n),
        "input_shape": list(data.x.shape[1:]),
        "num_classes": int(data.num_classes),
        "labels_sha1": hashlib.sha1(data.y.detach().to("cpu").numpy().tobytes()).hexdigest(),
        "inputs_sha1": hashlib.sha1(sample.numpy().tobytes()).hexdigest(),
    }


def optimizer_to(optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    """Move an optimizer's state tensors to ``device`` (after loading a CPU checkpoint)."""
    for st in optimizer.state.values():
        for k, v in st.items():
            if isinstance(v, torch.Tensor):
                st[k] = v.to(device)


# ------------------------------------------------------------------------------ progress
def epoch_bar(start: int, epochs: int, *, desc: str, progress: bool):
    """A tqdm progress bar over epochs ``start..epochs-1`` (disabled when not ``progress``)."""
    from tqdm.auto import tqdm

    return tqdm(range(start, epochs), initial=start, total=epochs, desc=desc, unit="epoch",
                disable=not progress, leave=True, dynamic_ncols=True)


def show(bar, record: dict) -> None:
    """Put the epoch's loss and test accuracy on the progress bar."""
    post = {"loss": f"{record['train_loss']:.4f}"}
    if record.get("test_acc") is not None:
        post["test_acc"] = f"{record['test_acc']:.4f}"
    bar.set_postfix(post)


class Stopwatch:
    """Seconds since creation, synchronising CUDA first so GPU work is counted."""

    def __init__(self, device: torch.device):
        self.device = device
        self._sync()
        self.t0 = time.perf_counter()

    def _sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def seconds(self) -> float:
        self._sync()
        return time.perf_counter() - self.t0


# ------------------------------------------------------------------------------ the loop
#: at most this many training examples (an evenly strided subset) are predicted after every
#: epoch for the memorisation diagnostic (:class:`Memorisation`)
MEMORISATION_SAMPLE = 2000


@torch.no_grad()
def ema_update(ema: nn.Module, net: nn.Module, decay: float) -> None:
    """``ema <- decay * ema + (1 - decay) * net`` for the parameters only, as Mean Teacher's
    code (Tarvainen & Valpola 2017, ``update_ema_variables``); used by RDCR's teacher and
    ELR+'s weight averages. The averaged network's buffers (BatchNorm running statistics)
    stay its own: its train-mode forward passes update them. Copying the student's
    statistics instead pairs them with weights that lag the student's by the average's
    time constant; once that constant is long (RDCR's 0.999 after the ramp-up), the
    averaged network's eval-mode outputs can fall apart (seen in an unrecorded high-noise
    image run of RDCR, whose teacher fell to chance while its student did not: the stop-43
    note)."""
    for pe, p in zip(ema.parameters(), net.parameters(), strict=True):
        pe.mul_(decay).add_(p.detach(), alpha=1 - decay)


def given_is_clean(true_labels, data: TrainData) -> np.ndarray | None:
    """bool (N,): whether each training example's given label equals its clean label in
    ``true_labels`` (int (N,), for diagnostics only, never trained on); None when
    ``true_labels`` is None.

    Raises:
        ValueError: ``true_labels`` not valid labels of the data's classes, or not N of them.
    """
    if true_labels is None:
        return None
    truth = validate_labels(true_labels, num_classes=data.num_classes, name="true_labels")
    if len(truth) != data.n:
        raise ValueError(f"true_labels has {len(truth)} entries but the training set has "
                         f"{data.n}")
    return truth == data.y.cpu().numpy()


class Memorisation:
    """The per-epoch memorisation diagnostic (Arpit et al. 2017; Liu et al. 2020, Figure 1).

    Given the clean labels of the training set (never used for training), after every epoch
    the network that predicts (``method.result()[0]``) classifies, in eval mode, without
    augmentation and without gradients, an evenly strided subset of at most
    :data:`MEMORISATION_SAMPLE` training examples (every ``ceil(N / 2000)``-th), and the
    history records:

    * ``memorised``: the fraction of the wrongly labelled examples of the subset (given label
      != clean label) that the network predicts as their given, wrong label (None when the
      subset holds no wrong label);
    * ``corrected``: the fraction of them it predicts as their clean label;
    * ``train_acc_given``: its accuracy on the given (noisy) labels of the subset;
    * ``train_acc_clean``: its accuracy on the clean labels of the subset.

    It draws no random numbers and restores the train/eval mode of every submodule, so the
    training (and its resume) stays bit for bit that of a run without it.
    """

    def __init__(self, true_labels, data: TrainData,
                 world: _dist.World = _dist.SINGLE):
        self.world = world
        truth = validate_labels(true_labels, num_classes=data.num_classes, name="true_labels")
        if len(truth) != data.n:
            raise ValueError(f"true_labels has {len(truth)} entries but the training set has "
                             f"{data.n}")
        step = max(1, math.ceil(data.n / MEMORISATION_SAMPLE))
        self.index = torch.arange(0, data.n, step, device=data.device)
        self.given = data.y[self.index]
        self.clean = torch.from_numpy(np.ascontiguousarray(truth)).to(data.device)[self.index]
        self.wrong = self.given != self.clean
        self.data = data

    @torch.no_grad()
    def __call__(self, net: nn.Module) -> dict:
        modes = [(m, m.training) for m in net.modules()]
        try:
            pred = gathered_logits(net, self.data.x[self.index], self.world).argmax(1)
        finally:
            for m, training in modes:
                m.training = training
        given, clean, wrong = (t.to(pred.device) for t in (self.given, self.clean, self.wrong))
        n_wrong = int(wrong.sum())
        return {
            "memorised": (float((pred[wrong] == given[wrong]).float().mean()) if n_wrong
                          else None),
            "corrected": (float((pred[wrong] == clean[wrong]).float().mean()) if n_wrong
                          else None),
            "train_acc_given": float((pred == given).float().mean()),
            "train_acc_clean": float((pred == clean).float().mean()),
        }


def not_in_config(default=None, *, fingerprint: bool = False):
    """A :class:`Method` dataclass field holding an input of the run that is not a setting
    (true labels for diagnostics, candidate sets): left out of the checkpoint's config.

    With ``fingerprint=True`` (training inputs that replace the labels, such as candidate
    sets) the config holds ``<name>_sha1``, a SHA-1 of the array's bytes, shape and dtype
    instead, so a resume with other candidate sets is refused like one with other labels.
    """
    return field(default=default, repr=False, compare=False,
                 metadata={"config": False, "fingerprint": fingerprint})


def _array_sha1(value) -> str | None:
    """SHA-1 of a tensor's or array's shape, dtype and bytes (None for None)."""
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        value = value.detach().to("cpu").numpy()
    arr = np.ascontiguousarray(value)
    h = hashlib.sha1(f"{arr.shape}{arr.dtype.str}".encode())
    h.update(arr.tobytes())
    return h.hexdigest()


def _state_of(obj):
    """What a checkpoint stores for ``obj``: the state dict of a network, loss module or
    optimizer (elementwise for lists), anything else (tensors, ints, lists of arrays) as is."""
    if isinstance(obj, (nn.Module, torch.optim.Optimizer)):
        return obj.state_dict()
    if isinstance(obj, (list, tuple)):
        return [_state_of(o) for o in obj]
    return obj


def _load_into(obj, saved, device: torch.device):
    """Load ``saved`` (from :func:`_state_of`) into ``obj`` in place where ``obj`` is a
    network, optimizer (state moved to ``device``), tensor, or a list of those; return the
    object to keep (``saved`` itself for plain values)."""
    if isinstance(obj, nn.Module):
        obj.load_state_dict(saved)
        return obj
    if isinstance(obj, torch.optim.Optimizer):
        obj.load_state_dict(saved)
        optimizer_to(obj, device)
        return obj
    if isinstance(obj, torch.Tensor):
        return obj.copy_(saved)
    if (isinstance(obj, (list, tuple)) and obj and len(obj) == len(saved)
            and all(isinstance(o, (nn.Module, torch.optim.Optimizer, torch.Tensor)) for o in obj)):
        return type(obj)(_load_into(o, s, device) for o, s in zip(obj, saved))
    return saved


class Method:
    """A training method: its networks and state, and one epoch of its algorithm.

    Subclasses are dataclasses whose fields are the method's hyperparameters: they form the
    run's config, which the checkpoint's manifest records and a resume must match (fields
    made with :func:`not_in_config` are left out). The fields must include ``epochs`` and
    ``seed``. :func:`run` calls, in order:

    1. ``setup(data)``: build the networks (:func:`make_model`, seeded), optimizers and
       state. Before it, the engine sets ``self.data`` (the :class:`TrainData`),
       ``self.generator`` (a ``torch.Generator`` seeded with ``seed``: data order,
       augmentations, permutations) and ``self.rng`` (a ``numpy.random.Generator`` seeded
       with ``seed``: mixup coefficients);
    2. on resume, :meth:`load_state_dict` with the checkpoint;
    3. for every epoch, ``train_epoch(epoch)`` (0-based), which returns the epoch's record:
       ``train_loss`` and ``lr`` (floats) and any method-specific entries; the engine adds
       ``epoch`` (1-based), the clean test accuracy of every network of :meth:`evaluated`
       and ``seconds``;
    4. :meth:`result`: the network to predict with and every network trained.

    Class attributes:
        name: the method's tag in the checkpoint config and on the progress bar.
        checkpointed: checkpoint key -> name of the attribute the checkpoint saves there and
            a resume restores: a network, loss module, optimizer or a list of them (saved as
            state dicts, loaded in place), a tensor (restored in place) or a plain value (an
            int, lists of arrays; replaced).
    """

    name: ClassVar[str] = "method"
    checkpointed: ClassVar[dict[str, str]] = {}
    #: whether ``train_epoch`` supports distributed data-parallel training (see
    #: :mod:`labelnoise.training.distributed`); :func:`run` refuses the others under DDP
    distributed: ClassVar[bool] = False
    data: TrainData
    generator: torch.Generator
    rng: np.random.Generator
    #: the processes of the run (set by :func:`run`; ``distributed.SINGLE`` in one process)
    world: _dist.World = _dist.SINGLE

    def __post_init__(self):
        """Check the hyperparameters (:func:`check_hyperparameters`); a subclass with
        fields of its own to check calls this first."""
        check_hyperparameters(self, others=False)

    # ---- what a method supplies
    def setup(self, data: TrainData) -> None:
        """Build networks, optimizers and state for ``data`` (see the class docstring)."""
        raise NotImplementedError

    def train_epoch(self, epoch: int) -> dict:
        """Train one epoch (0-based ``epoch``); return ``train_loss``, ``lr`` and extras."""
        raise NotImplementedError

    def result(self) -> tuple[nn.Module, tuple[nn.Module, ...]]:
        """(the network to predict with, every network trained); default ``self.net``."""
        return self.net, (self.net,)

    def evaluated(self) -> dict[str, nn.Module]:
        """History key -> network whose clean test accuracy is recorded after every epoch;
        default ``{"test_acc": result()[0]}``."""
        return {"test_acc": self.result()[0]}

    @property
    def label(self) -> str:
        """The progress bar's description."""
        return self.name

    # ---- shared by every method
    def config(self, data: TrainData) -> dict:
        """The run's settings: ``method`` (the name), every config field, ``n`` and
        ``num_classes`` of ``data`` (JSON-serialisable; non-JSON values become strings)."""
        cfg = {"method": self.name}
        cfg.update((f.name, getattr(self, f.name)) for f in dataclasses.fields(self)
                   if f.metadata.get("config", True))
        cfg.update((f"{f.name}_sha1", _array_sha1(getattr(self, f.name)))
                   for f in dataclasses.fields(self) if f.metadata.get("fingerprint", False))
        cfg.update(n=data.n, num_classes=data.num_classes)
        return cfg

    def state_dict(self) -> dict:
        """The method's checkpointed state: ``{key: state}`` for every entry of
        ``checkpointed``."""
        return {key: _state_of(getattr(self, attr)) for key, attr in self.checkpointed.items()}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` saved (optimizer state goes to the data's device)."""
        for key, attr in self.checkpointed.items():
            setattr(self, attr, _load_into(getattr(self, attr), state[key], self.data.device))

    def lr_at(self, t: float) -> float:
        """The learning rate at ``t`` fractional epochs: ``lr`` times the multiplier of the
        ``schedule`` field (see :func:`lr_multiplier`); methods with another schedule
        override it."""
        return self.lr * lr_multiplier(t, self.epochs, self.schedule)

    def batches(self, n: int, batch_size: int, epoch: int, optimizers: Sequence,
                steps: int | None = None) -> Iterator[tuple[int, torch.Tensor]]:
        """One epoch's mini-batches: yields ``(step, idx)``, ``idx`` the index tensor (on the
        device) of a batch of a random permutation of range(n) drawn from ``self.generator``
        (see :func:`batches`), after setting the learning rate of every optimizer of
        ``optimizers`` to ``lr_at(epoch + step / steps)`` (``steps`` defaults to the number of
        batches). ``idx`` is the global batch: in a distributed run every rank gets the same
        one and trains on its share, ``self.world.part(len(idx))``; a last batch smaller
        than the number of processes is dropped."""
        least = max(2, self.world.size)
        steps = num_batches(n, batch_size, least) if steps is None else steps
        for step, idx in enumerate(batches(n, batch_size, self.generator, self.data.device,
                                           least)):
            lr = self.lr_at(epoch + step / steps)
            for opt in optimizers:
                set_lr(opt, lr)
            yield step, idx

    def parallel(self, net: nn.Module) -> nn.Module:
        """The module to call for a training forward pass of ``net`` (one followed by a
        backward pass): ``net`` in one process, its ``DistributedDataParallel`` wrapper
        (made once per run) in a distributed run, whose backward pass all-reduces the
        gradients. Forward passes without gradients call ``net`` itself."""
        if not self.world.active:
            return net
        wrappers = self.__dict__.setdefault("_ddp", {})
        if id(net) not in wrappers:
            wrappers[id(net)] = (net, self.world.wrap(net))
        return wrappers[id(net)][1]


def _modules_of(method: Method) -> list[nn.Module]:
    """Every network the method holds (attributes, and lists of them)."""
    found = []
    for value in vars(method).values():
        for v in (value if isinstance(value, (list, tuple)) else (value,)):
            if isinstance(v, nn.Module) and all(v is not f for f in found):
                found.append(v)
    return found


def run_on_labels(method: Method, images, labels, *, num_classes=None, test_images=None,
                  test_labels=None, device=None, checkpoint_dir=None, resume: bool = False,
                  progress: bool = True, on_epoch=None) -> FitResult:
    """:func:`prepare_data` then :func:`run`: the body of every noisy-label method's ``fit``
    (arguments and errors as those two functions')."""
    data = prepare_data(images, labels, num_classes=num_classes, test_images=test_images,
                        test_labels=test_labels, device=device)
    return run(method, data, checkpoint_dir=checkpoint_dir, resume=resume, progress=progress,
               on_epoch=on_epoch)


def run(method: Method, data: TrainData, *, checkpoint_dir=None, resume: bool = False,
        progress: bool = True, on_epoch=None) -> FitResult:
    """Train ``method`` on ``data`` for ``method.epochs`` epochs: the one epoch loop.

    Sets up the method (see :class:`Method`), resumes from ``checkpoint_dir`` if asked, then
    per epoch: the method's ``train_epoch``; the clean test accuracy of each network of
    ``method.evaluated()`` (None without a test set); the record appended to the history
    and shown on the progress bar; a checkpoint (networks, optimizers, method state, RNG
    states, epoch, history; atomic, see :class:`Checkpointer`); ``on_epoch(history)``.
    When the method has a ``true_labels`` attribute that is not None (the clean labels of
    the training set, a :func:`not_in_config` field: diagnostics only), each record also holds
    the memorisation diagnostic of :class:`Memorisation` (``memorised``, ``corrected``,
    ``train_acc_given``, ``train_acc_clean``), computed without RNG draws or mode changes.

    Args:
        method: a :class:`Method` with its hyperparameters set.
        data: the training (and test) set from :func:`prepare_data`.
        checkpoint_dir: write ``checkpoint.pt`` and its manifest there after every epoch
            (None: no checkpoints).
        resume: continue from the checkpoint in ``checkpoint_dir``; the result is bit for bit
            that of an uninterrupted run on CPU.
        progress: show a tqdm progress bar over epochs (rank 0 only when distributed).
        on_epoch: optional callable, called with the history (list of per-epoch dicts)
            after every epoch's checkpoint (e.g. to write metrics as they come); on rank 0
            only when distributed.

    Returns:
        :class:`FitResult`: the method's model and every network it trained, in eval mode,
        and the history (one dict per epoch: ``epoch``, ``train_loss``, the test
        accuracies, the method's entries, ``seconds``).

    Raises:
        ValueError: resume without a checkpoint, or with one written with other settings,
            for other data, by another format version, or that cannot be loaded safely (see
            :meth:`Checkpointer.load`); whatever the method's ``setup`` raises; a method
            without distributed support (``Method.distributed``) in a distributed run.

    Distributed (inside a process group of P > 1 processes, see
    :mod:`labelnoise.training.distributed`; every rank calls ``run``): the method trains
    with DDP on its share of every global batch, BatchNorm over the global batch; the
    evaluations are computed on shares and gathered, so every rank gets the same records;
    rank 0 alone writes the checkpoint, shows progress and calls ``on_epoch``; on resume
    every rank reads the same checkpoint. The networks returned have their own BatchNorm
    layers back and are the same on every rank.
    """
    check_hyperparameters(method)
    world = _dist.current()
    if world.active and not method.distributed:
        from labelnoise.training import METHODS

        ddp = ", ".join(n for n, e in METHODS.items() if e.distributed)
        raise ValueError(f"method {method.name!r} does not train distributed (yet); with more "
                         f"than one process use one of: {ddp}")
    method.world = world
    method.data = data
    method.generator = seeded_generator(method.seed)
    method.rng = np.random.default_rng(method.seed)
    method.__dict__.pop("_ddp", None)
    try:
        method.setup(data)
        truth = getattr(method, "true_labels", None)
        diagnose = Memorisation(truth, data, world) if truth is not None else None
        ckpt = Checkpointer(checkpoint_dir, resume, method.config(data), data)
        state = ckpt.load()
        start, history = 0, []
        if state is not None:
            method.load_state_dict(state)
            set_rng_state(state["rng"], method.generator, method.rng)
            start, history = state["epoch"], state["history"]
        world.same_everywhere(start, "the epoch to resume from")

        bar = epoch_bar(start, method.epochs, desc=method.label,
                        progress=progress and world.is_main)
        for epoch in bar:
            clock = Stopwatch(data.device)
            out = method.train_epoch(epoch)
            record = {"epoch": epoch + 1, "train_loss": out.pop("train_loss")}
            for key, net in method.evaluated().items():
                record[key] = accuracy(net, data.x_test, data.y_test, world=world)
            record.update(out)
            if diagnose is not None:
                record.update(diagnose(method.result()[0]))
            record["seconds"] = clock.seconds()
            history.append(record)
            show(bar, record)
            if world.is_main:
                ckpt.save({**method.state_dict(), "rng": rng_state(method.generator, method.rng),
                           "epoch": epoch + 1, "history": history})
                if on_epoch is not None:
                    on_epoch(history)
        bar.close()
    finally:
        if world.active:  # drop the DDP wrappers, give the networks their BatchNorm back
            method.__dict__.pop("_ddp", None)
            for net in _modules_of(method):
                _dist.revert_batchnorm(net)
    model, models = method.result()
    for net in (model, *models):
        net.eval()
    return FitResult(model=model, history=history, models=tuple(models))
