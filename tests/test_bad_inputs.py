"""Bad and hostile inputs, through the command line (as subprocesses) and the Python API.

Every CLI case asserts the exit code of its kind of error (labelnoise.cli._errors), that the
one-line message names the argument or file, that no traceback is printed, that no output
is left under a final name (and no temporary file anywhere), and that a planted payload
never runs. Every API case asserts the exception and that its message names the argument.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from labelnoise.cli._errors import EXIT_INPUT, EXIT_OUTPUT, EXIT_USAGE

N, K = 60, 3


class Payload:
    """Unpickling this creates the file ``marker`` (what a malicious pickle would do)."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def _good(tmp: Path) -> None:
    rng = np.random.default_rng(0)
    labels = np.arange(N) % K
    pp = rng.dirichlet(np.ones(K), size=N)
    pp[np.arange(N), labels] += 2.0
    pp /= pp.sum(1, keepdims=True)
    np.save(tmp / "labels.npy", labels)
    np.save(tmp / "pp.npy", pp)
    ann = np.stack([labels, labels, (labels + (np.arange(N) % 7 == 0)) % K], axis=1)
    np.save(tmp / "ann.npy", ann)
    (tmp / "ann.csv").write_text("example_id,annotator_id,label\n" + "".join(
        f"{i},{a},{ann[i, a]}\n" for i in range(N) for a in range(3)))


def _write(tmp: Path, name: str, kind: str) -> None:
    """Write the bad file ``name`` of the given ``kind`` into ``tmp``."""
    p = tmp / name
    pp = np.load(tmp / "pp.npy") if (tmp / "pp.npy").exists() else None
    if kind == "truncated":
        p.write_bytes((tmp / "pp.npy").read_bytes()[:200])
    elif kind == "header-only":
        p.write_bytes((tmp / "pp.npy").read_bytes()[:128])
    elif kind == "garbage":
        p.write_bytes(os.urandom(333))
    elif kind == "empty":
        p.write_bytes(b"")
    elif kind == "pickle-npy":
        arr = np.empty(2, dtype=object)
        arr[0] = Payload(str(tmp / "PWNED"))
        np.save(p, arr, allow_pickle=True)
    elif kind == "pickle-npz":
        arr = np.empty(2, dtype=object)
        arr[0] = Payload(str(tmp / "PWNED"))
        np.savez(p, X=arr, labels=np.arange(2))
    elif kind == "raw-pickle":
        p.write_bytes(pickle.dumps(Payload(str(tmp / "PWNED"))))
    elif kind == "nan":
        pp[3, 1] = np.nan
        np.save(p, pp)
    elif kind == "inf":
        pp[5, 0] = np.inf
        np.save(p, pp)
    elif kind == "1d":
        np.save(p, pp[:, 0])
    elif kind == "rowsum":
        np.save(p, pp * 1.5)
    elif kind == "negative":
        pp[2] = [-0.5, 1.0, 0.5]
        np.save(p, pp)
    elif kind == "short":
        np.save(p, pp[:-4])
    elif kind == "uniform":
        np.save(p, np.full_like(pp, 1.0 / K))
    elif kind == "labels-float":
        np.save(p, np.arange(N) % K + 0.5)
    elif kind == "labels-negative":
        lab = np.arange(N) % K
        lab[7] = -1
        np.save(p, lab)
    elif kind == "labels-range":
        lab = np.arange(N) % K
        lab[9] = K
        np.save(p, lab)
    elif kind == "labels-uint64":
        lab = (np.arange(N) % K).astype(np.uint64)
        lab[4] = np.uint64(2**63)
        np.save(p, lab)
    elif kind == "labels-2d":
        np.save(p, (np.arange(N) % K).reshape(-1, 2))
    elif kind == "labels-missing-class":
        np.save(p, np.arange(N) % (K - 1))
    elif kind == "labels-constant":
        np.save(p, np.zeros(N, dtype=np.int64))
    elif kind == "csv-empty":
        p.write_text("")
    elif kind == "csv-header":
        p.write_text("label\n")
    elif kind == "csv-labels":
        p.write_text("label\n" + "".join(f"{i % K}\n" for i in range(N)))
    elif kind == "npz-nan-X":
        X = np.random.default_rng(1).normal(size=(N, 4))
        X[11, 2] = np.nan
        np.savez(p, X=X, labels=np.arange(N) % K)
    elif kind == "ann-csv-columns":
        p.write_text("example,who,label\n0,a,1\n")
    elif kind == "ann-range":
        ann = np.load(tmp / "ann.npy")
        ann[3, 1] = 7
        np.save(p, ann)
    elif kind == "ann-none":
        np.save(p, -np.ones((N, 3), dtype=np.int64))
    elif kind == "a-file":
        p.write_text("not a folder")
    elif kind == "precious":
        p.write_text("precious")
    elif kind == "folder":
        p.mkdir()
    elif kind == "report-folder":
        p.mkdir()
        (p / "report.html").write_text("my own report")
        (p / "issues.csv").write_text("my own issues")
    elif kind == "malicious-cifar100":  # the official folder with a code-running pickle
        p.mkdir(parents=True)
        for part in ("train", "test", "meta"):
            (p / part).write_bytes(pickle.dumps(Payload(str(tmp / "PWNED")), protocol=2))
    elif kind == "malicious-pt":
        import torch

        p.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"model": Payload(str(tmp / "PWNED"))}, p)
    else:  # pragma: no cover - a typo in the table
        raise KeyError(kind)


