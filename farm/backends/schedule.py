"""Which decoded frame each output frame shows, and the check on what a backend wrote.

Every backend renders a segment the same way: it decodes each distinct source
frame of the job once, in order (:func:`decode_steps`), shows it in as many
consecutive output frames as the plan repeats it (``DecodeStep.repeat``: more
than one when conforming a slower source up), and writes exactly
``job.count`` frames (:func:`check_frame_count`). Only the decode, kernel and
encode calls differ between backends. Pure: no media library is touched.
"""

from __future__ import annotations

from dataclasses import dataclass

from farm.errors import MediaError, Where
from farm.planning.units import SegmentJob


@dataclass(frozen=True)
class DecodeStep:
    """One distinct source frame to decode, and how many output frames show it."""

    index: int  # source frame number (position in presentation order)
    pts: int  # its presentation time in the source's time base
    repeat: int  # consecutive output frames that show it (1, or more when conforming up)

    def __post_init__(self) -> None:
        if self.repeat < 1:
            raise ValueError(f"a decoded frame is shown at least once, got repeat {self.repeat}")


def decode_steps(job: SegmentJob) -> list[DecodeStep]:
    """The distinct source frames of ``job`` in order, with their timestamps and repeat counts.

    ``job.frame_pts`` holds one timestamp per distinct frame; a job whose
    lists disagree is refused rather than truncated.
    """
    repeats: dict[int, int] = {}
    for f in job.frames:
        repeats[f] = repeats.get(f, 0) + 1
    distinct = sorted(repeats)
    if len(distinct) != len(job.frame_pts):
        raise ValueError(f"{len(distinct)} distinct frames but {len(job.frame_pts)} timestamps")
    return [DecodeStep(f, pts, repeats[f]) for f, pts in zip(distinct, job.frame_pts, strict=True)]


def batches(steps: list[DecodeStep], size: int) -> list[list[DecodeStep]]:
    """Steps in groups of at most ``size`` (NVDEC's surfaces live until the next fetch)."""
    if size < 1:
        raise ValueError(f"batch size must be at least 1, got {size}")
    return [steps[i : i + size] for i in range(0, len(steps), size)]


def job_where(job: SegmentJob) -> Where:
    """Where an error in rendering ``job`` happened: its source and source frame range."""
    return Where(path=job.source.path if job.source else None, frames=job.source_range)


def check_frame_count(written: int, job: SegmentJob) -> None:
    """Raise :class:`MediaError` unless exactly ``job.count`` frames were written."""
    if written != job.count:
        raise MediaError(f"rendered {written} frames, expected {job.count}", job_where(job))
