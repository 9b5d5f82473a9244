"""Tests for labelnoise.features.PatchFeatures (Coates, Lee & Ng 2011 single-layer features)."""

from __future__ import annotations

import numpy as np
import pytest

from labelnoise.features import PatchFeatures, _normalize_patches


def _naive_features(pf: PatchFeatures, img: np.ndarray) -> np.ndarray:
    """Reference: loop over patch positions, encode each patch, sum over quadrants."""
    p, s = pf.patch_size, pf.stride
    h, w, _ = img.shape
    rows = list(range(0, h - p + 1, s))
    cols = list(range(0, w - p + 1, s))
    k = pf.centroids_.shape[0]
    fmap = np.zeros((len(rows), len(cols), k))
    for a, r in enumerate(rows):
        for b, c in enumerate(cols):
            x = img[r : r + p, c : c + p, :].reshape(1, -1).astype(np.float64)
            x = _normalize_patches(x, pf.norm_eps)
            x = (x - pf.mean_) @ pf.whitening_
            if pf.encoder == "triangle":
                z = np.linalg.norm(x - pf.centroids_, axis=1)
                fmap[a, b] = np.maximum(0.0, z.mean() - z)
            else:
                fmap[a, b] = np.maximum(0.0, pf.centroids_ @ x[0] - 0.25)
    hr, hc = len(rows) // 2, len(cols) // 2
    return np.concatenate([
        fmap[:hr, :hc].sum((0, 1)), fmap[:hr, hc:].sum((0, 1)),
        fmap[hr:, :hc].sum((0, 1)), fmap[hr:, hc:].sum((0, 1)),
    ])


@pytest.mark.parametrize("encoder,stride", [("triangle", 1), ("triangle", 2), ("threshold", 1)])
def test_encoding_matches_naive_loop(encoder, stride):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(6, 9, 10, 3), dtype=np.uint8)
    pf = PatchFeatures(7, patch_size=3, stride=stride, n_patches=500, encoder=encoder,
                       kmeans_iter=3, seed=1).fit(images)
    feats = pf.transform(images[:3])
    assert feats.shape == (3, 4 * 7) and feats.dtype == np.float32
    for i in range(3):
        np.testing.assert_allclose(feats[i], _naive_features(pf, images[i]), rtol=2e-4, atol=2e-3)


def test_whitening_decorrelates_patches():
    rng = np.random.default_rng(0)
    # correlated pixels: smooth random images
    base = rng.normal(size=(200, 8, 8, 1))
    smooth = (base + np.roll(base, 1, axis=1) + np.roll(base, 1, axis=2)) * 40 + 128
    images = np.clip(smooth, 0, 255).astype(np.uint8)
    pf = PatchFeatures(4, patch_size=4, n_patches=20_000, whiten_eps=1e-6, kmeans_iter=1,
                       seed=0).fit(images)
    patches = _normalize_patches(pf._random_patches(images, np.random.default_rng(5)), pf.norm_eps)
    white = (patches - pf.mean_) @ pf.whitening_
    eig = np.sort(np.linalg.eigvalsh(np.cov(white, rowvar=False)))
    # per-patch normalisation removes one direction (the patch mean); all others are ~1
    assert eig[0] < 0.05
    assert np.all(np.abs(eig[1:] - 1.0) < 0.08)


def test_kmeans_recovers_separated_clusters():
    rng = np.random.default_rng(3)
    centers = np.array([[10.0, 0, 0], [0, 10.0, 0], [0, 0, 10.0]], dtype=np.float32)
    x = np.concatenate([c + rng.normal(scale=0.3, size=(300, 3)) for c in centers]).astype(np.float32)
    pf = PatchFeatures(3, kmeans_iter=15, seed=0)
    found = pf._kmeans(x, np.random.default_rng(0))
    dist = np.linalg.norm(found[:, None, :] - centers[None], axis=2)
    assert np.all(dist.min(axis=0) < 0.2)  # every true center has a centroid near it


def test_features_separate_two_texture_classes():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    rng = np.random.default_rng(0)
    n = 60
    stripes_h = np.tile((np.arange(16) % 4 < 2)[:, None], (1, 16)) * 120.0
    images = np.empty((2 * n, 16, 16, 3), dtype=np.uint8)
    for i in range(2 * n):
        pattern = stripes_h if i < n else stripes_h.T
        shift = rng.integers(0, 4)
        img = np.roll(pattern, shift, axis=int(i >= n)) + rng.normal(60, 25, size=(16, 16))
        images[i] = np.clip(img, 0, 255)[..., None]
    y = np.repeat([0, 1], n)
    feats = PatchFeatures(16, patch_size=4, n_patches=5000, seed=0).fit_transform(images)
    acc = cross_val_score(LogisticRegression(max_iter=2000), feats, y, cv=5).mean()
    assert acc > 0.95


def test_errors():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(4, 8, 8, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="not fitted"):
        PatchFeatures(4).transform(images)
    with pytest.raises(ValueError, match="encoder"):
        PatchFeatures(4, encoder="relu").fit(images)
    with pytest.raises(ValueError, match="patch_size"):
        PatchFeatures(4, patch_size=9).fit(images)
    with pytest.raises(ValueError, match="shape"):
        PatchFeatures(4, patch_size=3, n_patches=100, kmeans_iter=1).fit(images).transform(images[:, :6])
    with pytest.raises(ValueError, match="shape"):
        PatchFeatures(4).fit(np.zeros((3, 4)))


