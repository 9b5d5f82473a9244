"""Partial-label input: candidate sets of classes, one set per example.

A candidate set is a boolean row over the K classes; the set may miss the true class
("noisy partial labels", Wang et al. 2025, "Bridging Weakly-Supervised Learning and VLM
Distillation: Noisy Partial Label Learning for Efficient Downstream Adaptation",
arXiv 2506.03229). Candidate sets are held as an (N, K) bool matrix.

Three ways to build them:

* from the labels of M annotators (people or models), missing entries -1:
  :func:`candidates_from_annotations` (the union of the annotators' classes);
* from a user CSV with one row per example and the candidate class names in one column:
  :func:`candidates_from_csv`;
* simulated: :func:`labelnoise.noise.partial_labels` (uniform) and
  :func:`labelnoise.noise.partial_labels_from_pred_probs` (instance-dependent).

From a vision-language model's zero-shot predictions under several prompts (the setting of
Co-Reg): score every image against the class names under each of M prompt templates
("a photo of a {}.", "a blurry photo of a {}.", ...), giving M arrays of pred_probs of
shape (N, K); :func:`annotations_from_pred_probs` turns them into an (N, M) annotations
matrix (each prompt's top-1 class, or its top-k), and :func:`candidates_from_annotations`
into candidate sets. The same applies to several small models, each a "prompt".

This module imports torch only inside :func:`partial_label_loss`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from labelnoise._validation import validate_labels, validate_pred_probs


def validate_candidates(candidates, *, num_classes: int | None = None,
                        name: str = "candidates") -> np.ndarray:
    """Check an (N, K) candidate-set matrix and return it as a bool ndarray (a copy if
    converted; the input is never modified).

    Args:
        candidates: array-like (N, K) of bool, or of 0/1 integers or floats.
        num_classes: K, if known.
        name: the argument name used in error messages.

    Raises:
        ValueError: not 2-D, empty, values other than 0/1, K < 2, a K other than
            ``num_classes``, or a row with no candidate.
    """
    arr = np.asarray(candidates)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D (N, K) array, got shape {arr.shape}")
    if arr.dtype != bool:
        if not np.issubdtype(arr.dtype, np.number) or not np.isin(arr, (0, 1)).all():
            raise ValueError(f"{name} must hold bools or 0/1 values, got dtype {arr.dtype}")
        arr = arr.astype(bool)
    k = arr.shape[1]
    if k < 2:
        raise ValueError(f"{name} must have at least 2 columns (classes), got {k}")
    if num_classes is not None and k != num_classes:
        raise ValueError(f"{name} has {k} columns but num_classes is {num_classes}")
    empty = ~arr.any(axis=1)
    if empty.any():
        raise ValueError(f"{name} has {int(empty.sum())} rows with no candidate class "
                         f"(first: row {int(np.flatnonzero(empty)[0])})")
    return arr


def candidates_from_annotations(annotations, *, num_classes: int | None = None,
                                missing: int = -1) -> np.ndarray:
    """Candidate sets as the union of the classes that M annotators gave each example.

    Args:
        annotations: int array (N, M): ``annotations[n, m]`` is the class annotator m gave
            example n, in [0, K), or ``missing`` where annotator m gave none.
        num_classes: K (default: the largest class given + 1).
        missing: the value marking a missing annotation (default -1).

    Returns:
        bool ndarray (N, K): ``candidates[n, c]`` is True exactly when some annotator gave
        example n class c. A row with no annotation at all has every class as a candidate
        (no information about it), the convention of partial-label learning.

    Raises:
        ValueError: not 2-D, not integers, values outside [0, K) other than ``missing``.
    """
    ann = np.asarray(annotations)
    if ann.ndim != 2 or ann.shape[0] == 0 or ann.shape[1] == 0:
        raise ValueError(f"annotations must be a non-empty 2-D (N, M) array, got shape {ann.shape}")
    if not np.issubdtype(ann.dtype, np.integer):
        if np.issubdtype(ann.dtype, np.floating) and np.isfinite(ann).all() \
                and (ann == np.round(ann)).all():
            ann = ann.astype(np.int64)
        else:
            raise ValueError(f"annotations must hold integer class indices, got dtype {ann.dtype}")
    given = ann != missing
    if not given.any():
        raise ValueError("annotations holds no annotation (every entry is missing)")
    values = ann[given]
    if values.min() < 0:
        raise ValueError(f"annotations holds {int(values.min())}, which is neither a class index "
                         f"nor the missing marker {missing}")
    k = int(values.max()) + 1 if num_classes is None else int(num_classes)
    if values.max() >= k:
        raise ValueError(f"annotations holds class {int(values.max())} but num_classes is {k}")
    if k < 2:
        raise ValueError(f"num_classes must be >= 2, got {k}")
    n, m = ann.shape
    out = np.zeros((n, k), dtype=bool)
    rows = np.broadcast_to(np.arange(n)[:, None], (n, m))
    out[rows[given], ann[given]] = True
    out[~given.any(axis=1)] = True
    return out


def annotations_from_pred_probs(pred_probs_list: Sequence, *, top_k: int = 1) -> np.ndarray:
    """Turn the predictions of M model annotators (or one zero-shot model under M prompts)
    into an annotations matrix for :func:`candidates_from_annotations`.

    Args:
        pred_probs_list: M arrays of pred_probs, each float (N, K) with rows summing to 1.
        top_k: classes each annotator names per example (its ``top_k`` most probable).

    Returns:
        int64 ndarray (N, M * top_k): annotator m's j-th choice in column ``m * top_k + j``.

    Raises:
        ValueError: an empty list, pred_probs of different shapes, invalid pred_probs,
            ``top_k`` outside [1, K].
    """
    if len(pred_probs_list) == 0:
        raise ValueError("pred_probs_list must hold at least one (N, K) array")
    cols, shape = [], None
    for m, pp in enumerate(pred_probs_list):
        arr = validate_pred_probs(pp, name=f"pred_probs_list[{m}]").materialize()
        if shape is not None and arr.shape != shape:
            raise ValueError(f"pred_probs_list[{m}] has shape {arr.shape}, expected {shape}")
        shape = arr.shape
        if not 1 <= top_k <= arr.shape[1]:
            raise ValueError(f"top_k must lie in [1, {arr.shape[1]}], got {top_k}")
        order = np.argsort(-arr, axis=1, kind="stable")[:, :top_k]
        cols.append(order)
    return np.concatenate(cols, axis=1).astype(np.int64)


def candidates_from_csv(path, class_names: Sequence[str], *, column: str = "candidates",
                        sep: str = "|") -> np.ndarray:
    """Read candidate sets from a CSV file with one row per example (in dataset order).

    Args:
        path: the CSV file. Column ``column`` holds each example's candidate class names
            joined by ``sep``, e.g. ``cat|dog``.
        class_names: the K class names; class c is ``class_names[c]``.
        column: the column holding the candidate sets.
        sep: separator between names within a cell.

    Returns:
        bool ndarray (N, K).

    Raises:
        ValueError: the file or column is missing, a name is not in ``class_names``,
            duplicate class names, or an empty cell.
    """
    from labelnoise._io import read_table

    names = [str(c) for c in class_names]
    if len(set(names)) != len(names) or len(names) < 2:
        raise ValueError("class_names must hold at least 2 distinct names")
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"candidates file {p} does not exist")
    table = read_table(p, "candidates file", dtype=str, keep_default_na=False)
    if column not in table.columns:
        raise ValueError(f"{p} has no column {column!r} (columns: {list(table.columns)})")
    index = {name: c for c, name in enumerate(names)}
    out = np.zeros((len(table), len(names)), dtype=bool)
    for n, cell in enumerate(table[column]):
        parts = [s.strip() for s in cell.split(sep) if s.strip()]
        if not parts:
            raise ValueError(f"{p}: row {n} has an empty candidate set")
        for s in parts:
            if s not in index:
                raise ValueError(f"{p}: row {n} names class {s!r}, not one of {names}")
            out[n, index[s]] = True
    return out


def candidate_set_stats(candidates, true_labels) -> dict:
    """Summary of candidate sets against known true labels.

    Returns:
        dict with ``mean_size`` (average number of candidates per example),
        ``missing_true_fraction`` (fraction of sets that do not contain the true label)
        and ``n``.

    Raises:
        ValueError: invalid candidates or labels, or a length mismatch.
    """
    cand = validate_candidates(candidates)
    lab = validate_labels(true_labels, num_classes=cand.shape[1], name="true_labels")
    if len(lab) != cand.shape[0]:
        raise ValueError(f"true_labels has {len(lab)} entries but candidates has {cand.shape[0]} rows")
    hit = cand[np.arange(len(lab)), lab]
    return dict(mean_size=float(cand.sum(axis=1).mean()),
                missing_true_fraction=float(1.0 - hit.mean()), n=int(len(lab)))


def partial_label_loss(logits, candidates, *, reduction: str = "mean"):
    """The partial-label (candidate) loss ``-log sum_{j in S} p_j``, with
    ``p = softmax(logits)`` and S the candidate set (Jin & Ghahramani 2002, "Learning with
    Multiple Labels"; the warm-up loss of Co-Reg and the loss PRODEN's weights start from).
    Computed stably as ``logsumexp(all logits) - logsumexp(candidate logits)``.

    Args:
        logits: float tensor (B, K).
        candidates: bool (or 0/1) tensor (B, K); every row has a candidate.
        reduction: "mean", "sum" or "none" (per-example (B,) tensor).

    Returns:
        A scalar tensor, or (B,) with ``reduction="none"``.

    Raises:
        ValueError: shape mismatch, unknown reduction.
    """
    import torch

    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if logits.shape != candidates.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and candidates "
                         f"{tuple(candidates.shape)} must have the same shape")
    logits = logits.float()
    mask = candidates.to(torch.bool)
    masked = logits.masked_fill(~mask, float("-inf"))
    per = torch.logsumexp(logits, dim=1) - torch.logsumexp(masked, dim=1)
    if reduction == "mean":
        return per.mean()
    if reduction == "sum":
        return per.sum()
    return per
