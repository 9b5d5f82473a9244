"""Fixed CPU feature extractors for images: single-layer unsupervised patch features and
the wavelet scattering transform.

:class:`PatchFeatures` follows Coates, Lee and Ng (2011), "An Analysis of Single-Layer
Networks in Unsupervised Feature Learning" (AISTATS): small patches are cut from the
images, each is brightness/contrast normalised, ZCA-whitened and encoded against a
dictionary learned by k-means with the "triangle" activation
``f_k(x) = max(0, mean_j(z_j) - z_k)``, ``z_k = ||x - c_k||``; the encoded map of every
image is sum-pooled over its four quadrants. The extractor needs no labels, so fitting
it on all images (including those a cross-validation fold holds out) leaks no label
information. Only numpy is used; the cost is a few matrix products per image batch.

:func:`scattering_transform` is the order-2 2-D wavelet scattering of Bruna and Mallat
(2013): Morlet wavelet moduli cascaded and averaged by a Gaussian, no parameter learned;
:func:`scattering_features` turns it into features for a linear model (log, pooling, flip
averaging). Computed with torch FFTs, equal to the Kymatio package's coefficients
(tests/test_features.py).
"""

from __future__ import annotations

import numpy as np

_ENCODERS = ("triangle", "threshold")


def _as_images(images, name: str = "images") -> np.ndarray:
    arr = np.asarray(images)
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4:
        raise ValueError(
            f"{name} must have shape (N, H, W, C) (or (N, H, W) for gray images), got {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    return arr


def _normalize_patches(patches: np.ndarray, eps: float) -> np.ndarray:
    """Per-patch brightness and contrast normalisation (rows are patches, 0-255 scale)."""
    patches = patches - patches.mean(axis=1, keepdims=True)
    patches /= np.sqrt(patches.var(axis=1, keepdims=True) + eps)
    return patches


class PatchFeatures:
    """Unsupervised single-layer patch features for small images (Coates, Lee & Ng 2011).

    Args:
        n_centroids: dictionary size K; the output has ``4 * K`` features (4 quadrants).
        patch_size: side of the square receptive field in pixels (paper: 6).
        stride: step between patches when encoding (paper: 1).
        n_patches: random patches used to fit the whitening and the dictionary.
        dictionary: ``"kmeans"`` (paper's k-means) or ``"patches"`` (normalised random
            whitened patches, the paper's cheaper baseline).
        kmeans_iter: k-means iterations.
        encoder: ``"triangle"`` (paper's k-means triangle) or ``"threshold"``
            (``max(0, c_k . x - alpha)``, the paper's soft threshold with alpha 0.25).
        norm_eps: added to the patch variance before dividing (paper: 10, 0-255 scale).
        whiten_eps: ZCA regulariser added to the eigenvalues (paper: 0.1).
        batch_size: images encoded per block (memory: about
            ``batch_size * positions * K * 4`` bytes).
        seed: seeds patch sampling and the k-means initialisation.

    After :meth:`fit`: ``mean_`` (D,), ``whitening_`` (D, D), ``centroids_`` (K, D) with
    ``D = patch_size**2 * channels``.
    """

    def __init__(
        self,
        n_centroids: int = 1600,
        *,
        patch_size: int = 6,
        stride: int = 1,
        n_patches: int = 100_000,
        dictionary: str = "kmeans",
        kmeans_iter: int = 10,
        encoder: str = "triangle",
        norm_eps: float = 10.0,
        whiten_eps: float = 0.1,
        batch_size: int = 50,
        seed: int = 0,
    ) -> None:
        self.n_centroids = n_centroids
        self.patch_size = patch_size
        self.stride = stride
        self.n_patches = n_patches
        self.dictionary = dictionary
        self.kmeans_iter = kmeans_iter
        self.encoder = encoder
        self.norm_eps = norm_eps
        self.whiten_eps = whiten_eps
        self.batch_size = batch_size
        self.seed = seed

    # ------------------------------------------------------------------ fitting
    def _check_params(self, images: np.ndarray) -> None:
        from labelnoise._validation import validate_choice

        validate_choice(self.encoder, _ENCODERS, "encoder")
        validate_choice(self.dictionary, ("kmeans", "patches"), "dictionary")
        if self.n_centroids < 1:
            raise ValueError(f"n_centroids must be >= 1, got {self.n_centroids}")
        _, h, w, _ = images.shape
        if not 1 <= self.patch_size <= min(h, w):
            raise ValueError(
                f"patch_size must lie in [1, {min(h, w)}] for {h}x{w} images, got {self.patch_size}"
            )
        if self.stride < 1:
            raise ValueError(f"stride must be >= 1, got {self.stride}")

    def _random_patches(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n, h, w, c = images.shape
        p = self.patch_size
        idx = rng.integers(0, n, self.n_patches)
        rows = rng.integers(0, h - p + 1, self.n_patches)
        cols = rng.integers(0, w - p + 1, self.n_patches)
        out = np.empty((self.n_patches, p * p * c), dtype=np.float32)
        for t in range(self.n_patches):
            r, q = rows[t], cols[t]
            out[t] = images[idx[t], r : r + p, q : q + p, :].reshape(-1)
        return out

    def _kmeans(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Lloyd's k-means on the whitened patches (empty clusters are re-seeded)."""
        k = self.n_centroids
        centroids = x[rng.choice(x.shape[0], size=k, replace=x.shape[0] < k)].copy()
        x_sq = np.einsum("ij,ij->i", x, x)
        block = 8192
        for _ in range(self.kmeans_iter):
            sums = np.zeros_like(centroids, dtype=np.float64)
            counts = np.zeros(k, dtype=np.int64)
            c_sq = np.einsum("ij,ij->i", centroids, centroids)
            for a in range(0, x.shape[0], block):
                xb = x[a : a + block]
                d = c_sq[None, :] - 2.0 * (xb @ centroids.T) + x_sq[a : a + block, None]
                assign = np.argmin(d, axis=1)
                np.add.at(sums, assign, xb)
                counts += np.bincount(assign, minlength=k)
            full = counts > 0
            centroids[full] = (sums[full] / counts[full, None]).astype(np.float32)
            empty = np.flatnonzero(~full)
            if empty.size:
                centroids[empty] = x[rng.choice(x.shape[0], size=empty.size)]
        return centroids

    def fit(self, images, y=None) -> PatchFeatures:
        """Learn the whitening and the dictionary from random patches of ``images``.

        Args:
            images: uint8 or float array (N, H, W, C) on the 0-255 scale (gray: (N, H, W)).
            y: ignored (unsupervised; present for scikit-learn pipelines).

        Raises:
            ValueError: bad shape or parameters.
        """
        images = _as_images(images)
        self._check_params(images)
        rng = np.random.default_rng(self.seed)
        patches = _normalize_patches(self._random_patches(images, rng), self.norm_eps)
        self.mean_ = patches.mean(axis=0)
        cov = np.cov(patches - self.mean_, rowvar=False).astype(np.float64)
        eigval, eigvec = np.linalg.eigh(cov)
        eigval = np.clip(eigval, 0.0, None)
        self.whitening_ = (
            (eigvec * (1.0 / np.sqrt(eigval + self.whiten_eps))) @ eigvec.T
        ).astype(np.float32)
        white = (patches - self.mean_) @ self.whitening_
        if self.dictionary == "kmeans":
            centroids = self._kmeans(white, rng)
        else:
            centroids = white[rng.choice(white.shape[0], size=self.n_centroids)].copy()
            centroids /= np.linalg.norm(centroids, axis=1, keepdims=True) + 1e-8
        self.centroids_ = centroids.astype(np.float32)
        self.image_shape_ = images.shape[1:]
        return self

    # ----------------------------------------------------------------- encoding
    @property
    def n_features(self) -> int:
        """Length of one image's feature vector: 4 quadrants x ``n_centroids``."""
        return 4 * self.n_centroids

    def _encode_batch(self, batch: np.ndarray) -> np.ndarray:
        p, s = self.patch_size, self.stride
        b, h, w, c = batch.shape
        win = np.lib.stride_tricks.sliding_window_view(batch, (p, p), axis=(1, 2))
        win = win[:, ::s, ::s]  # (b, gh, gw, c, p, p)
        gh, gw = win.shape[1], win.shape[2]
        patches = win.transpose(0, 1, 2, 4, 5, 3).reshape(-1, p * p * c).astype(np.float32)
        patches = _normalize_patches(patches, self.norm_eps)
        white = (patches - self.mean_) @ self.whitening_
        dots = white @ self.centroids_.T  # (b*gh*gw, K)
        if self.encoder == "triangle":
            x_sq = np.einsum("ij,ij->i", white, white)[:, None]
            c_sq = np.einsum("ij,ij->i", self.centroids_, self.centroids_)[None, :]
            dots *= -2.0
            dots += x_sq
            dots += c_sq
            np.maximum(dots, 0.0, out=dots)
            np.sqrt(dots, out=dots)  # z_k = ||x - c_k||
            mu = dots.mean(axis=1, keepdims=True)
            np.subtract(mu, dots, out=dots)
            np.maximum(dots, 0.0, out=dots)
        else:
            dots -= 0.25
            np.maximum(dots, 0.0, out=dots)
        fmap = dots.reshape(b, gh, gw, -1)
        hr, hc = gh // 2, gw // 2
        quads = (
            fmap[:, :hr, :hc].sum(axis=(1, 2)),
            fmap[:, :hr, hc:].sum(axis=(1, 2)),
            fmap[:, hr:, :hc].sum(axis=(1, 2)),
            fmap[:, hr:, hc:].sum(axis=(1, 2)),
        )
        return np.concatenate(quads, axis=1)

    def transform(self, images, *, progress: bool = False) -> np.ndarray:
        """Encode ``images`` into float32 features of shape (N, 4 * n_centroids).

        Args:
            images: array (N, H, W, C) with the same H, W, C as at :meth:`fit`.
            progress: show a tqdm progress bar.

        Raises:
            ValueError: not fitted, or the image shape differs from the one at fit.
        """
        if not hasattr(self, "centroids_"):
            raise ValueError("PatchFeatures is not fitted; call fit(images) first")
        images = _as_images(images)
        if images.shape[1:] != self.image_shape_:
            raise ValueError(
                f"images must have shape (N, {', '.join(map(str, self.image_shape_))}) as at "
                f"fit, got {images.shape}"
            )
        out = np.empty((images.shape[0], self.n_features), dtype=np.float32)
        starts = range(0, images.shape[0], self.batch_size)
        if progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc="patch features", unit="batch")
        for a in starts:
            out[a : a + self.batch_size] = self._encode_batch(images[a : a + self.batch_size])
        return out

    def fit_transform(self, images, y=None, *, progress: bool = False) -> np.ndarray:
        """:meth:`fit` then :meth:`transform` on the same images."""
        return self.fit(images).transform(images, progress=progress)


# ------------------------------------------------------------------ wavelet scattering
def _gabor(m: int, n: int, sigma: float, theta: float, xi: float, slant: float = 1.0) -> np.ndarray:
    """A 2-D Gabor filter on an (m, n) periodic grid, complex128: the Gaussian envelope
    ``exp(-u^T A u)``, ``A = R diag(1, slant^2) R^T / (2 sigma^2)`` (R the rotation by
    ``theta``), times the plane wave ``exp(i xi (u_0 cos theta + u_1 sin theta))``, summed
    over the 5 x 5 nearest periods (so that the filter is periodic) and divided by
    ``2 pi sigma^2 / slant``."""
    c, s = np.cos(theta), np.sin(theta)
    rot = np.array([[c, -s], [s, c]])
    a = rot @ np.diag([1.0, slant * slant]) @ rot.T / (2.0 * sigma * sigma)
    out = np.zeros((m, n), dtype=np.complex128)
    for px in range(-2, 3):
        for py in range(-2, 3):
            u0, u1 = np.meshgrid(np.arange(m) + px * m, np.arange(n) + py * n, indexing="ij")
            quad = a[0, 0] * u0 * u0 + (a[0, 1] + a[1, 0]) * u0 * u1 + a[1, 1] * u1 * u1
            out += np.exp(-quad + 1j * xi * (u0 * c + u1 * s))
    return out / (2.0 * np.pi * sigma * sigma / slant)


def _morlet(m: int, n: int, sigma: float, theta: float, xi: float, slant: float) -> np.ndarray:
    """The Morlet wavelet: the Gabor filter minus the multiple of its envelope that makes its
    sum (its mean, its zero frequency) exactly zero."""
    wave = _gabor(m, n, sigma, theta, xi, slant)
    envelope = _gabor(m, n, sigma, theta, 0.0, slant)
    return wave - (wave.sum() / envelope.sum()) * envelope


def _fold_filter(f: np.ndarray, res: int) -> np.ndarray:
    """A filter's Fourier transform (m, n) for a signal subsampled by ``2**res``: the
    frequencies above the new band are dropped, the rest folded (summed) onto the
    ``(m / 2**res, n / 2**res)`` grid."""
    if res == 0:
        return f.copy()
    m, n = f.shape
    k = 2 ** res
    keep = np.ones((m, n))
    keep[int(m / (2 * k)): int(m / (2 * k)) + int(m * (1 - 1 / k)), :] = 0
    keep[:, int(n / (2 * k)): int(n / (2 * k)) + int(n * (1 - 1 / k))] = 0
    return (f * keep).reshape(k, m // k, k, n // k).sum(axis=(0, 2))


def scattering_filters(m: int, n: int, J: int, L: int) -> dict:
    """The filter bank of a 2-D scattering transform on (m, n) (padded) signals, in Fourier.

    Morlet wavelets ``psi_{j, theta}`` for scales ``j < J`` and ``L`` orientations
    (``sigma = 0.8 * 2**j``, central frequency ``3 pi / 4 / 2**j``, slant ``4 / L``: the
    design of Bruna & Mallat 2013 and of the Kymatio package, Andreux et al. 2020) and the
    Gaussian low-pass ``phi_J`` (``sigma = 0.8 * 2**(J - 1)``), each as the real part of its
    DFT, also folded for the signals subsampled by ``2**res``.

    Returns:
        ``{"phi": [phi at res 0, ..., J - 1], "psi": [(j, theta, [psi at res 0, ...])]}``,
        float64 arrays; ``psi`` ordered by ``j`` then ``theta``.
    """
    psi = []
    for j in range(J):
        for t in range(L):
            angle = (int(L - L / 2 - 1) - t) * np.pi / L
            f = np.real(np.fft.fft2(_morlet(m, n, 0.8 * 2 ** j, angle, 3.0 * np.pi / 4.0 / 2 ** j,
                                            4.0 / L)))
            psi.append((j, t, [_fold_filter(f, r) for r in range(min(j + 1, max(J - 1, 1)))]))
    f = np.real(np.fft.fft2(_gabor(m, n, 0.8 * 2 ** (J - 1), 0.0, 0.0)))
    return {"phi": [_fold_filter(f, r) for r in range(J)], "psi": psi}


def _check_scattering_shape(shape: tuple, J, L) -> None:
    """ValueError unless J, L are integers >= 1 and the (N, H, W, C) images' sides are
    multiples of ``2**J``."""
    if isinstance(J, bool) or not isinstance(J, int) or J < 1 or isinstance(L, bool) \
            or not isinstance(L, int) or L < 1:
        raise ValueError(f"J and L must be integers >= 1, got J={J!r}, L={L!r}")
    h, w, k = shape[1], shape[2], 2 ** J
    if h % k or w % k:
        raise ValueError(f"images of {h} x {w} pixels: the sides must be multiples of 2**J = {k}")


def scattering_transform(images, *, J: int = 2, L: int = 8, batch_size: int = 256,
                         progress: bool = False) -> np.ndarray:
    """The 2-D wavelet scattering transform of order 2 of every channel of every image.

    Bruna & Mallat 2013, "Invariant Scattering Convolution Networks" (IEEE TPAMI), eq. 5 to
    8 and Section III: with ``x`` one channel, ``*`` circular convolution after reflection
    padding and ``phi_J`` averaging over ``2**J`` pixels,

    * order 0: ``x * phi_J``;
    * order 1: ``|x * psi_{j1, t1}| * phi_J`` for every scale ``j1 < J`` and orientation;
    * order 2: ``||x * psi_{j1, t1}| * psi_{j2, t2}| * phi_J`` for ``j1 < j2 < J``,

    each subsampled by ``2**J``; every wavelet modulus is computed at the resolution its
    band needs (subsampled by ``2**j``), as in Kymatio (Andreux et al. 2020, JMLR), whose
    coefficients these equal (tests/test_features.py compares them where Kymatio is
    installed). Translation invariant up to ``2**J`` pixels, stable to small deformations;
    no parameter is learned, so fitting nothing on held-out images leaks no label.

    Args:
        images: (N, H, W, C) or (N, H, W) array (uint8 0-255 or float); H and W multiples of
            ``2**J``. Values are used as given (uint8 scaled to [0, 1]).
        J: number of scales (the averaging window is ``2**J`` pixels); L: orientations.
        batch_size: images per FFT batch (memory ~ ``batch_size * C * 20 * (H + 2**J)^2``
            bytes at J = 2).
        progress: a tqdm bar over the batches.

    Returns:
        float32 (N, C, P, H / 2**J, W / 2**J) with ``P = 1 + J L + L^2 J (J - 1) / 2``
        paths (81 at J = 2, L = 8): order 0, then order 1 by (j1, t1), then order 2 by
        (j1, t1, j2, t2).

    Raises:
        ValueError: not an (N, H, W[, C]) array, H or W not a multiple of ``2**J``,
            ``J < 1`` or ``L < 1``, non-finite values.
    """
    import torch

    x = _as_images(images)
    _check_scattering_shape(x.shape, J, L)
    n, h, w, ch = x.shape
    k = 2 ** J
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 255.0
    else:
        x = x.astype(np.float32)
        if not np.isfinite(x).all():
            raise ValueError("images must be finite (no NaN or inf)")
    hp, wp = (h // k + 2) * k, (w // k + 2) * k  # room for the averaging window
    top, left = (hp - h) // 2, (wp - w) // 2
    bank = scattering_filters(hp, wp, J, L)
    phi = [torch.from_numpy(f).float() for f in bank["phi"]]
    psi = [(j, [torch.from_numpy(f).float() for f in levels]) for j, _, levels in bank["psi"]]

    def sub(z, s: int):  # subsampling by s in space = folding (averaging) in Fourier,
        # done as halvings (a reshape-mean over two axes is ten times slower on CPU)
        if s == 1:
            return z
        for _ in range(int(np.log2(s))):
            m2, n2 = z.shape[1] // 2, z.shape[2] // 2
            z = z[:, :m2] + z[:, m2:]
            z = z[:, :, :n2] + z[:, :, n2:]
        return z / float(s * s)

    def low(zf, res: int):  # (. * phi_J) subsampled to 2**J, unpadded
        out = torch.fft.ifft2(sub(zf * phi[res], 2 ** (J - res))).real
        return out[:, 1:-1, 1:-1]

    paths = 1 + J * L + L * L * J * (J - 1) // 2
    result = np.empty((n, ch, paths, h // k, w // k), dtype=np.float32)
    starts = range(0, n, batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="scattering", unit="batch")
    for a in starts:
        xb = torch.from_numpy(np.ascontiguousarray(x[a:a + batch_size].transpose(0, 3, 1, 2)))
        b = xb.shape[0]
        xb = torch.nn.functional.pad(xb, (left, wp - w - left, top, hp - h - top),
                                     mode="reflect").reshape(b * ch, hp, wp)
        xf = torch.fft.fft2(xb.to(torch.complex64))  # a complex FFT is faster than a real one here
        out = [low(xf, 0)]
        second = []
        for j1, lev1 in psi:
            u1 = torch.fft.fft2(torch.fft.ifft2(sub(xf * lev1[0], 2 ** j1)).abs().to(xf.dtype))
            out.append(low(u1, j1))
            for j2, lev2 in psi:
                if j2 > j1:
                    u2 = torch.fft.ifft2(sub(u1 * lev2[j1], 2 ** (j2 - j1))).abs()
                    u2 = torch.fft.fft2(u2.to(xf.dtype))
                    second.append(low(u2, j2))
        s = torch.stack(out + second, dim=1)  # (b * ch, P, h/k, w/k)
        result[a:a + b] = s.reshape(b, ch, paths, h // k, w // k).numpy()
    return result


def scattering_features(images, *, J: int = 2, L: int = 8, pool: int = 2, mirror: bool = True,
                        progress: bool = False) -> np.ndarray:
    """Image features from the scattering transform (:func:`scattering_transform`):
    ``log(1 + S)`` of every coefficient (Oyallon & Mallat 2015, "Deep Roto-Translation
    Scattering for Object Classification": the log makes the coefficients' scales
    comparable for a linear classifier), average-pooled over ``pool`` x ``pool`` blocks,
    flattened; with ``mirror`` the average of each image's and its horizontal mirror
    image's features (features a flip does not change).

    Args:
        images: as :func:`scattering_transform`; H / 2**J and W / 2**J multiples of ``pool``.
        J, L: scales and orientations; pool: pooling block side (>= 1).

    Returns:
        float32 (N, C * P * (H / 2**J / pool) * (W / 2**J / pool)): 3,888 for 32 x 32 RGB
        images at the defaults.

    Raises:
        ValueError: as :func:`scattering_transform`, or a ``pool`` that does not divide the
            coefficient maps.
    """
    x = _as_images(images)
    _check_scattering_shape(x.shape, J, L)
    k = 2 ** J
    if isinstance(pool, bool) or not isinstance(pool, int) or pool < 1 \
            or (x.shape[1] // k) % pool or (x.shape[2] // k) % pool:
        raise ValueError(f"pool must be an integer >= 1 dividing the {x.shape[1] // k} x "
                         f"{x.shape[2] // k} coefficient maps, got {pool!r}")

    def one(arr):
        s = np.log1p(scattering_transform(arr, J=J, L=L, progress=progress))
        n, c, p, hh, ww = s.shape
        s = s.reshape(n, c, p, hh // pool, pool, ww // pool, pool).mean(axis=(4, 6))
        return s.reshape(n, -1)

    feats = one(x)
    if mirror:
        feats = 0.5 * (feats + one(np.ascontiguousarray(x[:, :, ::-1])))
    return feats.astype(np.float32)
