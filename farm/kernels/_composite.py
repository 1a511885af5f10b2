"""Compositing layers on NV12 pictures: the NumPy reference, twin of ``cuda/composite.cu``.

The mix is the CPU backend's (``farm.backends.composite``), operation for
operation, in the output's colour (BT.709 limited-range Y'CbCr, 8-bit code
values held in float32), so a picture composited here, on the GPU or by the
CPU backend from the same layer pictures is the same to the bit:

* the accumulator starts at black (Y 16, Cb Cr 128);
* per layer and luma pixel ``a = alpha/255 · weight`` (a wipe: ``alpha/255 ·
  m`` with ``m`` 1 where the edge has passed, see :func:`wipe_edge`), then
  ``acc ← acc + a·(y − acc)``;
* per chroma sample the mean of ``a`` over its 2×2 luma block,
  ``((a00 + a01) + (a10 + a11)) / 4`` — the order NumPy's ``mean`` sums in —
  then the same update on Cb and Cr;
* every step is one float32 operation rounded to nearest; :func:`finish`
  rounds once (ties to even) and clamps to 8 bits.

Layers are NV12 (``y`` (H, W) uint8, ``uv`` (H/2, W/2, 2) uint8) with an
optional straight alpha plane (H, W) uint8; accumulators are float32 (H, W)
and (H/2, W/2, 2). CuPy arrays run the CUDA twin (:mod:`farm.kernels._cupy_composite`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from farm.kernels._common import Array, is_cupy

#: wipe masks a layer may carry (``farm.planning.units.MASKS`` without the empty one)
WIPES = ("wipe-left", "wipe-left-inv", "wipe-top", "wipe-top-inv")
_F = np.float32


def wipe_edge(mask: str, weight: float, width: int, height: int) -> tuple[int, int, int]:
    """``(mode, edge, invert)`` of a layer: mode 0 is an opacity, 1 a wipe by columns, 2 by rows.

    The edge is where the CPU backend's ``wipe_mask`` puts it: ``weight`` of the
    way across, on an even pixel; the layer shows before it (after it, inverted).
    """
    if not mask:
        return 0, 0, 0
    if mask not in WIPES:
        raise ValueError(f"mask must be one of {WIPES} or empty, got {mask!r}")
    invert = int(mask.endswith("-inv"))
    if mask.startswith("wipe-left"):
        return 1, min(width, 2 * round(weight * width / 2)), invert
    return 2, min(height, 2 * round(weight * height / 2)), invert


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
    mode, edge, invert = wipe_edge(mask, weight, w, h)
    if is_cupy(acc_y):
        from farm.kernels._cupy_composite import mix_layer as device_mix

        device_mix(acc_y, acc_uv, y, uv, alpha, weight, mode, edge, invert)
        return
    # farm_layer_a
    a = alpha.astype(_F) / _F(255.0) if alpha is not None else np.ones((h, w), _F)
    if mode == 0:
        a = a * _F(weight)
    else:
        m = np.zeros((h, w), _F)
        if mode == 1:
            m[:, :edge] = 1.0
        else:
            m[:edge, :] = 1.0
        if invert:
            m = _F(1.0) - m
        a = a * m
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
