"""CuPy twins of the kernels: launch code for the CUDA sources in ``cuda/``.

Nothing here runs at import: CuPy is imported by the first call, which only
happens when a CuPy array reaches a public function. Compiled modules and the
small constant arrays the kernels read (LUT tables, resampling taps, colour
matrices) are memoised per device, so a GPU worker pays for them once.

Every function runs on the device of its input array, launches on CuPy's
current stream and returns new CuPy arrays; nothing is copied to the host.
"""

from __future__ import annotations

import functools
import threading
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from farm.errors import BackendUnavailableError
from farm.kernels._common import (
    Array,
    FusedGeometry,
    black_codes,
    check_planes,
    resize_weights,
    rgb_to_ycbcr_affine,
    ycbcr_to_rgb_affine,
)
from farm.kernels._cube import Lut

CUDA_DIR = Path(__file__).with_name("cuda")
#: NVRTC options; -std=c++17 for alignas and templates
NVRTC_OPTIONS = ("--std=c++17",)
_BLOCK = 256
#: grid-stride loops cover the rest; more blocks than this buys nothing
_MAX_BLOCKS = 65535
_INCLUDE = '#include "farm_common.cuh"'

_lock = threading.Lock()


def _cupy() -> Any:
    try:
        import cupy
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise BackendUnavailableError(
            f"CuPy is not importable: {exc}",
            hint="install cupy-cuda12x or cupy-cuda13x to use the GPU kernels",
        ) from exc
    return cupy


@functools.cache
def cuda_source(name: str) -> str:
    """The source of ``cuda/NAME`` with ``farm_common.cuh`` inlined, as NVRTC gets it."""
    text = (CUDA_DIR / name).read_text()
    common = (CUDA_DIR / "farm_common.cuh").read_text()
    return text.replace(_INCLUDE, common)


@functools.cache
def _module(name: str, device_id: int) -> Any:
    """The compiled module for one source on one device (compiled once, on first use)."""
    cp = _cupy()
    with cp.cuda.Device(device_id):
        return cp.RawModule(code=cuda_source(name), options=NVRTC_OPTIONS)


def _function(name: str, kernel: str, device_id: int) -> Any:
    with _lock:
        return _module(name, device_id).get_function(kernel)