@dataclass
class Case:
    """One bad CLI input: files to write, the arguments ({t} is the test folder), the
    expected exit code, words the message must contain, and paths that must not exist."""

    id: str
    files: dict
    args: list
    code: int
    says: tuple
    absent: tuple = ()
    unchanged: dict = field(default_factory=dict)


FI = ["find-issues", "--labels", "{t}/labels.npy", "--pred-probs", "{t}/pp.npy", "--out", "{t}/out.csv"]


def fi(**replace) -> list:
    """find-issues arguments with some replaced (option -> value)."""
    args = list(FI)
    for opt, value in replace.items():
        args[args.index("--" + opt.replace("_", "-")) + 1] = value
    return args


SIM = ["simulate", "--dataset", "{t}/labels.npy", "--noise", "symmetric:0.2", "--out", "{t}/noisy.npy"]
CON = ["consensus", "--annotations", "{t}/ann.npy", "--out", "{t}/cons"]
AUD = ["audit", "--pred-probs", "{t}/pp.npy", "--labels", "{t}/labels.npy", "--out", "{t}/audit",
       "--no-progress"]

CASES = [
    # ---------------------------------------------------------------- find-issues: pred_probs
    Case("fi-pp-truncated", {"bad.npy": "truncated"}, fi(pred_probs="{t}/bad.npy"), EXIT_INPUT, ("--pred-probs", "bad.npy")),
    Case("fi-pp-header-only", {"bad.npy": "header-only"}, fi(pred_probs="{t}/bad.npy"), EXIT_INPUT, ("--pred-probs", "bad.npy")),
    Case("fi-pp-garbage", {"bad.npy": "garbage"}, fi(pred_probs="{t}/bad.npy"), EXIT_INPUT, ("--pred-probs", "bad.npy")),
    Case("fi-pp-empty-file", {"bad.npy": "empty"}, fi(pred_probs="{t}/bad.npy"), EXIT_INPUT, ("--pred-probs", "empty")),
    Case("fi-pp-pickled", {"bad.npy": "pickle-npy"}, fi(pred_probs="{t}/bad.npy"), EXIT_INPUT, ("--pred-probs", "pickle"), ("PWNED",)),
    Case("fi-pp-raw-pickle", {"bad.npy": "raw-pickle"}, fi(pred_probs="{t}/bad.npy"), EXIT_INPUT, ("--pred-probs", "bad.npy"), ("PWNED",)),
    Case("fi-pp-npz", {"bad.npz": "pickle-npz"}, fi(pred_probs="{t}/bad.npz"), EXIT_INPUT, ("--pred-probs", "bad.npz"), ("PWNED",)),
    Case("fi-pp-missing", {}, fi(pred_probs="{t}/nope.npy"), EXIT_INPUT, ("--pred-probs", "nope.npy", "not found")),
    Case("fi-pp-folder", {"dir.npy": "folder"}, fi(pred_probs="{t}/dir.npy"), EXIT_INPUT, ("--pred-probs", "folder")),
    Case("fi-pp-nan", {"bad.npy": "nan"}, fi(pred_probs="{t}/bad.npy"), EXIT_USAGE, ("pred_probs", "nan")),
    Case("fi-pp-inf", {"bad.npy": "inf"}, fi(pred_probs="{t}/bad.npy"), EXIT_USAGE, ("pred_probs",)),
    Case("fi-pp-1d", {"bad.npy": "1d"}, fi(pred_probs="{t}/bad.npy"), EXIT_USAGE, ("pred_probs", "2-D")),
    Case("fi-pp-rowsum", {"bad.npy": "rowsum"}, fi(pred_probs="{t}/bad.npy"), EXIT_USAGE, ("pred_probs",)),
    Case("fi-pp-negative", {"bad.npy": "negative"}, fi(pred_probs="{t}/bad.npy"), EXIT_USAGE, ("pred_probs",)),
    Case("fi-pp-rows", {"bad.npy": "short"}, fi(pred_probs="{t}/bad.npy"), EXIT_USAGE, ("pred_probs", "rows")),
    # ---------------------------------------------------------------- find-issues: labels
    Case("fi-labels-float", {"bad.npy": "labels-float"}, fi(labels="{t}/bad.npy"), EXIT_USAGE, ("labels",)),
    Case("fi-labels-negative", {"bad.npy": "labels-negative"}, fi(labels="{t}/bad.npy"), EXIT_USAGE, ("labels[7]",)),
    Case("fi-labels-range", {"bad.npy": "labels-range"}, fi(labels="{t}/bad.npy"), EXIT_USAGE, ("labels[9]",)),
    Case("fi-labels-uint64", {"bad.npy": "labels-uint64"}, fi(labels="{t}/bad.npy"), EXIT_USAGE, ("labels[4]", "9223372036854775808")),
    Case("fi-labels-2d", {"bad.npy": "labels-2d"}, fi(labels="{t}/bad.npy"), EXIT_USAGE, ("labels", "1-D")),
    Case("fi-labels-missing-class", {"bad.npy": "labels-missing-class"}, fi(labels="{t}/bad.npy"), EXIT_USAGE, ("labels", "class 2")),
    Case("fi-labels-truncated", {"bad.npy": "truncated"}, fi(labels="{t}/bad.npy"), EXIT_INPUT, ("--labels", "bad.npy")),
    Case("fi-labels-csv-empty", {"bad.csv": "csv-empty"}, fi(labels="{t}/bad.csv"), EXIT_INPUT, ("--labels", "bad.csv", "empty")),
    Case("fi-labels-csv-header", {"bad.csv": "csv-header"}, fi(labels="{t}/bad.csv"), EXIT_INPUT, ("--labels", "bad.csv", "no rows")),
    Case("fi-labels-csv-column", {"l.csv": "csv-labels"}, fi(labels="{t}/l.csv") + ["--label-column", "y"], EXIT_USAGE, ("--label-column", "'y'")),
    Case("fi-labels-suffix", {"l.json": "csv-labels"}, fi(labels="{t}/l.json"), EXIT_USAGE, ("--labels", "l.json")),
    Case("fi-labels-missing", {}, fi(labels="{t}/nope.npy"), EXIT_INPUT, ("--labels", "nope.npy")),
    # ---------------------------------------------------------------- find-issues: output, options
    Case("fi-out-exists", {"out.csv": "precious"}, FI, EXIT_OUTPUT, ("--out", "out.csv", "--force"), unchanged={"out.csv": "precious"}),
    Case("fi-out-is-folder", {"out.csv": "folder"}, FI, EXIT_OUTPUT, ("--out", "folder")),
    Case("fi-out-parent-is-file", {"f": "a-file"}, fi(out="{t}/f/out.csv"), EXIT_OUTPUT, ("--out", "f")),
    Case("fi-out-read-only", {}, fi(out="/proc/labelnoise-test/out.csv"), EXIT_OUTPUT, ("--out", "/proc")),
    Case("fi-filter-unknown", {}, FI + ["--filter-by", "bogus"], EXIT_USAGE, ("--filter-by", "bogus")),
    # ---------------------------------------------------------------- simulate
    Case("sim-noise-model", {}, ["simulate", "--dataset", "{t}/labels.npy", "--noise", "gaussian:0.2", "--out", "{t}/noisy.npy"], EXIT_USAGE, ("--noise", "gaussian")),
    Case("sim-noise-rate", {}, ["simulate", "--dataset", "{t}/labels.npy", "--noise", "symmetric:1.5", "--out", "{t}/noisy.npy"], EXIT_USAGE, ("--noise", "1.5")),
    Case("sim-seed", {}, SIM + ["--seed", "abc"], EXIT_USAGE, ("--seed", "abc")),
    Case("sim-constant-labels", {"c.npy": "labels-constant"}, ["simulate", "--dataset", "{t}/c.npy", "--noise", "symmetric:0.2", "--out", "{t}/noisy.npy"], EXIT_USAGE, ("--dataset", "class 0")),
    Case("sim-nan-features", {"x.npz": "npz-nan-X"}, ["simulate", "--dataset", "{t}/x.npz", "--noise", "instance:0.2", "--out", "{t}/noisy.npy"], EXIT_USAGE, ("x.npz", "NaN", "row 11")),
    Case("sim-pickled-npz", {"x.npz": "pickle-npz"}, ["simulate", "--dataset", "{t}/x.npz", "--noise", "instance:0.2", "--out", "{t}/noisy.npy"], EXIT_INPUT, ("x.npz", "pickle"), ("PWNED",)),
    Case("sim-garbage-npz", {"x.npz": "garbage"}, ["simulate", "--dataset", "{t}/x.npz", "--noise", "instance:0.2", "--out", "{t}/noisy.npy"], EXIT_INPUT, ("x.npz",)),
    Case("sim-truncated-labels", {"l.npy": "truncated"}, ["simulate", "--dataset", "{t}/l.npy", "--noise", "symmetric:0.2", "--out", "{t}/noisy.npy"], EXIT_INPUT, ("--dataset", "l.npy")),
    Case("sim-out-exists", {"noisy.npy": "precious"}, SIM, EXIT_OUTPUT, ("--out", "noisy.npy"), unchanged={"noisy.npy": "precious"}),
    Case("sim-matrix-out-read-only", {}, SIM + ["--noise-matrix-out", "/proc/labelnoise-test/nm.npy"], EXIT_OUTPUT, ("--noise-matrix-out", "/proc"), ("noisy.npy",)),
    Case("sim-matrix-out-same", {}, SIM + ["--noise-matrix-out", "{t}/noisy.npy"], EXIT_USAGE, ("--noise-matrix-out",)),
    Case("sim-malicious-cifar", {"root/cifar-100-python": "malicious-cifar100"}, ["simulate", "--dataset", "cifar100", "--noise", "symmetric:0.2", "--out", "{t}/noisy.npy", "--no-download", "--data-root", "{t}/root"], EXIT_INPUT, ("cifar-100-python", "refused"), ("noisy.npy", "PWNED")),
    Case("sim-missing-cifar", {}, ["simulate", "--dataset", "cifar100", "--noise", "symmetric:0.2", "--out", "{t}/noisy.npy", "--no-download", "--data-root", "{t}/root"], EXIT_INPUT, ("cifar-100-python",)),
    # ---------------------------------------------------------------- consensus
    Case("con-truncated", {"bad.npy": "truncated"}, ["consensus", "--annotations", "{t}/bad.npy", "--out", "{t}/cons"], EXIT_INPUT, ("--annotations", "bad.npy"), ("cons",)),
    Case("con-pickled", {"bad.npy": "pickle-npy"}, ["consensus", "--annotations", "{t}/bad.npy", "--out", "{t}/cons"], EXIT_INPUT, ("--annotations", "pickle"), ("cons", "PWNED")),
    Case("con-csv-empty", {"a.csv": "csv-empty"}, ["consensus", "--annotations", "{t}/a.csv", "--out", "{t}/cons"], EXIT_INPUT, ("--annotations", "a.csv"), ("cons",)),
    Case("con-csv-columns", {"a.csv": "ann-csv-columns"}, ["consensus", "--annotations", "{t}/a.csv", "--out", "{t}/cons"], EXIT_USAGE, ("--annotations", "annotator_id"), ("cons",)),
    Case("con-label-range", {"a.npy": "ann-range"}, ["consensus", "--annotations", "{t}/a.npy", "--out", "{t}/cons", "--num-classes", "3"], EXIT_USAGE, ("7",), ("cons",)),
    Case("con-no-labels", {"a.npy": "ann-none"}, ["consensus", "--annotations", "{t}/a.npy", "--out", "{t}/cons"], EXIT_USAGE, ("label",), ("cons",)),
    Case("con-pp-nan", {"bad.npy": "nan"}, CON + ["--pred-probs", "{t}/bad.npy"], EXIT_USAGE, ("pred_probs", "nan"), ("cons",)),
    Case("con-pp-rows", {"bad.npy": "short"}, CON + ["--pred-probs", "{t}/bad.npy"], EXIT_USAGE, ("pred_probs",), ("cons",)),
    Case("con-pp-missing", {}, CON + ["--pred-probs", "{t}/nope.npy"], EXIT_INPUT, ("--pred-probs", "nope.npy"), ("cons",)),
    Case("con-out-is-file", {"cons": "a-file"}, CON, EXIT_OUTPUT, ("--out", "cons", "not a folder"), unchanged={"cons": "not a folder"}),
    Case("con-out-read-only", {}, ["consensus", "--annotations", "{t}/ann.npy", "--out", "/proc/labelnoise-test"], EXIT_OUTPUT, ("--out", "/proc")),
    Case("con-method", {}, CON + ["--method", "bogus"], EXIT_USAGE, ("--method", "bogus"), ("cons",)),
    # ---------------------------------------------------------------- audit (--pred-probs: no training)
    Case("aud-pp-truncated", {"bad.npy": "truncated"}, ["audit", "--pred-probs", "{t}/bad.npy", "--labels", "{t}/labels.npy", "--out", "{t}/audit"], EXIT_INPUT, ("--pred-probs", "bad.npy"), ("audit",)),
    Case("aud-pp-pickled", {"bad.npy": "pickle-npy"}, ["audit", "--pred-probs", "{t}/bad.npy", "--labels", "{t}/labels.npy", "--out", "{t}/audit"], EXIT_INPUT, ("--pred-probs", "pickle"), ("audit", "PWNED")),
    Case("aud-pp-nan", {"bad.npy": "nan"}, ["audit", "--pred-probs", "{t}/bad.npy", "--labels", "{t}/labels.npy", "--out", "{t}/audit"], EXIT_USAGE, ("--pred-probs", "nan"), ("audit",)),
    Case("aud-labels-rows", {"l.npy": "labels-2d"}, ["audit", "--pred-probs", "{t}/pp.npy", "--labels", "{t}/l.npy", "--out", "{t}/audit"], EXIT_USAGE, ("labels",), ("audit",)),
    Case("aud-labels-missing", {}, ["audit", "--pred-probs", "{t}/pp.npy", "--labels", "{t}/nope.npy", "--out", "{t}/audit"], EXIT_INPUT, ("--labels", "nope.npy"), ("audit",)),
    Case("aud-resume-foreign-folder", {"audit": "report-folder"}, AUD + ["--resume"], EXIT_OUTPUT, ("--out", "labelnoise-audit.json", "--resume"),
         unchanged={"audit/report.html": "my own report", "audit/issues.csv": "my own issues"}),
    Case("aud-out-not-empty", {"audit": "report-folder"}, AUD, EXIT_OUTPUT, ("--out", "not empty"), unchanged={"audit/report.html": "my own report"}),
    Case("aud-out-is-file", {"audit": "a-file"}, AUD, EXIT_OUTPUT, ("--out", "not a folder"), unchanged={"audit": "not a folder"}),
    Case("aud-out-read-only", {}, ["audit", "--pred-probs", "{t}/pp.npy", "--labels", "{t}/labels.npy", "--out", "/proc/labelnoise-test"], EXIT_OUTPUT, ("--out", "/proc")),
    Case("aud-folds", {}, AUD + ["--folds", "1"], EXIT_USAGE, ("folds",), ("audit",)),
    Case("aud-dataset-missing", {}, ["audit", "{t}/no-such-folder", "--out", "{t}/audit"], EXIT_INPUT, ("no-such-folder",), ("audit",)),
    Case("aud-table-empty", {"t.csv": "csv-empty"}, ["audit", "{t}/t.csv", "--label-column", "y", "--out", "{t}/audit"], EXIT_INPUT, ("t.csv", "empty"), ("audit",)),
    Case("aud-embeddings-nan", {"x.npz": "npz-nan-X"}, ["audit", "{t}/x.npz", "--out", "{t}/audit"], EXIT_USAGE, ("x.npz", "NaN"), ("audit",)),
    # ---------------------------------------------------------------- train DATASET (not cifar10)
    Case("train-table-label-column-missing", {"l.csv": "csv-labels"}, ["train", "{t}/l.csv", "--label-column", "y", "--out", "{t}/run"], EXIT_USAGE, ("'y'", "l.csv"), ("run",)),
    Case("train-table-no-label-column", {}, ["train", "{t}/ann.csv", "--out", "{t}/run"], EXIT_USAGE, ("ann.csv", "--label-column"), ("run",)),
    Case("train-table-no-features", {"l.csv": "csv-labels"}, ["train", "{t}/l.csv", "--label-column", "label", "--out", "{t}/run"], EXIT_USAGE, ("l.csv", "no feature column"), ("run",)),
    Case("train-val-fraction", {}, ["train", "{t}/ann.csv", "--label-column", "label", "--val-fraction", "1.5", "--out", "{t}/run"], EXIT_USAGE, ("--val-fraction", "1.5"), ("run",)),
    Case("train-empty-image-folder", {"img": "folder"}, ["train", "{t}/img", "--out", "{t}/run"], EXIT_USAGE, ("img", "class subfolders"), ("run",)),
    Case("train-embeddings-nan", {"x.npz": "npz-nan-X"}, ["train", "{t}/x.npz", "--out", "{t}/run"], EXIT_USAGE, ("x.npz", "NaN"), ("run",)),
    Case("train-embeddings-pickled", {"x.npz": "pickle-npz"}, ["train", "{t}/x.npz", "--out", "{t}/run"], EXIT_INPUT, ("x.npz", "pickle"), ("run", "PWNED")),
    Case("train-dataset-missing", {}, ["train", "{t}/no-such-folder", "--out", "{t}/run"], EXIT_INPUT, ("no-such-folder",), ("run",)),
    Case("train-test-missing", {}, ["train", "{t}/ann.csv", "--label-column", "label", "--test", "{t}/nope.csv", "--out", "{t}/run"], EXIT_INPUT, ("nope.csv",), ("run",)),
    Case("train-test-other-kind", {"x.npz": "npz-nan-X"}, ["train", "{t}/ann.csv", "--label-column", "label", "--test", "{t}/x.npz", "--out", "{t}/run"], EXIT_USAGE, ("--test", "x.npz", "kind"), ("run",)),
    Case("train-num-classes-table", {}, ["train", "{t}/ann.csv", "--label-column", "label", "--num-classes", "5", "--out", "{t}/run"], EXIT_USAGE, ("--num-classes", ".npz"), ("run",)),
    Case("train-noise-on-table", {}, ["train", "{t}/ann.csv", "--label-column", "label", "--noise", "symmetric:0.2", "--out", "{t}/run"], EXIT_USAGE, ("--noise", "cifar10"), ("run",)),
    Case("train-test-on-cifar10", {}, ["train", "cifar10", "--noise", "symmetric:0.2", "--test", "{t}/ann.csv", "--out", "{t}/run"], EXIT_USAGE, ("--test", "cifar10"), ("run",)),
    Case("train-out-not-empty", {"run": "report-folder"}, ["train", "{t}/ann.csv", "--label-column", "label", "--out", "{t}/run"], EXIT_OUTPUT, ("--out", "not empty"), unchanged={"run/report.html": "my own report"}),
]


