"""Data issues beyond wrong labels (labelnoise.data_issues): known answers on constructed
cases, agreement with brute force, validation."""

from __future__ import annotations

import numpy as np
import pytest

from labelnoise import count, find_label_issues, label_quality_scores
from labelnoise import data_issues as di


def _blob(n=300, d=20, seed=0):
    """Points in a cone around one direction: cosine distances are informative."""
    rng = np.random.default_rng(seed)
    centre = np.zeros(d)
    centre[0] = 10.0
    return centre + rng.normal(size=(n, d))


def _clusters(seed=0, per=60, d=10):
    rng = np.random.default_rng(seed)
    centres = np.eye(3, d) * 20.0
    x = np.concatenate([c + rng.normal(size=(per, d)) for c in centres])
    y = np.repeat(np.arange(3), per)
    return x, y


def _brute(x, q=None, metric="cosine"):
    same = q is None
    q = x if same else q
    if metric == "cosine":
        xn = x / np.linalg.norm(x, axis=1, keepdims=True)
        qn = q / np.linalg.norm(q, axis=1, keepdims=True)
        d = 1.0 - qn @ xn.T
    else:
        d = np.sqrt(((q[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    if same:
        np.fill_diagonal(d, np.inf)
    return d


# ------------------------------------------------------------------ nearest neighbours
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("query", [False, True])
def test_exact_neighbours_equal_brute_force(metric, query):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 8))
    q = rng.normal(size=(50, 8)) if query else None
    dist, ind = di.nearest_neighbors(x, 7, features_query=q, metric=metric, backend="exact")
    full = _brute(x, q, metric)
    order = np.argsort(full, axis=1)[:, :7]
    np.testing.assert_array_equal(ind, order)
    np.testing.assert_allclose(dist, np.take_along_axis(full, order, axis=1), atol=1e-9)
    assert dist.dtype == np.float64 and ind.dtype == np.int64
    assert (np.diff(dist, axis=1) >= 0).all()
    if not query:
        assert not (ind == np.arange(200)[:, None]).any()  # never its own neighbour


def test_exact_duplicate_rows_are_each_others_neighbour():
    x = _blob(50)
    x[9] = x[4]
    dist, ind = di.nearest_neighbors(x, 3)
    assert ind[4, 0] == 9 and ind[9, 0] == 4
    assert dist[4, 0] == pytest.approx(0.0, abs=1e-12)


def test_hnswlib_agrees_with_exact():
    pytest.importorskip("hnswlib")
    x = np.random.default_rng(2).normal(size=(2000, 16))
    _, exact = di.nearest_neighbors(x, 10, backend="exact")
    dist, approx = di.nearest_neighbors(x, 10, backend="hnswlib", n_jobs=1)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, approx)])
    assert recall >= 0.99
    assert not (approx == np.arange(2000)[:, None]).any()
    # cross-split queries
    q = np.random.default_rng(3).normal(size=(100, 16))
    _, e = di.nearest_neighbors(x, 5, features_query=q, backend="exact")
    _, a = di.nearest_neighbors(x, 5, features_query=q, backend="hnswlib", n_jobs=1)
    assert np.mean(e[:, 0] == a[:, 0]) >= 0.99


def test_faiss_agrees_with_exact():
    pytest.importorskip("faiss")
    x = np.random.default_rng(2).normal(size=(2000, 16))
    _, exact = di.nearest_neighbors(x, 10, backend="exact")
    dist, approx = di.nearest_neighbors(x, 10, backend="faiss", n_jobs=1)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, approx)])
    assert recall >= 0.99
    assert not (approx == np.arange(2000)[:, None]).any()
    full = np.sort(_brute(x), axis=1)[:, :10]
    assert np.mean(np.isclose(dist, full, atol=1e-5)) >= 0.99


@pytest.mark.parametrize("backend", ["faiss", "hnswlib"])
def test_hnsw_degree_m_reaches_the_graph(backend):
    pytest.importorskip("faiss" if backend == "faiss" else "hnswlib")
    x = np.random.default_rng(2).normal(size=(3000, 32))
    _, exact = di.nearest_neighbors(x, 10, backend="exact")

    def recall(m, ef=64):
        _, approx = di.nearest_neighbors(x, 10, backend=backend, n_jobs=1, m=m, ef=ef)
        return np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, approx)])

    # at one search breadth a degree-2 graph is a poor index in 32 dimensions; degree 32
    # finds almost all
    assert recall(2) < 0.8
    assert recall(32) >= 0.99


@pytest.mark.parametrize("backend", ["faiss", "hnswlib"])
def test_default_search_breadth_reaches_the_target_recall(backend):
    pytest.importorskip("faiss" if backend == "faiss" else "hnswlib")
    x = np.random.default_rng(2).normal(size=(3000, 32))
    _, exact = di.nearest_neighbors(x, 10, backend="exact")

    def recall(ind):
        return np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, ind)])

    # degree 4 at the smallest breadth (64) misses neighbours; the default breadth is
    # doubled until the recall on the sampled rows reaches ANN_RECALL
    _, low = di.nearest_neighbors(x, 10, backend=backend, n_jobs=1, m=4, ef=64)
    assert recall(low) < 0.95
    _, ind, info = di.nearest_neighbors(x, 10, backend=backend, n_jobs=1, m=4, return_info=True)
    assert info["backend"] == backend and info["ef"] > 64
    assert info["estimated_recall"] >= di.ANN_RECALL
    assert recall(ind) >= di.ANN_RECALL - 0.01  # the sample's estimate holds on all rows
    # the rule stops at the first breadth that reaches the target
    _, _, easy = di.nearest_neighbors(x, 10, backend=backend, n_jobs=1, m=32, return_info=True)
    assert easy["ef"] == 64 and easy["estimated_recall"] >= di.ANN_RECALL
    # a graph that cannot reach it at HNSW_EF_MAX says so
    with pytest.warns(di.DataIssuesWarning, match="recall@11 is about"):
        di.nearest_neighbors(x, 10, backend=backend, n_jobs=1, m=2)
    _, _, given = di.nearest_neighbors(x, 10, backend=backend, n_jobs=1, ef=100, return_info=True)
    assert given["ef"] == 100 and np.isnan(given["estimated_recall"])
    _, _, ex = di.nearest_neighbors(x, 10, backend="exact", return_info=True)
    assert ex == {"backend": "exact", "ef": None, "nprobe": None, "estimated_recall": 1.0}


