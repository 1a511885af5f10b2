"""Write a stitched file piece by piece, opening every input once.

:class:`StitchWriter` holds the output open while segments are appended in
output order, so a render can append a variant's segments as they land and
only the remainder, the audio's tail and the check are left when the last one
does.  Each segment is opened once — its decode delay, its frame count and its
packets come from that one read — and without the probe decode libavformat
would otherwise run to learn what the header already says.

Audio packets are interleaved with the video by decode time as they go: before
a video packet, every audio packet that decodes strictly earlier (a tie goes
to the video).  Appending everything then finishing writes exactly the packets,
timestamps and order that merging the two whole streams by time would.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from fractions import Fraction
from pathlib import Path
from typing import Any

from farm.errors import InternalError, Where
from farm.media.inputs import open_input
from farm.output.activity import doing

#: what a damaged cached segment calls for
_DAMAGED_HINT = "delete the cache entry and render again"


class DelayGrew(Exception):
    """A segment decodes later than the delay the writer was opened with; start again with ``delay``.

    Segments of one output share their encoder settings, so this is rare; the
    earlier segments' decode times all shift when the largest delay grows.
    """

    def __init__(self, delay: Fraction) -> None:
        super().__init__(f"a segment's decode delay is {delay} frames")
        self.delay = delay


def output_format(video_stream: Any) -> str:
    """ProRes and DNxHR segments are MOV and so is their output (MP4 cannot hold them)."""
    return "mov" if video_stream.codec_context.name in ("prores", "dnxhd") else "mp4"


def _trunc_div(num: int, den: int) -> int:
    """``int(Fraction(num, den))`` for ``den > 0`` (rounds toward zero), without building a Fraction."""
    return num // den if num >= 0 else -(-num // den)


class StitchWriter:
    """One stitched file being written at ``dest``: append pieces in output order, then :meth:`finish`.

    ``max_delay`` (frames) is the decode delay every segment is normalised to;
    None takes the first segment's.  :meth:`append` raises :class:`DelayGrew`
    (having written nothing of that segment) when one needs more: the caller
    starts a new file with the larger delay.  On any failure the caller calls
    :meth:`abandon` and removes ``dest``.
    """

    def __init__(
        self,
        dest: Path,
        fps: Fraction,
        audio_path: Path | None,
        where: Where,
        *,
        comment: str | None = None,
        max_delay: Fraction | None = None,
    ) -> None:
        self.dest = dest
        self.fps = fps
        self.audio_path = audio_path
        self.where = where
        self.comment = comment
        self.max_delay = max_delay
        #: output frames written so far: the first frame of the next piece
        self.frames = 0
        #: pieces appended so far
        self.pieces = 0
        # in ticks of 1/numerator seconds every frame time is an integer (a frame is `denominator` ticks)
        self._out_tb = Fraction(1, fps.numerator)
        self._out: Any = None
        self._vout: Any = None
        self._aout: Any = None
        self._ain: Any = None
        self._audio: Any = None  # the audio input's packets
        self._next_audio: Any = None  # the first of them not muxed yet
        #: its decode time as ``(dts * tb.numerator * fps.numerator, tb.denominator)``: it decodes
        #: before a video packet of dts ``v`` (in ticks of 1/fps.numerator) when ``key[0] < v * key[1]``
        self._next_audio_key = (0, 1)

    # ------------------------------------------------------------------ writing

    def append(self, path: Path, count: int) -> None:
        """Append the segment at ``path``, which holds ``count`` frames, at output frame :attr:`frames`."""
        task = f"appending a segment at output frame {self.frames}"
        with doing(task, self._where(path)), self._read(path) as (container, packets):
            if len(packets) != count:
                raise InternalError(
                    f"segment {path.name} holds {len(packets)} frames, the plan needs {count}",
                    self._where(path),
                    hint=_DAMAGED_HINT,
                )
            tb = Fraction(container.streams.video[0].time_base)
            first_pts = min(p.pts for p in packets)
            delay = (first_pts - min(p.dts for p in packets)) * tb * self.fps
            if self.max_delay is None:
                self.max_delay = delay
            elif delay > self.max_delay:
                raise DelayGrew(delay)
            if self._out is None:
                self._open(container.streams.video[0])
            self._write_video(packets, tb, first_pts, delay)
        self.frames += count
        self.pieces += 1

    def finish(self) -> None:
        """Write the rest of the audio and close the file (it is then complete)."""
        while self._next_audio is not None:
            self._mux_audio()
        self.close()

    def close(self) -> None:
        """Close the output and the audio input (the file is incomplete unless :meth:`finish` ran)."""
        out, ain = self._out, self._ain
        self._out = self._ain = self._audio = self._next_audio = None
        try:
            if out is not None:
                out.close()
        finally:
            if ain is not None:
                ain.close()

    def abandon(self) -> None:
        """Close what is open, ignoring errors: the file will be removed (a failure is being raised)."""
        with suppress(Exception):  # a file nobody will read; the error being raised is what matters
            self.close()

    # ------------------------------------------------------------------ inside

    @contextmanager
    def _read(self, path: Path) -> Iterator[tuple[Any, list[Any]]]:
        """``path`` open, and its video packets: an unreadable segment is an error naming it."""
        import av

        try:
            container = open_input(path)
        except av.error.FFmpegError as exc:
            if isinstance(exc, OSError) and not path.is_file():
                raise InternalError(f"segment {path.name} is missing", self._where(path)) from None
            raise self._unreadable(path, exc) from None
        with container:
            try:
                packets = [p for p in container.demux(container.streams.video[0]) if p.size]
            except (av.error.FFmpegError, IndexError) as exc:
                raise self._unreadable(path, exc) from None
            yield container, packets

    def _unreadable(self, path: Path, exc: Exception) -> InternalError:
        why = "it holds no video" if isinstance(exc, IndexError) else str(exc)
        return InternalError(
            f"segment {path.name} cannot be read ({why})", self._where(path), hint=_DAMAGED_HINT
        )

    def _where(self, path: Path) -> Where:
        return Where(variant=self.where.variant, path=str(path))

    def _open(self, template: Any) -> None:
        """Open the output with ``template``'s video stream (and the audio's), before any packet."""
        import av

        container = output_format(template)
        self._out = av.open(str(self.dest), "w", format=container, options={"movflags": "+faststart"})
        vout = self._out.add_stream_from_template(template)
        if container == "mov":  # the muxer would otherwise name every ProRes "apch" (422 HQ)
            vout.codec_tag = template.codec_context.codec_tag
        if vout.codec_context.codec.id == av.codec.Codec("hevc", "r").id:
            vout.codec_tag = "hvc1"  # parameter sets out of band: what Apple players require
        vout.time_base = self._out_tb
        self._vout = vout
        if self.comment:
            self._out.metadata["comment"] = self.comment
        if self.audio_path is not None:
            self._ain = open_input(self.audio_path)
            audio = self._ain.streams.audio[0]
            self._aout = self._out.add_stream_from_template(audio)
            self._audio = (p for p in self._ain.demux(audio) if p.size)
            self._peek_audio()

    def _write_video(self, packets: list[Any], tb: Fraction, first_pts: int, delay: Fraction) -> None:
        """Mux a segment's packets at output frame :attr:`frames`, retimed, the audio due before each.

        Times are exact: in output ticks (1/fps.numerator s, a frame is fps.denominator ticks) a
        packet's pts is ``(start + (pts - first_pts) * tb * fps) * fps.denominator``, its dts the same
        less the delay it lacks (``max_delay - delay`` frames), each rounded toward zero; computed
        here over integers, as one fraction each.
        """
        assert self.max_delay is not None
        n, d = self.fps.numerator, self.fps.denominator
        scale, b = tb.numerator * n, tb.denominator  # (ticks per input tick) = scale / b
        lag = (self.max_delay - delay) * d  # in output ticks
        base = self.frames * d * b
        for p in packets:
            p.pts = _trunc_div(base + (p.pts - first_pts) * scale, b)
            p.dts = _trunc_div(
                (base + (p.dts - first_pts) * scale) * lag.denominator - lag.numerator * b,
                b * lag.denominator,
            )
            p.duration = d
            p.time_base = self._out_tb
            while self._next_audio is not None and self._next_audio_key[0] < p.dts * self._next_audio_key[1]:
                self._mux_audio()
            p.stream = self._vout
            self._out.mux(p)

    def _peek_audio(self) -> None:
        packet = self._next_audio = next(self._audio, None)
        if packet is not None:
            tb = packet.time_base
            self._next_audio_key = (packet.dts * tb.numerator * self.fps.numerator, tb.denominator)

    def _mux_audio(self) -> None:
        packet = self._next_audio
        self._peek_audio()
        packet.stream = self._aout
        self._out.mux(packet)
