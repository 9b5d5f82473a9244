"""Commands killed by SIGINT or SIGTERM at several points leave each output file absent or
complete, no temporary file, and a rerun gives the same result as an uninterrupted run.

The kill points are fractions of the uninterrupted run's own duration, measured first in
the same test (and shortened to any later run that finishes before its kill point), so they
fall before, during and after the writing of the outputs on any machine speed, also when
another test worker loads the machine; no wall-clock limit is asserted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

N, K = 120_000, 10
FRACTIONS = (0.5, 0.8, 0.9, 0.97)


def _inputs(tmp: Path) -> None:
    rng = np.random.default_rng(0)
    true = rng.integers(0, K, N)
    labels = true.copy()
    flip = rng.random(N) < 0.2
    labels[flip] = rng.integers(0, K, flip.sum())
    logits = rng.normal(size=(N, K))
    logits[np.arange(N), true] += 2.5
    pp = np.exp(logits)
    pp /= pp.sum(1, keepdims=True)
    np.save(tmp / "labels.npy", labels)
    np.save(tmp / "pp.npy", pp)
    ann = np.stack([np.where(rng.random(N) < 0.8, true, rng.integers(0, K, N)) for _ in range(3)], 1)
    ann[rng.random((N, 3)) < 0.2] = -1
    ann[:, 0] = np.where(ann[:, 0] < 0, true, ann[:, 0])  # every example has a label
    np.save(tmp / "ann.npy", ann)


COMMANDS = {
    "find-issues": (["find-issues", "--labels", "{t}/labels.npy", "--pred-probs", "{t}/pp.npy",
                     "--out", "{o}/issues.csv"], ["--force"], ["issues.csv"]),
    "consensus": (["consensus", "--annotations", "{t}/ann.npy", "--out", "{o}"], ["--force"],
                  ["consensus.csv", "annotators.csv"]),
    "audit": (["audit", "--pred-probs", "{t}/pp.npy", "--labels", "{t}/labels.npy", "--out", "{o}",
               "--no-progress"], ["--resume"],
              ["issues.csv", "pred_probs.npy", "noise.json", "report.html"]),
}


def _args(template: list, tmp: Path, out: Path) -> list:
    return [a.replace("{t}", str(tmp)).replace("{o}", str(out)) for a in template]


def _start(args: list, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "TQDM_DISABLE": "1"}
    return subprocess.Popen([sys.executable, "-m", "labelnoise", *args], cwd=cwd, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def _complete(path: Path, reference: Path) -> bool:
    """Whether ``path`` is a whole output: equal to the reference run's (CSV, .npy), or a
    whole JSON document / HTML page (these hold the run's wall time)."""
    if path.suffix == ".csv":
        return path.read_bytes() == reference.read_bytes()
    if path.suffix == ".npy":
        return np.array_equal(np.load(path), np.load(reference))
    if path.suffix == ".json":
        return json.loads(path.read_text())["num_examples"] == N
    return path.read_text().rstrip().endswith("</html>")


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.startswith(".labelnoise-tmp-")]


@pytest.mark.parametrize("command", list(COMMANDS))
def test_interrupted_command_leaves_whole_files_and_resumes(command: str, tmp_path: Path):
    template, rerun_flags, outputs = COMMANDS[command]
    _inputs(tmp_path)
    ref = tmp_path / "reference"
    t0 = time.perf_counter()
    proc = _start(_args(template, tmp_path, ref), tmp_path)
    _, err = proc.communicate(timeout=600)
    duration = time.perf_counter() - t0
    assert proc.returncode == 0, err
    kills = 0
    for sig in (signal.SIGINT, signal.SIGTERM):
        for frac in FRACTIONS:
            out = tmp_path / f"run-{sig.name}-{frac}"
            proc = _start(_args(template, tmp_path, out), tmp_path)
            started = time.perf_counter()
            while proc.poll() is None and time.perf_counter() - started < frac * duration:
                time.sleep(0.02)
            if proc.poll() is None:
                proc.send_signal(sig)
                kills += 1
            else:
                # finished before the kill point (the machine sped up, e.g. another test
                # worker finished): later kill points use this run's duration
                duration = min(duration, time.perf_counter() - started)
            _, err = proc.communicate(timeout=600)
            assert "Traceback" not in err, err
            assert proc.returncode in (0, 130, 143, -sig), (proc.returncode, err)
            # one line says so, once (the group and the command both handle errors)
            assert err.count("Error: terminated") + err.count("Error: interrupted") <= 1, err
            assert not _leftovers(tmp_path), _leftovers(tmp_path)
            for name in outputs:
                if (out / name).exists():
                    assert _complete(out / name, ref / name), (sig.name, frac, name)
            # the rerun finishes and gives what an uninterrupted run gives
            proc = _start(_args(template, tmp_path, out) + rerun_flags, tmp_path)
            _, err = proc.communicate(timeout=600)
            assert proc.returncode == 0, err
            for name in outputs:
                assert _complete(out / name, ref / name), (sig.name, frac, name, "rerun")
            assert not _leftovers(tmp_path)
    assert kills >= 4  # most kill points landed while the command was running


@pytest.mark.parametrize("where", ["open", "write", "fsync", "replace"])
def test_atomic_write_interrupted_at_each_step_leaves_nothing(where: str, tmp_path: Path,
                                                              monkeypatch):
    """A signal at any step of an atomic write (modelled by KeyboardInterrupt raised right
    after that step's system call) leaves the old file as it was and no temporary file: also
    just after the temporary file is created, the step where ``tempfile.mkstemp`` has not yet
    returned its name (CI once found a leftover there)."""
    from labelnoise import _io

    final = tmp_path / "out.csv"
    final.write_text("old\n")
    real = {name: getattr(os, name) for name in ("open", "fsync", "replace")}

    def after(name):
        def call(*args, **kwargs):
            result = real[name](*args, **kwargs)
            if name != "open" or Path(args[0]).name.startswith(_io.TMP_PREFIX):
                raise KeyboardInterrupt
            return result
        return call

    if where in real:
        monkeypatch.setattr(os, where, after(where))
    with pytest.raises(KeyboardInterrupt), _io.atomic_write(final, "w") as fh:
        fh.write("new\n")
        if where == "write":
            raise KeyboardInterrupt
    monkeypatch.undo()
    assert final.read_text() == "old\n" if where != "replace" else "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]
    _io.write_text(final, "again\n")  # the helper still works afterwards
    assert final.read_text() == "again\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_while_the_program_shuts_down_ends_it_without_a_traceback(sig, tmp_path: Path):
    """After the command is over, a signal during the interpreter's shutdown (here: an atexit
    callback that waits) ends the process by that signal; raised as an exception inside the
    callback, Python would print a traceback and exit 0."""
    marker = tmp_path / "in-atexit"
    code = ("import atexit, pathlib, sys, time\n"
            "def wait():\n"
            f"    pathlib.Path({str(marker)!r}).touch()\n"
            "    time.sleep(60)\n"
            "atexit.register(wait)\n"
            "from labelnoise.cli import run\n"
            "sys.argv = ['labelnoise', '--version']\n"
            "run()\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    while not marker.exists() and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert "version" in out
    assert "Traceback" not in err, err
    assert proc.returncode == -sig, (proc.returncode, err)
