"""Detection on Dask arrays (labelnoise.dask_arrays): identical to the in-memory path on a
2-worker distributed.LocalCluster and on the default threaded scheduler; blockwise
validation with the in-memory path's messages; Zarr output."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
from _data import local_cluster

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

import labelnoise as ln  # noqa: E402
from labelnoise import dask_arrays, rank  # noqa: E402
from labelnoise import filter as filt  # noqa: E402
from labelnoise._io import OutputError  # noqa: E402
from labelnoise._validation import PredProbsWarning, chunk_rows  # noqa: E402

N, K = 24_000, 50  # chunk_rows(50) = 5242 rows: several in-memory chunks and Dask blocks
BLOCK = 7_000  # not a multiple of chunk_rows(K): exercises the rechunking
# "adaptive" is "pooled" on these (confident) pred_probs: test_adaptive_filter_on_flat_pred_probs
BLOCKWISE_FILTERS = ("adaptive", "pooled", "mixture", "confident_learning", "predicted_neq_given",
                     "low_self_confidence", "low_normalized_margin")
#: exact selections within each class (from candidates) or over all scores (a histogram)
SELECTION_FILTERS = ("prune_by_noise_rate", "prune_by_class", "both", "expected_f1")
assert set(BLOCKWISE_FILTERS + SELECTION_FILTERS) == set(filt.FILTERS)


def _data(seed: int, dtype=np.float64):
    rng = np.random.default_rng(seed)
    true = rng.integers(0, K, N)
    logits = rng.normal(size=(N, K)) * 1.5
    logits[np.arange(N), true] += 4.0
    pp = np.exp(logits)
    pp /= pp.sum(axis=1, keepdims=True)
    labels = true.copy()
    flip = rng.random(N) < 0.15
    labels[flip] = rng.integers(0, K, int(flip.sum()))
    pp = pp.astype(dtype)
    if dtype == np.float32:
        pp /= pp.sum(axis=1, keepdims=True, dtype=np.float32)
    return labels, pp


@pytest.fixture(scope="module")
def data():
    return _data(0)


@pytest.fixture(scope="module")
def client():
    with local_cluster(processes=True) as c:
        yield c


def _lazy(labels, pp, block=BLOCK):
    return da.from_array(labels, chunks=block), da.from_array(pp, chunks=(block, pp.shape[1]))


def _assert_same_noise(a, b):
    for field in a.__dataclass_fields__:
        x, y = getattr(a, field), getattr(b, field)
        assert np.array_equal(x, y), field


def _check_identical(labels, pp, dl, dp, full=True):
    """Every score method and blockwise filter equal to the in-memory path; ``full``: also
    uncalibrated noise, adjusted scores and ranked indices by two scores for each filter."""
    _assert_same_noise(ln.estimate_noise(labels, pp), ln.estimate_noise(dl, dp))
    for method in rank.METHODS:
        expected = ln.label_quality_scores(labels, pp, method=method)
        got = ln.label_quality_scores(dl, dp, method=method)
        assert isinstance(got, da.Array)
        np.testing.assert_array_equal(got.compute(), expected, err_msg=method)
    for filter_by in BLOCKWISE_FILTERS + SELECTION_FILTERS:
        expected = ln.find_label_issues(labels, pp, filter_by=filter_by)
        assert 0 < expected.sum() < N
        np.testing.assert_array_equal(ln.find_label_issues(dl, dp, filter_by=filter_by).compute(),
                                      expected, err_msg=filter_by)
    np.testing.assert_array_equal(ln.find_label_issues(dl, dp, return_ranked=True),
                                  ln.find_label_issues(labels, pp, return_ranked=True))
    if not full:
        return
    _assert_same_noise(ln.estimate_noise(labels, pp, calibrate=False),
                       ln.estimate_noise(dl, dp, calibrate=False))
    for method in ("self_confidence", "normalized_margin"):
        np.testing.assert_array_equal(
            ln.label_quality_scores(dl, dp, method=method, adjust_pred_probs=True).compute(),
            ln.label_quality_scores(labels, pp, method=method, adjust_pred_probs=True))
    for filter_by in BLOCKWISE_FILTERS:
        for rank_by in (None, "noise_posterior"):
            np.testing.assert_array_equal(
                ln.find_label_issues(dl, dp, filter_by=filter_by, return_ranked=True, rank_by=rank_by),
                ln.find_label_issues(labels, pp, filter_by=filter_by, return_ranked=True,
                                     rank_by=rank_by), err_msg=f"{filter_by} {rank_by}")


def test_local_cluster_identical_to_in_memory(data, client):
    labels, pp = data
    # the arrays live on the workers, as blocks read from a Zarr store would
    dl, dp = client.persist(list(_lazy(labels, pp)))
    with dask.config.set(scheduler=client):
        _check_identical(labels, pp, dl, dp, full=False)


def test_threaded_scheduler_identical_float32_and_numpy_labels():
    labels, pp = _data(1, np.float32)
    dl, dp = _lazy(labels, pp, block=2 * chunk_rows(K))  # blocks kept as they are
    assert dp.chunks[0][0] % chunk_rows(K) == 0
    with dask.config.set(scheduler="threads"):
        _check_identical(labels, pp, dl, dp)
        # numpy labels with Dask pred_probs, and a given noise matrix
        nm = ln.estimate_noise(labels, pp).noise_matrix
        for method in ("noise_posterior", "mixture"):
            np.testing.assert_array_equal(
                ln.label_quality_scores(labels, dp, method=method, noise_matrix=nm).compute(),
                ln.label_quality_scores(labels, pp, method=method, noise_matrix=nm))


def test_ensemble_and_renormalised_rows_identical():
    labels, pp = _data(2)
    rng = np.random.default_rng(3)
    other = np.roll(pp, 1, axis=0) * (1 + rng.uniform(-2e-4, 2e-4, size=(N, 1)))  # renormalised
    members = [da.from_array(pp, chunks=(BLOCK, K)), da.from_array(other, chunks=(BLOCK, K))]
    with dask.config.set(scheduler="threads"):
        for method in ("prior_adjusted_margin", "pooled", "self_confidence"):
            with pytest.warns(PredProbsWarning, match="renormalised"):
                expected = ln.label_quality_scores(labels, [pp, other], method=method)
            with pytest.warns(PredProbsWarning, match="renormalised"):
                got = ln.label_quality_scores(labels, members, method=method).compute()
            np.testing.assert_array_equal(got, expected)
        with pytest.warns(PredProbsWarning, match="renormalised"):
            expected = ln.estimate_noise(labels, other)
        with pytest.warns(PredProbsWarning, match="renormalised"):
            _assert_same_noise(ln.estimate_noise(labels, members[1]), expected)


def test_mixture_weight_by_blockwise_newton(data, monkeypatch):
    labels, pp = data
    dl, dp = _lazy(labels, pp)
    monkeypatch.setattr(dask_arrays, "MIXTURE_GATHER_MAX_ROWS", 0)
    monkeypatch.setattr(rank, "_FIT_SUBSAMPLE", 1000)  # strided start, as at large N
    with dask.config.set(scheduler="threads"):
        inputs = dask_arrays._validate(dl, dp, fused=True)
        _, w = dask_arrays._mixture(inputs, None)
        expected_w = rank.mixture_weight(labels, pp)
        assert 0.0 < expected_w < 1.0
        assert abs(w - expected_w) < 1e-12
        np.testing.assert_allclose(
            ln.label_quality_scores(dl, dp, method="mixture").compute(),
            ln.label_quality_scores(labels, pp, method="mixture"), rtol=1e-12, atol=1e-14)
        np.testing.assert_array_equal(ln.find_label_issues(dl, dp, filter_by="mixture").compute(),
                                      ln.find_label_issues(labels, pp, filter_by="mixture"))


def _error(fn, *args, **kwargs) -> str:
    with pytest.raises(ValueError) as info:
        fn(*args, **kwargs)
    return str(info.value)


def _bad_cases(labels, pp):
    def with_pp(i, j, value):
        bad = pp.copy()
        bad[i, j] = value
        return labels, bad

    def with_label(i, value, dtype=None):
        bad = labels.astype(dtype or labels.dtype)
        bad[i] = value
        return bad, pp

    scaled = pp.copy()
    scaled[20_001] *= 1.01
    no_class = labels.copy()
    no_class[no_class == 7] = 8
    return {
        "nan late block": with_pp(20_000, 3, np.nan),
        "inf": with_pp(9_000, 0, np.inf),
        "negative": with_pp(15_000, 1, -0.5),
        "above one": with_pp(15_000, 2, 1.7),
        "row sum": (labels, scaled),
        "label >= K": with_label(19_999, K),
        "label < 0": with_label(12_345, -1),
        "label not integral": with_label(17_000, 2.5, np.float64),
        "label nan": with_label(16_000, np.nan, np.float64),
        "missing class": (no_class, pp),
        "N mismatch": (labels[:-1], pp),
        "not 2-D": (labels, pp[:, 0]),
    }


def test_validation_errors_on_a_bad_block_match_in_memory(data):
    labels, pp = data
    with dask.config.set(scheduler="threads"):
        for case, (bad_labels, bad_pp) in _bad_cases(labels, pp).items():
            expected = _error(ln.estimate_noise, bad_labels, bad_pp)
            dl = da.from_array(bad_labels, chunks=BLOCK)
            dp = da.from_array(bad_pp, chunks=(BLOCK,) + bad_pp.shape[1:])
            assert _error(ln.estimate_noise, dl, dp) == expected, case
            assert "\n" not in expected
        labels_bad, pp_bad = _bad_cases(labels, pp)["nan late block"]
        assert _error(ln.find_label_issues, labels_bad, _lazy(labels_bad, pp_bad)[1]) == \
            _error(ln.find_label_issues, labels_bad, pp_bad)


def test_identical_rows_warning(data):
    labels, _ = data
    uniform = np.full((N, K), 1.0 / K)
    dl, dp = _lazy(labels, uniform)
    with dask.config.set(scheduler="threads"), pytest.warns(PredProbsWarning, match="same probability"):
        ln.label_quality_scores(dl, dp, method="self_confidence")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ln.label_quality_scores(*_lazy(*data), method="self_confidence")


def _same_flags(labels, pp, dl, dp, **kwargs):
    expected = ln.find_label_issues(labels, pp, **kwargs)
    np.testing.assert_array_equal(ln.find_label_issues(dl, dp, **kwargs).compute(), expected,
                                  err_msg=str(kwargs))
    assert 0 < expected.sum() < len(labels)


@pytest.mark.parametrize("filter_by", ("prune_by_noise_rate", "prune_by_class", "both"))
def test_prune_filters_identical_with_options_ensembles_and_a_second_pass(data, filter_by,
                                                                          monkeypatch):
    labels, pp = data
    dl, dp = _lazy(labels, pp)
    other = np.roll(pp, 1, axis=0)
    members = [dp, da.from_array(other, chunks=(BLOCK, K))]
    calls = []
    monkeypatch.setattr(dask_arrays, "_prune_candidates",
                        lambda *a: calls.append(1) or _prune_candidates(*a))
    with dask.config.set(scheduler="threads"):
        _same_flags(labels, pp, dl, dp, filter_by=filter_by, frac_noise=0.4,
                    min_examples_per_class=3)
        _same_flags(labels, [pp, other], dl, members, filter_by=filter_by)
        blocks = len(dask_arrays._row_chunks(dp.chunks[0], N, chunk_rows(K)))  # rechunked
        assert len(calls) == 2 * blocks  # one candidate pass per call: the bounds held
        # a strided subsample (as above 131,072 rows), and bounds set too high on purpose:
        # the cells that kept too few are searched again, and the flags stay exact
        monkeypatch.setattr(filt, "_BOTH_COUNT_ROWS", 4_000)
        monkeypatch.setattr(dask_arrays, "PRUNE_BOUND_SLACK", -30.0)
        calls.clear()
        _same_flags(labels, pp, dl, dp, filter_by=filter_by)
        assert len(calls) == 2 * blocks
        np.testing.assert_array_equal(
            ln.find_label_issues(dl, dp, filter_by=filter_by, return_ranked=True),
            ln.find_label_issues(labels, pp, filter_by=filter_by, return_ranked=True))


_prune_candidates = dask_arrays._prune_candidates


def test_prune_filters_refuse_to_gather_too_many_candidates(data, monkeypatch):
    labels, pp = data
    calls = []
    monkeypatch.setattr(dask_arrays, "_prune_candidates",
                        lambda *a: calls.append(1) or _prune_candidates(*a))
    with dask.config.set(scheduler="threads"):
        monkeypatch.setattr(dask_arrays, "PRUNE_MAX_CANDIDATES", 1_000)
        with pytest.raises(ValueError, match="would gather about .* candidates"):
            ln.find_label_issues(*_lazy(labels, pp), filter_by="both")
    assert not calls  # refused before the candidate pass


def test_prune_filters_warn_about_small_classes_as_in_memory(data):
    labels, pp = data
    small = labels.copy()
    small[small == 3] = 4
    small[[10, 20]] = 3  # class 3: two examples
    with pytest.warns(UserWarning, match="class 3 has only 2 examples") as mem_record:
        expected = ln.find_label_issues(small, pp, filter_by="both", min_examples_per_class=2)
    with dask.config.set(scheduler="threads"), \
            pytest.warns(UserWarning, match="class 3 has only 2 examples"):
        got = ln.find_label_issues(*_lazy(small, pp), filter_by="both",
                                   min_examples_per_class=2).compute()
    assert len(mem_record) >= 1
    np.testing.assert_array_equal(got, expected)


def test_expected_f1_identical_with_tied_and_concentrated_scores(data):
    labels, pp = data
    dl, dp = _lazy(labels, pp)
    # tied scores: 2,000 distinct (label, row) pairs repeated (ties at the cut-off go by
    # index, as in memory), and a model so confident that its scores crowd into few bins
    idx = np.random.default_rng(7).integers(0, 2_000, N)
    sharp = pp ** 6
    sharp /= sharp.sum(axis=1, keepdims=True)
    with dask.config.set(scheduler="threads"):
        _same_flags(labels, pp, dl, dp, filter_by="expected_f1")
        for lab, p in ((labels[idx], pp[idx]), (labels, sharp)):
            _same_flags(lab, p, da.from_array(lab, chunks=BLOCK),
                        da.from_array(p, chunks=(BLOCK, K)), filter_by="expected_f1")
        assert np.unique(ln.label_quality_scores(labels[idx], pp[idx])).size <= 2_000
        # a one-hot model agreeing with every label: nothing flagged, as in memory
        perfect = np.eye(K)[labels]
        assert not ln.find_label_issues(labels, perfect, filter_by="expected_f1").any()
        assert not ln.find_label_issues(dl, da.from_array(perfect, chunks=(BLOCK, K)),
                                        filter_by="expected_f1").compute().any()


def test_adaptive_filter_on_flat_pred_probs(data, monkeypatch):
    labels, pp = data
    assert filt.adaptive_uses_pooled(pp)  # the data of the identity tests: "pooled" decides
    rng = np.random.default_rng(5)
    flat = rng.dirichlet(np.full(K, 30.0), size=N)
    flat[np.arange(N), labels] *= 1.3  # a weak model that still leans to the given label
    flat /= flat.sum(axis=1, keepdims=True)
    assert not filt.adaptive_uses_pooled(flat)  # a weak model: counted with "both"
    rare = labels.copy()
    rare[rare == 7] = 8
    rare[[3, 12_346]] = 7  # a class the subsample's stride (5 below) misses
    assert 7 not in rare[::5]
    with dask.config.set(scheduler="threads"):
        for lab, rows in ((labels, None), (labels, 5_000), (rare, 5_000)):
            if rows is not None:  # the count on a strided subsample, as above 131,072 rows
                monkeypatch.setattr(filt, "_BOTH_COUNT_ROWS", rows)
            expected = ln.find_label_issues(lab, flat)
            dl, dp = _lazy(lab, flat)
            np.testing.assert_array_equal(ln.find_label_issues(dl, dp).compute(), expected)
            np.testing.assert_array_equal(ln.find_label_issues(dl, dp, return_ranked=True),
                                          ln.find_label_issues(lab, flat, return_ranked=True))
            assert 0 < expected.sum() < N
            monkeypatch.undo()


def test_out_writes_a_zarr_store_atomically(data, tmp_path):
    pytest.importorskip("zarr")
    labels, pp = data
    dl, dp = _lazy(labels, pp)
    store = tmp_path / "scores.zarr"
    with dask.config.set(scheduler="threads"):
        got = dask_arrays.label_quality_scores(dl, dp, method="pooled", out=store)
        np.testing.assert_array_equal(np.asarray(got.compute()),
                                      ln.label_quality_scores(labels, pp, method="pooled"))
        mask = dask_arrays.find_label_issues(dl, dp, out=tmp_path / "mask.zarr")
        np.testing.assert_array_equal(mask.compute(), ln.find_label_issues(labels, pp))
        with pytest.raises(OutputError, match="exists"):
            dask_arrays.label_quality_scores(dl, dp, out=store)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mask.zarr", "scores.zarr"]


def test_import_labelnoise_does_not_import_dask():
    code = "import sys, labelnoise; assert 'dask' not in sys.modules, 'dask imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
