"""YCbCr planes and CIEDE2000 against colour-science."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from farm.kernels import delta_e_2000, rgb_to_yuv, srgb_to_lab, yuv_to_rgb
from farm.kernels._color import downsample_chroma, upsample_chroma

colour = pytest.importorskip("colour")
warnings.filterwarnings("ignore", module="colour")

K = {"bt601": "ITU-R BT.601", "bt709": "ITU-R BT.709", "bt2020": "ITU-R BT.2020"}
FORMATS = {"nv12": (np.uint8, 8, 0), "p010": (np.uint16, 10, 6)}
CASES = [(f, m, r) for f in FORMATS for m in K for r in ("limited", "full")]


def _planes(rng, fmt, h=16, w=24):
    dtype, bits, shift = FORMATS[fmt]
    top = 2**bits
    y = (rng.integers(0, top, (h, w)) << shift).astype(dtype)
    uv = (rng.integers(0, top, (h // 2, w // 2, 2)) << shift).astype(dtype)
    return y, uv


@pytest.mark.parametrize(("fmt", "matrix", "range_"), CASES)
@pytest.mark.parametrize("upsample", ["bilinear", "nearest"])
def test_yuv_to_rgb_matches_colour_science(rng, fmt, matrix, range_, upsample):
    y, uv = _planes(rng, fmt)
    _, bits, shift = FORMATS[fmt]
    # the oracle gets the same chroma upsampling, then converts full-resolution YCbCr
    codes = np.concatenate(
        [(y >> shift)[..., None].astype(float), upsample_chroma(uv >> shift, *y.shape, upsample)], -1
    )
    expected = colour.YCbCr_to_RGB(codes, K=colour.WEIGHTS_YCBCR[K[matrix]], in_bits=bits,
                                   in_legal=range_ == "limited", in_int=True)  # fmt: skip
    result = yuv_to_rgb(y, uv, matrix, range_, upsample)
    assert result.dtype == np.float32 and result.shape == y.shape + (3,)
    np.testing.assert_allclose(result, np.clip(expected, 0.0, 1.0), atol=1e-6)


@pytest.mark.parametrize(("fmt", "matrix", "range_"), CASES)
def test_rgb_to_yuv_matches_colour_science(rng, fmt, matrix, range_):
    dtype, bits, shift = FORMATS[fmt]
    rgb = rng.random((16, 24, 3))
    y, uv = rgb_to_yuv(rgb, matrix, range_, fmt)
    assert y.dtype == uv.dtype == dtype and uv.shape == (8, 12, 2)
    ycbcr = colour.RGB_to_YCbCr(rgb, K=colour.WEIGHTS_YCBCR[K[matrix]], out_bits=bits,
                                out_legal=range_ == "limited", out_int=False)  # fmt: skip
    top = 2**bits - 1
    codes = ycbcr * top
    if range_ == "full":  # colour-science's float full-range chroma is centred on 0
        codes[..., 1:] += 2 ** (bits - 1)
    assert np.abs((y >> shift).astype(float) - codes[..., 0]).max() <= 0.5 + 1e-6
    chroma = downsample_chroma(codes[..., 1:])
    assert np.abs((uv >> shift).astype(float) - chroma).max() <= 0.5 + 1e-6


def test_chroma_siting_is_left_and_downsampling_inverts_flat_regions():
    """A chroma step between chroma columns 1 and 2 lands between luma columns 2 and 4."""
    c = np.zeros((2, 4)) + np.array([0, 0, 1, 1])
    up = upsample_chroma(c, 4, 8)
    np.testing.assert_allclose(up[0], [0, 0, 0, 0.5, 1, 1, 1, 1])
    np.testing.assert_allclose(downsample_chroma(np.full((4, 8), 7.0)), 7.0)


def test_round_trip_is_within_a_code(photos):
    rgb = 0.25 + 0.5 * photos["coffee"][:100, :160]  # inside the gamut: nothing clips on the way
    for fmt, (_, _, shift) in FORMATS.items():
        y, uv = rgb_to_yuv(rgb, "bt709", "limited", fmt)
        y2, _ = rgb_to_yuv(yuv_to_rgb(y, uv, "bt709", "limited"), "bt709", "limited", fmt)
        assert np.abs((y >> shift).astype(int) - (y2 >> shift)).max() <= 1


def test_rejects_odd_sizes_and_wrong_types():
    with pytest.raises(ValueError, match="even"):
        yuv_to_rgb(np.zeros((5, 4), np.uint8), np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        yuv_to_rgb(np.zeros((4, 4), np.float32), np.zeros((2, 2, 2), np.float32))
    with pytest.raises(ValueError, match="matrix"):
        yuv_to_rgb(np.zeros((4, 4), np.uint8), np.zeros((2, 2, 2), np.uint8), "bt470")


def test_lab_matches_colour_science(rng):
    rgb = rng.random((500, 3))
    expected = colour.XYZ_to_Lab(colour.sRGB_to_XYZ(rgb))
    np.testing.assert_allclose(srgb_to_lab(rgb), expected, atol=1e-6)


def test_delta_e_2000_matches_colour_science(rng, photos):
    a = rng.random((400, 3))
    b = np.clip(a + rng.normal(0, 0.05, a.shape), 0, 1)
    greys = np.repeat(rng.random((50, 1)), 3, axis=1)  # zero chroma: the formula's special cases
    for x, y in ((a, b), (greys, greys[::-1]), (photos["chelsea"], photos["chelsea"][::-1])):
        lab_x = colour.XYZ_to_Lab(colour.sRGB_to_XYZ(x))
        lab_y = colour.XYZ_to_Lab(colour.sRGB_to_XYZ(y))
        np.testing.assert_allclose(
            delta_e_2000(x, y), colour.delta_E(lab_x, lab_y, method="CIE 2000"), atol=1e-6
        )
