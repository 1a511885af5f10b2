"""Media for edit tests: coded clips with a start timecode, tones in audio-only files, coded stills."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from farm.media.synth import write_clip


def coded_clip(
    path: Path,
    source_id: int,
    frames: int,
    rate: Fraction = Fraction(24),
    timecode: str | None = None,
    size: tuple[int, int] = (160, 90),
    tone: float | None = None,
) -> Path:
    """A coded clip (``.mov`` or ``.mp4``); with ``timecode``, a start timecode (a tmcd track)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if timecode is None:
        write_clip(
            path,
            width=size[0],
            height=size[1],
            rate=rate,
            frames=frames,
            source_id=source_id,
            audio_tone_hz=tone,
            gop=12,
        )
        return path
    plain = path.with_name(path.stem + ".untagged" + path.suffix)
    write_clip(
        plain,
        width=size[0],
        height=size[1],
        rate=rate,
        frames=frames,
        source_id=source_id,
        audio_tone_hz=tone,
        gop=12,
    )
    retag(plain, path, timecode)
    plain.unlink()
    return path


def retag(src: Path, dst: Path, timecode: str) -> None:
    """Copy ``src``'s streams into ``dst`` (MOV) with a start timecode."""
    import av

    with av.open(str(src)) as i, av.open(str(dst), "w", format="mov") as o:
        o.metadata["timecode"] = timecode
        mapping = {s.index: o.add_stream_from_template(s) for s in i.streams if s.type in ("video", "audio")}
        for packet in i.demux(*[s for s in i.streams if s.index in mapping]):
            if packet.dts is None:
                continue
            packet.stream = mapping[packet.stream.index]
            o.mux(packet)


def write_tone(path: Path, codec: str, hz: float, seconds: float, rate: int = 44100) -> Path:
    """A mono tone file written with PyAV (the container follows the suffix)."""
    import av

    n = int(seconds * rate)
    t = np.arange(n) / rate
    pcm = (0.5 * np.sin(2 * np.pi * hz * t) * 32767).astype(np.int16)
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=rate, layout="mono")
        fmt = s.codec_context.codec.audio_formats[0].name
        for start in range(0, n, 1152):
            chunk = pcm[start : start + 1152]
            frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = rate
            frame.pts = start
            if fmt != "s16":
                frame = av.AudioResampler(format=fmt, layout="mono", rate=rate).resample(frame)[0]
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path
