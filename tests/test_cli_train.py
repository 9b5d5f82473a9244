"""``labelnoise train`` end to end on a tiny subset of the real CIFAR-10 / CIFAR-10N data."""

import json

import pytest
import torch
from _resume import interrupt_after
from click.testing import CliRunner

from labelnoise.cli import main

torch.set_num_threads(2)

TINY = ["--model", "resnet8", "--epochs", "2", "--subset", "128", "--test-subset", "64",
        "--batch-size", "32", "--lr", "0.05", "--no-progress", "--device", "cpu"]


def _metrics(folder):
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


def test_train_cli_standard_cifar10n(data_root, tmp_path):
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["train", "--label-set", "worse", "--method", "standard",
                                    "--loss", "gce", "--out", str(out), "--data-root",
                                    str(data_root), *TINY])
    assert res.exit_code == 0, res.output
    rows = _metrics(out)
    assert [r["epoch"] for r in rows] == [1, 2]
    final = json.loads((out / "final.json").read_text())
    assert final["final_test_acc"] == rows[-1]["test_acc"]
    assert final["best_test_acc"] == max(r["test_acc"] for r in rows)
    assert final["n_train"] == 128 and final["n_test"] == 64
    assert final["noise_rate"] == pytest.approx(0.40, abs=0.1)  # worse: ~40% on the subset
    assert (out / "checkpoint.pt").exists() and "final clean test accuracy" in res.output
    # the run's network read back (training.load_run) scores the run's own test subset as
    # the run did, and `labelnoise predict` applies it to a folder of images
    import numpy as np
    from PIL import Image

    from labelnoise.cli.train import load_data
    from labelnoise.training import load_run

    back = load_run(out, device="cpu")
    _, _, _, x_test, y_test, _ = load_data(json.loads((out / "config.json").read_text()))
    pp = back.predict_proba(x_test)
    assert np.mean(pp.argmax(1) == y_test) == pytest.approx(final["final_test_acc"], abs=1e-9)
    assert back.class_names[:2] == ["airplane", "automobile"] and back.selected_epoch == 2
    (tmp_path / "new").mkdir()
    for i in range(3):
        Image.fromarray(x_test[i]).save(tmp_path / "new" / f"{i}.png")
    res = CliRunner().invoke(main, ["predict", str(out), str(tmp_path / "new"), "--out",
                                    str(tmp_path / "p.npy"), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), pp[:3], atol=1e-5)
    # refuses to write into a non-empty folder
    again = CliRunner().invoke(main, ["train", "--label-set", "worse", "--out", str(out),
                                      "--data-root", str(data_root), *TINY])
    assert again.exit_code != 0 and "not empty" in again.output


def test_train_cli_resume_matches_uninterrupted(data_root, tmp_path, monkeypatch):
    args = ["train", "--noise", "symmetric:0.5", "--method", "dividemix", "--warmup-epochs",
            "1", "--data-root", str(data_root), *TINY]
    full = tmp_path / "full"
    assert CliRunner().invoke(main, [*args, "--out", str(full)]).exit_code == 0
    part = tmp_path / "part"
    with monkeypatch.context() as m:
        interrupt_after(m)
        crashed = CliRunner().invoke(main, [*args, "--out", str(part)])
    assert crashed.exit_code != 0 and not (part / "final.json").exists()
    res = CliRunner().invoke(main, ["train", "--resume", str(part), "--no-progress"])
    assert res.exit_code == 0, res.output
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in _metrics(full)]
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in _metrics(part)] == strip
    a = torch.load(full / "checkpoint.pt", weights_only=False)["models"]
    b = torch.load(part / "checkpoint.pt", weights_only=False)["models"]
    for sa, sb in zip(a, b):
        assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_train_cli_usage_errors(tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["train", "--out", str(tmp_path / "a")])
    assert res.exit_code != 0 and "exactly one of" in res.output
    res = runner.invoke(main, ["train", "--noise", "uniform:0.2", "--out", str(tmp_path / "b")])
    assert res.exit_code != 0 and "symmetric:RATE" in res.output
    res = runner.invoke(main, ["train", "--noise", "symmetric:0.2"])
    assert res.exit_code != 0 and "--out" in res.output
    res = runner.invoke(main, ["train", "--noise", "symmetric:0.2", "--method", "elr",
                               "--loss", "gce", "--out", str(tmp_path / "c")])
    assert res.exit_code != 0 and "--loss applies" in res.output


