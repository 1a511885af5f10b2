"""What the NumPy references and the CuPy twins share: argument checks, colour maths, taps, geometry.

Pure NumPy, importing nothing else from the kernels package, so the imports run
one way: the references (``_color``, ``_lut``, ``_resize``, ``_fused``) and the
launch code (``_cupy``) import this module; ``_cupy`` imports no reference; a
reference hands a CuPy array to ``_cupy``, which imports CuPy only when called.
The CUDA kernels receive the tables computed here (colour matrices, resampling
taps), so both twins agree by construction on the maths and on where they sample.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

#: a NumPy or a CuPy array: public kernels accept either and answer in kind
Array: TypeAlias = Any
FloatArray: TypeAlias = npt.NDArray[np.float64]


def is_cupy(array: object) -> bool:
    """True for a CuPy array (decided without importing CuPy): the caller runs the CUDA twin."""
    return type(array).__module__.startswith("cupy")


# ------------------------------------------------------------------ colour matrices

#: matrix name -> (Kr, Kb) luma weights (ITU-R BT.601, BT.709, BT.2020 non-constant luminance)
MATRICES: dict[str, tuple[float, float]] = {
    "bt601": (0.299, 0.114),
    "bt709": (0.2126, 0.0722),
    "bt2020": (0.2627, 0.0593),
}
RANGES = ("limited", "full")


def check_colour(matrix: str, range: str) -> None:
    if matrix not in MATRICES:
        raise ValueError(f"matrix must be one of {tuple(MATRICES)}, got {matrix!r}")
    if range not in RANGES:
        raise ValueError(f"range must be one of {RANGES}, got {range!r}")


def _read_only(*arrays: FloatArray) -> None:
    for array in arrays:
        array.setflags(write=False)


@functools.lru_cache(maxsize=32)
def ycbcr_to_rgb_affine(matrix: str, range: str, bits: int) -> tuple[FloatArray, FloatArray]:
    """``(A, b)`` with ``rgb = A @ codes + b`` for integer-valued (Y, Cb, Cr) codes.

    Limited range per ITU-R BT.601/709/2020 (Y 16..235, C 16..240 scaled by
    2^(bits−8)); full range per H.273 (Y 0..2^bits−1, C offset 2^(bits−1)).
    The reference uses it and the CUDA kernels get A and b as arguments.
    """
    check_colour(matrix, range)
    kr, kb = MATRICES[matrix]
    kg = 1.0 - kr - kb
    if range == "limited":
        unit = 2.0 ** (bits - 8)
        y_off, y_scale, c_off, c_scale = 16 * unit, 219 * unit, 128 * unit, 224 * unit
    else:
        top = 2.0**bits - 1.0
        y_off, y_scale, c_off, c_scale = 0.0, top, 2.0 ** (bits - 1), top
    # (Y', Pb, Pr) -> R'G'B'
    to_rgb = np.array(
        [
            [1.0, 0.0, 2.0 * (1.0 - kr)],
            [1.0, -2.0 * (1.0 - kb) * kb / kg, -2.0 * (1.0 - kr) * kr / kg],
            [1.0, 2.0 * (1.0 - kb), 0.0],
        ]
    )
    scale = np.diag([1.0 / y_scale, 1.0 / c_scale, 1.0 / c_scale])
    a = to_rgb @ scale
    b = -a @ np.array([y_off, c_off, c_off])
    _read_only(a, b)
    return a, b


@functools.lru_cache(maxsize=32)
def rgb_to_ycbcr_affine(matrix: str, range: str, bits: int) -> tuple[FloatArray, FloatArray]:
    """``(A, b)`` with ``codes = A @ rgb + b`` (unrounded): the exact inverse of the above."""
    a, b = ycbcr_to_rgb_affine(matrix, range, bits)
    inv = np.linalg.inv(a).astype(np.float64)
    out_b = -inv @ b
    _read_only(inv, out_b)
    return inv, out_b


def black_codes(range: str, bits: int) -> tuple[float, float]:
    """(Y, C) codes of black: padding outside the picture."""
    unit = 2 ** (bits - 8)
    return (16.0 * unit if range == "limited" else 0.0), float(2 ** (bits - 1))


# ------------------------------------------------------------------ planes


def plane_format(dtype: npt.DTypeLike) -> tuple[int, int]:
    """(bits, shift) of a plane's samples: NV12 is 8-bit, P010 is 10-bit in the high bits."""
    kind = np.dtype(dtype)
    if kind == np.uint8:
        return 8, 0
    if kind == np.uint16:
        return 10, 6
    raise ValueError(f"planes must be uint8 (NV12) or uint16 (P010), got {kind}")


