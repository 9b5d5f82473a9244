"""Noise generators: requested rates within binomial tolerance, exact reproducibility, and
realised noise matrices equal to the empirical confusion of (noisy, true)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from labelnoise import noise
from labelnoise._validation import validate_noise_matrix
from labelnoise.datasets import CIFAR100_FINE_TO_COARSE

N = 20_000


def tol(p, n, z=5.0):
    """z standard deviations of a binomial proportion (z = 5: a false failure ~ 1e-6)."""
    return z * np.sqrt(max(p * (1 - p), 1e-12) / n)


def confusion(noisy, true, k):
    """Reference: count (noisy, true) pairs one by one, then normalise columns."""
    counts = np.zeros((k, k))
    for g, t in zip(noisy.tolist(), true.tolist()):
        counts[g, t] += 1
    col = counts.sum(axis=0)
    for j in np.flatnonzero(col == 0):
        counts[j, j], col[j] = 1.0, 1.0
    return counts / col


@pytest.fixture(scope="module")
def labels10():
    return np.random.default_rng(123).integers(0, 10, N)


@pytest.mark.parametrize("rate", [0.2, 0.5, 0.8])
def test_symmetric_flip_to_other_class(labels10, rate):
    before = labels10.copy()
    noisy, nm = noise.symmetric(labels10, rate, num_classes=10, seed=0)
    np.testing.assert_array_equal(labels10, before)  # input untouched
    assert noisy.dtype == np.int64 and noisy.shape == (N,)
    assert abs(np.mean(noisy != labels10) - rate) <= tol(rate, N)
    np.testing.assert_allclose(nm, confusion(noisy, labels10, 10), atol=1e-12)
    # wrong labels are spread uniformly over the K - 1 other classes
    off = nm[~np.eye(10, dtype=bool)]
    assert np.abs(off - rate / 9).max() <= tol(rate / 9, N / 10)


def test_symmetric_resample_over_all_classes(labels10):
    rate = 0.5
    noisy, nm = noise.symmetric(labels10, rate, num_classes=10, include_true=True, seed=1)
    expected = rate * 9 / 10  # the DivideMix convention: a resample can hit the true class
    assert abs(np.mean(noisy != labels10) - expected) <= tol(expected, N)
    np.testing.assert_allclose(nm, confusion(noisy, labels10, 10), atol=1e-12)


def test_same_seed_same_labels_and_generator_seed(labels10):
    a = noise.symmetric(labels10, 0.4, seed=7)
    b = noise.symmetric(labels10, 0.4, seed=7)
    c = noise.symmetric(labels10, 0.4, seed=8)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.noise_matrix, b.noise_matrix)
    assert np.mean(a.labels != c.labels) > 0.3
    d = noise.symmetric(labels10, 0.4, seed=np.random.default_rng(7))
    np.testing.assert_array_equal(a.labels, d.labels)


def test_asymmetric_cifar10_mapping(labels10):
    rate = 0.4
    noisy, nm = noise.asymmetric(labels10, rate, dataset="cifar10", seed=0)
    targets = {9: 1, 2: 0, 4: 7, 3: 5, 5: 3}  # truck->automobile, bird->airplane, deer->horse, cat<->dog
    changed = noisy != labels10
    for j in range(10):
        members = labels10 == j
        if j in targets:
            assert set(noisy[members & changed].tolist()) == {targets[j]}
            assert abs(changed[members].mean() - rate) <= tol(rate, members.sum())
        else:
            assert not changed[members].any()
    np.testing.assert_allclose(nm, confusion(noisy, labels10, 10), atol=1e-12)


def test_asymmetric_cifar100_stays_in_superclass():
    labels = np.random.default_rng(0).integers(0, 100, N)
    noisy, nm = noise.asymmetric(labels, 0.4, dataset="cifar100", seed=0)
    coarse = np.asarray(CIFAR100_FINE_TO_COARSE)
    changed = noisy != labels
    assert abs(changed.mean() - 0.4) <= tol(0.4, N)
    np.testing.assert_array_equal(coarse[noisy], coarse[labels])
    for c in range(20):
        members = np.flatnonzero(coarse == c)  # sorted fine labels of superclass c
        for i, f in enumerate(members):
            dest = set(noisy[(labels == f) & changed].tolist())
            assert dest == {members[(i + 1) % 5]}
    np.testing.assert_allclose(nm, confusion(noisy, labels, 100), atol=1e-12)


def test_asymmetric_cifar100_index_blocks():
    labels = np.arange(100).repeat(50)
    noisy, _ = noise.asymmetric(labels, 1.0, dataset="cifar100-blocks", seed=0)
    np.testing.assert_array_equal(noisy, (labels // 5) * 5 + (labels + 1) % 5)


def test_asymmetric_rejects_bad_input(labels10):
    with pytest.raises(ValueError, match="dataset"):
        noise.asymmetric(labels10, 0.4, dataset="mnist")
    with pytest.raises(ValueError, match="labels"):
        noise.asymmetric(labels10 + 5, 0.4, dataset="cifar10")


def test_pair_flip(labels10):
    noisy, nm = noise.pair_flip(labels10, 0.45, seed=0)
    changed = noisy != labels10
    assert abs(changed.mean() - 0.45) <= tol(0.45, N)
    np.testing.assert_array_equal(noisy[changed], (labels10[changed] + 1) % 10)
    np.testing.assert_allclose(nm, confusion(noisy, labels10, 10), atol=1e-12)


def test_from_noise_matrix_recovers_the_matrix():
    rng = np.random.default_rng(5)
    k = 4
    t = rng.dirichlet(np.ones(k), size=k).T  # columns sum to 1
    labels = rng.integers(0, k, 40_000)
    noisy, nm = noise.from_noise_matrix(labels, t, seed=0)
    np.testing.assert_allclose(nm, confusion(noisy, labels, k), atol=1e-12)
    assert np.abs(nm - t).max() <= tol(0.25, 10_000)


def test_zero_probability_classes_are_never_drawn():
    t = np.array([[0.5, 0.0, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 1.0]])
    labels = np.zeros(10_000, dtype=np.int64)
    noisy, nm = noise.from_noise_matrix(labels, t, seed=0)
    assert set(noisy.tolist()) == {0, 1}
    # classes with no example get the identity column
    np.testing.assert_array_equal(nm[:, 1:], np.eye(3)[:, 1:])


def test_rate_extremes(labels10):
    assert np.array_equal(noise.symmetric(labels10, 0.0, seed=0).labels, labels10)
    assert not np.any(noise.symmetric(labels10, 1.0, seed=0).labels == labels10)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "x"])
def test_bad_rate_is_rejected(labels10, bad):
    with pytest.raises(ValueError, match="rate"):
        noise.symmetric(labels10, bad)


def test_bad_noise_matrix_is_rejected(labels10):
    with pytest.raises(ValueError, match="column"):
        noise.from_noise_matrix(labels10, np.full((10, 10), 0.2))


@given(rate=st.floats(0, 1), k=st.integers(2, 30), include_true=st.booleans())
def test_transition_matrices_are_valid(rate, k, include_true):
    validate_noise_matrix(noise.transition_matrix_symmetric(rate, k, include_true=include_true))
    validate_noise_matrix(noise.transition_matrix_pair_flip(rate, k))
    sym = noise.transition_matrix_symmetric(rate, k, include_true=include_true)
    expected_wrong = rate * (k - 1) / k if include_true else rate
    assert np.allclose(1 - np.diag(sym), expected_wrong)


def test_asymmetric_transition_matrices_are_valid():
    for ds in ("cifar10", "cifar100", "cifar100-blocks"):
        t = noise.transition_matrix_asymmetric(0.3, dataset=ds)
        validate_noise_matrix(t)


def test_instance_dependent_rate_and_reproducibility():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8_000, 16))
    labels = rng.integers(0, 5, 8_000)
    X_before = X.copy()
    noisy, nm = noise.instance_dependent(X, labels, 0.4, seed=3)
    np.testing.assert_array_equal(X, X_before)
    # flip rates ~ N(0.4, 0.1^2) truncated to [0, 1]: mean 0.4 (truncation is negligible)
    assert abs(np.mean(noisy != labels) - 0.4) <= tol(0.4, 8_000)
    np.testing.assert_allclose(nm, confusion(noisy, labels, 5), atol=1e-12)
    again = noise.instance_dependent(X, labels, 0.4, seed=3)
    np.testing.assert_array_equal(noisy, again.labels)


def test_instance_dependent_depends_on_the_input():
    """x and -x of the same class get opposite scores x W_y, so (with large |x|) their
    wrong labels go to different classes: the noise depends on the instance."""
    v = np.random.default_rng(1).normal(size=8) * 100
    X = np.vstack([np.tile(v, (2_000, 1)), np.tile(-v, (2_000, 1))])
    labels = np.zeros(4_000, dtype=np.int64)
    noisy, _ = noise.instance_dependent(X, labels, 0.5, num_classes=3, seed=0,
                                        standardize=False)
    plus, minus = noisy[:2_000], noisy[2_000:]
    dest_plus = np.bincount(plus[plus != 0], minlength=3).argmax()
    dest_minus = np.bincount(minus[minus != 0], minlength=3).argmax()
    assert dest_plus != dest_minus and {dest_plus, dest_minus} == {1, 2}


def test_instance_dependent_exact_rate_without_spread():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(500, 4, 4, 3), dtype=np.uint8)  # image-shaped uint8
    labels = rng.integers(0, 10, 500)
    assert np.all(noise.instance_dependent(X, labels, 1.0, norm_std=0.0, seed=0).labels != labels)
    assert np.array_equal(noise.instance_dependent(X, labels, 0.0, norm_std=0.0, seed=0).labels, labels)
    with pytest.raises(ValueError, match="rows"):
        noise.instance_dependent(X[:10], labels, 0.3)
    for bad in (-0.1, float("inf"), float("nan"), "0.1"):  # inf used to pass ">= 0"
        with pytest.raises(ValueError, match="norm_std must be a finite number >= 0"):
            noise.instance_dependent(X, labels, 0.3, norm_std=bad, seed=0)


def test_partial_labels_uniform(labels10):
    q = 0.3
    cand = noise.partial_labels(labels10, q=q, num_classes=10, seed=0)
    assert cand.dtype == bool and cand.shape == (N, 10)
    assert cand[np.arange(N), labels10].all()
    extra = cand.sum() - N
    assert abs(extra / (9 * N) - q) <= tol(q, 9 * N)
    np.testing.assert_array_equal(cand, noise.partial_labels(labels10, q=q, num_classes=10, seed=0))
    assert (noise.partial_labels(labels10, q=0.0, seed=0).sum(axis=1) == 1).all()
    assert noise.partial_labels(labels10, q=1.0, seed=0).all()


def test_noisy_partial_labels_miss_the_true_label_at_the_rate(labels10):
    q, eta = 0.2, 0.3
    clean = noise.partial_labels(labels10, q=q, num_classes=10, seed=0)
    noisy = noise.partial_labels(labels10, q=q, num_classes=10, noise_rate=eta, seed=0)
    missing = ~noisy[np.arange(N), labels10]
    assert abs(missing.mean() - eta) <= tol(eta, N)
    # the same uniform sets before the corruption; a corrupted set keeps its size and
    # swaps the true label for exactly one class that was outside it
    np.testing.assert_array_equal(noisy.sum(axis=1), clean.sum(axis=1))
    changed = np.flatnonzero((noisy != clean).any(axis=1))
    np.testing.assert_array_equal(changed, np.flatnonzero(missing))
    added = noisy[changed] & ~clean[changed]
    assert (added.sum(axis=1) == 1).all()
    # the class added is uniform over the classes other than the true one
    new_class = added.argmax(axis=1)
    assert (new_class != labels10[changed]).all()
    counts = np.bincount((new_class - labels10[changed]) % 10, minlength=10)[1:]
    assert counts.min() > 0.7 * counts.mean()
    # full sets cannot be corrupted; bad rates are refused
    assert noise.partial_labels(labels10, q=1.0, noise_rate=1.0, seed=0).all()
    with pytest.raises(ValueError, match="noise_rate"):
        noise.partial_labels(labels10, q=q, noise_rate=1.5)


def test_partial_labels_from_pred_probs_known_answer():
    k, n = 10, 1_000
    labels = np.arange(n) % k
    pp = np.zeros((n, k))
    pp[np.arange(n), labels] = 0.5
    pp[np.arange(n), (labels + 3) % k] = 0.5  # the only confusable class
    cand = noise.partial_labels_from_pred_probs(labels, pp, rate=0.4, seed=0)
    expected = np.zeros((n, k), dtype=bool)
    expected[np.arange(n), labels] = True
    expected[np.arange(n), (labels + 3) % k] = True
    np.testing.assert_array_equal(cand, expected)
    for bad in (-0.1, float("inf"), float("nan")):  # inf used to pass ">= 0"
        with pytest.raises(ValueError, match="rate must be a finite number >= 0"):
            noise.partial_labels_from_pred_probs(labels, pp, rate=bad, seed=0)


def test_partial_labels_from_uniform_pred_probs():
    k, n = 10, 20_000
    labels = np.random.default_rng(0).integers(0, k, n)
    pp = np.full((n, k), 1.0 / k)
    cand = noise.partial_labels_from_pred_probs(labels, pp, rate=0.4, seed=1)
    assert cand[np.arange(n), labels].all()
    p = 0.4 * k / (k - 1)  # every wrong class: 1 / mean * rate
    assert abs((cand.sum() - n) / ((k - 1) * n) - p) <= tol(p, (k - 1) * n)


def test_multi_annotator_all_annotate(labels10):
    mats = np.stack([noise.transition_matrix_symmetric(r, 10) for r in (0.1, 0.3, 0.6)])
    ann, realised = noise.multi_annotator(labels10, mats, seed=0)
    assert ann.shape == (N, 3) and ann.dtype == np.int64 and (ann >= 0).all()
    for m, r in enumerate((0.1, 0.3, 0.6)):
        assert abs(np.mean(ann[:, m] != labels10) - r) <= tol(r, N)
        np.testing.assert_allclose(realised[m], confusion(ann[:, m], labels10, 10), atol=1e-12)
    again = noise.multi_annotator(labels10, mats, seed=0)
    np.testing.assert_array_equal(ann, again.annotations)


def test_multi_annotator_labels_per_example(labels10):
    shared = noise.transition_matrix_symmetric(0.2, 10)
    ann, realised = noise.multi_annotator(labels10, shared, num_annotators=5,
                                          labels_per_example=2, seed=0)
    assert ann.shape == (N, 5)
    assert ((ann >= 0).sum(axis=1) == 2).all()
    assert set(np.unique(ann).tolist()) <= set(range(-1, 10))
    # annotators are chosen uniformly: each labels about 2/5 of the examples
    share = (ann >= 0).mean(axis=0)
    assert np.abs(share - 0.4).max() <= tol(0.4, N)
    for m in range(5):
        seen = ann[:, m] >= 0
        np.testing.assert_allclose(realised[m], confusion(ann[seen, m], labels10[seen], 10), atol=1e-12)


def test_multi_annotator_rejects_bad_input(labels10):
    shared = noise.transition_matrix_symmetric(0.2, 10)
    with pytest.raises(ValueError, match="num_annotators"):
        noise.multi_annotator(labels10, shared)
    with pytest.raises(ValueError, match="labels_per_example"):
        noise.multi_annotator(labels10, shared, num_annotators=3, labels_per_example=4)
    bad = np.stack([shared, np.full((10, 10), 0.5)])
    with pytest.raises(ValueError, match=r"noise_matrices\[1\]"):
        noise.multi_annotator(labels10, bad)


def test_empirical_noise_matrix_mask():
    true = np.array([0, 0, 1, 1])
    noisy = np.array([0, 1, 1, 1])
    np.testing.assert_array_equal(noise.empirical_noise_matrix(noisy, true),
                                  [[0.5, 0.0], [0.5, 1.0]])
    np.testing.assert_array_equal(
        noise.empirical_noise_matrix(noisy, true, mask=np.array([True, False, False, False])),
        [[1.0, 0.0], [0.0, 1.0]])


# ---------------------------------------------------------------- multi-label flips


@pytest.fixture(scope="module")
def multilabels():
    return np.random.default_rng(321).random((N, 4)) < np.array([0.1, 0.3, 0.5, 0.7])


def test_multilabel_flips_symmetric_rates(multilabels):
    before = multilabels.copy()
    noisy, realised = noise.multilabel_flips(multilabels, 0.1, seed=0)
    np.testing.assert_array_equal(multilabels, before)  # input untouched
    assert noisy.dtype == np.bool_ and noisy.shape == (N, 4) and realised.shape == (4, 2, 2)
    flipped = noisy != multilabels
    for k in range(4):
        pos, neg = multilabels[:, k], ~multilabels[:, k]
        assert abs(flipped[pos, k].mean() - 0.1) <= tol(0.1, pos.sum())
        assert abs(flipped[neg, k].mean() - 0.1) <= tol(0.1, neg.sum())
        # realised [i, j] = P(given = i | true = j), the empirical confusion of the class
        np.testing.assert_allclose(realised[k], confusion(noisy[:, k].astype(int),
                                                          multilabels[:, k].astype(int), 2), atol=1e-12)


def test_multilabel_flips_per_class_rates(multilabels):
    r01, r10 = np.array([0.0, 0.01, 0.05, 0.2]), np.array([0.3, 0.2, 0.0, 1.0])
    noisy, realised = noise.multilabel_flips(multilabels, r01, r10, seed=1)
    for k in range(4):
        pos, neg = multilabels[:, k], ~multilabels[:, k]
        assert abs(realised[k, 0, 1] - r10[k]) <= tol(r10[k], pos.sum())  # removed | present
        assert abs(realised[k, 1, 0] - r01[k]) <= tol(r01[k], neg.sum())  # added | absent
        assert abs(np.mean(~noisy[pos, k]) - r10[k]) <= tol(r10[k], pos.sum())
    assert not (noisy & ~multilabels)[:, 0].any()  # added with rate 0: never
    assert not (noisy & multilabels)[:, 3].any()  # removed with rate 1: always
    np.testing.assert_array_equal(noisy[:, 2] | ~multilabels[:, 2], True)  # removed with rate 0


def test_multilabel_flips_reproducible_and_forms_agree(multilabels):
    a = noise.multilabel_flips(multilabels, 0.05, 0.2, seed=7)
    b = noise.multilabel_flips(multilabels.astype(np.int8), 0.05, 0.2, seed=np.random.default_rng(7))
    lists = [np.flatnonzero(r).tolist() for r in multilabels]
    c = noise.multilabel_flips(lists, 0.05, 0.2, num_classes=4, seed=7)
    for other in (b, c):
        np.testing.assert_array_equal(a.labels, other.labels)
        np.testing.assert_array_equal(a.noise_matrices, other.noise_matrices)
    d = noise.multilabel_flips(multilabels, 0.05, 0.2, seed=8)
    assert (a.labels != d.labels).mean() > 0.05
    np.testing.assert_array_equal(noise.multilabel_flips(multilabels, 0.0, seed=0).labels, multilabels)
    np.testing.assert_array_equal(noise.multilabel_flips(multilabels, 1.0, seed=0).labels, ~multilabels)
    # a class never seen keeps the identity column
    _, realised = noise.multilabel_flips([[0], []], 0.5, num_classes=2, seed=0)
    np.testing.assert_array_equal(realised[1][:, 1], [0.0, 1.0])


@pytest.mark.parametrize("args, match", [
    ((1.5,), "flip_0to1 must lie in"),
    ((0.1, -0.1), "flip_1to0 must lie in"),
    ((0.1, [0.1, 0.2]), r"flip_1to0 must be a number or one rate per class \(K = 4\)"),
    ((np.array([0.1, 0.1, np.nan, 0.1]),), r"flip_0to1\[2\] must lie in \[0, 1\]"),
    ((True,), "flip_0to1 must be a number"),
])
def test_multilabel_flips_rejects_bad_rates(multilabels, args, match):
    with pytest.raises(ValueError, match=match):
        noise.multilabel_flips(multilabels, *args, seed=0)


def test_multilabel_flips_rejects_bad_labels():
    with pytest.raises(ValueError, match=r"labels\[1\] holds 4; class indices must be \[0, 3\)"):
        noise.multilabel_flips([[0], [4]], 0.1, num_classes=3)
    with pytest.raises(ValueError, match="labels must hold only 0 and 1"):
        noise.multilabel_flips(np.array([[0, 2]]), 0.1)
    with pytest.raises(ValueError, match="seed"):
        noise.multilabel_flips([[0], [1]], 0.1, seed="x")
