"""Image folders with files that cannot be decoded: stopped with the file named by default,
left out and listed with ``skip_unreadable`` / ``--skip-unreadable`` (load_image_folder,
audit, train)."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from labelnoise._io import InputFileError
from labelnoise.audit import UNREADABLE_FILE, audit
from labelnoise.cli import main
from labelnoise.datasets import load_image_folder


def _folder(root, per_class: int = 4, seed: int = 0):
    """Two classes of 8x8 PNGs (class = dominant channel), one text file named .png in
    'cat' and one truncated JPEG in 'dog'. Returns (root, the two broken files' paths)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c, name in enumerate(("cat", "dog")):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            px = rng.integers(0, 60, (8, 8, 3))
            px[..., c] += 180
            Image.fromarray(px.astype(np.uint8)).save(root / name / f"{i}.png")
    (root / "cat" / "1b.png").write_text("not an image")
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
    (root / "dog" / "2b.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    return root, ["cat/1b.png", "dog/2b.jpg"]


def test_load_image_folder_stops_or_skips(tmp_path):
    root, broken = _folder(tmp_path / "f")
    full = load_image_folder(root)
    listing = full.info["relative_paths"]
    assert len(listing) == 10 and set(broken) <= set(listing)
    assert len(full.info["unreadable"]) == 0 and len(full.info["unreadable_rows"]) == 0
    with pytest.raises(InputFileError, match=r"1b\.png: cannot be read.*--skip-unreadable"):
        [full.inputs[i] for i in range(len(listing))]

    ds = load_image_folder(root, skip_unreadable=True)
    kept = [p for p in listing if p not in broken]
    assert ds.info["relative_paths"] == kept
    np.testing.assert_array_equal(ds.labels, [0] * 4 + [1] * 4)
    assert [u["file"] for u in ds.info["unreadable"]] == broken
    assert [u["given_label"] for u in ds.info["unreadable"]] == ["cat", "dog"]
    assert all(u["error"] for u in ds.info["unreadable"])
    np.testing.assert_array_equal(ds.info["unreadable_rows"], [listing.index(b) for b in broken])
    assert all(ds.inputs[i].shape == (8, 8, 3) for i in range(len(kept)))  # all decode now

    empty = tmp_path / "bad"
    (empty / "a").mkdir(parents=True)
    (empty / "a" / "x.png").write_text("no")
    with pytest.raises(ValueError, match="none of its 1 image files can be read"):
        load_image_folder(empty, skip_unreadable=True)


def _pred_probs(n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pp = rng.dirichlet([1.0, 1.0], size=n)
    return pp.astype(np.float64)


def test_audit_skips_and_lists_unreadable_files(tmp_path):
    root, broken = _folder(tmp_path / "f")
    listing = load_image_folder(root).info["relative_paths"]
    rows = [listing.index(b) for b in broken]
    pp = _pred_probs(len(listing))
    np.save(tmp_path / "pp_all.npy", pp)
    np.save(tmp_path / "pp_kept.npy", np.delete(pp, rows, axis=0))

    # without the option, given pred_probs need no image: the audit runs on every file and
    # the report shows the unreadable ones' place instead of their thumbnail
    res = CliRunner().invoke(main, ["audit", str(root), "--pred-probs", str(tmp_path / "pp_all.npy"),
                                    "--out", str(tmp_path / "o0"), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert len(pd.read_csv(tmp_path / "o0" / "issues.csv")) == 10
    assert (tmp_path / "o0" / "report.html").read_text().count("image cannot be read") >= 2
    assert not (tmp_path / "o0" / UNREADABLE_FILE).exists()

    # pred_probs with a row per file of the folder, or per readable file: the same audit
    results = {}
    for name in ("pp_all", "pp_kept"):
        out = tmp_path / name
        r = CliRunner().invoke(main, ["audit", str(root), "--pred-probs", str(tmp_path / f"{name}.npy"),
                                      "--skip-unreadable", "--out", str(out), "--no-progress"])
        assert r.exit_code == 0, r.output
        assert "unreadable files left out" in r.output
        issues = pd.read_csv(out / "issues.csv")
        assert len(issues) == 8 and not set(broken) & set(issues["example_id"])
        np.testing.assert_allclose(np.load(out / "pred_probs.npy"), np.delete(pp, rows, axis=0))
        table = pd.read_csv(out / UNREADABLE_FILE)
        assert table["file"].tolist() == broken and table["given_label"].tolist() == ["cat", "dog"]
        assert "2b.jpg" in (out / "report.html").read_text()
        results[name] = issues
    pd.testing.assert_frame_equal(results["pp_all"], results["pp_kept"])

    # the Python API gives the same list; a rerun with --force on a clean folder drops it
    api = audit(root, pred_probs=tmp_path / "pp_all.npy", out_dir=tmp_path / "api",
                skip_unreadable=True, progress=False)
    assert [u["file"] for u in api.unreadable] == broken
    for b in broken:
        (root / b).unlink()
    np.save(tmp_path / "pp_clean.npy", np.delete(pp, rows, axis=0))
    again = audit(root, pred_probs=tmp_path / "pp_clean.npy", out_dir=tmp_path / "api",
                  skip_unreadable=True, force=True, progress=False)
    assert again.unreadable == [] and not (tmp_path / "api" / UNREADABLE_FILE).exists()


def test_skip_unreadable_refused_where_it_cannot_apply(tmp_path):
    root, _ = _folder(tmp_path / "f")
    pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "y": ["a", "b", "a", "b"]}).to_csv(
        tmp_path / "t.csv", index=False)
    res = CliRunner().invoke(main, ["audit", str(tmp_path / "t.csv"), "--label-column", "y",
                                    "--skip-unreadable", "--out", str(tmp_path / "o1")])
    assert res.exit_code == 2 and "is not an image folder" in res.output
    np.save(tmp_path / "labels.npy", np.zeros(10, dtype=np.int64))
    np.save(tmp_path / "pp.npy", _pred_probs(10))
    res = CliRunner().invoke(main, ["audit", str(root), "--pred-probs", str(tmp_path / "pp.npy"),
                                    "--labels", str(tmp_path / "labels.npy"), "--skip-unreadable",
                                    "--out", str(tmp_path / "o2")])
    assert res.exit_code == 2 and "--labels" in res.output
    res = CliRunner().invoke(main, ["audit", "--pred-probs", str(tmp_path / "pp.npy"), "--labels",
                                    str(tmp_path / "labels.npy"), "--skip-unreadable", "--out",
                                    str(tmp_path / "o4")])
    assert res.exit_code == 2 and "no dataset was given" in res.output
    res = CliRunner().invoke(main, ["train", "--noise", "symmetric:0.2", "--skip-unreadable",
                                    "--out", str(tmp_path / "o3")])
    assert res.exit_code == 2 and "--skip-unreadable applies to an image folder" in res.output
    assert not any((tmp_path / f"o{i}").exists() for i in (1, 2, 3, 4))


def test_train_skips_unreadable_files(tmp_path, monkeypatch):
    root, broken = _folder(tmp_path / "f", per_class=6)
    test_root, test_broken = _folder(tmp_path / "t", per_class=3, seed=1)
    out = tmp_path / "run"
    args = ["train", str(root), "--test", str(test_root), "--epochs", "1", "--batch-size", "4",
            "--device", "cpu", "--no-progress", "--out", str(out)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code != 0 and "1b.png" in res.output
    res = CliRunner().invoke(main, args + ["--skip-unreadable"])
    assert res.exit_code == 0, res.output
    assert "4 unreadable image file(s) left out" in res.output
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["unreadable"] == broken and cfg["test_unreadable"] == test_broken
    final = json.loads((out / "final.json").read_text())
    assert final["n_train"] == 12 and final["n_test"] == 6
    assert np.load(out / "pred_probs.npy").shape == (6, 2)

    # predicting a folder with unreadable files: stopped with the file named, or left out
    pred = tmp_path / "pred.csv"
    res = CliRunner().invoke(main, ["predict", str(out), str(test_root), "--out", str(pred),
                                    "--device", "cpu", "--no-progress"])
    assert res.exit_code != 0 and "1b.png" in res.output and not pred.exists()
    res = CliRunner().invoke(main, ["predict", str(out), str(test_root), "--out", str(pred),
                                    "--device", "cpu", "--no-progress", "--skip-unreadable"])
    assert res.exit_code == 0, res.output
    assert f"2 unreadable image file(s) left out: {', '.join(test_broken)}" in res.output
    frame = pd.read_csv(pred)
    assert len(frame) == 6 and not set(test_broken) & set(frame["example_id"])
    np.testing.assert_allclose(frame[["cat", "dog"]].to_numpy(),
                               np.load(out / "pred_probs.npy"), atol=1e-6)
    # the API names the same files; a folder given with '~' lists them as well (the CLI
    # once listed the folder a second time under the path as typed, unexpanded)
    from labelnoise.training.data import load_run

    read = load_run(out, device="cpu").read_inputs(test_root, skip_unreadable=True)
    assert list(read.unreadable) == test_broken and len(read.inputs) == 6
    assert not set(test_broken) & set(read.example_ids)
    assert load_run(out, device="cpu").read_inputs(test_root).unreadable == ()
    monkeypatch.setenv("HOME", str(tmp_path))
    res = CliRunner().invoke(main, ["predict", str(out), "~/t", "--out", str(pred), "--force",
                                    "--device", "cpu", "--no-progress", "--skip-unreadable"])
    assert res.exit_code == 0, res.output
    assert f"2 unreadable image file(s) left out: {', '.join(test_broken)}" in res.output


def test_quick_patch_feature_audit_keeps_the_unreadable_list(tmp_path, monkeypatch):
    """The --quick patch-features audit re-builds its data on a subset: the files left out
    are still listed (unreadable.csv, the report's note)."""
    from labelnoise import audit as audit_mod

    monkeypatch.setattr(audit_mod, "QUICK_FEATURES",
                        dict(n_centroids=8, patch_size=4, n_patches=500, kmeans_iter=2))
    monkeypatch.setattr(audit_mod, "QUICK_EXAMPLES", 6)
    root, broken = _folder(tmp_path / "f", per_class=6)
    res = audit(root, out_dir=tmp_path / "q", quick=True, model="patch-features", folds=2,
                skip_unreadable=True, progress=False)
    assert len(res.labels) == 6 and [u["file"] for u in res.unreadable] == broken
    assert pd.read_csv(tmp_path / "q" / UNREADABLE_FILE)["file"].tolist() == broken
    assert "could not be read and were left out" in (tmp_path / "q" / "report.html").read_text()
