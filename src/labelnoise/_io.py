"""Files in and out: the one atomic-write helper, safe array reading, writability checks.

Every file labelnoise writes goes through :func:`atomic_write`: the content is written to a
hidden temporary file (:data:`TMP_PREFIX`) in the destination's folder, flushed and fsynced, then renamed over
the final name with :func:`os.replace` (atomic on POSIX and Windows within one file
system). On any exception, ``KeyboardInterrupt`` and ``SystemExit`` included (the CLI turns
SIGTERM into ``SystemExit``), the temporary file is removed and the final name is left as
it was: a reader sees either the old file, the complete new file, or nothing.

Every array labelnoise reads from a user's file goes through :func:`read_npy` (never
unpickles: ``allow_pickle=False``) and every failure to read becomes an
:class:`InputFileError` that names the file and says what is wrong with it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

#: Prefix of every temporary file and folder labelnoise creates beside its outputs.
TMP_PREFIX = ".labelnoise-tmp-"


class InputFileError(ValueError):
    """An input file is missing, unreadable, corrupt or unsafe; the message names it."""


class OutputError(OSError):
    """An output path cannot be written (exists, read-only, not a folder, disk full)."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", *,
                 encoding: str | None = None, newline: str | None = None) -> Iterator[IO]:
    """Open a temporary file beside ``path`` for writing; rename it to ``path`` on success.

    Args:
        path: the final file name (its folder must exist).
        mode: ``"wb"`` (binary) or ``"w"`` (text).
        encoding, newline: for text mode (default UTF-8).

    Yields:
        The open temporary file.

    Raises:
        OSError: the folder cannot be written (the temporary file is removed on every
            error, and the final name is untouched).
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    final = Path(path)
    tmp: Path | None = None
    fd: int | None = None
    try:
        # The name is chosen before the file is created, inside this ``try``: a signal that
        # arrives just after the file exists (as it can within tempfile.mkstemp, before that
        # returns) still finds the name here, and the file is removed.
        for _ in range(100):
            tmp = temp_path(final)
            try:
                fd = os.open(tmp, _TMP_FLAGS, 0o600)
                break
            except FileExistsError:  # another writer's file of that name: not ours to remove
                tmp = None
        else:
            raise FileExistsError(errno.EEXIST, "no free temporary file name", str(final.parent))
        kwargs = {} if mode == "wb" else {"encoding": encoding or "utf-8", "newline": newline}
        fh = os.fdopen(fd, mode, **kwargs)
        fd = None  # closed with fh from here on
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # created 0600 (as mkstemp does); give the usual mode
        os.replace(tmp, final)
    except BaseException:
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise


#: how :func:`atomic_write` creates its temporary file: new (never an existing file or link),
#: write-only, binary on Windows
_TMP_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
              | getattr(os, "O_BINARY", 0))


def temp_path(final: str | os.PathLike) -> Path:
    """A fresh hidden name beside ``final`` for a temporary file or folder
    (``.labelnoise-tmp-<name>.<16 hex digits>``); nothing is created.

    Callers assign the name before creating anything and remove it on every exception, so an
    interruption at any point leaves no temporary file behind.
    """
    final = Path(final)
    return final.parent / f"{TMP_PREFIX}{final.name}.{secrets.token_hex(8)}"


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_write(path, "w") as fh:
        fh.write(text)


def write_json(path: str | os.PathLike, obj: Any, *, indent: int | None = 2) -> None:
    """Write ``obj`` as JSON to ``path`` atomically."""
    write_text(path, json.dumps(obj, indent=indent) + "\n")


def read_json(path: str | os.PathLike, what: str) -> Any:
    """The JSON document in ``path`` (a file labelnoise wrote: a manifest, a run's settings).

    Args:
        path: the file.
        what: what it should be, for the message (``"a valid manifest"``).

    Raises:
        FileNotFoundError: ``path`` does not exist (callers say what is missing).
        InputFileError: it cannot be read, is not UTF-8 or not JSON: ``"{path} is {what}"``
            negated, with the reason.
    """
    p = Path(path)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(f"{p} is not {what} ({exc})") from None


def save_npy(path: str | os.PathLike, array) -> None:
    """Save one array as ``.npy`` to ``path`` atomically (no pickles: object arrays refused)."""
    with atomic_write(path) as fh:
        np.save(fh, np.asarray(array), allow_pickle=False)


def save_npz(path: str | os.PathLike, **arrays) -> None:
    """Save arrays as an uncompressed ``.npz`` to ``path`` atomically."""
    with atomic_write(path) as fh:
        np.savez(fh, **arrays)


def write_csv(path: str | os.PathLike, frame, **to_csv_kwargs) -> None:
    """Write a pandas DataFrame as CSV to ``path`` atomically (``index=False`` by default)."""
    to_csv_kwargs.setdefault("index", False)
    with atomic_write(path, "w", newline="") as fh:
        frame.to_csv(fh, **to_csv_kwargs)


def read_npy(path: str | os.PathLike, what: str, *, mmap: bool = False) -> np.ndarray:
    """Read a plain ``.npy`` array from a user's file, never unpickling.

    Args:
        path: the file.
        what: how the file is named in messages (an option such as ``"--pred-probs"``).
        mmap: memory-map it read-only instead of reading it into memory.

    Returns:
        The array (a read-only memory map with ``mmap``).

    Raises:
        InputFileError: the file is missing, a folder, unreadable, empty, truncated, not a
            ``.npy`` file, or holds Python objects (pickles are never loaded).
    """
    p = _existing_file(path, what, ".npy file")
    with _reading(p, what, ".npy array"):
        if p.stat().st_size == 0:
            raise InputFileError(f"{what} {p}: the file is empty (0 bytes)")
        _check_magic(p, what, ".npy array")
        arr = np.load(p, mmap_mode="r" if mmap else None, allow_pickle=False)
    if isinstance(arr, np.lib.npyio.NpzFile):
        arr.close()
        raise InputFileError(f"{what} {p}: is an .npz archive, expected a single .npy array")
    if not isinstance(arr, np.ndarray):
        raise InputFileError(f"{what} {p}: not a .npy array")
    if mmap and arr.dtype.hasobject:
        raise InputFileError(f"{what} {p}: holds Python objects; only numeric arrays are read")
    return arr


def read_npz(path: str | os.PathLike, what: str) -> dict[str, np.ndarray]:
    """Read every array of a user's ``.npz`` file into a dict, never unpickling.

    Raises:
        InputFileError: the file is missing, a folder, empty, not a zip of ``.npy`` arrays,
            truncated, or holds Python objects.
    """
    p = _existing_file(path, what, ".npz file")
    with _reading(p, what, ".npz archive"):
        _check_magic(p, what, ".npz archive")
    with _reading(p, what, ".npz archive"), np.load(p, allow_pickle=False) as z:
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise InputFileError(f"{what} {p}: is a single .npy array, expected a .npz archive")
        return {key: z[key] for key in z.files}


#: how a .npy file and a zip archive (.npz) begin; numpy takes any other file for a pickle
_NPY_MAGIC, _ZIP_MAGIC = b"\x93NUMPY", b"PK"


def _check_magic(p: Path, what: str, kind: str) -> None:
    """An InputFileError unless ``p`` begins as a .npy file or a zip archive does (numpy
    would call any other file a pickle, and refuse it as one)."""
    with open(p, "rb") as fh:
        head = fh.read(len(_NPY_MAGIC))
    if not (head.startswith(_NPY_MAGIC) or head.startswith(_ZIP_MAGIC)):
        raise InputFileError(f"{what} {p}: not a {kind} (it does not begin as a NumPy file)")


def _existing_file(path, what: str, expected: str) -> Path:
    """``path`` as a Path, or an InputFileError if it is missing or a folder."""
    p = Path(path).expanduser()
    if not p.exists():
        raise InputFileError(f"{what} {p}: file not found")
    if p.is_dir():
        raise InputFileError(f"{what} {p}: is a folder, expected a {expected}")
    return p


@contextlib.contextmanager
def _reading(p: Path, what: str, kind: str):
    """Turn numpy's errors while reading ``p`` into one InputFileError that names it."""
    import zipfile

    try:
        yield
    except InputFileError:
        raise
    except ValueError as exc:
        msg = str(exc)
        if "pickle" in msg.lower() or "object" in msg.lower():
            raise InputFileError(f"{what} {p}: holds Python objects (a pickle); only plain "
                                 "numeric arrays are read") from None
        raise InputFileError(f"{what} {p}: not a readable {kind} ({_first_line(msg)})") from None
    except (EOFError, OSError, zipfile.BadZipFile) as exc:
        raise InputFileError(f"{what} {p}: not a readable {kind} "
                             f"({_first_line(str(exc)) or type(exc).__name__})") from None


def read_table(path: str | os.PathLike, what: str, **read_kwargs):
    """Read a CSV/TSV (or Parquet, by suffix) table from a user's file with pandas.

    Returns:
        A pandas DataFrame with at least one row.

    Raises:
        InputFileError: the file is missing, a folder, unreadable, not UTF-8, empty, has a
            header but no rows, is a ';'-separated CSV (one column whose name holds ';'), or
            is not a table pandas can parse.
    """
    import pandas as pd

    p = Path(path).expanduser()
    if not p.exists():
        raise InputFileError(f"{what} {p}: file not found")
    if p.is_dir():
        raise InputFileError(f"{what} {p}: is a folder, expected a table file")
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(p, **read_kwargs)
        else:
            sep = "\t" if p.suffix.lower() == ".tsv" else ","
            frame = pd.read_csv(p, sep=read_kwargs.pop("sep", sep), **read_kwargs)
    except pd.errors.EmptyDataError:
        raise InputFileError(f"{what} {p}: the file is empty") from None
    except UnicodeDecodeError as exc:  # a spreadsheet's CSV in Latin-1 / Windows-1252
        raise InputFileError(f"{what} {p}: not UTF-8 text (it holds the byte "
                             f"0x{exc.object[exc.start]:02x}); save it as UTF-8 (a "
                             "spreadsheet's 'CSV UTF-8')") from None
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise InputFileError(f"{what} {p}: not a readable table ({_first_line(str(exc))})") from None
    except Exception as exc:  # pyarrow's own errors on a corrupt Parquet file
        raise InputFileError(f"{what} {p}: not a readable table ({_first_line(str(exc))})") from None
    if len(frame) == 0:
        raise InputFileError(f"{what} {p}: has a header but no rows")
    if p.suffix.lower() == ".csv" and frame.shape[1] == 1 and ";" in str(frame.columns[0]):
        # a European spreadsheet's CSV: read as commas it is one column, and its decimal
        # commas would turn numbers into text, so it is not re-read with a guessed format
        raise InputFileError(f"{what} {p}: one column named {str(frame.columns[0])[:60]!r}: "
                             "the file looks ';'-separated; save it comma-separated (with "
                             "decimal points), or as .tsv")
    return frame


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _probe_folder(folder: Path, what: str) -> None:
    """Create and remove a temporary file in ``folder`` (works for root, unlike os.access)."""
    try:
        with atomic_write(folder / "probe", "wb"):
            raise _Probed  # created: the folder is writable; nothing is renamed into place
    except _Probed:
        return
    except OSError as exc:
        reason = {errno.EACCES: "permission denied", errno.EPERM: "permission denied",
                  errno.EROFS: "read-only file system",
                  errno.ENOSPC: "no space left"}.get(exc.errno, exc.strerror or str(exc))
        raise OutputError(f"{what} {folder}: cannot write there ({reason})") from None


class _Probed(Exception):
    """Raised inside :func:`_probe_folder`'s write once its temporary file exists."""


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists():
        if p.parent == p:
            break
        p = p.parent
    return p


def check_output_dir(path: str | os.PathLike, what: str) -> Path:
    """Check, before any long work, that folder ``path`` can be created (if absent) and
    written; creates nothing.

    Raises:
        OutputError: a file (not a folder) stands in the way, or the folder (or its
            nearest existing ancestor) cannot be written.
    """
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise OutputError(f"{what} {p}: exists and is not a folder")
    base = _nearest_existing(p)
    if not base.is_dir():
        raise OutputError(f"{what} {p}: {base} is a file, not a folder")
    _probe_folder(base, what)
    return p


def check_output_file(path: str | os.PathLike, what: str, *, force: bool) -> Path:
    """Check, before any long work, that file ``path`` may and can be written; creates nothing.

    Raises:
        OutputError: it exists and ``force`` is False, it is a folder, or its folder cannot
            be created or written.
    """
    p = Path(path).expanduser()
    if p.is_dir():
        raise OutputError(f"{what} {p}: is a folder, expected a file name")
    if p.exists() and not force:
        raise OutputError(f"{what} {p}: exists; pass --force to overwrite it")
    check_output_dir(p.parent, what)
    return p


#: the suffixes of a dataset table (DATASET, --test, simulate --dataset) ...
TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")
#: ... and of a table of labels or pred_probs (read_pred_probs), which may also be a .txt
#: (read as CSV)
LABEL_TABLE_SUFFIXES = TABLE_SUFFIXES + (".txt",)


def read_pred_probs(path: str | os.PathLike, what: str = "--pred-probs", *,
                    mmap: bool = True) -> tuple[np.ndarray, list | None]:
    """Read out-of-sample pred_probs (N, K) from a ``.npy`` array or a CSV/TSV/Parquet table.

    A table holds one column per class. Its header, when it has one, names the classes in
    the order of the columns (``cat,dog,...``); a header of the column numbers
    ``0,1,...,K-1`` (what ``pandas.DataFrame(pred_probs).to_csv(index=False)`` writes) or
    no header (a first row of numbers) names none. A leading index column written by
    pandas (unnamed, holding 0..N-1) is dropped. The values are checked later, with the
    labels, by :func:`labelnoise._validation.validate_pred_probs`.

    Args:
        path: the file (``.npy``, ``.csv``, ``.tsv``, ``.txt``, ``.parquet``, ``.pq``).
        what: how the file is named in messages.
        mmap: memory-map a ``.npy`` file instead of reading it.

    Returns:
        ``(pred_probs, class_names)``: the array (float64 for a table; a ``.npy`` keeps its
        dtype) and the K class names of the header (ints when every name is an integer,
        such as ``3,7,9``), or None.

    Raises:
        InputFileError: the file is missing, unreadable, empty, of another suffix, a table
            with a non-numeric column, or a header that repeats a name.
    """
    p = _existing_file(path, what, ".npy, .csv or .parquet file")
    suffix = p.suffix.lower()
    if suffix == ".npy":
        return read_npy(p, what, mmap=mmap), None
    if suffix not in LABEL_TABLE_SUFFIXES:
        raise InputFileError(f"{what} {p}: expected a .npy array or a .csv/.parquet table of "
                             f"pred_probs (one column per class), got {p.suffix or 'no suffix'!r}")
    frame = read_table(p, what)
    header = [str(c) for c in frame.columns]
    if suffix not in (".parquet", ".pq"):
        header = _csv_header(p, "\t" if suffix == ".tsv" else ",") or header  # as written
    if (suffix not in (".parquet", ".pq") and _all_numbers(header) and not _is_range(header)
            and not _integer_names(header)):
        frame = read_table(p, what, header=None)  # no header: the first row is data
        header = None
    if header is not None and frame.shape[1] > 1 and header[0] in ("", "Unnamed: 0"):
        first = frame.iloc[:, 0]
        if first.dtype.kind in "iu" and (first.to_numpy() == np.arange(len(frame))).all():
            frame = frame.iloc[:, 1:]
            header = header[1:]
    import pandas as pd

    for col in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[col]) or pd.api.types.is_bool_dtype(frame[col]):
            value = frame[col].iloc[0]
            raise InputFileError(
                f"{what} {p}: column {col!r} is not numeric (first value {value!r}); the table "
                "must hold only the K numeric columns, one per class")
    names = None if header is None or _is_range(header) else header
    if names is not None and len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise InputFileError(f"{what} {p}: the header repeats the class name {dup!r}")
    if names is not None and all(n.lstrip("-").isdigit() for n in names):
        names = [int(n) for n in names]  # integer classes (3, 7, 9) match integer labels
    return frame.to_numpy(dtype=np.float64), names


def _csv_header(p: Path, sep: str) -> list[str] | None:
    """The first row of a CSV as written (pandas renames repeated names to ``a.1``)."""
    import csv

    try:
        with open(p, newline="", encoding="utf-8") as fh:
            row = next(csv.reader(fh, delimiter=sep), None)
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    return [c.strip() for c in row] if row else None


def _all_numbers(values: list[str]) -> bool:
    try:
        [float(v) for v in values]
    except ValueError:
        return False
    return True


def _integer_names(values: list[str]) -> bool:
    """A header of integer class names such as ``3,7,9`` (not a first row of 0/1 values)."""
    return (all(v.lstrip("-").isdigit() for v in values)
            and any(int(v) not in (0, 1) for v in values))


def _is_range(values: list[str]) -> bool:
    return values == [str(i) for i in range(len(values))]
