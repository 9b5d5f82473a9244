"""Thumbnails of example images for the report's grid, as base64 PNG strings."""

from __future__ import annotations

import base64
import io

import numpy as np


def thumbnail_base64(image, *, size: int = 96) -> str:
    """A base64 PNG of one image scaled to ``size`` pixels on its longer side.

    Args:
        image: uint8 array (H, W, C) or (H, W), a float array in [0, 255], a PIL image,
            or a path to an image file.
        size: output size in pixels of the longer side; small images (CIFAR's 32x32) are
            enlarged with nearest-neighbour so their pixels stay sharp.

    Raises:
        ValueError: an array that is not (H, W) or (H, W, 1|3|4).
    """
    from PIL import Image

    from labelnoise.datasets.folders import rgb8

    if isinstance(image, Image.Image):
        img = rgb8(image)
    elif isinstance(image, (str, bytes)) or hasattr(image, "__fspath__"):
        with Image.open(image) as f:
            img = rgb8(f)
    else:
        arr = np.asarray(image)
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[..., 0]
        if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
            raise ValueError(f"image must have shape (H, W) or (H, W, 1|3|4), got {arr.shape}")
        if arr.dtype != np.uint8:
            arr = np.clip(arr, 0, 255).astype(np.uint8)
        img = Image.fromarray(arr)
    w, h = img.size
    scale = size / max(w, h)
    resample = Image.NEAREST if scale >= 2 else Image.BICUBIC
    img = img.convert("RGB").resize((max(1, round(w * scale)), max(1, round(h * scale))), resample)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode("ascii")
