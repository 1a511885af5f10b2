"""match() against independent implementations of the three transfers.

Each oracle applies its transfer directly to every pixel; match() bakes the
transfer into a 33³ LUT. The two results are compared in mean ΔE2000
(colour-science's), with bounds from the issue: 0.6 MKL, 1.0 Reinhard,
1.5 histogram.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from farm.kernels import apply_lut, identity_lut, match

colour = pytest.importorskip("colour")
scipy_linalg = pytest.importorskip("scipy.linalg")
exposure = pytest.importorskip("skimage.exposure")
warnings.filterwarnings("ignore", module="colour")

PAIRS = [("astronaut", "coffee"), ("chelsea", "rocket"), ("rocket", "astronaut")]


def _mean_delta_e(a: np.ndarray, b: np.ndarray) -> float:
    def lab(x):
        return colour.XYZ_to_Lab(colour.sRGB_to_XYZ(np.clip(x, 0.0, 1.0)))

    return float(np.mean(colour.delta_E(lab(a), lab(b), method="CIE 2000")))


def mkl_oracle(source: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Pitié & Kokaram 2007, eq. 8, with SciPy's matrix square root."""
    s, r = source.reshape(-1, 3).astype(np.float64), reference.reshape(-1, 3).astype(np.float64)
    cov_s, cov_r = np.cov(s, rowvar=False), np.cov(r, rowvar=False)
    root_s = np.real(scipy_linalg.sqrtm(cov_s))
    inv_root_s = np.linalg.inv(root_s)
    t = inv_root_s @ np.real(scipy_linalg.sqrtm(root_s @ cov_r @ root_s)) @ inv_root_s
    return ((s - s.mean(0)) @ t.T + r.mean(0)).reshape(source.shape)


def reinhard_oracle(source: np.ndarray, reference: np.ndarray, floor: float = 1e-4) -> np.ndarray:
    """Reinhard et al. 2001, eqs. 4, 6 and the statistics transfer, with the paper's matrices."""
    rgb_to_lms = np.array([[0.3811, 0.5783, 0.0402], [0.1967, 0.7244, 0.0782], [0.0241, 0.1288, 0.8444]])
    lms_to_lab = np.diag([3**-0.5, 6**-0.5, 2**-0.5]) @ np.array([[1, 1, 1], [1, 1, -2], [1, -1, 0]])

    def to_lab(x):
        return np.log10(np.maximum(x.reshape(-1, 3) @ rgb_to_lms.T, floor)) @ lms_to_lab.T

    ls, lr = to_lab(source), to_lab(reference)
    out = (ls - ls.mean(0)) / ls.std(0) * lr.std(0) + lr.mean(0)
    lms = 10 ** (out @ np.linalg.inv(lms_to_lab).T)
    return (lms @ np.linalg.inv(rgb_to_lms).T).reshape(source.shape)


def histogram_oracle(source: np.ndarray, reference: np.ndarray) -> np.ndarray:
    return exposure.match_histograms(source, reference, channel_axis=-1)


@pytest.mark.parametrize(
    ("method", "oracle", "bound"),
    [("mkl", mkl_oracle, 0.6), ("reinhard", reinhard_oracle, 1.0), ("histogram", histogram_oracle, 1.5)],
)
@pytest.mark.parametrize(("source", "reference"), PAIRS)
def test_baked_lut_matches_the_direct_transfer(photos, method, oracle, bound, source, reference):
    s, r = photos[source], photos[reference]
    lut = match(s, r, method)
    assert lut.size == 33
    baked = apply_lut(s, lut)
    direct = oracle(s, r)
    error = _mean_delta_e(baked, direct)
    assert error < bound, f"{method} {source}->{reference}: mean dE2000 {error:.3f}"
    # and the transfer really moved the picture towards the reference look
    assert _mean_delta_e(s, direct) > 5 * bound


def test_mkl_carries_the_source_statistics_onto_the_reference(photos):
    s, r = photos["coffee"], photos["chelsea"]
    out = apply_lut(s, match(s, r, "mkl")).reshape(-1, 3)
    r = r.reshape(-1, 3)
    np.testing.assert_allclose(out.mean(0), r.mean(0), atol=2e-3)
    np.testing.assert_allclose(np.cov(out, rowvar=False), np.cov(r, rowvar=False), atol=2e-4)


def test_strength_blends_towards_the_identity(photos):
    s, r = photos["astronaut"], photos["rocket"]
    assert np.allclose(match(s, r, "reinhard", strength=0.0).table3d, identity_lut(33).table3d, atol=1e-6)
    full = match(s, r, "mkl", strength=1.0, size=9).table3d
    half = match(s, r, "mkl", strength=0.5, size=9).table3d
    np.testing.assert_allclose(half, 0.5 * (full + identity_lut(9).table3d), atol=1e-6)


def test_is_deterministic_and_subsamples_large_inputs(rng):
    big = rng.random((700, 800, 3)).astype(np.float32) ** 2  # 560k pixels, above the sample budget
    ref = rng.random((300, 300, 3)).astype(np.float32)
    assert match(big, ref, "histogram", size=5).digest() == match(big, ref, "histogram", size=5).digest()


def test_flat_source_still_gives_a_finite_lut():
    grey = np.full((10, 10, 3), 0.5, np.float32)
    ref = np.random.default_rng(0).random((10, 10, 3))
    for method in ("mkl", "reinhard", "histogram"):
        assert np.all(np.isfinite(match(grey, ref, method, size=5).table3d))


def test_rejects_bad_arguments(photos):
    s = photos["coffee"]
    with pytest.raises(ValueError, match="method"):
        match(s, s, "pca")
    with pytest.raises(ValueError, match="strength"):
        match(s, s, strength=1.5)
