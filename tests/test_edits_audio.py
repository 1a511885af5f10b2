"""Audio-only files on audio tracks (.wav, .mp3, .aif), mono down-mixed, tracks summed."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest
from coded import SOURCES
from edit_media import write_tone
from media_check import audio_samples, tone_at

import farm


def rt(v: float, r: float = 24) -> otio.opentime.RationalTime:
    return otio.opentime.RationalTime(v, r)


def aclip(url: str, seconds: float, in_s: float = 0.0) -> otio.schema.Clip:
    return otio.schema.Clip(
        name=Path(url).name,
        media_reference=otio.schema.ExternalReference(target_url=url),
        source_range=otio.opentime.TimeRange(rt(in_s * 24), rt(seconds * 24)),
    )


def test_audio_only_files_on_audio_tracks(project_dir: Path, ray_session: None) -> None:
    media = project_dir / "audio"
    media.mkdir()
    write_tone(media / "a.wav", "pcm_s16le", 500.0, 2.0)
    write_tone(media / "b.mp3", "libmp3lame", 1500.0, 2.0)
    write_tone(media / "c.aif", "pcm_s16be", 2500.0, 2.0)
    tl = otio.schema.Timeline(name="a")
    v = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    v.append(
        otio.schema.Clip(
            name="pic",
            media_reference=otio.schema.ExternalReference(target_url=SOURCES["s24"].file),
            source_range=otio.opentime.TimeRange(rt(0), rt(72)),
        )
    )
    tl.tracks.append(v)
    a1 = otio.schema.Track(kind=otio.schema.TrackKind.Audio)
    a1.append(aclip("audio/a.wav", 1.0, in_s=0.5))
    a1.append(aclip("audio/c.aif", 1.0))
    tl.tracks.append(a1)
    a2 = otio.schema.Track(kind=otio.schema.TrackKind.Audio)
    a2.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=rt(48))))
    a2.append(aclip("audio/b.mp3", 1.0))
    tl.tracks.append(a2)
    otio.adapters.write_to_file(tl, str(project_dir / "cuts" / "a.otio"))
    (project_dir / "farm.toml").write_text(
        '[output]\nwidth = 64\nheight = 36\nfps = "24"\npreset = "ultrafast"\n'
        '[variants.a]\ntimeline = "cuts/a.otio"\n'
    )
    out = farm.render(project_dir / "farm.toml", workers=1).variants["a"]
    assert out.error is None, out.error
    samples, rate = audio_samples(Path(out.output))
    assert tone_at(samples, rate, Fraction(1, 4)) == pytest.approx(500, abs=6)
    assert tone_at(samples, rate, Fraction(5, 4)) == pytest.approx(2500, abs=6)
    assert tone_at(samples, rate, Fraction(9, 4)) == pytest.approx(1500, abs=6)
    # the mono sources are in both channels, at the same level
    mid = samples[int(rate * 0.2) : int(rate * 0.8)]
    assert float(np.abs(mid[:, 0] - mid[:, 1]).max()) < 1e-3 and float(np.abs(mid).max()) > 0.2
