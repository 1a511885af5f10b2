"""Small segments and audio for the stitcher's tests: closed GOPs, IDR first, as farm's encoders write them.

Frame ``i`` of a segment is a flat picture whose grey level codes ``value + i``
(``value`` per segment), so a decoded frame tells which segment and frame it is.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from farm.media.audio import SAMPLE_RATE


def level(code: int) -> int:
    """The grey level a frame coding ``code`` shows (far apart, so compression cannot confuse them)."""
    return 16 + (code * 8) % 224


def write_segment(
    path: Path,
    frames: int,
    value: int,
    *,
    fps: Fraction = Fraction(24),
    size: tuple[int, int] = (160, 96),
    bframes: int | None = None,
    codec: str = "libx264",
    gop: int = 12,
    headers_in_band: bool = False,
    texture: bool = False,
) -> Path:
    """A segment of ``frames`` frames coding ``value``, ``value + 1``, ...; ``bframes`` sets the B-frames.

    ``headers_in_band`` repeats the parameter sets before every IDR (as hardware encoders do), so
    segments of different settings still decode when joined.  ``texture`` adds a fixed noise
    (as real pictures cost to decode; the flat ones cost nearly nothing).
    """
    width, height = size
    pix_fmt = "yuv422p10le" if codec == "prores_ks" else "yuv420p"
    with av.open(str(path), "w", format="mov" if codec == "prores_ks" else "mp4") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        # the muxer rewrites stream.time_base on the first write: keep the frames' own
        frame_tb = Fraction(fps.denominator, fps.numerator)
        stream.time_base = frame_tb
        cc = stream.codec_context
        cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range = 1, 1, 1, 1
        if codec == "libx264":
            options = {"crf": "20", "preset": "ultrafast", "g": str(gop)}
            options["x264-params"] = f"keyint={gop}:min-keyint={gop}:open-gop=0:scenecut=0"
            if headers_in_band:
                options["x264-params"] += ":repeat-headers=1"
            if bframes is not None:
                options["bf"] = str(bframes)
            cc.options = options
        elif codec == "libx265":
            cc.options = {"preset": "ultrafast", "x265-params": f"keyint={gop}:open-gop=0:log-level=error"}
            cc.codec_tag = "hvc1"
        noise = np.random.default_rng(value).integers(-12, 13, (height, width, 3)) if texture else None
        for i in range(frames):
            picture = np.full((height, width, 3), level(value + i), dtype=np.uint8)
            if noise is not None:
                picture = np.clip(picture + noise, 0, 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format=pix_fmt)
            frame.pts = i
            frame.time_base = frame_tb
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def write_audio(path: Path, seconds: Fraction) -> Path:
    """An AAC .m4a of a 440 Hz tone lasting ``seconds``, as farm's audio units write it."""
    samples = int(seconds * SAMPLE_RATE)
    t = np.arange(samples) / SAMPLE_RATE
    tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=SAMPLE_RATE, layout="stereo")
        for start in range(0, samples, 8192):
            chunk = np.ascontiguousarray(np.stack([tone[start : start + 8192]] * 2))
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            frame.sample_rate = SAMPLE_RATE
            frame.pts = start
            frame.time_base = Fraction(1, SAMPLE_RATE)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def decoded_codes(path: Path) -> list[int]:
    """The code of every frame of ``path``, in presentation order (the nearest level's)."""
    codes = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            grey = int(np.median(frame.to_ndarray(format="gray")))
            codes.append(min(range(28), key=lambda c: abs(level(c) - grey)))
    return codes