def test_faiss_ivf_backend_recall_rule_and_exhaustive_search():
    pytest.importorskip("faiss")
    rng = np.random.default_rng(6)
    centres = rng.normal(size=(20, 16)) * 3.0
    x = centres[rng.integers(0, 20, 4000)] + rng.normal(size=(4000, 16))
    _, exact = di.nearest_neighbors(x, 10, backend="exact")

    def recall(ind):
        return np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, ind)])

    d, ind, info = di.nearest_neighbors(x, 10, backend="faiss-ivf", n_jobs=1, return_info=True)
    assert info["backend"] == "faiss-ivf" and info["ef"] is None
    assert info["nprobe"] >= di.IVF_NPROBE_MIN and info["estimated_recall"] >= di.ANN_RECALL
    assert recall(ind) >= di.ANN_RECALL - 0.01
    assert not (ind == np.arange(4000)[:, None]).any() and (np.diff(d, axis=1) >= -1e-12).all()
    # one cell searched misses neighbours; every cell searched is exact search
    _, one = di.nearest_neighbors(x, 10, backend="faiss-ivf", n_jobs=1, nprobe=1)
    assert recall(one) < 0.9
    nlist = min(round(di.IVF_CELLS_PER_SQRT_N * np.sqrt(4000)), 4000 // 39)
    _, every = di.nearest_neighbors(x, 10, backend="faiss-ivf", n_jobs=1, nprobe=nlist)
    assert recall(every) == 1.0
    q = rng.normal(size=(50, 16)) + centres[0]
    _, iq = di.nearest_neighbors(x, 5, features_query=q, backend="faiss-ivf", nprobe=nlist)
    np.testing.assert_array_equal(iq, di.nearest_neighbors(x, 5, features_query=q, backend="exact")[1])
    with pytest.raises(ValueError, match="^nprobe must be an integer"):
        di.nearest_neighbors(x, 3, backend="faiss-ivf", nprobe=0)


def test_hnsw_parameters_are_validated():
    x = np.random.default_rng(0).normal(size=(50, 4))
    for kwargs, name in (({"ef": 0}, "ef"), ({"m": 1}, "m"), ({"m": 16.0}, "m"),
                         ({"ef": True}, "ef")):
        with pytest.raises(ValueError, match=f"^{name} must be an integer"):
            di.nearest_neighbors(x, 3, **kwargs)


def test_faiss_exact_is_exact_search_in_float32(monkeypatch):
    pytest.importorskip("faiss")
    x = np.random.default_rng(4).normal(size=(1500, 16))
    x[9] = x[4]  # an exact duplicate pair
    for metric in ("cosine", "euclidean"):
        d_ref, i_ref = di.nearest_neighbors(x, 10, backend="exact", metric=metric)
        d, i = di.nearest_neighbors(x, 10, backend="faiss-exact", metric=metric, n_jobs=1)
        # the same neighbours (random Gaussian rows: no ties within float32 rounding, but
        # rows 4 and 9 are equally near every other row, in either order)
        np.testing.assert_array_equal(np.where(i == 9, 4, i), np.where(i_ref == 9, 4, i_ref))
        np.testing.assert_allclose(d, d_ref, atol=2e-4 if metric == "euclidean" else 1e-5)
        assert not (i == np.arange(1500)[:, None]).any()
        assert i[4, 0] == 9 and i[9, 0] == 4
    q = np.random.default_rng(5).normal(size=(60, 16))
    np.testing.assert_array_equal(
        di.nearest_neighbors(x, 5, features_query=q, backend="faiss-exact")[1],
        di.nearest_neighbors(x, 5, features_query=q, backend="exact")[1])
    # "auto" searches exactly by faiss below AUTO_EXACT_PAIRS when faiss is installed
    calls = []
    monkeypatch.setattr(di, "_search_faiss_exact",
                        lambda *a: calls.append(1) or _faiss_exact(*a))
    np.testing.assert_array_equal(di.nearest_neighbors(x, 10, metric="euclidean")[1], i)
    assert calls == [1]


_faiss_exact = di._search_faiss_exact


def test_auto_backend_above_the_exact_limit_is_the_inverted_file(monkeypatch):
    pytest.importorskip("faiss")
    monkeypatch.setattr(di, "AUTO_EXACT_PAIRS", 1000)
    rng = np.random.default_rng(8)
    x = rng.normal(size=(20, 8))[rng.integers(0, 20, 2000)] * 3 + rng.normal(size=(2000, 8))
    _, ind, info = di.nearest_neighbors(x, 5, return_info=True)
    assert info["backend"] == "faiss-ivf" and info["estimated_recall"] >= di.ANN_RECALL
    monkeypatch.setattr(di, "_available", lambda module: module == "hnswlib")
    if di._hnswlib_available():
        assert di._resolve_backend("auto", 2000, 2000) == "hnswlib"


def test_hnswlib_missing_gives_clear_message(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "hnswlib", None)  # import hnswlib -> ImportError
    monkeypatch.setitem(sys.modules, "faiss", None)
    for backend in ("hnswlib", "faiss", "faiss-ivf", "faiss-exact"):
        with pytest.raises(ImportError, match=r"labelnoise\[ann\]"):
            di.nearest_neighbors(_blob(30), 3, backend=backend)


def test_auto_backend_falls_back_to_exact_with_warning(monkeypatch):
    monkeypatch.setattr(di, "AUTO_EXACT_PAIRS", 100)
    monkeypatch.setattr(di, "_available", lambda module: False)
    x = _blob(40)
    with pytest.warns(di.DataIssuesWarning, match="faiss-cpu"):
        dist, ind = di.nearest_neighbors(x, 3)
    np.testing.assert_array_equal(ind, di.nearest_neighbors(x, 3, backend="exact")[1])


def test_zero_norm_rows_get_cosine_distance_one():
    x = _blob(30)
    x[5] = 0.0
    with pytest.warns(di.DataIssuesWarning, match="zero norm"):
        dist, ind = di.nearest_neighbors(x, 4)
    assert np.all(dist[5] == 1.0)
    assert np.all(dist[ind == 5] == 1.0)


def test_inputs_not_modified():
    x = _blob(60)
    x_copy = x.copy()
    labels = np.zeros(60, dtype=np.int64)
    di.nearest_neighbors(x, 3)
    di.find_near_duplicates(x)
    di.knn_label_quality(x, labels, 3)
    np.testing.assert_array_equal(x, x_copy)


# ------------------------------------------------------------------ outliers
def test_planted_far_away_point_is_the_only_outlier():
    x = _blob(300)
    x[17, 0] = -10.0  # the opposite direction: cosine distance about 2 to everyone
    scores = di.outlier_scores(x)
    assert np.argmax(scores) == 17
    flags = di.find_outliers(x)
    assert np.flatnonzero(flags).tolist() == [17]
    # Euclidean: a point far from the blob
    y = _blob(300, d=10)
    y[40] += 25.0
    assert np.flatnonzero(di.find_outliers(y, metric="euclidean")).tolist() == [40]


def test_outlier_score_is_mean_knn_distance():
    x = _blob(80)
    full = _brute(x)
    expected = np.sort(full, axis=1)[:, :5].mean(axis=1)
    np.testing.assert_allclose(di.outlier_scores(x, k=5), expected, atol=1e-9)


def test_mahalanobis_outlier_scores_agree_with_a_reference_computation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6))  # correlated features
    from sklearn.covariance import LedoitWolf

    lw = LedoitWolf().fit(x)
    inv = np.linalg.inv(lw.covariance_)  # independent of the precision the function uses
    d = x - x.mean(axis=0)
    expected = np.sqrt(np.einsum("ij,jk,ik->i", d, inv, d))
    got = di.mahalanobis_outlier_scores(x)
    np.testing.assert_allclose(got, expected, rtol=1e-8)
    # float32 input, a copy of the features: same scores, input untouched
    x32 = x.astype(np.float32)
    before = x32.copy()
    np.testing.assert_allclose(di.mahalanobis_outlier_scores(x32), expected, rtol=1e-4)
    assert np.array_equal(x32, before)


