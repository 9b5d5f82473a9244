"""Image folders: ``root/<class name>/**/<image>`` (the layout of torchvision's
``ImageFolder``), read lazily with Pillow."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from labelnoise.datasets.container import LabeledDataset

#: File name suffixes (lower case) read as images.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")


def _decode_errors() -> tuple:
    """What Pillow raises for a file it cannot decode (a bad header, a truncated stream, a
    decompression bomb), imported on first use."""
    from PIL import Image

    return (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


def rgb8(im):
    """A Pillow image as 8-bit RGB. 16-bit grey images (``I;16*``: PNG, TIFF) are scaled by
    1/257 (65535 -> 255) first, 32-bit integer and float grey images (``I``, ``F``) from
    their own minimum and maximum to 0-255: Pillow's own conversion clips them at 255, so a
    16-bit scan came out almost white."""
    from PIL import Image

    if im.mode.startswith("I;16"):
        arr = np.asarray(im, dtype=np.float64) / 257.0
    elif im.mode in ("I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
        arr = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
    else:
        return im.convert("RGB")
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "L").convert("RGB")


class ImageFolderSequence(Sequence):
    """A lazy sequence of images: ``seq[i]`` opens ``seq.paths[i]`` with Pillow and returns
    a uint8 array (H, W, 3) (RGB, upright by the file's EXIF orientation, 16-bit grey
    scaled: :func:`rgb8`); a slice gives another lazy sequence. Nothing is decoded
    until indexed; a file that cannot be decoded raises
    :class:`labelnoise._io.InputFileError` naming it (``load_image_folder(...,
    skip_unreadable=True)`` leaves such files out beforehand)."""

    def __init__(self, paths: Sequence[Path]):
        self.paths = list(paths)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ImageFolderSequence(self.paths[index])
        return self._read(index, None)

    def read_resized(self, index: int, size: int) -> np.ndarray:
        """Image ``index`` as uint8 (size, size, 3) RGB, resized with bicubic interpolation.

        A JPEG is decoded at a reduced scale first (Pillow's ``Image.draft``: the decoder's
        DCT scaling, to the smallest power-of-two reduction at least twice ``size`` on each
        side), which reads a large photo faster than decoding it whole and changes the
        resized pixels by at most a few levels (tests/test_datasets.py); other formats are
        decoded whole.

        Raises:
            labelnoise._io.InputFileError: the file cannot be decoded (naming it).
        """
        return self._read(index, size)

    def _read(self, index: int, size: int | None) -> np.ndarray:
        """Decode image ``index``: turned upright by its EXIF orientation (a phone photo
        taken sideways is stored sideways with a tag saying so), as 8-bit RGB
        (:func:`rgb8`), resized to ``size`` x ``size`` unless ``size`` is None."""
        from PIL import Image, ImageOps

        from labelnoise._io import InputFileError

        path = self.paths[index]
        try:
            with Image.open(path) as im:
                if size is not None:
                    im.draft("RGB", (2 * size, 2 * size))
                rgb = rgb8(ImageOps.exif_transpose(im))
                if size is not None:
                    rgb = rgb.resize((size, size), Image.BICUBIC)
                return np.asarray(rgb)
        except _decode_errors() as exc:
            raise InputFileError(
                f"image {path}: cannot be read ({exc}); remove it, or leave every unreadable "
                "file out with --skip-unreadable (load_image_folder(skip_unreadable=True))"
            ) from None

    def __repr__(self) -> str:
        return f"ImageFolderSequence({len(self)} images)"


def unreadable_reason(path: Path) -> str | None:
    """Why ``path`` cannot be decoded as an image (Pillow's message), or None if it can.

    The whole file is decoded (``Image.load``), as reading it for training would, so a
    truncated file is caught, not only a bad header (a JPEG at a reduced scale, as
    :meth:`ImageFolderSequence.read_resized` reads it: its whole data stream is still read)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.draft("RGB", (64, 64))
            im.load()
    except _decode_errors() as exc:
        return str(exc) or type(exc).__name__
    return None


def skip_unreadable_refused(why: str) -> ValueError:
    """The one error for ``skip_unreadable`` (``--skip-unreadable``) where it cannot apply;
    ``why`` ends the sentence (e.g. "'t.csv' is not an image folder")."""
    return ValueError(f"skip_unreadable (--skip-unreadable) leaves unreadable image files out "
                      f"of an image folder; {why}")


def image_files(folder: Path, root: Path | None = None) -> list[Path]:
    """The image files below ``folder`` (recursively; suffix in :data:`IMAGE_SUFFIXES`),
    sorted by path, none in a hidden file or folder (a part of the path relative to
    ``root``, default ``folder``, starting with a dot)."""
    root = folder if root is None else root
    return sorted(
        p for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def class_folders(root: Path) -> list[str]:
    """The class names of an image folder: its subfolders, sorted, hidden ones (a leading
    dot) left out."""
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def load_image_folder(path: str | os.PathLike, *, skip_unreadable: bool = False,
                      progress: bool = False) -> LabeledDataset:
    """Images in class-named subfolders: ``path/<class>/<...>/<file>``.

    Classes are the immediate subdirectories of ``path`` (hidden ones skipped), sorted by
    name; every file below a class folder whose suffix is in :data:`IMAGE_SUFFIXES` is an
    example of that class (recursively, sorted by path).

    Args:
        path: the folder.
        skip_unreadable: decode every file now (:func:`unreadable_reason`) and leave out
            those Pillow cannot decode (a truncated download, a text file named ``.jpg``),
            listing them in ``info["unreadable"]``. Costs one extra decode of every image.
            Default False: images are read lazily and the first unreadable one raises
            :class:`labelnoise._io.InputFileError` naming it, when it is read.
        progress: a progress bar over the files while ``skip_unreadable`` checks them.

    Returns:
        :class:`LabeledDataset` with ``inputs`` an :class:`ImageFolderSequence` (lazy),
        ``labels`` int64 (N,) indices into the sorted ``class_names``, ``true_labels=None``;
        ``info["paths"]`` lists the file paths, ``info["relative_paths"]`` the same paths
        relative to ``path`` (``cat/001.png``, with ``/``), the examples' ids;
        ``info["unreadable"]`` the files left out, each a dict ``file`` (relative path),
        ``given_label`` (its class folder), ``error`` (Pillow's message), and
        ``info["unreadable_rows"]`` int64 their positions in the full listing (the order
        of the rows without ``skip_unreadable``); both empty unless ``skip_unreadable``.

    Raises:
        FileNotFoundError: ``path`` is not a directory.
        ValueError: no class subfolders, no images in them, or (``skip_unreadable``) none of
            them readable.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root} is not a directory")
    classes = class_folders(root)
    if not classes:
        raise ValueError(f"{root} has no class subfolders (expected {root}/<class>/<image>)")
    paths, labels = [], []
    for k, name in enumerate(classes):
        files = image_files(root / name, root)
        paths.extend(files)
        labels.extend([k] * len(files))
    if not paths:
        raise ValueError(f"{root} has class folders {classes[:5]} but no image files in them")
    unreadable, rows = [], []
    if skip_unreadable:
        from tqdm.auto import tqdm

        for i, p in enumerate(tqdm(paths, desc="checking images", unit="image",
                                   disable=not progress)):
            reason = unreadable_reason(p)
            if reason is not None:
                rows.append(i)
                unreadable.append({"file": p.relative_to(root).as_posix(),
                                   "given_label": classes[labels[i]], "error": reason})
        if len(rows) == len(paths):
            raise ValueError(f"{root}: none of its {len(paths)} image files can be read "
                             f"(e.g. {unreadable[0]['file']}: {unreadable[0]['error']})")
        keep = np.setdiff1d(np.arange(len(paths)), rows)
        paths = [paths[i] for i in keep]
        labels = [labels[i] for i in keep]
    return LabeledDataset(
        inputs=ImageFolderSequence(paths),
        labels=np.asarray(labels, dtype=np.int64),
        class_names=classes,
        source=str(root),
        info={"dataset": "image_folder", "paths": [str(p) for p in paths],
              "relative_paths": [p.relative_to(root).as_posix() for p in paths],
              "unreadable": unreadable, "unreadable_rows": np.asarray(rows, dtype=np.int64)},
    )
