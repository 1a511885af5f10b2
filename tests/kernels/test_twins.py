"""The CUDA twins against the NumPy references.

Each test runs twice: on the emulated CuPy (the .cu sources compiled for the
CPU, see conftest.py) everywhere, and on real CuPy where there is a GPU
(marked ``gpu``). Tolerances allow for float32 on the device versus float64
in the references, and for one code of rounding in integer outputs.
"""

from __future__ import annotations

import numpy as np
import pytest

from farm.kernels import (
    Lut,
    apply_lut,
    fused_nv12_resize,
    identity_lut,
    resize,
    rgb_to_yuv,
    yuv_to_rgb,
)


def _creative_lut(size: int = 9, shaper: bool = False) -> Lut:
    grid = identity_lut(size).table3d.astype(np.float64)
    r, g, b = grid[..., 0], grid[..., 1], grid[..., 2]
    table = np.stack(
        [r**0.8 * 0.9 + 0.05 * b, g * (1.0 - 0.2 * r) + 0.1 * b**2, np.sqrt(b) * 0.7 + 0.2 * r], -1
    )
    if not shaper:
        return Lut(table, title="creative")
    curve = np.linspace(0.0, 1.0, 17)[:, None] ** np.array([0.5, 0.6, 0.7])
    return Lut(table, shaper1d=curve, shaper_domain_min=-0.1, shaper_domain_max=1.2, title="creative+shaper")


@pytest.mark.parametrize("interpolation", ["tetrahedral", "trilinear"])
@pytest.mark.parametrize("shaper", [False, True])
def test_apply_lut_twin(device_xp, rng, interpolation, shaper):
    lut = _creative_lut(shaper=shaper)
    rgb = rng.uniform(-0.05, 1.05, (24, 20, 3)).astype(np.float32)
    expected = apply_lut(rgb, lut, interpolation)
    result = apply_lut(device_xp.asarray(rgb), lut, interpolation)
    assert type(result) is device_xp.ndarray
    np.testing.assert_allclose(device_xp.asnumpy(result), expected, atol=2e-6)