def test_mahalanobis_finds_a_planted_group_that_knn_calls_the_most_typical():
    # 20 identical points far from a Gaussian bulk: each has 19 neighbours at distance 0, so
    # the kNN score calls them the least outlying; the distance to the bulk ranks them first
    # (the group itself widens the fitted spread along its direction, to about 1.6 sd, so it
    # is placed 12 sd away)
    rng = np.random.default_rng(1)
    bulk = rng.normal(size=(2000, 16))
    far = np.zeros(16)
    far[:4] = 6.0  # 12 standard deviations from the centre
    x = np.concatenate([bulk, np.tile(far, (20, 1))])
    group = np.arange(2000, 2020)
    knn = di.outlier_scores(x, k=10, metric="euclidean")
    assert np.all(knn[group] == 0.0)
    maha = di.mahalanobis_outlier_scores(x)
    assert maha[group].min() > np.quantile(maha[:2000], 0.999)
    # Gaussian bulk: squared distances about chi-square with D = 16 degrees of freedom
    assert abs(np.median(maha[:2000] ** 2) - 15.34) < 1.0


def test_mahalanobis_subsampled_fit_and_validation():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3000, 5))
    full = di.mahalanobis_outlier_scores(x)
    sub = di.mahalanobis_outlier_scores(x, max_fit_rows=1000, seed=3)
    assert np.array_equal(sub, di.mahalanobis_outlier_scores(x, max_fit_rows=1000, seed=3))
    assert not np.array_equal(sub, full)
    assert np.corrcoef(sub, full)[0, 1] > 0.99
    bad = x.copy()
    bad[5, 2] = np.nan
    with pytest.raises(ValueError, match=r"features must be finite; features\[5, 2\]"):
        di.mahalanobis_outlier_scores(bad)
    with pytest.raises(ValueError, match="at least 2 rows"):
        di.mahalanobis_outlier_scores(x[:1])
    for m in (1, 2.5, "many"):
        with pytest.raises(ValueError, match="max_fit_rows"):
            di.mahalanobis_outlier_scores(x, max_fit_rows=m)


def test_outlier_threshold_rule():
    s = np.exp(np.array([0.0, 1.0, 2.0, 3.0, 4.0]))  # logs: median 2, MAD 1
    assert di.outlier_threshold(s, z=2.0) == pytest.approx(np.exp(2.0 + 2.0 * 1.482602218505602))
    flags = di.find_outliers(pred_probs=np.array([[0.5, 0.5]] + [[0.99, 0.01]] * 9), threshold=0.5)
    assert flags.tolist() == [True] + [False] * 9


def _missed_neighbors(x, rows, k=10, seed=0):
    """Exact neighbours, except that ``rows`` get k random other points (true points, so
    their distances are upper bounds, as an approximate search's misses give)."""
    dist, ind = di.nearest_neighbors(x, k, backend="exact")
    dist, ind = dist.copy(), ind.copy()
    full = _brute(x)
    rng = np.random.default_rng(seed)
    for r in rows:
        pick = rng.choice(np.delete(np.arange(len(x)), r), k, replace=False)
        order = np.argsort(full[r, pick])
        ind[r], dist[r] = pick[order], full[r, pick][order]
    return dist, ind


def test_refinement_removes_the_flags_of_missed_neighbours():
    x = _blob(400)
    x[[17, 250]] = -x[[17, 250]]  # two far-away points (the opposite direction)
    missed = [3, 50, 99, 123, 222, 300, 333, 398]
    nbrs = _missed_neighbors(x, missed)
    raw = di.outlier_scores(neighbors=nbrs)
    assert (raw >= di.outlier_scores(x) - 1e-12).all()  # upper bounds of the exact scores
    unrefined = di.find_outliers(x, neighbors=nbrs, refine=False)
    assert set(np.flatnonzero(unrefined)) > {17, 250}  # missed rows flagged as well
    assert np.flatnonzero(di.find_outliers(x, neighbors=nbrs)).tolist() == [17, 250]
    scores, t, exact = di.refine_outlier_scores(x, raw)
    np.testing.assert_allclose(scores[exact], di.outlier_scores(x)[exact], atol=1e-9)
    assert set(np.flatnonzero(unrefined)) <= set(np.flatnonzero(exact))
    np.testing.assert_array_equal(scores[~exact], raw[~exact])  # only re-scored rows change
    assert np.flatnonzero(scores > t).tolist() == [17, 250]
    # a fixed threshold is kept; on exact neighbours nothing changes
    s2, t2, _ = di.refine_outlier_scores(x, raw, threshold=0.5)
    assert t2 == 0.5
    exact_scores = di.outlier_scores(x)
    s3, t3, e3 = di.refine_outlier_scores(x, exact_scores)
    np.testing.assert_allclose(s3, exact_scores, atol=1e-12)
    assert t3 == pytest.approx(di.outlier_threshold(exact_scores))
    assert np.flatnonzero(e3).tolist() == [17, 250]


def test_refine_outlier_scores_validation():
    x = _blob(50)
    s = di.outlier_scores(x)
    s_copy = s.copy()
    with pytest.raises(ValueError, match="scores has 49 rows"):
        di.refine_outlier_scores(x, s[:49])
    with pytest.raises(ValueError, match="scores must be 1-D"):
        di.refine_outlier_scores(x, np.stack([s, s], axis=1))
    with pytest.raises(ValueError, match="scores must be finite"):
        di.refine_outlier_scores(x, np.where(np.arange(50) == 3, np.nan, s))
    with pytest.raises(ValueError, match="threshold must be a finite number"):
        di.refine_outlier_scores(x, s, threshold=float("inf"))
    with pytest.raises(ValueError, match="threshold must be a finite number"):
        di.find_outliers(x, threshold=float("nan"))
    with pytest.raises(ValueError, match="k must be at most 49"):
        di.refine_outlier_scores(x, s, k=50)
    di.refine_outlier_scores(x, s)
    np.testing.assert_array_equal(s, s_copy)


