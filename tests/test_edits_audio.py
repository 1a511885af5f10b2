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


def _volume(db: float, keyframed: bool = False) -> otio.schema.Effect:
    param = {"Parameter ID": "volume", "Parameter Value": db, "Key Frames": {"0": db} if keyframed else {}}
    return otio.schema.Effect(
        effect_name="Resolve Effect",
        metadata={
            "Resolve_OTIO": {
                "Effect Name": "Fairlight Clip Volume and Fades",
                "Enabled": True,
                "Parameters": [param],
            }
        },
    )


def test_clip_levels_the_cut_carries_are_applied(project_dir: Path, ray_session: None) -> None:
    write_tone(project_dir / "a.wav", "pcm_s16le", 500.0, 4.0)
    tl = otio.schema.Timeline(name="lv")
    v = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    v.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=rt(72))))
    tl.tracks.append(v)
    a = otio.schema.Track(kind=otio.schema.TrackKind.Audio)
    for db, keyframed in ((0.0, False), (-12.0, False), (-12.0, True)):
        clip = aclip("a.wav", 1.0)
        clip.effects.append(_volume(db, keyframed))
        a.append(clip)
    tl.tracks.append(a)
    otio.adapters.write_to_file(tl, str(project_dir / "cuts" / "lv.otio"))
    (project_dir / "farm.toml").write_text(
        '[output]\nwidth = 64\nheight = 36\nfps = "24"\npreset = "ultrafast"\n'
        '[variants.lv]\ntimeline = "cuts/lv.otio"\n'
    )
    out = farm.render(project_dir / "farm.toml", workers=1).variants["lv"]
    assert out.error is None, out.error
    (warning,) = [w for w in out.warnings if "audio level" in w]
    assert "changes over time" in warning and "output frames [48, 72)" in warning
    samples, rate = audio_samples(Path(out.output))

    def rms(second: int) -> float:
        part = samples[int(rate * (second + 0.2)) : int(rate * (second + 0.8))]
        return float(np.sqrt(np.mean(part**2)))

    # -12 dB is a gain of 0.251; the key-framed level is not applied (a warning says so)
    assert rms(1) / rms(0) == pytest.approx(10 ** (-12 / 20), rel=0.03)
    assert rms(2) / rms(0) == pytest.approx(1.0, rel=0.03)


def _amplitude(part: np.ndarray, rate: int, hz: float) -> float:
    """The amplitude of the ``hz`` component of a (mono-summed) window."""
    mono = part.mean(axis=1)
    t = np.arange(len(mono)) / rate
    return float(2 * abs(np.mean(mono * np.exp(-2j * np.pi * hz * t))))


def test_a_transition_on_an_audio_track_crossfades(project_dir: Path, ray_session: None) -> None:
    write_tone(project_dir / "a.wav", "pcm_s16le", 500.0, 3.0)
    write_tone(project_dir / "b.wav", "pcm_s16le", 1500.0, 3.0)
    tl = otio.schema.Timeline(name="x")
    v = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    v.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=rt(48))))
    tl.tracks.append(v)
    a = otio.schema.Track(kind=otio.schema.TrackKind.Audio)
    a.append(aclip("a.wav", 1.0, in_s=0.5))
    a.append(otio.schema.Transition(in_offset=rt(6), out_offset=rt(6), transition_type="SMPTE_Dissolve"))
    a.append(aclip("b.wav", 1.0, in_s=0.5))
    tl.tracks.append(a)
    otio.adapters.write_to_file(tl, str(project_dir / "cuts" / "x.otio"))
    (project_dir / "farm.toml").write_text(
        '[output]\nwidth = 64\nheight = 36\nfps = "24"\npreset = "ultrafast"\n'
        '[variants.x]\ntimeline = "cuts/x.otio"\n'
    )
    out = farm.render(project_dir / "farm.toml", workers=1).variants["x"]
    assert out.error is None, out.error
    assert not [w for w in out.warnings if "transition" in w]
    samples, rate = audio_samples(Path(out.output))

    def amplitudes(t: float) -> tuple[float, float]:
        part = samples[int(rate * (t - 0.02)) : int(rate * (t + 0.02))]
        return _amplitude(part, rate, 500.0), _amplitude(part, rate, 1500.0)

    full = amplitudes(0.5)[0]
    assert amplitudes(1.5)[1] == pytest.approx(full, rel=0.05) and amplitudes(0.5)[1] < 0.02 * full
    # the crossfade runs 0.75-1.25 s with linear gains: at its middle each clip sounds at half level,
    # a quarter of the way in the outgoing at three quarters
    a_mid, b_mid = amplitudes(1.0)
    assert a_mid == pytest.approx(full / 2, rel=0.08) and b_mid == pytest.approx(full / 2, rel=0.08)
    a_q, b_q = amplitudes(0.875)
    assert a_q == pytest.approx(0.75 * full, rel=0.08) and b_q == pytest.approx(0.25 * full, rel=0.12)


def test_levels_as_nles_write_them() -> None:
    from farm.edit.levels import level_of

    def fcp(level: dict[str, object]) -> otio.schema.Effect:
        meta = {"fcp_xml": {"effectid": "audiolevels", "parameter": [{"parameterid": "level", **level}]}}
        return otio.schema.Effect(effect_name="Audio Levels", metadata=meta)

    assert level_of(fcp({"value": "0.5"})).gain == 0.5  # type: ignore[union-attr]
    assert level_of(fcp({"value": "1", "keyframe": [{"when": "0"}]})).why  # type: ignore[union-attr]
    assert level_of(_volume(-6.0)).gain == pytest.approx(0.501, abs=1e-3)  # type: ignore[union-attr]
    off = otio.schema.Effect(
        metadata={"Resolve_OTIO": {"Effect Name": "Fairlight Clip Equaliser", "Enabled": False}}
    )
    assert level_of(off) is not None and level_of(off).gain == 1  # type: ignore[union-attr]
    eq = otio.schema.Effect(
        metadata={"Resolve_OTIO": {"Effect Name": "Fairlight Clip Equaliser", "Enabled": True}}
    )
    assert level_of(eq) is None  # not a level: the reader warns that it is not applied
