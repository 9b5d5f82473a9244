"""Write cleanlab 2.9.0's outputs on a grid of options as test fixtures (no cleanlab in CI).

``tests/test_cleanlab_parity.py`` compares labelnoise against the files this script writes
into ``tests/fixtures/cleanlab/``; that test needs neither cleanlab nor network. Run this
script again (it overwrites the folder's files) only to refresh the fixtures, with the
optional ``bench`` extra installed (``pip install -e .[bench]``: cleanlab 2.9.0, AGPL, used
here as an external program; the library never imports it)::

    python benchmarks/make_cleanlab_fixtures.py [--data DIR] [--out tests/fixtures/cleanlab]

Inputs (every random draw seeded):

* small constructed problems: class-conditional noise on Dirichlet pred_probs; exact ties
  (probabilities on a 1/8 grid; separately, two-way argmax ties and duplicated rows); tiny classes of 1
  and 3 examples; a class that is never the argmax; and the smallest problem found, over
  seeds, where cleanlab's order in its prune counts (truncate the float counts to integers,
  then row-rounding, which is then the identity) and the other order (round the float
  counts preserving row totals) give different masks;
* ``--rows`` rows (default 2,000; a seeded uniform sample without replacement, kept in
  file order) of each of the three label-error benchmarks in
  ``<shared>/data/label-error-benchmarks`` (one model each). Not the first rows: the
  benchmark rows follow the cross-validation folds, and the first 2,000 rows of cifar-10s
  have no example of class 3. That data is AGPL-3.0 (see its PROVENANCE.md) and is
  never written here: a slice's file holds only its row indices (``rows``) and cleanlab's
  outputs, the manifest names the dataset, the model and the sha256 of both input files,
  and the test reads ``pred_probs.npy`` and ``noisy_labels.npy`` from the shared folder
  (skipping when it is absent).

Outputs per problem, one ``<case>.npz`` (load with ``allow_pickle=False``):

* ``labels`` (int64) and ``pred_probs`` (float64): constructed problems only;
* ``masks`` (uint8, one ``numpy.packbits`` row per grid point; unpack with ``count=N``)
  and ``mask_keys`` (str, ``<filter_by>__f<frac_noise>__m<min_examples_per_class>``):
  cleanlab's ``find_label_issues`` mask (``n_jobs=1``) for all seven ``filter_by`` values
  x ``FRAC_NOISE`` x ``MIN_EXAMPLES``;
* ``score__<method>``: ``get_label_quality_scores`` for the three classic methods
  (constructed problems). A benchmark slice stores instead ``score_signs`` (``SKETCH``
  rows of random +-1 signs, packed like the masks; 1 means +1) and
  ``score_sketch__<method>`` (``SKETCH`` float64 sums of the scores times each row of
  signs): the self_confidence score is ``pred_probs[i, labels[i]]`` itself, so the
  per-example scores would copy the benchmark's values;
* ``confident_joint`` (calibrated), ``confident_joint_raw`` and ``off_diagonal`` (the
  uncalibrated joint and the indices it counts off its diagonal), ``prior``,
  ``noise_matrix``, ``inverse_noise_matrix`` (``estimate_latent``), ``joint``
  (``estimate_joint``) and ``num_label_issues`` (``off_diagonal``) from ``cleanlab.count``;
* for masks that depend on how exact ties at a cut-off are broken: ``tie_keys``, and
  ``masks_all`` and ``masks_any`` (packed like ``masks``), the examples flagged under every
  and under some tie-break. They come from cleanlab's counts and keys with each cut-off
  tie resolved both ways (:func:`_envelope`), checked against cleanlab re-run on the
  reversed rows and ``--permutations`` seeded row permutations. The test then asks for a
  mask between the two instead of equality (the tie-break of ``numpy.argsort`` may differ
  between machines, and labelnoise breaks ties its own way).

``prune_counts.npz`` holds cleanlab's ``filter._keep_at_least_n_per_class`` (private) on
hand-built transposed confident joints, and ``manifest.json`` names cleanlab's and
numpy's versions, the date, the grid, every case with its source, and the keys that are
tie-dependent or where the other rounding order would change the mask.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import warnings
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "tests" / "fixtures" / "cleanlab"
DEFAULT_DATA = REPO.parent / "shared" / "data" / "label-error-benchmarks"
CLEANLAB_VERSION = "2.9.0"

FILTERS = (
    "prune_by_noise_rate",
    "prune_by_class",
    "both",
    "confident_learning",
    "predicted_neq_given",
    "low_normalized_margin",
    "low_self_confidence",
)
PRUNE_FILTERS = ("prune_by_noise_rate", "prune_by_class", "both")
FRAC_NOISE = (1.0, 0.5, 0.2)
MIN_EXAMPLES = (0, 1, 5)
#: (n, frac_noise) grid of the direct ``_keep_at_least_n_per_class`` fixtures
PRUNE_N = (0, 1, 3, 5, 12)
PRUNE_FRAC = (1.0, 0.5, 0.33, 0.2)
METHODS = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")
#: (dataset, model) of the benchmark slices
BENCHMARKS = (
    ("cifar-10n-aggregate", "resnet18"),
    ("cifar-10n-worst", "resnet50d"),
    ("cifar-10s", "efficientnet_b1"),
)
#: random-sign sums of the scores stored per benchmark slice
SKETCH = 16


def mask_key(filter_by: str, frac_noise: float, min_examples: int) -> str:
    """The name of one grid point's mask (in ``mask_keys``)."""
    return f"{filter_by}__f{frac_noise:g}__m{min_examples}"


