"""The audit's data-issue checks (issue 17): features from --features, the embeddings given,
or each fold's network; columns of issues.csv, data_issues.json, sections of report.html;
checks that cannot run are stated; --features is validated; resume keeps fold features."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from _html import ReportPage
from _resume import count_calls
from click.testing import CliRunner

import labelnoise.crossval as cv
from labelnoise import find_issues
from labelnoise.audit import audit
from labelnoise.cli import main
from labelnoise.data_issues import nearest_neighbors, with_neighbour_vote

LABEL_COLUMNS = ["rank", "index", "given_label", "suggested_label", "label_quality_score",
                 "is_label_issue"]
DATA_COLUMNS = ["outlier_score", "is_outlier", "outlier_score_gaussian", "is_near_duplicate",
                "near_duplicate_set", "is_exact_duplicate", "exact_duplicate_set", "knn_label_quality",
                "is_knn_label_issue", "combined_label_quality", "is_combined_label_issue"]
#: planted rows of _clusters: a copy of another row (a different class), a near copy
#: (same class), and a point far from every cluster
EXACT, EXACT_OF, NEAR, NEAR_OF, FAR = 10, 100, 20, 30, 40


def _clusters(seed=0, per=70, d=16):
    rng = np.random.default_rng(seed)
    x = np.concatenate([c + rng.normal(size=(per, d)) for c in np.eye(3, d) * 6.0])
    y = np.repeat(np.arange(3), per)
    x[EXACT] = x[EXACT_OF]
    x[NEAR] = x[NEAR_OF] + 1e-3 * rng.normal(size=d)
    x[FAR] = -5.0
    return x.astype(np.float32), y


def _section(page: str, start: str, end: str) -> str:
    return page[page.index(f'id="{start}"'):page.index(f'id="{end}"')]


def _invoke(*args):
    return CliRunner().invoke(main, ["audit", *map(str, args), "--no-progress"])


@pytest.fixture(scope="module")
def pred_probs_case(tmp_path_factory):
    """Labels, pred_probs and features files of 210 examples (no training needed)."""
    d = tmp_path_factory.mktemp("pp")
    x, y = _clusters()
    rng = np.random.default_rng(1)
    logits = 3.0 * np.eye(3)[y] + rng.normal(size=(len(y), 3))
    pp = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.save(d / "labels.npy", y)
    np.save(d / "pred_probs.npy", pp)
    np.save(d / "features.npy", x)
    return d, x, y, pp


def test_embeddings_audit_finds_planted_duplicates_and_outlier(tmp_path):
    x, y = _clusters()
    np.savez(tmp_path / "emb.npz", X=x, labels=y)
    out = tmp_path / "out"
    res = _invoke(tmp_path / "emb.npz", "--folds", 3, "--out", out)
    assert res.exit_code == 0, res.output
    assert "outliers" in res.output and "2 in 1 sets" in res.output  # the console summary

    issues = pd.read_csv(out / "issues.csv")
    assert list(issues.columns) == LABEL_COLUMNS + DATA_COLUMNS  # label columns first, unchanged
    by = issues.set_index("index").sort_index()
    # the headline detection is that of find_issues on the audit's pred_probs, untouched
    expected = find_issues(y, np.load(out / "pred_probs.npy"))
    np.testing.assert_array_equal(by["is_label_issue"], expected.is_label_issue)
    np.testing.assert_array_equal(issues["index"], expected.ranking)
    # the far point is the only outlier and the highest score
    assert by.index[by["is_outlier"]].tolist() == [FAR]
    assert by["outlier_score"].idxmax() == FAR
    # the Gaussian ranking, a column without flags: the far point is also its farthest
    assert by["outlier_score_gaussian"].idxmax() == FAR and (by["outlier_score_gaussian"] >= 0).all()
    # the copy: exact and near duplicate of its original, in one set; the near copy: near only
    assert by.index[by["is_exact_duplicate"]].tolist() == [EXACT, EXACT_OF]
    assert by.loc[EXACT, "exact_duplicate_set"] == by.loc[EXACT_OF, "exact_duplicate_set"] == 0
    assert (by.drop([EXACT, EXACT_OF])["exact_duplicate_set"] == -1).all()
    assert sorted(by.index[by["is_near_duplicate"]]) == sorted([EXACT, EXACT_OF, NEAR, NEAR_OF])
    assert by.loc[NEAR, "near_duplicate_set"] == by.loc[NEAR_OF, "near_duplicate_set"] != -1
    assert by.loc[NEAR, "near_duplicate_set"] != by.loc[EXACT, "near_duplicate_set"]
    # the copy's features are those of another class: its label is suspect by its neighbours
    assert by.loc[EXACT, "is_knn_label_issue"] and by.loc[EXACT, "is_combined_label_issue"]
    assert by["knn_label_quality"].between(0, 1).all()

    summary = json.loads((out / "data_issues.json").read_text())
    assert summary["features"] == {"source": "the embeddings of emb.npz, as given",
                                   "shape": [210, 16], "k": 10, "metric": "cosine"}
    checks = summary["checks"]
    assert all(c["ran"] for c in checks.values())
    assert checks["outliers"]["num_flagged"] == 1 and checks["outliers"]["top"][0]["index"] == FAR
    assert checks["outliers"]["gaussian"]["top"][0]["index"] == FAR
    assert checks["exact_duplicates"]["sets"] == [[{"index": EXACT}, {"index": EXACT_OF}]]
    assert [r["name"] for r in checks["class_health"]["classes"]] == ["0", "1", "2"]
    assert checks["class_health"]["classes"][0]["num_outliers"] == 1  # FAR is labelled 0

    page = (out / "report.html").read_text(encoding="utf-8")
    ids = ReportPage(page).ids
    assert ids["n-outliers"] == "1" and ids["n-exact-duplicates"] == "2"
    assert ids["n-near-duplicates"] == "4"
    assert "not-run" not in page
    exact = _section(page, "exact-duplicates", "overlapping-classes")
    assert 'set 0: 2 examples; <span class="differ">labels differ' in exact  # classes 0 and 1
    for section in ("outliers", "near-duplicates", "overlapping-classes", "class-health",
                    "knn-label-issues", "combined-label-issues"):
        assert f'id="{section}"' in page
    assert f"<tr><td>{FAR}</td>" in _section(page, "outliers", "near-duplicates")
    gauss = page[page.index('id="gaussian-outlier-table"'):page.index('id="near-duplicates"')]
    assert gauss.index(f"<tr><td>{FAR}</td>") < gauss.index("</tbody>")


def test_image_folder_sections_show_thumbnails(pred_probs_case, tmp_path):
    """Image folder + --pred-probs + --features: no training; thumbnails of the outliers and
    of the duplicate sets side by side; an identical file is an exact duplicate."""
    from PIL import Image

    d, _, y, _ = pred_probs_case
    rng = np.random.default_rng(2)
    root = tmp_path / "imgs"
    names = [f"c{label}/{i:03d}.png" for i, label in enumerate(y)]  # the folder's order
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(root / name)
    shutil.copyfile(root / names[NEAR_OF], root / names[NEAR])  # one identical file
    # EXACT's features copy EXACT_OF's: its image a copy with a few pixel values moved by one
    # (not byte-identical), so that the pixels confirm the pair as well
    with Image.open(root / names[EXACT_OF]) as im:
        pixels = np.asarray(im).copy()
    pixels[0, :3] ^= 1
    Image.fromarray(pixels).save(root / names[EXACT])
    # a mirror image of a row's file written for its nearest neighbour in features, which is
    # beyond the features' near-duplicate radius but within the pixel check's candidates
    from labelnoise.data_issues import PIXEL_CANDIDATE_FRACTION, nearest_neighbors

    x = np.load(d / "features.npy")
    dist, ind = nearest_neighbors(x, 1)
    median = np.median(dist[:, 0][dist[:, 0] > 1e-9])
    planted = {EXACT, EXACT_OF, NEAR, NEAR_OF, FAR}
    mirror = next(i for i in range(len(y)) if i not in planted and ind[i, 0] not in planted
                  and 0.5 * median < dist[i, 0] < PIXEL_CANDIDATE_FRACTION * median)
    mirror_of = int(ind[mirror, 0])
    with Image.open(root / names[mirror_of]) as im:
        im.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(root / names[mirror])
    out = tmp_path / "out"
    res = _invoke(root, "--pred-probs", d / "pred_probs.npy", "--features", d / "features.npy",
                  "--out", out)
    assert res.exit_code == 0, res.output

    issues = pd.read_csv(out / "issues.csv").set_index("example_id")
    assert issues.index[issues["is_outlier"]].tolist() == [names[FAR]]
    assert sorted(issues.index[issues["is_exact_duplicate"]]) == [names[NEAR], names[NEAR_OF]]
    assert sorted(issues.index[issues["is_near_duplicate"]]) == sorted(
        names[i] for i in (EXACT, EXACT_OF, NEAR, NEAR_OF, mirror, mirror_of))
    assert issues.loc[names[mirror], "near_duplicate_set"] == issues.loc[
        names[mirror_of], "near_duplicate_set"] != -1
    page = (out / "report.html").read_text(encoding="utf-8")
    outliers = _section(page, "outliers", "near-duplicates")
    knn_part, gauss_part = outliers.split('id="gaussian-outliers"')
    assert knn_part.count("data:image/png;base64,") == 24  # a grid of the top outliers
    assert names[FAR] in knn_part and "outlier-grid" in knn_part
    # and a grid of the farthest from the features' Gaussian, ranked without flags
    assert gauss_part.count("data:image/png;base64,") == 24 and "gaussian-outlier-grid" in gauss_part
    exact = _section(page, "exact-duplicates", "overlapping-classes")
    assert exact.count('class="dupset"') == 1 and exact.count("data:image/png;base64,") == 2
    assert names[NEAR] in exact and names[NEAR_OF] in exact and 'class="differ"' not in exact
    near = _section(page, "near-duplicates", "exact-duplicates")
    assert near.count('class="dupset"') == 3 and near.count("data:image/png;base64,") == 6
    assert "aligned pixel distance" in near
    assert near.count('class="differ"') == 1  # EXACT and EXACT_OF are of classes 0 and 1
    summary = json.loads((out / "data_issues.json").read_text())
    assert summary["features"]["source"] == f"--features {d / 'features.npy'}"
    assert summary["checks"]["near_duplicates"]["pixel_threshold"] == 0.25
    exact_json = summary["checks"]["exact_duplicates"]
    assert exact_json["compared"] == "image files (compared byte for byte)"
    assert exact_json["sets"] == [[{"index": NEAR, "example_id": names[NEAR]},
                                   {"index": NEAR_OF, "example_id": names[NEAR_OF]}]]


@pytest.fixture
def one_torch_thread():
    """torch, set to one thread for the test (tiny networks; immune to a busy CPU), and
    restored after it."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(threads)


