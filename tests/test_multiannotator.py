"""Tests of labelnoise.multiannotator: consensus labels and annotator quality."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from labelnoise.multiannotator import (
    Annotations,
    AnnotatorQualityWarning,
    annotator_quality,
    consensus_labels,
    label_quality_multiannotator,
    majority_vote,
)
from labelnoise.noise import multi_annotator


def _noise_matrix(k: int, accuracy: float, rng) -> np.ndarray:
    off = rng.dirichlet(np.ones(k - 1), size=k)  # random off-diagonal pattern per column
    m = np.zeros((k, k))
    for j in range(k):
        m[np.arange(k) != j, j] = (1 - accuracy) * off[j]
        m[j, j] = accuracy
    return m


def _simulate(n=4000, k=3, accuracies=(0.9, 0.75, 0.6, 0.55, 0.85), seed=0, per_example=None):
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    mats = np.stack([_noise_matrix(k, a, rng) for a in accuracies])
    sim = multi_annotator(true, mats, seed=seed, labels_per_example=per_example)
    return true, sim


# --------------------------------------------------------------------------- input
def test_from_dense_round_trip_and_counts():
    dense = np.array([[0, -1, 2], [-1, 1, 1], [2, 2, -1]])
    ann = Annotations.from_dense(dense)
    assert ann.num_classes == 3 and ann.n_labels == 6
    np.testing.assert_array_equal(ann.to_dense(), dense)
    np.testing.assert_array_equal(ann.labels_per_example(), [2, 2, 2])
    np.testing.assert_array_equal(ann.labels_per_annotator(), [2, 2, 2])
    np.testing.assert_array_equal(ann.vote_counts().toarray(), [[1, 0, 1], [0, 2, 0], [0, 0, 2]])


def test_from_dense_reads_nan_as_missing():
    dense = np.array([[0.0, np.nan], [1.0, 1.0]])
    ann = Annotations.from_dense(dense)
    np.testing.assert_array_equal(ann.to_dense(), [[0, -1], [1, 1]])


def test_from_long_maps_ids_and_returns_annotator_order():
    ann = Annotations.from_long(["b", "a", "a", "b"], ["w2", "w1", "w2", "w9"], [1, 0, 2, 1],
                                num_classes=3)
    np.testing.assert_array_equal(ann.annotator_ids, ["w1", "w2", "w9"])
    np.testing.assert_array_equal(ann.example_ids, ["a", "b"])
    np.testing.assert_array_equal(ann.to_dense(), [[0, 2, -1], [-1, 1, 1]])


def test_from_long_integer_ids_keep_rows_and_reject_duplicates():
    ann = Annotations.from_long([3, 0], [7, 7], [1, 0], n_examples=5)
    assert ann.n_examples == 5
    np.testing.assert_array_equal(ann.to_dense()[:, 0], [0, -1, -1, 1, -1])
    with pytest.raises(ValueError, match="more than once"):
        Annotations.from_long([0, 0], ["x", "x"], [1, 0])


@pytest.mark.parametrize(
    ("dense", "kwargs", "match"),
    [
        (np.array([0, 1, 2]), {}, "2-D"),
        (np.array([[0, 3], [1, -1]]), {"num_classes": 3}, r"annotations\[0, 1\] = 3"),
        (np.array([[0, -2], [1, 1]]), {}, r"annotations\[0, 1\] = -2"),
        (np.array([[0.5, 1.0]]), {}, "integer"),
        (np.zeros((0, 3), dtype=int), {}, "empty"),
    ],
)
def test_bad_annotations_raise(dense, kwargs, match):
    with pytest.raises(ValueError, match=match):
        consensus_labels(dense, **kwargs)


def test_long_table_bad_labels_and_lengths():
    with pytest.raises(ValueError, match="labels"):
        Annotations.from_long([0, 1], ["a", "b"], [0, 5], num_classes=3)
    with pytest.raises(ValueError, match="equal length"):
        Annotations.from_long([0, 1, 2], ["a", "b"], [0, 1])


def test_pred_probs_validation():
    dense = np.array([[0, 1], [1, 1], [0, 0]])
    with pytest.raises(ValueError, match="3 examples"):
        consensus_labels(dense, method="model_aware", pred_probs=np.full((4, 2), 0.5))
    with pytest.raises(ValueError, match="pred_probs"):
        consensus_labels(dense, method="model_aware", pred_probs=np.full((3, 2), 0.7))
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        consensus_labels(np.array([[0, 2]]), method="model_aware", pred_probs=np.full((1, 2), 0.5))
    with pytest.raises(ValueError, match="needs pred_probs"):
        consensus_labels(dense, method="model_aware")
    with pytest.raises(ValueError, match="method"):
        consensus_labels(dense, method="mode")
    with pytest.raises(ValueError, match="prior_strength"):
        consensus_labels(dense, prior_strength=0)


def test_inputs_not_modified():
    dense = np.array([[0, 1, -1], [1, 1, 0], [2, -1, 2]])
    probs = np.array([[0.6, 0.2, 0.2], [0.2, 0.6, 0.2], [0.2, 0.2, 0.6]])
    d0, p0 = dense.copy(), probs.copy()
    consensus_labels(dense, method="model_aware", pred_probs=probs)
    np.testing.assert_array_equal(dense, d0)
    np.testing.assert_array_equal(probs, p0)


# --------------------------------------------------------------------------- majority vote
def test_majority_vote_and_tie_rule_lowest():
    dense = np.array([
        [2, 2, 1],    # clear majority -> 2
        [3, 1, 2],    # three-way tie -> lowest class 1
        [4, -1, 0],   # two-way tie -> 0
        [-1, 3, -1],  # single label -> 3
    ])
    np.testing.assert_array_equal(majority_vote(dense, num_classes=5), [2, 1, 0, 3])
    res = consensus_labels(dense, method="majority_vote", num_classes=5)
    np.testing.assert_array_equal(res.consensus_labels, [2, 1, 0, 3])
    np.testing.assert_allclose(res.consensus_quality, [2 / 3, 1 / 3, 1 / 2, 1.0])
    assert res.n_iter == 0


def test_majority_vote_random_ties_pick_only_tied_classes_and_are_seeded():
    dense = np.tile(np.array([[3, 1, 2, 2, 1]]), (400, 1))  # classes 1 and 2 tie, 3 loses
    a = majority_vote(dense, tie_break="random", seed=1)
    b = majority_vote(dense, tie_break="random", seed=1)
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(a)) == {1, 2}
    assert 0.4 < (a == 1).mean() < 0.6


# --------------------------------------------------------------------------- Dawid-Skene
def test_dawid_skene_recovers_realised_confusion_matrices():
    true, sim = _simulate()
    res = consensus_labels(sim.annotations, method="dawid_skene")
    err = np.abs(res.noise_matrices - sim.noise_matrices).max()
    assert err < 0.05, err
    mv = majority_vote(sim.annotations)
    assert (res.consensus_labels != true).mean() < (mv != true).mean()
    # estimated accuracies are close to the realised ones and in the right order
    true_acc = (sim.annotations == true[:, None]).mean(axis=0)
    np.testing.assert_allclose(res.annotator_accuracy, true_acc, atol=0.03)
    np.testing.assert_allclose(res.posterior.sum(axis=1), 1.0)
    assert res.converged


def test_dawid_skene_class_never_given_keeps_zero_posterior():
    # every annotator says 0: with K = 2 the +1-smoothed prior of class 1 used to let EM
    # drift to the optimum where both true classes emit 0 (accuracies read as 0.50)
    unanimous = np.zeros((5, 3), dtype=int)
    for k in (None, 3):
        res = consensus_labels(unanimous, method="dawid_skene", num_classes=k)
        assert (res.consensus_labels == 0).all()
        assert (res.posterior[:, 1:] == 0).all() and res.class_prior[1:].sum() == 0
        assert (res.annotator_accuracy > 0.95).all() and (res.consensus_quality > 0.95).all()
    # K = 3 with only classes 0 and 1 ever given: class 2 keeps posterior 0, the others
    # are estimated as with K = 2
    true, sim = _simulate(n=600, k=2, seed=7)
    three = consensus_labels(sim.annotations, method="dawid_skene", num_classes=3)
    two = consensus_labels(sim.annotations, method="dawid_skene")
    assert (three.posterior[:, 2] == 0).all()
    np.testing.assert_array_equal(three.consensus_labels, two.consensus_labels)
    np.testing.assert_allclose(three.annotator_accuracy, two.annotator_accuracy, atol=0.02)


def test_dawid_skene_sparse_annotators_beat_majority_vote():
    true, sim = _simulate(n=6000, k=4, accuracies=(0.95, 0.9, 0.5, 0.45, 0.4, 0.85),
                          seed=3, per_example=3)
    res = consensus_labels(sim.annotations)
    mv = majority_vote(sim.annotations)
    assert (res.consensus_labels != true).mean() < (mv != true).mean()
    assert np.argsort(res.annotator_accuracy).tolist()[:3] == [4, 3, 2]


def test_fixed_prior_strength_pulls_sparse_annotator_to_pooled_matrix():
    true, sim = _simulate(n=2000, seed=5)
    dense = sim.annotations.copy()
    extra = np.full((dense.shape[0], 1), -1)
    extra[0, 0] = (true[0] + 1) % 3  # a new annotator with one (wrong) label
    dense = np.hstack([dense, extra])
    res = consensus_labels(dense, prior_strength=10.0)
    mat = res.noise_matrices[-1]
    assert np.isfinite(mat).all() and (mat > 0).all()
    np.testing.assert_allclose(mat.sum(axis=0), 1.0)
    assert res.num_labels[-1] == 1
    # one label moves a column with 10 pseudo-labels by at most 1/11
    pooled = res.noise_matrices[:-1].mean(axis=0)
    assert np.abs(mat - pooled).max() < 0.15


def test_all_annotators_agree():
    labels = np.array([0, 1, 2, 1, 0, 2])
    dense = np.tile(labels[:, None], (1, 4))
    for method in ("majority_vote", "dawid_skene", "glad"):
        res = consensus_labels(dense, method=method)
        np.testing.assert_array_equal(res.consensus_labels, labels)
        assert (res.consensus_quality > 0.9).all(), method
        assert (res.annotator_accuracy > 0.9).all(), method


def test_example_nobody_labelled():
    dense = np.array([[0, 1], [-1, -1], [1, 1]])
    for method in ("majority_vote", "dawid_skene", "glad"):
        with pytest.raises(ValueError, match="example 1"):
            consensus_labels(dense, method=method)
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7]])
    res = consensus_labels(dense, method="model_aware", pred_probs=probs)
    assert res.consensus_labels[1] == 1  # documented: the model alone decides


# --------------------------------------------------------------------------- degenerate
def _calibrated_model(true, k, rng):
    """pred_probs of a ~92% accurate model whose confidence (~0.9) matches its accuracy."""
    return _model_probs(true, k, 0.9, rng, sharp=4.0)


@pytest.mark.parametrize("method", ["majority_vote", "dawid_skene", "glad", "model_aware"])
def test_annotator_without_labels_gets_nan_and_a_warning(method):
    true, sim = _simulate(n=1000, seed=2)
    dense = np.hstack([sim.annotations, np.full((1000, 1), -1)])
    ids = ["a", "b", "c", "d", "e", "ghost"]
    ann = Annotations.from_dense(dense, annotator_ids=ids)
    kwargs = {"method": method}
    if method == "model_aware":
        kwargs["pred_probs"] = _calibrated_model(true, 3, np.random.default_rng(0))
    with pytest.warns(AnnotatorQualityWarning, match=r"\['ghost'\] gave no labels.*NaN"):
        res = consensus_labels(ann, **kwargs)
    assert res.num_labels[-1] == 0
    assert np.isnan(res.annotator_accuracy[-1])
    assert np.isfinite(res.annotator_accuracy[:-1]).all()
    # the empty column changes nothing else (majority vote: exactly)
    ref = consensus_labels(sim.annotations, **kwargs)
    if method == "majority_vote":
        np.testing.assert_array_equal(res.consensus_labels, ref.consensus_labels)
    np.testing.assert_allclose(res.annotator_accuracy[:-1], ref.annotator_accuracy, atol=0.02)
    q = annotator_quality(ann, res)
    assert np.isnan(q.accuracy[-1]) and np.isnan(q.agreement_with_consensus[-1])
    assert q.annotator_ids[-1] == "ghost"


def test_label_quality_multiannotator_warns_once_for_empty_annotator():
    _, sim = _simulate(n=500, seed=2)
    dense = np.hstack([sim.annotations, np.full((500, 1), -1)])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = label_quality_multiannotator(dense)
    quality_warnings = [w for w in caught if issubclass(w.category, AnnotatorQualityWarning)]
    assert len(quality_warnings) == 1
    assert "[5] gave no labels" in str(quality_warnings[0].message)
    assert np.isnan(out.annotator_quality.accuracy[-1])
    assert np.isnan(out.consensus.annotator_accuracy[-1])


@pytest.mark.parametrize("method", ["majority_vote", "dawid_skene", "glad"])
def test_single_annotator_accuracy_is_nan_with_a_warning(method):
    true, sim = _simulate(n=800, seed=1)
    lone = sim.annotations[:, :1]  # was 1.0 (majority vote), 0.997 (Dawid-Skene), 0.75 (GLAD)
    with pytest.warns(AnnotatorQualityWarning,
                      match=r"\[0\] labelled no example that another annotator also labelled"
                            r".*reported as NaN.*model_aware"):
        res = consensus_labels(lone, method=method)
    assert np.isnan(res.annotator_accuracy).all()
    np.testing.assert_array_equal(res.consensus_labels, lone[:, 0])  # the consensus is still fine
    with pytest.warns(AnnotatorQualityWarning):
        q = annotator_quality(lone, method=method)
    assert np.isnan(q.accuracy).all()


@pytest.mark.parametrize("method", ["majority_vote", "dawid_skene", "glad"])
def test_annotators_who_never_overlap_get_nan(method):
    true, sim = _simulate(n=1000, seed=6)
    # two extra annotators, each alone on 100 extra examples nobody else labelled
    extra_true = np.random.default_rng(6).integers(0, 3, 200)
    block = np.full((200, 7), -1)
    block[:100, 5] = extra_true[:100]
    block[100:, 6] = extra_true[100:]
    dense = np.vstack([np.hstack([sim.annotations, np.full((1000, 2), -1)]), block])
    ann = Annotations.from_long(*_long_table(dense), num_classes=3)
    with pytest.warns(AnnotatorQualityWarning, match=r"\['w5', 'w6'\] labelled no example"):
        res = consensus_labels(ann, method=method)
    assert np.isnan(res.annotator_accuracy[5:]).all()
    assert np.isfinite(res.annotator_accuracy[:5]).all()
    true_acc = (sim.annotations == true[:, None]).mean(axis=0)
    np.testing.assert_allclose(res.annotator_accuracy[:5], true_acc, atol=0.1)


def _long_table(dense):
    rows, cols = np.nonzero(dense >= 0)
    return [f"x{r}" for r in rows], [f"w{c}" for c in cols], dense[rows, cols]


def test_model_aware_estimates_a_lone_annotator_against_the_model():
    rng = np.random.default_rng(0)
    true = rng.integers(0, 4, 2000)
    lab = np.where(rng.random(2000) < 0.7, true, rng.integers(0, 4, 2000))
    probs = _calibrated_model(true, 4, rng)
    with pytest.warns(AnnotatorQualityWarning, match="used as given.*against the model"):
        res = consensus_labels(lab[:, None], method="model_aware", pred_probs=probs)
    # before: the model was calibrated against the annotator themself and said 0.93
    assert res.annotator_accuracy[0] == pytest.approx((lab == true).mean(), abs=0.04)
    assert res.model_calibration["model_used"]
    assert res.model_calibration["inverse_temperature"] == 1.0


def test_model_aware_keeps_non_overlapping_annotator_estimate():
    true, sim = _simulate(n=1000, seed=8)
    extra = np.full((1100, 1), -1)
    extra_true = np.random.default_rng(8).integers(0, 3, 100)
    extra[1000:, 0] = np.where(np.arange(100) < 80, extra_true, (extra_true + 1) % 3)
    dense = np.hstack([np.vstack([sim.annotations, np.full((100, 5), -1)]), extra])
    probs = _calibrated_model(np.r_[true, extra_true], 3, np.random.default_rng(8))
    with warnings.catch_warnings():
        warnings.simplefilter("error", AnnotatorQualityWarning)
        res = consensus_labels(dense, method="model_aware", pred_probs=probs)
    assert res.model_calibration["model_used"]
    assert res.annotator_accuracy[-1] == pytest.approx(0.8, abs=0.1)
    # crowd-only methods cannot estimate it
    with pytest.warns(AnnotatorQualityWarning, match=r"\[5\] labelled no example"):
        ds = consensus_labels(dense, method="dawid_skene")
    assert np.isnan(ds.annotator_accuracy[-1])


@pytest.mark.parametrize("method", ["majority_vote", "dawid_skene", "glad", "model_aware"])
def test_no_quality_warning_on_normal_input(method):
    true, sim = _simulate(n=1000, seed=4, per_example=3)
    kwargs = {"method": method}
    if method == "model_aware":
        kwargs["pred_probs"] = _calibrated_model(true, 3, np.random.default_rng(4))
    with warnings.catch_warnings():
        warnings.simplefilter("error", AnnotatorQualityWarning)
        res = consensus_labels(sim.annotations, **kwargs)
    assert np.isfinite(res.annotator_accuracy).all()


# --------------------------------------------------------------------------- ids
@pytest.mark.parametrize(
    ("example_ids", "annotator_ids", "match"),
    [
        ([0, 1, 2], ["w1", 2, "w3"], r"annotator_ids mixes id types.*annotator_ids\[1\] = 2"),
        (["x", 1, "y"], ["a", "b", "c"], r"example_ids mixes id types.*example_ids\[1\] = 1"),
        (np.array(["x", 1, "y"], dtype=object), ["a", "b", "c"], "example_ids mixes id types"),
        ([0, 1, 2], np.array(["w1", 2, 3], dtype=object), "annotator_ids mixes id types"),
        ([0, 1, 2], [True, 2, 3], "annotator_ids mixes id types"),
        (pd.Series(["x", np.nan, "y"]).to_numpy(), ["a", "b", "c"], r"example_ids.*missing"),
        ([0.0, np.nan, 2.0], ["a", "b", "c"], r"example_ids.*example_ids\[1\] = nan"),
        ([0, 1, 2], ["a", None, "c"], r"annotator_ids.*annotator_ids\[1\] = None"),
        ([0, 1, 2], [1.0, np.inf, 2.0], r"annotator_ids.*inf"),
    ],
)
def test_from_long_refuses_mixed_or_missing_ids(example_ids, annotator_ids, match):
    with pytest.raises(ValueError, match=match):
        Annotations.from_long(example_ids, annotator_ids, [0, 1, 0])


def test_from_long_mixed_ids_message_is_one_line_and_str_ids_work():
    with pytest.raises(ValueError) as info:
        Annotations.from_long(["a", "b"], ["w1", 1], [0, 1])
    assert "\n" not in str(info.value) and "cast all of them to str" in str(info.value)
    ann = Annotations.from_long(["a", "b"], ["w1", "1"], [0, 1])  # the documented remedy
    np.testing.assert_array_equal(ann.annotator_ids, ["1", "w1"])
    # ints and floats are one family (compared as numbers); unchanged behaviour
    ann = Annotations.from_long([0, 1], [1, 2.5], [0, 1])
    np.testing.assert_array_equal(ann.annotator_ids, [1.0, 2.5])


def test_from_dense_annotator_ids_checked():
    dense = np.array([[0, 1, 1], [1, 1, 0]])
    with pytest.raises(ValueError, match="annotator_ids mixes id types"):
        Annotations.from_dense(dense, annotator_ids=["a", 1, "b"])
    with pytest.raises(ValueError, match="annotator_ids must be distinct; 'a' names columns 0 and 2"):
        Annotations.from_dense(dense, annotator_ids=["a", "b", "a"])
    with pytest.raises(ValueError, match=r"annotator_ids must have shape \(3,\)"):
        Annotations.from_dense(dense, annotator_ids=["a", "b"])
    np.testing.assert_array_equal(
        Annotations.from_dense(dense, annotator_ids=["a", "b", "c"]).annotator_ids, ["a", "b", "c"])


# --------------------------------------------------------------------------- NaN / inf
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"prior_strength": np.inf}, "prior_strength must be a finite number"),
        ({"prior_strength": np.nan}, "prior_strength must be a finite number"),
        ({"prior_strength": True}, "prior_strength"),
        ({"prior_strength": "strong"}, "prior_strength must be 'auto'"),
        ({"tol": np.nan}, "tol must be a finite number"),
        ({"tol": -1.0}, "tol must be a finite number >= 0"),
        ({"max_iter": np.nan}, "max_iter must be an integer"),
        ({"max_iter": 0}, "max_iter must be >= 1"),
        ({"num_classes": np.nan}, "num_classes must be an integer"),
        ({"num_classes": np.inf}, "num_classes must be an integer"),
        ({"num_classes": 2.5}, "num_classes must be an integer"),
    ],
)
def test_bad_numeric_options_raise(kwargs, match):
    dense = np.array([[0, 1, 1], [1, 1, 0], [0, 0, 0]])
    with pytest.raises(ValueError, match=match):
        consensus_labels(dense, **kwargs)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_pred_probs_nan_inf_raise(bad):
    dense = np.array([[0, 1, 1], [1, 1, 0], [0, 0, 0]])
    probs = np.array([[0.7, 0.3], [0.2, 0.8], [0.6, 0.4]])
    probs[1, 0] = bad
    with pytest.raises(ValueError, match=r"pred_probs must be finite; pred_probs\[1, 0\]"):
        consensus_labels(dense, method="model_aware", pred_probs=probs)
    good = np.array([[0.7, 0.3], [0.2, 0.8], [0.6, 0.4]])
    with pytest.raises(ValueError, match=r"pred_probs\[1\] must be finite"):
        consensus_labels(dense, method="model_aware", pred_probs=[good, probs])


def test_model_aware_accepts_an_ensemble_of_pred_probs():
    dense = np.array([[0, 1, 1], [1, 1, 0], [0, 0, 0]])
    good = np.array([[0.7, 0.3], [0.2, 0.8], [0.6, 0.4]])
    single = consensus_labels(dense, method="model_aware", pred_probs=good)
    both = consensus_labels(dense, method="model_aware", pred_probs=[good, good])
    np.testing.assert_allclose(both.posterior, single.posterior)
    with pytest.raises(ValueError, match=r"pred_probs\[1\] has 2 rows but annotations has 3"):
        consensus_labels(dense, method="model_aware", pred_probs=[good, good[:2]])


def test_long_table_numeric_options_refuse_nan_inf():
    with pytest.raises(ValueError, match="num_classes must be an integer"):
        Annotations.from_long([0, 1], ["a", "b"], [0, 1], num_classes=np.nan)
    with pytest.raises(ValueError, match="n_examples must be an integer"):
        Annotations.from_long([0, 1], ["a", "b"], [0, 1], n_examples=np.inf)
    with pytest.raises(ValueError, match="num_classes must be an integer"):
        majority_vote(np.array([[0, 1]]), num_classes=np.nan)


# --------------------------------------------------------------------------- GLAD
def test_glad_ranks_annotators_and_beats_majority_vote():
    true, sim = _simulate(n=3000, k=4, accuracies=(0.95, 0.5, 0.45, 0.9, 0.4), seed=7)
    res = consensus_labels(sim.annotations, method="glad")
    mv = majority_vote(sim.annotations)
    assert (res.consensus_labels != true).mean() < (mv != true).mean()
    assert np.argsort(res.annotator_accuracy).tolist() == [4, 2, 1, 3, 0]


# --------------------------------------------------------------------------- model-aware
def _model_probs(true, k, accuracy, rng, sharp=4.0):
    """A classifier right on about ``accuracy`` of the examples, with logits of scale ``sharp``."""
    n = true.shape[0]
    pred = np.where(rng.random(n) < accuracy, true, rng.integers(0, k, n))
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), pred] += sharp
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def test_model_aware_beats_crowd_and_model():
    true, sim = _simulate(n=5000, k=4, accuracies=(0.7, 0.65, 0.6, 0.75, 0.7, 0.6), seed=11,
                          per_example=3)
    probs = _model_probs(true, 4, 0.85, np.random.default_rng(0))
    res = consensus_labels(sim.annotations, method="model_aware", pred_probs=probs)
    ds = consensus_labels(sim.annotations, method="dawid_skene")
    err = (res.consensus_labels != true).mean()
    assert err < (ds.consensus_labels != true).mean()
    assert err < (probs.argmax(axis=1) != true).mean()
    cal = res.model_calibration
    assert cal["inverse_temperature"] > 0 and cal["crowd_weight"] > 0
    assert cal["trusted_examples"] > 100


def test_model_aware_never_worse_than_model_and_weights_crowd_by_heldout_fit():
    # the same accurate model with a weak crowd and with a strong crowd: the held-out crowd
    # weight is larger for the strong crowd, and neither result is worse than the model
    weights = []
    for accuracies in [(0.45, 0.5, 0.4, 0.5, 0.45, 0.55), (0.9, 0.85, 0.9, 0.95, 0.85, 0.9)]:
        true, sim = _simulate(n=4000, k=4, accuracies=accuracies, seed=2, per_example=3)
        probs = _model_probs(true, 4, 0.95, np.random.default_rng(2), sharp=3.0)
        res = consensus_labels(sim.annotations, method="model_aware", pred_probs=probs)
        assert (res.consensus_labels != true).mean() <= (probs.argmax(axis=1) != true).mean()
        assert res.model_calibration["model_used"]
        weights.append(res.model_calibration["crowd_weight"])
    assert 0.0 < weights[0] < weights[1]


def test_model_aware_ignores_uninformative_model():
    true, sim = _simulate(n=3000, k=3, seed=4, per_example=3)
    probs = np.random.default_rng(1).dirichlet(np.ones(3), size=3000)  # pure noise
    res = consensus_labels(sim.annotations, method="model_aware", pred_probs=probs)
    ds = consensus_labels(sim.annotations, method="dawid_skene")
    assert res.model_calibration["inverse_temperature"] < 0.2
    assert (res.consensus_labels != true).mean() <= (ds.consensus_labels != true).mean() + 0.01


# --------------------------------------------------------------------------- quality
def test_label_quality_multiannotator_scores_each_annotation():
    true, sim = _simulate(n=2000, seed=9, per_example=3)
    out = label_quality_multiannotator(sim.annotations)
    ann = out.consensus.annotations
    assert out.annotation_quality.shape == (ann.n_labels,)
    correct = ann.label == true[ann.example]
    assert out.annotation_quality[correct].mean() > out.annotation_quality[~correct].mean() + 0.3
    dense = out.annotation_quality_dense()
    assert np.isnan(dense[sim.annotations == -1]).all()
    np.testing.assert_allclose(dense[ann.example, ann.annotator], out.annotation_quality)


def test_annotator_quality_from_result_and_agreement():
    dense = np.array([[0, 0, 1], [1, 1, 1], [2, 2, 0], [0, -1, 0]])
    res = consensus_labels(dense, method="majority_vote")
    q = annotator_quality(dense, res)
    np.testing.assert_array_equal(q.num_labels, [4, 3, 4])
    np.testing.assert_allclose(q.agreement_with_consensus, [1.0, 1.0, 0.5])
    np.testing.assert_array_equal(q.annotator_ids, [0, 1, 2])
    q2 = annotator_quality(dense, method="majority_vote")
    np.testing.assert_allclose(q2.accuracy, q.accuracy)


def test_from_long_takes_labels_as_class_names():
    """String labels: the sorted names are the classes (or class_names' order, with unused
    classes), kept on the annotations, on every result and through consensus; numbers stay
    class indices; a num_classes other than the number of names is refused."""
    rng = np.random.default_rng(4)
    true = rng.integers(0, 3, 80)
    names = np.array(["ant", "bee", "cow"])
    rows = [(e, a, names[true[e]] if rng.random() < 0.85 else names[rng.integers(3)])
            for e in range(80) for a in ("w1", "w2", "w3")]
    ex, an, lab = (np.array(c) for c in zip(*rows))
    ann = Annotations.from_long(ex, an, lab)
    assert ann.class_names == ["ant", "bee", "cow"] and ann.num_classes == 3
    as_indices = Annotations.from_long(ex, an, np.searchsorted(names, lab))
    assert as_indices.class_names is None
    # integers held as objects (a table column read with gaps) are indices too
    as_objects = Annotations.from_long(ex, an, np.searchsorted(names, lab).astype(object))
    assert as_objects.class_names is None
    np.testing.assert_array_equal(as_objects.label, as_indices.label)
    np.testing.assert_array_equal(ann.label, as_indices.label)
    res = consensus_labels(ann, method="majority_vote")
    np.testing.assert_array_equal(res.consensus_labels,
                                  consensus_labels(as_indices, method="majority_vote").consensus_labels)
    assert (res.consensus_label_names == names[res.consensus_labels]).all()
    assert (res.consensus_label_names == names[true]).mean() > 0.9
    assert consensus_labels(as_indices, method="majority_vote").consensus_label_names is None
    ordered = Annotations.from_long(ex, an, lab, class_names=["cow", "bee", "ant", "yak"])
    assert ordered.num_classes == 4 and ordered.class_names[-1] == "yak"
    np.testing.assert_array_equal(ordered.label, 2 - ann.label)
    cat = Annotations.from_long(ex, an, pd.Categorical(lab, categories=["cow", "ant", "bee"]))
    assert cat.class_names == ["cow", "ant", "bee"]
    with pytest.raises(ValueError, match="num_classes 5, but the labels name 3 classes"):
        Annotations.from_long(ex, an, lab, num_classes=5)
    with pytest.raises(ValueError, match="num_classes 4"):
        ann.with_num_classes(4)


def test_from_dense_takes_a_dataframe_of_names_with_gaps_as_cleanlab_lays_it_out():
    """One row per example, one column per annotator, names with None / NaN / "" / pd.NA
    where unlabelled: the same annotations as the long table of the same labels; integer
    columns with gaps (floats with NaN, nullable Int64) stay class indices."""
    frame = pd.DataFrame({"w1": ["cat", "dog", None, "cat"],
                          "w2": ["cat", "", np.nan, "dog"],
                          "w3": pd.array(["dog", "dog", "cat", pd.NA], dtype="string")})
    ann = Annotations.from_dense(frame, example_ids=np.array(["a", "b", "c", "d"]))
    assert ann.class_names == ["cat", "dog"] and list(ann.annotator_ids) == ["w1", "w2", "w3"]
    assert ann.to_dense().tolist() == [[0, 0, 1], [1, -1, 1], [-1, -1, 0], [0, 1, -1]]
    long = frame.assign(example=list("abcd")).melt("example", var_name="w", value_name="y")
    long = long[long["y"].notna() & (long["y"] != "")]
    ref = Annotations.from_long(long["example"].to_numpy(), long["w"].to_numpy(),
                                long["y"].astype(str).to_numpy())
    for field in ("example", "annotator", "label"):
        np.testing.assert_array_equal(getattr(ann, field), getattr(ref, field))
    assert list(ann.example_ids) == list(ref.example_ids)
    res = consensus_labels(ann, method="majority_vote")
    assert list(res.consensus_label_names) == ["cat", "dog", "cat", "cat"]
    ints = Annotations.from_dense(pd.DataFrame({"a": [0, 1, np.nan], "b": pd.array([1, None, 2],
                                                                                  dtype="Int64")}))
    assert ints.class_names is None and ints.to_dense().tolist() == [[0, 1], [1, -1], [-1, 2]]
    named = Annotations.from_dense(np.array([[0, 1], [1, -1]]), class_names=["x", "y", "z"])
    assert named.num_classes == 3 and named.class_names == ["x", "y", "z"]
    with pytest.raises(ValueError, match="every cell is missing"):
        Annotations.from_dense(pd.DataFrame({"a": ["", None]}, dtype=object))
    with pytest.raises(ValueError, match=r"example_ids must be distinct; 'a' names rows 0 and 1"):
        Annotations.from_dense(frame, example_ids=np.array(["a", "a", "c", "d"]))
    with pytest.raises(ValueError, match="class indices or class names"):
        Annotations.from_dense(np.zeros((2, 2), complex))
