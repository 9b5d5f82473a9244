"""Parity with cleanlab 2.9.0 against stored outputs: no cleanlab and no network needed.

The fixtures in ``tests/fixtures/cleanlab/`` were written by
``benchmarks/make_cleanlab_fixtures.py`` (cleanlab 2.9.0; see its docstring and
``manifest.json``): cleanlab's ``find_label_issues`` masks for its seven ``filter_by``
methods x ``frac_noise`` x ``min_examples_per_class``, its three classic label-quality
scores and its confident joint / latent estimates, on small constructed problems (exact
ties, tiny classes, a class never predicted) and on 2,000-row slices of the three
label-error benchmarks.

The constructed problems are stored with their inputs. The benchmark data is AGPL-3.0
and is not in this repository: a slice's fixture holds only its row indices and
cleanlab's outputs, its inputs are read from ``<shared>/data/label-error-benchmarks/
<dataset>/<model>/`` (the ``shared_data`` fixture of ``conftest.py``; the tests of a
slice skip when that folder is absent), and its scores are compared through random-sign
sums (``score_sketch__<method>``) instead of per example.

Masks must be identical. Where cleanlab's own mask changes under a row permutation
(exact ties at a prune or sort cut-off; listed as ``tie_keys``), labelnoise's mask must
contain every example cleanlab flagged under all permutations and nothing it flagged
under none.
"""

from __future__ import annotations

import functools
import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import labelnoise
from labelnoise import count
from labelnoise import filter as lfilter

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "cleanlab"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
CASES = sorted(MANIFEST["cases"])
SCORE_ATOL = 1e-9


def _load(case: str) -> dict[str, np.ndarray]:
    with np.load(FIXTURES / MANIFEST["cases"][case]["file"], allow_pickle=False) as z:
        return {key: z[key] for key in z.files}


def _is_slice(case: str) -> bool:
    return MANIFEST["cases"][case]["source"]["kind"] == "benchmark slice"


@functools.cache
def _benchmark_slice(case: str, shared_data: Path) -> tuple[np.ndarray, np.ndarray]:
    """(labels, pred_probs) of a benchmark slice, read from the shared data."""
    source = MANIFEST["cases"][case]["source"]
    folder = shared_data / "label-error-benchmarks" / source["dataset"] / source["model"]
    files = {name: folder / f"{name}.npy" for name in ("pred_probs", "noisy_labels")}
    if not all(f.is_file() for f in files.values()):
        pytest.skip(f"benchmark data not found in {folder}")
    for name, f in files.items():
        digest = hashlib.sha256(f.read_bytes()).hexdigest()
        assert digest == source[f"{name}_sha256"], f"{f} is not the file the fixture was made from"
    rows = _load(case)["rows"].astype(np.int64)
    labels = np.load(files["noisy_labels"], allow_pickle=False)[rows].astype(np.int64)
    pp = np.array(np.load(files["pred_probs"], mmap_mode="r", allow_pickle=False)[rows],
                  dtype=np.float64)
    labels.flags.writeable = pp.flags.writeable = False  # cached: shared by the tests
    return labels, pp


def _inputs(case: str, request) -> tuple[np.ndarray, np.ndarray]:
    """(labels, pred_probs) of a case: stored, or read from the shared benchmark data."""
    if _is_slice(case):
        return _benchmark_slice(case, request.getfixturevalue("shared_data"))
    d = _load(case)
    return d["labels"].astype(np.int64), d["pred_probs"].astype(np.float64)


def _grid(key: str) -> tuple[str, float, int]:
    """(filter_by, frac_noise, min_examples_per_class) of a mask key."""
    filter_by, frac, m = key.split("__")
    return filter_by, float(frac[1:]), int(m[1:])


def _unpack(packed: np.ndarray, n: int) -> np.ndarray:
    return np.unpackbits(packed, count=n).astype(bool)


def test_manifest_covers_the_grid():
    assert MANIFEST["cleanlab_version"] == "2.9.0"
    assert set(MANIFEST["grid"]["filter_by"]) == set(lfilter.CLEANLAB_FILTERS)
    assert len(CASES) >= 10
    for case in CASES:
        d = _load(case)
        keys = {_grid(str(k)) for k in d["mask_keys"]}
        grid = MANIFEST["grid"]
        assert len(keys) == d["masks"].shape[0] == (
            len(grid["filter_by"]) * len(grid["frac_noise"]) * len(grid["min_examples_per_class"]))
        if _is_slice(case):  # the benchmark's own values are not stored
            assert not {"labels", "pred_probs"} & set(d)
            assert not [key for key in d if key.startswith("score__")]
            assert d["rows"].size == MANIFEST["cases"][case]["n"]