@pytest.mark.parametrize("filter", ["bilinear", "bicubic", "lanczos3"])
@pytest.mark.parametrize("size", [(13, 11), (37, 29)])
def test_resize_twin(device_xp, rng, filter, size):
    image = rng.random((19, 23, 3)).astype(np.float32)
    expected = resize(image, *size, filter)
    result = resize(device_xp.asarray(image), *size, filter)
    assert result.shape == (size[1], size[0], 3)
    np.testing.assert_allclose(device_xp.asnumpy(result), expected, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize(
    ("matrix", "range_"), [("bt709", "limited"), ("bt601", "full"), ("bt2020", "limited")]
)
@pytest.mark.parametrize("upsample", ["bilinear", "nearest"])
def test_yuv_to_rgb_twin(device_xp, rng, dtype, matrix, range_, upsample):
    top, shift = (255, 0) if dtype == np.uint8 else (1023, 6)
    y = (rng.integers(0, top + 1, (12, 16)) << shift).astype(dtype)
    uv = (rng.integers(0, top + 1, (6, 8, 2)) << shift).astype(dtype)
    expected = yuv_to_rgb(y, uv, matrix, range_, upsample)
    result = yuv_to_rgb(device_xp.asarray(y), device_xp.asarray(uv), matrix, range_, upsample)
    np.testing.assert_allclose(device_xp.asnumpy(result), expected, atol=2e-6)


def test_yuv_to_rgb_twin_reads_pitched_planes(device_xp, rng):
    """NVDEC surfaces have a row pitch wider than the picture: the kernel must honour it."""
    padded_y = rng.integers(0, 256, (12, 24)).astype(np.uint8)
    padded_uv = rng.integers(0, 256, (6, 12, 2)).astype(np.uint8)
    expected = yuv_to_rgb(padded_y[:, :16].copy(), padded_uv[:, :8].copy())
    device_y = device_xp.asarray(padded_y)[:, :16]
    device_uv = device_xp.asarray(padded_uv)[:, :8]
    np.testing.assert_allclose(device_xp.asnumpy(yuv_to_rgb(device_y, device_uv)), expected, atol=2e-6)


@pytest.mark.parametrize("format", ["nv12", "p010"])
@pytest.mark.parametrize(("matrix", "range_"), [("bt709", "limited"), ("bt601", "full")])
def test_rgb_to_yuv_twin(device_xp, rng, format, matrix, range_):
    rgb = rng.uniform(-0.02, 1.02, (10, 14, 3)).astype(np.float32)
    expected_y, expected_uv = rgb_to_yuv(rgb, matrix, range_, format)
    y, uv = rgb_to_yuv(device_xp.asarray(rgb), matrix, range_, format)
    step = 1 if format == "nv12" else 64
    for got, want in ((y, expected_y), (uv, expected_uv)):
        diff = np.abs(device_xp.asnumpy(got).astype(np.int64) - want.astype(np.int64))
        assert got.dtype == want.dtype
        assert diff.max() <= step  # a code either side of an exact .5
        assert np.mean(diff > 0) < 0.02


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("filter", ["bilinear", "bicubic"])
def test_fused_twin(device_xp, photos, dtype, filter):
    rgb = photos["coffee"][:40, :64]
    y, uv = rgb_to_yuv(rgb, "bt709", "limited", "nv12" if dtype == np.uint8 else "p010")
    lut = _creative_lut(9)
    fit = (4, 2, 20, 14)  # pillarbox and letterbox inside a 28 x 18 frame
    expected = fused_nv12_resize(y, uv, lut, 28, 18, fit, filter=filter)
    result = fused_nv12_resize(device_xp.asarray(y), device_xp.asarray(uv), lut, 28, 18, fit, filter=filter)
    step = 1 if dtype == np.uint8 else 64
    for got, want in zip(result, expected, strict=True):
        got = device_xp.asnumpy(got)
        assert got.shape == want.shape and got.dtype == want.dtype
        assert np.abs(got.astype(np.int64) - want.astype(np.int64)).max() <= step


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize(
    ("in_matrix", "in_range"), [("bt601", "limited"), ("bt2020", "limited"), ("bt709", "full")]
)
def test_fused_twin_converts_to_another_matrix(device_xp, rng, dtype, in_matrix, in_range):
    """A BT.601, BT.2020 or full-range source written as BT.709 limited range, in the same one pass."""
    rgb = rng.uniform(0.05, 0.95, (20, 24, 3)).astype(np.float32)
    y, uv = rgb_to_yuv(rgb, in_matrix, in_range, "nv12" if dtype == np.uint8 else "p010")
    lut = _creative_lut(9)
    args = dict(matrix=in_matrix, range=in_range, filter="bicubic", out_matrix="bt709", out_range="limited")
    expected = fused_nv12_resize(y, uv, lut, 20, 14, (2, 2, 16, 10), **args)
    result = fused_nv12_resize(
        device_xp.asarray(y), device_xp.asarray(uv), lut, 20, 14, (2, 2, 16, 10), **args
    )
    step = 1 if dtype == np.uint8 else 64
    for got, want in zip(result, expected, strict=True):
        got = device_xp.asnumpy(got)
        assert got.shape == want.shape and got.dtype == want.dtype
        assert np.abs(got.astype(np.int64) - want.astype(np.int64)).max() <= step


def test_fused_twin_refuses_bad_names_before_any_launch(device_xp):
    y = device_xp.asarray(np.zeros((4, 4), np.uint8))
    uv = device_xp.asarray(np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(ValueError, match="matrix"):
        fused_nv12_resize(y, uv, identity_lut(2), 4, 4, matrix="bt999")
    with pytest.raises(ValueError, match="filter"):
        fused_nv12_resize(y, uv, identity_lut(2), 4, 4, filter="box")


@pytest.mark.gpu
def test_fused_4k_to_1080p_on_the_gpu_matches_the_reference(photos):
    """The benchmark's case at full size, on real CuPy only (too slow to emulate)."""
    import cupy

    rgb = np.tile(photos["astronaut"], (14, 24, 1))[:2160, :3840]
    y, uv = rgb_to_yuv(rgb, "bt709", "limited", "nv12")
    lut = _creative_lut(33)
    fit = (240, 0, 1440, 1080)  # a 4:3 picture pillarboxed inside 1920 x 1080
    expected = fused_nv12_resize(y, uv, lut, 1920, 1080, fit)
    result = fused_nv12_resize(cupy.asarray(y), cupy.asarray(uv), lut, 1920, 1080, fit)
    for got, want in zip(result, expected, strict=True):
        diff = np.abs(cupy.asnumpy(got).astype(np.int64) - want.astype(np.int64))
        assert diff.max() <= 1 and np.mean(diff > 0) < 0.01