def test_image_audit_votes_in_the_images_patch_view(tmp_path, one_torch_thread):
    """An audit that trains on images: outliers and near duplicates on each fold's network,
    the neighbour-label checks on the images' patch view (140 images: projected to 128
    components), and the ranking on the network's pred_probs mixed with that vote; the
    patch view is contrast-normalised, so horizontal against vertical stripes is what tells
    the two classes apart, and one image filed under the wrong class is the one the
    neighbours outvote."""
    from PIL import Image

    from labelnoise.audit import IMAGE_VIEW_PCA_DIM

    rng = np.random.default_rng(3)
    root = tmp_path / "imgs"
    wrong = "c0/004.png"
    for i in range(140):
        label = i % 2
        (root / f"c{label}").mkdir(parents=True, exist_ok=True)
        name = f"c{label}/{i:03d}.png"
        stripes = np.tile((np.arange(12) % 4 < 2)[:, None] * 160.0, (1, 12))
        stripes = stripes.T if label == 1 or name == wrong else stripes
        img = np.clip(stripes[:, :, None] + rng.normal(40, 25, (12, 12, 3)), 0, 255)
        Image.fromarray(img.astype(np.uint8)).save(root / name)
    res = audit(str(root), out_dir=tmp_path / "out", model="resnet8", folds=2,
                progress=False, train_kwargs=dict(epochs=1, batch_size=32))
    di = res.data_issues
    assert di.features_source.startswith("the penultimate layer of each fold's network")
    assert di.label_features_source.startswith("the images' patch view")
    assert di.label_features_shape == (140, IMAGE_VIEW_PCA_DIM)
    issues = pd.read_csv(tmp_path / "out" / "issues.csv")
    assert issues.loc[issues["is_knn_label_issue"], "example_id"].tolist() == [wrong]
    # the ranking itself reads the network's pred_probs mixed with that vote
    w = di.combined.knn_weight
    assert res.settings["neighbour vote"].startswith("the model's pred_probs mixed with the "
                                                     "labels of each example's 10 nearest")
    assert f"weight {w:.3f} on the vote" in res.settings["neighbour vote"]
    np.testing.assert_allclose(res.pred_probs,
                               (1 - w) * res.model_pred_probs + w * di.knn.knn_pred_probs)
    np.testing.assert_array_equal(res.pred_probs, di.combined.pred_probs)
    np.testing.assert_array_equal(np.load(tmp_path / "out" / "pred_probs.npy"), res.pred_probs)
    again = find_issues(res.labels, res.pred_probs)
    np.testing.assert_array_equal(res.label_quality_scores, again.label_quality_scores)
    np.testing.assert_array_equal(issues["label_quality_score"], issues["combined_label_quality"])
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "This is the ranking of the label issues above: the audit ranks by this " \
           "combination." in _section(page, "combined-label-issues", "combined-label-issues-table")
    # one epoch of a network on 140 images predicts nothing (w = 1): the vote finds the image
    assert issues["example_id"].iloc[0] == wrong
    assert issues.loc[issues["is_label_issue"], "example_id"].tolist() == [wrong]


