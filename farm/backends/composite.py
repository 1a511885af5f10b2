"""Compositing a segment's layers on the CPU (NumPy), bottom to top, over black.

Each source layer goes through the clip's own libavfilter chain (colour, look,
scale, rotation, fit) into output-size yuva420p with its alpha kept straight and
letterbox padding transparent; fills are drawn by ``fills.py``.  The mix happens
in the output's colour: BT.709 limited-range Y'CbCr, gamma-encoded (as editing
applications dissolve), in float32 on 8-bit code values, rounded once per frame:

    ``acc ← acc + a · (layer − acc)``, starting from black (Y 16, Cb Cr 128),

with ``a = alpha/255 × weight`` per pixel (a wipe's mask, ``wipes.py``, instead
of the weight for wipe layers); chroma uses the mean of ``a`` over each 2×2 block.  A
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

Planes = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # Y, Cb, Cr (uint8), alpha (float32 0..1)
FrameSource = Callable[..., Iterator[tuple[av.VideoFrame, int]]]


def _plane(frame: av.VideoFrame, index: int, width: int, height: int) -> np.ndarray:
    plane = frame.planes[index]
    data = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)
    return data[:height, :width]


def frame_planes(frame: av.VideoFrame) -> Planes:
    """A yuv420p or yuva420p frame's planes; alpha 1 where the format has none."""
    w, h = frame.width, frame.height
    y = _plane(frame, 0, w, h).copy()
    u = _plane(frame, 1, w // 2, h // 2).copy()
    v = _plane(frame, 2, w // 2, h // 2).copy()
    if frame.format.name == "yuva420p":
        a = _plane(frame, 3, w, h).astype(np.float32) / 255.0
    else:
        a = np.ones((h, w), np.float32)
    return y, u, v, a


def _layer_pictures(layer: Layer, job: SegmentJob, decode: FrameSource) -> dict[int, Planes]:
    """Each distinct source frame of a layer, filtered (or the fill), as planes."""
    if layer.source is None:
        return {-1: frame_planes(fill_picture(job.encode, layer.fill))}
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
    decoded = [_layer_pictures(layer, job, decode) for layer in job.layers]
    for k in range(job.count):
        acc_y = np.full((h, w), 16.0, np.float32)
        acc_u = np.full((h // 2, w // 2), 128.0, np.float32)
        acc_v = np.full((h // 2, w // 2), 128.0, np.float32)
        for layer, pictures in zip(job.layers, decoded, strict=True):
            y, u, v, alpha = pictures[layer.frames[k] if layer.source is not None else -1]
            weight = float(layer.weights[k])
            a = alpha * (wipe_mask(layer.mask, weight, w, h) if layer.mask else weight)
            ac = a.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
            acc_y += a * (y - acc_y)
            acc_u += ac * (u - acc_u)
            acc_v += ac * (v - acc_v)
        yield _to_frame(acc_y, acc_u, acc_v), 1


def _to_frame(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> av.VideoFrame:
    h, w = y.shape
    frame = av.VideoFrame(w, h, "yuv420p")
    for plane, data in zip(frame.planes, (y, u, v), strict=True):
        codes = np.clip(np.rint(data), 0, 255).astype(np.uint8)
        padded = np.zeros((codes.shape[0], plane.line_size), np.uint8)
        padded[:, : codes.shape[1]] = codes
        plane.update(padded.tobytes())
    return frame
