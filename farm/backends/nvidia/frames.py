"""Pictures on the device: decoded planes in, one BT.709 limited-range NV12 output frame out.

Written once against an array module ``xp`` (CuPy in the worker, NumPy in the
tests), so the geometry — scale, turn, crop, letterbox — is checked on machines
without a GPU against what the CPU backend's libavfilter chain does. The
colour work is the fused kernel of ``farm.kernels`` (one pass: resample,
YCbCr → RGB, LUT, RGB → YCbCr); nothing here copies to the host except
:func:`host_i420`, the single crossing for GPUs without NVENC.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from farm.backends.nvidia.params import FramePlan
from farm.kernels import Array, Lut, fused_nv12_resize

#: the output format of every segment
OUT_MATRIX, OUT_RANGE = "bt709", "limited"
BLACK_Y, BLACK_C = 16, 128  # 8-bit limited-range black


def black_frame(xp: Any, width: int, height: int, bits: int = 8) -> tuple[Any, Any]:
    """Limited-range black as NV12 (8 bits) or P010 (10 bits, the code in the high bits)."""
    if bits == 8:
        return (
            xp.full((height, width), BLACK_Y, dtype=xp.uint8),
            xp.full((height // 2, width // 2, 2), BLACK_C, dtype=xp.uint8),
        )
    return (
        xp.full((height, width), BLACK_Y << 8, dtype=xp.uint16),
        xp.full((height // 2, width // 2, 2), BLACK_C << 8, dtype=xp.uint16),
    )


def to_p010(xp: Any, plane: Any) -> Any:
    """8-bit codes → P010 (10-bit code ``4·v`` in the high bits); P010/P016 planes pass unchanged."""
    if plane.dtype == xp.uint16:
        return plane
    return plane.astype(xp.uint16) << 8


def to_8bit(xp: Any, plane: Any) -> Any:
    """P010/P016 samples (code in the high bits of uint16) → 8-bit codes, rounded to nearest."""
    if plane.dtype == xp.uint8:
        return plane
    return xp.minimum((plane.astype(xp.uint32) + 128) >> 8, 255).astype(xp.uint8)


def byte_strides(shape: tuple[int, ...], itemsize: int, strides: tuple[int, ...] | None) -> tuple[int, ...]:
    """Strides in bytes of a ``__cuda_array_interface__`` (None: C-contiguous).

    PyNvVideoCodec reports the strides of 16-bit (P016) planes in elements,
    not bytes (``|u2`` data with strides ``(W, 1, 1)``): a stride of a dimension
    longer than one that is not a multiple of the item size can only be a count
    of elements, and then every stride is.
    """
    if strides is None:
        out, step = [], itemsize
        for n in reversed(shape):
            out.append(step)
            step *= n
        return tuple(reversed(out))
    if any(n > 1 and (s <= 0 or s % itemsize) for n, s in zip(shape, strides, strict=True)):
        return tuple(s * itemsize for s in strides)
    return tuple(strides)


def device_array(xp: Any, view: Any) -> Any:
    """A CuPy array over a decoded plane, built from its pointer: no copy and no host sync.

    ``cupy.asarray`` on an interface that names a stream synchronises the host
    with that stream, and trusts the strides as bytes. Here the array is made
    from the pointer (``cupy.cuda.UnownedMemory``, which keeps ``view`` alive)
    with byte strides (:func:`byte_strides`); when the view names a stream
    other than the current one, the current stream waits for it on the device
    (an event), never the host. NumPy arrays and objects without the interface
    go through ``xp.asarray``.
    """
    cai = getattr(view, "__cuda_array_interface__", None)
    cuda = getattr(xp, "cuda", None)
    if cai is None or cuda is None or not hasattr(cuda, "UnownedMemory"):
        return xp.asarray(view)
    dtype = np.dtype(cai["typestr"])
    shape = tuple(int(n) for n in cai["shape"])
    given = cai.get("strides")
    strides = byte_strides(shape, dtype.itemsize, None if given is None else tuple(int(s) for s in given))
    pointer = int(cai["data"][0])
    extent = (
        dtype.itemsize + sum((n - 1) * s for n, s in zip(shape, strides, strict=True)) if all(shape) else 0
    )
    memory = cuda.UnownedMemory(pointer, extent, view)
    array = xp.ndarray(shape, dtype, cuda.MemoryPointer(memory, 0), strides)
    stream = cai.get("stream")
    current = cuda.get_current_stream()
    if stream is not None and int(stream) != int(current.ptr):
        event = cuda.Event(disable_timing=True)
        event.record(cuda.ExternalStream(int(stream)))
        current.wait_event(event)
    return array


def planes_from_views(xp: Any, views: Any, width: int, height: int) -> tuple[Any, Any]:
    """(Y, UV) planes as (H, W) and (H/2, W/2, 2) views of a decoded frame, without copies.

    ``views`` is what ``DecodedFrame.cuda()`` returns: per-plane objects with
    ``__cuda_array_interface__`` (Y as (H, W, 1), UV as (H/2, W/2, 2) or
    (H/2, W)), or one (H·3/2, W) array of the whole frame.
    """
    arrays = [device_array(xp, v) for v in (views if isinstance(views, (list, tuple)) else [views])]
    if len(arrays) == 1:
        whole = arrays[0]
        if whole.ndim == 3 and whole.shape[2] == 1:
            whole = whole[:, :, 0]
        if whole.shape[:2] != (height * 3 // 2, width):
            raise ValueError(f"a whole NV12 frame must be ({height * 3 // 2}, {width}), got {whole.shape}")
        arrays = [whole[:height], whole[height:]]
    if len(arrays) != 2:
        raise ValueError(f"expected the Y and UV planes of a 4:2:0 frame, got {len(arrays)} planes")
    y, uv = arrays
    if y.ndim == 3 and y.shape[2] == 1:
        y = y[:, :, 0]
    if uv.ndim == 2:
        uv = uv.reshape(uv.shape[0], uv.shape[1] // 2, 2)
    if y.shape != (height, width) or uv.shape != (height // 2, width // 2, 2):
        raise ValueError(
            f"planes {y.shape} and {uv.shape} are not a {width}x{height} 4:2:0 frame (4:2:2 and 4:4:4 "
            "sources are not supported by the nvidia backend)"
        )
    return y, uv


def convert_picture(
    xp: Any,
    y: Array,
    uv: Array,
    lut: Lut,
    out_width: int,
    out_height: int,
    fit_rect: tuple[int, int, int, int] | None,
    matrix: str,
    range: str,
    filter: str = "bicubic",
    out_bits: int = 8,
) -> tuple[Array, Array]:
    """Scale, grade and convert a picture into a BT.709 limited-range NV12 (or P010) frame.

    One pass of the fused kernel (its NumPy reference for NumPy planes): the
    source's matrix and range in, BT.709 limited range out. The picture lands
    at ``fit_rect`` (default: the whole frame), black around it. A 10-bit
    (P016) source goes through the LUT in float from its 10-bit codes; the
    result is rounded once, to ``out_bits`` (8: NV12, 10: P010).
    """
    if out_bits == 10:  # the kernel writes at its input's depth: an 8-bit source is widened exactly
        y, uv = to_p010(xp, y), to_p010(xp, uv)
    y_o, uv_o = fused_nv12_resize(
        y,
        uv,
        lut,
        out_width,
        out_height,
        fit_rect,
        matrix=matrix,
        range=range,
        filter=filter,
        out_matrix=OUT_MATRIX,
        out_range=OUT_RANGE,
    )
    if out_bits == 10:
        return y_o, uv_o
    return to_8bit(xp, y_o), to_8bit(xp, uv_o)


def compose_frame(
    xp: Any,
    y: Any,
    uv: Any,
    plan: FramePlan,
    lut: Lut,
    matrix: str,
    range: str,
    filter: str = "bicubic",
    mirrored: bool = False,
    out_bits: int = 8,
) -> tuple[Any, Any]:
    """The output frame for one decoded picture: the GPU twin of the CPU backend's filter chain.

    ``mirrored`` (a front camera's display matrix): flipped left to right after
    the turn and before the crop, where the CPU chain's ``hflip`` sits.
    """
    out_w, out_h = plan.out_size
    if plan.direct and not mirrored:
        return convert_picture(xp, y, uv, lut, out_w, out_h, plan.fit_rect, matrix, range, filter, out_bits)
    sw, sh = plan.scale_size
    ys, uvs = convert_picture(xp, y, uv, lut, sw, sh, None, matrix, range, filter, out_bits)
    if plan.quarter_turns:
        ys = xp.rot90(ys, plan.quarter_turns)
        uvs = xp.rot90(uvs, plan.quarter_turns, axes=(0, 1))
    if mirrored:
        ys, uvs = ys[:, ::-1], uvs[:, ::-1]
    cx, cy, cw, ch = plan.crop
    px, py = plan.paste
    y_o, uv_o = black_frame(xp, out_w, out_h, out_bits)
    y_o[py : py + ch, px : px + cw] = ys[cy : cy + ch, cx : cx + cw]
    uv_o[py // 2 : (py + ch) // 2, px // 2 : (px + cw) // 2] = uvs[
        cy // 2 : (cy + ch) // 2, cx // 2 : (cx + cw) // 2
    ]
    return y_o, uv_o


def nv12_surface(xp: Any, y: Any, uv: Any, out: Any | None = None) -> Any:
    """One contiguous (H·3/2, W) NV12 buffer, UV right after Y, as NVENC's input wants it."""
    h, w = y.shape
    surface = out if out is not None else xp.empty((h * 3 // 2, w), dtype=xp.uint8)
    surface[:h] = y
    surface[h:] = uv.reshape(h // 2, w)
    return surface


def host_i420(xp: Any, y: Any, uv: Any) -> np.ndarray:
    """The frame as a host (H·3/2, W) yuv420p array: chroma deinterleaved on the device, one copy."""
    h, w = y.shape
    flat = xp.empty(h * w * 3 // 2, dtype=xp.uint8)
    quarter = h * w // 4
    flat[: h * w] = y.reshape(-1)
    flat[h * w : h * w + quarter] = uv[:, :, 0].reshape(-1)
    flat[h * w + quarter :] = uv[:, :, 1].reshape(-1)
    host = flat.get() if hasattr(flat, "get") else flat
    return np.asarray(host).reshape(h * 3 // 2, w)


class EncoderInput:
    """What ``PyNvEncoder.Encode`` takes from the device: an object whose ``cuda()`` lists the planes.

    PyNvVideoCodec reads Y as (H, W, 1) and UV as (H/2, W/2, 2) through
    ``__cuda_array_interface__``, UV right after Y in one allocation (as in its
    samples). A list has no ``__dlpack__``, which keeps the library off its
    whole-frame DLPack path: that one calls ``__dlpack__(stream)``
    positionally, and CuPy's ``stream`` is keyword-only.
    """

    def __init__(self, surface: Any):
        h = surface.shape[0] * 2 // 3
        w = surface.shape[1]
        self.surface = surface
        self.planes = [surface[:h].reshape(h, w, 1), surface[h:].reshape(h // 2, w // 2, 2)]

    def cuda(self) -> list[Any]:
        return self.planes