def test_checks_without_features_are_stated_not_run(pred_probs_case, tmp_path):
    d, _, y, pp = pred_probs_case
    out = tmp_path / "out"
    res = _invoke("--pred-probs", d / "pred_probs.npy", "--labels", d / "labels.npy", "--out", out)
    assert res.exit_code == 0, res.output
    issues = pd.read_csv(out / "issues.csv")
    assert list(issues.columns) == LABEL_COLUMNS  # no column for a check that did not run
    expected = find_issues(y, pp).to_frame()
    pd.testing.assert_frame_equal(issues, expected.astype({"given_label": int, "suggested_label": int}),
                                  check_dtype=False)
    checks = json.loads((out / "data_issues.json").read_text())["checks"]
    for name in ("outliers", "near_duplicates", "knn_label_issues", "combined_label_issues"):
        assert checks[name] == {"ran": False, "reason": checks["outliers"]["reason"]}
    assert checks["outliers"]["reason"].startswith("not run: no features: with --pred-probs no")
    assert "--features FILE.npy" in checks["outliers"]["reason"]
    assert checks["exact_duplicates"]["ran"] is False and "no raw inputs" in checks["exact_duplicates"]["reason"]
    assert checks["class_health"]["ran"] and checks["overlapping_classes"]["ran"]
    page = (out / "report.html").read_text(encoding="utf-8")
    ids = ReportPage(page).ids
    assert ids["outliers-not-run"].startswith("Not run: no features: with --pred-probs no network")
    for check in ("features", "near-duplicates", "exact-duplicates", "knn-label-issues",
                  "combined-label-issues"):
        assert ids[f"{check}-not-run"].startswith("Not run: ")
    assert ids["n-outliers"] == "not run"
    assert "health-table" in page and "overlap-table" in page

    # the same audit with --features runs them, and ranks by the pred_probs mixed with the
    # neighbours' vote in the features: as find-issues --features on the same files
    res = _invoke("--pred-probs", d / "pred_probs.npy", "--labels", d / "labels.npy",
                  "--features", d / "features.npy", "--out", tmp_path / "with")
    assert res.exit_code == 0, res.output
    with_features = pd.read_csv(tmp_path / "with" / "issues.csv")
    assert with_features.loc[with_features["is_outlier"], "index"].tolist() == [FAR]
    x = np.load(d / "features.npy")
    mixed, w = with_neighbour_vote(y, pp, nearest_neighbors(x, 10)[1])
    np.testing.assert_allclose(np.load(tmp_path / "with" / "pred_probs.npy"), mixed)
    pd.testing.assert_frame_equal(
        with_features[LABEL_COLUMNS],
        find_issues(y, mixed).to_frame().astype({"given_label": int, "suggested_label": int}),
        check_dtype=False)
    noise = json.loads((tmp_path / "with" / "noise.json").read_text())
    assert f"weight {w:.3f} on the vote" in noise["settings"]["neighbour vote"]
    res = CliRunner().invoke(main, ["find-issues", "--labels", str(d / "labels.npy"),
                                    "--pred-probs", str(d / "pred_probs.npy"), "--features",
                                    str(d / "features.npy"), "--out", str(tmp_path / "fi.csv")])
    assert res.exit_code == 0, res.output
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "fi.csv"), with_features[LABEL_COLUMNS])


