"""A many-clip mix reads each source once, forward, and gives exactly the samples of one read per clip."""

from __future__ import annotations

import math
import random
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from edit_media import write_tone

from farm.edit.timing import audio_samples_of
from farm.media import audio
from farm.media.audio_source import read_once
from farm.media.synth import write_clip
from farm.planning.units import AudioClip, AudioJob

RATE = audio.SAMPLE_RATE


class _OnePerClip:
    """The reading before sources were kept open: open, seek and decode for every clip."""

    def read(self, clip: AudioClip, first: int, count: int) -> np.ndarray:
        return read_once(clip, first, count)


def reference_mix(job: AudioJob) -> np.ndarray:
    """The mix as it was computed before: every clip read on its own, in timeline order."""
    mixdown = np.zeros((job.samples, 2), dtype=np.float32)
    for track in job.tracks:
        for clip in track:
            span = audio_samples_of(clip.start, clip.duration, RATE)
            lo, hi = span.start, min(span.stop, job.samples)
            if hi <= lo or not clip.has_audio:
                continue
            first = math.floor((clip.source_in - clip.start) * RATE) + lo
            if clip.speed != 1:
                samples = audio._read_varispeed(_OnePerClip(), clip, lo, hi)  # type: ignore[arg-type]
            else:
                samples = read_once(clip, first, hi - lo)
            if clip.fade_in or clip.fade_out:
                samples *= audio._gain(clip, lo, hi)[:, None]
            if clip.gain != 1:
                samples *= np.float32(clip.gain)
            mixdown[lo:hi] += samples
    np.clip(mixdown, -1.0, 1.0, out=mixdown)
    return mixdown


def _noisy_aac(path: Path, seconds: int) -> Path:
    """Noise under a tone, AAC at 48 kHz: the decoder substitutes noise, and its samples then depend
    on where decoding started."""
    import av

    rnd = np.random.default_rng(3)
    t = np.arange(seconds * RATE) / RATE
    pcm = (0.2 * np.sin(2 * np.pi * 440 * t)[None, :] + 0.1 * rnd.standard_normal((2, len(t)))).astype(
        np.float32
    )
    with av.open(str(path), "w", format="mp4") as c:
        s = c.add_stream("aac", rate=RATE, layout="stereo")
        s.bit_rate = 96_000
        for start in range(0, len(t), 4096):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(pcm[:, start : start + 4096]), format="fltp", layout="stereo"
            )
            frame.sample_rate, frame.pts = RATE, start
            for packet in s.encode(frame):
                c.mux(packet)
        for packet in s.encode(None):
            c.mux(packet)
    return path


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, Fraction]]:
    """(path, seconds) of: two 48 kHz AAC stereo movies, noise in AAC (.m4a), a 48 kHz mono WAV, a
    44.1 kHz mono WAV."""
    root = tmp_path_factory.mktemp("audio-read")
    out = []
    for i, hz in enumerate((330.0, 710.0)):
        path = root / f"m{i}.mp4"
        write_clip(path, width=64, height=36, rate=24, frames=24 * 6, source_id=i + 1, audio_tone_hz=hz)
        out.append((str(path), Fraction(6)))
    out.append((str(_noisy_aac(root / "noisy.m4a", 5)), Fraction(5)))
    out.append((str(write_tone(root / "mono48.wav", "pcm_s16le", 523.0, 4.0, rate=48000)), Fraction(4)))
    out.append((str(write_tone(root / "mono44.wav", "pcm_s16le", 900.0, 4.0, rate=44100)), Fraction(4)))
    return out


def _track(
    rnd: random.Random, sources: list[tuple[str, Fraction]], shots: int, **extra: object
) -> tuple[AudioClip, ...]:
    clips, t = [], Fraction(0)
    for _ in range(shots):
        path, length = sources[rnd.randrange(len(sources))]
        duration = Fraction(rnd.randint(2, 15), 24)
        source_in = Fraction(rnd.randint(0, int((length - duration) * 1000) - 1), 1000)  # off the grid
        t += Fraction(rnd.randint(0, 3), 24)  # some gaps
        clips.append(
            AudioClip(path, Path(path).name, True, t, duration, source_in, Fraction(0), **extra)  # type: ignore[arg-type]
        )
        t += duration
    return tuple(clips)


def _with(clip: AudioClip, **changes: object) -> AudioClip:
    fields = {f: getattr(clip, f) for f in clip.__dataclass_fields__}
    return AudioClip(**{**fields, **changes})


def test_many_short_clips_mix_to_the_same_samples(sources: list[tuple[str, Fraction]]) -> None:
    rnd = random.Random(5)
    main = _track(rnd, sources, 60)
    # a second track over the first (two at once at most): levels, fades, varispeed, backwards
    second = tuple(
        _with(
            c,
            gain=0.5 if k % 3 == 0 else 1.0,
            fade_in=c.duration / 3 if k % 3 == 1 else Fraction(0),
            fade_out=c.duration / 4 if k % 2 == 0 else Fraction(0),
            speed=Fraction((2, -1, 1, 1, Fraction(1, 2))[k % 5]),
            source_in=max(c.source_in, Fraction(3)) if k % 5 in (0, 1) else c.source_in,
        )
        for k, c in enumerate(_track(rnd, sources[:3], 25))
    )
    duration = max(main[-1].end, second[-1].end)
    job = AudioJob("k", (main, second), duration)
    got = audio.mix(job)
    want = reference_mix(job)
    assert got.shape == want.shape == (job.samples, 2)
    assert float(np.abs(want).max()) > 0.2  # sound, not silence on both sides
    assert np.array_equal(got, want)


def test_three_tracks_at_once_keep_the_timeline_order(sources: list[tuple[str, Fraction]]) -> None:
    rnd = random.Random(8)
    tracks = tuple(_track(rnd, sources, 12, gain=0.4) for _ in range(3))
    job = AudioJob("k", tracks, max(t[-1].end for t in tracks))
    assert audio._most_at_once([(0, 10), (5, 12), (8, 9)]) == 3
    assert audio._most_at_once([(0, 10), (10, 12)]) == 1
    assert np.array_equal(audio.mix(job), reference_mix(job))


def test_a_clip_past_the_source_end_is_silence_there(sources: list[tuple[str, Fraction]]) -> None:
    path, length = sources[0]
    clips = (
        AudioClip(path, "m0", True, Fraction(0), Fraction(1), length - Fraction(1, 2), Fraction(0)),
        AudioClip(path, "m0", True, Fraction(1), Fraction(1), Fraction(1), Fraction(0)),
    )
    job = AudioJob("k", (clips,), Fraction(2))
    got = audio.mix(job)
    assert np.array_equal(got, reference_mix(job))
    assert float(np.abs(got[RATE // 2 + 2048 : RATE]).max()) == 0.0  # after the source's end
    assert float(np.abs(got[RATE : 2 * RATE]).max()) > 0.2
