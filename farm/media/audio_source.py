"""Reading sources' audio for a mix.

:func:`read_once` reads one clip: open the source, seek about a second before the
first sample wanted, decode, convert to 48 kHz float stereo and place every
sample at its container time.  48 kHz float stereo frames (AAC's usual output)
are placed as they are, interleaved with NumPy, rather than through a converter
that would only interleave them.

:class:`SourceReader` keeps one source open for a whole mix and reads its clips
forward in source order, seeking only where the next clip is more than a second
ahead or behind what is decoded.  It gives exactly :func:`read_once`'s samples,
so it reads forward only where decoding cannot depend on where it started:
48 kHz PCM (no rate conversion, no decoder state) whose timestamps follow each
other exactly.  Everything else is read clip by clip with :func:`read_once`:
FFmpeg's AAC decoder, for one, gives slightly different samples depending on the
packet it started from (the noise it substitutes follows a generator from its
start), so a forward read would change the audio of today's renders.  An AAC
source stays open all the same, and each clip gets a new decoder in it, which
decodes as a new open would.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import nullcontext
from fractions import Fraction
from typing import Any

import numpy as np

from farm.errors import MediaError, Where
from farm.media.inputs import open_input
from farm.planning.units import AUDIO_SAMPLE_RATE, AudioClip

SAMPLE_RATE = AUDIO_SAMPLE_RATE
CHANNELS = 2
#: codecs whose decoder made in an open container decodes as one from a new open (the same
#: frames, timestamps and samples: checked in tests/test_audio_read.py)
_FRESH_DECODERS = frozenset({"aac"})
_PREROLL = SAMPLE_RATE  # samples decoded before the first one kept, after a seek (one second)


def first_sample(clip: AudioClip, first: int) -> int:
    """Absolute 48 kHz sample index (container time) of sample ``first`` after the clip's origin."""
    return math.floor((Fraction(first, SAMPLE_RATE) + clip.origin) * SAMPLE_RATE)


def read_once(clip: AudioClip, first: int, count: int, opened: Any = None) -> np.ndarray:
    """``count`` samples (48 kHz stereo float32) of a source, from sample ``first`` after its origin.

    Samples before the source's audio starts or after it ends are silence.  ``opened``: the
    source's container, already open (it stays open), decoded with a fresh decoder all the same.
    """
    import av

    out = np.zeros((count, CHANNELS), dtype=np.float32)
    where = Where(path=clip.path, clip=None)
    try:
        container = opened or open_input(clip.path)
    except av.error.FFmpegError as exc:
        raise MediaError(f"cannot open for audio ({exc})", where) from None
    with nullcontext() if opened else container:
        stream = container.streams.audio[0]
        begin = Fraction(first, SAMPLE_RATE) + clip.origin  # container time of the first sample
        end = begin + Fraction(count, SAMPLE_RATE)
        if stream.time_base is None:
            raise MediaError("the audio stream has no time base", where)
        tb = Fraction(stream.time_base)
        container.seek(max(0, int((begin - 1) / tb)), stream=stream, backward=True)
        frames = _fresh_decoder(container, stream) if opened else container.decode(stream)
        resampler = av.AudioResampler(format="flt", layout="stereo", rate=SAMPLE_RATE)
        base, stop = math.floor(begin * SAMPLE_RATE), math.ceil(end * SAMPLE_RATE)  # absolute samples
        cursor: int | None = (
            None  # absolute 48 kHz sample index (container time) of the next resampled sample
        )
        try:
            for frame in frames:
                if frame.pts is None:
                    continue
                if cursor is None:
                    cursor = math.floor(frame.pts * tb * SAMPLE_RATE)
                if _packed_as_is(frame):  # 48 kHz float stereo: the converter would only interleave
                    if cursor + frame.samples <= base:  # before the first sample wanted
                        cursor += frame.samples
                    else:
                        cursor = _place(out, frame.to_ndarray().T, cursor, base)
                else:
                    for rf in resampler.resample(frame):
                        cursor = _place(out, rf.to_ndarray(), cursor, base)
                if cursor >= stop:
                    break
            else:
                for rf in resampler.resample(None):
                    cursor = _place(out, rf.to_ndarray(), cursor or 0, base)
        except av.error.FFmpegError as exc:
            raise MediaError(f"the audio does not decode ({exc})", where) from None
    return out


def _fresh_decoder(container: Any, stream: Any) -> Iterator[Any]:
    """Decode ``stream`` from where ``container`` stands with a new decoder, as a new open would.

    A decoder flushed by a seek keeps state a new one does not have (FFmpeg's AAC decoder: its
    noise generator), and its samples would then depend on what it decoded before.
    """
    import av

    ctx = av.CodecContext.create(stream.codec_context.name, "r")
    ctx.extradata = stream.codec_context.extradata
    ctx.sample_rate = stream.codec_context.sample_rate
    ctx.layout = stream.codec_context.layout
    for packet in container.demux(stream):
        yield from ctx.decode(packet)


def _packed_as_is(frame: Any) -> bool:
    return bool(
        frame.sample_rate == SAMPLE_RATE and frame.format.name == "fltp" and frame.layout.name == "stereo"
    )


