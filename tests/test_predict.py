"""Reading a finished training run back (training.load_run) and `labelnoise predict`."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from labelnoise import training
from labelnoise.cli import main
from labelnoise.training import fit_dataset, load_run

NAMES = ["cat", "dog", "eel"]


def _blobs(n: int, seed: int):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    return 3.0 * np.eye(3, 4)[y] + rng.normal(size=(n, 4)) + 5.0, y


#: every method that trains on one label per example on features (not the candidate-set
#: ones; not rdcr, which rotates images: the image-folder test below reads its network back)
FEATURE_METHODS = [m for m, e in training.METHODS.items() if not e.candidates and m != "rdcr"]


@pytest.mark.parametrize("method", FEATURE_METHODS)
def test_a_run_read_back_predicts_as_the_network_that_was_trained(method, tmp_path):
    """Each method's network (one net, or the ensemble of two) rebuilt from model.pt and the
    manifest gives the very pred_probs of the fitted result, for new inputs too."""
    x, y = _blobs(60, 0)
    x_test, y_test = _blobs(30, 1)
    np.savez(tmp_path / "train.npz", X=x, labels=y, class_names=np.array(NAMES))
    np.savez(tmp_path / "test.npz", X=x_test, labels=y_test, class_names=np.array(NAMES))
    kwargs = {"warmup_epochs": 1} if training.METHODS[method].accepts("warmup_epochs") else {}
    res = fit_dataset(tmp_path / "train.npz", test=tmp_path / "test.npz", method=method,
                      epochs=2, batch_size=16, device="cpu", progress=False,
                      val_fraction=0.2, method_kwargs=kwargs, out_dir=tmp_path / "run")
    back = load_run(tmp_path / "run", device="cpu")
    np.testing.assert_allclose(back.pred_probs, res.pred_probs)
    fresh = np.random.default_rng(2).normal(size=(7, 4)) + 5.0
    for best in (True, False):
        np.testing.assert_allclose(back.predict_proba(fresh, best=best),
                                   res.predict_proba(fresh, best=best), rtol=1e-5, atol=1e-6)
    assert back.class_names == NAMES and back.selected_epoch == res.selected_epoch
    assert back.history == json.loads((tmp_path / "run" / "history.json").read_text())


def test_predict_a_new_table_with_ids_and_no_labels(tmp_path):
    rng = np.random.default_rng(0)
    to_class = {"east": "a", "north": "b", "south": "c"}
    region = rng.choice(list(to_class), 240)
    train = pd.DataFrame({"sku": [f"s{i}" for i in range(240)], "x": rng.normal(size=240),
                          "region": region, "y": [to_class[r] for r in region]})
    train.to_csv(tmp_path / "shop.csv", index=False)
    res = CliRunner().invoke(main, ["train", str(tmp_path / "shop.csv"), "--label-column", "y",
                                    "--id-column", "sku", "--epochs", "15", "--batch-size",
                                    "32", "--device", "cpu", "--out", str(tmp_path / "run"),
                                    "--no-progress"])
    assert res.exit_code == 0, res.output
    new = pd.DataFrame({"sku": ["n1", "n2", "n3"], "region": ["south", "north", "west"],
                        "x": [0.1, -0.2, 0.3]})  # no label column; columns in another order
    new.to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "pred.csv"
    res = CliRunner().invoke(main, ["predict", str(tmp_path / "run"), str(tmp_path / "new.csv"),
                                    "--out", str(out), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["example_id", "predicted_label", "a", "b", "c"]
    assert list(frame["example_id"]) == ["n1", "n2", "n3"]
    assert list(frame["predicted_label"][:2]) == ["c", "b"]  # 'west' is unknown: any class
    np.testing.assert_allclose(frame[["a", "b", "c"]].sum(axis=1), 1.0, atol=1e-5)
    # the API reads the same inputs, from a fitted result as from one read back
    fitted = fit_dataset(tmp_path / "shop.csv", label_column="y", id_column="sku", epochs=1,
                         batch_size=32, device="cpu", progress=False)
    assert list(fitted.read_inputs(tmp_path / "new.csv")[2]) == ["n1", "n2", "n3"]
    back = load_run(tmp_path / "run", device="cpu")
    inputs, labels, ids, unreadable = back.read_inputs(tmp_path / "new.csv")
    assert labels is None and list(ids) == ["n1", "n2", "n3"] and unreadable == ()
    np.testing.assert_allclose(back.predict_proba(inputs), frame[["a", "b", "c"]], atol=1e-6)
    # with labels: the accuracy is said; .npy gives the bare pred_probs
    res = CliRunner().invoke(main, ["predict", str(tmp_path / "run"), str(tmp_path / "shop.csv"),
                                    "--out", str(tmp_path / "pp.npy"), "--device", "cpu"])
    assert res.exit_code == 0 and "accuracy against the labels in shop.csv: 1.0000" in res.output
    assert np.load(tmp_path / "pp.npy").shape == (240, 3)


def test_predict_an_image_folder_flat_or_by_class(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, name in enumerate(NAMES):
        (tmp_path / "img" / name).mkdir(parents=True)
        for i in range(6):
            pixels = rng.integers(0, 50, (12, 12, 3))
            pixels[..., c] += 180
            Image.fromarray(pixels.astype(np.uint8)).save(tmp_path / "img" / name / f"{i}.png")
    res = fit_dataset(tmp_path / "img", method="rdcr", epochs=1, batch_size=8, device="cpu",
                      progress=False, image_size=12, out_dir=tmp_path / "run")
    back = load_run(tmp_path / "run", device="cpu")
    x, labels, ids, _ = back.read_inputs(tmp_path / "img")  # class subfolders: labelled
    assert list(labels[:6]) == ["cat"] * 6 and ids[0] == "cat/0.png"
    np.testing.assert_allclose(back.predict_proba(x), res.predict_proba(x), atol=1e-6)
    (tmp_path / "flat").mkdir()
    for name in ("b.png", "a.png"):
        Image.fromarray(rng.integers(0, 255, (20, 20, 3)).astype(np.uint8)).save(
            tmp_path / "flat" / name)
    out = tmp_path / "pred.csv"
    res_cli = CliRunner().invoke(main, ["predict", str(tmp_path / "run"), str(tmp_path / "flat"),
                                        "--out", str(out), "--device", "cpu"])
    assert res_cli.exit_code == 0, res_cli.output
    frame = pd.read_csv(out)
    assert list(frame["example_id"]) == ["a.png", "b.png"] and "given_label" not in frame


def test_predict_refuses_what_it_cannot_read(tmp_path):
    x, y = _blobs(40, 0)
    np.savez(tmp_path / "train.npz", X=x, labels=y)
    run = tmp_path / "run"
    fit_dataset(tmp_path / "train.npz", epochs=1, batch_size=16, device="cpu", progress=False,
                out_dir=run)
    cases = [
        ([str(tmp_path), str(tmp_path / "train.npz"), "--out", str(tmp_path / "p.csv")],
         3, "not a labelnoise train run"),
        ([str(run), str(tmp_path / "train.npz"), "--out", str(tmp_path / "p.txt")],
         2, "--out"),
        ([str(run), str(tmp_path / "nope.npz"), "--out", str(tmp_path / "p.csv")],
         3, "nope.npz"),
        ([str(run), str(tmp_path), "--out", str(tmp_path / "p.csv")], 2, "trained on features"),
    ]
    np.savez(tmp_path / "bad_labels.npz", X=x[:3], labels=np.array([0, 1, 5]))
    cases.append(([str(run), str(tmp_path / "bad_labels.npz"), "--out", str(tmp_path / "p.csv")],
                  2, "labels must be (N,) integers indexing"))
    np.save(tmp_path / "one_d.npy", np.arange(4.0))
    np.save(tmp_path / "empty.npy", np.zeros((0, 4)))
    (tmp_path / "garbage.npy").write_bytes(b"not a numpy file")
    for name, text in (("one_d.npy", "2-D (N, D) array, got shape (4,)"),
                       ("empty.npy", "no inputs to predict (0 rows)")):
        cases.append(([str(run), str(tmp_path / name), "--out", str(tmp_path / "p.csv")], 2,
                      text))
    cases.append(([str(run), str(tmp_path / "garbage.npy"), "--out", str(tmp_path / "p.csv")],
                  3, "garbage.npy: not a .npy array (it does not begin as a NumPy file)"))
    import shutil

    for broken, damage in (("run_garbled", b"garbage"), ("run_no_model", None)):
        shutil.copytree(run, tmp_path / broken)
        if damage is None:
            (tmp_path / broken / "model.pt").unlink()
        else:
            (tmp_path / broken / "model.pt").write_bytes(damage)
    cases.append(([str(tmp_path / "run_garbled"), str(tmp_path / "train.npz"), "--out",
                   str(tmp_path / "p.csv")], 2, "model.pt is not a readable weights file"))
    cases.append(([str(tmp_path / "run_no_model"), str(tmp_path / "train.npz"), "--out",
                   str(tmp_path / "p.csv")], 3, "model.pt is missing"))
    for args, code, text in cases:
        res = CliRunner().invoke(main, ["predict", *args])
        assert res.exit_code == code and text in res.output, (args, res.output)
    assert not (tmp_path / "p.csv").exists()
    with pytest.raises(ValueError, match="method 'standard' takes no lambda_u"):
        fit_dataset(tmp_path / "train.npz", method_kwargs={"lambda_u": 1.0})
    (run / "final.json").unlink()  # an unfinished run
    res = CliRunner().invoke(main, ["predict", str(run), str(tmp_path / "train.npz"), "--out",
                                    str(tmp_path / "p.csv")])
    assert res.exit_code == 3 and "not finished" in res.output and "--resume" in res.output


def _train_table(frame, path, run):
    """``labelnoise train`` on ``frame`` (label column ``y``) written to ``path``."""
    frame.to_csv(path, index=False)
    res = CliRunner().invoke(main, ["train", str(path), "--label-column", "y", "--epochs", "10",
                                    "--batch-size", "16", "--device", "cpu", "--out", str(run),
                                    "--no-progress"])
    assert res.exit_code == 0, res.output
    return run


def test_predict_integer_labels_with_a_gap_and_a_class_named_like_a_column(tmp_path):
    """A table whose integer label column has a missing value is read by pandas as floats
    (3.0): its labels still match the run's classes '3'... And a class named
    'predicted_label' keeps its pred_probs column; the leading column moves aside."""
    x, y = _blobs(90, 0)
    train = pd.DataFrame(x, columns=list("abcd"))
    train["y"] = np.array([3, 7, 9])[y]
    run = _train_table(train, tmp_path / "int.csv", tmp_path / "run_int")
    new = train.copy()
    new["y"] = new["y"].astype(float)
    new.loc[0, "y"] = np.nan
    new.to_csv(tmp_path / "gap.csv", index=False)
    labels = load_run(run, device="cpu").read_inputs(tmp_path / "gap.csv").labels
    assert labels[0] is None and list(labels[1:4]) == ["7", "9", "3"]
    out = tmp_path / "pred.csv"
    res = CliRunner().invoke(main, ["predict", str(run), str(tmp_path / "gap.csv"),
                                    "--out", str(out), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert "outside the run's classes" not in res.output
    acc = res.output.split("accuracy against the labels in gap.csv: ")[1]
    assert float(acc.split()[0]) > 0.9 and "(89 labelled" in acc  # 0.0 when read as '3.0'

    train["y"] = np.array(["predicted_label", "given_label", "eel"])[y]
    run = _train_table(train, tmp_path / "odd.csv", tmp_path / "run_odd")
    res = CliRunner().invoke(main, ["predict", str(run), str(tmp_path / "odd.csv"),
                                    "--out", str(out), "--device", "cpu", "--force"])
    assert res.exit_code == 0, res.output
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["given_label_", "predicted_label_", "eel", "given_label",
                                   "predicted_label"]
    assert (frame["predicted_label_"] == train["y"]).mean() > 0.9
    assert (frame["given_label_"] == train["y"]).all()
    np.testing.assert_allclose(frame[["eel", "given_label", "predicted_label"]].sum(axis=1), 1.0,
                               atol=1e-5)


def test_a_device_this_machine_lacks_is_refused_in_one_line(tmp_path):
    """--device (train, predict) and the API's device= name a device this machine has, or
    get a one-line refusal before any data is read (torch's own errors surfaced as
    'internal error' from the first tensor moved)."""
    import torch

    from labelnoise.training.engine import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="'nonsense' is not a torch device"):
        resolve_device("nonsense")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device 'cuda:1': .*use 'cpu'"):
            resolve_device("cuda:1")
    if not torch.backends.mps.is_available():
        with pytest.raises(ValueError, match="MPS is not available"):
            resolve_device("mps")
    x, y = _blobs(30, 0)
    np.savez(tmp_path / "train.npz", X=x, labels=y)
    for command in (["train", str(tmp_path / "train.npz"), "--out", str(tmp_path / "run")],
                    ["predict", str(tmp_path / "run"), str(tmp_path / "train.npz"), "--out",
                     str(tmp_path / "p.csv")]):
        res = CliRunner().invoke(main, [*command, "--device", "nonsense"])
        assert res.exit_code == 2 and "Invalid value for --device: device 'nonsense'" in res.output
    assert not (tmp_path / "run").exists() and not (tmp_path / "p.csv").exists()


def test_embeddings_named_as_embedding_code_names_them_with_string_labels(tmp_path):
    """An .npz with ``embeddings`` and string labels trains, and predict reads another such
    file: its labels are compared as class names (not indices)."""
    words = np.array(["ant", "bee", "cow"])
    x, y = _blobs(90, 0)
    x_new, y_new = _blobs(30, 1)
    np.savez(tmp_path / "train.npz", embeddings=x, labels=words[y])
    np.savez(tmp_path / "new.npz", embeddings=x_new, labels=words[y_new])
    res = CliRunner().invoke(main, ["train", str(tmp_path / "train.npz"), "--epochs", "10",
                                    "--out", str(tmp_path / "run"), "--no-progress",
                                    "--device", "cpu"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, ["predict", str(tmp_path / "run"), str(tmp_path / "new.npz"),
                                    "--out", str(tmp_path / "p.csv"), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    out = pd.read_csv(tmp_path / "p.csv")
    assert list(out.columns) == ["given_label", "predicted_label", "ant", "bee", "cow"]
    assert list(out["given_label"]) == list(words[y_new])
    accuracy = float((out["given_label"] == out["predicted_label"]).mean())
    assert accuracy > 0.9 and f"{accuracy:.4f}" in res.output