def test_outlier_scores_from_pred_probs():
    pp = np.array([[1 / 3, 1 / 3, 1 / 3], [1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])
    ent = di.outlier_scores(pred_probs=pp)
    np.testing.assert_allclose(ent, [1.0, 0.0, np.log(2) / np.log(3)], atol=1e-12)
    lc = di.outlier_scores(pred_probs=pp, method="least_confidence")
    np.testing.assert_allclose(lc, [2 / 3, 0.0, 0.5], atol=1e-12)


# ------------------------------------------------------------------ duplicates
def test_planted_near_duplicate_pair_is_the_only_pair():
    x = _blob(200)
    rng = np.random.default_rng(5)
    x[150] = x[12] + 1e-3 * rng.normal(size=x.shape[1])
    x[80] = x[33]  # an exact copy
    dups = di.find_near_duplicates(x)
    assert list(map(tuple, dups.pairs[["i", "j"]].to_numpy())) == [(33, 80), (12, 150)]
    assert [s.tolist() for s in dups.sets] == [[12, 150], [33, 80]]
    assert np.flatnonzero(dups.is_duplicate).tolist() == [12, 33, 80, 150]
    assert dups.is_duplicate_other is None
    ids = dups.set_ids()
    assert ids[12] == ids[150] != ids[33] == ids[80] and (ids == -1).sum() == 196
    # the default radius is 0.1 x the median nearest-neighbour distance
    nn = np.sort(_brute(x), axis=1)[:, 0]
    assert nn[[33, 80]].max() < 1e-12  # the exact copy (float rounding: not always 0)
    assert dups.threshold == pytest.approx(0.1 * np.median(np.delete(nn, [33, 80])))
    exact = di.find_near_duplicates(x, neighbors=di.nearest_neighbors(x, 10, backend="exact"))
    assert exact.threshold == pytest.approx(dups.threshold)


def test_groups_larger_than_k_are_joined():
    x = _blob(100)
    for r in range(60, 75):  # 16 copies of row 3 (more than k + 1 = 6)
        x[r] = x[3]
    dups = di.find_near_duplicates(x, k=5)
    assert [s.tolist() for s in dups.sets] == [[3] + list(range(60, 75))]


def test_near_duplicates_across_splits():
    train = _blob(200, seed=0)
    test = _blob(50, seed=1)
    test[7] = train[120] + 1e-4
    test[9] = train[3]
    dups = di.find_near_duplicates(train, features_other=test)
    assert sorted(map(tuple, dups.pairs[["i", "j"]].to_numpy())) == [(3, 9), (120, 7)]
    assert np.flatnonzero(dups.is_duplicate_other).tolist() == [7, 9]
    assert np.flatnonzero(dups.is_duplicate).tolist() == [3, 120]
    assert dups.sets == []
    # an explicit threshold
    assert len(di.find_near_duplicates(train, 0.0, features_other=test).pairs) == 0


def _smooth_images(n, seed=0, side=32):
    """Natural-looking uint8 images: random 4 x 4 colour fields upsampled, plus noise."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, size=(n, 4, 4, 3))
    up = np.kron(coarse, np.ones((1, side // 4, side // 4, 1)))
    return np.clip(up + rng.normal(0, 20, size=up.shape), 0, 255).astype(np.uint8)


def _shift(img, dy, dx):
    """Translate by (dy, dx) pixels, repeating the edge rows and columns (the benchmark's
    2-pixel shift)."""
    h, w = img.shape[:2]
    ys = np.clip(np.arange(h) - dy, 0, h - 1)
    xs = np.clip(np.arange(w) - dx, 0, w - 1)
    return img[ys][:, xs]


def _reference_pixel_distance(a, b, max_shift):
    """The aligned pixel distance of one pair at full resolution, by explicit loops."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    h, w = a.shape[:2]
    best = np.inf
    for bb in (b, b[:, ::-1]):
        for dy in range(-max_shift, max_shift + 1):
            for dx in range(-max_shift, max_shift + 1):
                sq = [(a[y, x] - bb[y - dy, x - dx]) ** 2 for y in range(h) for x in range(w)
                      if 0 <= y - dy < h and 0 <= x - dx < w]
                best = min(best, float(np.mean(sq)))
    return np.sqrt(best) / np.sqrt((a.var() + b.var()) / 2)


def test_aligned_pixel_distance_known_answers():
    imgs = _smooth_images(6)
    rng = np.random.default_rng(1)
    jpeg_like = np.clip(imgs[0].astype(int) + rng.integers(-2, 3, imgs[0].shape), 0, 255)
    const = np.zeros((2, 32, 32, 3), np.uint8)
    const[0] += 40
    const[1] += 200
    other = np.stack([imgs[0], imgs[0][:, ::-1], _shift(imgs[0], 2, -2), jpeg_like.astype(np.uint8),
                      imgs[1], const[0], const[1], const[0]])
    before = other.copy()
    d = di.aligned_pixel_distance(np.concatenate([imgs, const]), np.array([0, 0, 0, 0, 0, 6, 6, 7]),
                                  np.arange(8), images_other=other)
    np.testing.assert_array_equal(other, before)
    assert d[:3].tolist() == [0.0, 0.0, 0.0]  # identical, mirrored, shifted by one thumbnail pixel
    assert 0 < d[3] < 0.05  # re-encoding noise of +-2 grey levels
    assert d[4] > 0.5  # another image
    assert d[5] == 0 and d[6] > 100  # flat images: the same colour, or far apart (floored scale)
    # agreement with a full-resolution loop over the alignments (no thumbnail)
    pair = di.aligned_pixel_distance(imgs, [2], [3], resolution=32, max_shift=2)
    assert pair[0] == pytest.approx(_reference_pixel_distance(imgs[2], imgs[3], 2), rel=1e-5)
    no_flip = di.aligned_pixel_distance(imgs, [0], [0], images_other=other[1:2], flip=False)
    assert no_flip[0] > 0.5
    # one channel, and a sequence of images of different sizes (a 2x upscaled copy is the same
    # thumbnail; a 40 x 40 copy goes through the box filter)
    gray = imgs[..., 0]
    assert di.aligned_pixel_distance(gray, [0], [0])[0] == 0
    seq = [imgs[0], np.kron(imgs[0], np.ones((2, 2, 1))).astype(np.uint8),
           np.asarray(__import__("PIL.Image", fromlist=["Image"]).fromarray(imgs[0]).resize((40, 40)))]
    d_seq = di.aligned_pixel_distance(seq, [0, 0], [1, 2])
    assert d_seq[0] == pytest.approx(0, abs=1e-6) and d_seq[1] < 0.1
    assert di.aligned_pixel_distance(imgs, [], []).shape == (0,)


def test_near_duplicates_with_images_confirm_copies_by_their_pixels():
    """With the images the pixels decide within the candidate radius: shifted and mirrored
    copies beyond the feature radius are found, a feature look-alike or even a feature copy
    whose image is another is not; across splits likewise."""
    x = _blob(60, seed=3)
    imgs = _smooth_images(60, seed=4)
    nn = np.sort(_brute(x), axis=1)[:, 0]
    rng = np.random.default_rng(6)

    def near(row, times):  # a point at about `times` x the median nearest-neighbour distance
        for scale in np.geomspace(1e-3, 10, 400):
            cand = x[row] + scale * rng.normal(size=x.shape[1])
            if _brute(x, cand[None])[0, row] > times * np.median(nn):
                return cand
        raise AssertionError

    x[50], imgs[50] = near(5, 0.5), _shift(imgs[5], -2, 2)  # a shifted copy, its features moved
    x[51], imgs[51] = near(6, 0.5), imgs[6][:, ::-1]  # a mirror image
    x[52] = near(7, 0.5)  # a look-alike in features, another image
    x[53] = x[8]  # a copy in features whose image is another: the pixels overrule the features
    x[54], imgs[54] = x[9], imgs[9]  # a copy in both
    plain = di.find_near_duplicates(x)
    assert plain.pixel_threshold is None and "pixel_distance" not in plain.pairs
    with_images = di.find_near_duplicates(x, images=imgs)
    found = set(map(tuple, with_images.pairs[["i", "j"]].to_numpy()))
    assert {(5, 50), (6, 51), (9, 54)} <= found and (7, 52) not in found
    plain_found = set(map(tuple, plain.pairs[["i", "j"]].to_numpy()))
    assert {(8, 53), (9, 54)} <= plain_found and (8, 53) not in found
    assert found - plain_found == {(5, 50), (6, 51)}
    assert with_images.pixel_threshold == di.PIXEL_DUPLICATE_THRESHOLD
    assert with_images.threshold == plain.threshold
    by_pixels = with_images.pairs.set_index(["i", "j"]).loc[[(5, 50), (6, 51), (9, 54)],
                                                            "pixel_distance"]
    assert (by_pixels == 0).all()
    # a candidate radius below the planted pairs: only the copy in both features and pixels
    tight = di.find_near_duplicates(x, images=imgs, candidate_fraction=0.2)
    assert {(5, 50), (6, 51), (9, 54)} & set(map(tuple, tight.pairs[["i", "j"]].to_numpy())) == {(9, 54)}
    # across splits: test rows 0 and 1 are a shifted copy and a look-alike of train rows
    test_x = np.stack([near(20, 0.5), near(21, 0.5)])
    test_imgs = np.stack([_shift(imgs[20], 2, 0), _smooth_images(1, seed=9)[0]])
    across = di.find_near_duplicates(x, features_other=test_x, images=imgs, images_other=test_imgs)
    assert list(map(tuple, across.pairs[["i", "j"]].to_numpy())) == [(20, 0)]
    assert np.flatnonzero(across.is_duplicate_other).tolist() == [0]


def test_exact_duplicates_by_hash():
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(20, 4, 4, 3), dtype=np.uint8)
    imgs[11] = imgs[2]
    imgs[15] = imgs[2]
    dups = di.find_exact_duplicates(imgs)
    assert [s.tolist() for s in dups.sets] == [[2, 11, 15]]
    assert sorted(map(tuple, dups.pairs[["i", "j"]].to_numpy())) == [(2, 11), (2, 15), (11, 15)]
    assert (dups.pairs["distance"] == 0).all()
    # a float copy of the same pixels is different content
    assert len(di.find_exact_duplicates([imgs[0], imgs[0].astype(np.float64)]).pairs) == 0
    # bytes, and two splits
    cross = di.find_exact_duplicates([b"a", b"b", b"c"], [b"c", b"x", b"a"])
    assert sorted(map(tuple, cross.pairs[["i", "j"]].to_numpy())) == [(0, 2), (2, 0)]
    assert cross.is_duplicate_other.tolist() == [True, False, True]


