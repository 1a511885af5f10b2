"""A clip's source as planning sees it: the frames the sampling rule picks, and how it is drawn.

Pure given the probe: shared by plain segments (``planner.py``) and the layers
of composited ones (``layered.py``), so both pick the same frames and draw the
same picture.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from farm.edit.cut import ClipItem
from farm.edit.project import VariantSpec
from farm.errors import MediaError, Where
from farm.look.bake import plan_look
from farm.media.probe import SourceInfo
from farm.media.sequences import probe_sequence
from farm.planning.units import Geometry, LookJob, SourceRef, fit_geometry

ProbeSource = Callable[[Path, Where], SourceInfo]


@dataclass(frozen=True)
class ClipSource:
    """Everything a segment needs to draw one clip's source."""

    info: SourceInfo
    source: SourceRef
    geometry: Geometry
    lut_path: str | None
    lut_hash: str | None
    look_job: LookJob | None

    @property
    def covers(self) -> bool:
        """Opaque and filling the output frame: nothing below it shows."""
        g = self.geometry
        fills = g.x <= 0 and g.y <= 0 and g.x + g.scaled_width >= g.out_width
        return not self.info.alpha and fills and g.y + g.scaled_height >= g.out_height


def source_ref(info: SourceInfo) -> SourceRef:
    """What a segment needs to know of its source: identity, time base and colour description."""
    return SourceRef(
        path=info.path,
        identity=info.identity,
        time_base=info.time_base,
        colorspace=info.colorspace,
        color_range=info.color_range,
        width=info.width,
        height=info.height,
        sar=info.sar,
        alpha=info.alpha,
        sequence_start=info.sequence_start,
        codec=info.codec,
        bit_depth=info.bit_depth,
        chroma=info.chroma,
        chroma_location=info.chroma_location,
        field_order=info.field_order,
        mirrored=info.mirrored,
    )


def clip_source(
    item: ClipItem, spec: VariantSpec, probe_source: ProbeSource, cache_root: Path | None
) -> ClipSource:
    """Probe the clip's file and decide its geometry and look for ``spec``'s output."""
    out = spec.output
    if item.sequence is not None:
        seq_info = probe_sequence(item.sequence, spec.name, item.name)
        assert isinstance(seq_info, SourceInfo)
        info = seq_info
    else:
        info = probe_source(item.path, Where(variant=spec.name, clip=item.name, path=str(item.path)))
    dw, dh = info.display_size
    geometry = fit_geometry(dw, dh, info.rotation, out.width, out.height, out.fit)
    source = source_ref(info)
    lut_path, lut_hash, look_job = plan_look(
        spec.look, spec.name, info.path, info.identity, cache_root, info=info, output=spec.output
    )
    return ClipSource(info, source, geometry, lut_path, lut_hash, look_job)


def source_frames(
    item: ClipItem, info: SourceInfo, outputs: Sequence[int], rate: Fraction, variant: str
) -> list[int]:
    """The source frame each output frame shows (the sampling rule, with the clip's speed).

    A still shows its one picture for as long as the clip lasts.  A frame
    outside the source (a trim or a transition's handle past its end, a reverse
    past its start) is a :class:`MediaError` naming the clip and the frames.
    """
    if info.still:
        return [0] * len(outputs)
    times = [item.source_time(Fraction(n) / rate) for n in outputs]
    frames = [info.frame_at(st) for st in times]
    if max(frames) >= info.frames or min(times) < 0:
        lo, hi = min(times), max(times)
        raise MediaError(
            f"the clip's range (source {float(lo):.3f}s to {float(hi + 1 / rate):.3f}s) lies outside "
            f"its source, which has {info.frames} frames ({float(info.duration):.3f}s)",
            Where(
                variant=variant, clip=item.name, path=str(item.path), frames=(min(frames), max(frames) + 1)
            ),
            hint="shorten the clip in the cut (a transition needs media beyond the cut), or relink it "
            "to the full-length media",
        )
    return frames