@pytest.mark.parametrize("case", CASES)
def test_masks_match_cleanlab(case, request):
    d = _load(case)
    labels, pp = _inputs(case, request)
    n = labels.size
    ties = {str(k): i for i, k in enumerate(d["tie_keys"])}
    wrong = []
    for key, packed in zip(d["mask_keys"], d["masks"]):
        key = str(key)
        filter_by, frac, m = _grid(key)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # classes with <= min_examples_per_class examples
            ours = labelnoise.find_label_issues(labels, pp, filter_by=filter_by, frac_noise=frac,
                                                min_examples_per_class=m)
        if key in ties:
            every = _unpack(d["masks_all"][ties[key]], n)
            some = _unpack(d["masks_any"][ties[key]], n)
            if np.any(every & ~ours) or np.any(ours & ~some):
                wrong.append(f"{key} (tie-dependent): {int((every & ~ours).sum())} missed, "
                             f"{int((ours & ~some).sum())} never flagged by cleanlab")
        else:
            theirs = _unpack(packed, n)
            if not np.array_equal(ours, theirs):
                wrong.append(f"{key}: {int((ours != theirs).sum())} of {n} differ "
                             f"(ours {int(ours.sum())}, cleanlab {int(theirs.sum())} flagged)")
    assert not wrong, f"{case}: " + "; ".join(wrong)


@pytest.mark.parametrize("case", CASES)
def test_scores_match_cleanlab(case, request):
    d = _load(case)
    labels, pp = _inputs(case, request)
    for method in MANIFEST["scores"]:
        ours = labelnoise.label_quality_scores(labels, pp, method=method)
        if _is_slice(case):
            # random-sign sums: within SCORE_ATOL * n whenever every score is within SCORE_ATOL
            signs = np.where(np.unpackbits(d["score_signs"], axis=1, count=labels.size), 1.0, -1.0)
            np.testing.assert_allclose(signs @ ours, d[f"score_sketch__{method}"], rtol=0,
                                       atol=SCORE_ATOL * labels.size, err_msg=method)
        else:
            np.testing.assert_allclose(ours, d[f"score__{method}"], rtol=0, atol=SCORE_ATOL,
                                       err_msg=method)


@pytest.mark.parametrize("case", CASES)
def test_confident_joint_and_latent_estimates_match_cleanlab(case, request):
    d = _load(case)
    labels, pp = _inputs(case, request)
    np.testing.assert_array_equal(labelnoise.compute_confident_joint(labels, pp),
                                  d["confident_joint"])
    raw, off = labelnoise.compute_confident_joint(labels, pp, calibrate=False,
                                                  return_indices_of_off_diagonals=True)
    np.testing.assert_array_equal(raw, d["confident_joint_raw"])
    np.testing.assert_array_equal(np.sort(off), d["off_diagonal"])
    est = labelnoise.estimate_noise(labels, pp)
    for name in ("prior", "noise_matrix", "inverse_noise_matrix", "joint"):
        np.testing.assert_allclose(getattr(est, name), d[name], rtol=0, atol=1e-12, err_msg=name)
    assert count.num_label_issues(labels, pp) == int(d["num_label_issues"])


def test_prune_counts_match_cleanlab():
    """``_keep_at_least_n_per_class`` truncates the float counts to integers before any
    row rounding, as cleanlab does (matrix ``a``: row totals 15, 12, 12, not 16, 13, 13)."""
    with np.load(FIXTURES / MANIFEST["prune_counts"]["file"], allow_pickle=False) as z:
        d = {key: z[key] for key in z.files}
    for name in MANIFEST["prune_counts"]["matrices"]:
        m = d[f"input__{name}"]
        for i, n in enumerate(d["n"]):
            for j, frac in enumerate(d["frac_noise"]):
                np.testing.assert_array_equal(
                    lfilter._keep_at_least_n_per_class(m, int(n), float(frac)),
                    d[f"output__{name}"][i, j], err_msg=f"{name}, n={n}, frac_noise={frac}")
    n_list, frac_list = d["n"].tolist(), d["frac_noise"].tolist()
    a = d["output__a"][n_list.index(1), frac_list.index(0.5)]
    np.testing.assert_array_equal(a.sum(axis=1), [15, 12, 12])


def test_rounding_order_case_is_sensitive():
    """The fixtures pin the order: rounding first would change some non-tie masks."""
    case = MANIFEST["cases"]["rounding_order"]
    assert "prune_by_noise_rate__f0.5__m1" in case["round_first_differs"]
    assert not case["tie_dependent"]
