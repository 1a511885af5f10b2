"""``farm look``: match a clip's colour to a reference and save the look as a ``.cube``.

The analysis samples frames across the source and the reference (images or
video clips), estimates a transfer with :func:`farm.kernels.match`, and bakes
it into a 3D LUT that Resolve, FFmpeg's ``lut3d`` and OpenColorIO can apply.
The render pipeline uses the same :func:`analyse_look` per source clip.

Video frames are converted to RGB here, from the decoded planes, with the
colour matrix the stream declares. Untagged streams are BT.709 from 720 lines
up and BT.601 below, which is what cameras and phones write; FFmpeg's own
default would be BT.601 at every size.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

import numpy as np

from farm.errors import MediaError, MissingInputError, OutputError, Where
from farm.kernels import Lut, apply_lut, delta_e_2000, match, resize, srgb_to_lab, write_cube
from farm.kernels._color import delta_e_2000_lab, upsample_chroma, ycbcr_to_rgb_affine
from farm.kernels._match import MAX_SAMPLES, METHODS
from farm.media.probe import frame_colour

#: planar YCbCr formats read straight from their planes (no swscale involved)
_PLANAR_YUV = {
    f"yuv{sub}p{depth}": depth_bits
    for sub in ("420", "422", "444")
    for depth, depth_bits in (("", 8), ("10le", 10), ("12le", 12))
} | {f"yuvj{sub}p": 8 for sub in ("420", "422", "444")}
_PREVIEW_ROWS = 4
_PREVIEW_HEIGHT = 160
_COMPARE_WIDTH = 256


# ------------------------------------------------------------------ frames


def sample_frames(path: str | os.PathLike[str], count: int = 8) -> list[np.ndarray]:
    """Up to ``count`` frames of an image or video clip as float32 RGB (H, W, 3) in [0, 1].

    An image gives one frame. A clip gives ``count`` frames at the centres of
    ``count`` equal slices of its duration (never the first or last frame,
    which are often black).
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    path = Path(path)
    if not path.is_file():
        raise MissingInputError("file does not exist", Where(path=str(path)))
    image = _read_image(path)
    if image is not None:
        return [image]
    return _read_video(path, count)


def _read_image(path: Path) -> np.ndarray | None:
    from PIL import Image, UnidentifiedImageError

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


def _read_video(path: Path, count: int) -> list[np.ndarray]:
    import av

    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise MediaError(
            f"neither an image nor a video the decoder can read: {exc}", Where(path=str(path))
        ) from exc
    with container:
        if not container.streams.video:
            raise MediaError("has no video stream", Where(path=str(path)))
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            targets = _target_timestamps(stream, container, count)
            frames = (
                _seek_frames(container, stream, targets)
                if targets
                else _spread_frames(container, stream, count)
            )
        except av.FFmpegError as exc:
            raise MediaError(f"cannot decode video: {exc}", Where(path=str(path))) from exc
    if not frames:
        raise MediaError("video has no decodable frames", Where(path=str(path)))
    return [frame_to_rgb(frame) for frame in frames]


def _target_timestamps(stream, container, count: int) -> list[int] | None:
    """Timestamps (stream time base) at the centres of ``count`` equal slices, or None if unknown."""
    start = stream.start_time or 0
    if stream.duration:
        duration = stream.duration
    elif container.duration and stream.time_base:
        duration = int(container.duration / 1_000_000 / stream.time_base)
    else:
        return None
    return [start + int((k + 0.5) * duration / count) for k in range(count)]


def _seek_frames(container, stream, targets: list[int]) -> list:
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


