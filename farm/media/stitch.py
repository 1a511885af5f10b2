"""Stitch: concatenate a variant's segments and its audio into one MP4, verify, rename.

Segments start with an IDR frame and have closed GOPs, so their packets join
without re-encoding.  Timestamps are rewritten to the variant's frame grid; a
segment's decode delay (B-frames) is normalised to the largest one so decode
timestamps keep increasing across joins.  The file is checked — frame count,
timestamps one frame apart, audio as long as the video, every segment's IDR
decodes — before it is renamed to its final name.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from farm.errors import InternalError, OutputError, Where
from farm.media.audio import AAC_FRAME, SAMPLE_RATE
from farm.output.atomic import atomic_write

#: a stitched file's ``comment`` tag: this prefix, then the digest of the plan it was made from
PLAN_COMMENT_PREFIX = "farm-plan:"


@dataclass(frozen=True)
class StitchPiece:
    path: Path  # the segment's .mp4 in the cache
    start: int  # first output frame
    count: int


def stitched_plan_digest(path: Path) -> str | None:
    """The plan digest a stitched file was written with, or None (no file, not ours, unreadable).

    A render compares it with the digest of the plan it is about to execute:
    equal means the file already holds exactly that plan.
    """
    import av

    try:
        with av.open(str(path)) as c:
            comment = str(c.metadata.get("comment", ""))
    except (OSError, av.error.FFmpegError):
        return None
    return comment.removeprefix(PLAN_COMMENT_PREFIX) or None


def _segment_packets(
    piece: StitchPiece, fps: Fraction, out_tb: Fraction, max_delay: Fraction, where: Where
) -> Iterator[Any]:
    """A segment's video packets retimed onto the output grid (times in ``out_tb``)."""
    import av

    with av.open(str(piece.path)) as container:
        stream = container.streams.video[0]
        tb = Fraction(stream.time_base)
        packets = [p for p in container.demux(stream) if p.size]
        if len(packets) != piece.count:
            raise InternalError(
                f"segment {piece.path.name} holds {len(packets)} frames, the plan needs {piece.count}",
                where,
                hint="delete the cache entry and render again",
            )
        first_pts = min(p.pts for p in packets)
        delay = (first_pts - min(p.dts for p in packets)) * tb * fps
        frame = 1 / fps
        for p in packets:
            pts_frames = (p.pts - first_pts) * tb * fps
            dts_frames = (p.dts - first_pts) * tb * fps - (max_delay - delay)
            p.pts = int((piece.start + pts_frames) * frame / out_tb)
            p.dts = int((piece.start + dts_frames) * frame / out_tb)
            p.duration = int(frame / out_tb)
            p.time_base = out_tb
            yield p


def _delay(path: Path, fps: Fraction) -> Fraction:
    """A segment's decode delay in frames, from its first packet alone.

    The first packet is the IDR, which shows first; its decode time is the
    earliest, so ``pts - dts`` of that one packet is the whole segment's delay.
    """
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for p in container.demux(stream):
            if p.size:
                return Fraction(p.pts - p.dts) * Fraction(stream.time_base) * fps
    return Fraction(0)


def _check_coverage(pieces: list[StitchPiece], frames: int, where: Where) -> None:
    """``pieces`` (sorted by start) cover output frames ``[0, frames)`` with no hole or overlap."""
    expected = 0
    for piece in pieces:
        if piece.start != expected:
            raise InternalError(f"segments leave a hole at output frame {expected}", where)
        expected += piece.count
    if expected != frames:
        raise InternalError(f"segments cover {expected} frames, the plan has {frames}", where)


def _audio_packets(container: Any) -> Iterator[Any]:
    stream = container.streams.audio[0]
    for p in container.demux(stream):
        if p.size:
            yield p


def _dts_seconds(packet: Any) -> Fraction:
    return Fraction(packet.dts) * Fraction(packet.time_base)


