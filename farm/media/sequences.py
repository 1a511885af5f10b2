"""Image sequences (OTIO ``ImageSequenceReference``): numbered stills played at their own rate.

A sequence is read through FFmpeg's ``image2`` demuxer (``name.%04d.exr`` from
``start``), so the rest of farm treats it as a source whose frame ``k`` is image
number ``start + k`` at ``k / rate`` seconds.  Every image is checked before
anything renders: missing ones are an error naming the frame numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

from farm.errors import MediaError, MissingInputError, Where


@dataclass(frozen=True)
class Sequence:
    """Images ``pattern % n`` for n in ``[start, start + count)``, shown at ``rate``."""

    pattern: str  # absolute path with one printf number field, e.g. /shots/a.%04d.exr
    start: int  # the first image's number
    count: int  # images in the sequence
    rate: Fraction  # images per second

    def file(self, number: int) -> Path:
        return Path(self.pattern % number)


def _ranges(numbers: list[int]) -> str:
    out: list[str] = []
    for n in numbers:
        if out and out[-1].split("-")[-1] == str(n - 1):
            out[-1] = f"{out[-1].split('-')[0]}-{n}"
        else:
            out.append(str(n))
    return ", ".join(out)


@lru_cache(maxsize=256)
def probe_sequence(seq: Sequence, variant: str | None = None, clip: str | None = None) -> object:
    """The sequence as a :class:`farm.media.probe.SourceInfo` (typed loosely to avoid an import cycle)."""
    import hashlib

    import av

    from farm.media.frame_tags import frame_colour, has_alpha
    from farm.media.probe import SourceInfo

    where = Where(variant=variant, clip=clip, path=seq.pattern)
    missing = [n for n in range(seq.start, seq.start + seq.count) if not seq.file(n).is_file()]
    if missing:
        raise MissingInputError(
            f"the image sequence is missing frames {_ranges(missing)} "
            f"(of {seq.start}-{seq.start + seq.count - 1})",
            where,
            hint="render or copy the missing images, or shorten the clip",
        )
    h = hashlib.sha256(f"{seq.pattern}:{seq.start}:{seq.count}:{seq.rate}".encode())
    for n in range(seq.start, seq.start + seq.count):
        st = seq.file(n).stat()
        h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
    try:
        with av.open(str(seq.file(seq.start))) as c:
            first = next(c.decode(video=0))
    except (av.error.FFmpegError, StopIteration) as exc:
        raise MediaError(f"the sequence's first image does not decode ({exc})", where) from None
    colorspace, tagged, full = frame_colour(first)
    return SourceInfo(
        path=seq.pattern,
        identity=h.hexdigest()[:32],
        codec="image2",
        width=first.width,
        height=first.height,
        pix_fmt=first.format.name,
        sar=Fraction(1),
        rotation=0,
        colorspace=colorspace,
        colorspace_tagged=tagged,
        color_range="pc" if full else "tv",
        rate=seq.rate,
        vfr=False,
        time_base=1 / seq.rate,
        frame_pts=tuple(range(seq.count)),
        keyframes=tuple(range(seq.count)),
        has_audio=False,
        audio_rate=0,
        audio_channels=0,
        alpha=has_alpha(first.format.name),
        sequence_start=seq.start,
    )
