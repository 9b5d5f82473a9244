"""End-to-end tests of `labelnoise audit` (the pipeline function and the click command)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from _html import ReportPage
from _resume import count_calls
from click.testing import CliRunner

import labelnoise.audit as audit_mod
import labelnoise.crossval as cv
from labelnoise import find_label_issues
from labelnoise.audit import audit
from labelnoise.cli import main


def _parse(path):
    return ReportPage(path.read_text(encoding="utf-8"))


class SimulatedInterrupt(Exception):
    """Stands for a crash or Ctrl-C in the middle of cross-validation."""


@pytest.fixture(scope="module")
def noisy_digits_csv(tmp_path_factory):
    """load_digits with 10% of the labels moved to a random other class."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    noisy = y.copy()
    flip = rng.choice(len(y), size=len(y) // 10, replace=False)
    noisy[flip] = (y[flip] + rng.integers(1, 10, size=flip.size)) % 10
    df = pd.DataFrame(X, columns=[f"px{i}" for i in range(X.shape[1])])
    df["digit"] = noisy
    path = tmp_path_factory.mktemp("table") / "digits.csv"
    df.to_csv(path, index=False)
    return path, y, noisy


def test_table_audit_finds_injected_errors(noisy_digits_csv, tmp_path):
    path, true, noisy = noisy_digits_csv
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["audit", str(path), "--label-column", "digit", "--out", str(out),
                                    "--no-progress"])
    assert res.exit_code == 0, res.output
    issues = pd.read_csv(out / "issues.csv")
    assert len(issues) == len(noisy)
    assert sorted(issues["index"]) == list(range(len(noisy)))
    assert issues["label_quality_score"].is_monotonic_increasing  # ranked, worst first
    np.testing.assert_array_equal(issues.sort_values("index")["given_label"], noisy)
    flagged = set(issues.loc[issues["is_label_issue"], "index"])
    errors = set(np.flatnonzero(noisy != true))
    recall = len(flagged & errors) / len(errors)
    precision = len(flagged & errors) / len(flagged)
    assert recall >= 0.80, recall
    assert precision >= 0.70, precision
    # outputs are consistent with each other
    pp = np.load(out / "pred_probs.npy")
    assert pp.shape == (len(noisy), 10)
    by_index = issues.sort_values("index")
    from labelnoise.rank import suggested_labels

    np.testing.assert_array_equal(  # the one definition the API, the CLI and the report share
        by_index["suggested_label"],
        suggested_labels(noisy, pp, issues=by_index["is_label_issue"].to_numpy()))
    noise = json.loads((out / "noise.json").read_text())
    assert noise["num_issues_flagged"] == len(flagged)
    np.testing.assert_allclose(np.sum(noise["noise_matrix"], axis=0), 1.0, atol=1e-9)
    ids = _parse(out / "report.html").ids
    assert ids["n-examples"] == str(len(issues))
    assert ids["n-issues"] == str(int(issues["is_label_issue"].sum()))
    assert float(ids["noise-rate"]) == pytest.approx(noise["noise_rate"], abs=1e-4)
    # the command prints the first flagged rows of issues.csv under its summary
    assert "most likely wrong labels" in res.output
    first = issues[issues["is_label_issue"]].iloc[0]
    import re

    assert re.search(rf"│ {first['index']}\s+│ {first['given_label']}\s+│ "
                     rf"{first['suggested_label']}\s+│ {first['label_quality_score']:.4f} │",
                     res.output)
    # the table of suspects shows the most label-informative feature columns (reference:
    # the ANOVA F statistic between the given classes, computed here with scipy), values as
    # in the file
    from scipy.stats import f_oneway

    from labelnoise.audit import REPORT_FEATURE_COLUMNS

    page = (out / "report.html").read_text()
    table = pd.read_csv(path)
    pixels = [c for c in table.columns if c != "digit"]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = [f_oneway(*(table[c][noisy == k] for k in range(10))).statistic for c in pixels]
    f = np.nan_to_num(np.asarray(f), nan=-1.0)
    shown = [pixels[i] for i in np.argsort(-f, kind="stable")[:REPORT_FEATURE_COLUMNS]]
    assert "px0" not in shown  # a constant (all-zero) pixel tells nothing
    assert "".join(f"<th>{c}</th>" for c in shown) + "</tr>" in page
    top = int(issues["index"][0])
    assert "".join(f"<td>{table[c][top]:.6g}</td>" for c in shown) + "</tr>" in page


