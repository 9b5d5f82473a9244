"""Consensus labels on Dask arrays (labelnoise.multiannotator.dask_consensus): majority vote
identical to the in-memory path, Dawid-Skene equal to float rounding (the per-block
statistics are summed in another order), on the threaded scheduler and a 2-worker
distributed.LocalCluster; blockwise validation with the in-memory path's messages."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
from _data import local_cluster

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

from labelnoise.multiannotator import (  # noqa: E402
    AnnotatorQualityWarning,
    annotator_quality,
    consensus_labels,
    label_quality_multiannotator,
)

#: Dawid-Skene floats: per-block sums in another order than the in-memory sparse products
TOL = 1e-10
N, M, K = 600, 7, 4
CHUNK = 97  # does not divide N; the first block has an annotator with no label


def _annotations(seed: int = 0, n: int = N, m: int = M, k: int = K) -> np.ndarray:
    """int64 (n, m), -1 missing: annotators of accuracy 0.35-0.95, each labelling about
    45% of the examples; every example labelled; annotator 2 labels nothing in the first
    block of CHUNK rows."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    acc = rng.uniform(0.35, 0.95, m)
    out = np.full((n, m), -1, dtype=np.int64)
    for j in range(m):
        seen = rng.random(n) < 0.45
        given = np.where(rng.random(n) < acc[j], true, rng.integers(0, k, n))
        out[seen, j] = given[seen]
    out[:CHUNK, 2] = -1
    empty = (out < 0).all(axis=1)
    out[empty, 0] = true[empty]
    return out


@pytest.fixture(scope="module")
def annotations():
    return _annotations()


@pytest.fixture(scope="module")
def client():
    with local_cluster(processes=False) as c:
        yield c


def _lazy(arr, rows=CHUNK):
    return da.from_array(arr, chunks=(rows, arr.shape[1]))


def _check(expected, got, exact: bool):
    """``got`` (Dask) against ``expected`` (in memory): labels and counts exactly; floats
    exactly (``exact``) or to TOL."""
    for field in ("consensus_labels", "consensus_quality", "posterior"):
        assert isinstance(getattr(got, field), da.Array), field
    labels, quality, post = dask.compute(got.consensus_labels, got.consensus_quality,
                                         got.posterior)
    assert labels.dtype == np.int64 and post.shape == (N, K)
    np.testing.assert_array_equal(labels, expected.consensus_labels)
    np.testing.assert_array_equal(got.num_labels, expected.num_labels)
    assert (got.n_iter, got.converged, got.method) == (expected.n_iter, expected.converged,
                                                       expected.method)
    pairs = [(quality, expected.consensus_quality), (post, expected.posterior),
             (got.noise_matrices, expected.noise_matrices),
             (got.annotator_accuracy, expected.annotator_accuracy),
             (got.class_prior, expected.class_prior)]
    for x, y in pairs:
        if exact:
            np.testing.assert_array_equal(x, y)
        else:
            np.testing.assert_allclose(x, y, rtol=0, atol=TOL)
    if expected.prior_strength is None:
        assert got.prior_strength is None
    else:
        np.testing.assert_allclose(got.prior_strength, expected.prior_strength, rtol=TOL)


def test_majority_vote_identical(annotations):
    lazy = _lazy(annotations)
    for kwargs in ({}, {"tie_break": "random", "seed": 5}, {"prior_strength": 2.5}):
        expected = consensus_labels(annotations, method="majority_vote", **kwargs)
        _check(expected, consensus_labels(lazy, method="majority_vote", **kwargs), exact=True)
    # a Generator seed is consumed as in memory: the next draw is the same
    g1, g2 = np.random.default_rng(9), np.random.default_rng(9)
    a = consensus_labels(annotations, method="majority_vote", tie_break="random", seed=g1)
    b = consensus_labels(lazy, method="majority_vote", tie_break="random", seed=g2)
    np.testing.assert_array_equal(b.consensus_labels.compute(), a.consensus_labels)
    assert g1.random() == g2.random()
    # majority_vote itself on a Dask array: lazy, and the in-memory labels
    from labelnoise.multiannotator import majority_vote
    lazy_votes = majority_vote(lazy, tie_break="random", seed=5)
    assert isinstance(lazy_votes, da.Array)
    np.testing.assert_array_equal(lazy_votes.compute(),
                                  majority_vote(annotations, tie_break="random", seed=5))
    # agreement with the consensus, by one more pass
    qa, qb = annotator_quality(annotations, a), annotator_quality(lazy, b)
    np.testing.assert_array_equal(qb.agreement_with_consensus, qa.agreement_with_consensus)
    np.testing.assert_array_equal(qb.accuracy, qa.accuracy)


def test_dawid_skene_matches_in_memory(annotations):
    expected = consensus_labels(annotations)
    assert expected.n_iter > 3
    for rows in (CHUNK, 250, N):  # a single block is bit for bit the in-memory result
        got = consensus_labels(_lazy(annotations, rows), method="dawid_skene")
        _check(expected, got, exact=rows == N)
    got = consensus_labels(_lazy(annotations), prior_strength=4.0, max_iter=3)
    _check(consensus_labels(annotations, prior_strength=4.0, max_iter=3), got, exact=False)
    assert got.n_iter == 3 and not got.converged
    qa, qb = annotator_quality(annotations, expected), annotator_quality(None, got)
    assert np.array_equal(qa.num_labels, qb.num_labels)


