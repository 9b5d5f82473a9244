"""README.md's Python examples run as written (issue 16).

Every ```python block of the README is extracted and executed after a prelude that defines
the names the README leaves to the reader: ``labels`` / ``pred_probs`` (the wine data with
10 planted label errors, out-of-sample pred_probs of a logistic regression), ``X`` / ``y``
(wine, labels as strings) and ``X_new``, and for the Dask example the Zarr stores it reads.
A block that raises fails the test; a few results are checked after it ran.

Two things are scaled down so that the test takes seconds, without changing the code the
README shows: ``RobustMLPClassifier``'s default network and epochs (512x512, 50 epochs: a
minute on a 2-core CPU) become (64,) and 3 epochs, and the Dask cluster's two workers run
as threads of this process (``processes=False``) instead of two new processes.
"""

from __future__ import annotations

import functools
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
#: wine's three cultivars, in the order of its targets 0, 1, 2
WINE_NAMES = np.array(["barolo", "grignolino", "barbera"])
PLANTED = 10


def readme_blocks() -> list[tuple[str, str]]:
    """(id, code) of every ```python block of README.md; the id is the section heading."""
    text = README.read_text(encoding="utf-8")
    blocks, heading = [], "top"
    for match in re.finditer(r"^(#+ [^\n]*)$|^```python\n(.*?)^```", text, re.M | re.S):
        if match.group(1):
            heading = match.group(1).lstrip("# ").strip()
        else:
            blocks.append((f"{heading}-{len(blocks)}", match.group(2)))
    return blocks


BLOCKS = readme_blocks()


def test_the_readme_has_its_python_examples():
    names = [name for name, _ in BLOCKS]
    assert len(BLOCKS) >= 3, names
    assert any(name.startswith("Five lines") for name in names), names
    assert any("CleanClassifier" in code for _, code in BLOCKS)


@functools.lru_cache(maxsize=1)
def _wine_cached():
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, true = load_wine(return_X_y=True)
    rng = np.random.default_rng(0)
    flip = rng.choice(len(true), PLANTED, replace=False)
    labels = true.copy()
    labels[flip] = (true[flip] + rng.integers(1, 3, PLANTED)) % 3
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    pred_probs = cross_val_predict(model, X, labels, method="predict_proba",
                                   cv=StratifiedKFold(5, shuffle=True, random_state=0))
    return X, labels, true, flip, pred_probs


def _wine():
    """(X, labels with 10 planted errors, true labels, the planted rows, out-of-sample
    pred_probs (178, 3) of a logistic regression), fresh copies for every test."""
    return tuple(a.copy() for a in _wine_cached())


def _dask_stores(folder: Path, labels, pred_probs) -> None:
    """labels.zarr and pred_probs.zarr in ``folder``, chunked along N, as the example reads."""
    da = pytest.importorskip("dask.array")
    pytest.importorskip("zarr")
    da.from_array(labels, chunks=50).to_zarr(str(folder / "labels.zarr"))
    da.from_array(pred_probs, chunks=(50, 3)).to_zarr(str(folder / "pred_probs.zarr"))


@pytest.mark.parametrize("name, code", BLOCKS, ids=[name for name, _ in BLOCKS])
def test_readme_python_block_runs(name, code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # whatever a block writes (scores.zarr) lands here
    X, labels, true, flip, pred_probs = _wine()
    X_new = X[::20] + 0.01
    ns = {"__name__": "readme_example", "labels": labels, "pred_probs": pred_probs,
          "X": X, "y": WINE_NAMES[labels], "X_new": X_new,
          "embeddings": (X - X.mean(0)) / X.std(0)}
    if "RobustMLPClassifier" in code:  # a small, short MLP by default (see the docstring)
        from labelnoise.estimators import RobustMLPClassifier

        defaults = dict(RobustMLPClassifier.__init__.__kwdefaults__, hidden=(64,), epochs=3)
        monkeypatch.setattr(RobustMLPClassifier.__init__, "__kwdefaults__", defaults)
    if "distributed.Client" in code:
        distributed = pytest.importorskip("distributed")
        _dask_stores(tmp_path, labels, pred_probs)

        class InProcessClient(distributed.Client):
            """The example's 2-worker cluster, as threads of this process: the same
            computation, without spawning worker processes on the test machine."""

            def __init__(self, *args, **kwargs):
                kwargs.setdefault("processes", False)
                super().__init__(*args, **kwargs)

        monkeypatch.setattr(distributed, "Client", InProcessClient)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. a LabelOrderWarning: the code must not raise
        try:
            exec(compile(code, f"README.md ({name})", "exec"), ns)
        finally:
            if "client" in ns:
                ns["client"].close()

    # the blocks did what the README says they do
    if "result" in ns:  # Five lines
        result = ns["result"]
        assert result.is_label_issue.shape == (len(labels),)
        assert len(set(flip) & set(np.flatnonzero(result.is_label_issue))) >= PLANTED // 2
        assert np.sort(ns["scores"][flip]).mean() < np.sort(ns["scores"]).mean()
        assert set(ns["issues"][:PLANTED]) & set(flip)  # ranked: planted errors come first
    if "clf" in ns:  # the scikit-learn pipeline
        assert set(ns["clf"].predict(X_new)) <= set(WINE_NAMES)
        assert list(ns["clean"].classes_) == sorted(WINE_NAMES)
        assert ns["mlp"].predict(X_new).shape == (len(X_new),)
    if "noise" in ns and "client" in ns:  # Dask
        assert ns["noise"].noise_matrix.shape == (3, 3)
        assert (tmp_path / "scores.zarr").exists()
