"""A variant's audio timeline, planned: which source plays where, exactly (``AudioJob``)."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

from farm.edit.cut import Cut
from farm.errors import Where
from farm.media.audio import audio_key
from farm.media.probe import SourceInfo
from farm.media.streams import probe_audio
from farm.planning.units import AudioClip, AudioJob


def plan_audio(
    cut: Cut, total_frames: int, rate: Fraction, probe_source: Callable[[Path, Where], SourceInfo]
) -> AudioJob:
    """A variant's audio job: its audio tracks' clips (or its video clips' own audio), in time order.

    Times stay exact; what runs for every clip is integer arithmetic (no Fraction is built
    per clip), and each source is probed, and its sync reference computed, once.
    """
    tracks = []
    origins: dict[int, tuple[SourceInfo, Fraction]] = {}
    probed: dict[str, SourceInfo] = {}  # sources that probed: once each
    for track in cut.audio_clips():
        clips = []
        for item in track:
            if cut.audio_tracks is not None:
                where = Where(variant=cut.variant, clip=item.name, path=str(item.path))
                # an audio track may hold audio-only files (.wav, .mp3, .aif): no video to sync to
                audio_only = probe_audio(item.path, where)
                if not audio_only.has_video:
                    clips.append(
                        AudioClip(
                            path=audio_only.path,
                            identity=audio_only.identity,
                            has_audio=audio_only.has_audio,
                            start=item.start,
                            duration=item.duration,
                            source_in=item.source_in,
                            origin=audio_only.start,
                            fade_in=item.fade_in,
                            fade_out=item.fade_out,
                            speed=item.speed,
                            gain=item.gain,
                        )
                    )
                    continue
            name = str(item.path)  # a str key: Path's own __hash__ and __eq__ are Python code
            info = probed.get(name)
            if info is None:
                where = Where(variant=cut.variant, clip=item.name, path=name)
                info = probed[name] = probe_source(item.path, where)
            known = origins.get(id(info))
            if known is None or known[0] is not info:  # the sync reference, once per source
                known = origins[id(info)] = (info, info.start_pts * info.time_base)
            clips.append(
                AudioClip(
                    path=info.path,
                    identity=info.identity,
                    has_audio=info.has_audio,
                    start=item.start,
                    duration=item.duration,
                    source_in=item.source_in,
                    origin=known[1],
                    fade_in=item.fade_in,
                    fade_out=item.fade_out,
                    speed=item.speed,
                    gain=item.gain,
                )
            )
        tracks.append(tuple(clips))
    duration = Fraction(total_frames) / rate
    return AudioJob(key=audio_key(tuple(tracks), duration), tracks=tuple(tracks), duration=duration)
