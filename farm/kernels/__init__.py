"""Colour and scaling kernels: NumPy references with CuPy twins.

Every function takes NumPy or CuPy arrays. NumPy runs the reference (clear,
float64 inside, the oracle for the GPU code); CuPy runs the CUDA kernels in
``farm/kernels/cuda/`` on the array's device and returns CuPy. CuPy is imported
only when a CuPy array arrives, so importing farm never touches a GPU.

Layouts:

* RGB: float32 (H, W, 3) in [0, 1], encoded (not linear light).
* :class:`Lut`: ``table3d`` is (N, N, N, 3) indexed ``[r, g, b]``; ``.cube``
  files vary red fastest.
* NV12: ``y`` uint8 (H, W), ``uv`` uint8 (H/2, W/2, 2) Cb/Cr interleaved;
  P010: the same in uint16 with the code in the high 10 bits.

Inside, imports run one way: ``_common`` (checks, colour matrices, taps) ←
``_cupy`` (launch code) ← the references (``_color``, ``_lut``, ``_resize``,
``_fused``), which hand CuPy arrays to ``_cupy``.
"""

from __future__ import annotations

from farm.kernels._color import delta_e_2000, rgb_to_yuv, srgb_to_lab, yuv_to_rgb
from farm.kernels._common import Array, FusedGeometry
from farm.kernels._cube import Lut, identity_lut, read_cube, write_cube
from farm.kernels._fused import fused_nv12_resize
from farm.kernels._lut import apply_lut, compose
from farm.kernels._match import match
from farm.kernels._resize import resize

__all__ = [
    "Array",
    "FusedGeometry",
    "Lut",
    "apply_lut",
    "compose",
    "delta_e_2000",
    "fused_nv12_resize",
    "identity_lut",
    "match",
    "read_cube",
    "resize",
    "rgb_to_yuv",
    "srgb_to_lab",
    "write_cube",
    "yuv_to_rgb",
]
