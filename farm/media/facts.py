"""What a finished file is, as a render check compares it: container facts and its audio.

:func:`container_facts` demuxes every video packet (exact frame count) and
reads the first picture's tags; :func:`audio_samples` decodes the first audio
stream to one float array per channel.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import av
import numpy as np

from farm.errors import MediaError, MissingInputError, Where

__all__ = ["audio_difference", "audio_samples", "container_facts"]


def container_facts(path: str) -> dict[str, Any]:
    """Frame count, rate, size, pixel format, colour tags, duration, audio format and length, A/V offset."""
    try:
        container = av.open(path)
    except FileNotFoundError:
        raise MissingInputError("the file does not exist", Where(path=path)) from None
    except av.error.FFmpegError as exc:
        raise MediaError(f"cannot open the file ({exc})", Where(path=path)) from None
    with container:
        if not container.streams.video:
            raise MediaError("the file has no video stream", Where(path=path))
        vs = container.streams.video[0]
        cc = vs.codec_context
        tb = Fraction(vs.time_base) if vs.time_base else Fraction(1, 90000)
        packets = [p for p in container.demux(vs) if p.size and p.pts is not None]
        pts = sorted(int(p.pts) for p in packets if p.pts is not None)
        rate = Fraction(vs.average_rate) if vs.average_rate else Fraction(0)
        facts: dict[str, Any] = {
            "frames": len(packets),
            "rate": str(rate),
            "width": cc.width,
            "height": cc.height,
            "pix_fmt": cc.pix_fmt,
            "codec": cc.name,
            "color_primaries": int(cc.color_primaries),
            "color_trc": int(cc.color_trc),
            "colorspace": int(cc.colorspace),
            "color_range": int(cc.color_range),
            "duration": round(float((pts[-1] - pts[0]) * tb + (1 / rate if rate else 0)), 6) if pts else 0.0,
        }
        video_start = float(pts[0] * tb) if pts else 0.0
    with av.open(path) as container:
        if container.streams.audio:
            a = container.streams.audio[0]
            samples = 0
            first: float | None = None
            for frame in container.decode(a):
                if first is None and frame.pts is not None and frame.time_base is not None:
                    first = float(frame.pts * frame.time_base)
                samples += frame.samples
            facts.update(
                audio_rate=a.codec_context.sample_rate,
                audio_channels=a.codec_context.channels,
                audio_samples=samples,
                av_offset=round((first or 0.0) - video_start, 6),
            )
        else:
            facts.update(audio_rate=None, audio_channels=None, audio_samples=0, av_offset=None)
    return facts


def audio_samples(path: str) -> np.ndarray:
    """The first audio stream as float32 ``(channels, samples)``; empty when there is none."""
    with av.open(path) as container:
        if not container.streams.audio:
            return np.zeros((0, 0), dtype=np.float32)
        chunks = [
            frame.to_ndarray().reshape(frame.layout.nb_channels, -1)
            if frame.format.is_planar
            else frame.to_ndarray().reshape(-1, frame.layout.nb_channels).T
            for frame in container.decode(container.streams.audio[0])
        ]
    if not chunks:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(chunks, axis=1).astype(np.float32)


def audio_difference(render: str, golden: str) -> dict[str, float | int]:
    """RMS of the sample difference over the common length, and both lengths in samples."""
    a, b = audio_samples(render), audio_samples(golden)
    n = min(a.shape[1] if a.size else 0, b.shape[1] if b.size else 0)
    channels = min(a.shape[0], b.shape[0]) if a.size and b.size else 0
    if n == 0 or channels == 0:
        rms = 0.0 if a.size == b.size == 0 else 1.0
    else:
        diff = a[:channels, :n].astype(np.float64) - b[:channels, :n]
        rms = float(np.sqrt(np.mean(diff * diff)))
    return {
        "rms": round(rms, 7),
        "render_samples": int(a.shape[1]) if a.size else 0,
        "golden_samples": int(b.shape[1]) if b.size else 0,
    }
