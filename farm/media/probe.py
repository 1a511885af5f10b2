"""Probe a source once: size, rate, rotation, colour, frame timestamps, audio.

The probe demuxes every video packet (cheap: no decoding) so that frame
numbers, keyframes and variable frame rates are known exactly, and decodes the
first frame to prove the file is video and to read what only frames carry
(rotation, colour tags).  Results are cached by the source's identity.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from fractions import Fraction
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from farm.edit.timing import source_frame_cfr, source_frame_vfr
from farm.errors import MediaError, MissingInputError, OutputError, Where
from farm.media.frame_tags import (
    COLOUR_MATRICES,
    colour_description,
    display_orientation,
    frame_colour,
    has_alpha,
)
from farm.media.inputs import open_input
from farm.output.activity import doing
from farm.output.atomic import write_text_atomic

if TYPE_CHECKING:
    import av
    import av.video.stream

_PROBE_VERSION = 8
_HEAD_TAIL = 1 << 20


@lru_cache(maxsize=1)
def codec_library_versions() -> dict[str, Any]:
    """PyAV's version and its FFmpeg libraries' (libavcodec...): what decides encoded bytes."""
    try:
        import av
    except ImportError:  # pragma: no cover - av is a hard dependency
        return {}
    return {"av": av.__version__, "libs": {k: list(v) for k, v in av.library_versions.items()}}


def source_identity(path: Path) -> str:
    """A cheap, stable identity: size, mtime and a hash of the head and tail."""
    st = path.stat()
    h = hashlib.sha256()
    h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
    with path.open("rb") as f:
        h.update(f.read(_HEAD_TAIL))
        if st.st_size > _HEAD_TAIL:
            f.seek(max(st.st_size - _HEAD_TAIL, _HEAD_TAIL))
            h.update(f.read(_HEAD_TAIL))
    return h.hexdigest()[:32]


@dataclass(frozen=True)
class SourceInfo:
    """Everything planning needs to know about one source file."""

    path: str
    identity: str
    codec: str
    width: int  # coded (stored) size
    height: int
    pix_fmt: str
    sar: Fraction  # sample aspect ratio (1 when square or unknown)
    rotation: int  # display rotation, counter-clockwise degrees: 0, 90, 180 or 270
    colorspace: str  # matrix used to decode: bt709 | bt601 | bt2020
    colorspace_tagged: bool  # False: decided from the size (untagged HD is BT.709)
    color_range: str  # tv | pc
    rate: Fraction  # exact frame rate (the average one when vfr)
    vfr: bool  # frames are sampled by timestamp
    time_base: Fraction
    frame_pts: tuple[int, ...]  # presentation times of every frame, in time_base, sorted
    keyframes: tuple[int, ...]  # indices of frames a decoder can start at
    has_audio: bool
    audio_rate: int
    audio_channels: int
    still: bool = False  # a single picture (PNG, TIFF, JPEG...): held for as long as a clip lasts
    alpha: bool = False  # the pixels carry alpha (PNG/TIFF with transparency, ProRes 4444...)
    sequence_start: int = -1  # an image sequence (``path`` a pattern): its first image's number
    # the whole colour description (see farm/look/chain.py for how it is used); "" = not tagged
    primaries: str = ""  # bt709 | bt470bg | smpte170m | bt2020 | smpte431 | smpte432 | ...
    transfer: str = ""  # bt709 | smpte170m | iec61966-2-1 | bt2020-10 | smpte2084 | arib-std-b67 | ...
    bit_depth: int = 8  # bits per component of the decoded pictures
    chroma: str = "4:2:0"  # 4:2:0 | 4:2:2 | 4:4:4 | 4:1:1 | 4:4:0 | rgb | gray
    chroma_location: str = ""  # 4:2:0 chroma siting: left | topleft | center | ... ("" not said)
    field_order: str = "progressive"  # progressive | tff | bff (interlaced, top or bottom field first)
    mirrored: bool = False  # the display matrix flips the picture horizontally (after ``rotation``)
    mastering_max_nits: float | None = None  # HDR mastering display peak (SMPTE ST 2086), when carried
    mastering_min_nits: float | None = None
    max_cll: int | None = None  # content light level (CTA-861.3): brightest pixel, cd/m²
    max_fall: int | None = None  # brightest frame average, cd/m²
    dolby_vision: bool = False  # Dolby Vision RPUs or configuration present (read as its base layer)

    @property
    def interlaced(self) -> bool:
        return self.field_order in ("tff", "bff")

    @property
    def frames(self) -> int:
        return len(self.frame_pts)

    @property
    def start_pts(self) -> int:
        return self.frame_pts[0]

    @cached_property
    def frame_times(self) -> tuple[Fraction, ...]:
        """Presentation time of each frame in seconds from the first frame."""
        tb, p0 = self.time_base, self.frame_pts[0]
        return tuple((p - p0) * tb for p in self.frame_pts)

    @property
    def duration(self) -> Fraction:
        """Seconds from the first frame to the end of the last one."""
        if self.vfr:
            times = self.frame_times
            last = times[-1] - times[-2] if len(times) > 1 else 1 / self.rate
            return times[-1] + last
        return Fraction(self.frames) / self.rate

    def frame_at(self, source_time: Fraction) -> int:
        """The source frame on screen at ``source_time`` (seconds from the first frame)."""
        if self.vfr:
            return source_frame_vfr(source_time, self.frame_times)
        return source_frame_cfr(source_time, self.rate)

    @property
    def display_size(self) -> tuple[Fraction, Fraction]:
        """Width and height of the picture as shown: SAR applied, then rotation."""
        w, h = Fraction(self.width) * self.sar, Fraction(self.height)
        return (h, w) if self.rotation in (90, 270) else (w, h)

    def to_json(self) -> str:
        d = asdict(self)
        for k in ("sar", "rate", "time_base"):
            d[k] = [d[k].numerator, d[k].denominator]
        return json.dumps(d)

    @classmethod
    def from_json(cls, text: str) -> SourceInfo:
        d = json.loads(text)
        for k in ("sar", "rate", "time_base"):
            d[k] = Fraction(*d[k])
        d["frame_pts"] = tuple(d["frame_pts"])
        d["keyframes"] = tuple(d["keyframes"])
        return cls(**d)


def probe(path: Path, cache_dir: Path | None = None, where: Where | None = None) -> SourceInfo:
    """Probe ``path`` (cached under ``cache_dir/probe`` by identity)."""
    where = where or Where()
    where = Where(variant=where.variant, clip=where.clip, path=str(path))
    if not path.exists():
        raise MissingInputError("media file not found", where, hint="check the clip's media path")
    if not path.is_file():
        raise MediaError("media path is not a file", where)
    identity = source_identity(path)
    cached = cache_dir / "probe" / f"{identity}.v{_PROBE_VERSION}.json" if cache_dir else None
    if cached is not None and cached.is_file():
        try:
            info = SourceInfo.from_json(cached.read_text())
            if info.path == str(path):
                return info
        except (ValueError, TypeError, KeyError):
            pass  # a stale or damaged probe is simply redone
    with doing("probing the source", where):
        info = _probe_uncached(path, identity, where)
    if cached is not None:
        text = info.to_json()
        try:
            write_text_atomic(cached, text)
        except OSError as exc:
            from farm.output.cache import is_no_space, no_space_error

            if is_no_space(exc):
                raise no_space_error(cached.parent.parent, "the probe cache", len(text)) from None
            raise OutputError(
                f"cannot write the probe cache ({exc.strerror})", Where(path=str(cached))
            ) from None
    return info


def _probe_uncached(path: Path, identity: str, where: Where) -> SourceInfo:
    import av

    try:
        container = open_input(path)  # the first frame is decoded below
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        # FFmpeg's errors carry its own words in strerror; a UnicodeDecodeError (metadata
        # that is not text) has no strerror at all
        detail = (exc.strerror if isinstance(exc, av.error.FFmpegError) else None) or exc
        raise MediaError(f"cannot open: not a readable media file, or truncated ({detail})", where) from None
    with container:
        if not container.streams.video:
            raise MediaError("the file has no video stream", where)
        stream = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        if stream.time_base is None:
            raise MediaError("video stream has no time base", where)
        tb = Fraction(stream.time_base)
        # the container's colour tags, read before decoding (a decoder overwrites them with the frames')
        cc0 = stream.codec_context
        stream_tags = (int(cc0.color_primaries or 0), int(cc0.color_trc or 0), int(cc0.colorspace or 0))

        pts: list[int] = []
        key_pts: set[int] = set()
        discarded = 0
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue  # the flush packet
                if packet.is_discard:
                    discarded += 1
                    continue  # before the edit list's start: decoded for reference, never shown
                p = packet.pts if packet.pts is not None else packet.dts
                if p is None:
                    raise MediaError("a video packet has no timestamp", where)
                if packet.is_corrupt:
                    raise MediaError(f"corrupt video packet at pts {p}", where)
                pts.append(p)
                if packet.is_keyframe:
                    key_pts.add(p)
        except av.error.FFmpegError as exc:
            raise MediaError(
                f"the file is damaged or truncated after {len(pts)} frames ({exc})", where
            ) from None
        declared = stream.frames
        if declared and len(pts) + discarded < declared:
            raise MediaError(
                f"the file is truncated: its index lists {declared} frames, only {len(pts)} can be read",
                where,
            )
        if not pts:
            raise MediaError("the video stream has no frames", where)
        pts.sort()
        if len(set(pts)) != len(pts):
            raise MediaError("video frames with duplicate timestamps", where)

        # decode the first frame: proves the stream decodes; carries rotation and colour
        container.seek(0)
        # one thread: no frame thread of this decoder may still be running (and logging) when the
        # siting read (farm.media.siting) briefly installs PyAV's Python log callback, which a
        # libav thread can then deadlock on while this thread frees the decoder
        stream.thread_type = "NONE"
        first = None
        try:
            for frame in container.decode(stream):
                first = frame
                break
            if first is None and len(pts) == 1:
                first = _first_frame_reopened(path)  # image pipes (a JPEG still) do not seek back
        except av.error.FFmpegError as exc:
            raise MediaError(f"the video does not decode ({exc})", where) from None
        if first is None:
            raise MediaError("no video frame could be decoded", where)

        rate, vfr = _rate(pts, tb, stream)
        try:
            rotation, mirrored = display_orientation(first)
        except ValueError as exc:
            raise MediaError(str(exc), where) from None
        colorspace, tagged, full_range = frame_colour(first)
        if not tagged and stream_tags[2] in COLOUR_MATRICES:
            colorspace, tagged = COLOUR_MATRICES[stream_tags[2]], True
        description = colour_description(first, stream, stream_tags)
        pix_fmt = first.format.name
        color_range = "pc" if full_range else "tv"
        sar = stream.sample_aspect_ratio
        sar_f = Fraction(sar) if sar and sar.numerator > 0 else Fraction(1)
        still = len(pts) == 1 and (
            container.format.name.endswith("_pipe") or container.format.name == "image2"
        )
        index = {p: i for i, p in enumerate(pts)}
        keyframes = tuple(sorted(index[p] for p in key_pts)) or (0,)
        return SourceInfo(
            path=str(path),
            identity=identity,
            codec=stream.codec_context.name,
            width=first.width,
            height=first.height,
            pix_fmt=pix_fmt,
            sar=sar_f,
            rotation=rotation,
            mirrored=mirrored,
            colorspace=colorspace,
            colorspace_tagged=tagged,
            color_range=color_range,
            rate=rate,
            vfr=vfr,
            time_base=tb,
            frame_pts=tuple(pts),
            keyframes=keyframes,
            has_audio=audio is not None,
            audio_rate=int(audio.rate or 0) if audio is not None else 0,
            audio_channels=int(audio.channels or 0) if audio is not None else 0,
            still=still,
            alpha=has_alpha(pix_fmt),
            **description,
        )


def _first_frame_reopened(path: Path) -> av.VideoFrame | None:
    import av

    with av.open(str(path)) as container:
        container.streams.video[0].thread_type = "NONE"  # as in the probe: no decoder threads
        for frame in container.decode(container.streams.video[0]):
            decoded: av.VideoFrame = frame
            return decoded
    return None


def _rate(pts: list[int], tb: Fraction, stream: av.video.stream.VideoStream) -> tuple[Fraction, bool]:
    """The exact rate from the frame timestamps; vfr when they are not evenly spaced."""
    if len(pts) >= 2:
        steps = {b - a for a, b in zip(pts, pts[1:], strict=False)}
        if len(steps) == 1:
            return 1 / (steps.pop() * tb), False
        # containers with coarse time bases jitter by one tick around an exact rate
        lo, hi = min(steps), max(steps)
        if hi - lo <= 1 and stream.average_rate:
            avg = Fraction(stream.average_rate)
            if all(abs((p - pts[0]) * tb * avg - i) < Fraction(1, 2) for i, p in enumerate(pts)):
                return _tidy(avg), False
        total = (pts[-1] - pts[0]) * tb
        return Fraction(len(pts) - 1) / total if total > 0 else Fraction(1), True
    guess = stream.average_rate or stream.guessed_rate or stream.base_rate
    return (_tidy(Fraction(guess)) if guess else Fraction(24)), False


def _tidy(rate: Fraction) -> Fraction:
    return rate.limit_denominator(1001)