# ------------------------------------------------------------------ wavelet scattering
def test_scattering_of_a_constant_image_is_its_value_then_zero():
    """Known answer: the low-pass filter has unit mass and every Morlet wavelet zero mean, so
    a constant image (reflection padding keeps it constant) gives order 0 = the constant and
    orders 1 and 2 = 0."""
    from labelnoise.features import scattering_transform

    x = np.full((2, 16, 16, 3), 0.25, dtype=np.float32)
    s = scattering_transform(x, J=2, L=4)
    assert s.shape == (2, 3, 1 + 2 * 4 + 16, 4, 4)
    np.testing.assert_allclose(s[:, :, 0], 0.25, rtol=1e-4)
    np.testing.assert_allclose(s[:, :, 1:], 0.0, atol=1e-5)


def test_scattering_is_nearly_translation_invariant_and_sees_orientation():
    """A shift by one pixel (well inside the 2**J = 8 pixel window) moves the coefficients of
    a stripe pattern far less than turning the stripes by 90 degrees does (Bruna & Mallat
    2013: invariance to translations, stability to deformations, sensitivity to
    orientation)."""
    from labelnoise.features import scattering_transform

    u = np.arange(32)
    stripes = (0.5 + 0.5 * np.sin(2 * np.pi * u / 5.0))[None, :].repeat(32, 0)  # vertical
    imgs = np.stack([stripes, np.roll(stripes, 1, axis=1), stripes.T]).astype(np.float32)
    s = scattering_transform(imgs[..., None], J=3, L=8)[:, 0, :, 1:-1, 1:-1]  # away from borders
    shift = np.linalg.norm(s[1] - s[0]) / np.linalg.norm(s[0])
    turn = np.linalg.norm(s[2] - s[0]) / np.linalg.norm(s[0])
    assert shift < 0.1 and turn > 0.5, (shift, turn)


def test_scattering_matches_kymatio():
    """Agreement with a reference computation: Kymatio's Scattering2D (Andreux et al. 2020),
    where it is installed (the dev extra), on RGB uint8 images and on a rectangular
    two-channel float input at J = 3, L = 6. Kymatio normalises its Gaussians with 3.1415
    instead of pi: hence the relative tolerance."""
    torch = pytest.importorskip("torch")
    kymatio = pytest.importorskip("kymatio.scattering2d.frontend.torch_frontend")
    from labelnoise.features import scattering_transform

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    ref = kymatio.ScatteringTorch2D(J=2, shape=(32, 32), L=8)(
        torch.from_numpy(x.transpose(0, 3, 1, 2).astype(np.float32) / 255).contiguous()).numpy()
    got = scattering_transform(x, J=2, L=8, batch_size=2)  # several batches
    assert got.shape == ref.shape == (5, 3, 81, 8, 8)
    np.testing.assert_allclose(got, ref, rtol=2e-4, atol=2e-5 * np.abs(ref).max())
    y = rng.random((2, 16, 24, 2)).astype(np.float32)
    ref = kymatio.ScatteringTorch2D(J=3, shape=(16, 24), L=6)(
        torch.from_numpy(y.transpose(0, 3, 1, 2)).contiguous()).numpy()
    got = scattering_transform(y, J=3, L=6)
    assert got.shape == ref.shape == (2, 2, 1 + 18 + 3 * 36, 2, 3)
    np.testing.assert_allclose(got, ref, rtol=2e-4, atol=2e-5 * np.abs(ref).max())


def test_scattering_features_log_pool_and_mirror():
    """scattering_features = log(1 + S), 2 x 2 pooled, flattened, and with mirror=True the
    mean of the image's and its mirror image's (reference computation); bad shapes refused."""
    from labelnoise.features import scattering_features, scattering_transform

    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)

    def ref(a):
        s = np.log1p(scattering_transform(a))  # (3, 3, 81, 4, 4)
        return s.reshape(3, 3, 81, 2, 2, 2, 2).mean(axis=(4, 6)).reshape(3, -1)

    plain = scattering_features(x, mirror=False)
    np.testing.assert_allclose(plain, ref(x), rtol=1e-5, atol=1e-6)
    both = scattering_features(x)
    np.testing.assert_allclose(both, (ref(x) + ref(np.ascontiguousarray(x[:, :, ::-1]))) / 2,
                               rtol=1e-5, atol=1e-6)
    assert plain.shape == (3, 3 * 81 * 4) and plain.dtype == np.float32
    with pytest.raises(ValueError, match="multiples of 2\\*\\*J = 4"):
        scattering_features(np.zeros((2, 10, 12, 3), np.uint8))
    with pytest.raises(ValueError, match="pool must be an integer >= 1 dividing the 4 x 4"):
        scattering_features(x, pool=3)
    with pytest.raises(ValueError, match="finite"):
        scattering_features(np.full((1, 8, 8), np.nan, np.float32))
