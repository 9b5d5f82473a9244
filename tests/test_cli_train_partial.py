"""`labelnoise train --method proden|coreg --candidates FILE` and `--method rdcr` end to end."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from labelnoise import datasets
from labelnoise.cli import main


@pytest.fixture(scope="module")
def candidates(data_root, tmp_path_factory):
    """Candidate sets for the 50,000 CIFAR-10 training images: the true class plus one
    other seeded class, as .npy and as CSV."""
    rng = np.random.default_rng(0)
    true = datasets.load_cifar10("train", data_root=data_root, load_images=False).labels
    cand = np.zeros((len(true), 10), dtype=bool)
    cand[np.arange(len(true)), true] = True
    cand[np.arange(len(true)), (true + rng.integers(1, 10, len(true))) % 10] = True
    folder = tmp_path_factory.mktemp("cand")
    np.save(folder / "cand.npy", cand)
    names = np.array(datasets.CIFAR10_CLASSES)
    pd.DataFrame({"candidates": ["|".join(names[row]) for row in cand]}).to_csv(folder / "cand.csv", index=False)
    return folder, cand


def _train(args):
    return CliRunner().invoke(main, ["train", "--model", "resnet8", "--epochs", "1", "--subset", "96",
                                     "--test-subset", "64", "--batch-size", "32", "--no-progress", *args])


@pytest.mark.parametrize("method,fmt", [("proden", "npy"), ("coreg", "csv")])
def test_partial_label_methods_from_candidates(data_root, candidates, tmp_path, method, fmt):
    folder, _ = candidates
    extra = ["--warmup-epochs", "0"] if method == "coreg" else []
    res = _train(["--method", method, "--candidates", str(folder / f"cand.{fmt}"),
                  "--data-root", str(data_root), "--out", str(tmp_path / "run"), *extra])
    assert res.exit_code == 0, res.output
    final = json.loads((tmp_path / "run" / "final.json").read_text())
    assert final["method"] == method and final["n_train"] == 96 and final["n_test"] == 64
    assert 0.0 <= final["final_test_acc"] <= 1.0
    _read_back_scores_as_trained(tmp_path / "run", final)


def _read_back_scores_as_trained(run, final):
    """The run's model.pt read back (training.load_run: Co-Reg's two networks with their
    embedding heads, RDCR's with its rotation head) scores the run's test subset as the run
    did."""
    from labelnoise.cli.train import load_data
    from labelnoise.training import load_run

    _, _, _, x_test, y_test, _ = load_data(json.loads((run / "config.json").read_text()))
    pp = load_run(run, device="cpu").predict_proba(x_test)
    assert np.mean(pp.argmax(1) == y_test) == pytest.approx(final["final_test_acc"], abs=1e-9)


def test_rdcr_from_noisy_labels(data_root, tmp_path):
    res = _train(["--method", "rdcr", "--noise", "symmetric:0.5", "--data-root", str(data_root),
                  "--out", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    final = json.loads((tmp_path / "run" / "final.json").read_text())
    assert final["method"] == "rdcr"
    _read_back_scores_as_trained(tmp_path / "run", final)


def test_candidates_required_and_exclusive(data_root, candidates, tmp_path):
    folder, _ = candidates
    res = _train(["--method", "proden", "--data-root", str(data_root), "--out", str(tmp_path / "a")])
    assert res.exit_code == 2 and "needs --candidates" in res.output
    res = _train(["--method", "standard", "--candidates", str(folder / "cand.npy"),
                  "--data-root", str(data_root), "--out", str(tmp_path / "b")])
    from labelnoise.training import METHODS

    takers = " or ".join(m for m, e in METHODS.items() if e.candidates)  # from the registry
    assert "proden" in takers and "coreg" in takers
    assert res.exit_code == 2 and f"--method {takers} only" in res.output
