"""Tables as they are: numeric, boolean, categorical and free-text columns."""

import numpy as np
import pandas as pd
import pytest

from labelnoise.datasets import TableWarning, load_table


def _table(tmp_path, n=40):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({
        "bottle_id": [f"b{i:03d}" for i in range(n)],
        "alcohol": rng.normal(12, 1, n).round(2),
        "organic": rng.random(n) < 0.5,
        "region": rng.choice(["north", "south", "east"], n),
        "comment": [f"note number {i} about taste" for i in range(n)],
        "y": rng.choice(["red", "white"], n),
    })
    df.loc[3, "region"] = None  # a missing category
    path = tmp_path / "wine.csv"
    df.to_csv(path, index=False)
    return df, path


def test_categorical_columns_one_hot_and_text_left_out_with_a_warning(tmp_path):
    df, path = _table(tmp_path)
    with pytest.warns(TableWarning, match=r"'comment' \(40 distinct values\)") as caught:
        d = load_table(path, "y", id_column="bottle_id")
    # the warning says how to use free text instead (issue 16): --text-column
    assert '--text-column (pip install "labelnoise[text]")' in str(caught[0].message)
    assert d.info["text_columns"] == [] and "text_model" not in d.info
    info = d.info
    assert info["feature_columns"] == ["alcohol", "organic", "region"]
    assert info["categorical_columns"] == ["region"]
    assert info["encoded_features"] == ["alcohol", "organic", "region_(missing)", "region_east",
                                        "region_north", "region_south"]
    assert d.inputs.shape == (40, 6)
    np.testing.assert_allclose(d.inputs[:, 0], df["alcohol"].to_numpy())
    np.testing.assert_array_equal(d.inputs[:, 1], df["organic"].to_numpy(dtype=float))
    region = df["region"].fillna("(missing)").to_numpy()
    for j, name in enumerate(["(missing)", "east", "north", "south"]):
        np.testing.assert_array_equal(d.inputs[:, 2 + j], (region == name).astype(float))
    assert list(d.info["example_ids"][:2]) == ["b000", "b001"]


def test_explicit_text_column_is_encoded_and_numeric_nan_still_refused(tmp_path):
    df, path = _table(tmp_path)
    d = load_table(path, "y", feature_columns=["alcohol", "comment"])
    assert d.inputs.shape == (40, 1 + 40)
    df.loc[5, "alcohol"] = np.nan
    df.to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"'alcohol'.*row 5"):
        load_table(path, "y", feature_columns=["alcohol", "region"])


def test_feature_columns_refuse_the_label_the_id_repeats_and_an_empty_table(tmp_path):
    df, path = _table(tmp_path)
    with pytest.raises(ValueError, match=r"feature column 'y' \(--feature-column\) is a label"):
        load_table(path, "y", feature_columns=["alcohol", "y"])  # the answer among the inputs
    with pytest.raises(ValueError, match="'bottle_id' .* is also the id column"):
        load_table(path, "y", feature_columns=["bottle_id"], id_column="bottle_id")
    with pytest.raises(ValueError, match="'alcohol' .* is named twice"):
        load_table(path, "y", feature_columns=["alcohol", "region", "alcohol"])
    with pytest.raises(ValueError, match=r"feature_columns must be a list.*\['alcohol'\]"):
        load_table(path, "y", feature_columns="alcohol")
    df[["bottle_id", "comment", "y"]].to_csv(tmp_path / "bare.csv", index=False)
    with pytest.warns(TableWarning), pytest.raises(ValueError, match="bare.csv has no feature"):
        load_table(tmp_path / "bare.csv", "y", id_column="bottle_id")


def test_a_test_table_is_encoded_with_the_training_tables_categories(tmp_path):
    """fit on train, transform on test: a category the test table lacks keeps its column
    (all zeros), a category it alone has gets none (all zeros), the columns keep their order."""
    df, path = _table(tmp_path)
    train = load_table(path, "y", id_column="bottle_id", feature_columns=["alcohol", "region"])
    enc = train.info["encoding"]
    assert enc == {"feature_columns": ["alcohol", "region"], "categorical_columns": ["region"],
                   "categories": {"region": ["(missing)", "east", "north", "south"]}}
    test = pd.DataFrame({"alcohol": [11.0, 12.5, 13.0], "region": ["south", "west", "north"],
                         "y": ["red", "white", "red"]})
    test.to_csv(tmp_path / "test.csv", index=False)
    with pytest.warns(TableWarning, match="'region'"):  # 3 values in 3 rows: looks like ids
        assert load_table(tmp_path / "test.csv", "y").info["feature_columns"] == ["alcohol"]
    own = load_table(tmp_path / "test.csv", "y", feature_columns=["alcohol", "region"])
    assert own.info["encoded_features"] == ["alcohol", "region_north", "region_south",
                                            "region_west"]
    d = load_table(tmp_path / "test.csv", "y", encoding=enc)
    assert d.info["encoded_features"] == train.info["encoded_features"]
    np.testing.assert_array_equal(d.inputs, [[11.0, 0, 0, 0, 1],
                                             [12.5, 0, 0, 0, 0],  # 'west': unknown, zeros
                                             [13.0, 0, 0, 1, 0]])
    with pytest.raises(ValueError, match="not both"):
        load_table(tmp_path / "test.csv", "y", encoding=enc, feature_columns=["alcohol"])
    test.drop(columns="region").to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(ValueError, match="'region' .*training table.* not in short.csv"):
        load_table(tmp_path / "short.csv", "y", encoding=enc)
    test.assign(alcohol=["high", "low", "low"]).to_csv(tmp_path / "words.csv", index=False)
    with pytest.raises(ValueError, match="'alcohol' is numeric in the training table"):
        load_table(tmp_path / "words.csv", "y", encoding=enc)