def _spread_frames(container, stream, count: int) -> list:
    """Evenly spread frames of a clip of unknown length, in one pass and bounded memory."""
    kept: list = []
    stride = 1
    for index, frame in enumerate(container.decode(stream)):
        if index % stride == 0:
            kept.append(frame)
            if len(kept) == 2 * count:
                kept = kept[::2]
                stride *= 2
    step = max(1, len(kept) // count)
    return kept[step // 2 :: step][:count]


def colour_tags(frame) -> tuple[str, str]:
    """(matrix, range) to convert a decoded frame with; untagged HD is BT.709."""
    matrix, _tagged, full = frame_colour(frame)
    return matrix, "full" if full else "limited"


def _plane(frame, index: int, dtype: type, components: int = 1) -> np.ndarray:
    plane = frame.planes[index]
    itemsize = np.dtype(dtype).itemsize
    rows: np.ndarray = np.frombuffer(plane, dtype=dtype).reshape(plane.height, plane.line_size // itemsize)
    data = rows[:, : plane.width * components]
    return data.reshape(plane.height, plane.width, components) if components > 1 else data


def frame_to_rgb(frame) -> np.ndarray:
    """A decoded PyAV video frame as float32 RGB in [0, 1], with an explicit colour matrix.

    YCbCr planes are read directly (swscale would silently convert ranges for
    ``yuvj`` formats); other formats are repacked to ``yuv444p`` first.
    """
    fmt = frame.format
    if fmt.is_rgb:
        deep = fmt.components[0].bits > 8
        array = frame.to_ndarray(format="rgb48le" if deep else "rgb24")
        return array.astype(np.float32) / (65535.0 if deep else 255.0)
    matrix, colour_range = colour_tags(frame)
    name = fmt.name
    if name == "nv12" or name == "p010le":
        dtype, bits, shift = (np.uint8, 8, 0) if name == "nv12" else (np.uint16, 10, 6)
        luma = _plane(frame, 0, dtype) >> shift
        chroma = _plane(frame, 1, dtype, components=2) >> shift
    elif name in _PLANAR_YUV:
        bits = _PLANAR_YUV[name]
        dtype = np.uint8 if bits == 8 else np.uint16
        luma = _plane(frame, 0, dtype)
        chroma = np.stack([_plane(frame, 1, dtype), _plane(frame, 2, dtype)], axis=-1)
    else:
        return frame_to_rgb(frame.reformat(format="yuv444p"))
    h, w = luma.shape
    chroma = chroma.astype(np.float64)
    if chroma.shape[:2] == ((h + 1) // 2, (w + 1) // 2):
        full = upsample_chroma(chroma, h, w, "bilinear")
    else:  # 4:2:2 and 4:4:4: repeat to full size
        ry, rx = math.ceil(h / chroma.shape[0]), math.ceil(w / chroma.shape[1])
        full = chroma.repeat(ry, axis=0).repeat(rx, axis=1)[:h, :w]
    codes = np.concatenate([luma[..., None].astype(np.float64), full], axis=-1)
    a, b = ycbcr_to_rgb_affine(matrix, colour_range, bits)
    return np.clip(codes @ a.T + b, 0.0, 1.0).astype(np.float32)


# ---------------------------------------------------------------- analysis


def analyse_look(
    source_frames: list[np.ndarray],
    reference_frames: list[np.ndarray],
    method: str = "mkl",
    strength: float = 1.0,
    size: int = 33,
) -> Lut:
    """The LUT that matches the source frames to the reference frames.

    Every frame contributes equally to the statistics (each is subsampled to
    an equal share of the sample budget), whatever its size.
    """
    return match(_pooled_pixels(source_frames), _pooled_pixels(reference_frames), method, strength, size)


def _pooled_pixels(frames: list[np.ndarray]) -> np.ndarray:
    if not frames:
        raise ValueError("at least one frame is needed")
    share = max(1, MAX_SAMPLES // len(frames))
    pooled = []
    for frame in frames:
        pixels = np.asarray(frame, dtype=np.float32).reshape(-1, 3)
        pooled.append(pixels[:: -(-pixels.shape[0] // share)])
    return np.concatenate(pooled)


def mean_colour_delta_e(frames_a: list[np.ndarray], frames_b: list[np.ndarray]) -> float:
    """ΔE2000 between the mean L*a*b* colours of two frame sets (meaningful for any content)."""
    lab_a = srgb_to_lab(_pooled_pixels(frames_a)).mean(axis=0)
    lab_b = srgb_to_lab(_pooled_pixels(frames_b)).mean(axis=0)
    return float(delta_e_2000_lab(lab_a, lab_b))


def _fit_width(frame: np.ndarray, width: int, height: int | None = None) -> np.ndarray:
    h, w = frame.shape[:2]
    height = height or max(1, round(h * width / w))
    return np.clip(resize(frame, width, height, "bilinear"), 0.0, 1.0)


def pixel_delta_e(frame_a: np.ndarray, frame_b: np.ndarray) -> float:
    """Mean per-pixel ΔE2000 after resizing both to a common size (meaningful for the same scene)."""
    h, w = frame_b.shape[:2]
    height = max(1, round(h * _COMPARE_WIDTH / w))
    a = _fit_width(frame_a, _COMPARE_WIDTH, height)
    b = _fit_width(frame_b, _COMPARE_WIDTH, height)
    return float(delta_e_2000(a, b).mean())


def _pairs(frames_a: list[np.ndarray], frames_b: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(a, frames_b[i % len(frames_b)]) for i, a in enumerate(frames_a)]


# --------------------------------------------------------------------- CLI


def _strength(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"strength must be in [0, 1], got {text}")
    return value


def _bounded_int(low: int, high: int):
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be in [{low}, {high}], got {text}")
        return value

    return parse


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the arguments of ``farm look`` to ``parser``."""
    parser.add_argument("source", help="image or video clip whose colour is to be matched")
    parser.add_argument("--reference", required=True, help="image or video clip with the look to match")
    parser.add_argument("--method", choices=METHODS, default="mkl", help="transfer (default: mkl)")
    parser.add_argument(
        "--strength", type=_strength, default=1.0, help="0 keeps the source, 1 matches fully (default: 1)"
    )
    parser.add_argument(
        "--size", type=_bounded_int(2, 256), default=33, help="nodes per axis of the 3D LUT (default: 33)"
    )
    parser.add_argument(
        "--frames", type=_bounded_int(1, 1000), default=8, help="frames sampled from each clip (default: 8)"
    )
    parser.add_argument("--out", required=True, help="where to write the .cube")
    parser.add_argument("--preview", help="write a PNG strip: source / matched / reference with their ΔE2000")
    return parser


def run(args: argparse.Namespace) -> int:
    """Perform ``farm look``: analyse, write the .cube (and preview), print a summary."""
    if not 0.0 <= args.strength <= 1.0:
        raise ValueError(f"--strength must be in [0, 1], got {args.strength}")
    if not 2 <= args.size <= 256:
        raise ValueError(f"--size must be in [2, 256], got {args.size}")
    source = sample_frames(args.source, args.frames)
    reference = sample_frames(args.reference, args.frames)
    lut = analyse_look(source, reference, args.method, args.strength, args.size)
    write_cube(lut, args.out)
    matched = [np.clip(apply_lut(frame, lut), 0.0, 1.0) for frame in source]

    pairs_before = _pairs(source, reference)
    pairs_after = _pairs(matched, reference)
    print(f"method {args.method}, strength {args.strength:g}, {args.size}^3 LUT written to {args.out}")
    print(f"frames: {len(source)} source, {len(reference)} reference")
    print(
        "mean colour dE2000 to the reference: "
        f"{mean_colour_delta_e(source, reference):.2f} before, "
        f"{mean_colour_delta_e(matched, reference):.2f} after"
    )
    before = np.mean([pixel_delta_e(a, b) for a, b in pairs_before])
    after = np.mean([pixel_delta_e(a, b) for a, b in pairs_after])
    print(f"per-pixel mean dE2000 (same-scene measure): {before:.2f} before, {after:.2f} after")
    if args.preview:
        write_preview(args.preview, source, matched, reference)
        print(f"preview written to {args.preview}")
    return 0


def write_preview(
    path: str | os.PathLike[str],
    source: list[np.ndarray],
    matched: list[np.ndarray],
    reference: list[np.ndarray],
) -> None:
    """A PNG with one row per sampled frame: source | matched | reference, labelled with ΔE2000."""
    from PIL import Image, ImageDraw

    rows: list[Image.Image] = []
    count = min(len(source), _PREVIEW_ROWS)
    picks = [round(i * (len(source) - 1) / max(1, count - 1)) for i in range(count)]
    for i in picks:
        ref = reference[i % len(reference)]
        tiles: list[Image.Image] = []
        for frame, label in (
            (source[i], f"source  dE2000 {pixel_delta_e(source[i], ref):.2f}"),
            (matched[i], f"matched  dE2000 {pixel_delta_e(matched[i], ref):.2f}"),
            (ref, "reference"),
        ):
            h, w = frame.shape[:2]
            width = max(1, round(w * _PREVIEW_HEIGHT / h))
            pixels = _fit_width(frame, width, _PREVIEW_HEIGHT)
            image = Image.fromarray(np.rint(pixels * 255.0).astype(np.uint8), "RGB")
            draw = ImageDraw.Draw(image)
            draw.rectangle((0, 0, min(width, 8 + 7 * len(label)), 16), fill=(0, 0, 0))
            draw.text((4, 2), label, fill=(255, 255, 255))
            tiles.append(image)
        row = Image.new("RGB", (sum(t.width for t in tiles) + 8 * (len(tiles) - 1), _PREVIEW_HEIGHT))
        x = 0
        for tile in tiles:
            row.paste(tile, (x, 0))
            x += tile.width + 8
        rows.append(row)
    strip = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows) + 8 * (len(rows) - 1)))
    y = 0
    for row in rows:
        strip.paste(row, (0, y))
        y += row.height + 8
    try:
        strip.save(path, format="PNG")
    except OSError as exc:
        raise OutputError(f"cannot write preview: {exc}", Where(path=str(path))) from exc
