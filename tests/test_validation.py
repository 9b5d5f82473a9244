"""Every validation error names the argument and the offending index or value."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import labelnoise
from labelnoise import _validation


def _good(n=6, k=3):
    labels = np.array([0, 1, 2, 0, 1, 2])[:n]
    pp = np.full((n, k), 1.0 / k)
    pp[np.arange(n), labels] += 0.3
    pp /= pp.sum(axis=1, keepdims=True)
    return labels, pp


@pytest.mark.parametrize("fn", [labelnoise.find_label_issues, labelnoise.label_quality_scores,
                                labelnoise.estimate_noise])
def test_errors(fn):
    labels, pp = _good()
    with pytest.raises(ValueError, match=r"pred_probs must be 2-D"):
        fn(labels, pp[:, 0])
    with pytest.raises(ValueError, match=r"pred_probs has 5 rows but labels has 6"):
        fn(labels, pp[:5])
    bad = pp.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"pred_probs must be finite; pred_probs\[2, 1\] = nan"):
        fn(labels, bad)
    bad = pp.copy()
    bad[4, 0] = np.inf
    with pytest.raises(ValueError, match=r"finite; pred_probs\[4, 0\] = inf"):
        fn(labels, bad)
    bad = pp.copy()
    bad[3, 2] = -0.2
    bad[3, 0] += 0.2
    with pytest.raises(ValueError, match=r"non-negative; pred_probs\[3, 2\]"):
        fn(labels, bad)
    with pytest.raises(ValueError, match=r"non-negative.*\(logits\? give the softmax"):
        fn(labels, np.log(pp))  # logits are named as such
    with pytest.raises(ValueError, match=r"in \[0, 1\].*\(percentages\? divide by 100\)"):
        fn(labels, 100 * pp)
    with pytest.raises(ValueError, match=r"in \[0, 1\].*\(logits or scores\?"):
        fn(labels, 3 * pp)
    bad = pp.copy()
    bad[1] *= 1.1
    with pytest.raises(ValueError, match=r"row 1 sums to 1.1"):
        fn(labels, bad)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\).*labels\[5\] = 3"):
        fn(np.array([0, 1, 2, 0, 1, 3]), pp)
    with pytest.raises(ValueError, match=r"labels must be >= 0; labels\[2\] = -1"):
        fn(np.array([0, 1, -1, 0, 1, 2]), pp)
    with pytest.raises(ValueError, match=r"integer class indices; labels\[1\] = 1.5"):
        fn(np.array([0, 1.5, 2, 0, 1, 2]), pp)
    with pytest.raises(ValueError, match=r"labels must hold integer class indices, got dtype <U1"):
        fn(np.array(list("abcabc")), pp)
    with pytest.raises(ValueError, match=r"labels must be 1-D"):
        fn(labels[:, None], pp)
    with pytest.raises(ValueError, match=r"no example of class 2"):
        fn(np.array([0, 1, 0, 0, 1, 1]), pp)
    with pytest.raises(ValueError, match=r"pred_probs must be a float array"):
        fn(labels, pp > 0.3)
    with pytest.raises(ValueError, match=r"pred_probs is an empty list"):
        fn(labels, [])
    with pytest.raises(ValueError, match=r"same shape; pred_probs\[0\] is \(6, 3\) but pred_probs\[1\] is \(6, 4\)"):
        fn(labels, [pp, np.full((6, 4), 0.25)])


def test_unknown_options():
    labels, pp = _good()
    with pytest.raises(ValueError, match="filter_by must be one of"):
        labelnoise.find_label_issues(labels, pp, filter_by="nope")
    with pytest.raises(ValueError, match="method must be one of"):
        labelnoise.label_quality_scores(labels, pp, method="nope")
    with pytest.raises(ValueError, match="frac_noise"):
        labelnoise.find_label_issues(labels, pp, filter_by="prune_by_noise_rate", frac_noise=0)
    with pytest.raises(ValueError, match=r"column 1 sums to 0.9"):
        labelnoise.label_quality_scores(labels, pp, method="pooled",
                                        noise_matrix=[[0.9, 0.0, 0.1], [0.1, 0.9, 0.0], [0.0, 0.0, 0.9]])


def test_dirty_pred_probs_accepted_with_one_warning_and_not_modified():
    labels, pp = _good()
    dirty = pp.copy()
    dirty[0] *= 1.00001          # row sum 1.00001
    dirty[1, 1] = 1.000005       # a value above 1 ...
    dirty[1, [0, 2]] = 0.0
    dirty[2] = [-1e-7, 0.2, 0.8 + 1e-7]  # ... and one slightly negative
    before = dirty.copy()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scores = labelnoise.label_quality_scores(labels, dirty, method="self_confidence")
    relevant = [w for w in caught if issubclass(w.category, _validation.PredProbsWarning)]
    assert len(relevant) == 1
    np.testing.assert_array_equal(dirty, before)
    clean = np.clip(dirty, 0, None)
    clean /= clean.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(scores, clean[np.arange(6), labels])
    # the default score's validation pass also computes its margin and counts; on dirty
    # rows those are discarded and recomputed on the renormalised copy
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", _validation.PredProbsWarning)
        for method in ("pooled", "prior_adjusted_margin", "noise_posterior"):
            np.testing.assert_allclose(labelnoise.label_quality_scores(labels, dirty, method=method),
                                       labelnoise.label_quality_scores(labels, clean, method=method),
                                       rtol=1e-12, err_msg=method)


def test_exact_float32_rows_give_no_warning():
    labels, pp = _good()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        labelnoise.find_label_issues(labels, pp.astype(np.float32))


def test_validate_noise_matrix():
    with pytest.raises(ValueError, match="must be square"):
        _validation.validate_noise_matrix(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"non-negative; noise_matrix\[0, 1\]"):
        _validation.validate_noise_matrix([[1.2, -0.2], [-0.2, 1.2]])
    m = _validation.validate_noise_matrix([[0.8, 0.3], [0.2, 0.7]])
    assert m.dtype == np.float64


@pytest.mark.parametrize("bad", ["a", -5, True, 1.5, None])
def test_min_examples_per_class_is_validated(bad):
    labels, pp = np.array([0, 1, 0, 1]), np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    with pytest.raises(ValueError, match="min_examples_per_class") as err:
        labelnoise.find_label_issues(labels, pp, filter_by="prune_by_class",
                                     min_examples_per_class=bad)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("bad", [0, 0.0, -0.5, 1.5, float("nan"), float("inf"), True, "a", None])
def test_frac_noise_is_validated(bad):
    labels, pp = np.array([0, 1, 0, 1]), np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    with pytest.raises(ValueError, match="frac_noise") as err:
        labelnoise.find_label_issues(labels, pp, filter_by="prune_by_noise_rate", frac_noise=bad)
    assert "\n" not in str(err.value)


def test_numpy_scalars_accepted():
    labels, pp = np.array([0, 1, 0, 1]), np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    plain = labelnoise.find_label_issues(labels, pp, filter_by="both", frac_noise=0.5,
                                         min_examples_per_class=0)
    np.testing.assert_array_equal(
        labelnoise.find_label_issues(labels, pp, filter_by="both", frac_noise=np.float64(0.5),
                                     min_examples_per_class=np.int64(0)), plain)


@pytest.mark.parametrize("value", [0, 0.0, 0.25, np.float32(0.5), 0.999])
def test_check_fraction_accepts_numbers_in_the_half_open_unit_interval(value):
    out = _validation.check_fraction(value, "forget_rate")
    assert isinstance(out, float) and out == pytest.approx(float(value))


@pytest.mark.parametrize("value", [1, 1.0, -0.01, float("nan"), float("inf"), True,
                                   np.bool_(False), "0.5", None, [0.1]])
def test_check_fraction_refuses_with_the_argument_name(value):
    with pytest.raises(ValueError, match=r"^val_fraction must be a number in \[0, 1\), got"):
        _validation.check_fraction(value, "val_fraction")


def test_check_fraction_none_only_where_allowed():
    assert _validation.check_fraction(None, "noise_rate", allow_none=True) is None
    with pytest.raises(ValueError, match=r"noise_rate must be None or a number in \[0, 1\)"):
        _validation.check_fraction(1.5, "noise_rate", allow_none=True)


@pytest.mark.parametrize("value, kw, expected", [
    (0, {}, 0.0), (-3.5, {}, -3.5), (np.float32(0.5), {"low": 0, "strict": True}, 0.5),
    (0.0, {"low": 0}, 0.0), (0.999, {"low": 0, "high": 1}, 0.999),
    (-1.0, {"high": 0}, -1.0), (np.int64(2), {"low": 1, "strict": True}, 2.0),
    (1, {"low": 0, "high": 1, "high_inclusive": True}, 1.0),
])
def test_check_real_accepts_finite_numbers_in_range(value, kw, expected):
    out = _validation.check_real(value, "x", **kw)
    assert isinstance(out, float) and out == pytest.approx(expected)


@pytest.mark.parametrize("value, kw, need", [
    (float("nan"), {}, ""), (float("inf"), {"low": 0}, " >= 0"), (True, {}, ""),
    (np.bool_(True), {}, ""), ("1", {}, ""), (None, {"low": 0}, " >= 0"), ([1.0], {}, ""),
    (0.0, {"low": 0, "strict": True}, " > 0"), (-1e-9, {"low": 0}, " >= 0"),
    (1.0, {"low": 0, "high": 1}, r" in \[0, 1\)"), (0.0, {"low": 0, "strict": True, "high": 1},
                                                   r" in \(0, 1\)"),
    (0.0, {"high": 0}, " < 0"), (float("-inf"), {"high": 0}, " < 0"),
    (1.5, {"low": 0, "high": 1, "high_inclusive": True}, r" in \[0, 1\]"),
    (1.0 + 1e-12, {"high": 1, "high_inclusive": True}, " <= 1"),
])
def test_check_real_refuses_with_the_argument_name_and_range(value, kw, need):
    with pytest.raises(ValueError, match=rf"^lam must be a finite number{need}, got "):
        _validation.check_real(value, "lam", **kw)


def test_check_int_accepts_integers_at_or_above_the_least_value():
    assert _validation.check_int(3, "k", 1) == 3
    out = _validation.check_int(np.int64(0), "max_shift", 0)
    assert out == 0 and type(out) is int
    for bad in (0, -2, 1.0, 2.5, float("nan"), True, np.bool_(True), "3", None):
        with pytest.raises(ValueError, match=r"^k must be an integer >= 1, got"):
            _validation.check_int(bad, "k", 1)
