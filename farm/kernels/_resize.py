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

import numpy as np

from farm.kernels import _cupy
from farm.kernels._common import Array, FloatArray, check_filter, is_cupy, resize_weights

__all__ = ["resize", "resize_weights"]


def _resample_axis(x: FloatArray, out_size: int, axis: int, filter: str) -> FloatArray:
    in_size = x.shape[axis]
    if in_size == out_size:
        return x
    start, weights = resize_weights(in_size, out_size, filter)
    moved = np.moveaxis(x, axis, 0)
    out = np.zeros((out_size,) + moved.shape[1:], dtype=np.float64)
    column = (slice(None),) + (None,) * (moved.ndim - 1)  # weights broadcast over the other axes
    for k in range(weights.shape[1]):
        index = np.clip(start + k, 0, in_size - 1)
        out += weights[:, k].astype(np.float64)[column] * moved[index]
    return np.moveaxis(out, 0, axis)


def resize(rgb: Array, width: int, height: int, filter: str = "bilinear") -> Array:
    """Resize an (H, W) or (H, W, C) image to ``width`` × ``height``.

    ``filter`` is ``"bilinear"``, ``"bicubic"`` (Keys, a = −0.5) or
    ``"lanczos3"``. A NumPy array runs this float64 reference and returns
    float32; a CuPy array runs the CUDA kernels and returns CuPy.
    Horizontal pass first, then vertical, like Pillow.
    """
    check_filter(filter)
    if width < 1 or height < 1:
        raise ValueError(f"output size must be positive, got {width}x{height}")
    if is_cupy(rgb):
        return _cupy.resize(rgb, width, height, filter)
    x = np.asarray(rgb, dtype=np.float64)
    if x.ndim not in (2, 3):
        raise ValueError(f"image must have shape (H, W) or (H, W, C), got {x.shape}")
    x = _resample_axis(x, width, 1, filter)
    x = _resample_axis(x, height, 0, filter)
    return np.ascontiguousarray(x, dtype=np.float32)
