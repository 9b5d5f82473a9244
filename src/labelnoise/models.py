"""Backbones for training on noisy labels: CIFAR conv nets and an MLP head for embeddings.

Every image network built here takes a batch of images as an (N, C, H, W) tensor of raw
pixel values (uint8, or floats on the same 0-255 scale) and normalises them itself with a
fixed per-channel mean and standard deviation (CIFAR-10's by default). A trained model
therefore needs nothing but the images to predict, and uint8 data can stay on the device
until the first layer. The networks return unnormalised logits of shape (N, K).

Names (the keys of :data:`MODELS`, the one registry that :func:`build_model`, the engine and
``labelnoise train --model`` read):

* ``"airbench"``: the network of Keller Jordan's airbench94 (2024), 1.97 M parameters:
  a 2x2 stem convolution, three conv-pool-BN-GELU groups of widths 64/256/256, global max
  pooling and a bias-free linear head scaled by 1/9. The fixed patch-whitening stem of the
  original is replaced by a learned 2x2 convolution, so the net needs no data to build.
* ``"preact-resnet18"``: PreAct ResNet-18 (He et al. 2016, "Identity Mappings in Deep
  Residual Networks"), 11.2 M parameters, the backbone of DivideMix and ELR on CIFAR.
* ``"resnet20"`` / ``"resnet8"``: the CIFAR ResNets of He et al. 2016 ("Deep Residual
  Learning", section 4.2: 6n+2 layers, widths 16/32/64; n = 3 and n = 1), 0.27 M and
  78 k parameters, with 1x1 convolution shortcuts where the shape changes.
* ``"mlp"``: a multilayer perceptron for precomputed embeddings (N, D) float; needs
  ``in_features``.

Every network ends in one linear layer (:func:`final_linear`); its input, the penultimate
layer, is what :func:`capture_penultimate` records (the audit's features for its data-issue
checks, :mod:`labelnoise.crossval`).
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from labelnoise._validation import validate_choice

#: Per-channel pixel mean and standard deviation of the CIFAR-10 training set (0-1 scale).
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


class Normalize(nn.Module):
    """Map raw pixels (uint8 or floats on the 0-255 scale), shape (N, C, H, W), to
    ``(x / 255 - mean) / std`` in the dtype of the following layers (float32, or the
    autocast dtype)."""

    def __init__(self, mean=CIFAR10_MEAN, std=CIFAR10_STD):
        super().__init__()
        mean = torch.as_tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        std = torch.as_tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        # folded into one affine map: x * scale + shift
        self.register_buffer("scale", 1.0 / (255.0 * std))
        self.register_buffer("shift", -mean / std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.float() * self.scale + self.shift


def _init_weights(model: nn.Module) -> None:
    """He (Kaiming) normal initialisation of every convolution, fan-out mode (He et al.
    2015), as the ResNet papers and the DivideMix/ELR code do; run at the end of the ResNets'
    constructors (airbench keeps PyTorch's default initialisation)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")


# ---------------------------------------------------------------- airbench94-style net
class _ConvGroup(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out, momentum=0.4)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out, momentum=0.4)

    def forward(self, x):
        x = F.gelu(self.bn1(F.max_pool2d(self.conv1(x), 2)))
        return F.gelu(self.bn2(self.conv2(x)))


#: images read by :meth:`AirbenchNet.init_from_data` (airbench94 whitens on 5,000)
WHITEN_IMAGES = 5000


@torch.no_grad()
def patch_whitening_filters(x: torch.Tensor, kernel_size: int, eps: float = 5e-4) -> torch.Tensor:
    """Convolution filters that whiten the ``kernel_size`` x ``kernel_size`` patches of ``x``.

    PCA whitening of the patches (every patch at stride 1): the eigenvectors of their
    second-moment matrix, largest eigenvalue first, each divided by sqrt(eigenvalue + eps),
    so that the convolution's output channels are uncorrelated with unit variance over the
    patches. The first layer of airbench94 (Jordan 2024, "94% on CIFAR-10 in 3.29 seconds on
    a single GPU", section 3.2, after Coates & Ng 2011's whitened patches).

    Args:
        x: float (N, C, H, W) normalised images (H, W >= ``kernel_size``).
        kernel_size: the patch side.
        eps: added to each eigenvalue (> 0; keeps near-constant directions finite).

    Returns:
        float32 (C * kernel_size**2, C, kernel_size, kernel_size).
    """
    c = x.shape[1]
    p = x.float().unfold(2, kernel_size, 1).unfold(3, kernel_size, 1)  # N C H' W' k k
    p = p.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * kernel_size * kernel_size).double()
    evals, evecs = torch.linalg.eigh(p.T @ p / p.shape[0])  # ascending
    filters = (evecs.T / torch.sqrt(evals.clamp_min(0) + eps)[:, None]).flip(0)
    return filters.reshape(-1, c, kernel_size, kernel_size).float()


