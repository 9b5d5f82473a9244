"""``labelnoise simulate`` and ``labelnoise datasets``."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from labelnoise import noise
from labelnoise.cli._errors import EXIT_INPUT
from labelnoise.cli.datasets_cmd import datasets
from labelnoise.cli.simulate import simulate
from labelnoise.datasets import load_cifar10


@pytest.fixture(scope="module")
def train_labels(data_root):
    return load_cifar10("train", data_root=data_root, download=False, load_images=False).labels


def run(args):
    return CliRunner().invoke(simulate, [str(a) for a in args], catch_exceptions=False)


def test_simulate_cifar10_symmetric(data_root, train_labels, tmp_path):
    out = tmp_path / "noisy.npy"
    result = run(["--dataset", "cifar10", "--noise", "symmetric:0.5", "--seed", "0",
                  "--out", out, "--data-root", data_root])
    assert result.exit_code == 0, result.output
    noisy = np.load(out)
    assert noisy.dtype == np.int64 and noisy.shape == (50_000,)
    # the CLI is the library call with the same seed
    expected = noise.symmetric(train_labels, 0.5, num_classes=10, seed=0).labels
    np.testing.assert_array_equal(noisy, expected)
    realised = np.mean(noisy != train_labels)
    assert abs(realised - 0.5) < 5 * np.sqrt(0.25 / 50_000)
    assert f"realised noise rate {realised:.4f}" in result.output


def test_simulate_refuses_to_overwrite(data_root, tmp_path):
    out = tmp_path / "noisy.npy"
    out.write_bytes(b"precious")
    args = ["--dataset", "cifar10", "--noise", "asymmetric:0.4", "--out", out,
            "--data-root", data_root]
    result = CliRunner().invoke(simulate, [str(a) for a in args])
    assert result.exit_code != 0 and "--force" in result.output
    assert out.read_bytes() == b"precious"
    result = run(args + ["--force", "--noise-matrix-out", tmp_path / "nm.npy"])
    assert result.exit_code == 0, result.output
    nm = np.load(tmp_path / "nm.npy")
    assert nm.shape == (10, 10) and np.allclose(nm.sum(axis=0), 1)
    assert abs(nm[1, 9] - 0.4) < 0.03  # truck -> automobile


@pytest.mark.parametrize("spec", ["symmetric", "gaussian:0.2", "symmetric:1.5", "pairflip:x"])
def test_simulate_rejects_bad_noise_spec(tmp_path, spec):
    result = CliRunner().invoke(simulate, ["--dataset", "cifar10", "--noise", spec,
                                           "--out", str(tmp_path / "o.npy")])
    assert result.exit_code == 2 and "--noise" in result.output
    assert not (tmp_path / "o.npy").exists()


def test_simulate_labels_file_pairflip_and_npz_instance(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 3_000)
    np.save(tmp_path / "labels.npy", labels)
    result = run(["--dataset", tmp_path / "labels.npy", "--noise", "pairflip:0.3", "--seed", "2",
                  "--out", tmp_path / "a.npy"])
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"),
                                  noise.pair_flip(labels, 0.3, num_classes=4, seed=2).labels)
    X = rng.normal(size=(3_000, 5))
    np.savez(tmp_path / "emb.npz", X=X, labels=labels)
    result = run(["--dataset", tmp_path / "emb.npz", "--noise", "instance:0.4",
                  "--out", tmp_path / "b.npy"])
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(np.load(tmp_path / "b.npy"),
                                  noise.instance_dependent(X, labels, 0.4, num_classes=4, seed=0).labels)
    result = CliRunner().invoke(simulate, ["--dataset", str(tmp_path / "labels.npy"), "--noise",
                                           "asymmetric:0.2", "--out", str(tmp_path / "c.npy")])
    assert result.exit_code == 2 and "cifar10" in result.output


def test_simulate_missing_data_is_a_clean_error(tmp_path):
    result = CliRunner().invoke(simulate, ["--dataset", "cifar100", "--noise", "symmetric:0.2",
                                           "--out", str(tmp_path / "o.npy"), "--no-download",
                                           "--data-root", str(tmp_path)])
    assert result.exit_code == EXIT_INPUT and result.exception is not None  # a missing input
    assert "cifar-100-python" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(simulate, ["--dataset", "imagenet", "--noise", "symmetric:0.2",
                                           "--out", str(tmp_path / "o.npy")])
    assert result.exit_code == 2 and "imagenet" in result.output
    assert not (tmp_path / "o.npy").exists()


def _rows(output: str) -> dict:
    """The rows of the printed table of ``labelnoise datasets``, by dataset name."""
    return {line.split("│")[1].strip(): line for line in output.splitlines()
            if line.count("│") > 3 and line.split("│")[1].strip()}


def test_datasets_lists_the_data_root(data_root, tmp_path):
    result = CliRunner().invoke(datasets, ["--data-root", str(data_root)])
    assert result.exit_code == 0, result.output
    lines = _rows(result.output)
    assert "available" in lines["cifar10"] and "available" in lines["cifar10n"]
    assert "missing" in lines["cifar100"]
    empty = CliRunner().invoke(datasets, ["--data-root", str(tmp_path / "none")])
    assert empty.exit_code == 0 and "does not exist" in empty.output


def test_modules_do_not_import_torch():
    code = ("import sys; import labelnoise.noise, labelnoise.datasets, labelnoise.cli.simulate, "
            "labelnoise.cli.datasets_cmd; assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_simulate_a_table_then_audit_it_against_its_true_labels(tmp_path):
    """A table with string labels: the noisy table keeps every column, puts the noisy labels
    (class names) in the label column and the originals in <label>_true, exactly as
    labelnoise.noise draws them on the sorted classes; the audit then measures its flags
    against that column, which is never one of its features."""
    import pandas as pd
    from sklearn.datasets import load_wine

    from labelnoise.cli import main

    x, y = load_wine(return_X_y=True)
    names = np.array(["barolo", "grignolino", "barbera"])
    frame = pd.DataFrame(x[:, :6], columns=[f"f{i}" for i in range(6)])
    frame.insert(0, "bottle", [f"b{i}" for i in range(len(y))])
    frame["cultivar"] = names[y]
    frame.to_csv(tmp_path / "wine.csv", index=False)
    out = tmp_path / "noisy.csv"
    res = CliRunner().invoke(simulate, ["--dataset", str(tmp_path / "wine.csv"),
                                    "--label-column", "cultivar", "--noise", "symmetric:0.2",
                                    "--seed", "3", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "classes (the order of a noise matrix): barbera, barolo, grignolino" in res.output
    noisy = pd.read_csv(out)
    assert list(noisy.columns) == ["bottle", *[f"f{i}" for i in range(6)], "cultivar",
                                   "cultivar_true"]
    assert (noisy["cultivar_true"] == names[y]).all()
    classes = sorted(names)
    expected = noise.symmetric(np.searchsorted(classes, names[y]), 0.2, num_classes=3, seed=3)
    np.testing.assert_array_equal(noisy["cultivar"], np.array(classes)[expected.labels])
    changed = int((noisy["cultivar"] != noisy["cultivar_true"]).sum())
    assert f"{changed} of {len(y)} labels changed" in res.output and 20 < changed < 52
    res = CliRunner().invoke(main, ["audit", str(out), "--label-column", "cultivar",
                                    "--true-label-column", "cultivar_true", "--id-column",
                                    "bottle", "--out", str(tmp_path / "audit"), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert f"true noise rate          │ {changed / len(y):.4f}" in res.output
    assert "precision / recall / F1" in res.output and "AUPRC" in res.output
    report = (tmp_path / "audit" / "report.html").read_text()
    assert "<th>cultivar_true</th>" not in report  # not a feature, so not a shown column
    # refusals: a table needs --label-column and a table --out; the _true column must be free
    for args, hint in (([], "is a table: give --label-column"),
                       (["--label-column", "cultivar", "--out", str(tmp_path / "n.npy")],
                        "saved as a table: .csv or .tsv"),
                       (["--label-column", "nope"], "column 'nope' not in wine.csv")):
        res = CliRunner().invoke(simulate, ["--dataset", str(tmp_path / "wine.csv"),
                                        "--noise", "symmetric:0.2",
                                        *(args if "--out" in args else
                                          [*args, "--out", str(tmp_path / "n.csv")])])
        assert res.exit_code == 2 and hint in res.output, res.output
    res = CliRunner().invoke(simulate, ["--dataset", str(out), "--label-column",
                                    "cultivar", "--noise", "symmetric:0.2", "--out",
                                    str(tmp_path / "n.csv")])
    assert res.exit_code == 2 and "already has a column 'cultivar_true'" in res.output
    np.save(tmp_path / "T4.npy", np.eye(4))  # a noise matrix of 4 classes for 3
    res = CliRunner().invoke(simulate, ["--dataset", str(tmp_path / "wine.csv"),
                                    "--label-column", "cultivar", "--noise-matrix",
                                    str(tmp_path / "T4.npy"), "--out", str(tmp_path / "n.csv")])
    assert res.exit_code == 2 and "--noise-matrix" in res.output, res.output
    assert not (tmp_path / "n.csv").exists()


def test_simulate_a_npy_of_class_names_writes_class_names(tmp_path):
    """Labels saved as strings are simulated over their sorted classes and written back as
    strings; an array output must be named .npy (np.save would write NumPy bytes into a
    .csv)."""
    names = np.array(["cat", "dog", "eel"])
    labels = names[np.arange(300) % 3]
    np.save(tmp_path / "y.npy", labels)
    matrix = np.full((3, 3), 0.1) + 0.7 * np.eye(3)
    np.save(tmp_path / "T.npy", matrix)
    res = CliRunner().invoke(simulate, ["--dataset", str(tmp_path / "y.npy"),
                                    "--noise-matrix", str(tmp_path / "T.npy"),
                                    "--out", str(tmp_path / "noisy.npy")])
    assert res.exit_code == 0, res.output
    assert "classes (the order of a noise matrix): cat, dog, eel" in res.output
    noisy = np.load(tmp_path / "noisy.npy")
    assert noisy.dtype.kind == "U" and set(noisy) <= set(names)
    assert 0.1 < np.mean(noisy != labels) < 0.3  # expected 0.2
    for given in names:  # each flip goes to another class, as the matrix says
        assert set(noisy[labels == given]) == set(names)
    res = CliRunner().invoke(simulate, ["--dataset", str(tmp_path / "y.npy"),
                                    "--noise", "symmetric:0.2", "--out", str(tmp_path / "n.csv")])
    assert res.exit_code == 2 and "give a .npy name" in res.output
    assert not (tmp_path / "n.csv").exists()
    np.save(tmp_path / "one.npy", np.array(["cat"] * 5))
    res = CliRunner().invoke(simulate, ["--dataset", str(tmp_path / "one.npy"),
                                    "--noise", "symmetric:0.2", "--out", str(tmp_path / "o.npy")])
    assert res.exit_code == 2 and "one distinct value ('cat')" in res.output


def test_datasets_tells_an_image_folder_from_another_folder(tmp_path):
    from PIL import Image

    root = tmp_path / "root"
    for cls in ("cat", "dog"):
        (root / "pets" / cls).mkdir(parents=True)
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(root / "pets" / cls / "0.png")
    (root / "notes" / "drafts").mkdir(parents=True)
    (root / "notes" / "drafts" / "a.txt").write_text("text")
    result = CliRunner().invoke(datasets, ["--data-root", str(root)])
    assert result.exit_code == 0, result.output
    lines = _rows(result.output)
    assert "load_image_folder" in lines["pets"] and "2 class folders" in lines["pets"]
    assert "available" in lines["pets"]
    assert "other" in lines["notes"] and "load_image_folder" not in lines["notes"]