def _grid(key: str) -> tuple[str, float, int]:
    """(filter_by, frac_noise, min_examples_per_class) of a :func:`mask_key`."""
    filter_by, frac, m = key.split("__")
    return filter_by, float(frac[1:]), int(m[1:])


# ---------------------------------------------------------------- constructed problems


def _noisy_labels(rng: np.random.Generator, true: np.ndarray, k: int, rate: float) -> np.ndarray:
    """Flip a ``rate`` fraction of ``true`` to a uniformly drawn other class."""
    given = true.copy()
    flip = rng.random(true.size) < rate
    given[flip] = (true[flip] + rng.integers(1, k, flip.sum())) % k
    return given


def _dirichlet_problem(seed: int, n: int, k: int, rate: float, sharp: float = 4.0):
    """Given labels with ``rate`` uniform noise and pred_probs peaked on the true class."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    alpha = np.ones((n, k))
    alpha[np.arange(n), true] = sharp
    pp = rng.gamma(alpha)
    pp /= pp.sum(axis=1, keepdims=True)
    return _noisy_labels(rng, true, k, rate), pp


def _ties_problem(seed: int = 11):
    """K = 3, N = 120, every probability a multiple of 1/8 (rows sum to exactly 1), many
    duplicated rows and rows whose two largest entries tie."""
    rng = np.random.default_rng(seed)
    n, k = 120, 3
    grid = [np.array(r, dtype=np.float64) / 8 for r in
            ([8, 0, 0], [6, 1, 1], [5, 2, 1], [4, 4, 0], [4, 2, 2], [3, 3, 2], [7, 1, 0])]
    rows = []
    true = rng.integers(0, k, n)
    for t in true:
        r = grid[rng.integers(len(grid))]
        rows.append(np.roll(r, t))  # the largest entry on the true class (or tied with it)
    pp = np.stack(rows)
    given = _noisy_labels(rng, true, k, 0.25)
    return given, pp


def _argmax_ties_problem(seed: int = 14):
    """K = 4, N = 300, 20% noise; in a third of the rows the two largest probabilities are
    made exactly equal (argmax ties, half of them involving the given label), and 30 rows
    are exact copies of other rows."""
    labels, pp = _dirichlet_problem(seed, 300, 4, 0.2, sharp=3.0)
    rng = np.random.default_rng(seed + 1)
    rows = rng.choice(300, 100, replace=False)
    for r in rows:
        top = np.argsort(pp[r])[-2:]
        if r % 2 and labels[r] not in top:
            top = np.array([top[-1], labels[r]])
        pp[r, top] = pp[r, top].sum() / 2
    src = rng.choice(300, 30, replace=False)
    dst = rng.choice(np.setdiff1d(np.arange(300), src), 30, replace=False)
    pp[dst] = pp[src]
    return labels, pp


def _tiny_class_problem(seed: int = 12):
    """K = 4, N = 150: class 2 has 3 examples, class 3 one example (mislabelled)."""
    labels, pp = _dirichlet_problem(seed, 146, 2, 0.15)
    rng = np.random.default_rng(seed + 1)
    big = np.hstack([pp * 0.9, rng.dirichlet(np.ones(2), size=146) * 0.1])
    tiny = np.array([
        [0.05, 0.05, 0.85, 0.05],  # class 2, clean
        [0.10, 0.10, 0.70, 0.10],  # class 2, clean
        [0.80, 0.10, 0.05, 0.05],  # class 2, looks like 0
        [0.15, 0.70, 0.05, 0.10],  # class 3, looks like 1
    ])
    pp = np.vstack([big, tiny])
    labels = np.concatenate([labels, [2, 2, 2, 3]])
    pp /= pp.sum(axis=1, keepdims=True)
    return labels, pp


def _never_predicted_problem(seed: int = 13):
    """K = 4, N = 200: class 3 is given to about 10% of the examples but is never the
    argmax of pred_probs."""
    labels, pp = _dirichlet_problem(seed, 200, 4, 0.2)
    pp[:, 3] = np.minimum(pp[:, 3], 0.5 * pp[:, :3].max(axis=1))
    pp /= pp.sum(axis=1, keepdims=True)
    return labels, pp


# ---------------------------------------------------------------- running cleanlab


def _round_first_reduce(prune_count_matrix: np.ndarray, frac_noise: float = 1.0) -> np.ndarray:
    """The ``frac_noise`` step kept in floats: reduce every noise cell by ``frac_noise``,
    move what was removed onto the column's diagonal, and do not cast (so the row rounding
    that follows really rounds). Used only to find inputs where the order matters."""
    m = np.asarray(prune_count_matrix, dtype=np.float64)
    out = m * frac_noise
    removed = m - out
    np.fill_diagonal(removed, 0.0)
    np.fill_diagonal(out, m.diagonal() + removed.sum(axis=0))
    return out


def _masks(labels: np.ndarray, pp: np.ndarray) -> dict[str, np.ndarray]:
    """cleanlab's masks over the whole grid."""
    from cleanlab import filter as cf

    out = {}
    for f in FILTERS:
        for frac in FRAC_NOISE:
            for m in MIN_EXAMPLES:
                out[mask_key(f, frac, m)] = np.asarray(cf.find_label_issues(
                    labels, pp, filter_by=f, frac_noise=frac, min_examples_per_class=m,
                    n_jobs=1), dtype=bool)
    return out


