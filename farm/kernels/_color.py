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

import functools

import numpy as np

from farm.kernels._dispatch import is_cupy

#: matrix name -> (Kr, Kb) luma weights (ITU-R BT.601, BT.709, BT.2020 non-constant luminance)
MATRICES: dict[str, tuple[float, float]] = {
    "bt601": (0.299, 0.114),
    "bt709": (0.2126, 0.0722),
    "bt2020": (0.2627, 0.0593),
}
RANGES = ("limited", "full")
UPSAMPLING = ("bilinear", "nearest")


def _check(matrix: str, range: str) -> None:
    if matrix not in MATRICES:
        raise ValueError(f"matrix must be one of {tuple(MATRICES)}, got {matrix!r}")
    if range not in RANGES:
        raise ValueError(f"range must be one of {RANGES}, got {range!r}")


@functools.lru_cache(maxsize=32)
def ycbcr_to_rgb_affine(matrix: str, range: str, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """``(A, b)`` with ``rgb = A @ codes + b`` for integer-valued (Y, Cb, Cr) codes.

    Limited range per ITU-R BT.601/709/2020 (Y 16..235, C 16..240 scaled by
    2^(bits−8)); full range per H.273 (Y 0..2^bits−1, C offset 2^(bits−1)).
    Shared by the reference and the CUDA kernels (which get A and b as
    arguments), so both agree on the maths.
    """
    _check(matrix, range)
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
    a.setflags(write=False)
    b.setflags(write=False)
    return a, b


@functools.lru_cache(maxsize=32)
def rgb_to_ycbcr_affine(matrix: str, range: str, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """``(A, b)`` with ``codes = A @ rgb + b`` (unrounded): the exact inverse of the above."""
    a, b = ycbcr_to_rgb_affine(matrix, range, bits)
    inv = np.linalg.inv(a)
    out_b = -inv @ b
    inv.setflags(write=False)
    out_b.setflags(write=False)
    return inv, out_b


def _plane_format(y: np.ndarray) -> tuple[int, int]:
    """(bits, shift) of a plane: NV12 is 8-bit, P010 is 10-bit in the high bits."""
    if y.dtype == np.uint8:
        return 8, 0
    if y.dtype == np.uint16:
        return 10, 6
    raise ValueError(f"planes must be uint8 (NV12) or uint16 (P010), got {y.dtype}")


def _check_planes(y: np.ndarray, uv: np.ndarray) -> None:
    h, w = y.shape[:2]
    if y.ndim != 2 or h % 2 or w % 2:
        raise ValueError(f"luma plane must be (H, W) with even H and W, got {y.shape}")
    if uv.shape != (h // 2, w // 2, 2):
        raise ValueError(f"chroma plane must be (H/2, W/2, 2) = {(h // 2, w // 2, 2)}, got {uv.shape}")
    if uv.dtype != y.dtype:
        raise ValueError(f"luma and chroma planes must share a dtype, got {y.dtype} and {uv.dtype}")


def upsample_chroma(c: np.ndarray, height: int, width: int, method: str = "bilinear") -> np.ndarray:
    """A (H/2, W/2, ...) chroma plane at full resolution (float64), left siting."""
    if method not in UPSAMPLING:
        raise ValueError(f"upsampling must be one of {UPSAMPLING}, got {method!r}")
    c = np.asarray(c, dtype=np.float64)
    if method == "nearest":
        return c.repeat(2, axis=0).repeat(2, axis=1)[:height, :width]
    ch, cw = c.shape[:2]
    # luma column x sits at chroma column x/2; luma row y at chroma row (y - 0.5)/2
    cx = np.arange(width) / 2.0
    cy = (np.arange(height) - 0.5) / 2.0
    x0 = np.clip(np.floor(cx).astype(int), 0, cw - 1)
    y0 = np.clip(np.floor(cy).astype(int), 0, ch - 1)
    x1 = np.minimum(x0 + 1, cw - 1)
    y1 = np.minimum(y0 + 1, ch - 1)
    fx = np.clip(cx - x0, 0.0, 1.0)
    fy = np.clip(cy - y0, 0.0, 1.0)
    extra = (None,) * (c.ndim - 2)  # broadcast over trailing (component) axes
    fx = fx[(None, slice(None)) + extra]
    fy = fy[(slice(None), None) + extra]
    top = c[y0][:, x0] * (1 - fx) + c[y0][:, x1] * fx
    bottom = c[y1][:, x0] * (1 - fx) + c[y1][:, x1] * fx
    return top * (1 - fy) + bottom * fy


def downsample_chroma(c: np.ndarray) -> np.ndarray:
    """A full-resolution (H, W, ...) chroma plane at (H/2, W/2, ...), left siting (float64)."""
    c = np.asarray(c, dtype=np.float64)
    rows = 0.5 * (c[0::2] + c[1::2])
    left = np.concatenate([rows[:, :1], rows[:, 1:-1:2]], axis=1)  # column 2j-1, clamped at the edge
    centre = rows[:, 0::2]
    right = rows[:, 1::2]
    return 0.25 * left + 0.5 * centre + 0.25 * right


def yuv_to_rgb(y, uv, matrix: str = "bt709", range: str = "limited", upsample: str = "bilinear"):
    """NV12 or P010 planes -> float32 RGB (H, W, 3) in [0, 1].

    The plane dtype says which (uint8 NV12, uint16 P010). ``matrix`` and
    ``range`` come from the source's tags; decide untagged sources before
    calling (farm treats untagged HD as BT.709). CuPy planes run the CUDA
    kernel and return CuPy.
    """
    _check(matrix, range)
    if upsample not in UPSAMPLING:
        raise ValueError(f"upsample must be one of {UPSAMPLING}, got {upsample!r}")
    if is_cupy(y):
        from farm.kernels import _cupy

        return _cupy.yuv_to_rgb(y, uv, matrix, range, upsample)
    y = np.asarray(y)
    uv = np.asarray(uv)
    _check_planes(y, uv)
    bits, shift = _plane_format(y)
    h, w = y.shape
    luma = (y >> shift).astype(np.float64)
    chroma = upsample_chroma(uv >> shift, h, w, upsample)
    codes = np.concatenate([luma[..., None], chroma], axis=-1)
    a, b = ycbcr_to_rgb_affine(matrix, range, bits)
    rgb = codes @ a.T + b
    return np.clip(rgb, 0.0, 1.0).astype(np.float32)


def rgb_to_yuv(rgb, matrix: str = "bt709", range: str = "limited", format: str = "nv12"):
    """Float RGB (H, W, 3) in [0, 1] -> ``(y, uv)`` NV12 (``"nv12"``) or P010 (``"p010"``) planes.

    Codes are rounded to nearest and clipped to the code range.
    """
    _check(matrix, range)
    if format not in ("nv12", "p010"):
        raise ValueError(f"format must be 'nv12' or 'p010', got {format!r}")
    if is_cupy(rgb):
        from farm.kernels import _cupy

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


def _xyz_of_xy(x: float, y: float) -> np.ndarray:
    return np.array([x / y, 1.0, (1.0 - x - y) / y])


def srgb_to_lab(rgb) -> np.ndarray:
    """sRGB-encoded RGB (..., 3) -> CIE L*a*b* (D65 white), float64."""
    c = np.asarray(rgb, dtype=np.float64)
    linear = np.where(c <= 0.04045, c / 12.92, ((np.maximum(c, 0.04045) + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _SRGB_TO_XYZ.T / _xyz_of_xy(*_D65_XY)
    eps, kappa = 216.0 / 24389.0, 24389.0 / 27.0
    f = np.where(xyz > eps, np.cbrt(xyz), (kappa * xyz + 16.0) / 116.0)
    return np.stack(
        [116.0 * f[..., 1] - 16.0, 500.0 * (f[..., 0] - f[..., 1]), 200.0 * (f[..., 1] - f[..., 2])], -1
    )


def delta_e_2000(rgb_a, rgb_b) -> np.ndarray:
    """CIEDE2000 colour difference between two sRGB-encoded images (..., 3).

    Implemented here (Sharma, Wu & Dalal 2005) so that ``farm look`` needs no
    colour-science at run time; the tests check it against colour-science.
    """
    return delta_e_2000_lab(srgb_to_lab(rgb_a), srgb_to_lab(rgb_b))


def delta_e_2000_lab(lab_a, lab_b) -> np.ndarray:
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
    return np.sqrt(
        (dl / s_l) ** 2 + (dc / s_c) ** 2 + (dh_big / s_h) ** 2 + r_t * (dc / s_c) * (dh_big / s_h)
    )
