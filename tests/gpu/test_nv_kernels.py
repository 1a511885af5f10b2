"""The matrix-converting launch of the fused kernel, against a NumPy oracle.

Runs on the emulated CuPy of ``tests/kernels`` (the CUDA source compiled for
the CPU with g++, every launch argument checked against the kernel's C
signature) everywhere, and on real CuPy where there is a GPU.
"""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest
from gpu_helpers import TESTS, load_test_module

from farm.kernels import Lut, fused_nv12_resize, identity_lut, rgb_to_yuv
from farm.kernels._color import rgb_to_ycbcr_affine, ycbcr_to_rgb_affine
from farm.kernels._fused import FusedGeometry, black_codes
from farm.kernels._lut import apply_lut
from farm.kernels._resize import resize


def _clear_kernel_caches() -> None:
    from farm.kernels import _cupy

    _cupy._module.cache_clear()
    _cupy.device_taps.cache_clear()
    _cupy.device_affine.cache_clear()
    _cupy._lut_tables.clear()


@pytest.fixture(params=["emulated", pytest.param("cupy", marks=pytest.mark.gpu)])
def xp(request, tmp_path_factory, monkeypatch):  # type: ignore[no-untyped-def]
    if request.param == "cupy":
        import cupy

        _clear_kernel_caches()
        yield cupy
        _clear_kernel_caches()
        return
    if shutil.which("g++") is None:
        pytest.skip("g++ is needed to emulate the CUDA kernels")
    kernels_conftest = load_test_module("kernels_conftest", TESTS / "kernels" / "conftest.py")
    cp = kernels_conftest._make_emulated_cupy(tmp_path_factory.mktemp("emulated_nv"))
    monkeypatch.setitem(sys.modules, "cupy", cp)
    _clear_kernel_caches()
    yield cp
    _clear_kernel_caches()


def _lut() -> Lut:
    grid = identity_lut(9).table3d.astype(np.float64)
    r, g, b = np.moveaxis(grid, -1, 0)
    return Lut(np.stack([r**0.8, 0.05 + 0.9 * g, np.sqrt(b) * 0.9 + 0.05 * r], -1), title="look")


def oracle(y, uv, lut, geometry, in_matrix, in_range, out_matrix, out_range, filter):  # type: ignore[no-untyped-def]
    """The fused reference's definition with separate matrices in and out (float64)."""
    bits, shift = (8, 0) if y.dtype == np.uint8 else (10, 6)
    g = geometry
    luma = resize((y >> shift).astype(np.float32), g.fit_w, g.fit_h, filter).astype(np.float64)
    chroma = resize((uv >> shift).astype(np.float32), g.fit_w // 2, g.fit_h // 2, filter).astype(np.float64)
    codes = np.concatenate([luma[..., None], chroma.repeat(2, 0).repeat(2, 1)], -1)
    a, b = ycbcr_to_rgb_affine(in_matrix, in_range, bits)
    rgb = np.clip(np.clip(codes @ a.T + b, 0, 1), 0, 1)
    graded = np.clip(apply_lut(rgb, lut).astype(np.float64), 0, 1)
    a2, b2 = rgb_to_ycbcr_affine(out_matrix, out_range, bits)
    out = graded @ a2.T + b2
    out_c = out[..., 1:].reshape(g.fit_h // 2, 2, g.fit_w // 2, 2, 2).mean(axis=(1, 3))
    by, bc = black_codes(out_range, bits)
    y_o = np.full((g.out_height, g.out_width), by)
    uv_o = np.full((g.out_height // 2, g.out_width // 2, 2), bc)
    y_o[g.fit_y : g.fit_y + g.fit_h, g.fit_x : g.fit_x + g.fit_w] = out[..., 0]
    uv_o[g.fit_y // 2 : (g.fit_y + g.fit_h) // 2, g.fit_x // 2 : (g.fit_x + g.fit_w) // 2] = out_c
    top = 2**bits - 1
    return [(np.rint(np.clip(v, 0, top)).astype(y.dtype) << shift).astype(y.dtype) for v in (y_o, uv_o)]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize(
    ("in_matrix", "in_range"), [("bt601", "limited"), ("bt2020", "limited"), ("bt709", "full")]
)
def test_fused_convert_matches_its_definition(xp, dtype, in_matrix, in_range):
    from farm.backends.nvidia.kernels import fused_convert

    rng = np.random.default_rng(7)
    rgb = rng.uniform(0.05, 0.95, (20, 24, 3)).astype(np.float32)
    y, uv = rgb_to_yuv(rgb, in_matrix, in_range, "nv12" if dtype == np.uint8 else "p010")
    geometry = FusedGeometry(20, 14, 2, 2, 16, 10)
    lut = _lut()
    want = oracle(y, uv, lut, geometry, in_matrix, in_range, "bt709", "limited", "bicubic")
    got = fused_convert(xp.asarray(y), xp.asarray(uv), lut, geometry, in_matrix, in_range)
    step = 1 if dtype == np.uint8 else 64
    for g, w in zip(got, want, strict=True):
        g = xp.asnumpy(g)
        assert g.shape == w.shape and g.dtype == w.dtype
        assert np.abs(g.astype(np.int64) - w.astype(np.int64)).max() <= step


def test_with_equal_matrices_it_is_the_public_fused_kernel(xp):
    from farm.backends.nvidia.kernels import fused_convert

    rng = np.random.default_rng(3)
    y, uv = rgb_to_yuv(rng.uniform(0, 1, (16, 20, 3)).astype(np.float32), "bt709", "limited", "nv12")
    geometry = FusedGeometry(12, 10, 0, 2, 12, 6)
    lut = _lut()
    ours = fused_convert(xp.asarray(y), xp.asarray(uv), lut, geometry, "bt709", "limited")
    public = fused_nv12_resize(xp.asarray(y), xp.asarray(uv), lut, 12, 10, (0, 2, 12, 6), filter="bicubic")
    for a, b in zip(ours, public, strict=True):
        assert np.array_equal(xp.asnumpy(a), xp.asnumpy(b))


def test_bad_names_are_refused_before_any_launch(xp):
    from farm.backends.nvidia.kernels import fused_convert

    y = xp.asarray(np.zeros((4, 4), np.uint8))
    uv = xp.asarray(np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(ValueError):
        fused_convert(y, uv, identity_lut(2), FusedGeometry(4, 4, 0, 0, 4, 4), "bt999", "limited")
    with pytest.raises(ValueError):
        fused_convert(
            y, uv, identity_lut(2), FusedGeometry(4, 4, 0, 0, 4, 4), "bt709", "limited", filter="box"
        )
