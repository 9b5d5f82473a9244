"""Partial-label input (labelnoise.partial) and PRODEN."""

import numpy as np
import pytest
import torch
from _data import colour_images

from labelnoise.partial import (
    annotations_from_pred_probs,
    candidate_set_stats,
    candidates_from_annotations,
    candidates_from_csv,
    partial_label_loss,
    validate_candidates,
)

torch.set_num_threads(1)


def test_candidates_from_annotations_are_exactly_the_annotators_classes():
    rng = np.random.default_rng(0)
    ann = rng.integers(0, 6, size=(200, 3))
    ann[rng.random(ann.shape) < 0.3] = -1
    ann[5] = -1  # no annotation at all
    cand = candidates_from_annotations(ann, num_classes=6)
    assert cand.shape == (200, 6) and cand.dtype == bool
    for n in range(200):
        given = set(ann[n][ann[n] >= 0].tolist())
        expected = given if given else set(range(6))
        assert set(np.flatnonzero(cand[n]).tolist()) == expected


def test_candidates_from_annotations_rejects_bad_input():
    with pytest.raises(ValueError, match="num_classes"):
        candidates_from_annotations(np.array([[0, 3]]), num_classes=3)
    with pytest.raises(ValueError, match="missing"):
        candidates_from_annotations(np.array([[0, -2]]))
    with pytest.raises(ValueError, match="2-D"):
        candidates_from_annotations(np.array([0, 1]))


def test_annotations_from_pred_probs_top1_and_top2():
    p1 = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    p2 = np.array([[0.1, 0.5, 0.4], [0.2, 0.5, 0.3]])
    assert annotations_from_pred_probs([p1, p2]).tolist() == [[0, 1], [2, 1]]
    cand = candidates_from_annotations(annotations_from_pred_probs([p1, p2], top_k=2),
                                       num_classes=3)
    assert cand.tolist() == [[True, True, True], [False, True, True]]


def test_candidates_from_csv(tmp_path):
    f = tmp_path / "cand.csv"
    f.write_text("id,candidates\n0,cat|dog\n1,bird\n")
    cand = candidates_from_csv(f, ["bird", "cat", "dog"])
    assert cand.tolist() == [[False, True, True], [True, False, False]]
    f.write_text("id,candidates\n0,cat|horse\n")
    with pytest.raises(ValueError, match="horse"):
        candidates_from_csv(f, ["bird", "cat", "dog"])


def test_candidate_set_stats_and_validation():
    cand = np.array([[1, 1, 0], [0, 0, 1], [1, 1, 1]], dtype=bool)
    s = candidate_set_stats(cand, [1, 0, 2])
    assert s["mean_size"] == pytest.approx(2.0)
    assert s["missing_true_fraction"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="no candidate"):
        validate_candidates(np.array([[1, 0], [0, 0]]))


def test_partial_label_loss_hand_computed():
    logits = torch.tensor([[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]])
    cand = torch.tensor([[True, False, True], [False, True, False]])
    e = np.exp([0.0, 1.0, 2.0])
    expected = np.array([-np.log((e[0] + e[2]) / e.sum()), -np.log(1 / 3)])
    per = partial_label_loss(logits, cand, reduction="none")
    np.testing.assert_allclose(per.numpy(), expected, rtol=1e-6)
    assert float(partial_label_loss(logits, cand)) == pytest.approx(expected.mean(), rel=1e-6)
    assert float(partial_label_loss(logits, cand, reduction="sum")) == pytest.approx(
        expected.sum(), rel=1e-6)
    # a singleton candidate set is ordinary cross entropy
    y = torch.tensor([2, 0])
    one = torch.nn.functional.one_hot(y, 3).bool()
    ce = torch.nn.functional.cross_entropy(logits, y)
    assert float(partial_label_loss(logits, one)) == pytest.approx(float(ce), rel=1e-6)


def test_proden_weights_stay_in_candidates_and_loss_falls():
    from labelnoise.noise import partial_labels
    from labelnoise.training import proden

    x, y = colour_images()
    cand = partial_labels(y, q=0.5, num_classes=3, seed=1)
    res = proden.fit(x, cand, model="resnet8", epochs=4, batch_size=32, lr=0.05, seed=0,
                     progress=False, true_labels=y, model_kwargs={"widths": (8, 8, 8)})
    h = res.history
    assert h[-1]["partial_loss"] < h[0]["partial_loss"]
    assert h[-1]["train_loss"] < h[0]["train_loss"]
    w = proden.candidate_weights(torch.rand(5, 3), torch.from_numpy(cand[:5]))
    assert torch.all(w[~torch.from_numpy(cand[:5])] == 0)
    np.testing.assert_allclose(w.sum(1).numpy(), 1.0, rtol=1e-6)


@pytest.mark.parametrize("method", [n for n, e in __import__(
    "labelnoise.training", fromlist=["METHODS"]).METHODS.items() if e.candidates])
def test_candidate_methods_name_candidates_on_a_length_mismatch(method):
    from labelnoise import training

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(12, 32, 32, 3), dtype=np.uint8)
    cand = np.zeros((11, 3), dtype=bool)
    cand[np.arange(11), rng.integers(0, 3, 11)] = True
    with pytest.raises(ValueError, match="candidates has 11 rows but images has 12"):
        kw = {"warmup_epochs": 0} if training.METHODS[method].accepts("warmup_epochs") else {}
        training.get(method)(images, cand, epochs=1, model="resnet8", **kw)