def test_train_cli_dataset_argument_and_deprecated_option(tmp_path):
    runner = CliRunner()
    # DATASET cifar10, or the deprecated --dataset cifar10: the CIFAR-10 run's own checks
    for args in (["cifar10"], ["--dataset", "cifar10"], ["cifar10", "--dataset", "cifar10"]):
        res = runner.invoke(main, ["train", *args, "--out", str(tmp_path / "a")])
        assert res.exit_code == 2 and "exactly one of" in res.output, args
    res = runner.invoke(main, ["train", "cifar10", "--noise", "symmetric:0.2", "--val-fraction",
                               "0.1", "--out", str(tmp_path / "b")])
    assert res.exit_code == 2 and "--val-fraction applies to an image folder" in res.output
    (tmp_path / "x.npz").write_bytes(b"")
    res = runner.invoke(main, ["train", str(tmp_path / "x.npz"), "--label-set", "worse",
                               "--out", str(tmp_path / "c")])
    assert res.exit_code == 2 and "--label-set applies to DATASET cifar10 only" in res.output
    res = runner.invoke(main, ["train", str(tmp_path / "x.npz"), "--method", "coreg",
                               "--out", str(tmp_path / "d")])
    assert res.exit_code == 2 and "candidate sets" in res.output
    res = runner.invoke(main, ["train", str(tmp_path / "x.npz"), "--model", "resnet8",
                               "--out", str(tmp_path / "e")])
    assert res.exit_code == 2 and "--model applies to images" in res.output
    assert not any((tmp_path / n).exists() for n in "abcde")


def test_train_cli_elr_on_asymmetric_noise_takes_the_papers_schedule(data_root, tmp_path):
    # ELR/config_cifar10_asym.json: lambda 1, beta 0.9, the learning rate x0.01 at 1/3 and
    # 2/3 of the run (cosine with warm restarts on symmetric noise)
    args = [a if a != "2" else "3" for a in TINY]  # 3 epochs: milestones at epochs 1 and 2
    out = tmp_path / "asym"
    res = CliRunner().invoke(main, ["train", "--noise", "asymmetric:0.4", "--method", "elr",
                                    "--out", str(out), "--data-root", str(data_root), *args])
    assert res.exit_code == 0, res.output
    assert [r["lr"] for r in _metrics(out)] == pytest.approx([0.05, 5e-4, 5e-6])
    out = tmp_path / "sym"
    res = CliRunner().invoke(main, ["train", "--noise", "symmetric:0.4", "--method", "elr",
                                    "--out", str(out), "--data-root", str(data_root), *args])
    assert res.exit_code == 0, res.output
    assert all(r["lr"] > 1e-3 for r in _metrics(out))  # restarts every 10 epochs, floor 5%


def test_forget_rate_option_takes_a_fraction_or_the_word_estimate():
    import click

    from labelnoise import training
    from labelnoise.cli.train import ForgetRate

    # the word's takers (from the registry) each take the option
    takers = training.FORGET_RATE_ESTIMATORS
    assert takers and all("forget_rate" in training.METHODS[n].options for n in takers)
    assert "coteaching" not in training.FORGET_RATE_ESTIMATORS  # ranks by its loss alone
    kind = ForgetRate()
    assert kind.convert("0.3", None, None) == 0.3 and kind.convert(0.0, None, None) == 0.0
    assert kind.convert("Estimate", None, None) == "estimate"
    for bad in ("1", "-0.1", "nan", "inf", "soon"):
        with pytest.raises(click.BadParameter):
            kind.convert(bad, None, None)
