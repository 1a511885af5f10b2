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
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from farm.errors import InternalError, OutputError, Where
from farm.media.audio import AAC_FRAME, SAMPLE_RATE


@dataclass(frozen=True)
class StitchPiece:
    path: Path  # the segment's .mp4 in the cache
    start: int  # first output frame
    count: int


def _segment_packets(piece: StitchPiece, fps: Fraction, out_tb: Fraction, max_delay: int, where: Where):
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
                return (p.pts - p.dts) * Fraction(stream.time_base) * fps
    return Fraction(0)


def stitch(
    pieces: list[StitchPiece],
    audio_path: Path | None,
    out_path: Path,
    fps: Fraction,
    frames: int,
    variant: str,
    comment: str | None = None,
) -> dict:
    """Write ``out_path`` from ``pieces`` (ordered by ``start``) and the variant's AAC audio."""
    import av

    where = Where(variant=variant, path=str(out_path))
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder ({exc.strerror})", where) from None
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.partial")
    pieces = sorted(pieces, key=lambda p: p.start)
    expected = 0
    for piece in pieces:
        if piece.start != expected:
            raise InternalError(f"segments leave a hole at output frame {expected}", where)
        expected += piece.count
    if expected != frames:
        raise InternalError(f"segments cover {expected} frames, the plan has {frames}", where)

    # in ticks of 1/numerator seconds every frame time is an integer (a frame is `denominator` ticks)
    out_tb = Fraction(1, fps.numerator)
    max_delay = max(_delay(p.path, fps) for p in pieces)
    try:
        with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            with av.open(str(pieces[0].path)) as first:
                vout = out.add_stream_from_template(first.streams.video[0])
            if vout.codec_context.codec.id == av.codec.Codec("hevc", "r").id:
                vout.codec_tag = "hvc1"  # parameter sets out of band: what Apple players require
            vout.time_base = out_tb
            if comment:
                out.metadata["comment"] = comment
            streams_in = []
            aout = None
            if audio_path is not None:
                ain = av.open(str(audio_path))
                streams_in.append(ain)
                aout = out.add_stream_from_template(ain.streams.audio[0])

            def video() -> Iterator:
                for piece in pieces:
                    yield from _segment_packets(piece, fps, out_tb, max_delay, where)

            def audio() -> Iterator:
                if aout is None:
                    return
                stream = streams_in[0].streams.audio[0]
                for p in streams_in[0].demux(stream):
                    if p.size:
                        yield p

            def order(p) -> Fraction:  # type: ignore[no-untyped-def]
                return p.dts * Fraction(p.time_base)

            for packet in heapq.merge(video(), audio(), key=order):
                packet.stream = aout if packet.stream.type == "audio" else vout
                out.mux(packet)
            for c in streams_in:
                c.close()
        result = verify(tmp, fps, frames, len(pieces), audio_path is not None, where)
        os.replace(tmp, out_path)
    except OSError as exc:
        raise OutputError(f"cannot write the output ({exc})", where) from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return result


def verify(path: Path, fps: Fraction, frames: int, segments: int, has_audio: bool, where: Where) -> dict:
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
        for i, (a, b) in enumerate(zip(pts, pts[1:])):
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