# ------------------------------------------------------------------ classes
def _confused_pred_probs(seed=0, n=600):
    """Classes 0 and 1 overlap (each sometimes predicted as the other), class 2 clean."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), n // 3)
    pp = np.full((n, 3), 0.05)
    pp[np.arange(n), labels] = 0.9
    swap = (labels < 2) & (rng.random(n) < 0.3)
    pp[swap] = pp[swap][:, [1, 0, 2]]
    return labels, pp


def test_overlapping_classes_from_confident_joint():
    labels, pp = _confused_pred_probs()
    frame = di.overlapping_classes(labels, pp, class_names=["cat", "dog", "car"])
    cj = count.estimate_noise(labels, pp).confident_joint
    top = frame.iloc[0]
    assert (top["class_a"], top["class_b"], top["name_a"], top["name_b"]) == (0, 1, "cat", "dog")
    assert top["num_overlapping_examples"] == cj[0, 1] + cj[1, 0]
    assert top["joint_probability"] == pytest.approx((cj[0, 1] + cj[1, 0]) / cj.sum())
    assert top["frac_a_as_b"] == pytest.approx(cj[0, 1] / 200)
    assert 0.2 < top["frac_a_as_b"] < 0.4 and 0.2 < top["frac_b_as_a"] < 0.4
    # every pair with a confused example, no more
    expected = {(min(i, j), max(i, j)) for i, j, _ in count.confused_pairs(cj, top=9)}
    assert set(zip(frame["class_a"], frame["class_b"])) == expected
    assert len(di.overlapping_classes(labels, pp, top=1)) == 1


def test_class_health_summary():
    labels, pp = _confused_pred_probs()
    labels = labels[50:]  # class 0 smaller
    pp = pp[50:]
    outliers = np.zeros(len(labels), dtype=bool)
    outliers[[0, 1, 400]] = True
    frame = di.class_health_summary(labels, pp, issues={"outlier": outliers})
    noise = count.estimate_noise(labels, pp)
    issues = find_label_issues(labels, pp)
    assert frame["num_examples"].tolist() == [150, 200, 200]
    np.testing.assert_allclose(frame["estimated_noise_rate"],
                               1 - noise.inverse_noise_matrix.diagonal())
    assert frame["num_label_issues"].tolist() == np.bincount(labels[issues], minlength=3).tolist()
    assert frame["num_outlier"].tolist() == [2, 0, 1]
    assert frame["estimated_noise_rate"][2] < 0.05 < frame["estimated_noise_rate"][0]
    assert frame.attrs["imbalance_ratio"] == pytest.approx(0.75)
    assert not frame["is_minority"].any()
    with pytest.raises(ValueError, match="outlier"):
        di.class_health_summary(labels, pp, issues={"outlier": outliers[:10]})


def test_class_imbalance():
    labels = np.r_[np.zeros(100, int), np.ones(100, int), np.full(5, 2)]
    info = di.class_imbalance(labels)
    assert info["counts"].tolist() == [100, 100, 5]
    assert info["minority_classes"] == [2]  # 5 < 0.1 * 205 / 3
    assert info["imbalance_ratio"] == pytest.approx(0.05)


# ------------------------------------------------------------------ kNN label issues
def test_knn_finds_planted_mislabelled_point():
    x, y = _clusters()
    noisy = y.copy()
    noisy[25] = 2  # a cluster-0 point labelled 2
    res = di.knn_label_quality(x, noisy, 10)
    assert np.flatnonzero(res.is_label_issue).tolist() == [25]
    assert np.argmin(res.label_quality_scores) == 25
    # 10 cluster-0 neighbours, smoothing 1 spread over 3 classes
    np.testing.assert_allclose(res.knn_pred_probs[25], [(10 + 1 / 3) / 11, (1 / 3) / 11, (1 / 3) / 11])
    assert res.label_quality_scores[25] == pytest.approx((1 / 3) / 11)
    np.testing.assert_allclose(res.knn_pred_probs.sum(axis=1), 1.0)
    assert res.knn_weight == 1.0


def test_knn_pred_probs_excludes_own_label():
    labels = np.array([0, 1, 1, 0])
    q = di.knn_pred_probs(labels, np.array([[1, 2], [2, 3], [1, 3], [0, 1]]), smoothing=0.0)
    np.testing.assert_allclose(q, [[0, 1], [0.5, 0.5], [0.5, 0.5], [0.5, 0.5]])


def test_knn_combined_with_pred_probs():
    x, y = _clusters()
    noisy = y.copy()
    noisy[25] = 2
    pp = np.full((len(y), 3), 1 / 3)  # uninformative model: the kNN half decides
    pp[:, 0] += 1e-3 * np.arange(len(y)) / len(y)
    pp /= pp.sum(axis=1, keepdims=True)
    res = di.knn_label_quality(x, noisy, 10, pred_probs=pp, knn_weight=0.5)
    np.testing.assert_allclose(res.pred_probs, 0.5 * pp + 0.5 * res.knn_pred_probs)
    assert res.knn_weight == 0.5
    assert np.argmin(res.label_quality_scores) == 25
    # flags and scores are the library's defaults on the combined probabilities
    np.testing.assert_array_equal(res.is_label_issue, find_label_issues(noisy, res.pred_probs))
    np.testing.assert_array_equal(res.label_quality_scores,
                                  label_quality_scores(noisy, res.pred_probs))
    pbnr = di.knn_label_quality(x, noisy, 10, pred_probs=pp, knn_weight=0.5,
                                filter_by="prune_by_noise_rate")
    assert np.flatnonzero(pbnr.is_label_issue).tolist() == [25]
    # weight 0 = pred_probs alone
    alone = di.knn_label_quality(x, noisy, 10, pred_probs=pp, knn_weight=0.0)
    np.testing.assert_allclose(alone.pred_probs, pp)


@pytest.mark.filterwarnings("ignore:pred_probs. every row is the same")
def test_knn_weight_maximises_the_likelihood_of_the_given_labels():
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 3, 400)
    pp = rng.dirichlet(np.ones(3), 400)
    q = rng.dirichlet(np.ones(3), 400)
    q[np.arange(200), labels[:200]] += 1.0  # the kNN votes explain half the labels
    q /= q.sum(axis=1, keepdims=True)
    w = di.knn_weight_ml(labels, pp, q)
    grid = np.linspace(0, 1, 2001)
    ll = [np.log((1 - g) * pp[np.arange(400), labels] + g * q[np.arange(400), labels]).sum()
          for g in grid]
    assert 0 < w < 1
    assert w == pytest.approx(grid[int(np.argmax(ll))], abs=1e-3)
    assert di.knn_weight_ml(labels, pp, pp) in (0.0, 1.0)  # flat likelihood: an end point
    assert di.knn_weight_ml(labels, q, pp) < w  # the roles swapped
    # end points: a component that is better on every example wins alone
    onehot = np.eye(3)[labels] * 0.98 + 0.02 / 3
    assert di.knn_weight_ml(labels, pp, onehot) == 1.0
    assert di.knn_weight_ml(labels, onehot, pp) == 0.0
    x, y = _clusters()
    res = di.knn_label_quality(x, y, 10, pred_probs=np.full((len(y), 3), 1 / 3) + 0.0)
    assert res.knn_weight == 1.0  # the clusters explain every label, the flat model none


def test_shared_neighbours_give_the_same_results():
    x, y = _clusters()
    nbrs = di.nearest_neighbors(x, 10)
    np.testing.assert_array_equal(di.outlier_scores(x), di.outlier_scores(neighbors=nbrs))
    a = di.knn_label_quality(x, y, 10)
    b = di.knn_label_quality(None, y, 10, neighbors=nbrs)
    np.testing.assert_array_equal(a.label_quality_scores, b.label_quality_scores)
    assert di.find_near_duplicates(x).pairs.equals(di.find_near_duplicates(x, neighbors=nbrs).pairs)


def test_neighbours_by_fold_search_each_space_separately():
    """Two folds whose models embed the examples in rotated spaces: searched per fold, the
    neighbours equal those of one space; searching the held-out rows together would mix
    unrelated spaces and miss a duplicate split across the folds."""
    x, _ = _clusters()
    x[100] = x[5]  # a duplicate pair, split across the folds below
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(10, 10)))
    held = [np.arange(0, 180, 2), np.arange(1, 180, 2)]
    folds = [(held[0], x), (held[1], x @ q)]  # cosine distances are rotation invariant
    dist, ind = di.nearest_neighbors_by_fold(folds, 5)
    ref_dist, ref_ind = di.nearest_neighbors(x, 5)
    np.testing.assert_allclose(dist, ref_dist, atol=1e-9)
    assert (ind == ref_ind).mean() > 0.99  # up to the order of near ties
    assert ind[5, 0] == 100 and ind[100, 0] == 5
    mixed = np.empty_like(x)
    mixed[held[0]], mixed[held[1]] = x[held[0]], (x @ q)[held[1]]
    assert di.nearest_neighbors(mixed, 5)[1][5, 0] != 100
    with pytest.raises(ValueError, match="partition"):
        di.nearest_neighbors_by_fold([(held[0], x), (held[0], x)], 5)
    with pytest.raises(ValueError, match="180 were expected"):
        di.nearest_neighbors_by_fold([(held[0], x), (held[1], x[:-1])], 5)


# ------------------------------------------------------------------ every check at once
def test_find_data_issues_runs_every_check_on_one_search():
    import json

    x, y = _clusters()
    x[7] = -x[7]  # far from every cluster
    x[70] = x[71]  # a duplicate pair
    pp = np.full((180, 3), 0.1) + 0.7 * np.eye(3)[y]
    res = di.find_data_issues(y, pp, features=x, inputs=x, class_names=["a", "b", "c"],
                              features_source="test features", inputs_source="rows")
    assert res.not_run == {} and all(res.ran(c) for c in di.DATA_ISSUE_CHECKS)
    nbrs = di.nearest_neighbors(x, 10)  # the same results as the single-purpose functions
    np.testing.assert_array_equal(res.outlier_scores, di.outlier_scores(neighbors=nbrs))
    assert np.flatnonzero(res.is_outlier).tolist() == [7]
    assert [s.tolist() for s in res.exact_duplicates.sets] == [[70, 71]]
    assert [70, 71] in [s.tolist() for s in res.near_duplicates.sets]
    np.testing.assert_array_equal(res.knn.label_quality_scores,
                                  di.knn_label_quality(x, y, 10).label_quality_scores)
    assert res.class_health["num_outliers"].tolist() == [1, 0, 0]
    assert res.class_health["num_exact_duplicates"].tolist() == [0, 2, 0]
    frame = res.to_frame(order=np.arange(180)[::-1])
    assert frame.columns[0] == "outlier_score" and frame["is_outlier"].iloc[179 - 7]
    assert frame["exact_duplicate_set"].tolist().count(0) == 2
    summary = json.loads(json.dumps(res.summary(example_ids=np.array([f"e{i}" for i in range(180)]))))
    assert summary["features"] == {"source": "test features", "shape": [180, 10], "k": 10,
                                   "metric": "cosine"}
    assert summary["checks"]["outliers"]["top"][0] == {
        "index": 7, "example_id": "e7", "outlier_score": pytest.approx(res.outlier_scores[7]),
        "is_outlier": True}
    assert summary["checks"]["exact_duplicates"]["compared"] == "rows"


def test_find_data_issues_states_what_did_not_run():
    x, y = _clusters()
    pp = np.full((180, 4), 0.1)  # class 3 of the list has no example
    pp[np.arange(180), y] = 0.7
    res = di.find_data_issues(y, pp, no_features_reason="no features: none given")
    assert set(res.not_run) == {"outliers", "near_duplicates", "knn_label_issues",
                                "combined_label_issues", "exact_duplicates"}
    assert res.not_run["outliers"] == "not run: no features: none given"
    assert res.columns() == {} and res.features_source is None
    # the class checks run over the classes with examples
    assert res.class_health["name"].tolist() == ["0", "1", "2"]
    summary = res.summary()
    assert summary["features"] is None
    assert summary["checks"]["knn_label_issues"] == {"ran": False,
                                                     "reason": "not run: no features: none given"}
    with_features = di.find_data_issues(y, pp, features=x)
    assert with_features.combined.pred_probs.shape == (180, 4)  # back over the K classes
    assert (with_features.combined.pred_probs[:, 3] == 0).all()
    with pytest.raises(ValueError, match=r"features has 179 rows but 180"):
        di.find_data_issues(y, pp, features=x[:-1])


def test_label_features_feed_only_the_neighbour_label_checks():
    """``label_features`` (a second view): the two neighbour-label checks search them, the
    outlier and duplicate checks keep ``features``; without ``features`` only the two label
    checks run."""
    import json

    x, y = _clusters()
    noisy = y.copy()
    noisy[25] = 2  # a cluster-0 point labelled 2
    # a first view in which point 25 lies inside cluster 2: its neighbours there agree with
    # its wrong label, so a vote in that view cannot see the error
    first = x.copy()
    first[25] = x[150] + 0.01
    pp = np.full((180, 3), 0.2) + 0.4 * np.eye(3)[noisy]
    res = di.find_data_issues(noisy, pp, features=first, label_features=x,
                              features_source="first view", label_features_source="second view")
    assert set(res.not_run) == {"exact_duplicates"}  # no inputs given
    np.testing.assert_array_equal(res.outlier_scores,
                                  di.outlier_scores(neighbors=di.nearest_neighbors(first, 10)))
    np.testing.assert_array_equal(res.knn.label_quality_scores,
                                  di.knn_label_quality(x, noisy, 10).label_quality_scores)
    np.testing.assert_array_equal(
        res.combined.label_quality_scores,
        di.knn_label_quality(x, noisy, 10, pred_probs=pp).label_quality_scores)
    assert np.flatnonzero(res.knn.is_label_issue).tolist() == [25]
    first_view = di.find_data_issues(noisy, pp, features=first)
    assert not first_view.knn.is_label_issue[25]  # the first view's vote agrees with label 2
    assert (res.label_features_source, res.label_features_shape) == ("second view", (180, 10))
    assert first_view.label_features_source is None and first_view.label_features_shape is None
    summary = json.loads(json.dumps(res.summary()))
    assert summary["label_features"] == {
        "source": "second view", "shape": [180, 10], "k": 10, "metric": "cosine",
        "checks": ["knn_label_issues", "combined_label_issues"]}
    assert summary["features"]["source"] == "first view"
    assert first_view.summary()["label_features"] is None

    alone = di.find_data_issues(noisy, pp, label_features=x, no_features_reason="none")
    assert set(alone.not_run) == {"outliers", "near_duplicates", "exact_duplicates"}
    assert alone.features_source is None and alone.k == 10
    np.testing.assert_array_equal(alone.knn.label_quality_scores, res.knn.label_quality_scores)
    assert set(alone.columns()) == {"knn_label_quality", "is_knn_label_issue",
                                    "combined_label_quality", "is_combined_label_issue"}
    with pytest.raises(ValueError, match=r"label_features has 179 rows but 180"):
        di.find_data_issues(noisy, pp, label_features=x[:-1])
    bad = x.copy()
    bad[4, 2] = np.inf
    with pytest.raises(ValueError, match=r"label_features must be finite"):
        di.find_data_issues(noisy, pp, features=first, label_features=bad)


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize("call, match", [
    (lambda x: di.nearest_neighbors(np.where(np.arange(40)[:, None] == 3, np.nan, x), 3),
     r"features must be finite; features\[3, 0\]"),
    (lambda x: di.nearest_neighbors(x, 40), "k must be at most 39"),
    (lambda x: di.nearest_neighbors(x, 0), "k must be an integer"),
    (lambda x: di.nearest_neighbors(x, 3, metric="manhattan"), "metric must be one of"),
    (lambda x: di.nearest_neighbors(x, 3, backend="annoy"), "backend must be one of"),
    (lambda x: di.nearest_neighbors(x[:, :, None], 3), "must be 2-D"),
    (lambda x: di.nearest_neighbors(x, 3, features_query=x[:, :5]), "same D"),
    (lambda x: di.find_near_duplicates(x, features_other=np.full((2, 20), np.inf)),
     "features_other must be finite"),
    (lambda x: di.find_near_duplicates(x, -1.0), "threshold must be"),
    (lambda x: di.knn_label_quality(x, np.zeros(39, int)), "labels has 39 entries"),
    (lambda x: di.knn_label_quality(x, np.zeros(40, int), knn_weight=1.5), "knn_weight"),
    (lambda x: di.knn_label_quality(x, np.zeros(40, int), knn_weight="mean"), "knn_weight"),
    (lambda x: di.knn_label_quality(x, np.zeros(40, int), pred_probs=np.full((30, 2), 0.5)),
     "pred_probs has 30 rows"),
    (lambda x: di.outlier_scores(), "needs features"),
    (lambda x: di.outlier_scores(x, neighbors=(np.zeros((40, 2)), np.zeros((40, 2), int)), k=5),
     "neighbors must be"),
    (lambda x: di.find_exact_duplicates(np.empty((0, 3))), "non-empty"),
    (lambda x: di.find_near_duplicates(x, images=np.zeros((39, 8, 8))), "images has 39 images"),
    (lambda x: di.find_near_duplicates(x, images_other=np.zeros((40, 8, 8))),
     "images_other needs features_other"),
    (lambda x: di.find_near_duplicates(x, features_other=x[:3], images=np.zeros((40, 8, 8))),
     "give both images and images_other"),
    (lambda x: di.find_near_duplicates(x, images=np.zeros((40, 8, 8)), pixel_threshold=-1),
     "pixel_threshold"),
    (lambda x: di.aligned_pixel_distance(np.full((2, 8, 8), np.nan), [0], [1]),
     r"images\[0\] contains NaN"),
    (lambda x: di.aligned_pixel_distance(np.zeros((2, 8)), [0], [1]), "shape"),
    (lambda x: di.aligned_pixel_distance(np.zeros((2, 8, 8)), [0], [2]), "rows up to 2"),
    (lambda x: di.aligned_pixel_distance(np.zeros((2, 8, 8)), [0, 1], [1]), "same length"),
    (lambda x: di.aligned_pixel_distance(np.zeros((2, 8, 8)), [0.5], [1]), "integer"),
    (lambda x: di.aligned_pixel_distance(np.zeros((2, 8, 8)), [0], [1], resolution=2),
     "resolution"),
    (lambda x: di.aligned_pixel_distance(np.zeros((2, 8, 8)), [0], [0],
                                         images_other=np.zeros((1, 8, 8, 3))), "channels"),
    (lambda x: di.overlapping_classes([0, 1], [[0.9, 0.1], [0.2, 0.8]], class_names=["a"]),
     "class_names has 1"),
])
def test_validation_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call(_blob(40))


def test_outlier_groups_benchmark_scores_a_planted_group():
    """benchmarks/outlier_groups.py's evaluation on a constructed injection: a group of
    identical far-away rows is missed by the kNN score and ranked first by the Mahalanobis
    distance; the render holds both rows."""
    from _bench import load_benchmark

    bench = load_benchmark("outlier_groups")
    rng = np.random.default_rng(4)
    bulk = rng.normal(size=(600, 8))
    groups = [np.tile(c, (10, 1)) for c in (np.full(8, 4.0), np.full(8, -4.0),
                                            np.r_[np.full(4, 5.0), np.zeros(4)])]
    feats = np.concatenate([bulk, *groups])
    kind = np.array([""] * 600 + [k for k in bench.bench.KINDS_OUT for _ in range(10)],
                    dtype=object)
    knn, maha = bench.evaluate({"kind": kind}, feats)
    for k in bench.bench.KINDS_OUT:
        assert knn[f"auroc_{k}"] < 0.1 and maha[f"auroc_{k}"] > 0.99
    md = bench.render({"toy": [knn, maha]}, "cmd")
    assert "| toy | kNN (k = 10, cosine) |" in md and "| toy | Mahalanobis (Ledoit-Wolf) |" in md


def test_data_issues_benchmark_judged_precision(tmp_path):
    """benchmarks/data_issues.py's precision with judged natural pairs, on a constructed
    injection: 4 originals, a copy of row 0 (row 4) and an outlier (row 5, left out). Flagged:
    the copy and its source (right), rows 1 and 2 (closest partners of each other, a pair
    judged S) and row 3 (its one partner, row 1, judged D): precision 2/5 plain, 4/5 judged;
    an unjudged pair is listed and counts as wrong; the verdict file round-trips."""
    import json

    from _bench import load_benchmark

    bench = load_benchmark("data_issues")
    inj = {"kind": np.array(["", "", "", "", "exact", "constant"], dtype=object),
           "source": np.array([-1, -1, -1, -1, 0, -1])}
    partners = {0: {4}, 4: {0}, 1: {2, 3}, 2: {1}, 3: {1}, 5: {1}}
    feats = np.array([[1, 0], [0, 1], [0.1, 1], [1, 1], [1, 0], [0, 1]], dtype=float)
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps({"about": "toy", "judged": "2026-01-01",
                                "pairs": [[2, 1, "S"], [1, 3, "D"]]}))
    verdicts = bench.load_verdicts(path)
    assert verdicts == {(1, 2): "S", (1, 3): "D"} and bench.judged_date(path) == "2026-01-01"
    assert bench.closest_partner(1, {2, 3}, feats) == 2
    res = bench.dup_eval(inj, lambda i: partners.get(i, set()), feats, verdicts)
    assert res["num_flagged"] == 5 and res["num_flagged_other"] == 3
    assert res["precision"] == pytest.approx(2 / 5)
    # rows 1 and 2 are a judged S pair, row 3's pair with 1 is D
    assert res["verdict_counts"] == {"S": 2, "M": 0, "D": 1} and res["unverified"] == []
    assert res["precision_same"] == pytest.approx(4 / 5)
    res = bench.dup_eval(inj, lambda i: partners.get(i, set()), feats, {(1, 2): "M"})
    assert res["precision_same"] == pytest.approx(2 / 5)
    assert res["precision_similar"] == pytest.approx(4 / 5) and res["unverified"] == [(1, 3)]
    assert "precision_same" not in bench.dup_eval(inj, lambda i: partners.get(i, set()))
    pages = bench.pages_of_pairs(tmp_path / "pages", np.zeros((6, 32, 32, 3), np.uint8), [(1, 3)])
    assert len(pages) == 1 and pages[0].is_file()


def test_outlier_groups_variants_agree_with_direct_computations():
    """The benchmark's Gaussian variants: the first is the library's score; the
    class-conditional one is the distance to the given class's mean under the Ledoit-Wolf
    precision of the rows centred on their class means (Lee et al. 2018, Eq. 2), checked
    against a direct computation; the render holds the variants' table."""
    from _bench import load_benchmark
    from sklearn.covariance import LedoitWolf

    from labelnoise import data_issues as di

    bench = load_benchmark("outlier_groups")
    rng = np.random.default_rng(5)
    labels = np.repeat(np.arange(3), 40)
    feats = rng.normal(size=(120, 4)) + 3.0 * labels[:, None]
    scores = bench.variant_scores(feats, labels)
    assert list(scores) == list(bench.VARIANTS)
    np.testing.assert_allclose(scores[bench.VARIANTS[0]], di.mahalanobis_outlier_scores(feats))
    means = np.stack([feats[labels == c].mean(0) for c in range(3)])
    prec = LedoitWolf(assume_centered=True).fit(feats - means[labels]).precision_
    d = feats - means[labels]
    np.testing.assert_allclose(scores[bench.VARIANTS[2]],
                               np.sqrt(np.einsum("ij,jk,ik->i", d, prec, d)), rtol=1e-10)
    assert np.all(scores[bench.VARIANTS[3]] <= scores[bench.VARIANTS[2]] + 1e-12)
    kind = np.array([""] * 110 + ["uniform_noise"] * 4 + ["constant"] * 3 + ["digits"] * 3,
                    dtype=object)
    rows = bench.evaluate_variants({"kind": kind, "labels": labels}, feats)
    assert [r["score"] for r in rows] == list(bench.VARIANTS)
    md = bench.render({"toy": []}, "cmd", {"toy": rows})
    assert md.count("| toy | ") == 4 and "Variants of the Gaussian" in md