def test_table_suffixes_are_those_of_a_dataset_and_keep_frame(tmp_path):
    """load_table reads exactly the DATASET suffixes of the audit and train (no .txt), and
    keep_frame hands back the feature and text columns as read, before encoding."""
    df, path = _table(tmp_path)
    txt = tmp_path / "wine.txt"
    txt.write_bytes(path.read_bytes())
    with pytest.raises(ValueError, match=r"wine\.txt.*|must end in one of"):
        load_table(txt, "y")
    with pytest.warns(TableWarning):
        d = load_table(path, "y", id_column="bottle_id", keep_frame=True)
        plain = load_table(path, "y", id_column="bottle_id")
    assert "frame" not in plain.info
    frame = d.info["frame"]
    assert list(frame.columns) == d.info["feature_columns"] == ["alcohol", "organic", "region"]
    assert frame["region"].isna().sum() == 1 and frame["region"][0] == df["region"][0]
    np.testing.assert_array_equal(frame["alcohol"], df["alcohol"])


def test_missing_labels_and_repeated_ids_are_told(tmp_path):
    """A row without a label is refused with the count and a way out; an id column that
    repeats is used, with a TableWarning naming an id and its rows."""
    df, path = _table(tmp_path)
    df.loc[[4, 9], "y"] = None
    df.to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"'y' has a missing value in row 4 \(2 of 40 rows "
                                         r"have none; .*dropna\(subset=\['y'\]\)"):
        load_table(path, "y", feature_columns=["alcohol"])
    from click.testing import CliRunner

    from labelnoise.cli import main

    res = CliRunner().invoke(main, ["simulate", "--dataset", str(path), "--label-column", "y",
                                    "--noise", "symmetric:0.2", "--out", str(tmp_path / "n.csv")])
    assert res.exit_code == 2 and "(2 of 40 rows have none" in res.output  # the same check
    df, path = _table(tmp_path)
    df["batch"] = np.arange(40) % 30  # 0..9 twice
    df.to_csv(path, index=False)
    with pytest.warns(TableWarning, match=r"'batch' does not name each row once: 20 rows share "
                                          r"an id \(e.g. 0 in rows \[0, 30\]\)"):
        d = load_table(path, "y", id_column="batch", feature_columns=["alcohol"])
    assert d.info["example_ids"].tolist() == df["batch"].tolist()


def test_label_files_say_missing_labels_and_repeated_ids(tmp_path):
    """find-issues and audit --labels read a labels table with one reader
    (read_label_table): a missing label is refused with the count, repeated ids warned."""
    from click.testing import CliRunner

    from labelnoise.cli import main

    rng = np.random.default_rng(3)
    pp = rng.dirichlet([1, 1, 1], size=30)
    np.save(tmp_path / "pp.npy", pp)
    labels = np.array(["a", "b", "c"], dtype=object)[rng.integers(0, 3, 30)]
    frame = pd.DataFrame({"y": labels, "id": np.arange(30) % 25})
    frame.to_csv(tmp_path / "dup.csv", index=False)
    frame.loc[[2, 7, 8], "y"] = None
    frame.to_csv(tmp_path / "missing.csv", index=False)
    for cmd in (["find-issues", "--out", str(tmp_path / "o.csv")],
                ["audit", "--out", str(tmp_path / "a"), "--no-progress"]):
        res = CliRunner().invoke(main, [*cmd, "--pred-probs", str(tmp_path / "pp.npy"), "--labels",
                                        str(tmp_path / "missing.csv"), "--label-column", "y"])
        assert res.exit_code == 2, res.output
        assert "missing value in row 2 (3 of 30 rows have none" in res.output
        res = CliRunner().invoke(main, [*cmd, "--pred-probs", str(tmp_path / "pp.npy"), "--labels",
                                        str(tmp_path / "dup.csv"), "--label-column", "y",
                                        "--id-column", "id", "--force"])
        assert res.exit_code == 0, res.output
        assert "'id' does not name each row once: 10 rows share an id (e.g. 0 in rows [0, 25])" \
            in " ".join(res.output.split())