def _round_first_masks(labels: np.ndarray, pp: np.ndarray) -> dict[str, np.ndarray]:
    """The prune masks with cleanlab's frac_noise step replaced by :func:`_round_first_reduce`."""
    from cleanlab import filter as cf

    original = cf._reduce_prune_counts
    cf._reduce_prune_counts = _round_first_reduce
    try:
        out = {}
        for f in PRUNE_FILTERS:
            for frac in FRAC_NOISE:
                for m in MIN_EXAMPLES:
                    out[mask_key(f, frac, m)] = np.asarray(cf.find_label_issues(
                        labels, pp, filter_by=f, frac_noise=frac, min_examples_per_class=m,
                        n_jobs=1), dtype=bool)
    finally:
        cf._reduce_prune_counts = original
    return out


def _cut(values: np.ndarray, num: int) -> tuple[np.ndarray, np.ndarray]:
    """(surely, possibly) selected when ``num`` of the largest ``values`` are taken with
    ties broken arbitrarily: everything above the ``num``-th largest value is taken; the
    entries equal to it are taken all when they all fit, else some of them."""
    if num <= 0:
        empty = np.zeros(values.size, dtype=bool)
        return empty, empty
    if num >= values.size:
        full = np.ones(values.size, dtype=bool)
        return full, full
    v = np.sort(values)[::-1][num - 1]
    possibly = values >= v
    surely = possibly.copy() if possibly.sum() == num else values > v
    return surely, possibly