class AirbenchNet(nn.Module):
    """airbench94-style CIFAR network (Jordan 2024): stem, 3 conv groups, max pool, linear/9.

    ``whiten=True``: airbench94's first layer, a frozen patch-whitening stem. The stem then
    has 2 x C x 4 channels (24 for RGB), whose weights :meth:`init_from_data` sets to the
    filters of :func:`patch_whitening_filters` and their negatives and freezes (the bias
    still trains); the training engine calls it with the first :data:`WHITEN_IMAGES`
    training images when it builds the network by name. Without it (default) the stem is a
    learned 2x2 convolution of 24 channels, so the net needs no data to build.
    """

    def __init__(self, num_classes: int, *, widths=(64, 256, 256), in_channels: int = 3,
                 mean=CIFAR10_MEAN, std=CIFAR10_STD, whiten: bool = False):
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.whiten = bool(whiten)
        stem = 2 * in_channels * 4 if self.whiten else 24
        self.stem = nn.Conv2d(in_channels, stem, kernel_size=2, bias=True)
        self.groups = nn.Sequential(
            _ConvGroup(stem, widths[0]), _ConvGroup(widths[0], widths[1]),
            _ConvGroup(widths[1], widths[2]),
        )
        self.head = nn.Linear(widths[2], num_classes, bias=False)
        self.scale = 1 / 9

    @torch.no_grad()
    def init_from_data(self, images: torch.Tensor) -> None:
        """Set the stem's weights to the whitening filters of ``images`` (uint8 or 0-255
        float (N, C, H, W) on any device; the first :data:`WHITEN_IMAGES` are read, and only
        they are copied to the stem's device) and their negatives, and freeze them. Only
        with ``whiten=True`` (ValueError otherwise)."""
        if not self.whiten:
            raise ValueError("init_from_data needs AirbenchNet(whiten=True)")
        x = self.normalize(images[:WHITEN_IMAGES].to(self.stem.weight.device))
        f = patch_whitening_filters(x, self.stem.kernel_size[0])
        self.stem.weight.copy_(torch.cat([f, -f]))
        self.stem.weight.requires_grad_(False)

    def forward(self, x):
        x = F.gelu(self.stem(self.normalize(x)))
        x = self.groups(x)
        x = torch.amax(x, dim=(2, 3))
        return self.head(x) * self.scale


