"""Audio: each variant's audio timeline rendered once, to AAC 48 kHz stereo.

The rule is the video's: output sample ``m`` is taken at ``t = m / 48000`` from
the clip active at ``t``, at source time ``source_in + (t - clip_start)``.
Sources are resampled to 48 kHz first, so that rule is a plain offset copy.
Clips without audio and gaps are silence; several audio tracks are summed.  A clip
under a speed change plays as a tape would (varispeed: its source resampled from
``48000 * |speed|`` Hz, so the pitch moves with the speed; backwards when the
speed is negative); a freeze frame is silence.  Under a
transition the clips crossfade: linear gains over the transition (``fade_in``/``fade_out``).
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from farm.edit.timing import audio_samples_of
from farm.errors import MediaError, Where
from farm.media.audio_source import SourceReader
from farm.output.activity import doing
from farm.output.atomic import atomic_write
from farm.planning.keys import canonical_key, fraction_text
from farm.planning.units import AUDIO_SAMPLE_RATE, AudioClip, AudioJob

SAMPLE_RATE = AUDIO_SAMPLE_RATE
CHANNELS = 2
AAC_BITRATE = 192_000
AAC_FRAME = 1024


def audio_key(tracks: tuple[tuple[AudioClip, ...], ...], duration: Fraction) -> str:
    # the parts are written in their canonical form directly (one pass, no generic walk); the
    # key is the same as hashing them with content_key
    f = fraction_text
    parts = [
        [
            [c.identity, c.has_audio, f(c.start), f(c.duration), f(c.source_in), f(c.origin)]
            + ([f(c.fade_in), f(c.fade_out)] if c.fade_in or c.fade_out else [])
            + ([["speed", f(c.speed)]] if c.speed != 1 else [])
            + ([["gain", c.gain]] if c.gain != 1 else [])
            for c in track
        ]
        for track in tracks
    ]
    return canonical_key("audio", tracks=parts, duration=f(duration), rate=SAMPLE_RATE, bitrate=AAC_BITRATE)


def mix(job: AudioJob) -> np.ndarray:
    """The variant's audio as float32 (samples, 2) at 48 kHz."""
    total = job.samples
    mixdown = np.zeros((total, CHANNELS), dtype=np.float32)
    todo = []  # (clip, lo, hi, first source sample) of every clip that sounds
    for track in job.tracks:
        for clip in track:
            span = audio_samples_of(clip.start, clip.duration, SAMPLE_RATE)
            lo, hi = span.start, min(span.stop, total)
            if hi <= lo or not clip.has_audio:
                continue
            # source sample for output sample m: floor((source_in + m/48000 - start) * 48000)
            todo.append((clip, lo, hi, math.floor((clip.source_in - clip.start) * SAMPLE_RATE) + lo))
    if _most_at_once([(lo, hi) for _, lo, hi, _ in todo]) <= 2:
        # a sum of two is the same in either order: read each source's clips in source order
        todo.sort(key=lambda t: (t[0].path, t[3] if t[0].speed == 1 else -1))
    readers: dict[str, SourceReader] = {}
    try:
        for clip, lo, hi, first in todo:
            reader = readers.get(clip.path) or readers.setdefault(clip.path, SourceReader(clip.path))
            try:
                if clip.speed != 1:
                    samples = _read_varispeed(reader, clip, lo, hi)
                else:
                    samples = reader.read(clip, first, hi - lo)
                if clip.fade_in or clip.fade_out:
                    samples *= _gain(clip, lo, hi)[:, None]
                if clip.gain != 1:
                    samples *= np.float32(clip.gain)
                mixdown[lo:hi] += samples
            except MediaError as exc:
                raise exc.with_where(frames=(lo, hi), unit="output audio sample") from None
    finally:
        for reader in readers.values():
            reader.close()
    np.clip(mixdown, -1.0, 1.0, out=mixdown)
    return mixdown


def _most_at_once(spans: list[tuple[int, int]]) -> int:
    """The most spans ``[lo, hi)`` that cover one sample."""
    if not spans:
        return 0
    edges = np.array(spans, dtype=np.int64)
    at = np.concatenate([edges[:, 0], edges[:, 1]])
    step = np.concatenate([np.ones(len(spans), np.int64), -np.ones(len(spans), np.int64)])
    order = np.lexsort((step, at))  # at one sample, ends (-1) before starts (+1)
    return int(np.cumsum(step[order]).max())


