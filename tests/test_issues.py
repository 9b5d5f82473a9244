"""labelnoise.find_issues: one result that the API, the CLI and the report agree on."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from _data import noisy_softmax_case
from _html import ReportPage
from click.testing import CliRunner

import labelnoise
from labelnoise import _validation, estimate_noise, find_issues, find_label_issues
from labelnoise import label_quality_scores as lqs
from labelnoise.cli import main
from labelnoise.filter import FILTERS


def _case(seed=0, n=400, k=4):
    return noisy_softmax_case(seed, n, k)


@pytest.mark.parametrize("filter_by", FILTERS)
def test_find_issues_agrees_with_the_single_purpose_functions(filter_by):
    given, pp, _ = _case()
    res = find_issues(given, pp, filter_by=filter_by)
    np.testing.assert_array_equal(res.is_label_issue, find_label_issues(given, pp, filter_by=filter_by))
    np.testing.assert_array_equal(res.label_quality_scores, lqs(given, pp, method=res.score_method))
    np.testing.assert_array_equal(res.issue_indices,
                                  find_label_issues(given, pp, filter_by=filter_by, return_ranked=True))
    np.testing.assert_array_equal(res.noise.confident_joint, estimate_noise(given, pp).confident_joint)
    np.testing.assert_array_equal(res.suggested_labels,
                                  labelnoise.rank.suggested_labels(given, pp, issues=res.is_label_issue))
    assert (np.diff(res.label_quality_scores[res.ranking]) >= 0).all()
    assert sorted(res.ranking.tolist()) == list(range(len(given)))
    if res.score_method == "mixture":
        assert res.mixture_weight == pytest.approx(labelnoise.rank.mixture_weight(given, pp))


def test_find_issues_validates_once(monkeypatch):
    given, pp, _ = _case()
    calls = []
    real = _validation.validate_labels_and_pred_probs

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(_validation, "validate_labels_and_pred_probs", counting)
    import labelnoise.rank as rank_module

    monkeypatch.setattr(rank_module, "validate_labels_and_pred_probs", counting)
    find_issues(given, pp)
    assert len(calls) == 1


def test_to_frame_columns_and_order():
    given, pp, true = _case(n=50, k=3)
    res = find_issues(given, pp)
    frame = res.to_frame(class_names=["a", "b", "c"], example_ids=[f"img{i}" for i in range(50)],
                         true_labels=true)
    # one layout (issue 16): labels as names when the class names are known
    assert list(frame.columns) == ["rank", "index", "example_id", "given_label", "suggested_label",
                                   "label_quality_score", "is_label_issue", "true_label"]
    names = np.array(["a", "b", "c"], dtype=object)
    np.testing.assert_array_equal(frame["given_label"], names[given[res.ranking]])
    np.testing.assert_array_equal(frame["suggested_label"], names[res.suggested_labels[res.ranking]])
    np.testing.assert_array_equal(frame["true_label"], names[true[res.ranking]])
    assert list(res.to_frame().columns) == ["rank", "index", "given_label", "suggested_label",
                                            "label_quality_score", "is_label_issue"]
    np.testing.assert_array_equal(frame["index"], res.ranking)
    assert frame["example_id"].iloc[0] == f"img{res.ranking[0]}"
    only = res.to_frame(only_issues=True)
    assert len(only) == res.num_issues and only["is_label_issue"].all()
    with pytest.raises(ValueError, match="example_ids"):
        res.to_frame(example_ids=[1, 2])


def test_cli_audit_and_report_agree(tmp_path):
    given, pp, true = _case(seed=3, n=600, k=5)
    np.save(tmp_path / "labels.npy", given)
    np.save(tmp_path / "pp.npy", pp)
    runner = CliRunner()
    res = runner.invoke(main, ["find-issues", "--labels", str(tmp_path / "labels.npy"),
                               "--pred-probs", str(tmp_path / "pp.npy"), "--out",
                               str(tmp_path / "fi.csv")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["audit", "--pred-probs", str(tmp_path / "pp.npy"), "--labels",
                               str(tmp_path / "labels.npy"), "--out", str(tmp_path / "audit"),
                               "--no-progress"])
    assert res.exit_code == 0, res.output
    api = find_issues(given, pp)
    cli = pd.read_csv(tmp_path / "fi.csv")
    audit = pd.read_csv(tmp_path / "audit" / "issues.csv")
    flagged = audit[audit["is_label_issue"]]
    pd.testing.assert_frame_equal(cli, audit)  # one issues.csv layout and content (issue 16)
    cli = cli[cli["is_label_issue"]]
    np.testing.assert_array_equal(cli["index"], api.issue_indices)
    np.testing.assert_array_equal(flagged["index"], api.issue_indices)  # same order
    np.testing.assert_array_equal(audit["index"], api.ranking)
    np.testing.assert_allclose(flagged["label_quality_score"], cli["label_quality_score"], rtol=1e-5)
    np.testing.assert_array_equal(flagged["suggested_label"], cli["suggested_label"])
    page = ReportPage((tmp_path / "audit" / "report.html").read_text())
    assert page.ids["n-issues"] == str(api.num_issues) == str(len(cli))
    import json

    meta = json.loads((tmp_path / "audit" / "noise.json").read_text())
    assert meta["num_issues_flagged"] == api.num_issues
    assert meta["mixture_weight"] == pytest.approx(api.mixture_weight)
    np.testing.assert_array_equal(meta["confident_joint"], api.noise.confident_joint)


def test_find_issues_with_features_reads_the_neighbour_vote_mixture():
    """features=: everything is computed from the pred_probs mixed with the vote of each
    example's 10 nearest neighbours (reference: scikit-learn's exact neighbours and
    with_neighbour_vote); string labels and a class list with an empty class work; bad
    features are refused with the argument's name."""
    from sklearn.neighbors import NearestNeighbors

    from labelnoise.data_issues import with_neighbour_vote

    rng = np.random.default_rng(3)
    true = np.repeat(np.arange(3), 60)
    x = rng.normal(size=(180, 4)) + 3.0 * np.eye(3, 4)[true]
    pp = rng.dirichlet(np.ones(3), 180) * 0.8
    pp[np.arange(180), true] += 0.2
    given = true.copy()
    flip = rng.random(180) < 0.2
    given[flip] = (true[flip] + 1) % 3
    ind = NearestNeighbors(n_neighbors=11, metric="cosine").fit(x).kneighbors(x)[1]
    ind = np.array([[j for j in row if j != i][:10] for i, row in enumerate(ind)])
    mixed, w = with_neighbour_vote(given, pp, ind)
    res = find_issues(given, pp, features=x)
    ref = find_issues(given, mixed)
    assert res.neighbour_vote_weight == pytest.approx(w) and 0 < w <= 1
    assert ref.neighbour_vote_weight is None
    np.testing.assert_array_equal(res.is_label_issue, ref.is_label_issue)
    np.testing.assert_array_equal(res.ranking, ref.ranking)
    np.testing.assert_allclose(res.label_quality_scores, ref.label_quality_scores)
    np.testing.assert_array_equal(res.noise.confident_joint, ref.noise.confident_joint)
    # string labels; an explicit class list with a fourth class nobody gave
    names = np.array(["a", "b", "c"])
    pp4 = np.hstack([pp * 0.9, np.full((180, 1), 0.1)])
    res4 = find_issues(names[given], pp4, class_names=["a", "b", "c", "d"], features=x)
    assert res4.class_names == ["a", "b", "c", "d"]
    assert res4.neighbour_vote_weight is not None
    np.testing.assert_array_equal(res4.labels, given)
    with pytest.raises(ValueError, match="features has 10 rows but 180 were expected"):
        find_issues(given, pp, features=x[:10])
    bad = x.copy()
    bad[5, 1] = np.nan
    with pytest.raises(ValueError, match=r"features must be finite; features\[5, 1\]"):
        find_issues(given, pp, features=bad)


def test_find_issues_with_features_still_warns_on_misaligned_columns():
    """The vote agrees with the labels by construction, so the mixture can look aligned when
    the pred_probs columns are not: the check reads the pred_probs given."""
    rng = np.random.default_rng(5)
    true = np.repeat(np.arange(4), 50)
    x = rng.normal(size=(200, 4)) + 4.0 * np.eye(4)[true]
    pp = np.full((200, 4), 0.05)
    pp[np.arange(200), true] = 0.85
    shuffled = pp[:, [1, 2, 3, 0]]  # columns in another order than the labels' classes
    with pytest.warns(_validation.LabelOrderWarning, match="look misaligned"):
        res = find_issues(true, shuffled, features=x)
    assert res.neighbour_vote_weight > 0.5  # the vote carries the ranking here
    with warnings.catch_warnings():
        warnings.simplefilter("error", _validation.LabelOrderWarning)
        find_issues(true, pp, features=x)  # aligned: no warning
