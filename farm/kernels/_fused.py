"""NV12/P010 -> resize -> LUT -> NV12/P010 in one step, for the GPU worker.

The CUDA kernel (``cuda/fused.cu``) is separable: a horizontal pass reads the
source planes once and writes each row resampled to the output width into a
float intermediate (both planes in one launch), then a vertical pass reads
short columns of it, does the colour work and writes the output planes once.
Decoded frames never leave the GPU and no RGB intermediate is stored. This
module holds its NumPy reference, which the CuPy twin is tested against; both
take the same arguments and resample in the same order (rows, then columns).

The order is resize, then colour: the planes are resampled in YCbCr (equal to
resampling RGB, the conversion being affine, up to clipping), then each output
pixel goes YCbCr -> RGB (the source's matrix and range) -> LUT -> YCbCr (the
output's matrix and range, by default the source's). Output chroma is the mean
of its 2×2 pixels; source chroma is resampled as its own plane (the half-pixel
offset of left-sited chroma is ignored in this fast path).
"""

from __future__ import annotations

import numpy as np

from farm.kernels import _cupy
from farm.kernels._common import (
    Array,
    FloatArray,
    FusedGeometry,
    black_codes,
    check_filter,
    check_interpolation,
    check_planes,
    is_cupy,
    plane_format,
    rgb_to_ycbcr_affine,
    ycbcr_to_rgb_affine,
)
from farm.kernels._cube import Lut
from farm.kernels._lut import apply_lut
from farm.kernels._resize import resize

__all__ = ["FusedGeometry", "black_codes", "fused_nv12_resize"]


def fused_nv12_resize(
    y: Array,
    uv: Array,
    lut: Lut,
    out_width: int,
    out_height: int,
    fit_rect: tuple[int, int, int, int] | None = None,
    *,
    matrix: str = "bt709",
    range: str = "limited",
    filter: str = "bilinear",
    interpolation: str = "tetrahedral",
    out_matrix: str | None = None,
    out_range: str | None = None,
) -> tuple[Array, Array]:
    """Resize NV12 (or P010) planes into an ``out_width`` × ``out_height`` frame and apply ``lut``.

    ``fit_rect`` = (x, y, w, h) is where the picture goes inside the output
    (letterbox/pillarbox); the rest is black. Default: the whole frame.
    ``matrix`` and ``range`` describe the input; the output is written in
    ``out_matrix`` and ``out_range`` (default: the input's), at the input's
    bit depth. Returns ``(y_out, uv_out)``; CuPy planes run the CUDA kernel
    (pitched planes accepted) and return CuPy planes on the same device.
    """
    check_filter(filter)
    check_interpolation(interpolation)
    geometry = FusedGeometry.of(out_width, out_height, fit_rect)
    out_matrix = matrix if out_matrix is None else out_matrix
    out_range = range if out_range is None else out_range
    ycbcr_to_rgb_affine(matrix, range, 8)  # validates the names
    ycbcr_to_rgb_affine(out_matrix, out_range, 8)
    if is_cupy(y):
        return _cupy.fused_nv12_resize(
            y, uv, lut, geometry, matrix, range, out_matrix, out_range, filter, interpolation
        )
    y_codes, uv_codes = np.asarray(y), np.asarray(uv)
    check_planes(y_codes, uv_codes)
    bits, shift = plane_format(y_codes.dtype)
    g = geometry
    w, h = g.fit_w, g.fit_h

    luma = resize((y_codes >> shift).astype(np.float32), w, h, filter).astype(np.float64)
    chroma = resize((uv_codes >> shift).astype(np.float32), w // 2, h // 2, filter).astype(np.float64)
    codes = np.concatenate([luma[..., None], chroma.repeat(2, axis=0).repeat(2, axis=1)], axis=-1)
    a, b = ycbcr_to_rgb_affine(matrix, range, bits)
    rgb = np.clip(codes @ a.T + b, 0.0, 1.0)
    graded = np.clip(apply_lut(rgb, lut, interpolation).astype(np.float64), 0.0, 1.0)
    a_out, b_out = rgb_to_ycbcr_affine(out_matrix, out_range, bits)
    out = graded @ a_out.T + b_out
    out_chroma = out[..., 1:].reshape(h // 2, 2, w // 2, 2, 2).mean(axis=(1, 3))

    black_y, black_c = black_codes(out_range, bits)
    y_out = np.full((g.out_height, g.out_width), black_y)
    uv_out = np.full((g.out_height // 2, g.out_width // 2, 2), black_c)
    y_out[g.fit_y : g.fit_y + h, g.fit_x : g.fit_x + w] = out[..., 0]
    uv_out[g.fit_y // 2 : (g.fit_y + h) // 2, g.fit_x // 2 : (g.fit_x + w) // 2] = out_chroma
    top = float(2**bits - 1)
    dtype = y_codes.dtype

    def to_codes(v: FloatArray) -> Array:
        return (np.rint(np.clip(v, 0.0, top)).astype(dtype) << shift).astype(dtype)

    return to_codes(y_out), to_codes(uv_out)
