"""NV12/P010 -> resize -> LUT -> NV12/P010 in one step, for the GPU worker.

The CUDA kernel (``cuda/fused.cu``) reads the source planes once and writes
the output planes once, so decoded frames never leave the GPU and no float RGB
intermediate is ever stored. This module holds its NumPy reference, which the
CuPy twin is tested against, and the argument checks both share.

The order is resize, then colour: the planes are resampled in YCbCr (equal to
resampling RGB, the conversion being affine, up to clipping), then each output
pixel goes YCbCr -> RGB -> LUT -> YCbCr. Output chroma is the mean of its 2×2
pixels; source chroma is resampled as its own plane (the half-pixel offset of
left-sited chroma is ignored in this fast path).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from farm.kernels._color import _check_planes, _plane_format, rgb_to_ycbcr_affine, ycbcr_to_rgb_affine
from farm.kernels._cube import Lut
from farm.kernels._dispatch import is_cupy
from farm.kernels._lut import _check_interpolation, apply_lut
from farm.kernels._resize import FILTERS, resize


@dataclass(frozen=True)
class FusedGeometry:
    """Where the picture lands in the output frame; all values even."""

    out_width: int
    out_height: int
    #: picture rectangle inside the output: x, y (top-left, inclusive), width, height
    fit_x: int
    fit_y: int
    fit_w: int
    fit_h: int

    def __post_init__(self) -> None:
        values = (self.out_width, self.out_height, self.fit_x, self.fit_y, self.fit_w, self.fit_h)
        if any(v % 2 for v in values):
            raise ValueError(f"output size and fit rectangle must be even (4:2:0 chroma), got {values}")
        if self.out_width < 2 or self.out_height < 2 or self.fit_w < 2 or self.fit_h < 2:
            raise ValueError(f"output size and fit rectangle must be at least 2x2, got {values}")
        if self.fit_x < 0 or self.fit_y < 0:
            raise ValueError(f"fit rectangle must start inside the output, got ({self.fit_x}, {self.fit_y})")
        if self.fit_x + self.fit_w > self.out_width or self.fit_y + self.fit_h > self.out_height:
            raise ValueError(
                f"fit rectangle {self.fit_w}x{self.fit_h}+{self.fit_x}+{self.fit_y} "
                f"exceeds the {self.out_width}x{self.out_height} output"
            )


def black_codes(range: str, bits: int) -> tuple[float, float]:
    """(Y, C) codes of black: padding outside the picture."""
    unit = 2 ** (bits - 8)
    return (16.0 * unit if range == "limited" else 0.0), float(2 ** (bits - 1))


def fused_nv12_resize(
    y,
    uv,
    lut: Lut,
    out_width: int,
    out_height: int,
    fit_rect: tuple[int, int, int, int] | None = None,
    *,
    matrix: str = "bt709",
    range: str = "limited",
    filter: str = "bilinear",
    interpolation: str = "tetrahedral",
):
    """Resize NV12 (or P010) planes into an ``out_width`` × ``out_height`` frame and apply ``lut``.

    ``fit_rect`` = (x, y, w, h) is where the picture goes inside the output
    (letterbox/pillarbox); the rest is black. Default: the whole frame. The
    output uses the same matrix, range and bit depth as the input. Returns
    ``(y_out, uv_out)``; CuPy planes run the CUDA kernel (pitched planes
    accepted) and return CuPy planes on the same device.
    """
    if filter not in FILTERS:
        raise ValueError(f"filter must be one of {tuple(FILTERS)}, got {filter!r}")
    _check_interpolation(interpolation)
    x, y0, w, h = fit_rect if fit_rect is not None else (0, 0, out_width, out_height)
    geometry = FusedGeometry(out_width, out_height, x, y0, w, h)
    ycbcr_to_rgb_affine(matrix, range, 8)  # validates matrix and range
    if is_cupy(y):
        from farm.kernels import _cupy

        return _cupy.fused_nv12_resize(y, uv, lut, geometry, matrix, range, filter, interpolation)
    y = np.asarray(y)
    uv = np.asarray(uv)
    _check_planes(y, uv)
    bits, shift = _plane_format(y)
    top = float(2**bits - 1)

    luma = resize((y >> shift).astype(np.float32), w, h, filter).astype(np.float64)
    chroma = resize((uv >> shift).astype(np.float32), w // 2, h // 2, filter).astype(np.float64)
    codes = np.concatenate([luma[..., None], chroma.repeat(2, axis=0).repeat(2, axis=1)], axis=-1)
    a, b = ycbcr_to_rgb_affine(matrix, range, bits)
    rgb = np.clip(codes @ a.T + b, 0.0, 1.0)
    graded = np.clip(apply_lut(rgb, lut, interpolation).astype(np.float64), 0.0, 1.0)
    a_out, b_out = rgb_to_ycbcr_affine(matrix, range, bits)
    out = graded @ a_out.T + b_out
    out_chroma = out[..., 1:].reshape(h // 2, 2, w // 2, 2, 2).mean(axis=(1, 3))

    black_y, black_c = black_codes(range, bits)
    y_out = np.full((out_height, out_width), black_y)
    uv_out = np.full((out_height // 2, out_width // 2, 2), black_c)
    y_out[y0 : y0 + h, x : x + w] = out[..., 0]
    uv_out[y0 // 2 : (y0 + h) // 2, x // 2 : (x + w) // 2] = out_chroma
    dtype = y.dtype

    def to_codes(v: np.ndarray) -> np.ndarray:
        return (np.rint(np.clip(v, 0.0, top)).astype(dtype) << shift).astype(dtype)

    return to_codes(y_out), to_codes(uv_out)