def test_informative_columns_rank_by_between_class_f(tmp_path):
    """Known answer: a column equal to the label ranks first, a categorical column that
    decides the label next, noise after, a constant column last (ties in table order)."""
    from labelnoise.audit import informative_columns
    from labelnoise.datasets import load_table

    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, size=300)
    frame = pd.DataFrame({"const": 1.0, "noise_a": rng.normal(size=300),
                          "colour": np.array(["red", "green", "blue"])[(y + (rng.random(300) < 0.2)) % 3],
                          "signal": y + rng.normal(scale=0.1, size=300),
                          "noise_b": rng.normal(size=300), "label": y})
    frame.to_csv(tmp_path / "t.csv", index=False)
    d = load_table(tmp_path / "t.csv", "label")
    assert d.info["categorical_columns"] == ["colour"]
    order = informative_columns(d.inputs, d.labels, d.info, n=5)
    assert order[:2] == ["signal", "colour"] and order[-1] == "const"
    assert set(order[2:4]) == {"noise_a", "noise_b"}
    assert informative_columns(d.inputs, d.labels, d.info, n=2) == ["signal", "colour"]
    # one class only: no F statistic, table order
    frame.assign(label=0).to_csv(tmp_path / "one.csv", index=False)
    one = load_table(tmp_path / "one.csv", "label")
    assert informative_columns(one.inputs, one.labels, one.info, n=2) == ["const", "noise_a"]


def test_out_dir_is_protected(noisy_digits_csv, tmp_path):
    path, _, _ = noisy_digits_csv
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("user file")
    args = ["audit", str(path), "--label-column", "digit", "--out", str(out), "--no-progress",
            "--folds", "3"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code != 0 and "not empty" in res.output and "--force" in res.output
    assert not (out / "issues.csv").exists()
    res = CliRunner().invoke(main, args + ["--force"])
    assert res.exit_code == 0, res.output
    assert (out / "issues.csv").exists() and (out / "mine.txt").read_text() == "user file"


def test_audit_resumes_from_finished_folds(noisy_digits_csv, tmp_path, monkeypatch):
    path, _, _ = noisy_digits_csv
    fresh = audit(str(path), label_column="digit", out_dir=tmp_path / "a", progress=False)

    count_calls(monkeypatch, cv, "_fit_predict_sklearn", fail_at=3, exc=SimulatedInterrupt)
    with pytest.raises(SimulatedInterrupt):
        audit(str(path), label_column="digit", out_dir=tmp_path / "b", progress=False)
    calls = count_calls(monkeypatch, cv, "_fit_predict_sklearn")
    with pytest.raises(FileExistsError):
        audit(str(path), label_column="digit", out_dir=tmp_path / "b", progress=False)
    resumed = audit(str(path), label_column="digit", out_dir=tmp_path / "b", progress=False,
                    resume=True)
    assert len(calls) == 3  # folds 2, 3, 4 only (folds 0 and 1 were saved)
    np.testing.assert_array_equal(resumed.pred_probs, fresh.pred_probs)
    np.testing.assert_array_equal(resumed.is_issue, fresh.is_issue)


def test_image_folder_audit(tmp_path, monkeypatch):
    from PIL import Image

    monkeypatch.setattr(audit_mod, "IMAGE_FEATURES",
                        dict(n_centroids=16, patch_size=4, n_patches=5000, kmeans_iter=5))
    monkeypatch.setattr(audit_mod, "IMAGE_CLASSIFIER_C", 1.0)  # the CIFAR value suits 40k examples
    rng = np.random.default_rng(0)
    stripes = np.tile((np.arange(16) % 4 < 2)[:, None], (1, 16)) * 120.0
    root = tmp_path / "imgs"
    wrong = []
    for cls, pattern in (("horizontal", stripes), ("vertical", stripes.T)):
        for i in range(40):
            img = np.roll(pattern, rng.integers(0, 4), axis=int(cls == "vertical"))
            img = np.clip(img + rng.normal(60, 25, size=img.shape), 0, 255).astype(np.uint8)
            folder = cls if i >= 3 else ("vertical" if cls == "horizontal" else "horizontal")
            (root / folder).mkdir(parents=True, exist_ok=True)
            name = f"{cls}_{i:02d}.png"
            Image.fromarray(img).convert("RGB").save(root / folder / name)
            if i < 3:
                wrong.append(name)
    res = audit(str(root), out_dir=tmp_path / "out", progress=False, folds=4,
                model="patch-features")
    paths = sorted(str(p) for p in root.rglob("*.png"))
    names = [q.rsplit("/", 1)[1] for q in paths]
    flagged = {names[i] for i in np.flatnonzero(res.is_issue)}
    # the six flipped images are the six most suspect; the default filter flags most of them
    # (one sits at P(correct) 0.51 here: the classifier trained on 60 images per fold is
    # under-confident, and the noise is class-conditional, so the posterior component leads)
    assert {names[i] for i in res.ranking[: len(wrong)]} == set(wrong)
    assert len(flagged & set(wrong)) >= len(wrong) - 1 and len(flagged - set(wrong)) <= 3
    p = _parse(tmp_path / "out" / "report.html")
    assert p.n_png >= 60  # thumbnails of the suspects + plots


def test_pred_probs_benchmark_file(shared_data, data_root, tmp_path):
    folder = shared_data / "label-error-benchmarks" / "cifar-10n-worst" / "resnet18"
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["audit", "--pred-probs", str(folder / "pred_probs.npy"),
                                    "--data-root", str(data_root), "--out", str(out),
                                    "--no-progress"])
    assert res.exit_code == 0, res.output
    labels = np.load(folder / "noisy_labels.npy")
    true = np.load(folder / "true_labels.npy")
    pp = np.load(folder / "pred_probs.npy")
    expected = find_label_issues(labels, pp)
    issues = pd.read_csv(out / "issues.csv").sort_values("index")
    np.testing.assert_array_equal(issues["is_label_issue"].to_numpy(), expected)
    from labelnoise.datasets import CIFAR10_CLASSES  # labels are written as class names (issue 16)

    np.testing.assert_array_equal(issues["true_label"].to_numpy(), np.array(CIFAR10_CLASSES)[true])
    np.testing.assert_array_equal(issues["given_label"].to_numpy(), np.array(CIFAR10_CLASSES)[labels])
    rows = np.load(shared_data / "label-error-benchmarks" / "cifar-10n-worst"
                   / "row_to_cifar10_train_index.npy")
    np.testing.assert_array_equal(issues["example_id"].to_numpy(), rows)
    p = _parse(out / "report.html")
    assert p.n_png >= 60  # CIFAR thumbnails found through row_to_cifar10_train_index.npy
    tp = np.sum(expected & (labels != true))
    assert float(p.ids["metric-precision"]) == pytest.approx(tp / expected.sum(), abs=1e-4)
    assert float(p.ids["metric-recall"]) == pytest.approx(tp / np.sum(labels != true), abs=1e-4)
    assert float(p.ids["auprc"]) > 0.9


