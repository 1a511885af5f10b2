"""The fused kernel's NumPy reference: one pass from the source's YCbCr to the output's.

The CUDA twin is compared with this reference in ``test_twins.py``; here the
reference itself is checked against colour-science (the matrix conversion) and
against a step-by-step restatement of its definition (resize, convert, LUT,
convert back, letterbox in the output range's black).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from farm.kernels import FusedGeometry, Lut, fused_nv12_resize, identity_lut, resize, rgb_to_yuv
from farm.kernels._common import black_codes, rgb_to_ycbcr_affine, ycbcr_to_rgb_affine
from farm.kernels._lut import apply_lut

colour = pytest.importorskip("colour")
warnings.filterwarnings("ignore", module="colour")

K = {"bt601": "ITU-R BT.601", "bt709": "ITU-R BT.709", "bt2020": "ITU-R BT.2020"}
CONVERSIONS = [("bt601", "limited"), ("bt2020", "limited"), ("bt709", "full"), ("bt601", "full")]


def _look() -> Lut:
    grid = identity_lut(9).table3d.astype(np.float64)
    r, g, b = np.moveaxis(grid, -1, 0)
    return Lut(np.stack([r**0.8, 0.05 + 0.9 * g, np.sqrt(b) * 0.9 + 0.05 * r], -1), title="look")


def definition(y, uv, lut, geometry, in_matrix, in_range, out_matrix, out_range, filter):  # type: ignore[no-untyped-def]
    """The reference's definition with separate matrices in and out, step by step (float64)."""
    bits, shift = (8, 0) if y.dtype == np.uint8 else (10, 6)
    g = geometry
    luma = resize((y >> shift).astype(np.float32), g.fit_w, g.fit_h, filter).astype(np.float64)
    chroma = resize((uv >> shift).astype(np.float32), g.fit_w // 2, g.fit_h // 2, filter).astype(np.float64)
    codes = np.concatenate([luma[..., None], chroma.repeat(2, 0).repeat(2, 1)], -1)
    a, b = ycbcr_to_rgb_affine(in_matrix, in_range, bits)
    rgb = np.clip(codes @ a.T + b, 0, 1)
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


@pytest.mark.parametrize("fmt", ["nv12", "p010"])
@pytest.mark.parametrize(("in_matrix", "in_range"), CONVERSIONS)
def test_matrix_conversion_matches_colour_science(rng, fmt, in_matrix, in_range):
    """Same size, identity look: the reference is a YCbCr -> R'G'B' -> YCbCr conversion."""
    bits, shift = (8, 0) if fmt == "nv12" else (10, 6)
    y, uv = rgb_to_yuv(rng.uniform(0.02, 0.98, (12, 16, 3)), in_matrix, in_range, fmt)
    y_o, uv_o = fused_nv12_resize(
        y,
        uv,
        identity_lut(2),
        16,
        12,
        matrix=in_matrix,
        range=in_range,
        out_matrix="bt709",
        out_range="limited",
    )
    assert y_o.dtype == uv_o.dtype == y.dtype
    codes = np.concatenate(
        [(y >> shift)[..., None].astype(float), (uv >> shift).repeat(2, 0).repeat(2, 1).astype(float)], -1
    )
    rgb = colour.YCbCr_to_RGB(codes, K=colour.WEIGHTS_YCBCR[K[in_matrix]], in_bits=bits,
                              in_legal=in_range == "limited", in_int=True)  # fmt: skip
    ycbcr = colour.RGB_to_YCbCr(np.clip(rgb, 0.0, 1.0), K=colour.WEIGHTS_YCBCR["ITU-R BT.709"],
                                out_bits=bits, out_legal=True, out_int=False)  # fmt: skip
    expected = ycbcr * (2**bits - 1)
    assert np.abs((y_o >> shift) - expected[..., 0]).max() <= 0.5 + 1e-6
    chroma = expected[..., 1:].reshape(6, 2, 8, 2, 2).mean(axis=(1, 3))
    assert np.abs((uv_o >> shift) - chroma).max() <= 0.5 + 1e-6


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize(("in_matrix", "in_range"), CONVERSIONS)
def test_the_reference_follows_its_definition(rng, dtype, in_matrix, in_range):
    rgb = rng.uniform(0.05, 0.95, (20, 24, 3)).astype(np.float32)
    y, uv = rgb_to_yuv(rgb, in_matrix, in_range, "nv12" if dtype == np.uint8 else "p010")
    geometry = FusedGeometry(20, 14, 2, 2, 16, 10)
    lut = _look()
    want = definition(y, uv, lut, geometry, in_matrix, in_range, "bt709", "limited", "bicubic")
    got = fused_nv12_resize(y, uv, lut, 20, 14, (2, 2, 16, 10), matrix=in_matrix, range=in_range,
                            filter="bicubic", out_matrix="bt709", out_range="limited")  # fmt: skip
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape and g.dtype == w.dtype
        assert np.array_equal(g, w)
    # the letterbox is the output range's black (limited: code 16, 64 in 10 bits), not the input's
    assert got[0][0, 0] == (16 if dtype == np.uint8 else 64 << 6)


def test_the_output_format_defaults_to_the_input_format(rng):
    y, uv = rgb_to_yuv(rng.uniform(0, 1, (16, 20, 3)), "bt601", "full", "nv12")
    lut = _look()
    default = fused_nv12_resize(y, uv, lut, 12, 10, (0, 2, 12, 6), matrix="bt601", range="full")
    explicit = fused_nv12_resize(
        y, uv, lut, 12, 10, (0, 2, 12, 6), matrix="bt601", range="full", out_matrix="bt601", out_range="full"
    )
    for a, b in zip(default, explicit, strict=True):
        assert np.array_equal(a, b)
    assert default[0][0, 0] == 0  # full-range black in the letterbox


def test_bad_names_are_refused():
    y, uv = np.zeros((4, 4), np.uint8), np.zeros((2, 2, 2), np.uint8)
    with pytest.raises(ValueError, match="matrix"):
        fused_nv12_resize(y, uv, identity_lut(2), 4, 4, out_matrix="bt999")
    with pytest.raises(ValueError, match="range"):
        fused_nv12_resize(y, uv, identity_lut(2), 4, 4, out_range="studio")
    with pytest.raises(ValueError, match="filter"):
        fused_nv12_resize(y, uv, identity_lut(2), 4, 4, filter="box")
