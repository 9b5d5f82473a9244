"""Downloads that verify a checksum and never leave partial files behind.

Every file is written under a temporary name in the destination directory and moved into
place with :func:`os.replace` only after its checksum matched; an archive is extracted into
a temporary directory that is renamed into place only once complete. On any failure,
including ``KeyboardInterrupt``, the temporary files are removed and the data root is left as
it was.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from labelnoise._io import atomic_write, temp_path

#: Bytes read per chunk while downloading and hashing.
CHUNK = 1 << 20


class DownloadError(OSError):
    """A download failed, was incomplete, or its checksum did not match."""


class ArchiveError(DownloadError):
    """An archive could not be extracted (corrupted or truncated) or lacked expected files."""


@dataclass(frozen=True)
class RemoteFile:
    """A file at ``url`` with its expected checksum (``md5`` or ``sha256``, hex)."""

    url: str
    filename: str
    md5: str | None = None
    sha256: str | None = None


def _open_url(url: str, timeout: float):
    """Open ``url`` for reading (one place, so tests can patch the opener)."""
    if not url.startswith(("https://", "http://")):
        raise DownloadError(f"refusing to download from {url!r}: only http(s) URLs")
    return urllib.request.urlopen(url, timeout=timeout)


def file_hexdigest(path: Path, algorithm: str) -> str:
    """Hex digest (``"md5"`` or ``"sha256"``) of the file at ``path``, read in chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def verify_file(path: Path, remote: RemoteFile) -> None:
    """Raise :class:`DownloadError` unless ``path`` has ``remote``'s checksum."""
    for algorithm, expected in (("sha256", remote.sha256), ("md5", remote.md5)):
        if expected:
            got = file_hexdigest(path, algorithm)
            if got != expected.lower():
                raise DownloadError(
                    f"{algorithm} checksum mismatch for {path.name} (from {remote.url}): "
                    f"expected {expected}, got {got}; the file is corrupted or incomplete"
                )


def download_file(remote: RemoteFile, dest: Path, *, progress: bool = True,
                  timeout: float = 60.0) -> Path:
    """Download ``remote`` to ``dest`` (a file path), verifying its checksum.

    The bytes go to a temporary file next to ``dest``, which is moved to ``dest`` only
    after the whole body arrived and the checksum matched.

    Returns:
        ``dest``.
    Raises:
        DownloadError: network error, a body shorter than its Content-Length, or a
            checksum mismatch. Nothing is left behind at ``dest``.
    """
    from tqdm.auto import tqdm

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    hashes = {a: hashlib.new(a) for a, want in (("sha256", remote.sha256), ("md5", remote.md5))
              if want}
    with atomic_write(dest) as out:  # renamed to dest only if no exception left this block
        try:
            response = _open_url(remote.url, timeout)
        except (urllib.error.URLError, OSError) as exc:
            raise DownloadError(
                f"could not download {remote.url}: {exc}. Without internet access, "
                f"place {remote.filename} at {dest} yourself"
            ) from exc
        with response:
            length = response.headers.get("Content-Length") if response.headers else None
            total = int(length) if length and length.isdigit() else None
            received = 0
            with tqdm(total=total, unit="B", unit_scale=True, desc=remote.filename,
                      disable=None if progress else True, leave=False) as bar:
                try:
                    while chunk := response.read(CHUNK):
                        out.write(chunk)
                        for h in hashes.values():
                            h.update(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
                except (OSError, ValueError) as exc:  # http.client.IncompleteRead et al.
                    raise DownloadError(
                        f"download of {remote.url} broke off after {received} bytes: {exc!r}"
                    ) from exc
        if total is not None and received != total:
            raise DownloadError(
                f"download of {remote.url} is incomplete: got {received} of {total} bytes"
            )
        for algorithm, h in hashes.items():
            expected = getattr(remote, algorithm).lower()
            if h.hexdigest() != expected:
                raise DownloadError(
                    f"{algorithm} checksum mismatch for {dest.name} (from {remote.url}): "
                    f"expected {expected}, got {h.hexdigest()}; the file is corrupted or "
                    "incomplete"
                )
    return dest


def _safe_members(tar: tarfile.TarFile) -> Iterable[tarfile.TarInfo]:
    """Regular files and directories with relative paths inside the archive (Python < 3.12
    fallback for ``filter="data"``)."""
    for member in tar:
        name = member.name
        if name.startswith(("/", "\\")) or ".." in Path(name).parts:
            raise ArchiveError(f"archive member {name!r} points outside the archive")
        if not (member.isfile() or member.isdir()):
            raise ArchiveError(f"archive member {name!r} is a link or device; refused")
        yield member


def extract_tar_atomically(archive: Path, root: Path, folder: str,
                           expected_files: Iterable[str]) -> Path:
    """Extract ``folder/`` from the tar archive ``archive`` into ``root/folder``.

    The archive is extracted into a temporary directory in ``root``; ``folder`` is moved
    into place with :func:`os.replace` only after every name in ``expected_files`` is
    present in it. If ``root/folder`` appeared meanwhile (another process), it is kept.

    Returns:
        ``root / folder``.
    Raises:
        ArchiveError: the archive is corrupted, truncated, unsafe (absolute paths, ``..``,
            links), or lacks an expected file. Nothing is left behind in ``root``.
    """
    root.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(root / folder)  # named before it exists: removed also if interrupted
    try:
        tmp.mkdir(mode=0o700)
        try:
            with tarfile.open(archive, "r:*") as tar:
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(tmp, filter="data")
                else:  # pragma: no cover - Python < 3.10.12
                    tar.extractall(tmp, members=_safe_members(tar))
        except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
            raise ArchiveError(
                f"could not extract {archive}: it is corrupted or truncated ({exc}); "
                "delete it and download again"
            ) from exc
        missing = [f for f in expected_files if not (tmp / folder / f).is_file()]
        if missing:
            raise ArchiveError(f"{archive} does not hold {folder}/{missing[0]} (missing: {missing})")
        target = root / folder
        try:
            os.replace(tmp / folder, target)
        except OSError:
            if not target.is_dir():  # not a lost race with another process
                raise
        return target
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fetch_archive_folder(remote: RemoteFile, root: Path, folder: str,
                         expected_files: Iterable[str], *, progress: bool = True) -> Path:
    """Make ``root/folder`` exist by extracting ``remote``'s archive.

    Uses ``root/<remote.filename>`` when the user placed it there (verified, then kept);
    otherwise downloads it into a temporary directory, verifies the checksum, extracts
    atomically and deletes the archive.

    Raises:
        DownloadError / ArchiveError: see :func:`download_file` and
            :func:`extract_tar_atomically`; the data root is left as it was.
    """
    root.mkdir(parents=True, exist_ok=True)
    expected_files = list(expected_files)
    local = root / remote.filename
    if local.is_file():
        verify_file(local, remote)
        return extract_tar_atomically(local, root, folder, expected_files)
    tmp = temp_path(root / "download")
    try:
        tmp.mkdir(mode=0o700)
        archive = download_file(remote, tmp / remote.filename, progress=progress)
        return extract_tar_atomically(archive, root, folder, expected_files)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
