"""Checks of ids and scalar arguments shared by the multiannotator package.

``labelnoise._validation`` covers labels, pred_probs and noise matrices; these private
helpers cover what only this package takes: example/annotator ids and the scalar options
of the consensus methods. Every failure is a one-line ``ValueError`` naming the argument.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from labelnoise._validation import check_real


class AnnotatorQualityWarning(UserWarning):
    """An annotator's quality cannot be estimated from the data (it is reported as NaN), or
    is estimated under an assumption that the data cannot check (see the message)."""


def _id_kind(x) -> str:
    """Type family of one id: values of different families are never compared."""
    if isinstance(x, (bool, np.bool_)):
        return "bool"
    if isinstance(x, (str, np.str_)):
        return "str"
    if isinstance(x, (bytes, np.bytes_)):
        return "bytes"
    if isinstance(x, numbers.Real):  # int, float and their numpy scalars: mutually comparable
        return "number"
    return type(x).__name__


def _is_missing(x) -> bool:
    return x is None or (isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_))
                         and math.isnan(x))


def _validate_ids(values, name: str) -> np.ndarray:
    """Check a 1-D sequence of ids and return it as a numpy array.

    Ids must all be of one type family (all strings, or all numbers, ...): a mix such as
    ``["w1", 2]`` is refused, because sorting it fails and numpy would otherwise silently
    turn ``2`` into ``"2"`` (merging it with a string id ``"2"``). Missing ids (``None``,
    NaN) and infinite ids are refused too. A list or tuple is converted with
    ``np.asarray`` exactly as before; an array keeps its dtype.

    Raises:
        ValueError: not 1-D, a missing or infinite id, or ids of mixed types (the message
            names ``name`` and the first offending positions).
    """
    is_seq = not hasattr(values, "dtype")  # list, tuple, ...: numpy would stringify a mix
    arr = np.asarray(values, dtype=object) if is_seq else np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{name} must not hold NaN (missing) or inf ids; "
                             f"{name}[{i}] = {arr[i].item()!r}")
    elif arr.dtype == object and arr.size:
        first_of: dict[str, int] = {}
        for i, x in enumerate(arr):
            if _is_missing(x) or (isinstance(x, numbers.Real) and not math.isfinite(x)):
                raise ValueError(f"{name} must not hold missing (None or NaN) or inf ids; "
                                 f"{name}[{i}] = {x!r}")
            first_of.setdefault(_id_kind(x), i)
        if len(first_of) > 1:
            (ka, ia), (kb, ib) = sorted(first_of.items(), key=lambda kv: kv[1])[:2]
            raise ValueError(
                f"{name} mixes id types ({', '.join(sorted(first_of))}): {name}[{ia}] = "
                f"{arr[ia]!r} is {ka} but {name}[{ib}] = {arr[ib]!r} is {kb}; give ids of one "
                "type (e.g. cast all of them to str)")
    return np.asarray(values) if is_seq else arr


def _check_int(value, name: str, minimum: int) -> int:
    """``value`` as an int >= ``minimum``; integral floats are accepted, bools, NaN, inf and
    fractions are not."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
    if not ok and isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        ok = math.isfinite(value) and float(value).is_integer()
    if not ok:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if int(value) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(value)


def _check_float(value, name: str, *, positive: bool) -> float:
    """``value`` as a finite float, > 0 (``positive``) or >= 0; NaN, inf, bools and
    non-numbers are refused."""
    return check_real(value, name, low=0, strict=positive)