def run_cli(args: list, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m labelnoise ARGS`` in a subprocess (stdin closed, no progress bars)."""
    env = {**os.environ, "LABELNOISE_DATA": str(cwd / "root"), "TQDM_DISABLE": "1"}
    env.pop("LABELNOISE_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "labelnoise", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def _tmp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(".labelnoise-tmp-")]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_cli_bad_input(case: Case, tmp_path: Path):
    _good(tmp_path)
    for name, kind in case.files.items():
        _write(tmp_path, name, kind)
    args = [a.replace("{t}", str(tmp_path)) for a in case.args]
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    proc = run_cli(args, tmp_path)
    err = proc.stderr
    assert proc.returncode == case.code, (proc.returncode, err, proc.stdout)
    assert "Traceback" not in err + proc.stdout
    assert "Aborted" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("Error")]
    assert len(lines) == 1, err
    for word in case.says:
        assert word in lines[0], (word, lines[0])
    for name in case.absent:
        assert not (tmp_path / name).exists(), name
    for name, text in case.unchanged.items():
        assert (tmp_path / name).read_text() == text
    assert not _tmp_files(tmp_path)
    # nothing new under a final name, except folders a case's own writer made earlier
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert after == before, sorted(set(after) - set(before))


def test_uniform_pred_probs_warn_in_one_line(tmp_path: Path):
    _good(tmp_path)
    _write(tmp_path, "u.npy", "uniform")
    proc = run_cli(fi(pred_probs="{t}/u.npy") and
                   [a.replace("{t}", str(tmp_path)) for a in fi(pred_probs="{t}/u.npy")], tmp_path)
    assert proc.returncode == 0, proc.stderr
    warning = [ln for ln in proc.stderr.splitlines() if ln.startswith("Warning")]
    assert warning and "same probability vector" in warning[0] and "cannot be trusted" in warning[0]
    assert "Traceback" not in proc.stderr


# ------------------------------------------------------------------------ planted checkpoints
def _image_folder(root: Path, n_per_class: int = 6) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, name in enumerate(["cat", "dog"]):
        (root / name).mkdir(parents=True)
        for i in range(n_per_class):
            pixels = rng.integers(0, 60, (16, 16, 3)) + 120 * c
            Image.fromarray(pixels.astype(np.uint8)).save(root / name / f"{i}.png")
    return root


def test_audit_resume_refuses_a_planted_checkpoint(tmp_path: Path):
    """A crafted fold checkpoint in an audit folder never runs: refused without a manifest,
    and refused by torch.load(weights_only=True) with a forged manifest."""
    images = _image_folder(tmp_path / "images")
    out = tmp_path / "audit"
    args = [str(images), "--model", "resnet8", "--epochs", "1", "--folds", "2", "--out", str(out),
            "--no-progress"]
    first = run_cli(["audit", *args], tmp_path, timeout=300)
    assert first.returncode == 0, first.stderr
    folds = out / "cache" / "folds"
    (folds / "fold_0.npz").unlink()
    planted = folds / "fold_0_checkpoint" / "checkpoint.pt"
    _write(tmp_path, str(planted.relative_to(tmp_path)), "malicious-pt")
    proc = run_cli(["audit", *args, "--resume"], tmp_path, timeout=300)
    assert proc.returncode == EXIT_USAGE and "Traceback" not in proc.stderr
    assert "checkpoint.json" in proc.stderr and "not loaded" in proc.stderr
    assert not (tmp_path / "PWNED").exists()
    # a forged manifest gets the file as far as torch.load(weights_only=True), which refuses it
    import json

    from labelnoise.training.engine import CHECKPOINT_FORMAT, CHECKPOINT_VERSION

    (planted.parent / "checkpoint.json").write_text(json.dumps(
        {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "config": None, "data": None}))
    proc = run_cli(["audit", *args, "--resume"], tmp_path, timeout=300)
    assert proc.returncode == EXIT_USAGE and "Traceback" not in proc.stderr
    assert not (tmp_path / "PWNED").exists()


def test_checkpointer_refuses_code_even_with_a_matching_manifest(tmp_path: Path):
    import torch

    from labelnoise.training import engine

    ckpt = engine.Checkpointer(tmp_path, False, {"method": "x"})
    ckpt.save({"weights": torch.zeros(2)})
    assert engine.Checkpointer(tmp_path, True, {"method": "x"}).load()["weights"].shape == (2,)
    _write(tmp_path, "checkpoint.pt", "malicious-pt")  # manifest stays valid
    with pytest.raises(ValueError, match="cannot be loaded safely"):
        engine.Checkpointer(tmp_path, True, {"method": "x"}).load()
    assert not (tmp_path / "PWNED").exists()
    with pytest.raises(ValueError, match="other settings"):
        engine.Checkpointer(tmp_path, True, {"method": "y"}).load()


def test_corrupt_image_in_audited_folder(tmp_path: Path):
    images = _image_folder(tmp_path / "images", n_per_class=3)
    (images / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    proc = run_cli(["audit", str(images), "--model", "resnet8", "--epochs", "1", "--folds", "2",
                    "--out", str(tmp_path / "audit"), "--no-progress"], tmp_path, timeout=300)
    assert proc.returncode == EXIT_INPUT, proc.stderr
    assert "broken.png" in proc.stderr and "Traceback" not in proc.stderr
    assert "--skip-unreadable" in proc.stderr
    assert not (tmp_path / "audit").exists()  # a failed audit leaves nothing; a rerun is not refused


# ------------------------------------------------------------------------ train
def test_train_bad_arguments_leave_nothing(tmp_path: Path, data_root):
    out = tmp_path / "run"
    base = ["train", "--data-root", str(data_root), "--out", str(out), "--model", "resnet8",
            "--epochs", "1", "--subset", "64", "--test-subset", "32", "--no-progress"]
    proc = run_cli(base + ["--label-set", "bogus"], tmp_path)
    assert proc.returncode == EXIT_USAGE and "bogus" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()  # so the next run in the same folder is not refused
    proc = run_cli(base + ["--noise", "symmetric:0.2", "--out", "/proc/labelnoise-test"], tmp_path)
    assert proc.returncode == EXIT_OUTPUT and "/proc" in proc.stderr


def test_train_resume_refuses_bad_configs_and_planted_checkpoints(tmp_path: Path, data_root):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{not json")
    proc = run_cli(["train", "--resume", str(run)], tmp_path)
    assert proc.returncode == EXIT_USAGE and "config.json" in proc.stderr
    assert "Traceback" not in proc.stderr
    (run / "config.json").write_text('{"method": "standard"}')
    proc = run_cli(["train", "--resume", str(run)], tmp_path)
    assert proc.returncode == EXIT_USAGE and "missing" in proc.stderr
    # a complete config next to a checkpoint that this library did not write
    import json

    cfg = dict(dataset="cifar10", noise="symmetric:0.2", label_set=None, method="standard",
               candidates=None, loss="ce", model="resnet8", epochs=1, batch_size=None, lr=None,
               forget_rate=None, lambda_u=None, warmup_epochs=None, subset=64, test_subset=32,
               data_root=str(data_root), seed=0, device="cpu")
    (run / "config.json").write_text(json.dumps(cfg))
    _write(tmp_path, "run/checkpoint.pt", "malicious-pt")
    proc = run_cli(["train", "--resume", str(run), "--no-progress"], tmp_path)
    assert proc.returncode == EXIT_USAGE and "checkpoint.json" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "PWNED").exists()


# ------------------------------------------------------------------------ API
def _api_cases():
    from labelnoise import estimate_noise, find_label_issues, noise
    from labelnoise import label_quality_scores as lqs_fn
    from labelnoise._io import InputFileError, read_npy
    from labelnoise._validation import validate_labels
    from labelnoise.datasets import load_embeddings, load_table
    from labelnoise.multiannotator import Annotations

    labels = np.arange(N) % K
    pp = np.full((N, K), 0.1)
    pp[np.arange(N), labels] = 0.8
    X = np.random.default_rng(0).normal(size=(N, 5))
    X_nan = X.copy()
    X_nan[17, 3] = np.nan
    X_inf = X.copy()
    X_inf[2, 0] = np.inf
    u64 = labels.astype(np.uint64)
    u64[4] = np.uint64(2**63)

    def call(fn, *a, **kw):
        return lambda tmp: fn(*a, **kw)

    def embeddings_nan(tmp):
        np.savez(tmp / "e.npz", X=X_nan, labels=labels)
        return load_embeddings(tmp / "e.npz")

    def table_nan(tmp):
        (tmp / "t.csv").write_text("a,b,y\n" + "".join(
            f"{i},{'nan' if i == 5 else i * 2},{i % K}\n" for i in range(N)))
        return load_table(tmp / "t.csv", "y")

    def pickled(tmp):
        _good(tmp)
        _write(tmp, "p.npy", "pickle-npy")
        return read_npy(tmp / "p.npy", "pred_probs file")

    return [
        ("instance-nan-X", call(noise.instance_dependent, X_nan, labels, 0.2, seed=0), ValueError, r"NaN.*row 17"),
        ("instance-inf-X", call(noise.instance_dependent, X_inf, labels, 0.2, seed=0), ValueError, r"row 2"),
        ("instance-nan-X-raw", call(noise.instance_dependent, X_nan, labels, 0.2, seed=0, standardize=False), ValueError, r"NaN"),
        ("symmetric-seed-str", call(noise.symmetric, labels, 0.2, seed="abc"), ValueError, r"seed"),
        ("symmetric-seed-negative", call(noise.symmetric, labels, 0.2, seed=-3), ValueError, r"seed"),
        ("symmetric-seed-float", call(noise.symmetric, labels, 0.2, seed=1.5), ValueError, r"seed"),
        ("labels-uint64", call(validate_labels, u64), ValueError, r"labels\[4\] = 9223372036854775808"),
        ("labels-huge-float", call(validate_labels, np.array([0.0, 1e30])), ValueError, r"labels\[1\]"),
        ("min-examples-str", call(find_label_issues, labels, pp, filter_by="prune_by_noise_rate", min_examples_per_class="a"), ValueError, r"min_examples_per_class"),
        ("min-examples-negative", call(find_label_issues, labels, pp, filter_by="both", min_examples_per_class=-5), ValueError, r"min_examples_per_class"),
        ("frac-noise-nan", call(find_label_issues, labels, pp, filter_by="both", frac_noise=float("nan")), ValueError, r"frac_noise"),
        ("pp-nan", call(estimate_noise, labels, np.where(np.arange(N * K).reshape(N, K) == 7, np.nan, pp)), ValueError, r"pred_probs"),
        ("embeddings-nan", embeddings_nan, ValueError, r"e\.npz.*NaN.*row 17"),
        ("table-nan", table_nan, ValueError, r"'b'.*row 5"),
        ("npy-pickle", pickled, InputFileError, r"pred_probs file.*pickle"),
        ("noise-matrix-nan", call(noise.from_noise_matrix, labels, np.where(np.eye(K) == 0, np.nan, 1.0), seed=0), ValueError, r"noise_matrix"),
        ("posterior-noise-matrix-inf", call(lqs_fn, labels, pp, method="noise_posterior", noise_matrix=np.full((K, K), np.inf)), ValueError, r"noise_matrix"),
        ("annotations-mixed-ids", call(Annotations.from_long, [0, 1, 2], ["a", 1, "b"], [0, 1, 0]), ValueError, r"annotator_ids"),
    ]


API_CASES = _api_cases()


@pytest.mark.parametrize("case", API_CASES, ids=[c[0] for c in API_CASES])
def test_api_bad_input(case, tmp_path: Path):
    _, fn, exc_type, pattern = case
    with pytest.raises(exc_type, match=pattern) as info:
        fn(tmp_path)
    assert "\n" not in str(info.value).strip()
    assert not (tmp_path / "PWNED").exists()


def test_api_nested_list_pred_probs_are_one_matrix_not_an_ensemble():
    from labelnoise import find_label_issues

    labels = [0, 1, 0, 1, 1, 0]
    rows = [[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.1, 0.9], [0.95, 0.05], [0.6, 0.4]]
    mask = find_label_issues(labels, rows, filter_by="predicted_neq_given")
    assert mask.tolist() == [False, False, False, False, True, False]


def test_api_uniform_pred_probs_warn():
    from labelnoise import estimate_noise
    from labelnoise._validation import PredProbsWarning

    labels = np.arange(N) % K
    with pytest.warns(PredProbsWarning, match="cannot be trusted"):
        estimate_noise(labels, np.full((N, K), 1.0 / K))
    with warnings.catch_warnings():  # informative pred_probs: no such warning
        warnings.simplefilter("error", PredProbsWarning)
        pp = np.full((N, K), 0.1)
        pp[np.arange(N), labels] = 0.8
        estimate_noise(labels, pp)


def test_there_are_at_least_60_bad_inputs():
    assert len(CASES) + len(API_CASES) >= 60


def test_read_json_names_the_file_and_what_it_should_be(tmp_path):
    """The one reader of labelnoise's own JSON files (manifests, run settings): a missing
    file stays a FileNotFoundError for the caller to explain; anything unreadable is one
    InputFileError naming the file, what it should be and why; a corrupt resume manifest
    reaches the user through it."""
    from sklearn.linear_model import LogisticRegression

    from labelnoise._io import InputFileError, read_json

    good = tmp_path / "good.json"
    good.write_text('{"a": [1, 2]}', encoding="utf-8")
    assert read_json(good, "a manifest") == {"a": [1, 2]}
    with pytest.raises(FileNotFoundError):
        read_json(tmp_path / "none.json", "a manifest")
    for name, data in (("broken.json", b'{"a": '), ("latin1.json", b'{"a": "\xe9"}')):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InputFileError, match=rf"{name} is not a manifest \(.+\)"):
            read_json(tmp_path / name, "a manifest")
    from labelnoise.crossval import out_of_sample_pred_probs

    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "crossval.json").write_text("{", encoding="utf-8")
    x = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(InputFileError, match="cache_dir .*crossval.json is not a valid "
                                             "cross-validation manifest .*delete cache_dir"):
        out_of_sample_pred_probs(x, np.arange(20) % 2, LogisticRegression(), folds=2,
                                 cache_dir=cache)


def test_a_table_that_is_not_utf8_says_how_to_save_it(tmp_path):
    """A spreadsheet's CSV in Latin-1 (a French review: 'café') is refused in one line that
    says what it is and how to fix it, never read with a guessed encoding."""
    from click.testing import CliRunner

    from labelnoise.cli import main

    (tmp_path / "labels.csv").write_bytes(b"text,label\ncaf\xe9 bon,pos\nmauvais,neg\n")
    np.save(tmp_path / "pp.npy", np.array([[0.2, 0.8], [0.9, 0.1]]))
    res = CliRunner().invoke(main, ["find-issues", "--labels", str(tmp_path / "labels.csv"),
                                    "--label-column", "label", "--pred-probs",
                                    str(tmp_path / "pp.npy"), "--out", str(tmp_path / "i.csv")])
    assert res.exit_code == 3
    assert res.output.strip().splitlines()[-1].endswith(
        "labels.csv: not UTF-8 text (it holds the byte 0xe9); save it as UTF-8 (a "
        "spreadsheet's 'CSV UTF-8')")
    # a ';'-separated export (decimal commas) is one column when read with commas
    (tmp_path / "semi.csv").write_text("text;label;score\ncafe;pos;0,5\nmauvais;neg;1,5\n")
    for command in (["find-issues", "--labels", str(tmp_path / "semi.csv"), "--label-column",
                     "label", "--pred-probs", str(tmp_path / "pp.npy"), "--out",
                     str(tmp_path / "i.csv")],
                    ["audit", str(tmp_path / "semi.csv"), "--label-column", "label", "--out",
                     str(tmp_path / "a")]):
        res = CliRunner().invoke(main, command)
        assert res.exit_code == 3 and res.output.strip().splitlines()[-1].endswith(
            "semi.csv: one column named 'text;label;score': the file looks ';'-separated; "
            "save it comma-separated (with decimal points), or as .tsv"), res.output
