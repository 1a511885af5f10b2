"""Compositing layers on NV12 pictures: the NumPy reference, twin of ``cuda/composite.cu``.

The mix is the CPU backend's (``farm.backends.composite``), operation for
operation, in the output's colour (BT.709 limited-range Y'CbCr, 8-bit code
values held in float32), so a picture composited here, on the GPU or by the
CPU backend from the same layer pictures is the same to the bit:

* the accumulator starts at black (Y 16, Cb Cr 128);
* per layer and luma pixel ``a = alpha/255 · weight`` (a wipe: ``alpha/255 ·
  m`` with ``m`` the CPU backend's own wipe mask, 1 where the incoming clip
  shows, see :func:`wipe_plane`), then ``acc ← acc + a·(y − acc)``;
* per chroma sample the mean of ``a`` over its 2×2 luma block,
  ``((a00 + a01) + (a10 + a11)) / 4`` — the order NumPy's ``mean`` sums in —
  then the same update on Cb and Cr;
* every step is one float32 operation rounded to nearest; :func:`finish`
  rounds once (ties to even) and clamps to 8 bits.

Layers are NV12 (``y`` (H, W) uint8, ``uv`` (H/2, W/2, 2) uint8) with an
optional straight alpha plane (H, W) uint8; accumulators are float32 (H, W)
and (H/2, W/2, 2). CuPy arrays run the CUDA twin (:mod:`farm.kernels._cupy_composite`),
which receives a wipe's mask as a plane computed here on the host (once per
mask, weight and size) and uploaded: the kernel draws no wipe of its own, so
every wipe the CPU backend draws, the GPU draws to the pixel.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from farm.backends.wipes import RULES, wipe_mask
from farm.kernels._common import Array, is_cupy

#: wipe masks a layer may carry: every mask the CPU backend draws (``farm.backends.wipes``)
WIPES = tuple(m + inv for m in ("wipe-left", "wipe-top", *RULES) for inv in ("", "-inv"))
_F = np.float32


@functools.lru_cache(maxsize=8)  # a 4K plane is 8 MiB
def wipe_plane(mask: str, weight: float, width: int, height: int) -> np.ndarray:
    """Where a wipe layer shows, as a read-only uint8 (height, width) plane of 0 and 1.

    It is the CPU backend's :func:`farm.backends.wipes.wipe_mask`, computed once
    per ``(mask, weight, size)``: both backends mix with the same mask.
    """
    if mask not in WIPES:
        raise ValueError(f"mask must be one of {WIPES} or empty, got {mask!r}")
    plane = wipe_mask(mask, weight, width, height).astype(np.uint8)
    plane.flags.writeable = False
    return plane


def new_accumulator(xp: Any, width: int, height: int) -> tuple[Array, Array]:
    """Black, as the float accumulators ``(acc_y, acc_uv)`` every composite starts from."""
    return (
        xp.full((height, width), 16.0, dtype=xp.float32),
        xp.full((height // 2, width // 2, 2), 128.0, dtype=xp.float32),
    )


def _check(acc_y: Array, acc_uv: Array, y: Array, uv: Array, alpha: Array | None) -> tuple[int, int]:
    h, w = (int(n) for n in acc_y.shape)
    if h % 2 or w % 2 or acc_uv.shape != (h // 2, w // 2, 2):
        raise ValueError(f"accumulators must be (H, W) and (H/2, W/2, 2), got {acc_y.shape}, {acc_uv.shape}")
    if acc_y.dtype != np.float32 or acc_uv.dtype != np.float32:
        raise ValueError("accumulators are float32")
    if y.shape != (h, w) or uv.shape != (h // 2, w // 2, 2) or y.dtype != np.uint8 or uv.dtype != np.uint8:
        raise ValueError(f"a layer must be 8-bit NV12 of {w}x{h}, got {y.shape} {y.dtype}, {uv.shape}")
    if alpha is not None and (alpha.shape != (h, w) or alpha.dtype != np.uint8):
        raise ValueError(f"alpha must be uint8 ({h}, {w}), got {alpha.shape} {alpha.dtype}")
    return h, w


def mix_layer(
    acc_y: Array, acc_uv: Array, y: Array, uv: Array, alpha: Array | None, weight: float, mask: str = ""
) -> None:
    """Mix one layer into the accumulators, in place (see the module's rule)."""
    h, w = _check(acc_y, acc_uv, y, uv, alpha)
    plane = wipe_plane(mask, weight, w, h) if mask else None
    if is_cupy(acc_y):
        from farm.kernels._cupy_composite import mix_layer as device_mix

        device_mix(acc_y, acc_uv, y, uv, alpha, weight, mask)
        return
    # farm_layer_a
    a = alpha.astype(_F) / _F(255.0) if alpha is not None else np.ones((h, w), _F)
    a = a * (_F(weight) if plane is None else plane.astype(_F))
    # farm_mix on the four luma pixels
    acc_y += a * (y.astype(_F) - acc_y)
    # the 2x2 mean, summed as NumPy's mean sums, then farm_mix on Cb and Cr
    ac = ((a[0::2, 0::2] + a[0::2, 1::2]) + (a[1::2, 0::2] + a[1::2, 1::2])) / _F(4.0)
    acc_uv += ac[:, :, None] * (uv.astype(_F) - acc_uv)


def finish(acc_y: Array, acc_uv: Array) -> tuple[Array, Array]:
    """The accumulators as an 8-bit NV12 picture: rounded once, ties to even, clamped."""
    if is_cupy(acc_y):
        from farm.kernels._cupy_composite import finish as device_finish

        return device_finish(acc_y), device_finish(acc_uv)
    return (
        np.clip(np.rint(acc_y), 0, 255).astype(np.uint8),
        np.clip(np.rint(acc_uv), 0, 255).astype(np.uint8),
    )


def composite(
    xp: Any, width: int, height: int, layers: list[tuple[Array, Array, Array | None, float, str]]
) -> tuple[Array, Array]:
    """One output picture: ``layers`` (y, uv, alpha, weight, mask), bottom to top, mixed over black."""
    acc_y, acc_uv = new_accumulator(xp, width, height)
    for y, uv, alpha, weight, mask in layers:
        mix_layer(acc_y, acc_uv, y, uv, alpha, weight, mask)
    return finish(acc_y, acc_uv)