def test_table_with_pred_probs_votes_in_its_standardised_columns(pred_probs_case, tmp_path):
    """A table audited with the user's pred_probs: the ranking reads them mixed with the
    neighbours' vote in the table's standardised columns, as find_issues(..., features=)
    on those columns; an image folder with pred_probs and no --features has no vote
    (covered by test_checks_without_features_are_stated_not_run: pred_probs alone)."""
    d, x, y, pp = pred_probs_case
    x = x.astype(np.float64) * np.arange(1, x.shape[1] + 1)  # columns of different scales
    table = pd.DataFrame(x, columns=[f"f{i}" for i in range(x.shape[1])])
    table["label"] = np.array(["ant", "bee", "cow"])[y]
    table.to_csv(tmp_path / "t.csv", index=False)
    out = tmp_path / "out"
    res = _invoke(tmp_path / "t.csv", "--label-column", "label", "--pred-probs",
                  d / "pred_probs.npy", "--out", out)
    assert res.exit_code == 0, res.output
    x_csv = pd.read_csv(tmp_path / "t.csv").drop(columns="label").to_numpy()
    z = (x_csv - x_csv.mean(0)) / x_csv.std(0)
    expected = find_issues(y, pp, features=z)
    issues = pd.read_csv(out / "issues.csv")
    np.testing.assert_array_equal(issues["index"], expected.ranking)
    np.testing.assert_array_equal(issues["is_label_issue"],
                                  expected.is_label_issue[issues["index"]])
    settings = json.loads((out / "noise.json").read_text())["settings"]
    assert f"weight {expected.neighbour_vote_weight:.3f} on the vote" in settings["neighbour vote"]
    assert "the feature columns of t.csv" in settings["neighbour vote"]
    # the classifier's agreement (and the weak-classifier note) read its own pred_probs
    assert settings["agreement"] == round(float((pp.argmax(1) == y).mean()), 4)