def test_clear_errors(tmp_path, shared_data, data_root):
    run = CliRunner().invoke
    res = run(main, ["audit", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o1")])
    assert res.exit_code != 0 and "not found" in res.output
    assert not (tmp_path / "o1").exists()  # nothing is created for a failed audit
    res = run(main, ["audit", "cifar10", "--label-set", "bogus", "--data-root", str(data_root),
                     "--out", str(tmp_path / "o2")])
    assert res.exit_code != 0 and "label_set" in res.output and "worse" in res.output
    bad = tmp_path / "bad.npy"
    np.save(bad, np.full((100, 10), 0.1))
    labels = shared_data / "label-error-benchmarks" / "cifar-10n-worst" / "resnet18" / "noisy_labels.npy"
    res = run(main, ["audit", "--pred-probs", str(bad), "--labels", str(labels),
                     "--out", str(tmp_path / "o3")])
    assert res.exit_code != 0 and "(100, 10)" in res.output and "50000" in res.output
    res = run(main, ["audit", "--pred-probs", str(bad), "--out", str(tmp_path / "o4")])
    assert res.exit_code != 0 and "--labels" in res.output
    csv = tmp_path / "t.csv"
    csv.write_text("a,b\n1,2\n")
    res = run(main, ["audit", str(csv), "--out", str(tmp_path / "o5")])
    assert res.exit_code != 0 and "--label-column" in res.output


def test_weak_classifier_note_by_its_rule():
    from labelnoise.audit import weak_classifier_note

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 400)
    strong = np.full((400, 4), 0.02)
    strong[np.arange(400), labels] = 0.94  # agrees everywhere
    assert weak_classifier_note(labels, strong, noise_rate=0.1) is None
    assert "noise rate is 45%" in weak_classifier_note(labels, strong, noise_rate=0.45)
    weak = strong.copy()
    wrong = rng.random(400) < 0.5
    weak[wrong] = strong[wrong][:, [1, 2, 3, 0]]  # arg-max moved on half the rows
    note = weak_classifier_note(labels, weak, noise_rate=0.2)
    assert note is not None and "agrees with the given labels on" in note


def test_default_image_preset_scales_epochs_to_small_data(tmp_path, monkeypatch):
    # known answers: 3,000 images in 3 folds train 3 x 2,000 per epoch -> ceil(80,000 / 6,000)
    assert audit_mod.scaled_epochs(3000, 3, 8) == 14
    assert audit_mod.scaled_epochs(50_000, 2, 8) == 8  # CIFAR-10: the preset as it was
    assert audit_mod.scaled_epochs(1000, 4, 8) == 27  # 4 x 750 per epoch
    assert audit_mod.scaled_epochs(10, 3, 8) == audit_mod.MAX_SCALED_EPOCHS
    assert audit_mod.scaled_epochs(10, 3, 300) == 300  # never below what was asked
    # the audit passes them to the folds (default model only; given epochs and --quick kept)
    seen, seen_patch = [], []

    def fake(x, labels, model, **kw):
        k = kw["num_classes"]
        if not isinstance(model, str):  # the small-data ensemble's patch-feature model
            seen_patch.append((x.shape, kw["folds"], kw["seed"]))
            pp = np.full((len(labels), k), 0.5 / (k - 1))
            pp[np.arange(len(labels)), labels] = 0.5
            return pp
        seen.append((model, kw["folds"], kw["train_kwargs"]["epochs"]))
        pp = np.full((len(labels), k), 0.1 / (k - 1))
        pp[np.arange(len(labels)), labels] = 0.9
        return pp, None

    monkeypatch.setattr(cv, "out_of_sample_pred_probs", fake)
    # a small dictionary keeps the patch features of the ensemble fast here
    small_dict = dict(n_centroids=8, patch_size=4, n_patches=2000, kmeans_iter=3)
    monkeypatch.setattr(audit_mod, "SMALL_DATA_PATCH_FEATURES", small_dict)
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in range(3):
        (tmp_path / "imgs" / f"c{c}").mkdir(parents=True)
        for i in range(10):
            img = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
            Image.fromarray(img).save(tmp_path / "imgs" / f"c{c}" / f"{i}.png")
    results = [audit(str(tmp_path / "imgs"), out_dir=tmp_path / f"o{i}", progress=False, **kw)
               for i, kw in enumerate([{}, dict(train_kwargs=dict(epochs=3)), dict(quick=True)])]
    pre, quick = audit_mod.image_preset(False), audit_mod.QUICK_IMAGE_PRESET
    folds = audit_mod.SMALL_DATA_FOLDS  # 30 images < SMALL_DATA_N
    assert seen == [(pre["model"], folds, audit_mod.MAX_SCALED_EPOCHS),
                    (pre["model"], folds, 3),
                    (quick["model"], quick["folds"], quick["train_kwargs"]["epochs"])]
    # small data, default model (not --quick): the patch-feature model (4 quadrants x 8
    # centroids) and the scattering model (3 channels x 81 paths x 4 x 4 of the 32 x 32
    # images) on the same folds, their pred_probs averaged with the network's
    assert seen_patch == [((30, 32), folds, 0), ((30, 3888), folds, 0)] * 2
    labels = results[0].labels
    expected = np.full((30, 3), (0.05 + 0.25 + 0.25) / 3)
    expected[np.arange(30), labels] = (0.9 + 0.5 + 0.5) / 3
    np.testing.assert_allclose(results[0].pred_probs, expected)
    assert "averaged with patch features" in results[0].settings["model"]
    assert "averaged with the mirror image" in results[0].settings["model"]
    assert "and with scattering features (Bruna & Mallat 2013: J=2" in results[0].settings["model"]
    assert "averaged" not in results[2].settings["model"]  # --quick: the network alone
    np.testing.assert_allclose(results[2].pred_probs[np.arange(30), labels], 0.9)
    monkeypatch.setattr(audit_mod, "SMALL_DATA_N", 30)  # 30 images are not small now
    audit(str(tmp_path / "imgs"), out_dir=tmp_path / "o3", progress=False)
    assert seen[-1] == (pre["model"], pre["folds"], pre["train_kwargs"]["epochs"])
    assert len(seen_patch) == 4  # no ensemble beyond SMALL_DATA_N


def test_patch_features_mirror_average(tmp_path):
    # mirror=True: the average of the features of each image and of its mirror image, from
    # one dictionary fitted on the images (reference computation), cached under its own name
    from labelnoise.features import PatchFeatures

    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 255, (12, 8, 8, 3), dtype=np.uint8)
    params = dict(n_centroids=4, patch_size=4, n_patches=500, kmeans_iter=2)
    got = audit_mod._patch_features(imgs, params, tmp_path, seed=3, resume=False,
                                    progress=False, console=None, mirror=True)
    ref = PatchFeatures(**params, seed=3).fit(imgs)
    expected = (ref.transform(imgs) + ref.transform(np.ascontiguousarray(imgs[:, :, ::-1]))) / 2
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    plain = audit_mod._patch_features(imgs, params, tmp_path, seed=3, resume=False,
                                      progress=False, console=None)
    np.testing.assert_allclose(plain, ref.transform(imgs), rtol=1e-6, atol=1e-6)
    assert not np.allclose(plain, got)
    names = sorted(p.name for p in tmp_path.glob("patch_features_*.npy"))
    assert len(names) == 2 and sum(n.endswith("_mirror_seed3.npy") for n in names) == 1