def _read_varispeed(reader: SourceReader, clip: AudioClip, lo: int, hi: int) -> np.ndarray:
    """Output samples ``[lo, hi)`` of a clip under a speed change: its source played faster, slower
    or backwards, as a tape would (varispeed: the pitch moves with the speed).

    Output sample ``m`` sounds source time ``source_in + speed * (m / 48000 - start)``; the source's
    samples there are resampled by libswresample from ``48000 * |speed|`` Hz (rounded to a whole
    rate) to 48000 Hz.
    """
    import av

    count = hi - lo
    t0, t1 = Fraction(lo, SAMPLE_RATE) - clip.start, Fraction(hi, SAMPLE_RATE) - clip.start
    a, b = sorted((clip.source_in + clip.speed * t0, clip.source_in + clip.speed * t1))
    first = max(math.floor(a * SAMPLE_RATE), 0)
    raw = reader.read(clip, first, math.ceil(b * SAMPLE_RATE) - first + 1)
    if clip.speed < 0:
        raw = raw[::-1]
    rate = max(round(SAMPLE_RATE * abs(clip.speed)), 1)
    resampler = av.AudioResampler(format="flt", layout="stereo", rate=SAMPLE_RATE)
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(raw.reshape(1, -1)), format="flt", layout="stereo"
    )
    frame.sample_rate = rate
    frame.pts = 0
    frame.time_base = Fraction(1, rate)
    parts = [f.to_ndarray().reshape(-1, CHANNELS) for f in resampler.resample(frame)]
    parts += [f.to_ndarray().reshape(-1, CHANNELS) for f in resampler.resample(None)]
    out = np.zeros((count, CHANNELS), dtype=np.float32)
    got = np.concatenate(parts) if parts else out[:0]
    out[: min(count, len(got))] = got[:count]
    return out


def _gain(clip: AudioClip, lo: int, hi: int) -> np.ndarray:
    """Linear fade gains of output samples ``[lo, hi)`` (sample ``m`` at ``m / 48000`` s)."""
    t = np.arange(lo, hi, dtype=np.float64) / SAMPLE_RATE
    gain = np.ones(hi - lo)
    if clip.fade_in:
        gain *= np.clip((t - float(clip.start)) / float(clip.fade_in), 0.0, 1.0)
    if clip.fade_out:
        gain *= np.clip((float(clip.end) - t) / float(clip.fade_out), 0.0, 1.0)
    return gain.astype(np.float32)


def render_audio(job: AudioJob, out_path: Path) -> dict[str, Any]:
    """Mix and encode a variant's audio to ``out_path`` (.m4a), atomically.

    The result says where and when it ran (``span``: this process, wall-clock
    start and end, seconds mixing and encoding), as a segment's does.
    """
    with doing(f"rendering audio {job.key[:12]}", Where(path=str(out_path))):
        return _mix_and_encode(job, out_path)


def _mix_and_encode(job: AudioJob, out_path: Path) -> dict[str, Any]:
    from farm.output.spans import StageClock

    clock = StageClock()
    with clock.stage("audio mix"):
        samples = mix(job)
    try:
        with clock.stage("audio encode"):
            _encode(samples, out_path)
        return {"samples": len(samples), "key": job.key, "span": clock.span()}
    except OSError as exc:
        from farm.output.cache import is_no_space, no_space_error

        if is_no_space(exc):
            raise no_space_error(out_path.parent, f"the audio {out_path.name}") from None
        raise


def _encode(samples: np.ndarray, out_path: Path) -> None:
    import av

    with atomic_write(out_path) as tmp:
        with av.open(str(tmp), "w", format="mp4") as container:
            stream = container.add_stream("aac", rate=SAMPLE_RATE, layout="stereo")
            stream.bit_rate = AAC_BITRATE
            planar = np.ascontiguousarray(samples.T)
            for start in range(0, len(samples), AAC_FRAME * 8):
                chunk = planar[:, start : start + AAC_FRAME * 8]
                frame = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(chunk), format="fltp", layout="stereo"
                )
                frame.sample_rate = SAMPLE_RATE
                frame.pts = start
                frame.time_base = Fraction(1, SAMPLE_RATE)
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)