def test_find_data_issues_ranks_by_the_gaussian_distance_per_feature_space():
    """find_data_issues adds the Mahalanobis ranking of mahalanobis_outlier_scores (one
    Gaussian per feature space when ``feature_spaces`` is given), which finds a planted group
    of identical far rows that the neighbour score cannot; a column and a summary entry,
    no flags; bad ``feature_spaces`` are refused in one line."""
    rng = np.random.default_rng(8)
    x = rng.normal(size=(300, 6))
    x[:12] = 6.0  # a group of 12 identical rows far from the bulk
    y = np.repeat(np.arange(3), 100)
    pp = np.full((300, 3), 0.2)
    pp[np.arange(300), y] = 0.6
    res = di.find_data_issues(y, pp, features=x)
    np.testing.assert_allclose(res.gaussian_outlier_scores, di.mahalanobis_outlier_scores(x))
    assert set(np.argsort(-res.gaussian_outlier_scores)[:12]) == set(range(12))
    assert not res.is_outlier[:12].any()  # each one's neighbours are its own group
    cols = res.columns()
    assert list(cols)[:3] == ["outlier_score", "is_outlier", "outlier_score_gaussian"]
    top = res.summary(top=3)["checks"]["outliers"]["gaussian"]["top"]
    assert [t["index"] for t in top] == [0, 1, 2]  # ties (identical rows) in index order
    # two feature spaces: each fitted on its own rows
    spaces = np.repeat([0, 1], 150)
    res2 = di.find_data_issues(y, pp, features=x, feature_spaces=spaces)
    for s in (0, 1):
        rows = spaces == s
        np.testing.assert_allclose(res2.gaussian_outlier_scores[rows],
                                   di.mahalanobis_outlier_scores(x[rows]))
    with pytest.raises(ValueError, match="feature_spaces must be 300 integers"):
        di.find_data_issues(y, pp, features=x, feature_spaces=np.zeros(299, dtype=int))
    with pytest.raises(ValueError, match="feature_spaces must be 300 integers"):
        di.find_data_issues(y, pp, features=x, feature_spaces=np.zeros(300))