def _envelope(labels: np.ndarray, pp: np.ndarray, filter_by: str, frac_noise: float,
              min_examples: int) -> tuple[np.ndarray, np.ndarray]:
    """(flagged under every tie-break, flagged under some tie-break) of cleanlab's
    ``find_label_issues``: its counts (prune counts, number of issues) and keys (own-class
    probability, margin, score), with every cut-off tie resolved both ways."""
    from cleanlab import count as cc
    from cleanlab import filter as cf
    from cleanlab import rank as cr

    n, k = pp.shape
    if filter_by in ("low_self_confidence", "low_normalized_margin"):
        scores = cr.get_label_quality_scores(labels, pp, method=filter_by[4:])
        return _cut(-scores, int(cc.num_label_issues(labels, pp)))
    if filter_by not in PRUNE_FILTERS:  # no cut-off: no tie-break
        mask = np.asarray(cf.find_label_issues(labels, pp, filter_by=filter_by, n_jobs=1))
        return mask, mask
    pcm = cf._keep_at_least_n_per_class(cc.compute_confident_joint(labels, pp).T,
                                        min_examples, frac_noise=frac_noise)
    env = {}
    for by in ("class", "noise_rate"):
        surely, possibly = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        for c in range(k):
            rows = np.flatnonzero(labels == c)
            if rows.size <= min_examples:
                continue
            cuts = ([_cut(-pp[rows, c], rows.size - int(pcm[c, c]))] if by == "class" else
                    [_cut(pp[rows, j] - pp[rows, c], int(pcm[j, c]))
                     for j in range(k) if j != c and pcm[j, c] > 0])
            for s_, p_ in cuts:
                surely[rows[s_]] = True
                possibly[rows[p_]] = True
        env[by] = surely, possibly
    if filter_by == "both":
        surely = env["class"][0] & env["noise_rate"][0]
        possibly = env["class"][1] & env["noise_rate"][1]
    else:
        surely, possibly = env["class" if filter_by == "prune_by_class" else "noise_rate"]
    keep = np.asarray(cf._reduce_issues(pp, labels), dtype=bool)
    return surely & ~keep, possibly & ~keep


