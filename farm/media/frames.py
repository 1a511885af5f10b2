"""Sampled frames of a clip or a still as float RGB, for colour analysis.

:func:`sample_frames` reads a few frames spread across a video clip, or the one
picture of a still, as float32 RGB (H, W, 3) in [0, 1]. Looks are analysed on
these (``farm look`` and the per-source looks of a render).

Video frames are converted with the colour decision the rest of farm makes:
the matrix and range of :func:`farm.media.frame_tags.frame_colour` (the tagged
matrix; untagged is BT.709 from 720 lines up and BT.601 below, never FFmpeg's
BT.601 at every size) and the kernels' conversion (4:2:0 planes go through
:func:`farm.kernels.yuv_to_rgb`, the reference the GPU path is tested against;
other subsamplings use the same affine transform and chroma siting).

Stills are read with Pillow, which is imported only for them: a render whose
reference is a video clip never needs it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from farm.errors import BackendUnavailableError, MediaError, MissingInputError, Where
from farm.kernels import yuv_to_rgb
from farm.kernels._color import upsample_chroma, ycbcr_to_rgb_affine
from farm.media.frame_tags import frame_colour

if TYPE_CHECKING:
    import av
    import av.container
    import av.video.stream

#: planar YCbCr formats read straight from their planes (no swscale involved), with their bit depth
_PLANAR_YUV = {
    f"yuv{sub}p{depth}": depth_bits
    for sub in ("420", "422", "444")
    for depth, depth_bits in (("", 8), ("10le", 10), ("12le", 12))
} | {f"yuvj{sub}p": 8 for sub in ("420", "422", "444")}
#: FFmpeg demuxers that read single pictures rather than clips (besides every ``*_pipe`` one)
_STILL_DEMUXERS = {"image2", "image2pipe", "gif", "ico", "apng", "webp", "fits", "alias_pix", "brender_pix"}


def sample_frames(path: str | os.PathLike[str], count: int = 8) -> list[np.ndarray]:
    """Up to ``count`` frames of a still or a video clip as float32 RGB (H, W, 3) in [0, 1].

    A still gives one frame. A clip gives ``count`` frames at the centres of
    ``count`` equal slices of its duration (never the first or last frame,
    which are often black).
    """
    import av

    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    path = Path(path)
    where = Where(path=str(path))
    if not path.is_file():
        raise MissingInputError("file does not exist", where)
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        # not media FFmpeg reads: perhaps a picture only Pillow knows
        image = read_still(path) if _pillow_installed() else None
        if image is None:
            raise MediaError(f"neither an image nor a video the decoder can read: {exc}", where) from exc
        return [image]
    with container:
        if _is_still(container):
            image = read_still(path)
            if image is not None:
                return [image]
            # a picture Pillow does not know: decode it as a one-frame clip
        return _read_video(container, count, where)


def _is_still(container: av.container.InputContainer) -> bool:
    names = container.format.name.split(",")
    return any(name in _STILL_DEMUXERS or name.endswith("_pipe") for name in names)


def _pillow_installed() -> bool:
    try:
        import PIL.Image  # noqa: F401
    except ImportError:
        return False
    return True


def read_still(path: Path) -> np.ndarray | None:
    """A still as float32 RGB (16-bit greys as 16-bit), or None when Pillow does not know the format.

    Raises :class:`~farm.errors.BackendUnavailableError` (exit 69) when Pillow
    is not installed, since only Pillow reads stills here.
    """
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise BackendUnavailableError(
            "the file is a still image, and reading stills needs Pillow, which is not installed",
            Where(path=str(path)),
            hint="pip install pillow, or use a video clip as the reference",
        ) from None
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode.startswith("I;16") or im.mode == "I":
                grey = np.asarray(im, dtype=np.float32) / 65535.0
                return np.repeat(np.clip(grey, 0.0, 1.0)[..., None], 3, axis=2)
            return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    except UnidentifiedImageError:
        return None
    except OSError as exc:
        raise MediaError(f"cannot decode image: {exc}", Where(path=str(path))) from exc


def _read_video(container: av.container.InputContainer, count: int, where: Where) -> list[np.ndarray]:
    import av

    if not container.streams.video:
        raise MediaError("has no video stream", where)
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    try:
        targets = _target_timestamps(stream, container, count)
        frames = (
            _seek_frames(container, stream, targets) if targets else _spread_frames(container, stream, count)
        )
    except av.FFmpegError as exc:
        raise MediaError(f"cannot decode video: {exc}", where) from exc
    if not frames:
        raise MediaError("video has no decodable frames", where)
    return [frame_to_rgb(frame) for frame in frames]


def _target_timestamps(
    stream: av.video.stream.VideoStream, container: av.container.InputContainer, count: int
) -> list[int] | None:
    """Timestamps (stream time base) at the centres of ``count`` equal slices, or None if unknown."""
    start = stream.start_time or 0
    if stream.duration:
        duration = stream.duration
    elif container.duration and stream.time_base:
        duration = int(container.duration / 1_000_000 / stream.time_base)
    else:
        return None
    return [start + int((k + 0.5) * duration / count) for k in range(count)]


def _seek_frames(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, targets: list[int]
) -> list[av.VideoFrame]:
    """The first frame at or after each target (the last frame when a target is past the end)."""
    frames = []
    for target in targets:
        container.seek(target, stream=stream, backward=True, any_frame=False)
        chosen = None
        for frame in container.decode(stream):
            chosen = frame
            if frame.pts is None or frame.pts >= target:
                break
        if chosen is not None:
            frames.append(chosen)
    return frames


def _spread_frames(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, count: int
) -> list[av.VideoFrame]:
    """Evenly spread frames of a clip of unknown length, in one pass and bounded memory."""
    kept: list[av.VideoFrame] = []
    stride = 1
    for index, frame in enumerate(container.decode(stream)):
        if index % stride == 0:
            kept.append(frame)
            if len(kept) == 2 * count:
                kept = kept[::2]
                stride *= 2
    step = max(1, len(kept) // count)
    return kept[step // 2 :: step][:count]


def colour_tags(frame: av.VideoFrame) -> tuple[str, str]:
    """``(matrix, range)`` to convert a decoded frame with, as the kernels name them."""
    matrix, _tagged, full = frame_colour(frame)
    return matrix, "full" if full else "limited"


def _plane(frame: av.VideoFrame, index: int, dtype: Any, components: int = 1) -> np.ndarray:
    plane = frame.planes[index]
    itemsize = np.dtype(dtype).itemsize
    rows = np.frombuffer(memoryview(plane), dtype=dtype).reshape(plane.height, plane.line_size // itemsize)
    data = rows[:, : plane.width * components]
    return data.reshape(plane.height, plane.width, components) if components > 1 else data


def _ycbcr_planes(frame: av.VideoFrame) -> tuple[np.ndarray, np.ndarray, int] | None:
    """``(luma, chroma, bits)`` with chroma (h, w, 2) Cb/Cr codes; None for other formats."""
    name = frame.format.name
    if name in ("nv12", "p010le"):  # semi-planar; P010 keeps its codes in the high bits
        dtype = np.uint8 if name == "nv12" else np.uint16
        bits, shift = (8, 0) if name == "nv12" else (10, 6)
        return _plane(frame, 0, dtype) >> shift, _plane(frame, 1, dtype, components=2) >> shift, bits
    if name in _PLANAR_YUV:
        bits = _PLANAR_YUV[name]
        dtype = np.uint8 if bits == 8 else np.uint16
        chroma = np.stack([_plane(frame, 1, dtype), _plane(frame, 2, dtype)], axis=-1)
        return _plane(frame, 0, dtype), chroma, bits
    return None


def frame_to_rgb(frame: av.VideoFrame) -> np.ndarray:
    """A decoded video frame as float32 RGB in [0, 1], with an explicit colour matrix.

    YCbCr planes are read directly (swscale would silently convert ranges for
    ``yuvj`` formats); other formats are repacked to ``yuv444p`` first.
    """
    fmt = frame.format
    if fmt.is_rgb:
        deep = fmt.components[0].bits > 8
        array = frame.to_ndarray(format="rgb48le" if deep else "rgb24")
        return array.astype(np.float32) / (65535.0 if deep else 255.0)
    planes = _ycbcr_planes(frame)
    if planes is None:
        return frame_to_rgb(frame.reformat(format="yuv444p"))
    luma, chroma, bits = planes
    matrix, colour_range = colour_tags(frame)
    h, w = luma.shape
    if bits in (8, 10) and h % 2 == 0 and w % 2 == 0 and chroma.shape[:2] == (h // 2, w // 2):
        # 4:2:0 as NV12 / P010 planes: the kernels' own conversion
        shift = 0 if bits == 8 else 6
        return np.asarray(yuv_to_rgb(luma << shift, chroma << shift, matrix, colour_range))
    # 4:2:2, 4:4:4, 12 bits or odd sizes: the same affine transform and chroma siting
    if chroma.shape[:2] == ((h + 1) // 2, (w + 1) // 2):
        full = upsample_chroma(chroma, h, w, "bilinear")
    else:  # 4:2:2 and 4:4:4: repeat to full size
        ry, rx = math.ceil(h / chroma.shape[0]), math.ceil(w / chroma.shape[1])
        full = chroma.astype(np.float64).repeat(ry, axis=0).repeat(rx, axis=1)[:h, :w]
    codes = np.concatenate([luma[..., None].astype(np.float64), full], axis=-1)
    a, b = ycbcr_to_rgb_affine(matrix, colour_range, bits)
    rgb: np.ndarray = np.clip(codes @ a.T + b, 0.0, 1.0).astype(np.float32)
    return rgb
