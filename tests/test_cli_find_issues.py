"""`labelnoise find-issues` end to end on a small file and on a benchmark file."""

from __future__ import annotations

import numpy as np
import pandas as pd
from click.testing import CliRunner

import labelnoise
from labelnoise.cli import main


def _files(tmp_path, seed=0):
    rng = np.random.default_rng(seed)
    true = rng.integers(0, 3, 600)
    pp = rng.dirichlet(np.ones(3), 600) * 0.3
    pp[np.arange(600), true] += 0.7
    given = true.copy()
    flip = rng.random(600) < 0.15
    given[flip] = (true[flip] + 1) % 3
    np.save(tmp_path / "labels.npy", given)
    np.save(tmp_path / "pp.npy", pp)
    return given, pp, flip


def test_find_issues_writes_ranked_csv(tmp_path):
    given, pp, flip = _files(tmp_path)
    out = tmp_path / "issues.csv"
    res = CliRunner().invoke(main, ["find-issues", "--labels", str(tmp_path / "labels.npy"),
                                    "--pred-probs", str(tmp_path / "pp.npy"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "estimated noise rate" in res.output and "most confused class pairs" in res.output
    assert f"class-conditional weight {labelnoise.rank.mixture_weight(given, pp):.2f}" in res.output
    every = pd.read_csv(out)  # one layout with audit (issue 16): every example, ranked
    assert list(every.columns) == ["rank", "index", "given_label", "suggested_label", "label_quality_score",
                                   "is_label_issue"]
    assert len(every) == len(given)
    np.testing.assert_array_equal(every["index"], labelnoise.find_issues(given, pp).ranking)
    frame = every[every["is_label_issue"]]
    np.testing.assert_array_equal(frame["index"], labelnoise.find_label_issues(given, pp, return_ranked=True))
    scores = labelnoise.label_quality_scores(given, pp)  # the default score ranks
    np.testing.assert_allclose(every["label_quality_score"], scores[every["index"]])
    assert (np.diff(every["label_quality_score"]) >= 0).all()
    pooled = labelnoise.label_quality_scores(given, pp, method="pooled")  # the default filter decides
    np.testing.assert_array_equal(np.sort(frame["index"]), np.flatnonzero(pooled < 0.5))
    assert (frame["suggested_label"] != frame["given_label"]).all()
    assert flip[frame["index"]].mean() > 0.9  # flagged examples are mostly the injected flips
    # refuses to overwrite, works with --force, labels from a CSV column
    res = CliRunner().invoke(main, ["find-issues", "--labels", str(tmp_path / "labels.npy"),
                                    "--pred-probs", str(tmp_path / "pp.npy"), "--out", str(out)])
    assert res.exit_code != 0 and "exists" in res.output
    pd.DataFrame({"y": given}).to_csv(tmp_path / "labels.csv", index=False)
    res = CliRunner().invoke(main, ["find-issues", "--labels", str(tmp_path / "labels.csv"), "--label-column", "y",
                                    "--pred-probs", str(tmp_path / "pp.npy"), "--out", str(out), "--force",
                                    "--filter-by", "prune_by_noise_rate", "--only-issues"])
    assert res.exit_code == 0, res.output
    assert len(pd.read_csv(out)) == labelnoise.find_label_issues(given, pp, filter_by="prune_by_noise_rate").sum()
    res = CliRunner().invoke(main, ["find-issues", "--labels", str(tmp_path / "labels.npy"),
                                    "--pred-probs", str(tmp_path / "pp.npy"), "--out", str(out), "--force",
                                    "--filter-by", "expected_f1", "--only-issues"])
    assert res.exit_code == 0, res.output
    np.testing.assert_array_equal(
        np.sort(pd.read_csv(out)["index"]),
        np.flatnonzero(labelnoise.find_label_issues(given, pp, filter_by="expected_f1")))


def test_find_issues_bad_shape_is_a_clear_error(tmp_path):
    _files(tmp_path)
    np.save(tmp_path / "short.npy", np.full((10, 3), 1 / 3))
    res = CliRunner().invoke(main, ["find-issues", "--labels", str(tmp_path / "labels.npy"),
                                    "--pred-probs", str(tmp_path / "short.npy"), "--out", str(tmp_path / "o.csv")])
    assert res.exit_code == 2
    assert "pred_probs has 10 rows but labels has 600" in res.output


def test_find_issues_on_dirty_benchmark_ensemble(shared_data, tmp_path):
    d = shared_data / "label-error-benchmarks" / "cifar-10n-worst"
    # values up to 1.00001 and rows off by 1e-5, as in a public benchmark file
    rng = np.random.default_rng(0)
    pp = np.load(d / "resnet18" / "pred_probs.npy")
    dirty = pp * (1 + rng.uniform(-1e-5, 1e-5, size=(len(pp), 1)))
    np.save(tmp_path / "dirty.npy", dirty)
    out = tmp_path / "issues.csv"
    res = CliRunner().invoke(main, ["find-issues", "--labels", str(d / "resnet18" / "noisy_labels.npy"),
                                    "--pred-probs", str(tmp_path / "dirty.npy"),
                                    "--pred-probs", str(d / "swin_base_patch4_window7_224" / "pred_probs.npy"),
                                    "--out", str(out), "--only-issues"])
    assert res.exit_code == 0, res.output
    assert "mostly instance-dependent" in res.output  # human label noise
    errors = np.load(d / "resnet18" / "noisy_labels.npy") != np.load(d / "resnet18" / "true_labels.npy")
    flagged = pd.read_csv(out)["index"].to_numpy()
    assert errors[flagged].mean() > 0.9 and errors[flagged].sum() / errors.sum() > 0.8
