"""End-to-end tests of ``labelnoise consensus`` on tiny files."""

from __future__ import annotations

import numpy as np
import pandas as pd
from click.testing import CliRunner

from labelnoise.cli import main


def _dense(tmp_path):
    dense = np.array([[0, 0, 1], [1, 1, -1], [2, -1, 2], [0, 1, 0], [1, 1, 1], [2, 2, 0]])
    path = tmp_path / "ann.npy"
    np.save(path, dense)
    return dense, path


def test_consensus_npy_writes_csvs_and_refuses_overwrite(tmp_path):
    dense, path = _dense(tmp_path)
    out = tmp_path / "out"
    runner = CliRunner()
    res = runner.invoke(main, ["consensus", "--annotations", str(path), "--out", str(out),
                               "--method", "majority_vote"])
    assert res.exit_code == 0, res.output
    cons = pd.read_csv(out / "consensus.csv")
    np.testing.assert_array_equal(cons["consensus_label"], [0, 1, 2, 0, 1, 2])
    np.testing.assert_allclose(cons["agreement"], [2 / 3, 1, 1, 2 / 3, 1, 2 / 3])
    annot = pd.read_csv(out / "annotators.csv").sort_values("annotator")
    np.testing.assert_array_equal(annot["num_labels"], [6, 5, 5])
    np.testing.assert_allclose(annot["agreement_with_consensus"], [1.0, 0.8, 0.6])
    assert "majority_vote" in res.output
    again = runner.invoke(main, ["consensus", "--annotations", str(path), "--out", str(out)])
    assert again.exit_code != 0 and "--force" in again.output
    forced = runner.invoke(main, ["consensus", "--annotations", str(path), "--out", str(out),
                                  "--force"])
    assert forced.exit_code == 0, forced.output


def test_consensus_long_csv_with_pred_probs(tmp_path):
    dense, _ = _dense(tmp_path)
    rows = [(f"img{n}", f"w{m}", int(dense[n, m])) for n, m in zip(*np.nonzero(dense >= 0))]
    table = tmp_path / "long.csv"
    pd.DataFrame(rows, columns=["example_id", "annotator_id", "label"]).to_csv(table, index=False)
    probs = np.full((6, 3), 0.1)
    probs[np.arange(6), [0, 1, 2, 0, 1, 2]] = 0.8
    pp = tmp_path / "pp.npy"
    np.save(pp, probs)
    out = tmp_path / "o"
    res = CliRunner().invoke(main, ["consensus", "--annotations", str(table), "--pred-probs",
                                    str(pp), "--out", str(out)])
    assert res.exit_code == 0, res.output
    cons = pd.read_csv(out / "consensus.csv")
    assert list(cons["example"]) == [f"img{i}" for i in range(6)]
    assert set(pd.read_csv(out / "annotators.csv")["annotator"]) == {"w0", "w1", "w2"}
    assert "model_aware" in res.output


def test_consensus_bad_input_is_a_clean_error(tmp_path):
    path = tmp_path / "bad.npy"
    np.save(path, np.array([[0, 1], [-1, -1]]))
    res = CliRunner().invoke(main, ["consensus", "--annotations", str(path), "--out",
                                    str(tmp_path / "o")])
    assert res.exit_code != 0
    assert "no label from any annotator" in res.output
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"example": [0], "label": [1]}).to_csv(bad, index=False)
    res = CliRunner().invoke(main, ["consensus", "--annotations", str(bad), "--out",
                                    str(tmp_path / "o2")])
    assert res.exit_code != 0 and "annotator_id" in res.output


def test_consensus_names_the_missing_column_and_a_k_that_cannot_be(tmp_path):
    """A missing column is named with the option that sets it (a default told as such); a
    --num-classes other than the number of string classes is refused before any work."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"example_id": np.repeat(np.arange(20), 3),
                          "annotator_id": np.tile(["a", "b", "c"], 20),
                          "label": rng.choice(["cat", "dog"], 60)})
    path = tmp_path / "ann.csv"
    frame.to_csv(path, index=False)
    run = CliRunner().invoke
    res = run(main, ["consensus", "--annotations", str(path), "--example-column", "photo",
                     "--out", str(tmp_path / "o1")])
    assert res.exit_code == 2
    assert "no column 'photo' (--example-column)" in res.output and "'annotator_id'" in res.output
    frame.drop(columns="label").to_csv(tmp_path / "nolabel.csv", index=False)
    res = run(main, ["consensus", "--annotations", str(tmp_path / "nolabel.csv"),
                     "--out", str(tmp_path / "o2")])
    assert res.exit_code == 2
    assert "no column 'label' (the default; name its column with --label-column)" in res.output
    res = run(main, ["consensus", "--annotations", str(path), "--num-classes", "5",
                     "--out", str(tmp_path / "o3")])
    assert res.exit_code == 2 and "--num-classes" in res.output and "2 classes" in res.output
    assert not (tmp_path / "o3" / "consensus.csv").exists()
    # K above the string classes is fine when their names are given
    res = run(main, ["consensus", "--annotations", str(path), "--class-names", "cat,dog,bird",
                     "--num-classes", "3", "--method", "majority_vote", "--out", str(tmp_path / "o4")])
    assert res.exit_code == 0, res.output
    out = pd.read_csv(tmp_path / "o4" / "consensus.csv")
    assert set(out["consensus_label"]) <= {"cat", "dog"} and len(out) == 20


def test_consensus_wide_table_one_column_per_annotator(tmp_path):
    """--wide: cleanlab's labels_multiannotator layout (a row per example, a column per
    annotator, empty cells) gives the consensus of the same annotations as a long table."""
    rng = np.random.default_rng(1)
    true = rng.choice(["ant", "bee", "cow"], 40)
    wide = pd.DataFrame({f"w{m}": np.where(rng.random(40) < 0.8, true,
                                           rng.choice(["ant", "bee", "cow"], 40))
                         for m in range(3)})
    wide.iloc[::7, 1] = ""  # gaps
    wide.insert(0, "example_id", [f"img{i:02d}" for i in range(40)])
    wide.to_csv(tmp_path / "wide.csv", index=False)
    long = wide.melt("example_id", var_name="annotator_id", value_name="label").dropna()
    long[long["label"] != ""].to_csv(tmp_path / "long.csv", index=False)
    run = CliRunner().invoke
    for name, extra in (("wide", ["--wide"]), ("long", [])):
        res = run(main, ["consensus", "--annotations", str(tmp_path / f"{name}.csv"), *extra,
                         "--method", "dawid_skene", "--out", str(tmp_path / name)])
        assert res.exit_code == 0, res.output
    a = pd.read_csv(tmp_path / "wide" / "consensus.csv")
    b = pd.read_csv(tmp_path / "long" / "consensus.csv")
    pd.testing.assert_frame_equal(a, b)
    assert list(a["example"][:2]) == ["img00", "img01"] and set(a["consensus_label"]) <= {"ant", "bee", "cow"}
    assert (a.set_index("example")["consensus_label"] == pd.Series(true, index=wide["example_id"])).mean() > 0.85
    res = run(main, ["consensus", "--annotations", str(tmp_path / "x.npy"), "--wide",
                     "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "--wide" in res.output
