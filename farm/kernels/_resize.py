"""Separable resampling with Pillow's conventions: the NumPy reference.

Conventions (the ones Pillow uses, so Pillow is the oracle):

* output pixel ``i`` samples the source at ``(i + 0.5) × scale − 0.5`` where
  ``scale = in_size / out_size`` (pixel centres, not corners);
* when shrinking the kernel is widened by ``scale`` (antialiasing);
* taps that fall outside the image are dropped and the remaining weights are
  renormalised to sum to one (no edge replication).

The weights are computed once per (in, out, filter) on the host as a fixed
number of taps per output pixel. The CUDA kernels take the same tables, so the
twins agree by construction on where they sample.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np

from farm.kernels._dispatch import is_cupy


def _triangle(x: np.ndarray) -> np.ndarray:
    x = np.abs(x)
    return np.where(x < 1.0, 1.0 - x, 0.0)


def _keys_cubic(x: np.ndarray, a: float = -0.5) -> np.ndarray:
    """Keys' cubic convolution kernel; a = −0.5 is Pillow's bicubic."""
    x = np.abs(x)
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    far = ((x - 5.0) * x + 8.0) * x * a - 4.0 * a
    return np.where(x < 1.0, near, np.where(x < 2.0, far, 0.0))


def _lanczos3(x: np.ndarray) -> np.ndarray:
    return np.where(np.abs(x) < 3.0, np.sinc(x) * np.sinc(x / 3.0), 0.0)


#: filter name -> (kernel, support radius in source pixels at scale 1)
FILTERS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], float]] = {
    "bilinear": (_triangle, 1.0),
    "bicubic": (_keys_cubic, 2.0),
    "lanczos3": (_lanczos3, 3.0),
}


@functools.lru_cache(maxsize=64)
def resize_weights(in_size: int, out_size: int, filter: str) -> tuple[np.ndarray, np.ndarray]:
    """Taps for a 1D resize: ``out[i] = Σ_k weights[i, k] × src[clamp(start[i] + k)]``.

    Returns ``start`` (out_size,) int32 and ``weights`` (out_size, taps)
    float32. Taps outside the source have weight 0, so a reader may clamp the
    index without changing the result. The arrays are read-only (cached).
    """
    if filter not in FILTERS:
        raise ValueError(f"filter must be one of {tuple(FILTERS)}, got {filter!r}")
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


def _resample_axis(x: np.ndarray, out_size: int, axis: int, filter: str) -> np.ndarray:
    in_size = x.shape[axis]
    if in_size == out_size:
        return x
    start, weights = resize_weights(in_size, out_size, filter)
    x = np.moveaxis(x, axis, 0)
    out = np.zeros((out_size,) + x.shape[1:], dtype=np.float64)
    column = (slice(None),) + (None,) * (x.ndim - 1)  # weights broadcast over the other axes
    for k in range(weights.shape[1]):
        index = np.clip(start + k, 0, in_size - 1)
        out += weights[:, k].astype(np.float64)[column] * x[index]
    return np.moveaxis(out, 0, axis)


def resize(rgb, width: int, height: int, filter: str = "bilinear"):
    """Resize an (H, W) or (H, W, C) image to ``width`` × ``height``.

    ``filter`` is ``"bilinear"``, ``"bicubic"`` (Keys, a = −0.5) or
    ``"lanczos3"``. A NumPy array runs this float64 reference and returns
    float32; a CuPy array runs the CUDA kernels and returns CuPy.
    Horizontal pass first, then vertical, like Pillow.
    """
    if filter not in FILTERS:
        raise ValueError(f"filter must be one of {tuple(FILTERS)}, got {filter!r}")
    if width < 1 or height < 1:
        raise ValueError(f"output size must be positive, got {width}x{height}")
    if is_cupy(rgb):
        from farm.kernels import _cupy

        return _cupy.resize(rgb, width, height, filter)
    x = np.asarray(rgb, dtype=np.float64)
    if x.ndim not in (2, 3):
        raise ValueError(f"image must have shape (H, W) or (H, W, C), got {x.shape}")
    x = _resample_axis(x, width, 1, filter)
    x = _resample_axis(x, height, 0, filter)
    return np.ascontiguousarray(x, dtype=np.float32)