def _mux(
    dest: Path,
    pieces: list[StitchPiece],
    audio_path: Path | None,
    fps: Fraction,
    max_delay: Fraction,
    comment: str | None,
    where: Where,
) -> None:
    """Write the segments' packets, retimed, and the audio's into ``dest``, interleaved by time."""
    import av

    # in ticks of 1/numerator seconds every frame time is an integer (a frame is `denominator` ticks)
    out_tb = Fraction(1, fps.numerator)
    with av.open(str(pieces[0].path)) as first:
        # ProRes and DNxHR segments are MOV and so is their output (MP4 cannot hold them)
        container = "mov" if first.streams.video[0].codec_context.name in ("prores", "dnxhd") else "mp4"
    with av.open(str(dest), "w", format=container, options={"movflags": "+faststart"}) as out:
        with av.open(str(pieces[0].path)) as first:
            vout = out.add_stream_from_template(first.streams.video[0])
            if container == "mov":  # the muxer would otherwise name every ProRes "apch" (422 HQ)
                vout.codec_tag = first.streams.video[0].codec_context.codec_tag
        if vout.codec_context.codec.id == av.codec.Codec("hevc", "r").id:
            vout.codec_tag = "hvc1"  # parameter sets out of band: what Apple players require
        vout.time_base = out_tb
        if comment:
            out.metadata["comment"] = comment
        video = (p for piece in pieces for p in _segment_packets(piece, fps, out_tb, max_delay, where))
        if audio_path is None:
            for packet in video:
                packet.stream = vout
                out.mux(packet)
            return
        with av.open(str(audio_path)) as ain:
            aout = out.add_stream_from_template(ain.streams.audio[0])
            for packet in heapq.merge(video, _audio_packets(ain), key=_dts_seconds):
                packet.stream = aout if packet.stream.type == "audio" else vout
                out.mux(packet)


def stitch(
    pieces: list[StitchPiece],
    audio_path: Path | None,
    out_path: Path,
    fps: Fraction,
    frames: int,
    variant: str,
    plan_digest: str | None = None,
) -> dict[str, Any]:
    """Write ``out_path`` from ``pieces`` and the variant's AAC audio; check it; then publish it.

    ``plan_digest`` is stored in the file (see :func:`stitched_plan_digest`).
    Nothing appears at ``out_path`` unless the whole file passed :func:`verify`.
    """
    where = Where(variant=variant, path=str(out_path))
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder ({exc.strerror})", where) from None
    pieces = sorted(pieces, key=lambda p: p.start)
    _check_coverage(pieces, frames, where)
    max_delay = max(_delay(p.path, fps) for p in pieces)
    comment = PLAN_COMMENT_PREFIX + plan_digest if plan_digest else None
    try:
        with atomic_write(out_path, make_parents=False) as tmp:
            _mux(tmp, pieces, audio_path, fps, max_delay, comment, where)
            result = verify(tmp, fps, frames, len(pieces), audio_path is not None, where)
    except OSError as exc:
        from farm.output.cache import is_no_space, no_space_error

        if is_no_space(exc):
            raise no_space_error(out_path.parent, "the output", where=where) from None
        raise OutputError(f"cannot write the output ({exc})", where) from None
    return result


def verify(
    path: Path, fps: Fraction, frames: int, segments: int, has_audio: bool, where: Where
) -> dict[str, Any]:
    """Check a stitched file before it is given its final name."""
    import av

    def fail(msg: str) -> InternalError:
        return InternalError(f"the stitched file failed its check: {msg}", where)

    with av.open(str(path)) as c:
        v = c.streams.video[0]
        vtb = Fraction(v.time_base)
        pts = []
        audio_samples = 0
        audio_start = None
        for p in c.demux():
            if not p.size:
                continue
            if p.stream.type == "video":
                pts.append(p.pts)
            elif p.stream.type == "audio":
                audio_samples += p.duration or AAC_FRAME
                t = p.pts * Fraction(p.time_base)
                audio_start = t if audio_start is None else min(audio_start, t)
        if len(pts) != frames:
            raise fail(f"{len(pts)} video frames, the plan has {frames}")
        pts.sort()
        step = 1 / fps
        for i, (a, b) in enumerate(zip(pts, pts[1:], strict=False)):
            if (b - a) * vtb != step:
                raise fail(f"frames {i} and {i + 1} are {float((b - a) * vtb):.6f}s apart, not one frame")
        video_seconds = Fraction(frames) / fps
        audio_seconds = Fraction(0)
        if has_audio:
            a = c.streams.audio[0]
            # durations are in the audio stream's time base; the first frame is encoder priming
            audio_seconds = audio_samples * Fraction(a.time_base) + min(audio_start or 0, 0)
            if abs(audio_seconds - video_seconds) > Fraction(AAC_FRAME, SAMPLE_RATE) + step:
                raise fail(f"audio lasts {float(audio_seconds):.3f}s, video {float(video_seconds):.3f}s")
    # decode every keyframe (each segment starts with one) to prove the joins decode
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        v.codec_context.skip_frame = "NONKEY"
        keyframes = 0
        try:
            for _ in c.decode(v):
                keyframes += 1
        except av.error.FFmpegError as exc:
            raise fail(f"it does not decode ({exc})") from None
        if keyframes < segments:
            raise fail(f"{keyframes} keyframes decode, {segments} segments were joined")
    return {
        "frames": frames,
        "video_seconds": float(video_seconds),
        "audio_seconds": float(audio_seconds),
        "keyframes": keyframes,
    }
