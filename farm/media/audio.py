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
from farm.output.atomic import atomic_write
from farm.planning.keys import content_key
from farm.planning.units import AUDIO_SAMPLE_RATE, AudioClip, AudioJob

SAMPLE_RATE = AUDIO_SAMPLE_RATE
CHANNELS = 2
AAC_BITRATE = 192_000
AAC_FRAME = 1024


def audio_key(tracks: tuple[tuple[AudioClip, ...], ...], duration: Fraction) -> str:
    parts = [
        [
            [c.identity, c.has_audio, c.start, c.duration, c.source_in, c.origin]
            + ([c.fade_in, c.fade_out] if c.fade_in or c.fade_out else [])
            + ([["speed", c.speed]] if c.speed != 1 else [])
            + ([["gain", c.gain]] if c.gain != 1 else [])
            for c in track
        ]
        for track in tracks
    ]
    return content_key("audio", tracks=parts, duration=duration, rate=SAMPLE_RATE, bitrate=AAC_BITRATE)


def _read_source(clip: AudioClip, first: int, count: int) -> np.ndarray:
    """``count`` samples (48 kHz stereo float32) of a source, from sample ``first`` after its origin.

    Samples before the source's audio starts or after it ends are silence.
    """
    import av

    out = np.zeros((count, CHANNELS), dtype=np.float32)
    where = Where(path=clip.path, clip=None)
    try:
        container = av.open(clip.path)
    except av.error.FFmpegError as exc:
        raise MediaError(f"cannot open for audio ({exc})", where) from None
    with container:
        stream = container.streams.audio[0]
        begin = Fraction(first, SAMPLE_RATE) + clip.origin  # container time of the first sample
        end = begin + Fraction(count, SAMPLE_RATE)
        if stream.time_base is None:
            raise MediaError("the audio stream has no time base", where)
        tb = Fraction(stream.time_base)
        container.seek(max(0, int((begin - 1) / tb)), stream=stream, backward=True)
        resampler = av.AudioResampler(format="flt", layout="stereo", rate=SAMPLE_RATE)
        cursor: int | None = (
            None  # absolute 48 kHz sample index (container time) of the next resampled sample
        )
        try:
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                if cursor is None:
                    cursor = math.floor(frame.pts * tb * SAMPLE_RATE)
                for rf in resampler.resample(frame):
                    cursor = _place(out, rf.to_ndarray(), cursor, begin)
                if cursor is not None and Fraction(cursor, SAMPLE_RATE) >= end:
                    break
            else:
                for rf in resampler.resample(None):
                    cursor = _place(out, rf.to_ndarray(), cursor or 0, begin)
        except av.error.FFmpegError as exc:
            raise MediaError(f"the audio does not decode ({exc})", where) from None
    return out


def _place(out: np.ndarray, packed: np.ndarray, cursor: int, begin: Fraction) -> int:
    """Copy resampled samples starting at absolute sample ``cursor`` into ``out``."""
    samples = packed.reshape(-1, CHANNELS)  # packed 'flt' stereo arrives as (1, n*2)
    offset = cursor - math.floor(begin * SAMPLE_RATE)
    lo, hi = max(offset, 0), min(offset + len(samples), len(out))
    if hi > lo:
        out[lo:hi] = samples[lo - offset : hi - offset]
    return cursor + len(samples)


def mix(job: AudioJob) -> np.ndarray:
    """The variant's audio as float32 (samples, 2) at 48 kHz."""
    total = job.samples
    mixdown = np.zeros((total, CHANNELS), dtype=np.float32)
    for track in job.tracks:
        for clip in track:
            span = audio_samples_of(clip.start, clip.duration, SAMPLE_RATE)
            lo, hi = span.start, min(span.stop, total)
            if hi <= lo or not clip.has_audio:
                continue
            # source sample for output sample m: floor((source_in + m/48000 - start) * 48000)
            first = math.floor((clip.source_in - clip.start) * SAMPLE_RATE) + lo
            try:
                if clip.speed != 1:
                    samples = _read_varispeed(clip, lo, hi)
                else:
                    samples = _read_source(clip, first, hi - lo)
                if clip.fade_in or clip.fade_out:
                    samples *= _gain(clip, lo, hi)[:, None]
                if clip.gain != 1:
                    samples *= np.float32(clip.gain)
                mixdown[lo:hi] += samples
            except MediaError as exc:
                raise exc.with_where(frames=(lo, hi), unit="output audio sample") from None
    np.clip(mixdown, -1.0, 1.0, out=mixdown)
    return mixdown


def _read_varispeed(clip: AudioClip, lo: int, hi: int) -> np.ndarray:
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
    raw = _read_source(clip, first, math.ceil(b * SAMPLE_RATE) - first + 1)
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
    """Mix and encode a variant's audio to ``out_path`` (.m4a), atomically."""
    samples = mix(job)
    try:
        _encode(samples, out_path)
        return {"samples": len(samples), "key": job.key}
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