def test_table_audit_feature_columns_leave_out_what_is_no_feature(noisy_digits_csv, tmp_path):
    """--feature-column: the audit of a table with an extra column, given its feature
    columns, ranks exactly as the audit of the table without it."""
    path, _, _ = noisy_digits_csv
    frame = pd.read_csv(path)
    features = [c for c in frame.columns if c != "digit"]
    frame["batch"] = np.random.default_rng(1).integers(0, 3, len(frame))  # not a feature
    extra = tmp_path / "extra.csv"
    frame.to_csv(extra, index=False)
    runs = {}
    for name, args in (("plain", [str(path)]),
                       ("named", [str(extra), *[a for f in features
                                                for a in ("--feature-column", f)]])):
        res = CliRunner().invoke(main, ["audit", *args, "--label-column", "digit", "--out",
                                        str(tmp_path / name), "--no-progress"])
        assert res.exit_code == 0, res.output
        runs[name] = pd.read_csv(tmp_path / name / "issues.csv")
    pd.testing.assert_frame_equal(runs["named"], runs["plain"])
    bad = CliRunner().invoke(main, ["audit", str(extra), "--label-column", "digit",
                                    "--feature-column", "nope", "--out", str(tmp_path / "bad")])
    assert bad.exit_code != 0 and "'nope'" in bad.output