# ---------------------------------------------------------------- PreAct ResNet-18
class _PreActBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.shortcut = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)

    def forward(self, x):
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class PreActResNet18(nn.Module):
    """PreAct ResNet-18 for 32x32 images (He et al. 2016, identity mappings); 11.2 M params."""

    def __init__(self, num_classes: int, *, in_channels: int = 3, mean=CIFAR10_MEAN,
                 std=CIFAR10_STD):
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.conv1 = nn.Conv2d(in_channels, 64, 3, padding=1, bias=False)
        layers, c_in = [], 64
        for c_out, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers += [_PreActBlock(c_in, c_out, stride), _PreActBlock(c_out, c_out, 1)]
            c_in = c_out
        self.layers = nn.Sequential(*layers)
        self.bn = nn.BatchNorm2d(512)
        self.linear = nn.Linear(512, num_classes)
        _init_weights(self)

    def forward(self, x):
        out = self.layers(self.conv1(self.normalize(x)))
        out = F.relu(self.bn(out))
        return self.linear(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


# ---------------------------------------------------------------- CIFAR ResNet-(6n+2)
class _BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """CIFAR ResNet with 6n+2 layers (He et al. 2016, section 4.2): n=1 ResNet-8, n=3 ResNet-20."""

    def __init__(self, num_classes: int, *, n: int, widths=(16, 32, 64), in_channels: int = 3,
                 mean=CIFAR10_MEAN, std=CIFAR10_STD):
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.conv = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(widths[0])
        blocks, c_in = [], widths[0]
        for stage, c_out in enumerate(widths):
            for i in range(n):
                blocks.append(_BasicBlock(c_in, c_out, 2 if (stage > 0 and i == 0) else 1))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.linear = nn.Linear(c_in, num_classes)
        _init_weights(self)

    def forward(self, x):
        out = F.relu(self.bn(self.conv(self.normalize(x))))
        out = self.blocks(out)
        return self.linear(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


# ---------------------------------------------------------------- MLP head
class MLP(nn.Module):
    """Multilayer perceptron on (N, in_features) float embeddings: [Linear-BN-ReLU] x L, Linear."""

    def __init__(self, in_features: int, num_classes: int, *, hidden=(512, 512)):
        super().__init__()
        layers, d = [], int(in_features)
        for h in hidden:
            layers += [nn.Linear(d, h, bias=False), nn.BatchNorm1d(h), nn.ReLU()]
            d = h
        layers.append(nn.Linear(d, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x.float())


# ---------------------------------------------------------------- the registry
class ModelSpec(NamedTuple):
    """One entry of :data:`MODELS`.

    Attributes:
        build: ``build(num_classes=K, **options) -> nn.Module``, a network class or a
            ``functools.partial`` of one; its parameters without a default (other than
            ``num_classes``) are required options of :func:`build_model`.
        inputs: ``"images"`` (raw pixels (N, C, H, W), uint8 or 0-255 floats) or
            ``"embeddings"`` (float (N, D)).
    """

    build: Callable[..., nn.Module]
    inputs: str = "images"


#: name -> network: the one list of backbones (``build_model``, the training engine and the
#: ``--model`` choices of ``labelnoise train`` read it). Adding a network: its class above
#: and one line here.
MODELS: dict[str, ModelSpec] = {
    "airbench": ModelSpec(AirbenchNet),
    "preact-resnet18": ModelSpec(PreActResNet18),
    "resnet20": ModelSpec(partial(CifarResNet, n=3)),
    "resnet8": ModelSpec(partial(CifarResNet, n=1)),
    "mlp": ModelSpec(MLP, inputs="embeddings"),
}
MODEL_NAMES = tuple(MODELS)
#: the networks that take images (the ``--model`` choices of ``labelnoise train``)
IMAGE_MODELS = tuple(name for name, spec in MODELS.items() if spec.inputs == "images")


def build_model(name: str, num_classes: int, **kwargs) -> nn.Module:
    """Build a freshly initialised backbone (uses torch's global RNG; seed it for repeatability).

    Args:
        name: a key of :data:`MODELS`: ``"airbench"``, ``"preact-resnet18"``, ``"resnet20"``,
            ``"resnet8"``, ``"mlp"`` (see the module docstring for each architecture and its
            source).
        num_classes: K, the number of output logits (>= 2).
        **kwargs: passed to the network: ``mean``/``std`` (per-channel, 0-1 scale, image
            nets), ``in_channels`` (image nets, default 3), ``in_features`` (required for
            ``"mlp"``), ``hidden`` (``"mlp"``, default (512, 512)), ``widths``.

    Returns:
        A ``torch.nn.Module`` in training mode. Image nets take (N, C, H, W) raw pixels
        (uint8 or 0-255 floats) and return (N, K) logits; the MLP takes (N, D) floats.

    Raises:
        ValueError: unknown ``name``, ``num_classes`` < 2, or a required option missing
            (``"mlp"`` without ``in_features``).
    """
    spec = MODELS[validate_choice(name, MODEL_NAMES, "name")]
    if int(num_classes) != num_classes or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    missing = [p.name for p in inspect.signature(spec.build).parameters.values()
               if p.default is p.empty and p.name != "num_classes" and p.name not in kwargs
               and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if missing:
        raise ValueError(f"build_model({name!r}, ...) needs {', '.join(missing)}")
    return spec.build(num_classes=int(num_classes), **kwargs)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def final_linear(model: nn.Module) -> nn.Linear:
    """The network's output layer: the last ``nn.Linear`` registered in ``model`` (the
    ``head`` of airbench, the ``linear`` of the ResNets, the last layer of the MLP).

    Raises:
        ValueError: ``model`` has no ``nn.Linear`` layer.
    """
    last = None
    for module in model.modules():
        if isinstance(module, nn.Linear):
            last = module
    if last is None:
        raise ValueError(f"{type(model).__name__} has no nn.Linear layer, so it has no "
                         "penultimate-layer features")
    return last


@contextlib.contextmanager
def capture_penultimate(model: nn.Module):
    """Collect the penultimate-layer features of every forward pass run inside the block.

    A forward pre-hook on :func:`final_linear` records the input of the output layer
    (for every network of :data:`MODELS` the pooled features, (batch, D) with D = 64 for
    ``resnet8``/``resnet20``, 256 for ``airbench``, 512 for ``preact-resnet18`` and the MLP's
    last hidden width), detached, as float32 on the CPU. The network's outputs are not
    changed. The hook is removed on leaving the block, also on an exception.

    Yields:
        a list that receives one float32 tensor (batch, D) per forward pass, in call order
        (``torch.cat`` it).

    Example::

        with capture_penultimate(model) as feats:
            probs = predict_proba(model, images)
        features = torch.cat(feats)[: len(images)].numpy()
    """
    captured: list[torch.Tensor] = []

    def hook(_module, args):
        captured.append(args[0].detach().float().flatten(1).cpu())

    handle = final_linear(model).register_forward_pre_hook(hook)
    try:
        yield captured
    finally:
        handle.remove()


__all__ = ["MODELS", "MODEL_NAMES", "IMAGE_MODELS", "ModelSpec", "build_model", "count_parameters",
           "final_linear", "capture_penultimate",
           "Normalize", "CIFAR10_MEAN", "CIFAR10_STD",
           *dict.fromkeys(getattr(s.build, "func", s.build).__name__ for s in MODELS.values())]