def _grid(work_items: int) -> tuple[int]:
    return (max(1, min(-(-work_items // _BLOCK), _MAX_BLOCKS)),)


def _launch(name: str, kernel: str, device_id: int, work_items: int, args: tuple[Any, ...]) -> None:
    if work_items <= 0:
        return
    _function(name, kernel, device_id)(_grid(work_items), (_BLOCK,), args)


# ------------------------------------------------------------ device constants

#: per Lut (weakly held, so dropping a Lut frees its tables): device id -> arrays
_lut_tables: weakref.WeakKeyDictionary[Lut, dict[int, tuple[Any, Any, Any, int]]] = (
    weakref.WeakKeyDictionary()
)


def lut_params(lut: Lut) -> np.ndarray:
    """The 12 floats the kernels read: table domain (min, scale) then shaper domain (min, scale)."""
    n = lut.size
    params = np.zeros(12, np.float32)
    params[0:3] = lut.domain_min
    params[3:6] = (n - 1) / (lut.domain_max.astype(np.float64) - lut.domain_min)
    if lut.shaper1d is not None:
        m = lut.shaper1d.shape[0]
        params[6:9] = lut.shaper_domain_min
        params[9:12] = (m - 1) / (lut.shaper_domain_max.astype(np.float64) - lut.shaper_domain_min)
    return params


def device_lut(lut: Lut, device_id: int) -> tuple[Any, Any, Any, int]:
    """``(table, shaper, params, shaper_size)`` on the device; table nodes padded to 16 bytes."""
    with _lock:
        per_device = _lut_tables.setdefault(lut, {})
        if device_id in per_device:
            return per_device[device_id]
    cp = _cupy()
    n = lut.size
    nodes = np.zeros((n, n, n, 4), np.float32)
    nodes[..., :3] = lut.table3d
    shaper = lut.shaper1d if lut.shaper1d is not None else np.zeros((1, 3), np.float32)
    with cp.cuda.Device(device_id):
        entry = (
            cp.asarray(nodes),
            cp.asarray(np.ascontiguousarray(shaper, np.float32)),
            cp.asarray(lut_params(lut)),
            0 if lut.shaper1d is None else int(lut.shaper1d.shape[0]),
        )
    with _lock:
        _lut_tables.setdefault(lut, {})[device_id] = entry
    return entry


@functools.lru_cache(maxsize=128)
def device_taps(in_size: int, out_size: int, filter: str, device_id: int) -> tuple[Any, Any, int]:
    """Resampling taps (start, weights, taps) on the device."""
    cp = _cupy()
    start, weights = resize_weights(in_size, out_size, filter)
    with cp.cuda.Device(device_id):
        return cp.asarray(start), cp.asarray(weights), int(weights.shape[1])


def affine_coefficients(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A 3×3 matrix and offset as the 12 floats ``farm_affine`` reads."""
    return np.concatenate([a.reshape(-1), b]).astype(np.float32)


@functools.lru_cache(maxsize=64)
def device_affine(direction: str, matrix: str, range: str, bits: int, device_id: int) -> Any:
    """Colour conversion coefficients on the device (direction ``"to_rgb"`` or ``"to_yuv"``)."""
    cp = _cupy()
    make = ycbcr_to_rgb_affine if direction == "to_rgb" else rgb_to_ycbcr_affine
    with cp.cuda.Device(device_id):
        return cp.asarray(affine_coefficients(*make(matrix, range, bits)))


# ------------------------------------------------------------------- kernels


def _float_rgb(cp: Any, rgb: Any) -> Any:
    if rgb.shape[-1:] != (3,):
        raise ValueError(f"rgb must have shape (..., 3), got {rgb.shape}")
    return cp.ascontiguousarray(rgb, dtype=cp.float32)


def apply_lut(rgb: Any, lut: Lut, interpolation: str) -> Any:
    cp = _cupy()
    dev = rgb.device.id
    with rgb.device:
        x = _float_rgb(cp, rgb)
        out = cp.empty_like(x)
        table, shaper, params, m = device_lut(lut, dev)
        n_pixels = x.size // 3
        args = (
            x,
            out,
            np.int64(n_pixels),
            table,
            np.int32(lut.size),
            shaper,
            np.int32(m),
            params,
            np.int32(interpolation == "tetrahedral"),
        )
        _launch("lut.cu", "farm_apply_lut", dev, n_pixels, args)
    return out


def resize(image: Any, width: int, height: int, filter: str) -> Any:
    cp = _cupy()
    if image.ndim not in (2, 3):
        raise ValueError(f"image must have shape (H, W) or (H, W, C), got {image.shape}")
    dev = image.device.id
    with image.device:
        x = cp.ascontiguousarray(image, dtype=cp.float32)
        in_h, in_w = x.shape[:2]
        channels = 1 if x.ndim == 2 else x.shape[2]
        if in_w != width:
            start, weights, taps = device_taps(in_w, width, filter, dev)
            out = cp.empty((in_h, width) + x.shape[2:], cp.float32)
            sizes = (np.int32(in_h), np.int32(in_w), np.int32(width), np.int32(channels))
            args = (x, out, *sizes, start, weights, np.int32(taps))
            _launch("resize.cu", "farm_resize_h", dev, out.size, args)
            x = out
        if in_h != height:
            start, weights, taps = device_taps(in_h, height, filter, dev)
            out = cp.empty((height,) + x.shape[1:], cp.float32)
            row_len = x.shape[1] * channels
            args_v = (
                x,
                out,
                np.int32(in_h),
                np.int32(height),
                np.int32(row_len),
                start,
                weights,
                np.int32(taps),
            )
            _launch("resize.cu", "farm_resize_v", dev, out.size, args_v)
            x = out
        return x if x is not image else x.copy()


def _pitch(plane: Any, pixel_elements: int) -> int:
    """Row pitch in elements of a plane whose rows are contiguous (NVDEC frames are pitched)."""
    item = plane.itemsize
    inner = plane.strides[1:]
    expected = tuple(item * int(np.prod(plane.shape[i + 2 :], dtype=np.int64)) for i in range(plane.ndim - 1))
    if (
        inner != expected
        or plane.strides[0] % item
        or plane.strides[0] < plane.shape[1] * pixel_elements * item
    ):
        raise ValueError(f"plane rows must be contiguous with a pitch, got strides {plane.strides}")
    return int(plane.strides[0] // item)


def _check_device_planes(y: Array, uv: Array) -> tuple[int, int, int, int]:
    """(height, width, bits, luma pitch) of device planes on one device."""
    h, w, bits = check_planes(y, uv)
    if y.device.id != uv.device.id:
        raise ValueError(f"planes are on different devices ({y.device.id} and {uv.device.id})")
    return h, w, bits, _pitch(y, 1)


def yuv_to_rgb(y: Any, uv: Any, matrix: str, range: str, upsample: str) -> Any:
    cp = _cupy()
    h, w, bits, y_pitch = _check_device_planes(y, uv)
    dev = y.device.id
    kernel = "farm_nv12_to_rgb" if bits == 8 else "farm_p010_to_rgb"
    with y.device:
        out = cp.empty((h, w, 3), cp.float32)
        coeffs = device_affine("to_rgb", matrix, range, bits, dev)
        args = (y, uv, out, np.int32(w), np.int32(h), np.int32(y_pitch), np.int32(_pitch(uv, 2)), coeffs,
                np.int32(upsample == "bilinear"))  # fmt: skip
        _launch("yuv.cu", kernel, dev, h * w, args)
    return out


def rgb_to_yuv(rgb: Any, matrix: str, range: str, format: str) -> tuple[Any, Any]:
    cp = _cupy()
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] % 2 or rgb.shape[1] % 2:
        raise ValueError(f"rgb must be (H, W, 3) with even H and W, got {rgb.shape}")
    h, w = rgb.shape[:2]
    bits, dtype = (8, cp.uint8) if format == "nv12" else (10, cp.uint16)
    dev = rgb.device.id
    with rgb.device:
        x = _float_rgb(cp, rgb)
        y = cp.empty((h, w), dtype)
        uv = cp.empty((h // 2, w // 2, 2), dtype)
        coeffs = device_affine("to_yuv", matrix, range, bits, dev)
        _launch(
            "yuv.cu",
            f"farm_rgb_to_{format}_luma",
            dev,
            h * w,
            (x, y, np.int32(w), np.int32(h), np.int32(w), coeffs),
        )
        _launch(
            "yuv.cu",
            f"farm_rgb_to_{format}_chroma",
            dev,
            h * w // 4,
            (x, uv, np.int32(w), np.int32(h), np.int32(w), coeffs),
        )
    return y, uv


def fused_nv12_resize(
    y: Array,
    uv: Array,
    lut: Lut,
    geometry: FusedGeometry,
    matrix: str,
    range: str,
    out_matrix: str,
    out_range: str,
    filter: str,
    interpolation: str,
) -> tuple[Array, Array]:
    """``fused.cu`` in two launches: the horizontal pass of both planes into a float intermediate,
    then the vertical pass with the colour work (the source's YCbCr -> RGB in, the output's out)."""
    cp = _cupy()
    in_h, in_w, bits, y_pitch = _check_device_planes(y, uv)
    dev = y.device.id
    g = geometry
    fmt = "nv12" if bits == 8 else "p010"
    black_y, black_c = black_codes(out_range, bits)
    i32 = np.int32
    with y.device:
        y_out = cp.empty((g.out_height, g.out_width), y.dtype)
        uv_out = cp.empty((g.out_height // 2, g.out_width // 2, 2), y.dtype)
        tmp_y = cp.empty((in_h, g.fit_w), cp.float32)
        tmp_c = cp.empty((in_h // 2, g.fit_w // 2, 2), cp.float32)
        table, _, params, _ = device_lut(lut, dev)
        lx = device_taps(in_w, g.fit_w, filter, dev)
        ly = device_taps(in_h, g.fit_h, filter, dev)
        cx = device_taps(in_w // 2, g.fit_w // 2, filter, dev)
        cy = device_taps(in_h // 2, g.fit_h // 2, filter, dev)
        args_h = (
            y, uv, i32(in_w), i32(in_h), i32(y_pitch), i32(_pitch(uv, 2)), tmp_y, tmp_c, i32(g.fit_w),
            lx[0], lx[1], i32(lx[2]), cx[0], cx[1], i32(cx[2]),
        )  # fmt: skip
        work_h = in_h * g.fit_w + (in_h // 2) * (g.fit_w // 2)
        _launch("fused.cu", f"farm_{fmt}_resize_h", dev, work_h, args_h)
        args_v = (
            tmp_y, tmp_c, i32(in_h),
            y_out, uv_out, i32(g.out_width), i32(g.out_height), i32(g.out_width), i32(g.out_width),
            i32(g.fit_x), i32(g.fit_y), i32(g.fit_w), i32(g.fit_h),
            ly[0], ly[1], i32(ly[2]), cy[0], cy[1], i32(cy[2]),
            table, i32(lut.size), params, i32(interpolation == "tetrahedral"),
            device_affine("to_rgb", matrix, range, bits, dev),
            device_affine("to_yuv", out_matrix, out_range, bits, dev),
            np.float32(black_y), np.float32(black_c),
        )  # fmt: skip
        work_v = (g.out_width // 2) * (g.out_height // 2)
        _launch("fused.cu", f"farm_{fmt}_resize_v_lut_{fmt}", dev, work_v, args_v)
    return y_out, uv_out
