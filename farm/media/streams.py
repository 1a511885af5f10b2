"""What a media file holds besides the probed video: audio-only files, the start timecode.

Cheap looks at a file's streams (no demuxing), used where the video probe
(``probe.py``) does not apply: an audio track's ``.wav``/``.mp3``/``.aif``, and
the timecode a file starts at, which maps a cut's source timecodes to frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from farm.errors import MediaError, MissingInputError, Where
from farm.media.probe import source_identity


@dataclass(frozen=True)
class AudioSourceInfo:
    """What an audio track's clip needs to know about its file (which may hold no video)."""

    path: str
    identity: str
    has_video: bool  # True: sync to the first video frame (``probe``); False: an audio-only file
    has_audio: bool
    start: Fraction  # container seconds of the first audio sample (0 without audio)
    duration: Fraction  # seconds of audio the stream declares (0 when unknown or without audio)


def probe_audio(path: Path, where: Where | None = None) -> AudioSourceInfo:
    """Open ``path`` only for its streams: whether it has video, and where its audio starts.

    For audio-only files (.wav, .mp3, .aif, .m4a) on audio tracks; cheap (no demuxing).
    """
    import av

    where = Where(variant=(where or Where()).variant, clip=(where or Where()).clip, path=str(path))
    if not path.exists():
        raise MissingInputError("media file not found", where, hint="check the clip's media path")
    if not path.is_file():
        raise MediaError("media path is not a file", where)
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise MediaError(f"cannot open: not a readable media file, or truncated ({exc})", where) from None
    with container:
        has_video = bool(container.streams.video)
        if not container.streams.audio:
            nothing = Fraction(0)
            return AudioSourceInfo(str(path), source_identity(path), has_video, False, nothing, nothing)
        audio = container.streams.audio[0]
        tb = Fraction(audio.time_base) if audio.time_base else Fraction(1, int(audio.rate or 48000))
        start = Fraction(audio.start_time or 0) * tb
        if audio.duration:
            duration = Fraction(audio.duration) * tb
        elif container.duration:
            duration = Fraction(container.duration, 1_000_000)
        else:
            duration = Fraction(0)
    return AudioSourceInfo(str(path), source_identity(path), has_video, True, start, duration)


def media_start(path: Path, where: Where | None = None) -> Fraction:
    """Seconds the file's first frame stands for in source time: its start timecode, else 0.

    The timecode is the container's or a stream's ``timecode`` tag (MOV/MP4 ``tmcd``
    tracks and MXF carry it there), read at the video stream's rate.
    """
    return media_extent(path, where)[0]


def media_extent(path: Path, where: Where | None = None) -> tuple[Fraction, Fraction]:
    """The source times the file covers: (its start timecode in seconds, else 0; its duration).

    The duration is the container's (0 when it declares none).
    """
    import av

    from farm.edit.timing import timecode_seconds

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError, OSError):
        return Fraction(0), Fraction(0)  # the probe reports an unreadable file, with its reason
    with container:
        tags = [container.metadata.get("timecode")]
        tags += [s.metadata.get("timecode") for s in container.streams]
        timecode = next((t for t in tags if t), None)
        video = container.streams.video[0] if container.streams.video else None
        rate = Fraction(video.average_rate) if video is not None and video.average_rate else None
        duration = Fraction(container.duration or 0, 1_000_000)
    if timecode is None or rate is None:
        return Fraction(0), duration
    try:
        return timecode_seconds(timecode, rate.limit_denominator(1001)), duration
    except ValueError as exc:
        raise MediaError(f"unreadable start timecode: {exc}", where or Where(path=str(path))) from None
