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
