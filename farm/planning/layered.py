"""Composited segments: a run of frames whose visible stack has several layers, or weights.

Each run from ``composite.layer_runs`` that is not plain becomes segments of at
most ``chunk`` frames; each segment lists its layers bottom to top with the
source frame and weight of every output frame.  Its key covers every layer that
shows: the sources and their frames, geometry, colour, look, fill, weights and
masks, and the encoder.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

from farm.edit.cut import ClipItem, GeneratorItem
from farm.edit.project import VariantSpec
from farm.planning.composite import Run
from farm.planning.frameruns import FrameRuns
from farm.planning.keys import content_key, runs
from farm.planning.sources import ClipSource, source_frames
from farm.planning.units import EncodeSpec, Layer, SegmentJob

EMPTY = FrameRuns()  # a fill's frames


def _weights_text(weights: tuple[Fraction, ...]) -> list[list[object]]:
    """Run-length weights for keys: [[weight as 'n/d', count], ...]."""
    out: list[list[object]] = []
    for w in weights:
        text = f"{w.numerator}/{w.denominator}"
        if out and out[-1][0] == text:
            out[-1][1] = int(str(out[-1][1])) + 1
        else:
            out.append([text, 1])
    return out


def composite_segments(
    run: Run,
    spec: VariantSpec,
    encode: EncodeSpec,
    rate: Fraction,
    chunk: int,
    source_of: Callable[[ClipItem], ClipSource],
) -> list[tuple[int, SegmentJob]]:
    """The segments of one composited run: ``(first output frame, job)`` pairs."""
    assert run.entries is not None
    out: list[tuple[int, SegmentJob]] = []
    for first in range(run.start, run.stop, chunk):
        stop = min(first + chunk, run.stop)
        stacks = run.entries[first - run.start : stop - run.start]
        layers: list[Layer] = []
        key_layers: list[object] = []
        for j, entry in enumerate(stacks[0]):
            weights = tuple(stack[j].weight for stack in stacks)
            item = entry.item
            if isinstance(item, GeneratorItem):
                fill = "black" if item.fill.kind == "black" else item.fill.token
                layers.append(Layer(None, fill, None, None, None, EMPTY, (), weights, entry.mask))
                key_layers.append(["fill", fill, _weights_text(weights), entry.mask])
                continue
            cs = source_of(item)
            frames = source_frames(item, cs.info, range(first, stop), rate, spec.name)
            distinct = sorted(set(frames))
            layers.append(
                Layer(
                    source=cs.source,
                    fill="",
                    geometry=cs.geometry,
                    lut_path=cs.lut_path,
                    lut_hash=cs.lut_hash,
                    frames=FrameRuns(frames),
                    frame_pts=tuple(cs.info.frame_pts[f] for f in distinct),
                    weights=weights,
                    mask=entry.mask,
                )
            )
            key_layers.append(
                [
                    cs.info.identity,
                    runs(frames),
                    cs.geometry,
                    [cs.info.colorspace, cs.info.color_range, cs.info.alpha]
                    + ([cs.info.chroma_location] if cs.info.chroma_location else []),
                    cs.lut_hash,
                    _weights_text(weights),
                    entry.mask,
                ]
            )
        count = stop - first
        key = content_key("composite", count=count, layers=key_layers, encode=encode)
        names = "+".join(e.item.name for e in stacks[0])
        job = SegmentJob(
            key=key,
            frames=EMPTY,
            frame_pts=(),
            count=count,
            source=None,
            geometry=None,
            lut_path=None,
            lut_hash=None,
            encode=encode,
            label=f"{spec.name}/{names}",
            layers=tuple(layers),
        )
        out.append((first, job))
    return out


def fill_segments(
    span: range, fill: str, label: str, encode: EncodeSpec, chunk: int
) -> list[tuple[int, SegmentJob]]:
    """Segments of a gap or a generator alone on screen: black, bars or a colour, ``chunk`` at most.

    A transparent generator with nothing below it is black; black keeps the gap's key.
    """
    fill = "black" if fill == "transparent" else fill
    out: list[tuple[int, SegmentJob]] = []
    for first in range(span.start, span.stop, chunk):
        count = min(chunk, span.stop - first)
        key = (
            content_key("black", count=count, encode=encode)
            if fill == "black"
            else content_key("fill", fill=fill, count=count, encode=encode)
        )
        job = SegmentJob(
            key=key,
            frames=EMPTY,
            frame_pts=(),
            count=count,
            source=None,
            geometry=None,
            lut_path=None,
            lut_hash=None,
            encode=encode,
            label=label,
            fill=fill,
        )
        out.append((first, job))
    return out


def mixed_8bit_warnings(variant: str, spans: list[range], bits: int) -> list[str]:
    """Name the composited frames a GPU encoder family mixes at 8 bits 4:2:0 for a deeper output."""
    if not spans:
        return []
    shown = ", ".join(f"[{r.start}, {r.stop})" for r in spans[:5]) + (" ..." if len(spans) > 5 else "")
    return [
        f"variant {variant!r}, output frames {shown}: composited frames are mixed at 8 bits 4:2:0 on the "
        f"nvidia backend and widened to the {bits}-bit output (the cpu backend mixes at {bits} bits)"
    ]
