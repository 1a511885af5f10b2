"""The stitcher as it was before it opened each file once: the reference for bytes and for speed.

Kept as it was (each segment opened three times, probing decodes a frame, the
check reads the file twice) so ``test_stitch`` can check that the one-open
writer muxes the very same packets with the very same timestamps, in the same
order, and ``benchmarks/bench_stitch.py`` can time both.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

from farm.errors import InternalError, Where
from farm.media.audio import AAC_FRAME, SAMPLE_RATE
from farm.media.stitch import StitchPiece


def _segment_packets(
    piece: StitchPiece, fps: Fraction, out_tb: Fraction, max_delay: Fraction
) -> Iterator[Any]:
    import av

    with av.open(str(piece.path)) as container:
        stream = container.streams.video[0]
        tb = Fraction(stream.time_base)
        packets = [p for p in container.demux(stream) if p.size]
        assert len(packets) == piece.count
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
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for p in container.demux(stream):
            if p.size:
                return Fraction(p.pts - p.dts) * Fraction(stream.time_base) * fps
    return Fraction(0)


def _audio_packets(container: Any) -> Iterator[Any]:
    stream = container.streams.audio[0]
    for p in container.demux(stream):
        if p.size:
            yield p


def _dts_seconds(packet: Any) -> Fraction:
    return Fraction(packet.dts) * Fraction(packet.time_base)


def reference_mux(
    dest: Path, pieces: list[StitchPiece], audio_path: Path | None, fps: Fraction, comment: str | None
) -> None:
    """Write ``dest`` exactly as farm's stitcher did before the one-open writer."""
    import av

    pieces = sorted(pieces, key=lambda p: p.start)
    max_delay = max(_delay(p.path, fps) for p in pieces)
    out_tb = Fraction(1, fps.numerator)
    with av.open(str(pieces[0].path)) as first:
        container = "mov" if first.streams.video[0].codec_context.name in ("prores", "dnxhd") else "mp4"
    with av.open(str(dest), "w", format=container, options={"movflags": "+faststart"}) as out:
        with av.open(str(pieces[0].path)) as first:
            vout = out.add_stream_from_template(first.streams.video[0])
            if container == "mov":
                vout.codec_tag = first.streams.video[0].codec_context.codec_tag
        if vout.codec_context.codec.id == av.codec.Codec("hevc", "r").id:
            vout.codec_tag = "hvc1"
        vout.time_base = out_tb
        if comment:
            out.metadata["comment"] = comment
        video = (p for piece in pieces for p in _segment_packets(piece, fps, out_tb, max_delay))
        if audio_path is None:
            for packet in video:
                packet.stream = vout
                out.mux(packet)
            return
        with av.open(str(audio_path)) as ain:
            aout = out.add_stream_from_template(ain.streams.audio[0])
            # each packet tagged with its output stream: a video packet's own stream belongs to a
            # segment file that may be closed by the time the merge hands the packet on
            tagged_video = ((vout, p) for p in video)
            tagged_audio = ((aout, p) for p in _audio_packets(ain))
            for stream, packet in heapq.merge(tagged_video, tagged_audio, key=lambda t: _dts_seconds(t[1])):
                packet.stream = stream
                out.mux(packet)


def reference_verify(
    path: Path, fps: Fraction, frames: int, segments: int, has_audio: bool, where: Where
) -> dict[str, Any]:
    """The check as it was: one read for counts and times, a second to decode the keyframes."""
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
