"""Data issues beyond wrong labels: outliers, duplicates, overlapping classes, class health,
and label issues found from features by nearest neighbours.

Every check is a plain function over arrays, like :func:`labelnoise.find_label_issues`:

* :func:`nearest_neighbors`: the k nearest neighbours of every example (scikit-learn's exact
  brute-force search, or an approximate HNSW graph from ``faiss-cpu`` or ``hnswlib`` for
  large N); :func:`nearest_neighbors_by_fold`: each example's neighbours in the feature
  space of the cross-validation model that did not see it;
* :func:`find_data_issues`: every check below at once on one neighbour search (the
  audit's data-issue checks), a :class:`DataIssues`;
* :func:`outlier_scores` / :func:`find_outliers`: the mean distance to the k nearest
  neighbours in feature space (or, without features, the entropy of ``pred_probs``), and a
  threshold fitted on the data;
* :func:`find_near_duplicates` (within one set, or across two splits: train/test leakage;
  with the images, every candidate pair decided by :func:`aligned_pixel_distance`, which
  undoes small shifts and mirroring) and :func:`find_exact_duplicates` (content hash of
  the raw inputs);
* :func:`overlapping_classes`: class pairs ranked by how much of each class is confused with
  the other, from the calibrated confident joint (:mod:`labelnoise.count`);
* :func:`class_imbalance` and :func:`class_health_summary`: per class size, estimated
  noise rate, issue counts;
* :func:`knn_label_quality`: label issues from the labels of each example's nearest
  neighbours (Zhu, Dong and Liu 2022, "Detecting Corrupted Labels Without Training a Model
  to Predict", ICML: the local vote of SimiFeat), alone or combined with ``pred_probs``.

Conventions. ``features`` are float arrays (N, D) (embeddings the user gives, or a network's
penultimate layer, out of sample); NaN/inf are refused. Distances are cosine distances
``1 - cos(a, b)`` in [0, 2] by default (``metric="cosine"``, the usual choice for
embeddings, and cleanlab's for D > 3), or Euclidean distances (``metric="euclidean"``).
Rows of zero norm have no direction: under the cosine metric they are given distance 1
(cosine similarity 0) to every other row, with a :class:`DataIssuesWarning`. An example is
never its own neighbour. No input is modified.

Nearest-neighbour backends (``backend=``):

* ``"exact"``: :class:`sklearn.neighbors.NearestNeighbors` with ``algorithm="brute"``
  (chunked BLAS distances; deterministic);
* ``"faiss-exact"``: brute-force search by faiss-cpu's ``IndexFlatL2`` (BLAS distances and
  a heap per query, in float32: the same neighbours as ``"exact"`` up to ties within float32
  rounding), the distances to the neighbours found then recomputed in float64 (so an exact
  copy is at distance 0, as with ``"exact"``); measured 2.5x faster than ``"exact"`` at
  60,000 x 128 on 2 cores (13.5 s against 33.4 s, ``benchmarks/data_issues.py``);
* ``"faiss-ivf"``: faiss-cpu's inverted file (``IndexIVFFlat``; Jegou, Douze and Schmid
  2011, "Product quantization for nearest neighbor search", IEEE TPAMI, section IV): the
  rows are split into ``IVF_CELLS_PER_SQRT_N x sqrt(N)`` k-means cells (10 iterations on
  at most 32 sampled rows per cell, seeded) and each query is compared exactly with every
  row of its ``nprobe`` nearest cells;
* ``"faiss"`` / ``"hnswlib"``: an approximate HNSW graph (Malkov and Yashunin 2020,
  "Efficient and robust approximate nearest neighbor search using Hierarchical Navigable
  Small World graphs", IEEE TPAMI; M = ``HNSW_M`` = 16 (``m=``), construction breadth
  200) from ``faiss-cpu`` (``IndexHNSWFlat``) or ``hnswlib``. With faiss, the neighbours
  of an indexed example are searched in the graph's bottom layer from the example's own
  node rather than from the top entry point, whose greedy descent can end far from the
  query on hard data (clustered features in many dimensions), missing even the row
  itself. With several threads a graph, hence a few neighbours, may differ between runs;
  ``n_jobs=1`` makes it repeatable.

  The approximate indexes' search breadth (``nprobe=`` / ``ef=``) is chosen per call unless
  given, by one rule: the smallest of a doubling series (IVF: from ``IVF_NPROBE_MIN`` = 8
  to every cell, which is exact search; HNSW: from ``max(64, 2k)`` to ``HNSW_EF_MAX`` =
  1024) whose recall@k against exact search on ``ANN_RECALL_SAMPLE`` = 512 sampled query
  rows is at least ``ANN_RECALL`` = 0.99 (the index is built once; the sample's exact
  search costs 512 x N x D). The optional packages are imported only when chosen
  (``pip install "labelnoise[ann]"``). Measured (``benchmarks/data_issues_scale.py``,
  synthetic clustered features in 256 dimensions, 2 cores): at 200,000 rows the inverted
  file reached recall 0.997 in 26 s, faiss's HNSW graph (M 16) the same recall in 88 s
  (M 32: 83 s);
* ``"auto"`` (default): exact search when ``N * N_query <= AUTO_EXACT_PAIRS`` (25,000^2),
  by faiss-exact when faiss-cpu is installed, else by scikit-learn; above it the inverted
  file, else hnswlib when installed, else exact with a warning that says how to install
  faiss-cpu. Rule: exact search wherever the index cannot save much (a few seconds at
  most: the audit's per-fold searches of CIFAR-10, 10,000 queries x 50,000 rows, stay
  exact), the inverted file wherever it is faster at the target recall. Selected on the
  synthetic features (``benchmarks/data_issues_scale.py``, 50,000 x 256: neighbour search
  11.1 s exact against 3.7 s, recall 0.999), confirmed on 60,000 x 128 CIFAR-10
  features (``benchmarks/data_issues.py``: 7.6 s against 13.5 s, recall 0.992) and at
  1,000,000 x 256 (``benchmarks/data_issues_scale.py``: recall 0.999 in 474 s).

Outliers found on an approximate search are made exact (:func:`refine_outlier_scores`):
its k distances can only be too large, so only the rows above the threshold are searched
again exactly.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from labelnoise._validation import (
    check_int,
    check_real,
    validate_choice,
    validate_labels,
    validate_labels_and_pred_probs,
    validate_seed,
)

METRICS = ("cosine", "euclidean")
BACKENDS = ("auto", "exact", "faiss-exact", "faiss", "faiss-ivf", "hnswlib")
#: ``backend="auto"`` searches exactly when (examples indexed) x (queries) is at most this
#: many pairs (25,000^2; the rule and the measurements behind it: module docstring).
AUTO_EXACT_PAIRS = 25_000 * 25_000
#: Default degree of the HNSW graph (``M``) of the ``"faiss"`` and ``"hnswlib"`` backends.
HNSW_M = 16
#: Target recall@k of an approximate search: by default its breadth (HNSW ``ef``, IVF
#: ``nprobe``) is the smallest of a doubling series that reaches it on ANN_RECALL_SAMPLE rows.
ANN_RECALL = 0.99
#: Query rows on which an approximate search's recall is measured against exact search.
ANN_RECALL_SAMPLE = 512
#: The largest HNSW search breadth ``ef`` the default rule tries.
HNSW_EF_MAX = 1024
#: ``backend="faiss-ivf"``: k-means cells = this x sqrt(N) (faiss's guideline: 4 to 16).
IVF_CELLS_PER_SQRT_N = 4
#: ``backend="faiss-ivf"``: the fewest cells searched per query by the recall rule.
IVF_NPROBE_MIN = 8
#: Default outlier cut-off: a robust z-score of the log mean-kNN distance above this value.
OUTLIER_Z = 3.5
#: Default near-duplicate radius as a fraction of the median nearest-neighbour distance.
NEAR_DUPLICATE_FRACTION = 0.1
#: 1 / Phi^{-1}(3/4): the median absolute deviation times this estimates a Gaussian sigma.
_MAD_TO_SIGMA = 1.482602218505602


class DataIssuesWarning(UserWarning):
    """A check ran on degenerate input (zero-norm feature rows, too few examples, a missing
    optional package) and says how its result is affected."""


# ---------------------------------------------------------------------------------------
# validation


def validate_features(features, *, name: str = "features", num_rows: int | None = None,
                      num_columns: int | None = None, min_rows: int = 2) -> np.ndarray:
    """Check a feature matrix and return it as a C-contiguous float32 or float64 array.

    Args:
        features: array-like (N, D) of real numbers (a 1-D array is read as D = 1).
        name: the argument's name, used in error messages.
        num_rows: N; when given, the number of rows must equal it.
        num_columns: D; when given, the number of columns must equal it.
        min_rows: the fewest rows accepted.

    Returns:
        float32 (when given float32) or float64 ndarray (N, D); the input itself when it
        already is one of these and contiguous (it is never written to).

    Raises:
        ValueError: not 1-D/2-D, too few rows, a row-count or column-count mismatch,
            a non-numeric dtype, or NaN/inf (the message names the first bad entry).
    """
    arr = np.asarray(features)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D of shape (N, D), got shape {arr.shape}")
    if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.floating)
                                     or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.shape[0] < min_rows:
        raise ValueError(f"{name} must have at least {min_rows} rows, got shape {arr.shape}")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} has no columns, got shape {arr.shape}")
    if num_rows is not None and arr.shape[0] != num_rows:
        raise ValueError(f"{name} has {arr.shape[0]} rows but {num_rows} were expected (N must match)")
    if num_columns is not None and arr.shape[1] != num_columns:
        raise ValueError(f"{name} has {arr.shape[1]} columns but {num_columns} were expected "
                         "(both feature arrays must have the same D)")
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        r, c = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"{name} must be finite; {name}[{r}, {c}] = {float(arr[r, c])!r}")
    return np.ascontiguousarray(arr)


def _check_threshold(threshold) -> None:
    """A given cut-off (None = fit one) must be a finite real number."""
    if threshold is not None:
        check_real(threshold, "threshold")


def _check_positive(value, name: str) -> float:
    return check_real(value, name, low=0, strict=True)


def _unit_rows(x: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Rows scaled to unit L2 norm (a new array) and the bool mask of zero-norm rows."""
    norms = np.linalg.norm(x, axis=1)
    zero = norms == 0
    if zero.any():
        warnings.warn(
            f"{name}: {int(zero.sum())} row(s) have zero norm (first: {int(np.flatnonzero(zero)[0])}); "
            "under the cosine metric they are given distance 1 to every other row",
            DataIssuesWarning, stacklevel=4)
    return x / np.where(zero, 1.0, norms)[:, None], zero


# ---------------------------------------------------------------------------------------
# nearest neighbours


def _hnswlib():
    try:
        import hnswlib
    except ImportError as exc:
        raise ImportError(
            "backend='hnswlib' needs the optional package hnswlib: "
            "pip install \"labelnoise[ann]\" (or pip install hnswlib)") from exc
    return hnswlib


def _faiss():
    try:
        import faiss
    except ImportError as exc:
        raise ImportError(
            "backend='faiss', 'faiss-ivf' or 'faiss-exact' needs the optional package faiss-cpu: "
            "pip install \"labelnoise[ann]\" (or pip install faiss-cpu)") from exc
    return faiss


