"""Training on your own data (labelnoise.training.fit_dataset, `labelnoise train DATASET`):
image folders, embeddings and tables made up here, any K, a noisy validation split."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from _resume import interrupt_after
from click.testing import CliRunner

from labelnoise.cli import main
from labelnoise.models import build_model
from labelnoise.training import engine, fit_dataset
from labelnoise.training.data import stratified_split

torch.set_num_threads(2)

SMALL = dict(epochs=3, batch_size=32, lr=0.05, device="cpu", progress=False)
CLI_SMALL = ["--epochs", "3", "--batch-size", "32", "--lr", "0.05", "--device", "cpu",
             "--no-progress"]
NAMES = ["cat", "dog", "eel"]


def _blobs(n: int, seed: int, noise: float = 0.0):
    """Three well separated Gaussian blobs in 5-D; a planted fraction ``noise`` of the labels
    flipped to another class. Returns (X, given labels, true labels)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    X = 4.0 * np.eye(3, 5)[y] + rng.normal(size=(n, 5)) + 10.0  # offset: standardising matters
    given = y.copy()
    flip = rng.random(n) < noise
    given[flip] = (y[flip] + rng.integers(1, 3, flip.sum())) % 3
    return X, given, y


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from PIL import Image

    root = tmp_path_factory.mktemp("data")
    X, given, true = _blobs(240, 0, noise=0.2)
    np.savez(root / "emb.npz", X=X, labels=given, true_labels=true, class_names=np.array(NAMES))
    Xt, _, yt = _blobs(120, 1)
    np.savez(root / "emb_test.npz", X=Xt, labels=yt, class_names=np.array(NAMES))
    for name, (x, y) in {"table.csv": (X, given), "table_test.csv": (Xt, yt)}.items():
        frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(5)])
        frame["y"] = np.array(NAMES)[y]
        frame.to_csv(root / name, index=False)
    rng = np.random.default_rng(2)
    for folder, per_class in (("images", 14), ("images_test", 5)):
        for c, name in enumerate(NAMES):
            (root / folder / name).mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 50, (16, 16, 3))
                pixels[..., c] += 180  # the class is the dominant colour channel
                Image.fromarray(pixels.astype(np.uint8)).save(root / folder / name / f"{i}.png")
    return root