def test_table_audit_ranks_by_the_neighbours_vote_in_its_columns(noisy_digits_csv, tmp_path):
    """A table audit ranks by the model's pred_probs mixed with the label vote of each row's
    10 nearest neighbours in its standardised columns (the vote's weight by maximum
    likelihood), the same mixture as its combined neighbour-label check; and the vote finds
    more of the injected errors than the model alone."""
    from sklearn.metrics import average_precision_score

    from labelnoise import find_issues
    from labelnoise.audit import audit

    path, true, noisy = noisy_digits_csv
    res = audit(str(path), label_column="digit", out_dir=tmp_path / "out", progress=False)
    di = res.data_issues
    w = di.combined.knn_weight
    assert res.settings["neighbour vote"].startswith(
        "the model's pred_probs mixed with the labels of each example's 10 nearest neighbours "
        "in the feature columns of digits.csv")
    assert 0 < w < 1
    np.testing.assert_allclose(res.pred_probs,
                               (1 - w) * res.model_pred_probs + w * di.knn.knn_pred_probs)
    np.testing.assert_array_equal(res.pred_probs, di.combined.pred_probs)
    np.testing.assert_array_equal(res.label_quality_scores,
                                  find_issues(noisy, res.pred_probs).label_quality_scores)
    wrong = noisy != true
    alone = find_issues(noisy, res.model_pred_probs).label_quality_scores
    assert (average_precision_score(wrong, -res.label_quality_scores)
            > average_precision_score(wrong, -alone))


def test_audit_refuses_options_its_model_would_ignore(noisy_digits_csv, tmp_path):
    """--epochs on a table (a scikit-learn model) and a true-label column that is the label
    column itself are refused in one line, not ignored."""
    path, _, _ = noisy_digits_csv
    res = CliRunner().invoke(main, ["audit", str(path), "--label-column", "digit", "--epochs", "3",
                                    "--out", str(tmp_path / "a"), "--no-progress"])
    assert res.exit_code == 2 and "takes none" in res.output and "--epochs" in res.output
    assert not (tmp_path / "a" / "issues.csv").exists()
    res = CliRunner().invoke(main, ["audit", str(path), "--label-column", "digit",
                                    "--true-label-column", "digit",
                                    "--out", str(tmp_path / "b"), "--no-progress"])
    assert res.exit_code == 2 and "is the label column itself" in res.output
