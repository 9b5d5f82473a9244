"""Shared fixtures: the real data in ../shared/data, built once into a cache directory."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

# The suite runs on two pytest-xdist workers (README's test command, `-n 2`): one BLAS /
# OpenMP / torch thread per worker, so the two workers never oversubscribe the cores (set
# before numpy or torch is imported by any test module).
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

settings.register_profile("ci", max_examples=50, deadline=None, derandomize=True)
settings.load_profile("ci")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LABELNOISE_SHARED_DATA", REPO.parent / "shared" / "data"))


def _cache_root() -> Path:
    env = os.environ.get("LABELNOISE_TEST_DATA_ROOT")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "labelnoise-test-data"


def build_test_data_root() -> Path:
    """Build the official CIFAR-10 python folder and copy the CIFAR-10N files into a cache
    directory (once; later calls reuse it) and return that data root."""
    root = _cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        target = root / "cifar-10-batches-py"
        if not (target / "test_batch").exists():
            tmp = root / ".building"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            subprocess.run(
                [sys.executable, str(SHARED_DATA / "cifar-10-jpeg" / "make_cifar10.py"), str(tmp)],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            shutil.rmtree(target, ignore_errors=True)
            os.replace(tmp / "cifar-10-batches-py", target)
            shutil.rmtree(tmp, ignore_errors=True)
        n_dir = root / "cifar-10n"
        if not (n_dir / "side_info_cifar10N.csv").exists():
            n_dir.mkdir(exist_ok=True)
            for name in ("CIFAR-10_human.pt", "CIFAR-100_human.pt", "side_info_cifar10N.csv"):
                shutil.copyfile(SHARED_DATA / "cifar-10n" / name, n_dir / name)
    return root


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (label-error benchmarks, CIFAR-10N, CIFAR-10 JPEGs)."""
    if not SHARED_DATA.exists():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def data_root(shared_data) -> Path:
    """A data root holding ``cifar-10-batches-py/`` and ``cifar-10n/`` (built once, ~15 s)."""
    return build_test_data_root()
