"""Read back what a rendered file shows: codes per frame, tones per stretch of audio."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from farm.media.synth import frame_rgb, read_code, tone_frequency


def frame_codes(path: Path) -> list[tuple[int, int] | None]:
    """(source id, frame number) shown by every frame of a file; None for a black frame."""
    import av

    codes: list[tuple[int, int] | None] = []
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            rgb = frame_rgb(frame)
            if rgb.mean() < 20 and rgb.max() < 40:
                codes.append(None)
            else:
                codes.append(read_code(rgb))
    return codes


def audio_samples(path: Path) -> tuple[np.ndarray, int]:
    """The file's audio as float32 (samples, channels), and its rate."""
    import av

    chunks = []
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        rate = stream.rate
        for frame in c.decode(stream):
            chunks.append(frame.to_ndarray().T.astype(np.float32))  # fltp (ch, n) -> (n, ch)
    return np.concatenate(chunks), rate


def tone_at(samples: np.ndarray, rate: int, start: Fraction, seconds: float = 0.1) -> float | None:
    """The dominant tone in ``[start, start + seconds)``; None when silent."""
    lo = int(start * rate)
    window = samples[lo : lo + int(seconds * rate)]
    if len(window) == 0 or float(np.abs(window).max()) < 0.02:
        return None
    return tone_frequency(window, rate)


def stream_info(path: Path) -> dict:
    import av

    with av.open(str(path)) as c:
        v = c.streams.video[0]
        info = {
            "width": v.codec_context.width,
            "height": v.codec_context.height,
            "frames": sum(1 for p in c.demux(v) if p.size),
            "has_audio": bool(c.streams.audio),
        }
    with av.open(str(path)) as c:
        if c.streams.audio:
            a = c.streams.audio[0]
            info["audio_rate"] = a.rate
            info["audio_channels"] = a.channels
            info["audio_codec"] = a.codec_context.name
    return info