def test_bad_features_file_is_refused_in_one_line(pred_probs_case, tmp_path):
    d, x, _, _ = pred_probs_case
    base = ["--pred-probs", d / "pred_probs.npy", "--labels", d / "labels.npy"]
    nan = x.copy()
    nan[3, 1] = np.nan
    cases = {  # name: (array, exit code, text of the message)
        "rows.npy": (x[:-1], 2, "has 209 rows but 210 were expected"),
        "nan.npy": (nan, 2, "features[3, 1] = nan"),
        "flat.npy": (x[:, 0], 2, "must be a 2-D (N, D) array"),
        "text.npy": (np.array([["a"] * 4] * 210), 2, "must hold real numbers"),
        "objects.npy": (np.array([None] * 210, dtype=object), 3, "Python objects"),
    }
    for name, (arr, code, text) in cases.items():
        np.save(tmp_path / name, arr, allow_pickle=True)
        out = tmp_path / f"out-{name}"
        res = _invoke(*base, "--features", tmp_path / name, "--out", out)
        assert res.exit_code == code, (name, res.output)
        line = res.output.strip()
        assert line.startswith("Error: ") and "\n" not in line, line
        assert f"--features {tmp_path / name}" in line and text in line, line
        assert not out.exists()  # refused before anything is written
    res = _invoke(*base, "--features", tmp_path / "missing.npy", "--out", tmp_path / "o")
    assert res.exit_code == 3 and "--features" in res.output and "missing.npy" in res.output