def _load(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def _history(folder):
    return [{k: v for k, v in r.items() if k != "seconds"}
            for r in json.loads((folder / "history.json").read_text())]


def test_embeddings_with_planted_noise_are_learnt_and_the_best_epoch_selected(data, tmp_path):
    out = tmp_path / "run"
    res = fit_dataset(data / "emb.npz", test=data / "emb_test.npz", val_fraction=0.2,
                      out_dir=out, **SMALL)
    for name in ("config.json", "history.json", "model.pt", "model_best.pt", "pred_probs.npy",
                 "final.json"):
        assert (out / name).is_file(), name
    pp = np.load(out / "pred_probs.npy")
    assert pp.shape == (120, 3) and pp.dtype == np.float32
    np.testing.assert_allclose(pp.sum(1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(pp, res.pred_probs)
    history = json.loads((out / "history.json").read_text())
    assert [r["epoch"] for r in history] == [1, 2, 3]
    accs = [r["val_acc"] for r in history]
    assert all(0.0 <= a <= 1.0 for a in accs) and "test_acc" not in history[0]
    assert res.selected_epoch == int(np.argmax(accs)) + 1
    final = json.loads((out / "final.json").read_text())
    assert final["selected_epoch"] == res.selected_epoch and final["best_val_acc"] == max(accs)
    assert final["n_train"] + final["n_val"] == 240 and abs(final["n_val"] - 48) <= 2
    assert final["n_test"] == 120 and final["class_names"] == NAMES
    # 20% of the given labels are wrong, the test labels are clean: still learnt
    assert final["test_acc"] == pytest.approx(float(np.mean(pp.argmax(1) == res.test_labels)))
    assert final["test_acc"] > 0.75  # chance: 1/3
    # model.pt: the final weights, a plain state_dict; with the recorded standardisation it
    # reproduces the final network's predictions
    cfg = json.loads((out / "config.json").read_text())
    net = build_model("mlp", 3, in_features=5)
    net.load_state_dict(_load(out / "model.pt"))
    prep = cfg["preprocessing"]
    Xt = np.load(data / "emb_test.npz")["X"]
    x = ((Xt - np.array(prep["standardize_mean"])) / np.array(prep["standardize_std"]))
    mine = engine.predict_proba(net, x.astype(np.float32))
    np.testing.assert_allclose(mine, res.predict_proba(Xt, best=False), atol=1e-6)
    best = _load(out / "model_best.pt")
    assert all(torch.equal(best[k], v.cpu()) for k, v in res.best_model.state_dict().items())
    np.testing.assert_allclose(res.predict_proba(Xt), pp, atol=1e-6)


def test_image_folder_same_pred_probs_through_api_and_cli(data, tmp_path):
    api = fit_dataset(data / "images", test=data / "images_test", val_fraction=0.25,
                      out_dir=tmp_path / "api", seed=3, batch_size=16, epochs=2, lr=0.05,
                      device="cpu", progress=False)
    assert api.class_names == NAMES and api.summary["model"] == "resnet8"
    assert api.pred_probs.shape == (15, 3)
    np.testing.assert_allclose(api.pred_probs.sum(1), 1.0, atol=1e-5)
    assert len(api.val_index) == 12 and len(api.train_index) == 30  # 4 (3.5 rounded) per class
    cli = tmp_path / "cli"
    res = CliRunner().invoke(main, ["train", str(data / "images"), "--test",
                                    str(data / "images_test"), "--val-fraction", "0.25",
                                    "--seed", "3", "--batch-size", "16", "--epochs", "2",
                                    "--lr", "0.05", "--device", "cpu", "--no-progress",
                                    "--out", str(cli)])
    assert res.exit_code == 0, res.output
    assert "selected epoch" in res.output and str(cli) in res.output
    np.testing.assert_array_equal(np.load(cli / "pred_probs.npy"), api.pred_probs)
    a, b = _load(tmp_path / "api" / "model.pt"), _load(cli / "model.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert _history(cli) == _history(tmp_path / "api")


def test_ill_strong_augment_option_reaches_the_method(data, tmp_path):
    """--strong-augment crop-flip trains what fit_dataset(method_kwargs=...) trains, is saved
    in config.json, and is not the default (RandAugment) run."""
    common = dict(test=data / "images_test", method="ill", seed=1, batch_size=16, epochs=1,
                  lr=0.05, device="cpu", progress=False)
    api = fit_dataset(data / "images", out_dir=tmp_path / "api",
                      method_kwargs={"strong_augment": "crop-flip"}, **common)
    default = fit_dataset(data / "images", out_dir=tmp_path / "default", **common)
    cli = tmp_path / "cli"
    res = CliRunner().invoke(main, ["train", str(data / "images"), "--test",
                                    str(data / "images_test"), "--method", "ill",
                                    "--strong-augment", "crop-flip", "--seed", "1",
                                    "--batch-size", "16", "--epochs", "1", "--lr", "0.05",
                                    "--device", "cpu", "--no-progress", "--out", str(cli)])
    assert res.exit_code == 0, res.output
    assert json.loads((cli / "config.json").read_text())["method_kwargs"] == {
        "strong_augment": "crop-flip"}
    np.testing.assert_array_equal(np.load(cli / "pred_probs.npy"), api.pred_probs)
    assert not np.array_equal(default.pred_probs, api.pred_probs)


def test_forward_noise_matrix_from_an_audit_noise_json(data, tmp_path):
    """--noise-matrix takes an audit's noise.json (or a .npy / CSV), trains what
    fit_dataset(method="forward", method_kwargs={"noise_matrix": ...}) trains, and saves
    the matrix itself in config.json; bad files and other methods are refused."""
    t = np.full((3, 3), 0.1) + 0.7 * np.eye(3)  # 20% symmetric noise, columns sum to 1
    (tmp_path / "noise.json").write_text(json.dumps({"noise_matrix": t.tolist()}))
    common = dict(test=data / "emb_test.npz", method="forward", seed=1, **SMALL)
    api = fit_dataset(data / "emb.npz", out_dir=tmp_path / "api",
                      method_kwargs={"noise_matrix": t}, **common)
    assert all("noise_matrix" not in r for r in api.history)  # given: nothing estimated
    cli = tmp_path / "cli"
    args = ["train", str(data / "emb.npz"), "--test", str(data / "emb_test.npz"), "--method",
            "forward", "--seed", "1", *CLI_SMALL]
    res = CliRunner().invoke(main, [*args, "--noise-matrix", str(tmp_path / "noise.json"),
                                    "--out", str(cli)])
    assert res.exit_code == 0, res.output
    saved = json.loads((cli / "config.json").read_text())["method_kwargs"]["noise_matrix"]
    np.testing.assert_allclose(saved, t)
    np.testing.assert_array_equal(np.load(cli / "pred_probs.npy"), api.pred_probs)
    # estimated during the run when not given: the warm-up's record holds the estimate
    est = fit_dataset(data / "emb.npz", out_dir=tmp_path / "est", **common)
    assert np.array(est.history[0]["noise_matrix"]).shape == (3, 3)
    # refusals: a matrix whose columns do not sum to 1, K other than the data's, a JSON
    # without the entry, another method
    np.save(tmp_path / "bad.npy", np.ones((3, 3)))
    np.save(tmp_path / "k2.npy", np.eye(2))
    (tmp_path / "other.json").write_text("{}")
    for extra, message in ((["--noise-matrix", str(tmp_path / "bad.npy")], "column 0"),
                           (["--noise-matrix", str(tmp_path / "other.json")], "noise_matrix"),
                           (["--noise-matrix", str(tmp_path / "noise.json"), "--method",
                             "elr"], "--noise-matrix applies to --method forward only")):
        out = tmp_path / "refused"
        res = CliRunner().invoke(main, [*args, *extra, "--out", str(out)])
        assert res.exit_code != 0 and message in res.output, res.output
        assert not out.exists()
    res = CliRunner().invoke(main, [*args, "--noise-matrix", str(tmp_path / "k2.npy"),
                                    "--out", str(tmp_path / "k2")])
    assert res.exit_code != 0 and "(3, 3)" in res.output, res.output


def test_table_cli_without_validation(data, tmp_path):
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["train", str(data / "table.csv"), "--label-column", "y",
                                    "--test", str(data / "table_test.csv"), "--out", str(out),
                                    *CLI_SMALL])
    assert res.exit_code == 0, res.output
    history = json.loads((out / "history.json").read_text())
    assert all(0.0 <= r["test_acc"] <= 1.0 for r in history) and "val_acc" not in history[0]
    final = json.loads((out / "final.json").read_text())
    assert final["selected_epoch"] == 3 and final["n_val"] == 0 and final["class_names"] == NAMES
    assert final["test_acc"] == pytest.approx(history[-1]["test_acc"])
    assert final["test_acc"] > 0.75  # chance: 1/3
    assert not (out / "model_best.pt").exists()
    assert np.load(out / "pred_probs.npy").shape == (120, 3)
    # a second run into the same folder is refused (exit 4: the output exists)
    again = CliRunner().invoke(main, ["train", str(data / "table.csv"), "--label-column", "y",
                                      "--out", str(out), *CLI_SMALL])
    assert again.exit_code == 4 and "not empty" in again.output


def test_table_id_and_feature_columns_leave_the_features_as_the_plain_table(data, tmp_path):
    """A table with an id column and a column that is no feature: naming them gives the very
    run of the table without them (same pred_probs), with no warning about the id."""
    import warnings

    from labelnoise.datasets import TableWarning

    for name in ("table.csv", "table_test.csv"):
        frame = pd.read_csv(data / name)
        frame.insert(0, "row_id", [f"r{i:04d}" for i in range(len(frame))])
        frame["junk"] = np.random.default_rng(3).normal(size=len(frame))
        frame.to_csv(tmp_path / f"extra_{name}", index=False)
    features = [f"f{i}" for i in range(5)]
    ref = fit_dataset(data / "table.csv", label_column="y", test=data / "table_test.csv",
                      **SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TableWarning)  # the id is named: nothing to warn about
        res = fit_dataset(tmp_path / "extra_table.csv", label_column="y", id_column="row_id",
                          feature_columns=features, test=tmp_path / "extra_table_test.csv",
                          **SMALL)
    np.testing.assert_array_equal(res.pred_probs, ref.pred_probs)
    # without feature_columns the junk column is a feature: another run
    other = fit_dataset(tmp_path / "extra_table.csv", label_column="y", id_column="row_id",
                        test=tmp_path / "extra_table_test.csv", **SMALL)
    assert not np.array_equal(other.pred_probs, ref.pred_probs)
    # the CLI: the same options, written into config.json, and a resume reads them back
    out = tmp_path / "cli"
    args = ["train", str(tmp_path / "extra_table.csv"), "--label-column", "y", "--id-column",
            "row_id", *[a for f in features for a in ("--feature-column", f)], "--test",
            str(tmp_path / "extra_table_test.csv"), "--out", str(out), *CLI_SMALL]
    res_cli = CliRunner().invoke(main, args)
    assert res_cli.exit_code == 0, res_cli.output
    assert "Warning" not in res_cli.output
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["id_column"] == "row_id" and cfg["feature_columns"] == features
    np.testing.assert_array_equal(np.load(out / "pred_probs.npy"), ref.pred_probs)
    # one-line errors naming the option
    with pytest.raises(ValueError, match=r"feature_columns must be a list.*\['f0'\]"):
        fit_dataset(data / "table.csv", label_column="y", feature_columns="f0")
    with pytest.raises(ValueError, match=r"id_column \(--id-column\) names columns of a table"):
        fit_dataset(data / "emb.npz", id_column="row_id")
    bad = CliRunner().invoke(main, ["train", str(data / "emb.npz"), "--feature-column", "f0",
                                    "--out", str(tmp_path / "bad")])
    assert bad.exit_code == 2 and "--feature-column" in bad.output
    assert not (tmp_path / "bad").exists()


def test_a_test_table_with_other_categories_is_encoded_as_the_training_table(tmp_path):
    """The class is the region; the test table lacks one region and has a new one. Encoded
    with its own categories its one-hot columns would shift (test accuracy 0.0 before the
    fix); encoded as the training table the known regions are predicted right."""
    rng = np.random.default_rng(0)
    to_class = {"east": "a", "north": "b", "south": "c", "west": "a"}
    for name, regions, n in (("tr.csv", ["east", "north", "south"], 300),
                             ("te.csv", ["north", "south", "west"], 60)):
        region = rng.choice(regions, n)
        pd.DataFrame({"x": rng.normal(size=n), "region": region,
                      "y": [to_class[r] for r in region]}).to_csv(tmp_path / name, index=False)
    res = fit_dataset(tmp_path / "tr.csv", label_column="y", test=tmp_path / "te.csv",
                      epochs=20, batch_size=32, device="cpu", progress=False)
    region = pd.read_csv(tmp_path / "te.csv")["region"].to_numpy()
    known = region != "west"
    predicted = np.array(res.class_names)[res.pred_probs.argmax(1)]
    assert (predicted[known] == [to_class[r] for r in region[known]]).all()


def test_resume_gives_the_weights_of_an_uninterrupted_run(data, tmp_path, monkeypatch):
    full = tmp_path / "full"
    ref = fit_dataset(data / "emb.npz", test=data / "emb_test.npz", val_fraction=0.2,
                      out_dir=full, **SMALL)
    part = tmp_path / "part"
    with monkeypatch.context() as m:
        interrupt_after(m)
        with pytest.raises(KeyboardInterrupt):
            fit_dataset(data / "emb.npz", test=data / "emb_test.npz", val_fraction=0.2,
                        out_dir=part, **SMALL)
    assert (part / "checkpoint.pt").exists()
    assert not any((part / n).exists() for n in ("model.pt", "pred_probs.npy", "final.json"))
    # the CLI resumes a DATASET run from its config.json; a setting given beside --resume
    # would be ignored, so it is refused before anything runs
    res = CliRunner().invoke(main, ["train", str(data / "emb.npz"), "--epochs", "9",
                                    "--resume", str(part), "--no-progress"])
    assert res.exit_code == 2 and "DATASET, --epochs cannot change them" in res.output
    res = CliRunner().invoke(main, ["train", "--resume", str(part), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert _history(part) == _history(full)
    for name in ("model.pt", "model_best.pt"):
        a, b = _load(full / name), _load(part / name)
        assert all(torch.equal(a[k], b[k]) for k in a), name
    np.testing.assert_array_equal(np.load(part / "pred_probs.npy"), ref.pred_probs)
    # the API refuses to resume with other settings
    with pytest.raises(ValueError, match="other settings"):
        fit_dataset(data / "emb.npz", val_fraction=0.3, out_dir=part, resume=True, **SMALL)


def test_arrays_any_number_of_classes(tmp_path):
    X, y, _ = _blobs(60, 4)
    # K = 4 although class 3 has no training example; the test arrays use it
    res = fit_dataset(X, y, test=(X[:8], np.r_[y[:7], 3]), num_classes=4, epochs=1,
                      batch_size=16, device="cpu", progress=False)
    assert res.pred_probs.shape == (8, 4) and res.class_names == ["0", "1", "2", "3"]
    assert res.out_dir is None and res.selected_epoch == 1 and res.best_model is res.model
    images = np.random.default_rng(0).integers(0, 255, (20, 12, 12, 3), dtype=np.uint8)
    res = fit_dataset(images, np.arange(20) % 5, epochs=1, batch_size=8, device="cpu",
                      progress=False, val_fraction=0.4)
    assert len(res.val_index) == 10 and res.history[0]["val_acc"] is not None
    assert res.summary["num_classes"] == 5 and res.summary["model"] == "resnet8"


def test_bad_arguments_leave_nothing(data, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(ValueError, match="val_fraction"):
        fit_dataset(data / "emb.npz", val_fraction=1.5, out_dir=out)
    with pytest.raises(ValueError, match="candidate sets"):
        fit_dataset(data / "emb.npz", method="proden", out_dir=out)
    with pytest.raises(ValueError, match="model 'resnet8' takes images"):
        fit_dataset(data / "emb.npz", model="resnet8", out_dir=out)
    with pytest.raises(ValueError, match="label column"):
        fit_dataset(data / "table.csv", out_dir=out)
    with pytest.raises(ValueError, match="column 'nope'"):
        fit_dataset(data / "table.csv", label_column="nope", out_dir=out)
    with pytest.raises(ValueError, match="same kind"):
        fit_dataset(data / "table.csv", label_column="y", test=data / "emb.npz", out_dir=out)
    with pytest.raises(ValueError, match="class 'cow'"):
        fit_dataset(data / "table.csv", label_column="y", out_dir=out,
                    test=_relabel(data / "table_test.csv", tmp_path, "cow"))
    with pytest.raises(ValueError, match="num_classes 2"):
        fit_dataset(data / "emb.npz", num_classes=2, out_dir=out)
    with pytest.raises(ValueError, match="may not set sample_weight"):
        fit_dataset(data / "emb.npz", method_kwargs={"sample_weight": np.ones(3)}, out_dir=out)
    # string labels name their classes: a larger K would have nameless classes
    z = np.load(data / "emb.npz")
    named = tmp_path / "named.npz"
    np.savez(named, features=z["X"], labels=np.array(["a", "b", "c"])[z["labels"] % 3])
    with pytest.raises(ValueError, match=r"num_classes 6 is above the 3 named classes of the dataset \(a, b, c\)"):
        fit_dataset(named, num_classes=6, out_dir=out)
    assert not out.exists()


def _relabel(table, tmp_path, name):
    frame = pd.read_csv(table)
    frame.loc[0, "y"] = name
    frame.to_csv(tmp_path / "relabelled.csv", index=False)
    return tmp_path / "relabelled.csv"


def test_stratified_split():
    labels = np.repeat([0, 1, 2], [10, 20, 1])
    train, val = stratified_split(labels, 0.2, seed=0)
    assert np.bincount(labels[val], minlength=3).tolist() == [2, 4, 0]  # a class keeps one
    assert np.intersect1d(train, val).size == 0 and len(train) + len(val) == len(labels)
    again = stratified_split(labels, 0.2, seed=0)
    assert np.array_equal(again[1], val)
    assert not np.array_equal(stratified_split(labels, 0.2, seed=1)[1], val)
    assert stratified_split(labels, 0.0, seed=0)[1].size == 0
    with pytest.raises(ValueError, match="no validation example"):
        stratified_split(np.array([0, 1, 2]), 0.2, seed=0)


def test_mixup_through_the_cli_on_embeddings(data, tmp_path):
    """`labelnoise train emb.npz --method mixup --loss gce` trains mixup with that loss and
    writes the run's files; an option mixup does not take is refused."""
    out = tmp_path / "mixup"
    res = CliRunner().invoke(main, ["train", str(data / "emb.npz"), "--test",
                                    str(data / "emb_test.npz"), "--method", "mixup", "--loss",
                                    "gce", "--out", str(out), *CLI_SMALL])
    assert res.exit_code == 0, res.output
    config = json.loads((out / "config.json").read_text())
    assert config["method"] == "mixup" and config["method_kwargs"] == {"loss": "gce"}
    history = json.loads((out / "history.json").read_text())
    assert len(history) == 3 and all(0.0 <= r["test_acc"] <= 1.0 for r in history)
    bad = CliRunner().invoke(main, ["train", str(data / "emb.npz"), "--method", "mixup",
                                    "--forget-rate", "0.2", "--out", str(tmp_path / "bad"),
                                    *CLI_SMALL])
    assert bad.exit_code != 0 and "--forget-rate applies to --method coteaching" in bad.output


def test_dividemix_estimated_forget_rate_through_the_cli(data, tmp_path):
    """`labelnoise train emb.npz --method dividemix --forget-rate estimate` estimates the
    noise rate (the planted 20%) and divides by rank at it; the word is refused for a
    method that cannot estimate it, and a rate outside [0, 1) for any."""
    out = tmp_path / "dm"
    res = CliRunner().invoke(main, ["train", str(data / "emb.npz"), "--method", "dividemix",
                                    "--forget-rate", "estimate", "--warmup-epochs", "2",
                                    "--out", str(out), *CLI_SMALL])
    assert res.exit_code == 0, res.output
    config = json.loads((out / "config.json").read_text())
    assert config["method_kwargs"] == {"forget_rate": "estimate", "warmup_epochs": 2}
    history = json.loads((out / "history.json").read_text())
    given, true = np.load(data / "emb.npz")["labels"], np.load(data / "emb.npz")["true_labels"]
    assert abs(history[0]["estimated_noise_rate"] - float((given != true).mean())) < 0.1
    assert history[-1]["labeled_fraction"] == pytest.approx(
        1 - history[0]["estimated_noise_rate"], abs=0.01)
    for args, message in ((["--method", "coteaching", "--forget-rate", "estimate"],
                           "--forget-rate estimate applies to --method dividemix or cpc"),
                          (["--method", "dividemix", "--forget-rate", "1.5"],
                           "--forget-rate must be a number in [0, 1), got 1.5"),
                          (["--method", "dividemix", "--forget-rate", "soon"],
                           "neither a number in [0, 1) nor 'estimate'")):
        bad = CliRunner().invoke(main, ["train", str(data / "emb.npz"), *args, "--out",
                                        str(tmp_path / "bad"), *CLI_SMALL])
        assert bad.exit_code == 2 and message in bad.output, bad.output
    assert not (tmp_path / "bad").exists()