def _place(out: np.ndarray, packed: np.ndarray, cursor: int, base: int) -> int:
    """Copy samples starting at absolute sample ``cursor`` into ``out``, which starts at ``base``."""
    samples = packed.reshape(-1, CHANNELS)  # packed 'flt' stereo arrives as (1, n*2)
    offset = cursor - base
    lo, hi = max(offset, 0), min(offset + len(samples), len(out))
    if hi > lo:
        out[lo:hi] = samples[lo - offset : hi - offset]
    return cursor + len(samples)


class SourceReader:
    """One source's audio open for a whole mix: :meth:`read` gives what :func:`read_once` does."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._container: Any = None
        self._frames: Iterator[Any] | None = None  # the decoder, positioned after the last frame read
        self._forward = True  # False: read every clip with read_once
        self._chunks: list[tuple[int, np.ndarray]] = []  # decoded (absolute start, samples), in order
        self._cursor = 0  # absolute index of the next sample the decoder gives
        self._ended = False  # the decoder reached the end of the stream
        self._tb = Fraction(1, SAMPLE_RATE)
        self._resampler: Any = None
        self._reuse: Any = None  # the container, where a new decoder in it is known to equal a new open

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = self._reuse = self._frames = None

    def read(self, clip: AudioClip, first: int, count: int) -> np.ndarray:
        if self._container is None:
            self._open()
        if not self._forward:
            return read_once(clip, first, count, self._reuse)
        start = first_sample(clip, first)
        if not self._chunks or start < self._chunks[0][0] or start > self._cursor + _PREROLL:
            self._seek(start)
        if not self._decode_to(start + count):  # irregular: the reference way, from scratch
            return read_once(clip, first, count, self._reuse)
        out = np.zeros((count, CHANNELS), dtype=np.float32)
        keep: list[tuple[int, np.ndarray]] = []
        for at, samples in self._chunks:
            lo, hi = max(at, start), min(at + len(samples), start + count)
            if hi > lo:
                out[lo - start : hi - start] = samples[lo - at : hi - at]
            if at + len(samples) > start:
                keep.append((at, samples))
        self._chunks = keep  # clips come in source order: what ends before this one is not needed again
        return out

    def _open(self) -> None:
        import av

        where = Where(path=self.path, clip=None)
        try:
            self._container = open_input(self.path)
        except av.error.FFmpegError as exc:
            raise MediaError(f"cannot open for audio ({exc})", where) from None
        stream = self._container.streams.audio[0]
        if stream.time_base is None:
            raise MediaError("the audio stream has no time base", where)
        self._tb = Fraction(stream.time_base)
        ctx = stream.codec_context
        if ctx.sample_rate != SAMPLE_RATE or not ctx.name.startswith("pcm_"):
            # a rate conversion's samples depend on where it started, and so may a decoder's
            # (FFmpeg's AAC decoder: the noise it substitutes follows a generator from its start)
            self._forward = False
            if ctx.name in _FRESH_DECODERS:
                self._reuse = self._container
        else:
            self._resampler = av.AudioResampler(format="flt", layout="stereo", rate=SAMPLE_RATE)

    def _seek(self, start: int) -> None:
        stream = self._container.streams.audio[0]
        begin = Fraction(start, SAMPLE_RATE)
        self._container.seek(max(0, int((begin - 1) / self._tb)), stream=stream, backward=True)
        self._frames = iter(self._container.decode(stream))
        self._chunks, self._ended = [], False
        self._cursor = -1  # set by the first frame with a timestamp

    def _decode_to(self, stop: int) -> bool:
        """Decode up to absolute sample ``stop``; False (and no more reading forward) if irregular."""
        import av

        assert self._frames is not None
        try:
            while not self._ended and (self._cursor < 0 or self._cursor < stop):
                frame = next(self._frames, None)
                if frame is None:
                    self._ended = True
                    break
                if frame.pts is None:
                    continue
                if frame.sample_rate != SAMPLE_RATE:
                    self._forward = False
                    return False
                at = frame.pts * self._tb * SAMPLE_RATE
                if self._cursor < 0:
                    self._cursor = math.floor(at)
                elif at != self._cursor:  # a gap or an overlap: the reference way places it differently
                    self._forward = False
                    return False
                self._cursor += self._append(frame)
        except av.error.FFmpegError as exc:
            raise MediaError(f"the audio does not decode ({exc})", Where(path=self.path, clip=None)) from None
        return True

    def _append(self, frame: Any) -> int:
        """Convert ``frame`` to float stereo at the cursor; how many samples it gave."""
        if _packed_as_is(frame):
            samples = frame.to_ndarray().T  # planar to packed: a copy, as the converter would
        else:
            parts = [rf.to_ndarray().reshape(-1, CHANNELS) for rf in self._resampler.resample(frame)]
            samples = np.concatenate(parts) if parts else np.zeros((0, CHANNELS), np.float32)
        self._chunks.append((self._cursor, np.ascontiguousarray(samples, dtype=np.float32)))
        return len(samples)
