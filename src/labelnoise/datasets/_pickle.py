"""Safe reading of the pickles inside the CIFAR batches and the CIFAR-N ``.pt`` files.

Both hold only plain Python containers and numpy arrays, so a restricted
:class:`pickle.Unpickler` that resolves exactly the few globals needed to rebuild a numpy
array is enough: no torch is required and a downloaded file never reaches an unrestricted
unpickler (which could run arbitrary code).
"""

from __future__ import annotations

import codecs
import io
import pickle
import zipfile
from pathlib import Path

import numpy as np

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct


def _latin1_encode(obj, encoding="utf-8", errors="strict"):
    """``_codecs.encode`` as numpy arrays pickled under Python 3 call it: only latin-1."""
    if encoding.lower().replace("_", "-") not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return codecs.encode(obj, "latin1", errors)


#: (module, name) -> the object the restricted unpickler returns for it.
ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only :data:`ALLOWED_GLOBALS` (numpy array rebuilding).

    Any other global (``os.system``, ``builtins.eval``, torch storages, ...) raises
    :class:`pickle.UnpicklingError`; persistent ids (torch tensors) are refused too.
    """

    def find_class(self, module: str, name: str):
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load global {module}.{name}: only numpy arrays are allowed "
                "in dataset files"
            ) from None

    def persistent_load(self, pid):
        raise pickle.UnpicklingError(
            "refusing a persistent id (a torch tensor): dataset files must hold numpy arrays"
        )


def safe_loads(data: bytes, *, encoding: str = "bytes"):
    """Unpickle ``data`` with :class:`RestrictedUnpickler`.

    ``encoding`` is used for Python-2 ``str`` objects (the CIFAR batches): ``"bytes"`` keeps
    them as ``bytes`` (``d[b"data"]``), ``"latin1"`` decodes them to ``str``.
    """
    return RestrictedUnpickler(io.BytesIO(data), encoding=encoding).load()


def load_pickle_file(path: Path, *, encoding: str = "bytes"):
    """Read a pickle file (e.g. a CIFAR ``data_batch_1``) safely.

    Raises:
        labelnoise._io.InputFileError: the file holds anything but plain containers and
            numpy arrays (the message names the file), or is truncated.
    """
    from labelnoise._io import InputFileError

    try:
        with open(path, "rb") as f:
            return RestrictedUnpickler(f, encoding=encoding).load()
    except (pickle.UnpicklingError, EOFError) as exc:
        raise InputFileError(f"{path}: refused or unreadable ({exc or 'truncated'})") from None


def load_torch_pt(path: Path) -> dict:
    """Read a ``torch.save`` zip file holding only plain objects and numpy arrays, without torch.

    Raises:
        ValueError: ``path`` is not a torch zip archive, or it has no single ``data.pkl``.
        labelnoise._io.InputFileError (a ValueError): it holds anything but plain
            containers and numpy arrays (the message names the file).
    """
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{path} is not a torch .pt zip archive ({exc})") from exc
    with zf:
        names = [n for n in zf.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(names) != 1:
            raise ValueError(f"{path}: expected one data.pkl in the archive, found {names}")
        try:
            return safe_loads(zf.read(names[0]), encoding="latin1")
        except (pickle.UnpicklingError, EOFError) as exc:
            from labelnoise._io import InputFileError

            raise InputFileError(f"{path}: refused or unreadable ({exc or 'truncated'})") from None
