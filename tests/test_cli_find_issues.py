"""`labelnoise find-issues` end to end on a small file and on a benchmark file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
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
    # the first flagged rows of the CSV are printed under the summary
    import re

    assert "most likely wrong labels" in res.output
    for _, row in frame.head(5).iterrows():
        assert re.search(rf"│ {row['index']}\s+│ {row['given_label']}\s+│ "
                         rf"{row['suggested_label']}\s+│ {row['label_quality_score']:.4f} │",
                         res.output), row
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


def test_find_issues_features_ranks_by_the_neighbour_vote(tmp_path):
    """--features: the CSV ranks by the pred_probs mixed with the label vote of each
    example's 10 nearest neighbours in the features (reference: with_neighbour_vote on
    scikit-learn's exact neighbours), string labels included; with weak pred_probs and
    features that separate the classes, the vote finds more of the flips."""
    from sklearn.neighbors import NearestNeighbors

    from labelnoise.data_issues import with_neighbour_vote

    rng = np.random.default_rng(1)
    true = np.repeat(np.arange(3), 100)
    feats = rng.normal(size=(300, 5)) + 4.0 * np.eye(3, 5)[true]
    pp = rng.dirichlet(np.ones(3), 300) * 0.8  # a weak model
    pp[np.arange(300), true] += 0.2
    given = true.copy()
    flip = rng.random(300) < 0.2
    given[flip] = (true[flip] + 1) % 3
    names = np.array(["cat", "dog", "fox"])
    pd.DataFrame({"y": names[given]}).to_csv(tmp_path / "labels.csv", index=False)
    np.save(tmp_path / "pp.npy", pp)
    np.save(tmp_path / "feats.npy", feats)
    out = tmp_path / "issues.csv"
    res = CliRunner().invoke(main, ["find-issues", "--labels", str(tmp_path / "labels.csv"),
                                    "--pred-probs", str(tmp_path / "pp.npy"), "--features",
                                    str(tmp_path / "feats.npy"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    ind = NearestNeighbors(n_neighbors=11, metric="cosine").fit(feats).kneighbors(feats)[1]
    ind = np.array([[j for j in row if j != i][:10] for i, row in enumerate(ind)])
    mixed, w = with_neighbour_vote(given, pp, ind)
    assert f"neighbour vote: {w:.3f}" in res.output and w > 0.3
    ref = labelnoise.find_issues(given, mixed)
    frame = pd.read_csv(out)
    np.testing.assert_array_equal(frame["index"], ref.ranking)
    assert (frame["given_label"] == names[given[frame["index"]]]).all()
    np.testing.assert_array_equal(frame["is_label_issue"], ref.is_label_issue[frame["index"]])
    plain = labelnoise.find_issues(given, pp)  # measured F1 0.505 -> 0.782

    def f1(flags):
        return 2 * (flags & flip).sum() / (flags.sum() + flip.sum())

    assert f1(ref.is_label_issue) > f1(plain.is_label_issue) + 0.2
    # the same embeddings in an .npz as embedding code writes it: the same file
    np.savez(tmp_path / "feats.npz", embeddings=feats)
    res = CliRunner().invoke(main, ["find-issues", "--labels", str(tmp_path / "labels.csv"),
                                    "--pred-probs", str(tmp_path / "pp.npy"), "--features",
                                    str(tmp_path / "feats.npz"), "--out", str(tmp_path / "z.csv")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "z.csv").read_bytes() == out.read_bytes()
    # errors: a features file of another length; with --multi-label
    np.save(tmp_path / "short.npy", feats[:10])
    res = CliRunner().invoke(main, ["find-issues", "--labels", str(tmp_path / "labels.csv"),
                                    "--pred-probs", str(tmp_path / "pp.npy"), "--features",
                                    str(tmp_path / "short.npy"), "--out", str(out), "--force"])
    assert res.exit_code != 0 and "short.npy" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(main, ["find-issues", "--multi-label", "--labels",
                                    str(tmp_path / "labels.csv"), "--pred-probs",
                                    str(tmp_path / "pp.npy"), "--features",
                                    str(tmp_path / "feats.npy"), "--out", str(out), "--force"])
    assert res.exit_code == 2 and "--features" in res.output


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


# ------------------------------------------------------------------------- multi-label


NAMES = ["cat", "dog", "car", "tree"]


def _multilabel_files(tmp_path, seed=3):
    from labelnoise import noise

    rng = np.random.default_rng(seed)
    true = rng.random((300, 4)) < 0.35
    pp = np.clip(np.where(true, 0.85, 0.1) + rng.normal(0, 0.08, (300, 4)), 0, 1)
    noisy = noise.multilabel_flips(true, 0.02, 0.1, seed=seed + 1).labels
    np.save(tmp_path / "y.npy", noisy.astype(np.int8))
    np.save(tmp_path / "pp.npy", pp)
    pd.DataFrame({"id": [f"ex{i}" for i in range(300)],
                  "tags": [";".join(NAMES[c] for c in np.flatnonzero(r)) for r in noisy]}
                 ).to_csv(tmp_path / "labels.csv", index=False)
    pd.DataFrame(pp, columns=NAMES).to_csv(tmp_path / "pp.csv", index=False)
    return true, noisy, pp


def _run(*args):
    return CliRunner().invoke(main, ["find-issues", "--multi-label", *map(str, args)])


def test_find_issues_multilabel_npy_matrix(tmp_path):
    from labelnoise import multilabel

    true, noisy, pp = _multilabel_files(tmp_path)
    out = tmp_path / "issues.csv"
    res = _run("--labels", tmp_path / "y.npy", "--pred-probs", tmp_path / "pp.npy", "--out", out)
    assert res.exit_code == 0, res.output
    assert "300 examples, 4 classes (multi-label)" in res.output
    frame = pd.read_csv(out, keep_default_na=False)
    assert list(frame.columns) == ["rank", "index", "given_labels", "suggested_labels",
                                   "label_quality_score", "is_label_issue"] + [
        f"is_label_issue_{k}" for k in range(4)]
    scores = multilabel.multilabel_quality_scores(noisy, pp)
    np.testing.assert_array_equal(frame["index"], np.argsort(scores, kind="stable"))
    np.testing.assert_allclose(frame["label_quality_score"], scores[frame["index"]])
    flags = multilabel.find_multilabel_issues(noisy, pp)
    np.testing.assert_array_equal(frame["is_label_issue"], flags[frame["index"]])
    per_class = multilabel.per_class_label_issues(noisy, pp)
    for k in range(4):
        np.testing.assert_array_equal(frame[f"is_label_issue_{k}"], per_class[frame["index"], k])
    row = frame.iloc[0]  # the worst example: its given set and the set with flags toggled
    given = noisy[row["index"]]
    assert row["given_labels"] == ",".join(str(k) for k in np.flatnonzero(given))
    assert row["suggested_labels"] == ",".join(
        str(k) for k in np.flatnonzero(given ^ per_class[row["index"]]))
    errors = (noisy != true).any(axis=1)
    assert errors[frame["index"][frame["is_label_issue"]]].mean() > 0.9  # flags are mostly real
    assert not list(tmp_path.glob(".labelnoise-tmp-*"))  # written atomically


def test_find_issues_multilabel_on_multiclass_labels_says_drop_the_flag(tmp_path):
    _, noisy, pp = _multilabel_files(tmp_path)
    np.save(tmp_path / "classes.npy", noisy.argmax(axis=1))
    res = _run("--labels", tmp_path / "classes.npy", "--pred-probs", tmp_path / "pp.npy",
               "--out", tmp_path / "o.csv")
    assert res.exit_code == 2 and "drop --multi-label" in res.output
    assert not (tmp_path / "o.csv").exists()


def test_find_issues_multilabel_table_of_label_lists(tmp_path):
    from labelnoise import multilabel

    _, noisy, pp = _multilabel_files(tmp_path)
    out = tmp_path / "issues.csv"
    # class names from the pred_probs header, labels as names joined by ';', ids
    res = _run("--labels", tmp_path / "labels.csv", "--label-column", "tags", "--id-column", "id",
               "--label-delimiter", ";", "--pred-probs", tmp_path / "pp.csv", "--out", out,
               "--only-issues", "--filter-by", "pooled")
    assert res.exit_code == 0, res.output
    frame = pd.read_csv(out, keep_default_na=False)
    flags = multilabel.find_multilabel_issues(noisy, pp, filter_by="pooled")
    assert len(frame) == flags.sum() and frame["is_label_issue"].all()
    np.testing.assert_array_equal(np.sort(frame["index"]), np.flatnonzero(flags))
    assert (frame["example_id"] == [f"ex{i}" for i in frame["index"]]).all()
    assert [c for c in frame.columns if c.startswith("is_label_issue_")] == [
        f"is_label_issue_{n}" for n in NAMES]
    assert (frame["given_labels"] == [";".join(NAMES[c] for c in np.flatnonzero(noisy[i]))
                                      for i in frame["index"]]).all()
    # the same from indices in a CSV column, and from --class-names with a .npy pred_probs
    pd.DataFrame({"y": [",".join(map(str, np.flatnonzero(r))) for r in noisy]}).to_csv(
        tmp_path / "idx.csv", index=False)
    res = _run("--labels", tmp_path / "idx.csv", "--pred-probs", tmp_path / "pp.npy", "--out", out,
               "--force", "--only-issues", "--filter-by", "pooled", "--class-names", ",".join(NAMES))
    assert res.exit_code == 0, res.output
    np.testing.assert_array_equal(np.sort(pd.read_csv(out)["index"]), np.flatnonzero(flags))
    # list cells: written by pandas as "['cat', 'dog']" in a CSV, a list column in Parquet
    lists = [[NAMES[c] for c in np.flatnonzero(r)] for r in noisy]
    pd.DataFrame({"y": lists}).to_csv(tmp_path / "lists.csv", index=False)
    pd.DataFrame({"y": lists}).to_parquet(tmp_path / "lists.parquet")
    for path in (tmp_path / "lists.csv", tmp_path / "lists.parquet"):
        res = _run("--labels", path, "--pred-probs", tmp_path / "pp.csv", "--out", out, "--force",
                   "--only-issues", "--filter-by", "pooled")
        assert res.exit_code == 0, res.output
        np.testing.assert_array_equal(np.sort(pd.read_csv(out)["index"]), np.flatnonzero(flags))


@pytest.mark.parametrize("case, code, message", [
    ("delimiter-without-multilabel", 2, "--label-delimiter: is only used with --multi-label"),
    ("unknown-class", 2, "row 1: 'cow' is not one of the classes"),
    ("too-few-names", 2, "the label lists name 3 distinct classes but pred_probs has K = 4"),
    ("value-above-one", 2, r"probabilities in [0, 1]; pred_probs[2, 1] = 1.5"),
    ("rows-mismatch", 2, "pred_probs has 10 rows but labels has 300 examples"),
    ("index-out-of-range", 2, "labels[0] holds 7; class indices must be [0, 4)"),
    ("missing-file", 3, "file not found"),
    ("out-exists", 4, "exists; pass --force"),
])
def test_find_issues_multilabel_errors(tmp_path, case, code, message):
    _, noisy, pp = _multilabel_files(tmp_path)
    labels, probs, extra = tmp_path / "y.npy", tmp_path / "pp.npy", []
    if case == "delimiter-without-multilabel":
        res = CliRunner().invoke(main, ["find-issues", "--labels", str(labels), "--pred-probs",
                                        str(probs), "--out", str(tmp_path / "o.csv"),
                                        "--label-delimiter", ";"])
    else:
        if case == "unknown-class":
            pd.DataFrame({"y": ["cat", "cow"] + ["dog"] * 298}).to_csv(tmp_path / "l.csv", index=False)
            labels, probs = tmp_path / "l.csv", tmp_path / "pp.csv"
        elif case == "too-few-names":
            pd.DataFrame({"y": ["cat", "dog;car", ""] * 100}).to_csv(tmp_path / "l.csv", index=False)
            labels = tmp_path / "l.csv"
            extra = ["--label-delimiter", ";"]
        elif case == "value-above-one":
            bad = pp.copy()
            bad[2, 1] = 1.5
            np.save(tmp_path / "bad.npy", bad)
            probs = tmp_path / "bad.npy"
        elif case == "rows-mismatch":
            np.save(tmp_path / "short.npy", pp[:10])
            probs = tmp_path / "short.npy"
        elif case == "index-out-of-range":
            pd.DataFrame({"y": ["7"] + ["1"] * 299}).to_csv(tmp_path / "l.csv", index=False)
            labels = tmp_path / "l.csv"
        elif case == "missing-file":
            labels = tmp_path / "nope.npy"
        elif case == "out-exists":
            (tmp_path / "o.csv").write_text("x\n")
        res = _run("--labels", labels, "--pred-probs", probs, "--out", tmp_path / "o.csv", *extra)
    assert res.exit_code == code, res.output
    assert message in " ".join(res.output.split()), res.output


def test_find_issues_measures_its_flags_against_a_true_label_column(tmp_path):
    """--true-label-column (a column of the --labels table, e.g. simulate's <label>_true):
    the printed precision / recall / F1 / AUPRC are the audit's detection_metrics on the
    same result, and the CSV gets true_label (as class names)."""
    from labelnoise.audit import detection_metrics

    given, pp, flip = _files(tmp_path)
    names = np.array(["ant", "bee", "cow"])
    true = np.where(flip, (given - 1) % 3, given)  # the labels before _files flipped them
    pd.DataFrame({"y": names[given], "y_true": names[true]}).to_csv(tmp_path / "t.csv",
                                                                     index=False)
    out = tmp_path / "issues.csv"
    res = CliRunner().invoke(main, ["find-issues", "--labels", str(tmp_path / "t.csv"),
                                    "--label-column", "y", "--true-label-column", "y_true",
                                    "--pred-probs", str(tmp_path / "pp.npy"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    api = labelnoise.find_issues(given, pp)
    m = detection_metrics(given, true, api.is_label_issue, api.label_quality_scores)
    assert (f"true noise rate {m['true_noise_rate']:.4f}; precision / recall / F1 "
            f"{m['precision']:.4f} / {m['recall']:.4f} / {m['f1']:.4f}; AUPRC "
            f"{m['auprc']:.4f}") in res.output
    frame = pd.read_csv(out)
    np.testing.assert_array_equal(frame["true_label"], names[true[frame["index"]]])
    res = CliRunner().invoke(main, ["find-issues", "--labels", str(tmp_path / "labels.npy"),
                                    "--true-label-column", "y_true", "--pred-probs",
                                    str(tmp_path / "pp.npy"), "--out", str(out), "--force"])
    assert res.exit_code == 2 and "--labels is a .npy" in res.output
