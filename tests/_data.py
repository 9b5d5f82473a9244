"""Test helpers: small seeded datasets shared by the training tests."""

from __future__ import annotations

import numpy as np


def colour_images(n: int = 96, k: int = 3, seed: int = 0, *, mark: bool = False):
    """(uint8 (n, 8, 8, 3) images, int (n,) classes): tiny images whose colour encodes the
    class (channel ``c`` raised by 150 for class ``c``); ``mark`` adds a bar in the top-left
    corner, so that rotations are recognisable."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    x = rng.integers(0, 60, size=(n, 8, 8, 3)).astype(np.uint8)
    for c in range(k):
        x[y == c, :, :, c] += 150
    if mark:
        x[:, :2, :4] = 255
    return x, y


def digits_split():
    """scikit-learn's digits, a fixed stratified 70/30 split (random_state 0), standardised
    on the training part: (x_train float32, y_train, x_test float32, y_test)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    mu, sd = x_tr.mean(0), x_tr.std(0) + 1e-6
    return (((x_tr - mu) / sd).astype(np.float32), y_tr, ((x_te - mu) / sd).astype(np.float32),
            y_te)


def gaussian_blobs(n: int, seed: int, k: int = 4, d: int = 16, spread: float = 4.0):
    """(float32 (n, d) points, int (n,) classes): Gaussian clusters of unit variance around
    k fixed random centres (the centres' seed is fixed, 100; ``spread`` scales them: 4 is
    well separated, about 1 overlapping); ``seed`` draws the classes and the points."""
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(100).normal(0, spread, (k, d))
    y = rng.integers(0, k, n)
    return (centers[y] + rng.normal(0, 1, (n, d))).astype(np.float32), y


def local_cluster(processes: bool):
    """A 2-worker ``distributed.LocalCluster`` (1 thread each, no dashboard, quiet) and a
    client not set as the default: a context manager yielding the client."""
    import contextlib

    import distributed

    @contextlib.contextmanager
    def manager():
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=processes,
                                      dashboard_address=None, silence_logs=40) as cluster, \
                distributed.Client(cluster, set_as_default=False) as client:
            yield client

    return manager()


def noisy_softmax_case(seed: int = 0, n: int = 400, k: int = 4, *, noise: float = 0.2,
                       sharp: float = 2.5):
    """(given int (n,), pred_probs float (n, k), true int (n,)): pred_probs of a decent model
    (softmax of standard normal logits plus ``sharp`` on the true class) and labels with
    about ``noise`` of them moved uniformly to another class."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + sharp * np.eye(k)[true]
    pp = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    given = true.copy()
    flip = rng.random(n) < noise
    given[flip] = (true[flip] + rng.integers(1, k, flip.sum())) % k
    return given, pp, true
