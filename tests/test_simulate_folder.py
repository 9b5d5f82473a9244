"""`labelnoise simulate --dataset FOLDER`: a noisy copy of an image folder with truth.csv, and
`labelnoise audit FOLDER --true-labels truth.csv` measuring the audit against it."""

from __future__ import annotations

import numpy as np
import pandas as pd
from click.testing import CliRunner

from labelnoise import audit as audit_mod
from labelnoise.audit import audit
from labelnoise.cli import main


def _stripes(root, per_class: int = 20, seed: int = 0):
    from PIL import Image

    rng = np.random.default_rng(seed)
    stripes = np.tile((np.arange(16) % 4 < 2)[:, None], (1, 16)) * 120.0
    for cls, pattern in (("horizontal", stripes), ("vertical", stripes.T)):
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            img = np.roll(pattern, rng.integers(0, 4), axis=int(cls == "vertical"))
            img = np.clip(img + rng.normal(60, 25, size=img.shape), 0, 255).astype(np.uint8)
            Image.fromarray(img).convert("RGB").save(root / cls / f"img{i:02d}.png")
    return root


def test_simulate_writes_a_noisy_folder_and_the_audit_measures_against_it(tmp_path, monkeypatch):
    src = _stripes(tmp_path / "clean")
    out = tmp_path / "noisy"
    args = ["simulate", "--dataset", str(src), "--noise", "symmetric:0.2", "--seed", "1",
            "--out", str(out)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    truth = pd.read_csv(out / "truth.csv")
    assert len(truth) == 40 and list(truth.columns) == ["path", "original", "true", "given"]
    flipped = truth["true"] != truth["given"]
    assert f"{int(flipped.sum())} of 40 labels changed" in res.output and 4 <= flipped.sum() <= 12
    for row in truth.itertuples():
        assert row.path.split("/")[0] == row.given and row.original.split("/")[0] == row.true
        assert (out / row.path).read_bytes() == (src / row.original).read_bytes()
        assert row.true not in row.path.split("/")[1]  # the file name tells nothing
    assert not (tmp_path / "noisy.partial").exists()
    assert f"--true-labels {out / 'truth.csv'}" in " ".join(res.output.split())
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 2 and "not empty" in again.output
    as_file = CliRunner().invoke(main, args[:-1] + [str(tmp_path / "noisy.npy")])
    assert as_file.exit_code == 2 and "is a new folder" in as_file.output
    assert not (tmp_path / "noisy.npy").exists()

    monkeypatch.setattr(audit_mod, "IMAGE_FEATURES",
                        dict(n_centroids=16, patch_size=4, n_patches=5000, kmeans_iter=5))
    monkeypatch.setattr(audit_mod, "IMAGE_CLASSIFIER_C", 1.0)
    result = audit(out, out_dir=tmp_path / "audit", model="patch-features", folds=4,
                   true_labels_file=out / "truth.csv", progress=False)
    assert result.metrics is not None
    assert result.metrics["true_noise_rate"] == flipped.mean()
    assert result.metrics["auprc"] > 0.8  # the stripes tell the class: flips rank first
    ids = list(result.example_ids)
    np.testing.assert_array_equal(
        result.true_labels,
        [result.class_names.index(t) for t in truth.set_index("path").loc[ids, "true"]])


def test_true_labels_refused_or_checked(tmp_path):
    src = _stripes(tmp_path / "clean", per_class=3)
    pd.DataFrame({"path": ["horizontal/img00.png"], "true": ["vertical"]}).to_csv(
        tmp_path / "partial.csv", index=False)
    pd.DataFrame({"x": [0.0, 1.0], "y": ["a", "b"]}).to_csv(tmp_path / "t.csv", index=False)
    for args, says in (
            ([str(src), "--true-labels", str(tmp_path / "partial.csv")],
             "5 image(s) of the folder have no row, e.g. 'horizontal/img01.png'"),
            ([str(tmp_path / "t.csv"), "--label-column", "y", "--true-labels",
              str(tmp_path / "partial.csv")], "is not an image folder"),
            ([str(src), "--true-labels", str(tmp_path / "t.csv")], "no column 'path'")):
        res = CliRunner().invoke(main, ["audit", *args, "--out", str(tmp_path / "o")])
        assert res.exit_code == 2 and says in res.output, res.output
        assert not (tmp_path / "o").exists()