def test_float_annotations_with_nan(annotations):
    arr = annotations.astype(np.float32)
    arr[arr == -1] = np.nan
    arr[1::5][annotations[1::5] == -1] = -1.0  # -1 and NaN both read as missing
    for method in ("majority_vote", "dawid_skene"):
        expected = consensus_labels(arr, method=method)
        _check(expected, consensus_labels(_lazy(arr), method=method),
               exact=method == "majority_vote")


def test_local_cluster(annotations, client):
    lazy = client.persist(_lazy(annotations))  # blocks on the workers, as read from Zarr
    with dask.config.set(scheduler=client):
        for method in ("majority_vote", "dawid_skene"):
            expected = consensus_labels(annotations, method=method)
            _check(expected, consensus_labels(lazy, method=method),
                   exact=method == "majority_vote")


def test_unestimable_annotators_warn_as_in_memory():
    arr = _annotations(1, n=300)
    arr[:, 3] = -1  # no labels
    empty = (arr < 0).all(axis=1)
    arr[empty, 0] = 2
    lone = arr[:, 5] >= 0
    arr[lone, :] = -1  # annotator 5 labels examples nobody else labels
    arr[lone, 5] = 1
    for method in ("majority_vote", "dawid_skene"):
        with pytest.warns(AnnotatorQualityWarning) as mem:
            expected = consensus_labels(arr, method=method)
        with pytest.warns(AnnotatorQualityWarning) as dsk:
            got = consensus_labels(_lazy(arr, 71), method=method)
        assert [str(w.message) for w in dsk] == [str(w.message) for w in mem]
        assert all(w.filename == __file__ for w in list(dsk) + list(mem))
        assert np.isnan(got.annotator_accuracy[[3, 5]]).all()
        np.testing.assert_array_equal(got.consensus_labels.compute(), expected.consensus_labels)


def _message(fn):
    with pytest.raises(ValueError) as info:
        fn()
    return str(info.value)


@pytest.mark.parametrize("case", ["negative", "too_large", "inf", "fraction", "order", "tie"])
def test_bad_values_same_message(case):
    arr = _annotations(2, n=200).astype(np.float64)
    kwargs = {}
    if case == "negative":
        arr[150, 1] = -3
    elif case == "too_large":
        arr[120, 4], arr[180, 0] = 7, 7
        kwargs = {"num_classes": 5}
    elif case == "inf":
        arr[110, 2] = -np.inf
    elif case == "fraction":
        arr[199, 6] = 1.5
    elif case == "order":  # a non-integral value is reported before an earlier negative one
        arr[5, 0], arr[190, 3] = -2, 0.5
    else:  # the same smallest value twice: the first position, as numpy's argmin
        arr[30, 1], arr[130, 2] = -4, -4
    expected = _message(lambda: consensus_labels(arr, **kwargs))
    got = _message(lambda: consensus_labels(_lazy(arr, 45), **kwargs))
    assert got == expected and "annotations[" in got


def test_structural_errors():
    arr = _annotations(3, n=100)
    lazy = _lazy(arr, 30)
    with pytest.raises(ValueError, match=r"chunked along M .*rechunk\(\{1: -1\}\)"):
        consensus_labels(da.from_array(arr, chunks=(30, 3)))
    for bad in (arr.astype(bool), arr[:, 0]):
        assert _message(lambda b=bad: consensus_labels(da.from_array(b))) == \
            _message(lambda b=bad: consensus_labels(b))
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        consensus_labels(lazy[lazy[:, 0] > -2])
    none = np.full((20, 3), -1)
    assert _message(lambda: consensus_labels(_lazy(none, 7))) == \
        _message(lambda: consensus_labels(none))
    unlabelled = arr.copy()
    unlabelled[[40, 70]] = -1
    expected = _message(lambda: consensus_labels(unlabelled))
    got = _message(lambda: consensus_labels(_lazy(unlabelled, 30)))
    assert got.split("; ")[0] == expected.split("; ")[0] == (
        "2 example(s) have no label from any annotator (first: example 40)")
    for kwargs in ({"method": "glad"}, {"method": "model_aware", "pred_probs": np.full((100, 4), 0.25)},
                   {"pred_probs": np.full((100, 4), 0.25)}):
        with pytest.raises(NotImplementedError, match="'majority_vote' or 'dawid_skene'"):
            consensus_labels(lazy, **kwargs)
    with pytest.raises(NotImplementedError, match="in-memory annotations"):
        label_quality_multiannotator(lazy)
    with pytest.raises(NotImplementedError, match="PCG64"):
        consensus_labels(lazy, method="majority_vote", tie_break="random",
                         seed=np.random.Generator(np.random.SFC64(0)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the scalar checks run before any Dask work
        with pytest.raises(ValueError, match="max_iter"):
            consensus_labels(lazy, max_iter=0)


def test_import_does_not_import_dask():
    code = ("import sys, labelnoise, labelnoise.multiannotator; "
            "assert 'dask' not in sys.modules, 'dask imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
