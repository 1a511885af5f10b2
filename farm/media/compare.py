"""Picture metrics between two videos, computed by libavfilter through PyAV.

``psnr``, ``ssim`` and ``xpsnr`` are filters of every FFmpeg build PyAV ships;
``vmaf`` needs ``libvmaf``, which PyAV's wheels lack: :func:`available_metrics`
says which a build has, and callers report the others as skipped.

PSNR values are in dB and capped at :data:`PSNR_CAP` (identical pictures have
an infinite PSNR, which JSON cannot hold).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import av
import numpy as np
from av.filter import Graph

__all__ = [
    "METRICS",
    "PSNR_CAP",
    "FrameMetrics",
    "PairMeter",
    "VideoComparison",
    "available_metrics",
    "compare_videos",
    "decode_frames",
    "frame_at",
]

#: metric -> (libavfilter filter, the frame metadata key holding its value)
METRICS: dict[str, tuple[str, str]] = {
    "psnr": ("psnr", "lavfi.psnr.psnr_avg"),
    "ssim": ("ssim", "lavfi.ssim.All"),
    "xpsnr": ("xpsnr", "lavfi.xpsnr.xpsnr.y"),
    "vmaf": ("libvmaf", "lavfi.vmaf.score"),
}
#: the PSNR (and XPSNR) of identical pictures, in dB
PSNR_CAP = 100.0


def available_metrics() -> set[str]:
    """The metrics this build of the FFmpeg libraries can compute."""
    have = set(av.filter.filters_available)
    return {name for name, (flt, _) in METRICS.items() if flt in have}


def _value(metadata: dict[str, str], key: str) -> float:
    raw = metadata.get(key)
    if raw is None:
        return math.nan
    value = float(raw)
    return PSNR_CAP if math.isinf(value) else min(value, PSNR_CAP)


class PairMeter:
    """One libavfilter graph measuring ``metrics`` of (main, reference) picture pairs of one size."""

    def __init__(self, metrics: Sequence[str], width: int, height: int, pix_fmt: str = "yuv420p") -> None:
        unknown = [m for m in metrics if m not in available_metrics()]
        if unknown:
            raise ValueError(f"this build of the FFmpeg libraries lacks {', '.join(unknown)}")
        self.metrics = list(metrics)
        self.width, self.height, self.pix_fmt = width, height, pix_fmt
        self._pts = 0
        g = Graph()
        args = f"video_size={width}x{height}:pix_fmt={pix_fmt}:time_base=1/25:pixel_aspect=1/1"
        self._main, self._ref = g.add("buffer", args), g.add("buffer", args)
        n = str(len(self.metrics))
        split_main, split_ref = g.add("split", n), g.add("split", n)
        self._main.link_to(split_main)
        self._ref.link_to(split_ref)
        self._sinks = []
        for i, name in enumerate(self.metrics):
            flt = g.add(METRICS[name][0])
            split_main.link_to(flt, i, 0)
            split_ref.link_to(flt, i, 1)
            sink = g.add("buffersink")
            flt.link_to(sink)
            self._sinks.append(sink)
        g.configure()
        self._graph = g

    def _prepare(self, frame: av.VideoFrame) -> av.VideoFrame:
        if frame.format.name != self.pix_fmt or frame.width != self.width or frame.height != self.height:
            frame = frame.reformat(width=self.width, height=self.height, format=self.pix_fmt)
        frame.pts = self._pts
        frame.time_base = Fraction(1, 25)
        return frame

    def measure(self, main: av.VideoFrame, ref: av.VideoFrame) -> dict[str, float]:
        """Each metric of ``main`` against ``ref`` (the graph takes their timestamps: theirs are kept)."""
        saved = [(f, f.pts, f.time_base) for f in (main, ref)]
        self._main.push(self._prepare(main))
        self._ref.push(self._prepare(ref))
        for f, pts, tb in saved:
            f.pts = pts
            if tb is not None:
                f.time_base = tb
        self._pts += 1
        out = {}
        for name, sink in zip(self.metrics, self._sinks, strict=True):
            frame = sink.pull()
            out[name] = _value(dict(frame.metadata), METRICS[name][1])
        return out


def decode_frames(path: str) -> Iterator[av.VideoFrame]:
    """Every picture of the first video stream of ``path``, in presentation order."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        yield from container.decode(stream)


