"""Compositing a segment's layers on the CPU (NumPy), bottom to top, over black.

Each source layer goes through the clip's own libavfilter chain (colour, look,
scale, rotation, fit) into the output's size and pixel format with alpha
(yuva420p; yuva420p10le, yuva422p10le, yuva444p10le for 10-bit outputs) with its
alpha kept straight and letterbox padding transparent; fills are drawn by
``fills.py``.  The mix happens in the output's colour: limited-range Y'CbCr
(BT.709, or BT.2020 PQ/HLG), gamma-encoded (as editing applications dissolve),
in float32 on the output's code values (8 or 10 bits), rounded once per frame:

    ``acc ← acc + a · (layer − acc)``, starting from black (Y 16, Cb Cr 128; ×4 at 10 bits),

with ``a = alpha/max × weight`` per pixel (a wipe's mask, ``wipes.py``, instead
of the weight for wipe layers); chroma uses the mean of ``a`` over each chroma sample's block
(2×2 for 4:2:0, 2×1 for 4:2:2, 1×1 for 4:4:4).  A
cross-dissolve of two opaque clips is therefore exactly
``(1 − w)·A + w·B`` per plane.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

import av
import numpy as np

from farm.backends.fills import fill_picture
from farm.backends.wipes import wipe_mask
from farm.planning.units import Layer, SegmentJob

Planes = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # Y, Cb, Cr (codes), alpha (float32 0..1)
FrameSource = Callable[..., Iterator[tuple[av.VideoFrame, int]]]


def _plane(frame: av.VideoFrame, index: int) -> np.ndarray:
    plane = frame.planes[index]
    dtype = np.uint16 if frame.format.name.endswith("10le") else np.uint8
    data = np.frombuffer(memoryview(plane), dtype).reshape(-1, plane.line_size // dtype().itemsize)
    return data[: plane.height, : plane.width]


def frame_planes(frame: av.VideoFrame) -> Planes:
    """A planar Y'CbCr frame's planes (8 or 10 bits, with or without alpha); alpha 1 where it has none."""
    y, u, v = (_plane(frame, i).copy() for i in range(3))
    if frame.format.name.startswith("yuva"):
        a = _plane(frame, 3).astype(np.float32) / (1023.0 if y.dtype == np.uint16 else 255.0)
    else:
        a = np.ones(y.shape, np.float32)
    return y, u, v, a


def _layer_pictures(layer: Layer, job: SegmentJob, decode: FrameSource) -> dict[int, Planes]:
    """Each distinct source frame of a layer, filtered (or the fill), as planes."""
    if layer.source is None:  # drawn in the output's format (opaque)
        return {-1: frame_planes(fill_picture(job.encode, layer.fill, job.encode.pix_fmt))}
    sub = replace(
        job,
        frames=layer.frames,
        frame_pts=layer.frame_pts,
        source=layer.source,
        geometry=layer.geometry,
        lut_path=layer.lut_path,
        lut_hash=layer.lut_hash,
        layers=(),
    )
    distinct = sorted(set(layer.frames))
    pictures = [frame_planes(frame) for frame, _ in decode(sub, keep_alpha=True)]
    return dict(zip(distinct, pictures, strict=True))


def composite_pictures(job: SegmentJob, decode: FrameSource) -> Iterator[tuple[av.VideoFrame, int]]:
    """The segment's frames: every layer mixed over black, one picture per output frame."""
    spec = job.encode
    w, h = spec.width, spec.height
    scale = 4.0 if spec.bit_depth == 10 else 1.0
    probe = av.VideoFrame(w, h, spec.pix_fmt)  # the chroma planes' size in the output's format
    cw, ch = probe.planes[1].width, probe.planes[1].height
    decoded = [_layer_pictures(layer, job, decode) for layer in job.layers]
    for k in range(job.count):
        acc_y = np.full((h, w), 16.0 * scale, np.float32)
        acc_u = np.full((ch, cw), 128.0 * scale, np.float32)
        acc_v = np.full((ch, cw), 128.0 * scale, np.float32)
        for layer, pictures in zip(job.layers, decoded, strict=True):
            y, u, v, alpha = pictures[layer.frames[k] if layer.source is not None else -1]
            weight = float(layer.weights[k])
            a = alpha * (wipe_mask(layer.mask, weight, w, h) if layer.mask else weight)
            ac = a.reshape(ch, h // ch, cw, w // cw).mean(axis=(1, 3))
            acc_y += a * (y - acc_y)
            acc_u += ac * (u - acc_u)
            acc_v += ac * (v - acc_v)
        yield _to_frame(acc_y, acc_u, acc_v, spec.pix_fmt), 1


def _to_frame(y: np.ndarray, u: np.ndarray, v: np.ndarray, pix_fmt: str = "yuv420p") -> av.VideoFrame:
    h, w = y.shape
    frame = av.VideoFrame(w, h, pix_fmt)
    dtype = np.uint16 if pix_fmt.endswith("10le") else np.uint8
    top = 1023 if dtype == np.uint16 else 255
    for plane, data in zip(frame.planes, (y, u, v), strict=True):
        codes = np.clip(np.rint(data), 0, top).astype(dtype)
        padded = np.zeros((codes.shape[0], plane.line_size // dtype().itemsize), dtype)
        padded[:, : codes.shape[1]] = codes
        plane.update(padded.tobytes())
    return frame
