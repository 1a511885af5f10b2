"""The fused NV12/P010 kernel with different colour matrices in and out (CuPy only).

``farm.kernels.fused_nv12_resize`` keeps the source's matrix and range; a
segment is always BT.709 limited range. For sources in BT.601, BT.2020 or full
range this launches the same CUDA kernel (``farm/kernels/cuda/fused.cu``) with
the source's YCbCr → RGB coefficients and BT.709's RGB → YCbCr ones, so the
conversion stays inside the one pass. It reuses the kernels package's
memoised device tables and launcher; if that package grows ``out_matrix`` /
``out_range`` arguments, this module becomes one call.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from farm.kernels._color import ycbcr_to_rgb_affine
from farm.kernels._cube import Lut
from farm.kernels._fused import FusedGeometry, black_codes
from farm.kernels._lut import _check_interpolation
from farm.kernels._resize import FILTERS


def fused_convert(
    y: Any,
    uv: Any,
    lut: Lut,
    geometry: FusedGeometry,
    in_matrix: str,
    in_range: str,
    out_matrix: str = "bt709",
    out_range: str = "limited",
    filter: str = "bicubic",
    interpolation: str = "tetrahedral",
) -> tuple[Any, Any]:
    """Resize CuPy NV12/P010 planes into ``geometry``, grade with ``lut``, convert the matrix.

    The output has the input's bit depth (the kernel is templated on one sample type).
    """
    from farm.kernels import _cupy as k

    if filter not in FILTERS:
        raise ValueError(f"filter must be one of {tuple(FILTERS)}, got {filter!r}")
    _check_interpolation(interpolation)
    ycbcr_to_rgb_affine(in_matrix, in_range, 8)  # validates the names
    ycbcr_to_rgb_affine(out_matrix, out_range, 8)
    cp = k._cupy()
    in_h, in_w, bits, y_pitch = k._check_device_planes(y, uv)
    dev = y.device.id
    g = geometry
    kernel = "farm_nv12_lut_resize_nv12" if bits == 8 else "farm_p010_lut_resize_p010"
    black_y, black_c = black_codes(out_range, bits)
    i32 = np.int32
    with y.device:
        y_out = cp.empty((g.out_height, g.out_width), y.dtype)
        uv_out = cp.empty((g.out_height // 2, g.out_width // 2, 2), y.dtype)
        table, _, params, _ = k.device_lut(lut, dev)
        lx = k.device_taps(in_w, g.fit_w, filter, dev)
        ly = k.device_taps(in_h, g.fit_h, filter, dev)
        cx = k.device_taps(in_w // 2, g.fit_w // 2, filter, dev)
        cy = k.device_taps(in_h // 2, g.fit_h // 2, filter, dev)
        args = (
            y, uv, i32(in_w), i32(in_h), i32(y_pitch), i32(k._pitch(uv, 2)),
            y_out, uv_out, i32(g.out_width), i32(g.out_height), i32(g.out_width), i32(g.out_width),
            i32(g.fit_x), i32(g.fit_y), i32(g.fit_w), i32(g.fit_h),
            lx[0], lx[1], i32(lx[2]), ly[0], ly[1], i32(ly[2]),
            cx[0], cx[1], i32(cx[2]), cy[0], cy[1], i32(cy[2]),
            table, i32(lut.size), params, i32(interpolation == "tetrahedral"),
            k.device_affine("to_rgb", in_matrix, in_range, bits, dev),
            k.device_affine("to_yuv", out_matrix, out_range, bits, dev),
            np.float32(black_y), np.float32(black_c),
        )  # fmt: skip
        k._launch("fused.cu", kernel, dev, (g.out_width // 2) * (g.out_height // 2), args)
    return y_out, uv_out