def frame_at(path: str, index: int) -> av.VideoFrame | None:
    """Picture ``index`` of ``path`` (None past the end)."""
    for i, frame in enumerate(decode_frames(path)):
        if i == index:
            return frame
    return None


@dataclass
class FrameMetrics:
    """One metric over every compared frame: its worst value and where."""

    name: str
    worst: float = math.nan
    worst_frame: int = -1
    total: float = 0.0
    frames: int = 0
    higher_is_better: bool = True

    def add(self, index: int, value: float) -> None:
        if math.isnan(value):
            return
        self.frames += 1
        self.total += value
        if self.worst_frame < 0 or value < self.worst:
            self.worst, self.worst_frame = value, index

    @property
    def mean(self) -> float:
        return self.total / self.frames if self.frames else math.nan


@dataclass
class VideoComparison:
    """Per-metric worst and mean over the frames both videos have."""

    metrics: dict[str, FrameMetrics] = field(default_factory=dict)
    compared: int = 0  # frames compared (the shorter video's count)


def compare_pictures(
    pairs: Iterable[tuple[av.VideoFrame, av.VideoFrame]], metrics: Sequence[str]
) -> VideoComparison:
    """Measure (main, reference) pairs; the meter takes the reference's first picture's size and pixel
    format (a 10-bit reference is measured at 10 bits)."""
    result = VideoComparison({m: FrameMetrics(m) for m in metrics})
    meter: PairMeter | None = None
    for index, (main, ref) in enumerate(pairs):
        if meter is None:
            meter = PairMeter(metrics, ref.width, ref.height, ref.format.name)
        for name, value in meter.measure(main, ref).items():
            result.metrics[name].add(index, value)
        result.compared += 1
    return result


def compare_videos(render: str, golden: str, metrics: Sequence[str]) -> VideoComparison:
    """``render``'s pictures against ``golden``'s, frame by frame, as far as both go."""
    return compare_pictures(zip(decode_frames(render), decode_frames(golden), strict=False), metrics)


def difference_strip(golden: av.VideoFrame, render: av.VideoFrame, gain: float = 8.0) -> np.ndarray:
    """An RGB picture: golden | render | their difference amplified ``gain`` times (black: equal)."""
    g = golden.to_ndarray(format="rgb24")
    r = render.reformat(width=golden.width, height=golden.height).to_ndarray(format="rgb24")
    diff = np.clip(np.abs(g.astype(np.int16) - r.astype(np.int16)) * gain, 0, 255).astype(np.uint8)
    gap = np.full((g.shape[0], 4, 3), 255, dtype=np.uint8)
    return np.concatenate([g, gap, r, gap, diff], axis=1)


def verify_encoded(path: str, fed: Sequence[av.VideoFrame]) -> dict[str, float | int | str]:
    """Decode the segment just written at ``path`` and measure it against the pictures fed to its encoder.

    ``fed`` holds the picture given to the encoder for each output frame, in its
    own format: a 10-bit output is measured at 10 bits (and 4:2:2 or 4:4:4 at its
    own chroma), not after a cut to 8. Returns the worst PSNR and SSIM, where they
    are, the frame counts (a count that differs is a verification failure in
    itself) and the format measured.
    """
    pairs = zip(decode_frames(path), fed, strict=False)
    cmp = compare_pictures(pairs, ["psnr", "ssim"])
    psnr, ssim = cmp.metrics["psnr"], cmp.metrics["ssim"]
    return {
        "frames": cmp.compared,
        "fed": len(fed),
        "psnr_min": round(psnr.worst, 4),
        "psnr_min_frame": psnr.worst_frame,
        "ssim_min": round(ssim.worst, 6),
        "ssim_min_frame": ssim.worst_frame,
        "pix_fmt": fed[0].format.name if fed else "",
    }