def _tie_envelopes(labels: np.ndarray, pp: np.ndarray, masks: dict, permutations: int,
                   seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The :func:`_envelope` of every mask that depends on how ties are broken. Checked:
    cleanlab's mask on the original order, its reverse and ``permutations`` seeded row
    permutations all lie in the envelope, and the envelope is a single mask exactly when
    they all agree (up to the permutations tried)."""
    rng = np.random.default_rng(seed)
    perms = [np.arange(labels.size)[::-1]] + [rng.permutation(labels.size) for _ in range(permutations)]
    seen = {key: [mask] for key, mask in masks.items()}
    for perm in perms:
        for key, mask in _masks(labels[perm], pp[perm]).items():
            back = np.empty_like(mask)
            back[perm] = mask
            seen[key].append(back)
    out = {}
    for key, observed in seen.items():
        surely, possibly = _envelope(labels, pp, *_grid(key))
        for mask in observed:
            assert not np.any(surely & ~mask) and not np.any(mask & ~possibly), key
        if not np.array_equal(surely, possibly):
            out[key] = surely, possibly
        else:
            assert all(np.array_equal(mask, surely) for mask in observed), key
    return out


def _count_outputs(labels: np.ndarray, pp: np.ndarray) -> dict[str, np.ndarray]:
    """cleanlab.count's confident joints, latent estimates and number of issues."""
    from cleanlab import count as cc

    cj = cc.compute_confident_joint(labels, pp)
    raw, off = cc.compute_confident_joint(labels, pp, calibrate=False,
                                          return_indices_of_off_diagonals=True)
    prior, nm, inv = cc.estimate_latent(cj, labels)
    return {
        "confident_joint": np.asarray(cj, dtype=np.int64),
        "confident_joint_raw": np.asarray(raw, dtype=np.int64),
        "off_diagonal": np.sort(np.asarray(off, dtype=np.int64)),
        "prior": np.asarray(prior, dtype=np.float64),
        "noise_matrix": np.asarray(nm, dtype=np.float64),
        "inverse_noise_matrix": np.asarray(inv, dtype=np.float64),
        "joint": np.asarray(cc.estimate_joint(labels, pp, confident_joint=cj), dtype=np.float64),
        "num_label_issues": np.array(int(cc.num_label_issues(labels, pp)), dtype=np.int64),
    }


def _scores(labels: np.ndarray, pp: np.ndarray) -> dict[str, np.ndarray]:
    """cleanlab's three classic label-quality scores."""
    from cleanlab import rank as cr

    return {f"score__{m}": np.asarray(cr.get_label_quality_scores(labels, pp, method=m),
                                      dtype=np.float64) for m in METHODS}


def _rounding_order_problem(max_seed: int = 500):
    """The smallest seeded Dirichlet problem (N from 24 up, K = 3, 30% noise) whose
    non-tie-dependent masks differ between cleanlab's order and the round-first order."""
    for n in (24, 32, 48, 64):
        for seed in range(max_seed):
            labels, pp = _dirichlet_problem(1000 + seed, n, 3, 0.3, sharp=3.0)
            if np.bincount(labels, minlength=3).min() == 0:
                continue
            ours = _masks(labels, pp)
            other = _round_first_masks(labels, pp)
            differs = [k for k in other if not np.array_equal(other[k], ours[k])]
            if differs and not _tie_envelopes(labels, pp, ours, 4, seed):
                return labels, pp, {"n": n, "seed": 1000 + seed}
    raise RuntimeError("no problem found where the rounding order changes a mask")


# ---------------------------------------------------------------- writing


def _savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``numpy.savez_compressed`` with a fixed timestamp on every member, so that a re-run
    with the same cleanlab and numpy writes byte-identical files; never pickles."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, value in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(value), allow_pickle=False)


def _score_sketch(labels: np.ndarray, pp: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """``score_signs`` and ``score_sketch__<method>`` of a benchmark slice (see the module
    docstring): ``SKETCH`` sums, not the per-example scores."""
    signs = np.random.default_rng(seed).integers(0, 2, (SKETCH, labels.size)).astype(bool)
    pm = np.where(signs, 1.0, -1.0)
    out = {"score_signs": np.packbits(signs, axis=1)}
    for key, scores in _scores(labels, pp).items():
        out[key.replace("score__", "score_sketch__")] = pm @ scores
    return out


def _write_case(out: Path, name: str, labels: np.ndarray, pp: np.ndarray, source: dict,
                permutations: int, seed: int, store_inputs: bool = True,
                extra: dict | None = None) -> dict:
    """Run cleanlab on one problem and write ``<name>.npz``; returns its manifest entry.
    With ``store_inputs=False`` (benchmark slices) the file holds neither ``labels`` nor
    ``pred_probs`` nor per-example scores, only cleanlab's outputs and ``extra``."""
    labels = np.asarray(labels, dtype=np.int64)
    pp = np.asarray(pp, dtype=np.float64)
    masks = _masks(labels, pp)
    ties = _tie_envelopes(labels, pp, masks, permutations, seed)
    other = _round_first_masks(labels, pp)
    tie_keys = sorted(ties)
    packed = (labels.size + 7) // 8

    def stack(rows: list) -> np.ndarray:
        return np.array(rows, dtype=np.uint8).reshape(len(rows), packed)

    arrays = {
        "mask_keys": np.array(list(masks), dtype="<U64"),
        "masks": stack([np.packbits(mask) for mask in masks.values()]),
        "tie_keys": np.array(tie_keys, dtype="<U64"),
        "masks_all": stack([np.packbits(ties[k][0]) for k in tie_keys]),
        "masks_any": stack([np.packbits(ties[k][1]) for k in tie_keys]),
    }
    if store_inputs:
        arrays = {"labels": labels, "pred_probs": pp, **arrays, **_scores(labels, pp)}
    else:
        arrays.update(_score_sketch(labels, pp, seed=500 + seed))
    arrays.update(extra or {})
    arrays.update(_count_outputs(labels, pp))
    path = out / f"{name}.npz"
    _savez(path, arrays)
    return {
        "file": path.name,
        "n": int(labels.size),
        "k": int(pp.shape[1]),
        "label_counts": np.bincount(labels, minlength=pp.shape[1]).tolist(),
        "source": source,
        "tie_dependent": sorted(ties),
        "round_first_differs": sorted(k for k in other if not np.array_equal(other[k], masks[k])),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }


def _prune_count_matrices() -> dict[str, np.ndarray]:
    """Hand-built transposed confident joints (rows = true, columns = given). At ``n = 1,
    frac_noise = 0.5`` the float counts of ``a`` have row totals 16, 13, 13, which rounding
    first would keep; cleanlab truncates first and gets 15, 12, 12."""
    return {
        "a": np.array([[6, 3, 6], [7, 6, 1], [4, 3, 6]]),
        "b": np.array([[2, 5, 0, 1], [7, 1, 3, 0], [0, 2, 40, 5], [1, 0, 9, 0]]),
        "c": np.array([[0, 1], [3, 1]]),
    }


def _write_prune_counts(out: Path) -> dict:
    """cleanlab's ``_keep_at_least_n_per_class`` on :func:`_prune_count_matrices` for every
    ``n`` in ``PRUNE_N`` and ``frac_noise`` in ``PRUNE_FRAC``: per matrix ``input__<m>``
    (K, K) and ``output__<m>`` (len(PRUNE_N), len(PRUNE_FRAC), K, K)."""
    from cleanlab import filter as cf

    arrays = {"n": np.array(PRUNE_N, dtype=np.int64),
              "frac_noise": np.array(PRUNE_FRAC, dtype=np.float64)}
    for name, m in _prune_count_matrices().items():
        arrays[f"input__{name}"] = m.astype(np.int64)
        arrays[f"output__{name}"] = np.array(
            [[cf._keep_at_least_n_per_class(m, n, frac_noise=f) for f in PRUNE_FRAC]
             for n in PRUNE_N], dtype=np.int64)
    path = out / "prune_counts.npz"
    _savez(path, arrays)
    return {"file": path.name, "matrices": sorted(_prune_count_matrices()),
            "n": list(PRUNE_N), "frac_noise": list(PRUNE_FRAC),
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def main(argv=None) -> None:
    """Write the fixtures; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="the label-error-benchmarks folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--rows", type=int, default=2000, help="rows per benchmark slice")
    parser.add_argument("--permutations", type=int, default=8,
                        help="seeded row permutations for the tie check of the small problems")
    args = parser.parse_args(argv)

    import cleanlab

    if cleanlab.__version__ != CLEANLAB_VERSION:
        raise SystemExit(f"needs cleanlab {CLEANLAB_VERSION}, found {cleanlab.__version__}")
    warnings.simplefilter("ignore")  # cleanlab warns on tiny classes and unused frac_noise
    args.out.mkdir(parents=True, exist_ok=True)
    for old in args.out.glob("*.npz"):
        old.unlink()

    cases = {}
    small = {
        "dirichlet_k3": (_dirichlet_problem(0, 300, 3, 0.2),
                         "Dirichlet-like pred_probs, K=3, N=300, 20% uniform noise, seed 0"),
        "dirichlet_k5": (_dirichlet_problem(1, 500, 5, 0.3, sharp=2.5),
                         "K=5, N=500, 30% uniform noise, flat pred_probs, seed 1"),
        "dirichlet_k10": (_dirichlet_problem(2, 400, 10, 0.15, sharp=6.0),
                          "K=10, N=400, 15% uniform noise, seed 2"),
        "ties": (_ties_problem(), "K=3, N=120, probabilities on a 1/8 grid: exact ties, seed 11"),
        "argmax_ties": (_argmax_ties_problem(),
                        "K=4, N=300, exact two-way argmax ties in a third of the rows, "
                        "30 duplicated rows, seed 14"),
        "tiny_class": (_tiny_class_problem(), "K=4, N=150, classes of 3 and 1 examples, seed 12"),
        "never_predicted": (_never_predicted_problem(),
                            "K=4, N=200, class 3 given but never the argmax, seed 13"),
    }
    for i, (name, ((labels, pp), text)) in enumerate(small.items()):
        cases[name] = _write_case(args.out, name, labels, pp, {"kind": "constructed", "text": text},
                                  args.permutations, seed=100 + i)
        print(name, "tie-dependent:", len(cases[name]["tie_dependent"]),
              "round-first differs:", len(cases[name]["round_first_differs"]))
    labels, pp, found = _rounding_order_problem()
    cases["rounding_order"] = _write_case(
        args.out, "rounding_order", labels, pp,
        {"kind": "constructed", "text": f"K=3, 30% noise, smallest seeded problem where the "
                                        f"rounding order changes a mask: {found}"},
        args.permutations, seed=200)
    print("rounding_order", found, cases["rounding_order"]["round_first_differs"])

    for i, (dataset, model) in enumerate(BENCHMARKS):
        d = args.data / dataset / model
        full = np.load(d / "pred_probs.npy", mmap_mode="r", allow_pickle=False)
        rows = np.sort(np.random.default_rng(400 + i).choice(full.shape[0], args.rows,
                                                             replace=False))
        labels = np.load(d / "noisy_labels.npy", allow_pickle=False)[rows]
        pp = np.array(full[rows], dtype=np.float64)
        name = f"{dataset}_{model}_{args.rows}".replace("-", "_")
        source = {"kind": "benchmark slice", "dataset": dataset, "model": model,
                  "files": f"label-error-benchmarks/{dataset}/{model}/"
                           "{pred_probs.npy, noisy_labels.npy}, read by the test, not stored",
                  "rows": f"{args.rows} of {full.shape[0]}, numpy default_rng({400 + i}).choice "
                          "without replacement, sorted; stored as 'rows'",
                  "pred_probs_sha256": hashlib.sha256((d / "pred_probs.npy").read_bytes()).hexdigest(),
                  "noisy_labels_sha256": hashlib.sha256(
                      (d / "noisy_labels.npy").read_bytes()).hexdigest(),
                  "text": "label-error-benchmarks (Kuan and Mueller 2022, AGPL-3.0), see its "
                          "PROVENANCE.md"}
        cases[name] = _write_case(args.out, name, labels, pp, source, 4, seed=300 + i,
                                  store_inputs=False, extra={"rows": rows.astype(np.int32)})
        print(name, "tie-dependent:", len(cases[name]["tie_dependent"]),
              "round-first differs:", len(cases[name]["round_first_differs"]))

    manifest = {
        "generator": "benchmarks/make_cleanlab_fixtures.py",
        "cleanlab_version": cleanlab.__version__,
        "numpy_version": np.__version__,
        "date": datetime.date.today().isoformat(),
        "grid": {"filter_by": list(FILTERS), "frac_noise": list(FRAC_NOISE),
                 "min_examples_per_class": list(MIN_EXAMPLES)},
        "scores": list(METHODS),
        "score_sketch": SKETCH,
        "mask_key": "<filter_by>__f<frac_noise:g>__m<min_examples_per_class>",
        "cases": cases,
        "prune_counts": _write_prune_counts(args.out),
    }
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    total = sum(p.stat().st_size for p in args.out.iterdir())
    print(f"{len(cases)} cases, {total / 1024:.0f} KiB in {args.out}")


if __name__ == "__main__":
    main()
