"""YCbCr planes <-> RGB, and CIEDE2000: the NumPy reference.

Plane layouts (what NVDEC and ``frame.reformat("nv12")`` produce):

* **NV12**: ``y`` uint8 (H, W); ``uv`` uint8 (H/2, W/2, 2), Cb then Cr
  interleaved. The FFmpeg array (H·3/2, W) is ``y`` stacked on ``uv``
  reshaped to (H/2, W).
* **P010**: the same shapes in uint16 with the 10-bit code in the high bits
  (``code << 6``), as P010 stores it.

H and W must be even.

Chroma siting is MPEG-2/H.264/HEVC's default ("left", type 0): a chroma
sample sits on the even luma columns horizontally and half-way between its two
luma rows vertically. Upsampling is bilinear (or nearest) at those positions
with edge clamping; downsampling filters [1 2 1]/4 horizontally and
[1 1]/2 vertically, centred on the same positions.

RGB is float32 in [0, 1] (non-linear, as encoded); values that the YCbCr
codes put outside [0, 1] are clipped.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from farm.kernels import _cupy
from farm.kernels._common import (
    Array,
    FloatArray,
    check_colour,
    check_planes,
    is_cupy,
    plane_format,
    rgb_to_ycbcr_affine,
    ycbcr_to_rgb_affine,
)

__all__ = [
    "delta_e_2000",
    "delta_e_2000_lab",
    "downsample_chroma",
    "rgb_to_ycbcr_affine",
    "rgb_to_yuv",
    "srgb_to_lab",
    "upsample_chroma",
    "ycbcr_to_rgb_affine",
    "yuv_to_rgb",
]

UPSAMPLING = ("bilinear", "nearest")


def upsample_chroma(c: npt.ArrayLike, height: int, width: int, method: str = "bilinear") -> FloatArray:
    """A (H/2, W/2, ...) chroma plane at full resolution (float64), left siting."""
    if method not in UPSAMPLING:
        raise ValueError(f"upsampling must be one of {UPSAMPLING}, got {method!r}")
    plane = np.asarray(c, dtype=np.float64)
    if method == "nearest":
        return plane.repeat(2, axis=0).repeat(2, axis=1)[:height, :width]
    ch, cw = plane.shape[:2]
    # luma column x sits at chroma column x/2; luma row y at chroma row (y - 0.5)/2
    cx = np.arange(width) / 2.0
    cy = (np.arange(height) - 0.5) / 2.0
    x0 = np.clip(np.floor(cx).astype(int), 0, cw - 1)
    y0 = np.clip(np.floor(cy).astype(int), 0, ch - 1)
    x1 = np.minimum(x0 + 1, cw - 1)
    y1 = np.minimum(y0 + 1, ch - 1)
    fx = np.clip(cx - x0, 0.0, 1.0)
    fy = np.clip(cy - y0, 0.0, 1.0)
    extra = (None,) * (plane.ndim - 2)  # broadcast over trailing (component) axes
    wx = fx[(None, slice(None)) + extra]
    wy = fy[(slice(None), None) + extra]
    top = plane[y0][:, x0] * (1 - wx) + plane[y0][:, x1] * wx
    bottom = plane[y1][:, x0] * (1 - wx) + plane[y1][:, x1] * wx
    result: FloatArray = top * (1 - wy) + bottom * wy
    return result


def downsample_chroma(c: npt.ArrayLike) -> FloatArray:
    """A full-resolution (H, W, ...) chroma plane at (H/2, W/2, ...), left siting (float64)."""
    plane = np.asarray(c, dtype=np.float64)
    rows = 0.5 * (plane[0::2] + plane[1::2])
    left = np.concatenate([rows[:, :1], rows[:, 1:-1:2]], axis=1)  # column 2j-1, clamped at the edge
    centre = rows[:, 0::2]
    right = rows[:, 1::2]
    result: FloatArray = 0.25 * left + 0.5 * centre + 0.25 * right
    return result


def yuv_to_rgb(
    y: Array, uv: Array, matrix: str = "bt709", range: str = "limited", upsample: str = "bilinear"
) -> Array:
    """NV12 or P010 planes -> float32 RGB (H, W, 3) in [0, 1].

    The plane dtype says which (uint8 NV12, uint16 P010). ``matrix`` and
    ``range`` come from the source's tags; decide untagged sources before
    calling (farm treats untagged HD as BT.709). CuPy planes run the CUDA
    kernel and return CuPy.
    """
    check_colour(matrix, range)
    if upsample not in UPSAMPLING:
        raise ValueError(f"upsample must be one of {UPSAMPLING}, got {upsample!r}")
    if is_cupy(y):
        return _cupy.yuv_to_rgb(y, uv, matrix, range, upsample)
    y_codes, uv_codes = np.asarray(y), np.asarray(uv)
    h, w, bits = check_planes(y_codes, uv_codes)
    _, shift = plane_format(y_codes.dtype)
    luma = (y_codes >> shift).astype(np.float64)
    chroma = upsample_chroma(uv_codes >> shift, h, w, upsample)
    codes = np.concatenate([luma[..., None], chroma], axis=-1)
    a, b = ycbcr_to_rgb_affine(matrix, range, bits)
    rgb = codes @ a.T + b
    return np.clip(rgb, 0.0, 1.0).astype(np.float32)


def rgb_to_yuv(
    rgb: Array, matrix: str = "bt709", range: str = "limited", format: str = "nv12"
) -> tuple[Array, Array]:
    """Float RGB (H, W, 3) in [0, 1] -> ``(y, uv)`` NV12 (``"nv12"``) or P010 (``"p010"``) planes.

    Codes are rounded to nearest and clipped to the code range.
    """
    check_colour(matrix, range)
    if format not in ("nv12", "p010"):
        raise ValueError(f"format must be 'nv12' or 'p010', got {format!r}")
    if is_cupy(rgb):
        return _cupy.rgb_to_yuv(rgb, matrix, range, format)
    x = np.asarray(rgb, dtype=np.float64)
    if x.ndim != 3 or x.shape[2] != 3 or x.shape[0] % 2 or x.shape[1] % 2:
        raise ValueError(f"rgb must be (H, W, 3) with even H and W, got {x.shape}")
    bits, shift, dtype = (8, 0, np.uint8) if format == "nv12" else (10, 6, np.uint16)
    a, b = rgb_to_ycbcr_affine(matrix, range, bits)
    codes = np.clip(x, 0.0, 1.0) @ a.T + b
    top = 2**bits - 1
    luma = np.clip(np.rint(codes[..., 0]), 0, top)
    chroma = np.clip(np.rint(downsample_chroma(codes[..., 1:])), 0, top)
    return (luma.astype(dtype) << shift).astype(dtype), (chroma.astype(dtype) << shift).astype(dtype)


# ------------------------------------------------------------------ CIEDE2000

#: CIE 1931 2° D65 white (x, y): the reference white of L*a*b* here
_D65_XY = (0.3127, 0.3290)
#: linear sRGB -> XYZ as IEC 61966-2-1 publishes it (rounded to 4 decimals;
#: the standard's numbers, not re-derived from the primaries)
_SRGB_TO_XYZ = np.array(
    [
        [0.4124, 0.3576, 0.1805],
        [0.2126, 0.7152, 0.0722],
        [0.0193, 0.1192, 0.9505],
    ]
)


def _xyz_of_xy(x: float, y: float) -> FloatArray:
    return np.array([x / y, 1.0, (1.0 - x - y) / y])


def srgb_to_lab(rgb: npt.ArrayLike) -> FloatArray:
    """sRGB-encoded RGB (..., 3) -> CIE L*a*b* (D65 white), float64."""
    c = np.asarray(rgb, dtype=np.float64)
    linear = np.where(c <= 0.04045, c / 12.92, ((np.maximum(c, 0.04045) + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _SRGB_TO_XYZ.T / _xyz_of_xy(*_D65_XY)
    eps, kappa = 216.0 / 24389.0, 24389.0 / 27.0
    f = np.where(xyz > eps, np.cbrt(xyz), (kappa * xyz + 16.0) / 116.0)
    return np.stack(
        [116.0 * f[..., 1] - 16.0, 500.0 * (f[..., 0] - f[..., 1]), 200.0 * (f[..., 1] - f[..., 2])], -1
    )


def delta_e_2000(rgb_a: npt.ArrayLike, rgb_b: npt.ArrayLike) -> FloatArray:
    """CIEDE2000 colour difference between two sRGB-encoded images (..., 3).

    Implemented here (Sharma, Wu & Dalal 2005) so that ``farm look`` needs no
    colour-science at run time; the tests check it against colour-science.
    """
    return delta_e_2000_lab(srgb_to_lab(rgb_a), srgb_to_lab(rgb_b))


def delta_e_2000_lab(lab_a: npt.ArrayLike, lab_b: npt.ArrayLike) -> FloatArray:
    """CIEDE2000 between two L*a*b* arrays (..., 3), with kL = kC = kH = 1."""
    l1, a1, b1 = np.moveaxis(np.asarray(lab_a, dtype=np.float64), -1, 0)
    l2, a2, b2 = np.moveaxis(np.asarray(lab_b, dtype=np.float64), -1, 0)
    c_mean = 0.5 * (np.hypot(a1, b1) + np.hypot(a2, b2))
    g = 0.5 * (1.0 - np.sqrt(c_mean**7 / (c_mean**7 + 25.0**7)))
    a1p, a2p = (1.0 + g) * a1, (1.0 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360.0
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360.0

    dl = l2 - l1
    dc = c2p - c1p
    dh = h2p - h1p
    dh = np.where(dh > 180.0, dh - 360.0, np.where(dh < -180.0, dh + 360.0, dh))
    dh = np.where(c1p * c2p == 0.0, 0.0, dh)
    dh_big = 2.0 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2.0))

    l_mean = 0.5 * (l1 + l2)
    cp_mean = 0.5 * (c1p + c2p)
    h_sum = h1p + h2p
    h_mean = np.where(
        np.abs(h1p - h2p) <= 180.0,
        h_sum / 2.0,
        np.where(h_sum < 360.0, (h_sum + 360.0) / 2.0, (h_sum - 360.0) / 2.0),
    )
    h_mean = np.where(c1p * c2p == 0.0, h_sum, h_mean)

    t = (
        1.0
        - 0.17 * np.cos(np.radians(h_mean - 30.0))
        + 0.24 * np.cos(np.radians(2.0 * h_mean))
        + 0.32 * np.cos(np.radians(3.0 * h_mean + 6.0))
        - 0.20 * np.cos(np.radians(4.0 * h_mean - 63.0))
    )
    d_theta = 30.0 * np.exp(-(((h_mean - 275.0) / 25.0) ** 2))
    r_c = 2.0 * np.sqrt(cp_mean**7 / (cp_mean**7 + 25.0**7))
    s_l = 1.0 + 0.015 * (l_mean - 50.0) ** 2 / np.sqrt(20.0 + (l_mean - 50.0) ** 2)
    s_c = 1.0 + 0.045 * cp_mean
    s_h = 1.0 + 0.015 * cp_mean * t
    r_t = -np.sin(np.radians(2.0 * d_theta)) * r_c
    result: FloatArray = np.sqrt(
        (dl / s_l) ** 2 + (dc / s_c) ** 2 + (dh_big / s_h) ** 2 + r_t * (dc / s_c) * (dh_big / s_h)
    )
    return result