def _available(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _hnswlib_available() -> bool:
    return _available("hnswlib")


def _resolve_backend(backend: str, n_index: int, n_query: int) -> str:
    validate_choice(backend, BACKENDS, "backend")
    if backend != "auto":
        return backend
    if n_index * n_query <= AUTO_EXACT_PAIRS:
        return "faiss-exact" if _available("faiss") else "exact"
    if _available("faiss"):
        return "faiss-ivf"
    if _hnswlib_available():
        return "hnswlib"
    warnings.warn(
        f"{n_query:,} x {n_index:,} nearest-neighbour search is exact and may be slow; "
        "pip install \"labelnoise[ann]\" (faiss-cpu) for the approximate index",
        DataIssuesWarning, stacklevel=4)
    return "exact"


def _drop_self(dist: np.ndarray, ind: np.ndarray, k: int,
               rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Remove each row's own index (``rows``, default 0..n-1: the query rows are the
    indexed ones) from a search of k + 1 neighbours (or the farthest neighbour when the
    search missed the row itself)."""
    n, k_search = ind.shape
    is_self = ind == (np.arange(n) if rows is None else np.asarray(rows))[:, None]
    drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), k_search - 1)
    keep = np.ones_like(is_self)
    keep[np.arange(n), drop] = False
    return dist[keep].reshape(n, k_search - 1)[:, :k], ind[keep].reshape(n, k_search - 1)[:, :k]


def _exact_kth_sq(index: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    """The exact k-th smallest squared Euclidean distance (float32 arithmetic) from each row
    of ``query`` to the rows of ``index`` (a row of both counts, at distance 0)."""
    q = np.ascontiguousarray(query, dtype=np.float32)
    qn = np.einsum("ij,ij->i", q, q)
    best = np.full((q.shape[0], k), np.inf, dtype=np.float32)
    for a in range(0, index.shape[0], 65536):
        xc = np.ascontiguousarray(index[a:a + 65536], dtype=np.float32)
        d2 = qn[:, None] - 2.0 * (q @ xc.T) + np.einsum("ij,ij->i", xc, xc)[None, :]
        best = np.partition(np.concatenate([best, d2], axis=1), k - 1, axis=1)[:, :k]
    return best.max(axis=1)


def _choose_breadth(search, index: np.ndarray, queries: np.ndarray, k_search: int,
                    given: int | None, seed: int, low: int, high: int,
                    name: str) -> tuple[int, float]:
    """The search breadth of an approximate index (HNSW ``ef``, IVF ``nprobe``): ``given``
    when given, else the smallest of ``low``, doubled up to ``high``, whose recall@k on
    :data:`ANN_RECALL_SAMPLE` sampled query rows (against exact search) is at least
    :data:`ANN_RECALL`. ``search(breadth, rows)`` returns the index's squared distances
    (len(rows), k_search), inf where it found fewer than k_search. Returns ``(breadth,
    estimated recall)`` (recall NaN when ``given``)."""
    if given is not None:
        return given, float("nan")
    rows = np.random.default_rng(seed).choice(
        queries.shape[0], min(queries.shape[0], ANN_RECALL_SAMPLE), replace=False)
    kth = _exact_kth_sq(index, queries[rows], k_search)
    tol = kth * 1e-5 + 1e-6  # float32 rounding of the two computations
    breadth, recall = min(low, high), 0.0
    while True:
        sq = np.asarray(search(breadth, rows), dtype=np.float64)
        recall = float(np.mean(sq <= (kth + tol)[:, None]))
        if recall >= ANN_RECALL or breadth >= high:
            break
        breadth = min(2 * breadth, high)
    if recall < ANN_RECALL:
        warnings.warn(
            f"the approximate index's recall@{k_search} is about {recall:.3f} at its largest "
            f"search breadth {name} = {breadth} (estimated on {rows.size} rows against exact "
            "search): pass a larger m= (graph degree) or backend='faiss-exact'",
            DataIssuesWarning, stacklevel=4)
    return breadth, recall


def _choose_ef(search, index, queries, k_search: int, ef: int | None, seed: int):
    """HNSW: ``ef`` when given (at least k_search), else the recall rule from
    ``max(64, 2k)`` up to :data:`HNSW_EF_MAX`."""
    return _choose_breadth(search, index, queries, k_search,
                           None if ef is None else max(ef, k_search), seed,
                           max(64, 2 * k_search), HNSW_EF_MAX, "ef")


def _search_faiss_ivf(index: np.ndarray, query: np.ndarray | None, k: int, n_jobs: int | None,
                      nprobe: int | None, seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict]:
    """k nearest neighbours by faiss-cpu's inverted file (``IndexIVFFlat``): k-means cells,
    each query compared with every row of its ``nprobe`` nearest cells."""
    faiss = _faiss()
    n, d = index.shape
    if n_jobs is not None and n_jobs > 0:
        faiss.omp_set_num_threads(int(n_jobs))
    xb = np.ascontiguousarray(index, dtype=np.float32)
    nlist = int(max(1, min(round(IVF_CELLS_PER_SQRT_N * math.sqrt(n)), n // 39)))
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatL2(d), d, nlist)
    ivf.cp.niter = 10
    ivf.cp.seed = int(seed)
    ivf.cp.max_points_per_centroid = 32  # k-means on at most 32 x nlist sampled rows
    ivf.cp.verbose = False
    ivf.train(xb)
    ivf.add(xb)
    self_query = query is None
    k_search = min(n, k + 1) if self_query else min(n, k)
    queries = xb if self_query else np.ascontiguousarray(query, dtype=np.float32)

    def search(p, rows=None):
        ivf.nprobe = int(p)
        sq, ind = ivf.search(queries if rows is None else np.ascontiguousarray(queries[rows]),
                             k_search)
        return np.where(ind < 0, np.inf, sq), ind

    nprobe, recall = _choose_breadth(lambda p, r: search(p, r)[0], index, queries, k_search,
                                     nprobe, seed, IVF_NPROBE_MIN, nlist, "nprobe")
    sq, ind = search(nprobe)
    while (ind < 0).any() and nprobe < nlist:  # cells too small for k: widen
        nprobe = min(2 * nprobe, nlist)
        sq, ind = search(nprobe)
    ind = ind.astype(np.int64)
    dist = np.sqrt(np.clip(sq.astype(np.float64), 0.0, None))
    dist, ind = _drop_self(dist, ind, k) if self_query else (dist, ind)
    return dist, ind, {"ef": None, "nprobe": nprobe, "estimated_recall": recall}


def _search_faiss(index: np.ndarray, query: np.ndarray | None, k: int, n_jobs: int | None,
                  ef: int | None, m: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict]:
    faiss = _faiss()
    n, d = index.shape
    if n_jobs is not None and n_jobs > 0:
        faiss.omp_set_num_threads(int(n_jobs))
    graph = faiss.IndexHNSWFlat(d, m)
    graph.hnsw.efConstruction = max(200, 2 * k)
    graph.add(np.ascontiguousarray(index, dtype=np.float32))
    self_query = query is None
    k_search = min(n, k + 1) if self_query else min(n, k)
    queries = np.ascontiguousarray(index if self_query else query, dtype=np.float32)

    def search(ef_try, rows=None):
        graph.hnsw.efSearch = int(ef_try)
        q = queries if rows is None else np.ascontiguousarray(queries[rows])
        if not self_query:
            return graph.search(q, k_search)
        # every query is a node of the graph: search its bottom layer from that node
        # itself (no descent from the top entry point, whose greedy path can end far from
        # the query on hard data and then miss even the row itself)
        start = (np.arange(n) if rows is None else np.asarray(rows)).astype(np.int32)[:, None]
        start_d = np.zeros(start.shape, dtype=np.float32)
        sq = np.empty((q.shape[0], k_search), dtype=np.float32)
        ind = np.empty((q.shape[0], k_search), dtype=np.int64)
        graph.search_level_0(q.shape[0], faiss.swig_ptr(q), k_search, faiss.swig_ptr(start),
                             faiss.swig_ptr(start_d), faiss.swig_ptr(sq), faiss.swig_ptr(ind), 1, 1)
        return sq, ind

    ef, recall = _choose_ef(lambda e, r: search(e, r)[0], index, queries, k_search, ef, seed)
    sq, ind = search(ef)
    ind = ind.astype(np.int64)
    dist = np.sqrt(np.clip(sq.astype(np.float64), 0.0, None))
    if (ind < 0).any():  # fewer than k_search results: should not happen with efSearch >= k
        raise RuntimeError("faiss returned fewer neighbours than asked; raise ef")
    dist, ind = _drop_self(dist, ind, k) if self_query else (dist, ind)
    return dist, ind, {"ef": ef, "nprobe": None, "estimated_recall": recall}


def _search_faiss_exact(index: np.ndarray, query: np.ndarray | None, k: int,
                        n_jobs: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force k nearest neighbours by faiss's ``IndexFlatL2`` (float32)."""
    faiss = _faiss()
    n, d = index.shape
    if n_jobs is not None and n_jobs > 0:
        faiss.omp_set_num_threads(int(n_jobs))
    flat = faiss.IndexFlatL2(d)
    flat.add(np.ascontiguousarray(index, dtype=np.float32))
    self_query = query is None
    k_search = min(n, k + 1) if self_query else min(n, k)
    sq, ind = flat.search(np.ascontiguousarray(index if self_query else query,
                                               dtype=np.float32), k_search)
    ind = ind.astype(np.int64)
    dist = np.sqrt(np.clip(sq.astype(np.float64), 0.0, None))
    if self_query:
        dist, ind = _drop_self(dist, ind, k)
    # the distances to the neighbours found, again in float64 (an exact copy at distance
    # 0, as scikit-learn gives it), each row re-sorted by them
    rows = index if self_query else query
    step = max(1, (1 << 22) // max(1, k * d))
    for a in range(0, rows.shape[0], step):
        b = min(rows.shape[0], a + step)
        diff = index[ind[a:b]] - rows[a:b, None, :]
        dist[a:b] = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
    order = np.argsort(dist, axis=1, kind="stable")
    return np.take_along_axis(dist, order, axis=1), np.take_along_axis(ind, order, axis=1)


def _search_exact(index: np.ndarray, query: np.ndarray | None, k: int,
                  n_jobs: int | None) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=k, algorithm="brute", metric="euclidean", n_jobs=n_jobs)
    nn.fit(index)
    # query=None: sklearn excludes each indexed point from its own neighbours (by index, so
    # an exact duplicate is still found as a neighbour)
    dist, ind = nn.kneighbors(query, n_neighbors=k)
    return dist.astype(np.float64), ind.astype(np.int64)


def _search_hnswlib(index: np.ndarray, query: np.ndarray | None, k: int, n_jobs: int | None,
                    seed: int, ef: int | None, m: int) -> tuple[np.ndarray, np.ndarray, dict]:
    hnswlib = _hnswlib()
    n, d = index.shape
    threads = -1 if n_jobs is None or n_jobs < 0 else int(n_jobs)
    graph = hnswlib.Index(space="l2", dim=d)
    graph.init_index(max_elements=n, ef_construction=max(200, 2 * k), M=m, random_seed=seed)
    graph.add_items(index.astype(np.float32), np.arange(n), num_threads=threads)
    self_query = query is None
    k_search = min(n, k + 1) if self_query else min(n, k)
    queries = index if self_query else query

    def search(ef_try, rows=None):
        graph.set_ef(int(ef_try))
        ind, sq = graph.knn_query(queries if rows is None else queries[rows], k=k_search,
                                  num_threads=threads)
        return sq, ind

    ef, recall = _choose_ef(lambda e, r: search(e, r)[0], index, queries, k_search, ef, seed)
    sq, ind = search(ef)
    ind = ind.astype(np.int64)
    dist = np.sqrt(np.clip(sq.astype(np.float64), 0.0, None))
    dist, ind = _drop_self(dist, ind, k) if self_query else (dist, ind)
    return dist, ind, {"ef": ef, "nprobe": None, "estimated_recall": recall}


def nearest_neighbors(features, k: int = 10, *, features_query=None, metric: str = "cosine",
                      backend: str = "auto", n_jobs: int | None = None, seed=0,
                      ef: int | None = None, m: int = HNSW_M, nprobe: int | None = None,
                      return_info: bool = False) -> tuple:
    """The k nearest neighbours of each example (or of each query row) among ``features``.

    Args:
        features: float array-like (N, D), the indexed examples.
        k: neighbours per row, 1 <= k <= N - 1 (N without ``features_query``).
        features_query: optional float (M, D); when given, the neighbours of each of its
            rows among ``features`` (no self-exclusion); otherwise each example's
            neighbours among the others.
        metric: ``"cosine"`` (``1 - cos``, in [0, 2]) or ``"euclidean"``.
        backend: ``"auto"``, ``"exact"``, ``"faiss-exact"``, ``"faiss"`` or ``"hnswlib"``
            (see the module docstring).
        n_jobs: worker threads (``None``: scikit-learn's default for exact search, every
            core for hnswlib).
        seed: seed of hnswlib's level draws and of the rows on which the default search
            breadth's recall is measured (ignored by exact search; faiss seeds its graph
            internally).
        ef: HNSW search breadth (larger = higher recall, slower search). Default: chosen
            per call, the smallest of ``max(64, 2k)``, doubled up to :data:`HNSW_EF_MAX`
            (1024), whose recall@k against exact search on :data:`ANN_RECALL_SAMPLE` (512)
            sampled query rows is at least :data:`ANN_RECALL` (0.99); the graph is built
            once, only the search is repeated on the sample (costs in the module docstring).
        m: HNSW graph degree, at least 2 (default :data:`HNSW_M`; larger = higher recall,
            slower build, more memory). ``ef`` and ``m`` only for the ``"faiss"`` and
            ``"hnswlib"`` backends.
        nprobe: cells searched per query by the ``"faiss-ivf"`` backend (larger = higher
            recall, slower; every cell = exact search). Default: the same recall rule,
            from :data:`IVF_NPROBE_MIN` (8) doubled up to every cell.
        return_info: also return a dict ``{"backend", "ef", "nprobe", "estimated_recall"}``
            (the backend used; the search breadth of the approximate index used, the other
            None; the sample's recall@k, NaN when the breadth was given; exact search:
            both None, recall 1.0).

    Returns:
        ``(distances, indices)``: float64 (M or N, k), ascending per row, in units of the
        metric; int64 (M or N, k), row indices into ``features``; and the info dict when
        ``return_info``.

    Raises:
        ValueError: bad features (see :func:`validate_features`), k out of range, unknown
            metric or backend, column counts that differ, ef or nprobe below 1, m below 2.
        ImportError: ``backend="faiss"``, ``"faiss-ivf"``, ``"faiss-exact"`` or
            ``"hnswlib"`` without the package installed.

    Warns:
        DataIssuesWarning: zero-norm rows under the cosine metric; a large exact search
            because neither faiss-cpu nor hnswlib is installed; an HNSW graph whose
            estimated recall stays below :data:`ANN_RECALL` at ``ef`` = :data:`HNSW_EF_MAX`.
    """
    validate_choice(metric, METRICS, "metric")
    x = validate_features(features)
    q = None if features_query is None else validate_features(
        features_query, name="features_query", num_columns=x.shape[1], min_rows=1)
    k = check_int(k, "k", 1)
    ef = None if ef is None else check_int(ef, "ef", 1)
    m = check_int(m, "m", 2)
    nprobe = None if nprobe is None else check_int(nprobe, "nprobe", 1)
    limit = x.shape[0] - (1 if q is None else 0)
    if k > limit:
        raise ValueError(f"k must be at most {limit} (the number of candidate neighbours), got {k}")
    seed = validate_seed(seed)
    seed = 0 if seed is None else seed if isinstance(seed, int) else int(
        np.random.default_rng(seed).integers(2**31))
    chosen = _resolve_backend(backend, x.shape[0], x.shape[0] if q is None else q.shape[0])
    zero_x = zero_q = None
    if metric == "cosine":
        x, zero_x = _unit_rows(x, "features")
        if q is not None:
            q, zero_q = _unit_rows(q, "features_query")
    info = {"ef": None, "nprobe": None, "estimated_recall": 1.0}
    if chosen == "exact":
        dist, ind = _search_exact(x, q, k, n_jobs)
    elif chosen == "faiss-exact":
        dist, ind = _search_faiss_exact(x, q, k, n_jobs)
    elif chosen == "faiss":
        dist, ind, info = _search_faiss(x, q, k, n_jobs, ef, m, seed)
    elif chosen == "faiss-ivf":
        dist, ind, info = _search_faiss_ivf(x, q, k, n_jobs, nprobe, seed)
    else:
        dist, ind, info = _search_hnswlib(x, q, k, n_jobs, seed, ef, m)
    if metric == "cosine":
        dist = np.clip(0.5 * dist**2, 0.0, 2.0)  # ||u - v||^2 / 2 = 1 - cos for unit rows
        zq = zero_x if q is None else zero_q
        if zero_x.any() or zq.any():
            dist[zq] = 1.0  # a zero query row: cosine similarity 0 to everything
            dist[zero_x[ind]] = 1.0  # a zero neighbour likewise
            order = np.argsort(dist, axis=1, kind="stable")
            dist = np.take_along_axis(dist, order, axis=1)
            ind = np.take_along_axis(ind, order, axis=1)
    if return_info:
        return dist, ind, {"backend": chosen, **info}
    return dist, ind


def nearest_neighbors_by_fold(fold_features, k: int = 10, *, metric: str = "cosine",
                              backend: str = "auto", n_jobs: int | None = None,
                              seed=0) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest neighbours of every example, each searched in the feature space of the
    model that did not see it.

    Cross-validation trains one model per fold, and the feature spaces of two models are
    unrelated (a network's penultimate units come in no fixed order), so held-out features
    of different folds cannot be compared. Here each fold's model embeds every example; the
    neighbours of the examples held out of that fold are searched among all N examples in
    that model's space (the query is out of sample; the others, mostly its training
    examples, are not). An example is never its own neighbour.

    Args:
        fold_features: a sequence of ``(held_out, features)``, one per fold: int array-like
            (m_f,) the examples held out of the fold, float (N, D_f) the fold model's
            features of every example (as :func:`labelnoise.crossval.out_of_sample_pred_probs`
            returns with ``return_features=True``). The held-out sets must partition
            [0, N).
        k: neighbours per example, 1 <= k <= N - 1.
        metric, backend, n_jobs, seed: see :func:`nearest_neighbors`.

    Returns:
        ``(distances, indices)`` as :func:`nearest_neighbors`: float64 (N, k) ascending per
        row, int64 (N, k) example indices.

    Raises:
        ValueError: bad features (see :func:`validate_features`; every fold's must have N
            rows), held-out sets that do not partition [0, N), k out of range.
    """
    parts = list(fold_features)
    if not parts:
        raise ValueError("fold_features is empty; give one (held_out, features) per fold")
    n = np.asarray(parts[0][1]).shape[0]
    k = check_int(k, "k", 1)
    if k > n - 1:
        raise ValueError(f"k must be at most {n - 1} (the number of candidate neighbours), got {k}")
    dist = np.empty((n, k), dtype=np.float64)
    ind = np.empty((n, k), dtype=np.int64)
    seen = np.zeros(n, dtype=np.int64)
    for f, (held_out, features) in enumerate(parts):
        rows = np.asarray(held_out)
        if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer) or (
                rows.size and (rows.min() < 0 or rows.max() >= n)):
            raise ValueError(f"fold_features[{f}]: held_out must be 1-D integer indices in [0, {n})")
        x = validate_features(features, name=f"fold_features[{f}] features", num_rows=n)
        if rows.size == 0:
            continue
        seen[rows] += 1
        d, i = nearest_neighbors(x, k + 1, features_query=x[rows], metric=metric,
                                 backend=backend, n_jobs=n_jobs, seed=seed)
        dist[rows], ind[rows] = _drop_self(d, i, k, rows)
    if (seen != 1).any():
        bad = int(np.flatnonzero(seen != 1)[0])
        raise ValueError(f"the held-out sets must partition [0, {n}): example {bad} is held "
                         f"out of {int(seen[bad])} folds")
    return dist, ind


# ---------------------------------------------------------------------------------------
# outliers


def _entropy_scores(pred_probs) -> np.ndarray:
    from labelnoise._validation import validate_pred_probs

    pp = validate_pred_probs(pred_probs)
    out = np.empty(pp.n, dtype=np.float64)
    for a, b in pp.chunks():
        block = pp.rows(a, b)
        with np.errstate(divide="ignore", invalid="ignore"):
            ent = -np.where(block > 0, block * np.log(block), 0.0).sum(axis=1)
        out[a:b] = ent / np.log(pp.k)
    return np.clip(out, 0.0, 1.0)


def _least_confidence_scores(pred_probs) -> np.ndarray:
    from labelnoise._validation import validate_pred_probs

    pp = validate_pred_probs(pred_probs)
    out = np.empty(pp.n, dtype=np.float64)
    for a, b in pp.chunks():
        out[a:b] = 1.0 - pp.rows(a, b).max(axis=1)
    return out


def outlier_scores(features=None, pred_probs=None, *, k: int = 10, metric: str = "cosine",
                   method: str = "entropy", backend: str = "auto", n_jobs: int | None = None,
                   seed=0, neighbors=None) -> np.ndarray:
    """Per-example outlier score: higher = more outlying (not a [0, 1] quality).

    With ``features``: the mean distance to the k nearest other examples (Ramaswamy,
    Rastogi and Shim 2000, "Efficient algorithms for mining outliers from large data
    sets", SIGMOD, use the k-th distance; the mean over the k, as in cleanlab's Datalab, is
    steadier), in units of ``metric``. Without features, from ``pred_probs``:
    ``method="entropy"``, the entropy of the row divided by ``log K`` (in [0, 1]; Hendrycks
    and Gimpel 2017 use the maximum probability, ``method="least_confidence"``, ``1 - max_j
    p_j``). Out-of-distribution inputs tend to get flat predictions, but so do hard in-
    distribution examples: the feature score is the stronger of the two when features exist.

    Args:
        features: float array-like (N, D), or None.
        pred_probs: float (N, K) (used only when ``features`` is None).
        k: neighbours (features only).
        metric: ``"cosine"`` or ``"euclidean"``.
        method: ``"entropy"`` or ``"least_confidence"`` (pred_probs only).
        backend, n_jobs, seed: see :func:`nearest_neighbors`.
        neighbors: optional ``(distances, indices)`` already returned by
            :func:`nearest_neighbors` on the same features (at least k columns), to share
            one search between checks.

    Returns:
        float64 ndarray (N,).

    Raises:
        ValueError: neither input given, or an invalid one.
    """
    if features is None and neighbors is None:
        if pred_probs is None:
            raise ValueError("outlier_scores needs features (N, D) or pred_probs (N, K); got neither")
        validate_choice(method, ("entropy", "least_confidence"), "method")
        return _entropy_scores(pred_probs) if method == "entropy" else _least_confidence_scores(pred_probs)
    k = check_int(k, "k", 1)
    dist, _ = _neighbors_or_search(features, neighbors, k, metric, backend, n_jobs, seed)
    return dist[:, :k].mean(axis=1)


#: rows the Gaussian of :func:`mahalanobis_outlier_scores` is fitted on (a seeded subsample
#: of that many when N is larger; the scores are then computed for every row)
MAHALANOBIS_FIT_ROWS = 65_536
#: rows scored per block by :func:`mahalanobis_outlier_scores` (bounds its memory)
_MAHALANOBIS_BLOCK = 16_384


def mahalanobis_outlier_scores(features, *, max_fit_rows: int = MAHALANOBIS_FIT_ROWS,
                               seed=0) -> np.ndarray:
    """Per-example outlier score from one Gaussian fitted to all the features: the
    Mahalanobis distance ``sqrt((x - mu)^T S^-1 (x - mu))`` (higher = more outlying).

    Why, beside the kNN score of :func:`outlier_scores`: a kNN distance is small for any
    example with close neighbours, so a *group* of similar outliers (a batch of blank or
    corrupted images, an injected foreign dataset) scores as the least outlying of all; a
    distance to the bulk of the data does not have that blind spot. On the injected groups
    of ``benchmarks/data_issues.py`` (100 uniform-noise, 100 constant and 100 digit images
    among 50,000 CIFAR-10 images, patch features) the kNN score's AUROC is 0.004 for each
    kind and this one's 1.00 / 0.96 / 0.99 (``benchmarks/outlier_groups.py``); the groups
    bend the fit when they are a larger share of the data (1% each, among the 10,000 test
    images: 0.99 / 0.86 / 0.86), and at the threshold rule of :func:`outlier_threshold` it
    finds the noise images but few of the constant ones, so it has no default threshold
    yet (:func:`find_data_issues` and the audit rank by it without flagging). It does not
    replace the kNN score: an isolated point inside the data's spread, or a cluster
    structure far from Gaussian, is the kNN score's case.

    ``mu`` and ``S`` are the mean and the Ledoit-Wolf shrunk covariance (scikit-learn's
    ``LedoitWolf``; Ledoit and Wolf 2004, "A well-conditioned estimator for
    large-dimensional covariance matrices"), so that S is invertible also when D is close to
    or above N. The score is the distance of the Mahalanobis out-of-distribution detector of
    Lee, Lee, Lee and Shin 2018 ("A Simple Unified Framework for Detecting Out-of-Distribution
    Samples and Adversarial Attacks", NeurIPS, Eq. 2) with a single class-agnostic Gaussian.
    Cost: a covariance of min(N, max_fit_rows) x D^2, then N x D^2 for the scores.

    Args:
        features: float array-like (N, D), N >= 2 (never modified).
        max_fit_rows: fit the Gaussian on a seeded random subsample of this many rows when
            N is larger (int >= 2).
        seed: seeds that subsample (int or ``numpy.random.Generator``).

    Returns:
        float64 ndarray (N,), >= 0.

    Raises:
        ValueError: features not a finite real (N, D) array with N >= 2; ``max_fit_rows``
            not an integer >= 2.
    """
    from sklearn.covariance import LedoitWolf

    x = validate_features(features)
    max_fit_rows = check_int(max_fit_rows, "max_fit_rows", 2)
    n = x.shape[0]
    if n > max_fit_rows:
        rows = np.sort(np.random.default_rng(seed).choice(n, max_fit_rows, replace=False))
        fit_on = x[rows]
    else:
        fit_on = x
    model = LedoitWolf().fit(np.asarray(fit_on, dtype=np.float64))
    mu, precision = model.location_, model.precision_
    out = np.empty(n, dtype=np.float64)
    for a in range(0, n, _MAHALANOBIS_BLOCK):
        d = np.asarray(x[a:a + _MAHALANOBIS_BLOCK], dtype=np.float64) - mu
        out[a:a + len(d)] = np.einsum("ij,ij->i", d @ precision, d)
    return np.sqrt(np.maximum(out, 0.0))


def _neighbors_or_search(features, neighbors, k, metric, backend, n_jobs, seed):
    if neighbors is not None:
        dist, ind = (np.asarray(a) for a in neighbors)
        if dist.ndim != 2 or dist.shape != ind.shape or dist.shape[1] < k:
            raise ValueError(f"neighbors must be (distances, indices) of equal shape (N, >= {k}), "
                             f"got {dist.shape} and {ind.shape}")
        if not np.isfinite(dist).all():
            raise ValueError("neighbors distances must be finite")
        return dist, ind
    return nearest_neighbors(features, k, metric=metric, backend=backend, n_jobs=n_jobs, seed=seed)


def outlier_threshold(scores, *, z: float = OUTLIER_Z) -> float:
    """The default cut-off on outlier scores, fitted on the scores themselves.

    Rule: a robust z-score of the log score, ``t = exp(median(log s) + z * 1.4826 *
    MAD(log s))`` (Iglewicz and Hoaglin 1993, "How to Detect and Handle Outliers": the
    modified z-score, with their cut-off 3.5). The log makes the right-skewed distances
    roughly symmetric; median and MAD are unmoved by the outliers themselves (up to half
    the data). Scores of exactly 0 (duplicates) are raised to the smallest positive score.

    Args:
        scores: float (N,) from :func:`outlier_scores` (positive; higher = more outlying).
        z: the cut-off in robust standard deviations.

    Returns:
        float, the threshold: examples with a score above it are outliers.

    Raises:
        ValueError: scores not 1-D finite non-negative, or z not positive.
    """
    s = validate_features(scores, name="scores", min_rows=1)[:, 0].astype(np.float64)
    if s.ndim != 1 or (s < 0).any():
        raise ValueError("scores must be non-negative")
    z = _check_positive(z, "z")
    pos = s[s > 0]
    if pos.size == 0:
        return 0.0
    logs = np.log(np.maximum(s, pos.min()))
    med = float(np.median(logs))
    mad = float(np.median(np.abs(logs - med))) * _MAD_TO_SIGMA
    return float(np.exp(med + z * mad))


#: Rounds of :func:`refine_outlier_scores` (each re-fits the threshold and re-scores the
#: rows newly above it); one or two suffice in practice.
_REFINE_ROUNDS = 5


def _exact_outlier_scores(x: np.ndarray, rows: np.ndarray, k: int, metric: str,
                          n_jobs: int | None) -> np.ndarray:
    """Mean distance of each row ``rows`` of ``x`` to its k nearest other rows, by exact
    search of those rows against all of ``x`` (query-only: cost len(rows) x N x D)."""
    backend = "faiss-exact" if _available("faiss") else "exact"
    with warnings.catch_warnings():  # zero-norm rows were already reported by the search
        warnings.simplefilter("ignore", DataIssuesWarning)
        d, i = nearest_neighbors(x, k + 1, features_query=x[rows], metric=metric,
                                 backend=backend, n_jobs=n_jobs)
    return _drop_self(d, i, k, rows)[0].mean(axis=1)


def refine_outlier_scores(features, scores, *, k: int = 10, metric: str = "cosine",
                          z: float = OUTLIER_Z, threshold: float | None = None,
                          n_jobs: int | None = None) -> tuple[np.ndarray, float, np.ndarray]:
    """Make the outlier flags of an approximate neighbour search those of exact search.

    An approximate search (an inverted file, an HNSW graph) returns k true points, so each
    of its sorted distances is at least the exact one and its mean-kNN score
    (:func:`outlier_scores`) is an upper bound of the exact score: a row scored below the threshold is below it
    under exact search too. Only the rows above it can be wrong (a missed neighbour makes
    an inlier look far away); here they are searched again exactly (against all N rows,
    faiss-cpu's exact search when installed), the threshold re-fitted on the corrected
    scores (unless ``threshold`` is given) and any row newly above it re-scored, until no
    row above the threshold has an approximate score. The flags are then those of exact
    search with that threshold; the threshold itself (a median and a MAD) is fitted on
    scores of which only the top tail was made exact. Cost: (rows re-scored) x N x D; on
    exact neighbours it changes nothing and re-scores only the flagged rows.

    Args:
        features: float array-like (N, D), the features the scores came from.
        scores: float (N,) from :func:`outlier_scores` on these features (not modified).
        k, metric: as given to :func:`outlier_scores`.
        z: the cut-off of :func:`outlier_threshold`.
        threshold: a fixed threshold instead of the fitted one.
        n_jobs: threads of the exact search.

    Returns:
        ``(scores, threshold, is_exact)``: float64 (N,) the scores with the re-scored rows
        corrected (never raised), the final threshold (float), bool (N,) the rows re-scored
        by exact search.

    Raises:
        ValueError: bad features or scores, k out of range, ``threshold`` not finite.
    """
    x = validate_features(features)
    s = validate_features(scores, name="scores", num_rows=x.shape[0], min_rows=1)
    if s.shape[1] != 1:
        raise ValueError(f"scores must be 1-D of shape (N,), got shape {np.shape(scores)}")
    s = s[:, 0].astype(np.float64)  # a copy: the caller's scores are not modified
    k = check_int(k, "k", 1)
    if k > x.shape[0] - 1:
        raise ValueError(f"k must be at most {x.shape[0] - 1} (the number of candidate neighbours), got {k}")
    validate_choice(metric, METRICS, "metric")
    _check_threshold(threshold)
    exact = np.zeros(s.size, dtype=bool)
    t = float(threshold) if threshold is not None else outlier_threshold(s, z=z)
    for _ in range(_REFINE_ROUNDS):
        todo = np.flatnonzero((s > t) & ~exact)
        if todo.size == 0:
            break
        s[todo] = np.minimum(s[todo], _exact_outlier_scores(x, todo, k, metric, n_jobs))
        exact[todo] = True
        if threshold is None:
            t = outlier_threshold(s, z=z)
    return s, t, exact


def find_outliers(features=None, pred_probs=None, *, k: int = 10, metric: str = "cosine",
                  z: float = OUTLIER_Z, threshold: float | None = None, method: str = "entropy",
                  backend: str = "auto", n_jobs: int | None = None, seed=0,
                  neighbors=None, refine: bool = True) -> np.ndarray:
    """Outliers: examples whose :func:`outlier_scores` exceed a threshold fitted on the data.

    The threshold is :func:`outlier_threshold` (robust z-score of the log score above
    ``z = 3.5``) unless ``threshold`` is given. With ``features`` and ``refine`` (default),
    the rows above it are re-scored by exact search (:func:`refine_outlier_scores`), so
    that the misses of an approximate search (the default above 25,000^2 pairs) do not
    flag inliers. Arguments as in :func:`outlier_scores`.

    Returns:
        bool ndarray (N,), True = outlier.

    Raises:
        ValueError: as :func:`outlier_scores`; ``threshold`` not a finite number.
    """
    _check_threshold(threshold)
    scores = outlier_scores(features, pred_probs, k=k, metric=metric, method=method,
                            backend=backend, n_jobs=n_jobs, seed=seed, neighbors=neighbors)
    if features is not None and refine:
        scores, threshold, _ = refine_outlier_scores(features, scores, k=k, metric=metric, z=z,
                                                     threshold=threshold, n_jobs=n_jobs)
    elif threshold is None:
        threshold = outlier_threshold(scores, z=z)
    return scores > threshold


# ---------------------------------------------------------------------------------------
# duplicates


@dataclass(frozen=True)
class Duplicates:
    """Result of :func:`find_near_duplicates` and :func:`find_exact_duplicates`.

    Attributes:
        pairs: pandas DataFrame with columns ``i`` (int64, row of the first array), ``j``
            (int64: row of the same array, ``i < j``, or of the other array when two were
            given) and ``distance`` (float64, 0 for exact duplicates), closest first.
        sets: list of int64 arrays, the connected groups of the pair graph within one array
            (every member is a duplicate of another member; largest first). Empty when two
            arrays were compared.
        is_duplicate: bool (N,): the row has a duplicate (in the other array, when given).
        is_duplicate_other: bool (M,) for the other array, or None.
        threshold: float, the distance below which two rows are duplicates by their
            features (0 for exact); with images, the lower bound of the candidate radius.
        pixel_threshold: float or None: with images, a candidate pair is a duplicate when
            its :func:`aligned_pixel_distance` is below this (``pairs`` then has a
            ``pixel_distance`` column); None without.
    """

    pairs: object
    sets: list
    is_duplicate: np.ndarray
    is_duplicate_other: np.ndarray | None
    threshold: float
    pixel_threshold: float | None = None

    def set_ids(self) -> np.ndarray:
        """int64 (N,): the index of each row's set in ``sets``, -1 when it has none (one
        column for a per-example table)."""
        out = np.full(self.is_duplicate.shape[0], -1, dtype=np.int64)
        for s, members in enumerate(self.sets):
            out[members] = s
        return out


def _pairs_frame(i: np.ndarray, j: np.ndarray, d: np.ndarray, pixel: np.ndarray | None = None):
    import pandas as pd

    order = np.lexsort((j, i, d))
    cols = {"i": i[order].astype(np.int64), "j": j[order].astype(np.int64),
            "distance": d[order].astype(np.float64)}
    if pixel is not None:
        cols["pixel_distance"] = pixel[order].astype(np.float64)
    return pd.DataFrame(cols)


def _components(n: int, i: np.ndarray, j: np.ndarray) -> list[np.ndarray]:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if i.size == 0:
        return []
    graph = coo_matrix((np.ones(i.size), (i, j)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    involved = np.zeros(n, dtype=bool)
    involved[i] = involved[j] = True
    groups = [np.flatnonzero((comp == c) & involved) for c in np.unique(comp[involved])]
    groups.sort(key=lambda g: (-g.size, g[0]))
    return groups


#: Side (pixels) of the square thumbnails :func:`aligned_pixel_distance` compares.
PIXEL_RESOLUTION = 16
#: Largest translation (thumbnail pixels, each axis) :func:`aligned_pixel_distance` undoes:
#: 1 thumbnail pixel = 2 pixels of a 32 x 32 image.
PIXEL_MAX_SHIFT = 1
#: A candidate pair is a near duplicate when its aligned pixel distance is below this.
PIXEL_DUPLICATE_THRESHOLD = 0.25
#: Pairs closer than this multiple of the median nearest-neighbour distance are the
#: candidates whose pixels are compared (``find_near_duplicates(..., images=)``).
PIXEL_CANDIDATE_FRACTION = 1.25


def _float_pixels(arr: np.ndarray, name: str, image_ndim: int) -> np.ndarray:
    """``arr`` (images whose last axis is the channels, which may be missing: ``image_ndim``
    axes with it) as float32 with the channel axis; refuses non-real dtypes, NaN and inf."""
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool) \
            or np.iscomplexobj(arr):
        raise ValueError(f"{name} must hold real numeric images, got dtype {arr.dtype}")
    if arr.ndim == image_ndim - 1:
        arr = arr[..., None]
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf")
    return arr


def _block_mean(arr: np.ndarray, side: int) -> np.ndarray:
    """float (..., H, W, C) -> (..., side, side, C): the mean of each block (H and W
    multiples of ``side``)."""
    *lead, h, w, c = arr.shape
    return arr.reshape(*lead, side, h // side, side, w // side, c).mean(axis=(-4, -2))


def _thumbnail(img, side: int, name: str) -> np.ndarray:
    """One image (H, W) or (H, W, C), any real numeric dtype -> float32 (side, side, C): the
    mean of each block when H and W are multiples of ``side``, else Pillow's box filter
    per channel (area averaging; upsampling below ``side``)."""
    arr = _float_pixels(np.asarray(img), name, 3)
    if arr.ndim != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must hold images of shape (H, W) or (H, W, C), got "
                         f"{np.shape(img)}")
    h, w, c = arr.shape
    if h % side == 0 and w % side == 0:
        return _block_mean(arr, side)
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(arr[..., ch]), mode="F")
                                .resize((side, side), Image.Resampling.BOX), dtype=np.float32)
                     for ch in range(c)], axis=-1)


def _thumbnails(images, rows: np.ndarray, side: int, name: str) -> np.ndarray:
    """float32 (len(rows), side, side, C) thumbnails of ``images[rows]``; ``images`` an
    ndarray (N, H, W[, C]) or a sequence of images (read one at a time, e.g. an
    :class:`~labelnoise.datasets.ImageFolderSequence`)."""
    if isinstance(images, np.ndarray):
        if images.ndim not in (3, 4):
            raise ValueError(f"{name} must have shape (N, H, W) or (N, H, W, C), got "
                             f"{images.shape}")
        n = images.shape[0]
    else:
        n = len(images)
    if rows.size and rows.max() >= n:
        raise ValueError(f"{name} has {n} images; rows up to {rows.max()} were asked for")
    if isinstance(images, np.ndarray) and images.shape[1] % side == 0 \
            and images.shape[2] % side == 0 and images.dtype != object:
        # the same block means as _thumbnail, about 2^24 pixel values (64 MB) at a time
        step = max(1, 2 ** 24 // max(1, int(np.prod(images.shape[1:]))))
        parts = [_block_mean(_float_pixels(images[rows[s:s + step]], name, 4), side)
                 for s in range(0, rows.size, step)]
        return np.concatenate(parts) if parts else np.zeros((0, side, side, 1), np.float32)
    out = [_thumbnail(images[int(r)], side, f"{name}[{int(r)}]") for r in rows]
    if out and len({t.shape for t in out}) > 1:
        raise ValueError(f"{name} mixes images with different numbers of channels")
    return np.stack(out) if out else np.zeros((0, side, side, 1), dtype=np.float32)


def aligned_pixel_distance(images, i, j, *, images_other=None,
                           resolution: int = PIXEL_RESOLUTION,
                           max_shift: int = PIXEL_MAX_SHIFT, flip: bool = True,
                           chunk: int = 4096) -> np.ndarray:
    """Pixel distance of image pairs after the best small alignment: how far apart two
    images are once a translation of a few pixels and a horizontal mirror are undone (the
    copies that crops, augmentations and re-encodings make).

    Both images are reduced to ``resolution`` x ``resolution`` thumbnails (the mean of each
    block; area averaging when the sides are not multiples, which also changes the aspect
    ratio). For the pair (a, b), over every translation (dy, dx) of b with ``|dy|, |dx| <=
    max_shift`` thumbnail pixels, and over b mirrored left-right when ``flip``: the
    root-mean-square difference where the two overlap (all channels), divided by the pair's
    pixel scale ``sqrt((var(a) + var(b)) / 2)`` (variances over each thumbnail; floored at
    1e-3 x the value range of the compared thumbnails, so that two flat images of different
    colours stay apart); the minimum over the alignments. 0 for identical images and for
    exact mirror images or whole-block shifts (edges aside); about 1.4 for unrelated images
    of independent pixels. On copies injected into the CIFAR-10 test images
    (``benchmarks/results/data_issues.md``) every copy found was below 0.05 (flips, 2-pixel
    shifts, JPEG at quality 75) and no other candidate pair was below 0.1. Features find the
    candidate pairs; this distance tells copies from look-alikes
    (:func:`find_near_duplicates` with ``images=``). Our measure; the alignment-tolerant
    comparison is the kind Barz and Denzler (2020, "Do We Train on Test Data? Purging CIFAR
    of Near-Duplicates", J. Imaging 6(6):41) made by eye.

    Args:
        images: ndarray (N, H, W) or (N, H, W, C) of any real numeric dtype (uint8 0..255 or
            floats), or a sequence of N such images (H, W[, C]), possibly of different sizes
            (read one at a time: only the rows in ``i`` are read).
        i: int array (P,), rows of ``images``.
        j: int array (P,), rows of ``images_other`` when given, else of ``images``.
        images_other: optional second set (M images), same kinds and number of channels.
        resolution: thumbnail side, pixels (>= 2 * max_shift + 1).
        max_shift: largest translation tried per axis, thumbnail pixels (>= 0).
        flip: also try b mirrored left-right.
        chunk: pairs compared at once (memory: about 8 x chunk x resolution^2 x C bytes).

    Returns:
        float64 (P,), dimensionless.

    Raises:
        ValueError: images that are not real numeric (H, W[, C]) arrays, NaN or inf, channel
            counts that differ, indices that are not 1-D integers in range, lengths that
            differ, bad ``resolution`` / ``max_shift`` / ``chunk``.
    """
    max_shift = check_int(max_shift, "max_shift", 0)
    side = check_int(resolution, "resolution", 2 * max_shift + 1)
    chunk = check_int(chunk, "chunk", 1)
    i = np.asarray(i)
    j = np.asarray(j)
    for arr, nm in ((i, "i"), (j, "j")):
        if arr.ndim != 1 or not (np.issubdtype(arr.dtype, np.integer) or arr.size == 0):
            raise ValueError(f"{nm} must be a 1-D integer array")
        if arr.size and arr.min() < 0:
            raise ValueError(f"{nm} has negative rows")
    if i.shape != j.shape:
        raise ValueError(f"i and j must have the same length, got {i.size} and {j.size}")
    if i.size == 0:
        return np.zeros(0, dtype=np.float64)
    if images_other is None:
        rows, inv = np.unique(np.concatenate([i, j]), return_inverse=True)
        thumbs = _thumbnails(images, rows, side, "images")
        ia, jb, other = inv[:i.size], inv[i.size:], thumbs
    else:
        rows_a, ia = np.unique(i, return_inverse=True)
        rows_b, jb = np.unique(j, return_inverse=True)
        thumbs = _thumbnails(images, rows_a, side, "images")
        other = _thumbnails(images_other, rows_b, side, "images_other")
        if other.shape[-1] != thumbs.shape[-1]:
            raise ValueError(f"images_other has {other.shape[-1]} channels, images "
                             f"{thumbs.shape[-1]}")
    value_range = max(float(thumbs.max()), float(other.max())) - min(float(thumbs.min()),
                                                                     float(other.min()))
    floor = 1e-3 * value_range if value_range > 0 else 1.0
    var_a = thumbs.reshape(len(thumbs), -1).var(axis=1, dtype=np.float64)
    var_b = other.reshape(len(other), -1).var(axis=1, dtype=np.float64)
    s = side
    out = np.empty(i.size, dtype=np.float64)
    flips = (False, True) if flip else (False,)
    for start in range(0, i.size, chunk):
        ra, rb = ia[start:start + chunk], jb[start:start + chunk]
        a, b = thumbs[ra], other[rb]
        best = np.full(len(a), np.inf)
        for mirrored in flips:
            bb = np.ascontiguousarray(b[:, :, ::-1]) if mirrored else b
            for dy in range(-max_shift, max_shift + 1):
                for dx in range(-max_shift, max_shift + 1):
                    pa = a[:, max(dy, 0):s + min(dy, 0), max(dx, 0):s + min(dx, 0)]
                    pb = bb[:, max(-dy, 0):s + min(-dy, 0), max(-dx, 0):s + min(-dx, 0)]
                    diff = pa - pb
                    np.square(diff, out=diff)
                    np.minimum(best, diff.sum(axis=(1, 2, 3), dtype=np.float64) / diff[0].size,
                               out=best)
        scale = np.sqrt((var_a[ra] + var_b[rb]) / 2)
        out[start:start + chunk] = np.sqrt(best) / np.maximum(scale, floor)
    return out


def near_duplicate_threshold(nn_distances, *, fraction: float = NEAR_DUPLICATE_FRACTION) -> float:
    """Default near-duplicate radius: ``fraction`` x the median distance of the examples to
    their nearest neighbour (a scale-free rule, as cleanlab's Datalab, which uses 0.13 and keeps the zeros).

    Our fraction 0.1 was chosen on copies (exact, horizontal flip, 2-pixel shift, JPEG at
    quality 75) injected into the CIFAR-10 *test* images, with flip-invariant patch
    features, as the largest fraction of the grid 0.02-0.5 whose F1 is within 0.01 of the
    best (the curve is flat from 0.02 to 0.1, then falls as natural neighbours are
    flagged); it is reported on an injection into the train set
    (``benchmarks/data_issues.py``, ``benchmarks/results/data_issues.md``). Zero distances
    (exact duplicates: at most 1e-9 x the median distance, as float rounding leaves an
    exact copy at about 1e-16 rather than 0) are left out of the median so that many
    copies do not shrink the radius to 0.

    Args:
        nn_distances: float (N,) or (N, k); the first column is used.
        fraction: positive multiplier.

    Returns:
        float.
    """
    d = np.asarray(nn_distances, dtype=np.float64)
    d = d[:, 0] if d.ndim == 2 else d
    fraction = _check_positive(fraction, "fraction")
    pos = d[d > 1e-9 * np.median(d)] if d.size else d
    pos = pos[pos > 0]
    return float(fraction * np.median(pos)) if pos.size else 0.0


def _verify_pairs(a, b, d, threshold, candidate_radius, images, images_other, pixel_threshold):
    """Without images, keep the pairs closer than ``threshold``; with them, the pairs within
    ``candidate_radius`` whose aligned pixel distance is below ``pixel_threshold``. Returns
    the kept ``(a, b, d, pixel)`` (pixel None without images)."""
    if images is None:
        keep = d < threshold
        return a[keep], b[keep], d[keep], None
    check = d < candidate_radius
    a, b, d = a[check], b[check], d[check]
    pixel = aligned_pixel_distance(images, a, b, images_other=images_other)
    keep = pixel < pixel_threshold
    return a[keep], b[keep], d[keep], pixel[keep]


def find_near_duplicates(features, threshold: float | None = None, *, features_other=None,
                         k: int = 10, metric: str = "cosine",
                         fraction: float = NEAR_DUPLICATE_FRACTION, images=None,
                         images_other=None, pixel_threshold: float = PIXEL_DUPLICATE_THRESHOLD,
                         candidate_fraction: float = PIXEL_CANDIDATE_FRACTION,
                         backend: str = "auto", n_jobs: int | None = None, seed=0,
                         neighbors=None) -> Duplicates:
    """Pairs and sets of examples closer than a threshold in feature space, and, with the
    images, copies confirmed by their pixels.

    Within one array: every pair (i < j) among each row's k nearest neighbours with
    distance ``< threshold`` (a group larger than k + 1 is still joined into one set
    through its pairs). With ``features_other`` (e.g. train = ``features``, test =
    ``features_other``): for every row of ``features_other`` its nearest rows of
    ``features`` closer than the threshold, i.e. train/test leakage.

    Default threshold (``threshold=None``): :func:`near_duplicate_threshold`, 0.1 x the
    median nearest-neighbour distance *within* ``features`` (the same radius is used for
    the cross-split search, so that it does not depend on the test set).

    With ``images`` (and ``images_other`` across splits) the pixels decide: every neighbour
    pair closer than ``candidate_fraction`` x that median distance is compared pixel by
    pixel (:func:`aligned_pixel_distance`, which undoes small shifts and mirror images), and
    the pairs below ``pixel_threshold`` are the duplicates (``threshold`` then only bounds
    the candidate radius from below). Features alone miss copies that move every pixel (a
    2-pixel shift of a CIFAR-10 image is often farther than a natural look-alike) and join
    look-alikes that are not copies (small dark aeroplanes on a plain sky); the pixels tell
    both apart.
    Chosen in ``benchmarks/data_issues.py`` on copies injected into the CIFAR-10 test images
    (dev): the candidate fraction 1.25 is the smallest of 0.25, 0.5, ..., 2 that holds every
    copy found among the k neighbours, the pixel threshold 0.25 the largest of 0.05, 0.1,
    ..., 0.4 whose F1 is within 0.01 of the best (the larger threshold keeps copies altered
    more than these); checking the pairs inside the feature radius by pixels too (before
    2026-12-05 they were kept unchecked) raised the dev precision at equal recall. Reported
    on an injection into the train images (``benchmarks/results/data_issues.md``), where it
    found every 2-pixel shift that the features alone found 5% of, and where the natural
    pairs it flags were judged by eye. Pixels cost time: the check took seconds there
    against milliseconds from the features alone (the table gives both).

    Args:
        features: float array-like (N, D).
        threshold: distance cut-off in units of ``metric``; default above.
        features_other: optional float (M, D).
        k: neighbours searched per row.
        metric: ``"cosine"`` or ``"euclidean"``.
        fraction: the multiplier of the default rule.
        images: optional images of the N rows (see :func:`aligned_pixel_distance`: an
            ndarray (N, H, W[, C]) or a sequence, read only for candidate pairs).
        images_other: the M images of ``features_other``; needed with ``images`` there.
        pixel_threshold: aligned pixel distance below which a candidate pair is a duplicate.
        candidate_fraction: candidate radius as a multiple of the median nearest-neighbour
            distance within ``features`` (never below ``threshold``).
        backend, n_jobs, seed: see :func:`nearest_neighbors`.
        neighbors: optional ``(distances, indices)`` of :func:`nearest_neighbors` on
            ``features`` alone, reused for the within-array search and the default radius.

    Returns:
        :class:`Duplicates` (with ``pixel_threshold`` and a ``pixel_distance`` column when
        images were given).

    Raises:
        ValueError: invalid features, a negative or non-finite threshold, bad k, images
            whose number differs from the rows, ``images`` without ``images_other`` (or
            the reverse) across splits, bad images.
    """
    x = validate_features(features)
    k = check_int(k, "k", 1)
    kk = min(k, x.shape[0] - 1)
    if threshold is not None:
        threshold = check_real(threshold, "threshold", low=0)
    n = x.shape[0]
    if images is not None:
        pixel_threshold = _check_positive(pixel_threshold, "pixel_threshold")
        candidate_fraction = _check_positive(candidate_fraction, "candidate_fraction")
        if len(images) != n:
            raise ValueError(f"images has {len(images)} images, features {n} rows")
    if (images is None) != (images_other is None) and features_other is not None:
        raise ValueError("give both images and images_other (the images of features and of "
                         "features_other), or neither")
    if images_other is not None and features_other is None:
        raise ValueError("images_other needs features_other")
    if features_other is None or threshold is None or images is not None:
        # across splits only the nearest-neighbour distances of the default radius are needed
        k_within = kk if features_other is None or neighbors is not None else 1
        dist, ind = _neighbors_or_search(x, neighbors, k_within, metric, backend, n_jobs, seed)
        dist, ind = dist[:, :k_within], ind[:, :k_within]
    if threshold is None:
        threshold = near_duplicate_threshold(dist, fraction=fraction)
    threshold = float(threshold)
    radius = threshold
    if images is not None:
        radius = max(threshold, near_duplicate_threshold(dist, fraction=candidate_fraction))
    pix = pixel_threshold if images is not None else None
    if features_other is None:
        rows = np.repeat(np.arange(n), kk)
        close = dist.ravel() < radius
        a, b, d = rows[close], ind.ravel()[close], dist.ravel()[close]
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        key = np.unique(lo * n + hi, return_index=True)[1]
        lo, hi, d, pixel = _verify_pairs(lo[key], hi[key], d[key], threshold, radius, images,
                                         None, pixel_threshold)
        mask = np.zeros(n, dtype=bool)
        mask[lo] = mask[hi] = True
        return Duplicates(_pairs_frame(lo, hi, d, pixel), _components(n, lo, hi), mask, None,
                          threshold, pix)
    q = validate_features(features_other, name="features_other", num_columns=x.shape[1], min_rows=1)
    if images_other is not None and len(images_other) != q.shape[0]:
        raise ValueError(f"images_other has {len(images_other)} images, features_other "
                         f"{q.shape[0]} rows")
    kq = min(k, n)
    dq, iq = nearest_neighbors(x, kq, features_query=q, metric=metric, backend=backend,
                               n_jobs=n_jobs, seed=seed)
    rows = np.repeat(np.arange(q.shape[0]), kq)
    close = dq.ravel() < radius
    a, b, d, pixel = _verify_pairs(iq.ravel()[close], rows[close], dq.ravel()[close], threshold,
                                   radius, images, images_other, pixel_threshold)
    mask = np.zeros(n, dtype=bool)
    mask[a] = True
    mask_other = np.zeros(q.shape[0], dtype=bool)
    mask_other[b] = True
    return Duplicates(_pairs_frame(a, b, d, pixel), [], mask, mask_other, threshold, pix)


def _content_hashes(inputs, name: str) -> list[bytes]:
    if isinstance(inputs, np.ndarray):
        if inputs.ndim == 0 or inputs.shape[0] == 0:
            raise ValueError(f"{name} must be a non-empty array of shape (N, ...) or a sequence")
        if inputs.dtype == object:
            raise ValueError(f"{name} must not be an object array; give a numeric array or a list")
        tag = f"{inputs.dtype.str}{inputs.shape[1:]}".encode()
        return [hashlib.sha256(tag + np.ascontiguousarray(row).tobytes()).digest() for row in inputs]
    out = []
    for n, item in enumerate(inputs):
        if isinstance(item, (bytes, bytearray, memoryview)):
            out.append(hashlib.sha256(b"bytes" + bytes(item)).digest())
        else:
            arr = np.asarray(item)
            if arr.dtype == object:
                raise ValueError(f"{name}[{n}] must be bytes or a numeric array, got {type(item).__name__}")
            tag = f"{arr.dtype.str}{arr.shape}".encode()
            out.append(hashlib.sha256(tag + np.ascontiguousarray(arr).tobytes()).digest())
    if not out:
        raise ValueError(f"{name} is empty")
    return out


def find_exact_duplicates(inputs, inputs_other=None) -> Duplicates:
    """Examples whose raw content is identical, by SHA-256 hash of the bytes.

    Two arrays are identical when their dtype, shape and bytes are (so a uint8 image and
    its float copy are not); ``bytes`` items (e.g. the file contents) are compared as they
    are. Hash collisions are not re-checked (SHA-256: none known).

    Args:
        inputs: a numeric ndarray (N, ...) (one example per row: images (N, H, W, C),
            tables), or a sequence of N ``bytes`` or arrays.
        inputs_other: optional second set (M items, same kinds): pairs across the two.

    Returns:
        :class:`Duplicates` with ``distance`` 0 and ``threshold`` 0.

    Raises:
        ValueError: empty inputs, object arrays.
    """
    h = _content_hashes(inputs, "inputs")
    n = len(h)
    if inputs_other is None:
        groups: dict[bytes, list[int]] = {}
        for idx, key in enumerate(h):
            groups.setdefault(key, []).append(idx)
        a, b = [], []
        for members in groups.values():
            for j in members[1:]:
                for i in members[: members.index(j)]:
                    a.append(i)
                    b.append(j)
        a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
        mask = np.zeros(n, dtype=bool)
        mask[a] = mask[b] = True
        return Duplicates(_pairs_frame(a, b, np.zeros(a.size)), _components(n, a, b), mask, None, 0.0)
    h2 = _content_hashes(inputs_other, "inputs_other")
    where: dict[bytes, list[int]] = {}
    for idx, key in enumerate(h):
        where.setdefault(key, []).append(idx)
    a, b = [], []
    for j, key in enumerate(h2):
        for i in where.get(key, ()):
            a.append(i)
            b.append(j)
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    mask = np.zeros(n, dtype=bool)
    mask[a] = True
    mask_other = np.zeros(len(h2), dtype=bool)
    mask_other[b] = True
    return Duplicates(_pairs_frame(a, b, np.zeros(a.size)), [], mask, mask_other, 0.0)


# ---------------------------------------------------------------------------------------
# classes


def _names(class_names, k: int) -> list:
    if class_names is None:
        return list(range(k))
    names = list(class_names)
    if len(names) != k:
        raise ValueError(f"class_names has {len(names)} entries but there are K = {k} classes")
    return names


def overlapping_classes(labels, pred_probs, *, class_names=None, top: int | None = None,
                        noise=None):
    """Class pairs ranked by how much of each class is confused with the other.

    From the calibrated confident joint ``C`` (Northcutt, Jiang and Chuang 2021, Eq. 3;
    :func:`labelnoise.estimate_noise`), whose directed cells are listed by
    :func:`labelnoise.count.confused_pairs`: for the unordered pair {a, b},
    ``num_overlapping_examples = C[a, b] + C[b, a]`` and ``joint_probability = Q[a, b] +
    Q[b, a]`` (``Q = C / N``, the estimated ``P(given, true)``), the ranking key, as in
    cleanlab's ``find_overlapping_classes``. ``frac_a_as_b = C[a, b] / n_a`` is the
    fraction of the examples labelled a estimated to be b (and ``frac_b_as_a``); when both
    are large the classes overlap (merge them, or relabel with clearer guidelines).

    Args:
        labels: int array-like (N,), given labels in [0, K).
        pred_probs: float (N, K) out-of-sample predicted probabilities (or a list).
        class_names: optional K names for the ``name_a``/``name_b`` columns.
        top: keep only the first ``top`` pairs.
        noise: optional :class:`labelnoise.NoiseEstimate` already computed on the same
            inputs (to avoid recomputing it).

    Returns:
        pandas DataFrame, one row per pair with at least one confused example, columns
        ``class_a``, ``class_b`` (int, a < b), ``name_a``, ``name_b``,
        ``num_overlapping_examples`` (int), ``joint_probability`` (float), ``frac_a_as_b``,
        ``frac_b_as_a`` (float in [0, 1]); sorted by ``joint_probability`` descending (ties:
        a, then b).

    Raises:
        ValueError: invalid labels/pred_probs, class_names of the wrong length, bad top.
    """
    import pandas as pd

    from labelnoise import count

    labels, pp = validate_labels_and_pred_probs(labels, pred_probs)
    names = _names(class_names, pp.k)
    if noise is None:
        cj, thresholds, _ = count._confident_joint(labels, pp, None, True)
        noise = count._noise_from_joint(cj, labels, pp.n, thresholds)
    cj = np.asarray(noise.confident_joint)
    if cj.shape != (pp.k, pp.k):
        raise ValueError(f"noise.confident_joint must be ({pp.k}, {pp.k}), got {cj.shape}")
    n_per_class = np.bincount(labels, minlength=pp.k).astype(np.float64)
    total = float(cj.sum())
    cells: dict[tuple[int, int], int] = {}
    for i, j, c in count.confused_pairs(cj, top=pp.k * pp.k):
        key = (min(i, j), max(i, j))
        cells[key] = cells.get(key, 0) + c
    rows = []
    for (a, b), c in cells.items():
        rows.append({
            "class_a": a, "class_b": b, "name_a": names[a], "name_b": names[b],
            "num_overlapping_examples": int(c),
            "joint_probability": c / total,
            "frac_a_as_b": float(cj[a, b] / n_per_class[a]),
            "frac_b_as_a": float(cj[b, a] / n_per_class[b]),
        })
    columns = ["class_a", "class_b", "name_a", "name_b", "num_overlapping_examples",
               "joint_probability", "frac_a_as_b", "frac_b_as_a"]
    frame = pd.DataFrame(rows, columns=columns)
    frame = frame.sort_values(["joint_probability", "class_a", "class_b"],
                              ascending=[False, True, True], kind="stable").reset_index(drop=True)
    if top is not None:
        frame = frame.head(check_int(top, "top", 1)).reset_index(drop=True)
    return frame


def class_imbalance(labels, *, num_classes: int | None = None, fraction: float = 0.1) -> dict:
    """Class imbalance of the given labels.

    A class is a minority class when it holds fewer than ``fraction / K`` of the examples
    (a tenth of its share under balance, cleanlab Datalab's class-imbalance rule).

    Args:
        labels: int array-like (N,) in [0, K).
        num_classes: K (default ``max(labels) + 1``).
        fraction: the share of ``1 / K`` below which a class is a minority.

    Returns:
        dict: ``counts`` int64 (K,), ``imbalance_ratio`` (smallest / largest count, 0 when a
        class is empty), ``minority_classes`` (list of int), ``threshold_count`` (float).

    Raises:
        ValueError: invalid labels, fraction not positive.
    """
    labels = validate_labels(labels, num_classes=num_classes)
    k = int(num_classes if num_classes is not None else labels.max() + 1)
    fraction = _check_positive(fraction, "fraction")
    counts = np.bincount(labels, minlength=k).astype(np.int64)
    cut = fraction * labels.size / k
    return {
        "counts": counts,
        "imbalance_ratio": float(counts.min() / counts.max()),
        "minority_classes": np.flatnonzero(counts < cut).tolist(),
        "threshold_count": float(cut),
    }


def class_health_summary(labels, pred_probs, *, class_names=None, is_label_issue=None,
                         issues: dict | None = None, noise=None, fraction: float = 0.1):
    """Per-class health table: size, estimated noise rate, issue counts, imbalance.

    Args:
        labels: int array-like (N,), given labels in [0, K).
        pred_probs: float (N, K) out-of-sample predicted probabilities (or a list).
        class_names: optional K names.
        is_label_issue: optional bool (N,) label-issue mask (default:
            :func:`labelnoise.find_label_issues` with its default filter).
        issues: optional dict ``name -> bool (N,)`` of other checks (e.g. ``"outlier"``,
            ``"near_duplicate"``); each adds a column ``num_<name>``.
        noise: optional :class:`labelnoise.NoiseEstimate` of the same inputs.
        fraction: minority rule of :func:`class_imbalance`.

    Returns:
        pandas DataFrame, one row per class (K rows, in class order), columns ``class``,
        ``name``, ``num_examples``, ``fraction`` (of N), ``estimated_noise_rate`` (``1 -
        P(true = i | given = i)`` from the calibrated confident joint, the estimated share
        of wrong labels among the examples labelled i), ``num_label_issues``,
        ``label_issue_rate`` (flagged / num_examples), ``num_<name>`` per entry of
        ``issues``, ``is_minority``. ``frame.attrs`` holds ``imbalance_ratio``,
        ``noise_rate`` (whole dataset) and ``num_examples``.

    Raises:
        ValueError: invalid labels/pred_probs; a mask that is not bool of length N.
    """
    import pandas as pd

    from labelnoise import count
    from labelnoise.filter import find_label_issues

    labels, pp = validate_labels_and_pred_probs(labels, pred_probs)
    names = _names(class_names, pp.k)
    if noise is None:
        cj, thresholds, _ = count._confident_joint(labels, pp, None, True)
        noise = count._noise_from_joint(cj, labels, pp.n, thresholds)
    if is_label_issue is None:
        is_label_issue = find_label_issues(labels, pred_probs)
    masks = {"label_issues": is_label_issue, **(issues or {})}
    counts = np.bincount(labels, minlength=pp.k)
    imbalance = class_imbalance(labels, num_classes=pp.k, fraction=fraction)
    frame = pd.DataFrame({
        "class": np.arange(pp.k), "name": names, "num_examples": counts,
        "fraction": counts / pp.n,
        "estimated_noise_rate": 1.0 - np.asarray(noise.inverse_noise_matrix).diagonal(),
    })
    for key, mask in masks.items():
        m = np.asarray(mask)
        if m.dtype != np.bool_ or m.shape != (pp.n,):
            raise ValueError(f"issues[{key!r}] must be a bool array of shape ({pp.n},), "
                             f"got dtype {m.dtype} shape {m.shape}")
        frame[f"num_{key}"] = np.bincount(labels[m], minlength=pp.k)
        if key == "label_issues":
            frame["label_issue_rate"] = frame["num_label_issues"] / np.maximum(counts, 1)
    frame["is_minority"] = np.isin(np.arange(pp.k), imbalance["minority_classes"])
    frame.attrs.update(imbalance_ratio=imbalance["imbalance_ratio"],
                       noise_rate=float(noise.noise_rate), num_examples=int(pp.n))
    return frame


# ---------------------------------------------------------------------------------------
# label issues from features


@dataclass(frozen=True)
class KNNLabelQuality:
    """Result of :func:`knn_label_quality`.

    Attributes:
        label_quality_scores: float64 (N,) in [0, 1], higher = the given label is more
            likely right (the combined score when ``pred_probs`` were given).
        is_label_issue: bool (N,).
        knn_pred_probs: float64 (N, K): the smoothed label distribution of each example's
            k nearest neighbours (rows sum to 1).
        pred_probs: float64 (N, K): the probabilities scored (``knn_pred_probs``, or its
            combination with the given pred_probs).
        knn_weight: float, the weight of ``knn_pred_probs`` in ``pred_probs`` (1 alone; fitted
            by :func:`knn_weight_ml` when asked).
    """

    label_quality_scores: np.ndarray
    is_label_issue: np.ndarray
    knn_pred_probs: np.ndarray
    pred_probs: np.ndarray
    knn_weight: float


def knn_pred_probs(labels, indices, *, num_classes: int | None = None,
                   smoothing: float = 1.0) -> np.ndarray:
    """The label distribution of each example's nearest neighbours.

    ``q[n, j] = (#{neighbours of n labelled j} + s / K) / (k + s)``: the local vote of
    SimiFeat (Zhu, Dong and Liu 2022, Section 4.1: "the k-NN label distribution"), with an
    additive smoothing of total weight ``s`` spread evenly over the classes so that no class
    gets probability 0 (ties in the vote stay ties).

    Args:
        labels: int array-like (N,), given labels in [0, K).
        indices: int (M, k) neighbour indices into ``labels`` (from
            :func:`nearest_neighbors`); M = N for the same examples.
        num_classes: K (default ``max(labels) + 1``).
        smoothing: s >= 0.

    Returns:
        float64 (M, K), rows sum to 1.

    Raises:
        ValueError: invalid labels; indices not 2-D integers within [0, N).
    """
    labels = validate_labels(labels, num_classes=num_classes)
    k_classes = int(num_classes if num_classes is not None else labels.max() + 1)
    ind = np.asarray(indices)
    if ind.ndim != 2 or not np.issubdtype(ind.dtype, np.integer) or ind.shape[1] == 0:
        raise ValueError(f"indices must be a 2-D integer array (M, k), got {ind.dtype} {ind.shape}")
    if ind.min() < 0 or ind.max() >= labels.size:
        raise ValueError(f"indices must lie in [0, {labels.size}) (rows of labels)")
    smoothing = check_real(smoothing, "smoothing", low=0)
    m, k = ind.shape
    nb = labels[ind]
    counts = np.zeros((m, k_classes), dtype=np.float64)
    np.add.at(counts, (np.repeat(np.arange(m), k), nb.ravel()), 1.0)
    return (counts + smoothing / k_classes) / (k + smoothing)


def knn_weight_ml(labels, pred_probs, knn_probs) -> float:
    """The weight ``w`` in [0, 1] of ``knn_probs`` in the mixture ``(1 - w) pred_probs + w
    knn_probs`` that maximises the likelihood of the given labels,
    ``L(w) = sum_n log((1 - w) p[n, y_n] + w q[n, y_n])``.

    Both components must be out of sample (cross-validated pred_probs; neighbour votes that
    exclude the example's own label), so the likelihood of the given labels compares them
    fairly, as stacking with the log loss does (Breiman 1996, "Stacked regressions", Machine
    Learning 24). ``L`` is concave in ``w`` (a sum of logs of affine functions), so the
    maximum is the root of ``L'`` in (0, 1) (Brent's method), or an end point when ``L'``
    keeps one sign.

    Args:
        labels: int (N,) given labels.
        pred_probs, knn_probs: float (N, K) probabilities (rows sum to 1).

    Returns:
        float in [0, 1].
    """
    from scipy.optimize import brentq

    rows = np.arange(len(labels))
    p = np.asarray(pred_probs, dtype=np.float64)[rows, labels]
    q = np.asarray(knn_probs, dtype=np.float64)[rows, labels]
    diff = q - p
    tiny = 1e-300

    def slope(w: float) -> float:
        return float(np.sum(diff / np.maximum(p + w * diff, tiny)))

    lo, hi = slope(0.0), slope(1.0)
    if lo <= 0:
        return 0.0
    if hi >= 0:
        return 1.0
    return float(brentq(slope, 0.0, 1.0, xtol=1e-6))


def knn_label_quality(features, labels, k: int = 10, *, pred_probs=None,
                      knn_weight: float | str = "ml", metric: str = "cosine",
                      smoothing: float = 1.0, filter_by: str | None = None,
                      backend: str = "auto", n_jobs: int | None = None, seed=0,
                      neighbors=None) -> KNNLabelQuality:
    """Label issues from features, by the labels of each example's k nearest neighbours.

    Alone (``pred_probs=None``): the neighbours' smoothed label distribution
    (:func:`knn_pred_probs`) is read as the example's predicted probabilities; the label
    quality score is the share of the vote of the given label, ``q[n, y_n]``, and an example
    is flagged when its given label is not among the most voted classes (SimiFeat-V,
    Zhu, Dong and Liu 2022, "Detecting Corrupted Labels Without Training a Model to
    Predict", ICML, Algorithm 1 with one round: the local vote; we do not apply their
    random feature transformations). An example is never its own neighbour (cleanlab's
    Datalab votes with a ``KNeighborsClassifier`` fitted on the same data, which counts
    each example's own label; ours does not).

    With ``pred_probs`` (out-of-sample model predictions): the two are combined as a
    mixture, ``p = (1 - w) pred_probs + w q``, scored by
    :func:`labelnoise.label_quality_scores` (default method) and flagged by
    :func:`labelnoise.find_label_issues` (default filter) on ``p``. The weight: by default
    (``knn_weight="ml"``) the one that maximises the likelihood of the given labels under the
    mixture (:func:`knn_weight_ml`; on CIFAR-10N ``worse`` with patch features and
    logistic-regression pred_probs it gives w = 0.19, and the combination ranks the wrong
    labels better than either alone, ``benchmarks/results/data_issues.md``; the plain
    average, w = 0.5, was no better than pred_probs alone there; with the default audit's
    own network features and pred_probs, w = 0.13 and the combination ranks as pred_probs
    alone do, AUPRC 0.9019 against 0.9021, ``benchmarks/results/audit.md``: neighbours in a
    network's space vote much as that network predicts; in the images' own patch view,
    which no model fitted to the labels, w = 0.07 and 0.9037, which is why the audit votes
    there and ranks by this combination, ``labelnoise.audit.IMAGE_VIEW_FEATURES``), or a
    number in [0, 1].

    Args:
        features: float array-like (N, D).
        labels: int array-like (N,), given labels in [0, K).
        k: neighbours per example (SimiFeat: 10).
        pred_probs: optional float (N, K) out-of-sample predicted probabilities.
        knn_weight: ``"ml"`` or a number w in [0, 1].
        metric: ``"cosine"`` or ``"euclidean"``.
        smoothing: total pseudo-count of :func:`knn_pred_probs`.
        filter_by: with ``pred_probs``, the filter of :func:`labelnoise.find_label_issues`
            (default: its default); alone, ``None`` means the vote rule above, any other
            value applies that filter to ``q``.
        backend, n_jobs, seed: see :func:`nearest_neighbors`.
        neighbors: optional ``(distances, indices)`` of :func:`nearest_neighbors` on the
            same features (at least k columns).

    Returns:
        :class:`KNNLabelQuality`.

    Raises:
        ValueError: invalid features/labels/pred_probs, N mismatch, knn_weight neither "ml"
            nor a number in [0, 1], bad k.
    """
    from labelnoise.filter import find_label_issues
    from labelnoise.rank import label_quality_scores

    if neighbors is None:
        x = validate_features(features)
        n = x.shape[0]
    else:
        x = None
        n = np.asarray(neighbors[1]).shape[0]
    labels = validate_labels(labels)
    if labels.size != n:
        raise ValueError(f"labels has {labels.size} entries but features has {n} rows; they must match (N)")
    k = check_int(k, "k", 1)
    if not (isinstance(knn_weight, str) and knn_weight == "ml") and (
            isinstance(knn_weight, (bool, str, np.bool_))
            or not isinstance(knn_weight, (int, float, np.integer, np.floating))
            or not np.isfinite(knn_weight) or not 0 <= knn_weight <= 1):
        raise ValueError(f"knn_weight must be 'ml' or a number in [0, 1], got {knn_weight!r}")
    num_classes = None
    if pred_probs is not None:
        labels, pp = validate_labels_and_pred_probs(labels, pred_probs, require_all_classes=False)
        num_classes = pp.k
    _, ind = _neighbors_or_search(x, neighbors, k, metric, backend, n_jobs, seed)
    q = knn_pred_probs(labels, ind[:, :k], num_classes=num_classes, smoothing=smoothing)
    if pred_probs is None:
        scores = q[np.arange(n), labels]
        if filter_by is None:
            flags = scores < q.max(axis=1)
        else:
            flags = find_label_issues(labels, q, filter_by=filter_by)
        return KNNLabelQuality(scores, flags, q, q, 1.0)
    probs = pp.materialize()
    if knn_weight == "ml":
        knn_weight = knn_weight_ml(labels, probs, q)
    combined = (1.0 - knn_weight) * probs + knn_weight * q
    kwargs = {} if filter_by is None else {"filter_by": filter_by}
    scores = label_quality_scores(labels, combined)
    flags = find_label_issues(labels, combined, **kwargs)
    return KNNLabelQuality(scores, flags, q, combined, float(knn_weight))


def with_neighbour_vote(labels, pred_probs, indices, *,
                        smoothing: float = 1.0) -> tuple[np.ndarray, float]:
    """The pred_probs mixed with the neighbours' label vote: ``(1 - w) pred_probs + w q``.

    ``q`` is the smoothed label distribution of each example's neighbours
    (:func:`knn_pred_probs`; ``indices`` must exclude the example itself, as
    :func:`nearest_neighbors` does), ``w`` the weight that maximises the likelihood of the
    given labels (:func:`knn_weight_ml`): the combination that
    :func:`knn_label_quality` scores, returned as probabilities so that any score or filter
    of :mod:`labelnoise.rank` / :mod:`labelnoise.filter` can read it. The mixture is taken
    over the classes that have examples; a class of ``pred_probs`` with no example keeps
    probability 0. With neighbours in a view that no model fitted to the labels (the
    images' patch view, a table's standardised columns), this is the audit's ranking and
    ``labelnoise.CleanClassifier``'s (``neighbour_vote``): mean AUPRC +0.07 / +0.08 on 41
    CIFAR-10 development cases and +0.14 / +0.13 on 60 table cases (select / confirm
    halves, ``benchmarks/results/audit.md``; the estimator: ``benchmarks/results/sklearn_estimator.md``).

    Args:
        labels: int array-like (N,), given labels in [0, K).
        pred_probs: float array-like (N, K), out-of-sample predicted probabilities.
        indices: int (N, k) neighbour indices into ``labels`` (k >= 1).
        smoothing: total pseudo-count of :func:`knn_pred_probs` (>= 0).

    Returns:
        ``(probs, w)``: float64 (N, K), rows sum to 1, and the weight ``w`` in [0, 1].

    Raises:
        ValueError: invalid labels / pred_probs (shape, NaN, rows not summing to 1), indices
            not 2-D integers within [0, N) or with another number of rows than N.
    """
    labels, pp = validate_labels_and_pred_probs(labels, pred_probs, require_all_classes=False)
    probs = np.asarray(pp.materialize(), dtype=np.float64)
    ind = np.asarray(indices)
    if ind.ndim != 2 or ind.shape[0] != labels.size:
        raise ValueError(f"indices must have one row per example (N={labels.size}, k), got "
                         f"shape {ind.shape}")
    present, lab, sub = _present_classes(labels, probs)
    vote = knn_pred_probs(lab, ind, num_classes=present.size, smoothing=smoothing)
    w = knn_weight_ml(lab, sub, vote)
    out = np.zeros_like(probs)
    out[:, present] = (1.0 - w) * sub + w * vote
    return out, float(w)


#: neighbours per example of the label vote mixed into pred_probs (SimiFeat's k; the audit's,
#: ``find_issues(..., features=)``'s and ``CleanClassifier``'s default)
NEIGHBOUR_VOTE_K = 10
#: features wider than this are projected to ``SEARCH_PCA_DIM`` principal components before
#: a neighbour search (patch features: 6,400 dimensions; the exact search costs N^2 D)
SEARCH_MAX_DIM = 1024
SEARCH_PCA_DIM = 256


def search_features(features, *, seed=0) -> tuple[np.ndarray, str]:
    """The features a neighbour search uses: ``features`` itself, or, when wider than
    ``SEARCH_MAX_DIM`` columns (and N > ``SEARCH_PCA_DIM``), their first ``SEARCH_PCA_DIM``
    principal components (scikit-learn's randomized PCA, seeded) as float32.

    Args:
        features: float (N, D), already validated (finite).
        seed: the PCA's ``random_state``.

    Returns:
        ``(features, note)``: the note is "" when kept, else a clause naming the projection
        and the share of the variance kept.
    """
    x = np.asarray(features)
    if x.shape[1] <= SEARCH_MAX_DIM or x.shape[0] <= SEARCH_PCA_DIM:
        return x, ""
    from sklearn.decomposition import PCA

    pca = PCA(SEARCH_PCA_DIM, svd_solver="randomized", random_state=seed)
    reduced = pca.fit_transform(x).astype(np.float32)
    kept = float(np.sum(pca.explained_variance_ratio_))
    return reduced, (f"; projected from {x.shape[1]} to {SEARCH_PCA_DIM} principal "
                     f"components ({100 * kept:.0f}% of the variance) for the neighbour search")


def _vote_in_features(labels, pred_probs, features, *, k: int = NEIGHBOUR_VOTE_K,
                      seed=0) -> tuple[np.ndarray, float]:
    """:func:`with_neighbour_vote` over each example's ``k`` nearest neighbours in
    ``features`` (validated as ``features``, N >= 3; wider than ``SEARCH_MAX_DIM``: PCA
    first, :func:`search_features`): the vote of ``find_issues(..., features=)`` and of
    ``CleanClassifier``. Returns the mixture float64 (N, K) and the weight."""
    x = validate_features(features, name="features", num_rows=len(labels), min_rows=3)
    view, _ = search_features(x, seed=seed)
    _, ind = nearest_neighbors(view, min(k, x.shape[0] - 1), seed=seed)
    return with_neighbour_vote(labels, pred_probs, ind)


def _standardised(x) -> np.ndarray:
    """float64 copy of ``x`` (N, D) with every column at mean 0 and standard deviation 1
    (a constant column becomes 0): a table's columns as the vote and the data checks
    search them."""
    x = np.asarray(x, dtype=np.float64)
    std = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)


def prototype_label_quality(features, labels, *, num_classes: int | None = None,
                            weights=None, temperature: float = 0.1) -> np.ndarray:
    """Label quality from class prototypes in feature space: how much closer each example
    lies to the prototype of its given class than to the other classes' prototypes.

    The prototype cleaner of CPC (Huang, Chen, Feng and Wu 2022, "Class Prototype-based
    Cleaner for Label Noise Learning", arXiv 2212.10766; see
    :mod:`labelnoise.training.cpc`, equations CPC-2 and CPC-3 there: that module's labels of
    a reconstruction from the paper's abstract, whose method section could not be read
    here). With ``u_i = x_i /
    ||x_i||`` and ``w_i`` the example weights:

    * the prototype of class k is the weighted mean direction of the examples labelled k,
      ``c_k = normalise(sum_{j: y_j = k} w_j u_j)`` (CPC-2); each example is left out of the
      prototype of its own class (as an example is never its own neighbour in
      :func:`knn_label_quality`);
    * the score is the posterior of the given label under a mixture of von Mises-Fisher
      distributions with those mean directions, equal concentrations ``1 / temperature``
      and equal priors: ``q_i = exp(cos(u_i, c_{y_i}) / T) / sum_k exp(cos(u_i, c_k) / T)``
      (CPC-3), the sum over the classes that have at least one example.

    A class whose weights sum to 0 gets the unweighted mean direction of its examples; an
    example alone in its class has no own-class prototype left and gets cosine 0 to it;
    rows of zero norm have cosine 0 to every prototype (with a :class:`DataIssuesWarning`).
    The temperature changes the spread of the scores, little their ranking.

    Args:
        features: float array-like (N, D), e.g. a network's penultimate layer or embeddings.
        labels: int array-like (N,), given labels in [0, K).
        num_classes: K (default ``max(labels) + 1``); classes without examples have no
            prototype and are left out of the sum.
        weights: optional float array-like (N,) >= 0: each example's weight in its class
            prototype (e.g. the probability that its label is clean); default all 1.
        temperature: T > 0 (default 0.1; :mod:`labelnoise.training.cpc`'s default).

    Returns:
        float64 ndarray (N,) in [0, 1]: higher = the given label is more likely right.

    Raises:
        ValueError: invalid features or labels, an N mismatch, a label outside [0, K),
            weights not 1-D of length N, negative or non-finite, a temperature that is not a
            positive finite number.
    """
    x = validate_features(features)
    n = x.shape[0]
    if num_classes is not None:
        num_classes = check_int(num_classes, "num_classes", 2)
    y = validate_labels(labels, num_classes=num_classes)
    if y.size != n:
        raise ValueError(f"labels has {y.size} entries but features has {n} rows; they must match (N)")
    temperature = _check_positive(temperature, "temperature")
    if weights is None:
        w = np.ones(n)
    else:
        w = np.asarray(weights)
        if w.ndim != 1 or w.shape[0] != n or w.dtype == np.bool_ or not (
                np.issubdtype(w.dtype, np.floating) or np.issubdtype(w.dtype, np.integer)):
            raise ValueError(f"weights must be a 1-D array of N = {n} numbers, got "
                             f"{w.dtype} {w.shape}")
        w = w.astype(np.float64)
        if not np.isfinite(w).all() or (w < 0).any():
            i = int(np.flatnonzero(~np.isfinite(w) | (w < 0))[0])
            raise ValueError(f"weights must be finite and >= 0; weights[{i}] = {w[i]!r}")
    k = int(num_classes if num_classes is not None else y.max() + 1)
    u, _ = _unit_rows(x.astype(np.float64, copy=False), "features")
    present = np.bincount(y, minlength=k) > 0
    totals = np.bincount(y, weights=w, minlength=k)
    w = np.where(totals[y] > 0, w, 1.0)  # a class of zero total weight: unweighted
    wu = u * w[:, None]
    order = np.argsort(y, kind="stable")
    starts = np.searchsorted(y[order], np.flatnonzero(present))
    sums = np.zeros((k, x.shape[1]))
    sums[present] = np.add.reduceat(wu[order], starts, axis=0)
    norms = np.linalg.norm(sums, axis=1)
    protos = sums / np.where(norms > 0, norms, 1.0)[:, None]
    scores = np.empty(n)
    step = max(1, 2 ** 22 // k)
    for lo in range(0, n, step):
        rows = slice(lo, lo + step)
        uc, yc = u[rows], y[rows]
        logits = (uc @ protos.T) / temperature
        own = sums[yc] - wu[rows]  # the own-class prototype without the example itself
        own_norm = np.linalg.norm(own, axis=1)
        own_cos = np.einsum("ij,ij->i", own, uc) / np.where(own_norm > 1e-12, own_norm, np.inf)
        idx = np.arange(len(yc))
        logits[idx, yc] = own_cos / temperature
        logits[:, ~present] = -np.inf
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        scores[rows] = e[idx, yc] / e.sum(axis=1)
    return scores


# ---------------------------------------------------------------------------------------
# every check at once (the audit)

#: The checks of :func:`find_data_issues`, in the order of the report: name -> title.
DATA_ISSUE_CHECKS = {
    "outliers": "Outliers",
    "near_duplicates": "Near duplicates",
    "exact_duplicates": "Exact duplicates",
    "overlapping_classes": "Overlapping classes",
    "class_health": "Class health",
    "knn_label_issues": "Label issues from nearest neighbours",
    "combined_label_issues": "Label issues from nearest neighbours and pred_probs",
}
#: The checks that need features (the others need the raw inputs, or labels and pred_probs).
FEATURE_CHECKS = ("outliers", "near_duplicates", "knn_label_issues", "combined_label_issues")
#: the feature checks that ``label_features`` (a second view) can feed
LABEL_FEATURE_CHECKS = ("knn_label_issues", "combined_label_issues")


@dataclass(frozen=True)
class DataIssues:
    """Result of :func:`find_data_issues`: every check, or the reason it did not run.

    Arrays are indexed by example (N,). A check that did not run has ``None`` in its
    fields and its reason in ``not_run``.

    Attributes:
        num_examples: N.
        features_source: where the features came from (a sentence), or None (no features).
        features_shape: (N, D) of the features searched, or None.
        k: neighbours per example, or None (no features).
        label_features_source, label_features_shape: where the features of the
            neighbour-label checks came from and their (N, D), when those checks searched
            features of their own (``label_features``); None when they used ``features``.
        metric: the distance (``"cosine"`` or ``"euclidean"``).
        outlier_scores: float64 (N,), mean distance to the k nearest neighbours.
        is_outlier: bool (N,); ``outlier_threshold``: the fitted cut-off
            (:func:`outlier_threshold`).
        gaussian_outlier_scores: float64 (N,), the Mahalanobis distance to one Gaussian
            fitted to the features (:func:`mahalanobis_outlier_scores`; per feature space
            when the rows come from several): a ranking for review, with no flags (it sees
            groups of similar outliers, which the neighbour score cannot, but has no
            threshold rule yet).
        near_duplicates, exact_duplicates: :class:`Duplicates`.
        overlapping_classes: the DataFrame of :func:`overlapping_classes`.
        class_health: the DataFrame of :func:`class_health_summary` (with ``num_outliers``,
            ``num_near_duplicates``, ``num_exact_duplicates`` for the checks that ran).
        knn: :class:`KNNLabelQuality` from the neighbours' labels alone.
        combined: :class:`KNNLabelQuality` of the neighbours' vote mixed with pred_probs.
        not_run: check name (a key of :data:`DATA_ISSUE_CHECKS`) -> why it did not run.
        class_names: the K class names (strings).
        inputs_source: what the exact-duplicate check compared (a sentence), or None.
    """

    num_examples: int
    features_source: str | None = None
    features_shape: tuple | None = None
    k: int | None = None
    label_features_source: str | None = None
    label_features_shape: tuple | None = None
    metric: str = "cosine"
    outlier_scores: np.ndarray | None = None
    is_outlier: np.ndarray | None = None
    outlier_threshold: float | None = None
    gaussian_outlier_scores: np.ndarray | None = None
    near_duplicates: Duplicates | None = None
    exact_duplicates: Duplicates | None = None
    overlapping_classes: object = None
    class_health: object = None
    knn: KNNLabelQuality | None = None
    combined: KNNLabelQuality | None = None
    not_run: dict = field(default_factory=dict)
    class_names: tuple = ()
    inputs_source: str | None = None

    def ran(self, check: str) -> bool:
        """Whether the check ``check`` (a key of :data:`DATA_ISSUE_CHECKS`) ran."""
        validate_choice(check, tuple(DATA_ISSUE_CHECKS), "check")
        return check not in self.not_run

    def columns(self) -> dict:
        """Per-example columns of the checks that ran, in example order (N,): name -> array.

        ``outlier_score`` (float), ``is_outlier``, ``outlier_score_gaussian`` (float, no
        flag); ``is_near_duplicate``,
        ``near_duplicate_set`` (int64: the set's number, 0 = largest set, -1 = none);
        ``is_exact_duplicate``, ``exact_duplicate_set``; ``knn_label_quality`` (the share of
        the neighbours' smoothed vote for the given label, in [0, 1]),
        ``is_knn_label_issue``; ``combined_label_quality``, ``is_combined_label_issue``.
        """
        cols: dict[str, np.ndarray] = {}
        if self.outlier_scores is not None:
            cols["outlier_score"] = self.outlier_scores
            cols["is_outlier"] = self.is_outlier
        if self.gaussian_outlier_scores is not None:
            cols["outlier_score_gaussian"] = self.gaussian_outlier_scores
        for name, dup in (("near", self.near_duplicates), ("exact", self.exact_duplicates)):
            if dup is not None:
                cols[f"is_{name}_duplicate"] = dup.is_duplicate
                cols[f"{name}_duplicate_set"] = dup.set_ids()
        if self.knn is not None:
            cols["knn_label_quality"] = self.knn.label_quality_scores
            cols["is_knn_label_issue"] = self.knn.is_label_issue
        if self.combined is not None:
            cols["combined_label_quality"] = self.combined.label_quality_scores
            cols["is_combined_label_issue"] = self.combined.is_label_issue
        return cols

    def to_frame(self, order=None):
        """:meth:`columns` as a pandas DataFrame, rows in ``order`` (int (N,) example
        indices, e.g. a ranking) or in example order."""
        import pandas as pd

        idx = np.arange(self.num_examples) if order is None else np.asarray(order, dtype=np.int64)
        return pd.DataFrame({name: col[idx] for name, col in self.columns().items()})

    def summary(self, *, example_ids=None, max_sets: int = 200, top: int = 20) -> dict:
        """A JSON-serialisable account of every check: ``num_examples``, ``features``
        (source, shape, k, metric, or None), ``label_features`` (the same, and the checks
        they fed, when the neighbour-label checks searched features of their own; else
        None) and ``checks`` (name -> ``{"ran": False, "reason": ...}`` or the
        check's counts, thresholds, the ``top`` examples, at most ``max_sets`` duplicate
        sets as example indices (and ``example_ids`` when given), class pairs and the
        class health table)."""
        ids = None if example_ids is None else np.asarray(example_ids)

        def ident(i):
            out = {"index": int(i)}
            if ids is not None:
                v = ids[i]
                v = v.item() if isinstance(v, np.generic) else v
                out["example_id"] = v if isinstance(v, (str, int, float, bool)) else str(v)
            return out

        def records(frame):
            return [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
                    for row in frame.to_dict(orient="records")]

        checks: dict[str, dict] = {}
        for name in DATA_ISSUE_CHECKS:
            if name in self.not_run:
                checks[name] = {"ran": False, "reason": self.not_run[name]}
        if self.outlier_scores is not None:
            worst = np.argsort(-self.outlier_scores, kind="stable")[:top]
            checks["outliers"] = {
                "ran": True, "num_flagged": int(self.is_outlier.sum()),
                "threshold": float(self.outlier_threshold),
                "rule": "mean distance to the k nearest neighbours above exp(median + 3.5 x "
                        "1.4826 x MAD) of its logarithm",
                "top": [{**ident(i), "outlier_score": float(self.outlier_scores[i]),
                         "is_outlier": bool(self.is_outlier[i])} for i in worst]}
            if self.gaussian_outlier_scores is not None:
                far = np.argsort(-self.gaussian_outlier_scores, kind="stable")[:top]
                checks["outliers"]["gaussian"] = {
                    "rule": "Mahalanobis distance to one Ledoit-Wolf Gaussian of the features "
                            "(per feature space); ranked for review, not flagged",
                    "top": [{**ident(i), "outlier_score_gaussian":
                             float(self.gaussian_outlier_scores[i])} for i in far]}
        for name, dup in (("near_duplicates", self.near_duplicates),
                          ("exact_duplicates", self.exact_duplicates)):
            if dup is not None:
                checks[name] = {
                    "ran": True, "num_flagged": int(dup.is_duplicate.sum()),
                    "num_pairs": int(len(dup.pairs)), "num_sets": len(dup.sets),
                    "threshold": float(dup.threshold),
                    **({"pixel_threshold": dup.pixel_threshold}
                       if name == "near_duplicates" else {}),
                    **({"compared": self.inputs_source} if name == "exact_duplicates" else {}),
                    "sets": [[ident(i) for i in members] for members in dup.sets[:max_sets]]}
        if self.overlapping_classes is not None:
            checks["overlapping_classes"] = {"ran": True,
                                             "pairs": records(self.overlapping_classes.head(top))}
        if self.class_health is not None:
            checks["class_health"] = {
                "ran": True, "classes": records(self.class_health),
                **{k: (v.item() if isinstance(v, np.generic) else v)
                   for k, v in self.class_health.attrs.items()}}
        for name, res in (("knn_label_issues", self.knn), ("combined_label_issues", self.combined)):
            if res is not None:
                worst = np.argsort(res.label_quality_scores, kind="stable")[:top]
                checks[name] = {
                    "ran": True, "num_flagged": int(res.is_label_issue.sum()),
                    "knn_weight": float(res.knn_weight),
                    "top": [{**ident(i), "label_quality_score": float(res.label_quality_scores[i]),
                             "is_label_issue": bool(res.is_label_issue[i])} for i in worst]}
        features = label_features = None
        if self.features_source is not None:
            features = {"source": self.features_source, "shape": list(self.features_shape),
                        "k": self.k, "metric": self.metric}
        if self.label_features_source is not None:
            label_features = {"source": self.label_features_source,
                              "shape": list(self.label_features_shape), "k": self.k,
                              "metric": self.metric, "checks": list(LABEL_FEATURE_CHECKS)}
        return {"num_examples": self.num_examples, "features": features,
                "label_features": label_features,
                "checks": {name: checks[name] for name in DATA_ISSUE_CHECKS}}


def _present_classes(labels: np.ndarray, probs: np.ndarray):
    """The classes that have examples, and labels and probabilities over those alone:
    ``(present, labels_c, probs_c)``, ``present`` int64 (C,) class indices, ``labels_c``
    int64 (N,) in [0, C), ``probs_c`` float (N, C) with the columns of the classes without
    an example dropped and the rows renormalised (a row with no mass left: uniform). When
    every class has an example, ``labels`` and ``probs`` themselves. Internal helper of the
    class checks (here and in the audit's neighbour vote); inputs already validated."""
    k = probs.shape[1]
    present = np.flatnonzero(np.bincount(labels, minlength=k) > 0)
    if present.size == k:
        return present, labels, probs
    remap = np.full(k, -1, dtype=np.int64)
    remap[present] = np.arange(present.size)
    sub = probs[:, present]
    total = sub.sum(axis=1, keepdims=True)
    sub = np.where(total > 0, sub / np.where(total > 0, total, 1.0), 1.0 / present.size)
    return present, remap[labels], sub


def _gaussian_scores(x: np.ndarray, feature_spaces, seed) -> np.ndarray:
    """:func:`mahalanobis_outlier_scores` of ``x``, the Gaussian fitted separately to the
    rows of each feature space (a space of one row scores 0)."""
    n = x.shape[0]
    if feature_spaces is None:
        return mahalanobis_outlier_scores(x, seed=seed)
    spaces = np.asarray(feature_spaces)
    if spaces.shape != (n,) or not np.issubdtype(spaces.dtype, np.integer):
        raise ValueError(f"feature_spaces must be {n} integers (one per example), got "
                         f"{spaces.dtype} of shape {spaces.shape}")
    out = np.zeros(n, dtype=np.float64)
    for space in np.unique(spaces):
        rows = np.flatnonzero(spaces == space)
        if rows.size >= 2:
            out[rows] = mahalanobis_outlier_scores(x[rows], seed=seed)
    return out


def _widen(res: KNNLabelQuality, present: np.ndarray, n_classes: int) -> KNNLabelQuality:
    """``res`` with its probabilities over the classes ``present`` placed in K columns."""
    from dataclasses import replace

    def widen(a):
        out = np.zeros((a.shape[0], n_classes), dtype=np.float64)
        out[:, present] = a
        return out

    return replace(res, knn_pred_probs=widen(res.knn_pred_probs), pred_probs=widen(res.pred_probs))


def find_data_issues(labels, pred_probs, *, features=None, inputs=None, images=None,
                     class_names=None, is_label_issue=None, noise=None, k: int = 10,
                     metric: str = "cosine",
                     features_source: str | None = None, no_features_reason: str | None = None,
                     inputs_source: str | None = None, neighbors=None,
                     feature_spaces=None, label_features=None,
                     label_features_source: str | None = None, label_neighbors=None,
                     backend: str = "auto",
                     n_jobs: int | None = None, seed=0, log=None) -> DataIssues:
    """Run every data-issue check that the inputs allow, sharing one neighbour search.

    With ``features``: one :func:`nearest_neighbors` search (k neighbours, ``metric``)
    feeds :func:`outlier_scores` (+ :func:`outlier_threshold`; when the search is made
    here, the rows above the threshold re-scored exactly by :func:`refine_outlier_scores`),
    :func:`find_near_duplicates` (with ``images``, candidate pairs also compared by their
    pixels) and :func:`knn_label_quality` alone and combined with ``pred_probs`` (on
    ``label_features`` instead, with a search of their own, when those are given); the
    features also get :func:`mahalanobis_outlier_scores` (one Gaussian per feature space, a
    ranking without flags). With ``inputs``:
    :func:`find_exact_duplicates`. Always (labels and pred_probs):
    :func:`overlapping_classes` and :func:`class_health_summary` (its ``num_<check>``
    columns count the outliers and duplicates found). A class of the class list with no
    example is left out of the class checks (their pred_probs columns dropped, rows
    renormalised). A check that cannot run is recorded in ``DataIssues.not_run`` with the
    reason, never silently skipped.

    Args:
        labels: int array-like (N,), given labels in [0, K).
        pred_probs: float (N, K) out-of-sample predicted probabilities.
        features: float (N, D) or None.
        inputs: the raw examples for exact duplicates (an ndarray (N, ...), or a sequence
            of N arrays or ``bytes``), or None.
        images: the N images, for the near-duplicate pixel check (an ndarray (N, H, W[, C])
            or a sequence of images, see :func:`aligned_pixel_distance`), or None (features
            alone decide).
        class_names: K names (default the indices as strings).
        is_label_issue: bool (N,) flags of the headline detection (default:
            :func:`labelnoise.find_label_issues`), counted in the class health table.
        noise: the :class:`labelnoise.NoiseEstimate` of the same labels and pred_probs
            (used when every class has an example).
        k: neighbours (capped at N - 1).
        metric, backend, n_jobs, seed: see :func:`nearest_neighbors`.
        features_source: a sentence saying where ``features`` came from (for the report).
        no_features_reason: why there are no features (the reason of the feature checks).
        inputs_source: a sentence saying what ``inputs`` are (e.g. "the image files").
        neighbors: optional ``(distances, indices)`` (N, >= k) already found for
            ``features`` (e.g. by :func:`nearest_neighbors_by_fold`), used instead of a new
            search; ``features`` are then only checked and described.
        feature_spaces: optional int array-like (N,): which feature space each row of
            ``features`` lies in (e.g. the cross-validation fold whose network embedded it);
            the Gaussian of the Mahalanobis score is fitted per space. Default: one space.
        label_features: optional float (N, D2): the features of the two neighbour-label
            checks (kNN alone and combined with ``pred_probs``), searched on their own (k,
            ``metric``), when they should come from another view of the data than
            ``features``: a vote of neighbours found by the same network that produced
            ``pred_probs`` repeats what pred_probs already say, while a view no model
            learned from the labels errs differently (the multi-view premise of
            co-training, Blum and Mitchell 1998; the audit passes the images' patch view,
            ``benchmarks/results/audit.md``). They also let those two checks run when
            ``features`` is None. Default: ``features`` and their neighbours.
        label_features_source: a sentence saying where ``label_features`` came from.
        label_neighbors: optional ``(distances, indices)`` (N, >= k) already found for
            ``label_features``, used instead of their search.
        log: optional ``callable(str)`` told about each step.

    Returns:
        :class:`DataIssues`.

    Raises:
        ValueError: invalid labels/pred_probs; features or label_features that are not
            finite (N, D); ``neighbors`` or ``label_neighbors`` not (distances, indices) of
            shape (N, >= k); ``feature_spaces`` not N integers.
    """
    say = log or (lambda _msg: None)
    labels, pp = validate_labels_and_pred_probs(labels, pred_probs, require_all_classes=False)
    n, n_classes = pp.n, pp.k
    names = tuple(str(c) for c in (class_names if class_names is not None else range(n_classes)))
    if len(names) != n_classes:
        raise ValueError(f"class_names has {len(names)} entries but there are K = {n_classes} classes")
    k = check_int(k, "k", 1)
    validate_choice(metric, METRICS, "metric")
    probs = pp.materialize()
    not_run: dict[str, str] = {}
    found: dict = {}

    x = None
    if features is None:
        reason = no_features_reason or "no features were given"
        not_run.update({c: f"not run: {reason}" for c in FEATURE_CHECKS})
    else:
        x = validate_features(features, num_rows=n)
        if n < 3:
            not_run.update({c: f"not run: {n} examples are too few for neighbours" for c in FEATURE_CHECKS})
            x = None
    x_label = None
    if label_features is not None:
        x_label = validate_features(label_features, name="label_features", num_rows=n)
        if n >= 3:
            for c in LABEL_FEATURE_CHECKS:
                not_run.pop(c, None)
        else:
            x_label = None
    kk = None
    if x is not None:
        kk = min(k, n - 1)
        searched = neighbors is None
        if searched:
            say(f"nearest neighbours: {n} x {x.shape[1]} features, k = {kk}, {metric}")
            neighbors = nearest_neighbors(x, kk, metric=metric, backend=backend, n_jobs=n_jobs,
                                          seed=seed)
        else:
            dist, ind = _neighbors_or_search(x, neighbors, kk, metric, backend, n_jobs, seed)
            if dist.shape[0] != n:
                raise ValueError(f"neighbors has {dist.shape[0]} rows but there are {n} examples")
            neighbors = (dist[:, :kk], ind[:, :kk])
        scores = outlier_scores(k=kk, neighbors=neighbors)
        if searched:  # neighbours found here in x's space: re-score the flagged rows exactly
            scores, threshold, _ = refine_outlier_scores(x, scores, k=kk, metric=metric,
                                                         n_jobs=n_jobs)
        else:  # neighbours given (e.g. each fold's own feature space): used as they are
            threshold = outlier_threshold(scores)
        found["outlier_threshold"] = threshold
        found["outlier_scores"] = scores
        found["is_outlier"] = scores > found["outlier_threshold"]
        say("distance to the features' Gaussian (Mahalanobis, Ledoit-Wolf)")
        found["gaussian_outlier_scores"] = _gaussian_scores(x, feature_spaces, seed)
        if images is not None:
            say("near duplicates: candidate pairs compared by their pixels")
        found["near_duplicates"] = find_near_duplicates(x, k=kk, metric=metric, neighbors=neighbors,
                                                        images=images)
    if inputs is None:
        not_run["exact_duplicates"] = "not run: no raw inputs were given (only pred_probs)"
    else:
        say("exact duplicates: hashing the inputs")
        found["exact_duplicates"] = find_exact_duplicates(inputs)

    # class checks over the classes that have examples (pred_probs columns of empty classes
    # dropped, rows renormalised)
    present, lab_c, pp_c = _present_classes(labels, probs)
    if present.size == n_classes:
        names_c, noise_c = list(names), noise
    else:
        names_c, noise_c = [names[i] for i in present], None
    if x_label is None:
        label_neighbors = neighbors
    else:
        kk = min(k, n - 1)
        if label_neighbors is None:
            say(f"nearest neighbours of the label checks: {n} x {x_label.shape[1]} features, "
                f"k = {kk}, {metric}")
            label_neighbors = nearest_neighbors(x_label, kk, metric=metric, backend=backend,
                                                n_jobs=n_jobs, seed=seed)
        else:
            dist, ind = _neighbors_or_search(x_label, label_neighbors, kk, metric, backend,
                                             n_jobs, seed)
            if dist.shape[0] != n:
                raise ValueError(f"label_neighbors has {dist.shape[0]} rows but there are "
                                 f"{n} examples")
            label_neighbors = (dist[:, :kk], ind[:, :kk])
    if label_neighbors is not None:
        say("label issues from nearest neighbours")
        found["knn"] = knn_label_quality(None, lab_c, kk, metric=metric,
                                         neighbors=label_neighbors)
    if present.size < 2:
        for c in ("overlapping_classes", "class_health", "combined_label_issues"):
            not_run.setdefault(c, "not run: fewer than 2 classes have examples")
    else:
        say("overlapping classes and class health")
        found["overlapping_classes"] = overlapping_classes(lab_c, pp_c, class_names=names_c,
                                                           noise=noise_c)
        masks = {key: m for key, m in (
            ("outliers", found.get("is_outlier")),
            ("near_duplicates", getattr(found.get("near_duplicates"), "is_duplicate", None)),
            ("exact_duplicates", getattr(found.get("exact_duplicates"), "is_duplicate", None)),
        ) if m is not None}
        found["class_health"] = class_health_summary(
            lab_c, pp_c, class_names=names_c, is_label_issue=is_label_issue, issues=masks,
            noise=noise_c)
        if label_neighbors is not None:
            found["combined"] = knn_label_quality(None, lab_c, kk, pred_probs=pp_c,
                                                  metric=metric, neighbors=label_neighbors)
    if present.size < n_classes:  # probabilities back over the K classes of the list
        for key in ("knn", "combined"):
            if key in found:
                found[key] = _widen(found[key], present, n_classes)
    return DataIssues(
        num_examples=n, features_source=None if x is None else features_source or "features",
        features_shape=None if x is None else tuple(int(d) for d in x.shape), k=kk,
        label_features_source=None if x_label is None else label_features_source or "label_features",
        label_features_shape=None if x_label is None else tuple(int(d) for d in x_label.shape),
        metric=metric, not_run=not_run, class_names=names,
        inputs_source=None if inputs is None else inputs_source or "the inputs", **found)


__all__ = [
    "ANN_RECALL",
    "ANN_RECALL_SAMPLE",
    "AUTO_EXACT_PAIRS",
    "DATA_ISSUE_CHECKS",
    "DataIssues",
    "DataIssuesWarning",
    "Duplicates",
    "HNSW_EF_MAX",
    "HNSW_M",
    "IVF_CELLS_PER_SQRT_N",
    "IVF_NPROBE_MIN",
    "KNNLabelQuality",
    "MAHALANOBIS_FIT_ROWS",
    "NEAR_DUPLICATE_FRACTION",
    "OUTLIER_Z",
    "PIXEL_CANDIDATE_FRACTION",
    "PIXEL_DUPLICATE_THRESHOLD",
    "PIXEL_MAX_SHIFT",
    "PIXEL_RESOLUTION",
    "aligned_pixel_distance",
    "class_health_summary",
    "class_imbalance",
    "find_data_issues",
    "find_exact_duplicates",
    "find_near_duplicates",
    "find_outliers",
    "knn_label_quality",
    "knn_pred_probs",
    "knn_weight_ml",
    "mahalanobis_outlier_scores",
    "nearest_neighbors",
    "nearest_neighbors_by_fold",
    "near_duplicate_threshold",
    "outlier_scores",
    "outlier_threshold",
    "overlapping_classes",
    "prototype_label_quality",
    "refine_outlier_scores",
    "validate_features",
]