def test_resume_keeps_the_fold_features(tmp_path, monkeypatch, one_torch_thread):
    """A torch audit keeps each fold's penultimate features in its cache file: an
    interrupted audit resumes without retraining the finished fold and still runs every
    check on out-of-sample features."""
    from PIL import Image

    rng = np.random.default_rng(0)
    root = tmp_path / "imgs"
    for label, level in (("dark", 40), ("light", 200)):
        (root / label).mkdir(parents=True)
        for i in range(12):
            img = np.clip(rng.normal(level, 20, (8, 8, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(root / label / f"{i:02d}.png")
    kwargs = dict(out_dir=tmp_path / "out", model="resnet8", folds=2, progress=False,
                  train_kwargs=dict(epochs=1, batch_size=8))
    calls = count_calls(monkeypatch, cv, "_fit_predict_torch", fail_at=2)
    with pytest.raises(KeyboardInterrupt):
        audit(str(root), **kwargs)
    folds = tmp_path / "out" / "cache" / "folds"
    saved = np.load(folds / "fold_0.npz")
    assert saved["features"].shape == (24, 64) and saved["features"].dtype == np.float32
    before = (folds / "fold_0.npz").read_bytes()
    calls.clear()
    res = audit(str(root), resume=True, **kwargs)
    assert len(calls) == 1  # fold 1 only
    assert (folds / "fold_0.npz").read_bytes() == before
    di = res.data_issues
    assert di.features_shape == (24, 64)
    assert di.features_source.startswith("the penultimate layer of each fold's network")
    # each example's neighbours are found in the space of the network that did not see it
    from labelnoise.data_issues import nearest_neighbors_by_fold

    fold_features = [(np.load(folds / f"fold_{f}.npz")["indices"],
                      np.load(folds / f"fold_{f}.npz")["features"]) for f in (0, 1)]
    dist, _ = nearest_neighbors_by_fold(fold_features, 10)
    np.testing.assert_allclose(di.outlier_scores, dist.mean(axis=1))
    assert all(di.ran(c) for c in ("outliers", "near_duplicates", "knn_label_issues"))
    # the neighbour-label checks search the images' own patch view instead (64
    # centroids x 4 quadrants; 24 images are too few for the projection)
    assert di.label_features_source.startswith("the images' patch view")
    assert di.label_features_shape == (24, 256)
    summary = json.loads((tmp_path / "out" / "data_issues.json").read_text())
    assert summary["label_features"]["source"] == di.label_features_source
    assert summary["features"]["source"] == di.features_source
    assert "the neighbour-label checks: the images' patch view" in res.settings["features"]
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "the same neighbours for the outlier and near-duplicate checks. The " \
           "neighbour-label checks search their own 10 nearest neighbours" in page
    issues = pd.read_csv(tmp_path / "out" / "issues.csv")
    assert list(issues.columns[-len(DATA_COLUMNS):]) == DATA_COLUMNS
    assert issues["outlier_score"].notna().all()


def test_grayscale_image_arrays_are_images_for_both_duplicate_checks():
    """(N, H, W) arrays are grayscale images for the exact-duplicate check and the pixel
    check alike; (N, D) tables and embeddings are rows and get no pixel check."""
    from types import SimpleNamespace

    from labelnoise import audit as laudit

    for shape in ((5, 8, 8), (5, 8, 8, 3)):
        data = SimpleNamespace(inputs=np.zeros(shape, np.uint8))
        inputs, what = laudit._raw_inputs(data)
        assert inputs is data.inputs and what.startswith("images")
        assert laudit._pixel_images(data) is data.inputs
    rows = SimpleNamespace(inputs=np.zeros((5, 4)))
    assert laudit._raw_inputs(rows)[1].startswith("input rows")
    assert laudit._pixel_images(rows) is None
    assert laudit._raw_inputs(SimpleNamespace(inputs=None)) == (None, None)


def test_patch_feature_cache_is_keyed_by_the_images(tmp_path):
    """A resumed audit reuses cached patch features only for the same images: another set
    of images of the same count gets its own file and its own features."""
    from labelnoise.audit import IMAGE_VIEW_FEATURES, _patch_features

    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (20, 8, 8, 3), dtype=np.uint8)
    b = a.copy()
    b[3, 2, 2, 0] ^= 0xFF  # one pixel differs
    params = dict(IMAGE_VIEW_FEATURES, n_patches=500)
    kw = dict(seed=0, resume=True, progress=False, console=None, mirror=True)
    fa = _patch_features(a, params, tmp_path, **kw)
    fb = _patch_features(b, params, tmp_path, **kw)
    assert len(list(tmp_path.glob("patch_features_20_*.npy"))) == 2
    assert not np.array_equal(fa, fb)
    np.testing.assert_array_equal(_patch_features(a, params, tmp_path, **kw), fa)  # reused


def test_neighbour_vote_mixture_keeps_an_empty_class_at_zero():
    """The ranking's mixture over the classes with examples: a class of the list with none
    keeps probability 0; the rest is knn_label_quality's combination on those classes."""
    from labelnoise.data_issues import knn_label_quality, nearest_neighbors, with_neighbour_vote

    x, y = _clusters()
    labels = np.where(y == 1, 2, y)  # classes 0 and 2 of a list of 3 (two clusters labelled 2)
    labels[5] = 2
    rng = np.random.default_rng(4)
    pp = rng.dirichlet(np.ones(3), size=len(y))
    pp[:, 1] = 0.05
    pp /= pp.sum(1, keepdims=True)
    nbrs = nearest_neighbors(x, 10)
    out, w = with_neighbour_vote(labels, pp, nbrs[1])
    assert (out[:, 1] == 0).all() and np.allclose(out.sum(1), 1.0) and 0 <= w <= 1
    sub = pp[:, [0, 2]] / pp[:, [0, 2]].sum(1, keepdims=True)
    ref = knn_label_quality(None, labels // 2, 10, pred_probs=sub, neighbors=nbrs)
    np.testing.assert_allclose(out[:, [0, 2]], ref.pred_probs)
    assert w == pytest.approx(ref.knn_weight)
    with pytest.raises(ValueError, match="indices must have one row per example"):
        with_neighbour_vote(labels, pp, nbrs[1][:-1])
    bad = pp.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="pred_probs"):
        with_neighbour_vote(labels, bad, nbrs[1])