def check_planes(y: Array, uv: Array) -> tuple[int, int, int]:
    """(height, width, bits) of a 4:2:0 frame given as Y (H, W) and interleaved UV (H/2, W/2, 2)."""
    if y.ndim != 2 or y.shape[0] % 2 or y.shape[1] % 2:
        raise ValueError(f"luma plane must be (H, W) with even H and W, got {y.shape}")
    h, w = int(y.shape[0]), int(y.shape[1])
    if tuple(uv.shape) != (h // 2, w // 2, 2):
        raise ValueError(f"chroma plane must be (H/2, W/2, 2) = {(h // 2, w // 2, 2)}, got {uv.shape}")
    if uv.dtype != y.dtype:
        raise ValueError(f"luma and chroma planes must share a dtype, got {y.dtype} and {uv.dtype}")
    bits, _ = plane_format(y.dtype)
    return h, w, bits


# ------------------------------------------------------------------ LUT interpolation

INTERPOLATIONS = ("tetrahedral", "trilinear")


def check_interpolation(interpolation: str) -> None:
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")


# ------------------------------------------------------------------ resampling taps


def _triangle(x: FloatArray) -> FloatArray:
    x = np.abs(x)
    return np.where(x < 1.0, 1.0 - x, 0.0)


def _keys_cubic(x: FloatArray, a: float = -0.5) -> FloatArray:
    """Keys' cubic convolution kernel; a = −0.5 is Pillow's bicubic."""
    x = np.abs(x)
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    far = ((x - 5.0) * x + 8.0) * x * a - 4.0 * a
    return np.where(x < 1.0, near, np.where(x < 2.0, far, 0.0))


def _lanczos3(x: FloatArray) -> FloatArray:
    return np.where(np.abs(x) < 3.0, np.sinc(x) * np.sinc(x / 3.0), 0.0)


#: filter name -> (kernel, support radius in source pixels at scale 1)
FILTERS: dict[str, tuple[Callable[[FloatArray], FloatArray], float]] = {
    "bilinear": (_triangle, 1.0),
    "bicubic": (_keys_cubic, 2.0),
    "lanczos3": (_lanczos3, 3.0),
}


def check_filter(filter: str) -> None:
    if filter not in FILTERS:
        raise ValueError(f"filter must be one of {tuple(FILTERS)}, got {filter!r}")


@functools.lru_cache(maxsize=64)
def resize_weights(
    in_size: int, out_size: int, filter: str
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]:
    """Taps for a 1D resize: ``out[i] = Σ_k weights[i, k] × src[clamp(start[i] + k)]``.

    Pillow's conventions: output pixel ``i`` samples the source at
    ``(i + 0.5) × scale − 0.5``; shrinking widens the kernel by ``scale``
    (antialiasing); taps outside the source get weight 0 and the rest are
    renormalised, so a reader may clamp the index without changing the result.
    Returns ``start`` (out_size,) int32 and ``weights`` (out_size, taps)
    float32, read-only (cached).
    """
    check_filter(filter)
    if in_size < 1 or out_size < 1:
        raise ValueError(f"sizes must be positive, got {in_size} -> {out_size}")
    kernel, support = FILTERS[filter]
    scale = in_size / out_size
    stretch = max(scale, 1.0)
    radius = support * stretch
    taps = 2 * math.ceil(radius) + 1
    centre = (np.arange(out_size) + 0.5) * scale - 0.5
    start = np.floor(centre - radius).astype(np.int64) + 1
    index = start[:, None] + np.arange(taps)[None, :]
    weights = kernel((index - centre[:, None]) / stretch)
    weights = np.where((index >= 0) & (index < in_size), weights, 0.0)
    weights /= weights.sum(axis=1, keepdims=True)
    start32 = start.astype(np.int32)
    weights32 = weights.astype(np.float32)
    start32.setflags(write=False)
    weights32.setflags(write=False)
    return start32, weights32


# ------------------------------------------------------------------ the fused kernel's geometry


@dataclass(frozen=True)
class FusedGeometry:
    """Where the picture lands in the output frame; all values even (4:2:0 chroma)."""

    out_width: int  # output frame width
    out_height: int  # output frame height
    fit_x: int  # picture rectangle inside the output: left column (inclusive)
    fit_y: int  # top row (inclusive)
    fit_w: int  # width
    fit_h: int  # height

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

    @classmethod
    def of(cls, out_width: int, out_height: int, fit_rect: tuple[int, int, int, int] | None) -> FusedGeometry:
        """The geometry for a picture at ``fit_rect`` = (x, y, w, h) (None: the whole frame)."""
        x, y, w, h = fit_rect if fit_rect is not None else (0, 0, out_width, out_height)
        return cls(out_width, out_height, x, y, w, h)
