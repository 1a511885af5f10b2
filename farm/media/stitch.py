"""Stitch: concatenate a variant's segments and its audio into one MP4, verify, rename.

Segments start with an IDR frame and have closed GOPs, so their packets join
without re-encoding; :mod:`farm.media.stitch_writer` writes them, opening each
segment once.  Timestamps are rewritten to the variant's frame grid; a
segment's decode delay (B-frames) is normalised to the largest one so decode
timestamps keep increasing across joins.  A render may append a variant's
first segments while the others still render (:func:`start_stitch`,
:func:`extend`) and hand that writer to :func:`stitch`.  The file is checked —
frame count, timestamps one frame apart, audio as long as the video, every
segment's IDR decodes — in one read, before it is renamed to its final name.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from farm.errors import FarmError, InternalError, OutputError, Where
from farm.media.audio import AAC_FRAME, SAMPLE_RATE
from farm.media.inputs import open_input
from farm.media.stitch_writer import DelayGrew, StitchWriter
from farm.output.activity import doing
from farm.output.atomic import atomic_write, temp_path

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


def _check_coverage(pieces: list[StitchPiece], frames: int, where: Where) -> None:
    """``pieces`` (sorted by start) cover output frames ``[0, frames)`` with no hole or overlap."""
    expected = 0
    for piece in pieces:
        if piece.start != expected:
            raise InternalError(f"segments leave a hole at output frame {expected}", where)
        expected += piece.count
    if expected != frames:
        raise InternalError(f"segments cover {expected} frames, the plan has {frames}", where)


def start_stitch(
    out_path: Path, fps: Fraction, audio_path: Path | None, variant: str, plan_digest: str | None = None
) -> StitchWriter:
    """A writer of ``out_path``'s stitched file under a temporary name beside it, holding no piece yet.

    Append pieces with :func:`extend`, then give it to :func:`stitch` as ``started``.
    """
    where = Where(variant=variant, path=str(out_path))
    with _output_errors(out_path, where):
        out_path.parent.mkdir(parents=True, exist_ok=True)
    comment = PLAN_COMMENT_PREFIX + plan_digest if plan_digest else None
    return StitchWriter(temp_path(out_path), fps, audio_path, where, comment=comment)


def extend(writer: StitchWriter, pieces: Sequence[StitchPiece]) -> StitchWriter:
    """``writer`` with ``pieces[writer.pieces:]`` appended; returns the writer now holding all of ``pieces``.

    ``pieces`` are in output order, the first ``writer.pieces`` of them already
    written.  A piece that decodes later than the file so far allows
    (:class:`~farm.media.stitch_writer.DelayGrew`) starts the file again, with
    that delay, from the first piece.  On any other failure the writer is
    abandoned; the caller removes its file (:func:`discard`).
    """
    while True:
        try:
            with _output_errors(Path(writer.where.path or writer.dest), writer.where):
                for piece in pieces[writer.pieces :]:
                    writer.append(piece.path, piece.count)
            return writer
        except DelayGrew as grew:
            writer.abandon()
            writer = StitchWriter(
                writer.dest,
                writer.fps,
                writer.audio_path,
                writer.where,
                comment=writer.comment,
                max_delay=grew.delay,
            )
        except BaseException:
            writer.abandon()
            raise


def stitch(
    pieces: list[StitchPiece],
    audio_path: Path | None,
    out_path: Path,
    fps: Fraction,
    frames: int,
    variant: str,
    plan_digest: str | None = None,
    *,
    started: StitchWriter | None = None,
) -> dict[str, Any]:
    """Write ``out_path`` from ``pieces`` and the variant's AAC audio; check it; then publish it.

    ``plan_digest`` is stored in the file (see :func:`stitched_plan_digest`).
    ``started``: a writer from :func:`start_stitch` (same audio and digest) that
    already holds the first pieces; only the rest is appended.
    Nothing appears at ``out_path`` unless the whole file passed :func:`verify`;
    the temporary file (``started``'s too) is removed whatever happens.
    """
    where = Where(variant=variant, path=str(out_path))
    writer = started
    try:
        pieces = sorted(pieces, key=lambda p: p.start)
        _check_coverage(pieces, frames, where)
        if writer is None:
            writer = start_stitch(out_path, fps, audio_path, variant, plan_digest)
        with _output_errors(out_path, where):
            with atomic_write(out_path, make_parents=False, tmp=writer.dest) as tmp:
                try:
                    writer = extend(writer, pieces)
                    writer.finish()
                except BaseException:
                    writer.abandon()  # closed before atomic_write removes it
                    raise
                with doing("checking the stitched file", where):
                    result = verify(tmp, fps, frames, len(pieces), audio_path is not None, where)
    finally:
        if writer is not None:
            discard(writer)
    return result


def discard(writer: StitchWriter) -> None:
    """Close ``writer`` and remove its temporary file, if any (a file that will not be published)."""
    writer.abandon()
    writer.dest.unlink(missing_ok=True)


@contextmanager
def _output_errors(out_path: Path, where: Where) -> Iterator[None]:
    """An OSError writing the output is an :class:`OutputError` (a full disk says so)."""
    try:
        yield
    except FarmError:
        raise  # already says what went wrong (a FarmError may also be an OSError)
    except OSError as exc:
        from farm.output.cache import is_no_space, no_space_error

        if is_no_space(exc):
            raise no_space_error(out_path.parent, "the output", where=where) from None
        raise OutputError(f"cannot write the output ({exc})", where) from None


def verify(
    path: Path, fps: Fraction, frames: int, segments: int, has_audio: bool, where: Where
) -> dict[str, Any]:
    """Check a stitched file before it is given its final name, in one read of it.

    Frame count, timestamps one frame apart, audio as long as the video, and
    every keyframe (each segment starts with one) decodes: the keyframe packets
    go to a decoder as they are demuxed, the others are only counted.
    """
    import av

    def fail(msg: str) -> InternalError:
        return InternalError(f"the stitched file failed its check: {msg}", where)

    pts = []
    audio_samples = 0
    audio_pts: list[int] = []
    keyframes = 0
    with open_input(path) as c:
        v = c.streams.video[0]
        vtb = Fraction(v.time_base)
        audio = c.streams.audio[0] if c.streams.audio else None
        # read while the file is open: a stream's fields live in the demuxer, freed by the close
        atb = Fraction(audio.time_base) if audio is not None else Fraction(0)
        decoder = v.codec_context
        decoder.skip_frame = "NONKEY"
        try:
            for p in c.demux():
                if not p.size:
                    continue
                if p.stream_index == v.index:
                    pts.append(p.pts)
                    if p.is_keyframe:
                        keyframes += len(decoder.decode(p))
                elif audio is not None and p.stream_index == audio.index:
                    audio_samples += p.duration or AAC_FRAME
                    audio_pts.append(p.pts)
            keyframes += len(decoder.decode(None))
        except av.error.FFmpegError as exc:
            raise fail(f"it does not decode ({exc})") from None
    if len(pts) != frames:
        raise fail(f"{len(pts)} video frames, the plan has {frames}")
    pts.sort()
    step = 1 / fps
    # one frame apart: (b - a) * vtb == 1 / fps, over integers
    per_tick, frame_ticks = vtb.numerator * fps.numerator, vtb.denominator * fps.denominator
    for i, (a, b) in enumerate(zip(pts, pts[1:], strict=False)):
        if (b - a) * per_tick != frame_ticks:
            raise fail(f"frames {i} and {i + 1} are {float((b - a) * vtb):.6f}s apart, not one frame")
    video_seconds = Fraction(frames) / fps
    audio_seconds = Fraction(0)
    if has_audio:
        audio_start = min(audio_pts) * atb if audio_pts else Fraction(0)
        # durations are in the audio stream's time base; the first frame is encoder priming
        audio_seconds = audio_samples * atb + min(audio_start, Fraction(0))
        if abs(audio_seconds - video_seconds) > Fraction(AAC_FRAME, SAMPLE_RATE) + step:
            raise fail(f"audio lasts {float(audio_seconds):.3f}s, video {float(video_seconds):.3f}s")
    if keyframes < segments:
        raise fail(f"{keyframes} keyframes decode, {segments} segments were joined")
    return {
        "frames": frames,
        "video_seconds": float(video_seconds),
        "audio_seconds": float(audio_seconds),
        "keyframes": keyframes,
    }
