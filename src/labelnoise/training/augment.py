"""Strong image augmentation on whole batches of tensors: RandAugment, Cutout and random erasing.

Our own implementation (no torchvision, no PIL, no code copied from either), for batches
of small (CIFAR-sized) images as the training engine makes them: every function takes a
(B, C, H, W) tensor of raw pixels, C in {1, 3}, either **uint8** (what
:func:`labelnoise.training.engine.batch_inputs` returns for images, after its crop + flip)
or **float on the 0-255 scale** (what the models' ``Normalize`` layer also accepts), on any
device, and returns a new tensor of the same shape, dtype and device (channels_last). The
pixel range is therefore known: ops compute in float32 on [0, 255] and clamp there, as
PIL's do; with uint8 input the result of every op is rounded to integers (as PIL images
are), with float input nothing is rounded. All randomness comes from the CPU
``torch.Generator`` passed in, drawn in a fixed amount per call that depends only on the
batch size and the settings (never on the pixels), so the engine's bit-exact resume
(which saves and restores that generator) holds.

* :func:`rand_augment`: RandAugment (Cubuk, Zoph, Shlens & Le, "RandAugment: Practical
  automated data augmentation with a reduced search space", NeurIPS 2020): every image gets
  ``num_ops`` operations drawn uniformly (with replacement) from the paper's 14 (identity,
  auto-contrast, equalize, rotate, solarize, color, posterize, contrast, brightness,
  sharpness, shear-x, shear-y, translate-x, translate-y), all at one global ``magnitude`` M
  on the paper's scale 0-10 (10: the maximum of each op), or, with
  ``random_magnitude=True``, each at a magnitude drawn uniformly from [0, M] (the variant of
  FixMatch, Sohn et al. 2020, and of the official ILL code, whose RandAugment draws every
  op's value uniformly over its whole range). Vectorised: per op slot the images are grouped
  by op (the five geometric ops share one ``grid_sample``); no Python loop per image.
* :func:`cutout`: Cutout (DeVries & Taylor 2017, "Improved regularization of convolutional
  neural networks with Cutout"): a square of side ``size`` (or a side drawn per image),
  centred on a uniformly drawn pixel, clipped at the border, set to ``fill``.
* :func:`random_erasing`: random erasing (Zhong, Zheng, Kang, Li & Yang, "Random erasing
  data augmentation", AAAI 2020): with probability ``p`` a rectangle of random area and
  aspect ratio, inside the image, set to ``fill``.

Magnitudes (M on the 0-10 scale, s = M / 10; the maxima are those of the official
FixMatch / ILL RandAugment for CIFAR: rotate 30 degrees, shear 0.3, translate 0.3 of the
side; enhancement factors 1 +- 0.9 and posterize 8 -> 4 bits as in the paper's code):

=============  ================================================  =========================
op             value at magnitude M (s = M / 10)                 identity at
=============  ================================================  =========================
identity       -                                                 always
auto_contrast  each channel stretched to [0, 255] (no magnitude)  -
equalize       each channel's histogram equalised (no magnitude)  -
rotate         +- 30 s degrees about the centre                  M = 0
solarize       pixels >= 256 (1 - s) become 255 - pixel          M = 0
color          saturation factor 1 +- 0.9 s (blend with gray)    M = 0
posterize      keep 8 - round(4 s) bits                          M = 0
contrast       factor 1 +- 0.9 s (blend with the mean gray)      M = 0
brightness     factor 1 +- 0.9 s (blend with black)              M = 0
sharpness      factor 1 +- 0.9 s (blend with a 3x3 smoothing)    M = 0
shear_x/y      +- 0.3 s about the centre                         M = 0
translate_x/y  +- 0.3 s of the width / height, in pixels         M = 0
=============  ================================================  =========================

The sign (+-) is drawn per image and op slot with probability 1/2, as in the paper's code.
Geometric ops sample with nearest neighbour (as PIL's default and torchvision's) and fill
the uncovered area with ``fill`` (default 0, black, as both).

What differs from torchvision's ``RandAugment`` (from its documentation and the paper):
the magnitude is on the paper's 0-10 scale (torchvision's indexes ``num_magnitude_bins`` =
31 bins, 0-30, over the maxima, so its default 9 is about our 3); translations reach 0.3 of
the side (FixMatch / ILL) rather than about 0.45 (150 / 331); shears and rotations are about
the image centre (PIL's shear, which torchvision's follows, is about the top-left corner);
solarize at M = 0 uses threshold 256 and is an exact identity; color, contrast and
sharpness blend in float32 without PIL's intermediate uint8 gray image; it works on a batch
with one op draw per image (torchvision draws one per call, so per image only when called
per image); ``random_magnitude`` (FixMatch) is an option. The official FixMatch / ILL
RandAugment also differs from the paper: its enhancement ops only reduce (factors in [0.05,
0.95]) and it always ends with a Cutout of random side in [0, W / 2]; the latter is
:func:`cutout` with ``size=(0, W // 2)`` here.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch
from torch.nn import functional as F

#: the paper's 14 operations, in a fixed order (the index a draw picks)
OPS = ("identity", "auto_contrast", "equalize", "rotate", "solarize", "color", "posterize",
       "contrast", "brightness", "sharpness", "shear_x", "shear_y", "translate_x", "translate_y")
#: the geometric ops (one batched ``grid_sample`` per op slot)
AFFINE_OPS = ("rotate", "shear_x", "shear_y", "translate_x", "translate_y")
#: the top of the magnitude scale (the paper's: 10 is each op's maximum)
MAX_MAGNITUDE = 10.0
#: op values at the maximum magnitude
MAX_ROTATE = 30.0  # degrees
MAX_SHEAR = 0.3  # horizontal (vertical) shift per pixel of vertical (horizontal) offset
MAX_TRANSLATE = 0.3  # fraction of the width / height
MAX_ENHANCE = 0.9  # factors 1 - 0.9 ... 1 + 0.9
MAX_POSTERIZE_DROP = 4  # bits dropped: 8 -> 4
#: the luma weights of the gray image (ITU-R 601-2, as PIL's "L" conversion)
_LUMA = (0.299, 0.587, 0.114)


# ------------------------------------------------------------------------------ checks
def _check_images(x: torch.Tensor, name: str = "x") -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(f"{name} must be a (B, C, H, W) tensor, got "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    if x.shape[1] not in (1, 3):
        raise ValueError(f"{name} must have 1 or 3 channels, got shape {tuple(x.shape)}")
    if x.dtype != torch.uint8 and not x.is_floating_point():
        raise ValueError(f"{name} must be uint8 or float pixels on the 0-255 scale, got {x.dtype}")


def _fill_tensor(fill, channels: int, device) -> torch.Tensor:
    """``fill`` (a number or one per channel) as a float32 (1, C, 1, 1) tensor."""
    f = torch.as_tensor(fill, dtype=torch.float32).flatten()
    if f.numel() == 1:
        f = f.expand(channels)
    if f.numel() != channels:
        raise ValueError(f"fill must be one number or one per channel ({channels}), got {fill!r}")
    return f.to(device).view(1, channels, 1, 1)


def _as_input_dtype(out: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    out = out.clamp(0.0, 255.0)
    if like.dtype == torch.uint8:
        out = out.round().to(torch.uint8)
    elif out.dtype != like.dtype:
        out = out.to(like.dtype)
    return out.contiguous(memory_format=torch.channels_last)


def _per_image(value, n: int, device) -> torch.Tensor:
    """A number or (n,) tensor as a float32 (n, 1, 1, 1) tensor on ``device``."""
    v = torch.as_tensor(value, dtype=torch.float32).to(device)
    return v.expand(n).reshape(n, 1, 1, 1) if v.ndim == 0 else v.reshape(n, 1, 1, 1)


# ------------------------------------------------------------------------------ the ops
# Each op: float32 (n, C, H, W) on [0, 255] in, float32 out (clamped by the caller), the
# parameters a number or one per image.

def gray(x: torch.Tensor) -> torch.Tensor:
    """The gray image (n, 1, H, W): ``0.299 R + 0.587 G + 0.114 B`` (one channel: itself)."""
    if x.shape[1] == 1:
        return x
    w = torch.tensor(_LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(dim=1, keepdim=True)


def blend(degenerate: torch.Tensor, x: torch.Tensor, factor) -> torch.Tensor:
    """``factor * x + (1 - factor) * degenerate`` (PIL's ``ImageEnhance``): factor 1 is
    ``x`` exactly, 0 the degenerate image, > 1 extrapolates away from it."""
    f = _per_image(factor, x.shape[0], x.device)
    return x * f + degenerate * (1.0 - f)


def brightness(x: torch.Tensor, factor) -> torch.Tensor:
    """Blend with black: ``factor * x``."""
    return x * _per_image(factor, x.shape[0], x.device)


def color(x: torch.Tensor, factor) -> torch.Tensor:
    """Saturation: blend with the image's gray version (one channel: unchanged)."""
    return blend(gray(x), x, factor)


def contrast(x: torch.Tensor, factor) -> torch.Tensor:
    """Blend with a constant image at the mean of the gray image."""
    return blend(gray(x).mean(dim=(1, 2, 3), keepdim=True), x, factor)


def sharpness(x: torch.Tensor, factor) -> torch.Tensor:
    """Blend with the image smoothed by the 3x3 kernel ``[[1, 1, 1], [1, 5, 1], [1, 1,
    1]] / 13`` (PIL's SMOOTH filter) on the interior, the border pixels kept: factor < 1
    blurs, > 1 sharpens."""
    n, c, h, w = x.shape
    if h < 3 or w < 3:
        return x.clone()
    k = torch.ones(3, 3, dtype=x.dtype, device=x.device)
    k[1, 1] = 5.0
    k = (k / 13.0).view(1, 1, 3, 3)
    smooth = F.conv2d(x.reshape(n * c, 1, h, w), k).view(n, c, h - 2, w - 2)
    degenerate = x.clone()
    degenerate[:, :, 1:-1, 1:-1] = smooth
    return blend(degenerate, x, factor)


def solarize(x: torch.Tensor, threshold) -> torch.Tensor:
    """Invert (``255 - p``) every pixel ``p >= threshold`` (256: nothing, 0: everything)."""
    t = _per_image(threshold, x.shape[0], x.device)
    return torch.where(x >= t, 255.0 - x, x)


def posterize(x: torch.Tensor, bits) -> torch.Tensor:
    """Keep the top ``bits`` (0-8, an int or one per image) of every 8-bit value:
    ``floor(p / 2^(8 - bits)) * 2^(8 - bits)``; 8 bits leave the image unchanged (also float
    pixels that are not integers)."""
    b = _per_image(bits, x.shape[0], x.device).round()
    step = torch.pow(2.0, 8.0 - b)
    return torch.where(b >= 8, x, torch.floor(x / step) * step)


def auto_contrast(x: torch.Tensor) -> torch.Tensor:
    """Stretch every channel of every image linearly so its minimum becomes 0 and its
    maximum 255 (a constant channel is left unchanged)."""
    lo = x.amin(dim=(2, 3), keepdim=True)
    hi = x.amax(dim=(2, 3), keepdim=True)
    span = hi - lo
    stretched = (x - lo) * (255.0 / span.clamp(min=1e-12))
    return torch.where(span > 0, stretched, x)


def equalize(x: torch.Tensor) -> torch.Tensor:
    """Histogram equalisation of every channel of every image (PIL's algorithm: 256 bins of
    the rounded pixels; ``step = (pixels - count of the highest occupied value) // 255``;
    value v maps to ``min(255, (step // 2 + pixels below v) // step)``; a channel with
    ``step`` 0 is left unchanged). One batched histogram, no loop."""
    n, c, h, w = x.shape
    v = x.round().clamp(0, 255).long().reshape(n * c, h * w)
    hist = torch.zeros(n * c, 256, dtype=torch.long, device=x.device)
    hist.scatter_add_(1, v, torch.ones_like(v))
    levels = torch.arange(256, device=x.device)
    last = torch.where(hist > 0, levels, -1).amax(dim=1, keepdim=True)  # highest value present
    step = (h * w - hist.gather(1, last)) // 255  # (n*c, 1)
    below = hist.cumsum(1) - hist  # pixels strictly below each value
    lut = ((step // 2 + below) // step.clamp(min=1)).clamp(max=255)
    out = lut.gather(1, v).to(x.dtype)
    out = torch.where(step > 0, out, x.reshape(n * c, h * w))
    return out.view(n, c, h, w)


def affine(x: torch.Tensor, matrix: torch.Tensor, offset: torch.Tensor, fill=0.0) -> torch.Tensor:
    """Resample every image through an affine map about its centre, nearest neighbour.

    Output pixel ``p`` (column, row, measured from the image centre ``((W - 1) / 2, (H - 1)
    / 2)``, in pixels) takes the input pixel nearest to ``matrix @ p + offset``; pixels that
    map outside the image get ``fill``. So ``offset = (-t, 0)`` moves the content ``t``
    pixels right, ``matrix = [[cos a, -sin a], [sin a, cos a]]`` rotates it by ``a``
    counter-clockwise (as displayed, rows downwards).

    Args:
        x: float (n, C, H, W).
        matrix: (n, 2, 2) float, the inverse map's linear part (pixel units).
        offset: (n, 2) float, its offset in pixels (x, y).
        fill: a number or one per channel.
    """
    n, c, h, w = x.shape
    matrix = matrix.to(device=x.device, dtype=torch.float32)
    offset = offset.to(device=x.device, dtype=torch.float32)
    # pixel units -> affine_grid's [-1, 1] units (align_corners=False): scale 2/W, 2/H
    theta = torch.empty(n, 2, 3, dtype=torch.float32, device=x.device)
    theta[:, 0, 0] = matrix[:, 0, 0]
    theta[:, 0, 1] = matrix[:, 0, 1] * (h / w)
    theta[:, 1, 0] = matrix[:, 1, 0] * (w / h)
    theta[:, 1, 1] = matrix[:, 1, 1]
    theta[:, 0, 2] = offset[:, 0] * (2.0 / w)
    theta[:, 1, 2] = offset[:, 1] * (2.0 / h)
    grid = F.affine_grid(theta, [n, c, h, w], align_corners=False)
    f = _fill_tensor(fill, c, x.device)
    # outside the image grid_sample reads 0: shifting by the fill makes that the fill
    out = F.grid_sample(x - f, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    return out + f


def _affine_params(kinds: torch.Tensor, s: torch.Tensor, sign: torch.Tensor, h: int,
                   w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The inverse maps of the geometric ops: ``kinds`` (n,) indices into AFFINE_OPS,
    strengths ``s`` (n,) in [0, 1], signs (n,) +-1."""
    n = kinds.shape[0]
    matrix = torch.eye(2).repeat(n, 1, 1)
    offset = torch.zeros(n, 2)
    angle = torch.deg2rad(sign * MAX_ROTATE * s)
    rot = kinds == AFFINE_OPS.index("rotate")
    cos, sin = torch.cos(angle), torch.sin(angle)
    matrix[:, 0, 0] = torch.where(rot, cos, matrix[:, 0, 0])
    matrix[:, 1, 1] = torch.where(rot, cos, matrix[:, 1, 1])
    matrix[:, 0, 1] = torch.where(rot, -sin, matrix[:, 0, 1])
    matrix[:, 1, 0] = torch.where(rot, sin, matrix[:, 1, 0])
    shear = sign * MAX_SHEAR * s
    matrix[:, 0, 1] = torch.where(kinds == AFFINE_OPS.index("shear_x"), shear, matrix[:, 0, 1])
    matrix[:, 1, 0] = torch.where(kinds == AFFINE_OPS.index("shear_y"), shear, matrix[:, 1, 0])
    shift = sign * MAX_TRANSLATE * s
    offset[:, 0] = torch.where(kinds == AFFINE_OPS.index("translate_x"), -shift * w, 0.0)
    offset[:, 1] = torch.where(kinds == AFFINE_OPS.index("translate_y"), -shift * h, 0.0)
    return matrix, offset


def _apply_op(name: str, x: torch.Tensor, s: torch.Tensor, sign: torch.Tensor) -> torch.Tensor:
    """The photometric op ``name`` at strengths ``s`` (n,) in [0, 1] with signs (n,) +-1."""
    if name == "identity":
        return x
    if name == "auto_contrast":
        return auto_contrast(x)
    if name == "equalize":
        return equalize(x)
    if name == "solarize":
        return solarize(x, 256.0 * (1.0 - s))
    if name == "posterize":
        return posterize(x, 8.0 - torch.round(MAX_POSTERIZE_DROP * s))
    factor = 1.0 + sign * MAX_ENHANCE * s
    return {"color": color, "contrast": contrast, "brightness": brightness,
            "sharpness": sharpness}[name](x, factor)


# ------------------------------------------------------------------------------ RandAugment
def rand_augment(x: torch.Tensor, generator: torch.Generator, *, num_ops: int = 2,
                 magnitude: float = 10.0, random_magnitude: bool = False,
                 ops: Sequence[str] = OPS, fill=0.0) -> torch.Tensor:
    """RandAugment (Cubuk et al. 2020) of a batch of images, one op draw per image.

    For each of ``num_ops`` slots, every image gets an op drawn uniformly from ``ops`` and a
    sign drawn with probability 1/2, and the ops are applied in slot order. The draws are
    made up front from ``generator`` (``3 * num_ops * B`` numbers: op indices, strengths,
    signs; the strengths are drawn, and ignored, also without ``random_magnitude``), so the
    generator advances the same for every batch of the same size.

    Args:
        x: (B, C, H, W), C in {1, 3}: uint8 pixels or floats on the 0-255 scale (see the
            module docstring), any device.
        generator: CPU generator every random choice is drawn from.
        num_ops: N, the number of ops per image (>= 0; 0 returns a copy).
        magnitude: M in [0, 10] on the paper's scale (10: each op's maximum, see the table
            in the module docstring); 0 makes every op an identity except auto_contrast and
            equalize, which have no magnitude.
        random_magnitude: draw each op's magnitude uniformly from [0, M] per image and slot
            (FixMatch's variant; the official ILL code draws over the whole range, i.e. M =
            10) instead of using M itself.
        ops: the op names to draw from (default all 14 of :data:`OPS`).
        fill: the value (a number, or one per channel, 0-255 scale) of the area a
            geometric op uncovers.

    Returns:
        (B, C, H, W) of the dtype and device of ``x``, values in [0, 255] (uint8: rounded),
        channels_last.

    Raises:
        ValueError: bad shape or dtype, ``num_ops`` < 0, ``magnitude`` outside [0, 10],
            unknown or repeated op names, no ops, a bad ``fill``.
    """
    _check_images(x)
    if isinstance(num_ops, bool) or not isinstance(num_ops, int) or num_ops < 0:
        raise ValueError(f"num_ops must be an int >= 0, got {num_ops!r}")
    if not 0.0 <= float(magnitude) <= MAX_MAGNITUDE:
        raise ValueError(f"magnitude must be in [0, {MAX_MAGNITUDE:g}], got {magnitude!r}")
    ops = tuple(ops)
    unknown = [o for o in ops if o not in OPS]
    if not ops or unknown or len(set(ops)) != len(ops):
        raise ValueError(f"ops must be distinct names from {list(OPS)}, got {list(ops)!r}")
    fill_t = _fill_tensor(fill, x.shape[1], "cpu")  # checks fill early
    b, _, h, w = x.shape
    choice = torch.randint(len(ops), (num_ops, b), generator=generator)
    strength = torch.rand(num_ops, b, generator=generator)
    sign = torch.where(torch.rand(num_ops, b, generator=generator) < 0.5, -1.0, 1.0)
    scale = float(magnitude) / MAX_MAGNITUDE
    strength = strength * scale if random_magnitude else torch.full_like(strength, scale)

    out = x.float().contiguous()  # a copy; NCHW: the per-image reductions run faster
    if out.data_ptr() == x.data_ptr():
        out = out.clone()
    quantise = x.dtype == torch.uint8
    affine_of = torch.tensor([AFFINE_OPS.index(o) if o in AFFINE_OPS else -1 for o in ops])
    for slot in range(num_ops):
        picked = choice[slot]
        s, sg = strength[slot], sign[slot]
        kinds = affine_of[picked]
        geo = (kinds >= 0).nonzero().squeeze(1)
        changed = []
        if len(geo):
            matrix, offset = _affine_params(kinds[geo], s[geo], sg[geo], h, w)
            rows = geo.to(x.device)
            out[rows] = affine(out[rows], matrix, offset, fill_t)
            changed.append(rows)
        for k in picked.unique().tolist():
            name = ops[k]
            if name in AFFINE_OPS or name == "identity":
                continue
            sel = (picked == k).nonzero().squeeze(1)
            rows = sel.to(x.device)
            out[rows] = _apply_op(name, out[rows], s[sel].to(x.device), sg[sel].to(x.device))
            changed.append(rows)
        if changed:
            rows = torch.cat(changed)
            step = out[rows].clamp_(0.0, 255.0)
            out[rows] = step.round_() if quantise else step
    return _as_input_dtype(out, x)


# ------------------------------------------------------------------------------ occlusion
def _box_mask(top: torch.Tensor, left: torch.Tensor, height: torch.Tensor, width: torch.Tensor,
              h: int, w: int, device) -> torch.Tensor:
    """bool (B, 1, H, W): rows [top, top + height) x columns [left, left + width) (clipped)."""
    r = torch.arange(h, device=device).view(1, h, 1)
    c = torch.arange(w, device=device).view(1, 1, w)
    top, left = top.to(device).view(-1, 1, 1), left.to(device).view(-1, 1, 1)
    height, width = height.to(device).view(-1, 1, 1), width.to(device).view(-1, 1, 1)
    inside = (r >= top) & (r < top + height) & (c >= left) & (c < left + width)
    return inside.unsqueeze(1)


def cutout(x: torch.Tensor, generator: torch.Generator, size, *, fill=0.0) -> torch.Tensor:
    """Cutout (DeVries & Taylor 2017) of a batch: one square per image set to ``fill``.

    The square's centre is a pixel drawn uniformly from the whole image, so near the border
    the square is clipped (the paper's choice: part of the patch may lie outside). A square
    of even side ``k`` centred at pixel (r, c) covers rows ``r - k // 2`` to ``r - k // 2 +
    k - 1`` (likewise columns). Draws ``3 * B`` integers (side, row, column) from
    ``generator`` whatever ``size`` is.

    Args:
        x: (B, C, H, W) uint8 pixels or 0-255 floats, any device.
        generator: CPU generator of the draws.
        size: the side in pixels (int >= 0), or ``(lo, hi)``: a side drawn per image
            uniformly from the integers lo..hi (the official FixMatch / ILL RandAugment ends
            with a Cutout of side up to half the image: ``(0, W // 2)``).
        fill: the value (a number or one per channel, 0-255 scale); DeVries & Taylor zero the
            normalised image, i.e. fill with the mean pixel.

    Returns:
        A new tensor like ``x`` (channels_last).

    Raises:
        ValueError: bad images, a negative or reversed size, a bad fill.
    """
    _check_images(x)
    lo, hi = (size, size) if isinstance(size, numbers.Integral) else tuple(size)
    if (not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in (lo, hi))
            or lo < 0 or hi < lo):
        raise ValueError(f"size must be an int >= 0 or (lo, hi) ints with 0 <= lo <= hi, "
                         f"got {size!r}")
    b, c, h, w = x.shape
    side = torch.randint(int(lo), int(hi) + 1, (b,), generator=generator)
    row = torch.randint(0, h, (b,), generator=generator)
    col = torch.randint(0, w, (b,), generator=generator)
    mask = _box_mask(row - side // 2, col - side // 2, side, side, h, w, x.device)
    f = _fill_tensor(fill, c, x.device)
    out = torch.where(mask, f, x.float())
    return _as_input_dtype(out, x)


def random_erasing(x: torch.Tensor, generator: torch.Generator, *, p: float = 0.5,
                   scale: tuple[float, float] = (0.02, 0.33),
                   ratio: tuple[float, float] = (0.3, 3.3), fill=0.0,
                   attempts: int = 10) -> torch.Tensor:
    """Random erasing (Zhong et al. 2020) of a batch: each image, with probability ``p``, gets
    one rectangle set to ``fill``.

    The rectangle's area is a fraction of the image drawn uniformly from ``scale``, its
    aspect ratio (height / width) log-uniformly from ``ratio``; its side lengths are rounded;
    it must lie inside the image: of ``attempts`` candidates drawn per image the first that
    fits is taken (the paper redraws until one fits; torchvision tries 10 times), and an
    image with none is left unchanged. Its top-left corner is uniform over the positions
    that keep it inside. The draws (``B * (1 + 4 * attempts)`` numbers) do not depend on
    the pixels. Defaults: torchvision's ``RandomErasing`` (the official ILL code uses it
    with its defaults, value 0 on normalised images, i.e. the mean pixel); the paper's area
    range is (0.02, 0.4). The paper also fills with random values; not offered here.

    Args:
        x: (B, C, H, W) uint8 pixels or 0-255 floats, any device.
        generator: CPU generator of the draws.
        p: probability that an image is erased, in [0, 1].
        scale: (min, max) area fraction, 0 < min <= max <= 1.
        ratio: (min, max) aspect ratio, 0 < min <= max.
        fill: a number or one per channel (0-255 scale).
        attempts: candidate rectangles per image (>= 1).

    Returns:
        A new tensor like ``x`` (channels_last).
    """
    _check_images(x)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p!r}")
    if not 0.0 < scale[0] <= scale[1] <= 1.0:
        raise ValueError(f"scale must be (min, max) with 0 < min <= max <= 1, got {scale!r}")
    if not 0.0 < ratio[0] <= ratio[1]:
        raise ValueError(f"ratio must be (min, max) with 0 < min <= max, got {ratio!r}")
    if attempts < 1:
        raise ValueError(f"attempts must be >= 1, got {attempts!r}")
    b, c, h, w = x.shape
    erase = torch.rand(b, generator=generator) < p
    u = torch.rand(4, attempts, b, generator=generator)
    area = h * w * (scale[0] + (scale[1] - scale[0]) * u[0])
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    aspect = torch.exp(log_lo + (log_hi - log_lo) * u[1])
    eh = torch.sqrt(area * aspect).round().long()
    ew = torch.sqrt(area / aspect).round().long()
    fits = (eh >= 1) & (ew >= 1) & (eh <= h) & (ew <= w)  # (attempts, B)
    first = torch.where(fits.any(0), fits.long().argmax(0), 0)
    pick = first.view(1, b)
    eh, ew = eh.gather(0, pick)[0], ew.gather(0, pick)[0]
    top = (u[2].gather(0, pick)[0] * (h - eh + 1).clamp(min=1)).floor().long()
    left = (u[3].gather(0, pick)[0] * (w - ew + 1).clamp(min=1)).floor().long()
    erase &= fits.any(0)
    eh, ew = torch.where(erase, eh, 0), torch.where(erase, ew, 0)
    mask = _box_mask(top, left, eh, ew, h, w, x.device)
    f = _fill_tensor(fill, c, x.device)
    out = torch.where(mask, f, x.float())
    return _as_input_dtype(out, x)
