"""The CPU backend: PyAV decode → libavfilter (scale, LUT, rotate, fit) → libx264/libx265.

Frames are selected by presentation timestamp after a seek to the keyframe at
or before the first one needed, so seeking is frame-exact whatever the GOP.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Any

import av
from av.filter import Graph
from av.video.frame import PictureType

from farm.backends import warm
from farm.backends.fills import fill_picture
from farm.backends.host_encode import codec_threads, encode_segment
from farm.backends.schedule import decode_steps, job_where
from farm.errors import MediaError, Where
from farm.look.lutfiles import split_lut_paths
from farm.media.inputs import open_input
from farm.output.spans import StageClock, optional_stage
from farm.planning.units import Geometry, SegmentJob, SourceRef


def filter_spec(
    source: SourceRef,
    geometry: Geometry,
    lut_path: str | None,
    keep_alpha: bool = False,
    pix_fmt: str = "yuv420p",
    out_matrix: str = "bt709",
) -> list[tuple[str, str]]:
    """The libavfilter chain for one clip: every colour and geometry decision, explicit.

    ``keep_alpha`` (a layer of a composited segment): the output is the output's format
    with alpha (:func:`layer_format`), the
    source's alpha kept (straight, not premultiplied) and letterbox padding transparent.
    ``pix_fmt`` is the encoder's: a 10-bit output is converted from the source (or
    the LUT's planar float) straight to 10 bits, never through 8.  ``out_matrix`` is the
    output's Y'CbCr matrix (``bt2020`` for an HDR output, whose LUT ends in BT.2020 R'G'B').
    """
    sw, sh = geometry.stored_scaled_size
    scale_in = (
        f"w={sw}:h={sh}:flags=bicubic:in_color_matrix={source.colorspace}:in_range={source.color_range}"
    )
    if source.chroma_location in CHROMA_POSITIONS:  # where a 4:2:0 source's chroma sits, as tagged
        h, v = CHROMA_POSITIONS[source.chroma_location]
        scale_in += f":in_h_chr_pos={h}:in_v_chr_pos={v}"
    chain: list[tuple[str, str]] = []
    wide = pix_fmt != "yuv420p"  # a 10-bit output: nothing goes through 8 bits
    if source.alpha and not keep_alpha:  # the only layer: over black (colour × alpha), alpha dropped
        chain += [("format", "gbrap16le" if wide else "gbrap"), ("premultiply", "inplace=1")]
    if lut_path is not None:
        # planar float: lut3d has SIMD code for it (about 4x faster than 8-bit gbrp here),
        # and nothing is rounded to 8 bits between the scale and the LUT
        chain += [
            ("scale", scale_in),
            ("format", "gbrapf32le" if keep_alpha else "gbrpf32le"),
            *lut_filters(lut_path),
        ]
    else:
        out_format = layer_format(pix_fmt) if keep_alpha else pix_fmt
        chain += [
            ("scale", scale_in + f":out_color_matrix=bt709:out_range=tv{OUT_SITING}"),
            ("format", out_format),
        ]
    if geometry.rotation == 90:
        chain.append(("transpose", "cclock"))
    elif geometry.rotation == 270:
        chain.append(("transpose", "clock"))
    elif geometry.rotation == 180:
        chain += [("hflip", ""), ("vflip", "")]
    if source.mirrored:  # a front camera's display matrix: the mirror comes after the turn
        chain.append(("hflip", ""))
    W, H = geometry.out_width, geometry.out_height
    if geometry.x < 0 or geometry.y < 0:
        chain.append(("crop", f"{W}:{H}:{max(-geometry.x, 0)}:{max(-geometry.y, 0)}"))
    if geometry.scaled_width < W or geometry.scaled_height < H:
        pad = "black@0" if keep_alpha else "black"
        chain.append(("pad", f"{W}:{H}:{max(geometry.x, 0)}:{max(geometry.y, 0)}:color={pad}"))
    if lut_path is not None:
        out_format = layer_format(pix_fmt) if keep_alpha else pix_fmt
        chain += [
            ("scale", f"out_color_matrix={out_matrix}:out_range=tv{OUT_SITING}"),
            ("format", out_format),
        ]
    chain.append(("setsar", "1"))
    return chain


#: a chroma siting's position in the luma grid, in 1/256 of a luma sample (x, y), as libswscale's
#: ``*_chr_pos`` options take it (FFmpeg's own table; the names also work in FFmpeg's command line 5+)
CHROMA_POSITIONS = {
    "left": (0, 128),
    "center": (128, 128),
    "topleft": (0, 0),
    "top": (128, 0),
    "bottomleft": (0, 256),
    "bottom": (128, 256),
}
#: outputs are written with their chroma where H.264 and HEVC decoders assume it when the stream does
#: not say: left (co-sited horizontally with the first luma column, between two rows)
OUT_SITING = ":out_h_chr_pos=0:out_v_chr_pos=128"


def layer_format(pix_fmt: str) -> str:
    """A composited layer's pixel format: the output's, with alpha (yuva420p, yuva422p10le, ...)."""
    return pix_fmt.replace("yuv", "yuva", 1)


def lut_filters(lut_path: str) -> list[tuple[str, str]]:
    """The LUT stage: ``lut3d``; a look baked behind a 1D shaper is ``lut1d`` (its two halves) then ``lut3d``.

    Both run on planar float, so a 10-bit source keeps its precision through the LUT.
    """
    shaper, table = split_lut_paths(lut_path)
    if shaper.is_file() and table.is_file():
        return [
            ("lut1d", f"file='{_escape(str(shaper))}':interp=linear"),
            ("lut3d", f"file='{_escape(str(table))}':interp=tetrahedral"),
        ]
    return [("lut3d", f"file='{_escape(lut_path)}':interp=tetrahedral")]


def deinterlaced(frames: Iterator[av.VideoFrame], source: SourceRef) -> Iterator[av.VideoFrame]:
    """Every decoded frame through ``bwdif`` (one frame out per frame in, each keeping its pts).

    Deinterlacing comes before any scaling, on the source's own fields and at
    its frame rate; every decoded frame goes through, so the temporal filter
    sees true neighbours, and the selection by pts happens after it.
    """
    graph: Graph | None = None
    parity = "tff" if source.field_order == "tff" else "bff"
    for frame in frames:
        if graph is None:
            graph = _build_graph(
                source, [("bwdif", f"mode=send_frame:parity={parity}:deint=all")], frame.format.name
            )
        graph.push(frame)
        yield from _drain(graph, source.time_base)
    if graph is not None:
        graph.push(None)
        yield from _drain(graph, source.time_base)


def _drain(graph: Graph, time_base: Fraction) -> Iterator[av.VideoFrame]:
    """Frames the deinterlacer has ready, their pts back in the source's time base (bwdif halves it)."""
    while True:
        try:
            frame = graph.vpull()
        except (av.error.BlockingIOError, av.error.EOFError):
            return
        if frame.pts is not None and frame.time_base is not None and Fraction(frame.time_base) != time_base:
            frame.pts = round(frame.pts * Fraction(frame.time_base) / time_base)
            frame.time_base = time_base
        yield frame


def _escape(path: str) -> str:
    return path.replace("\\", "\\\\").replace("'", "\\'").replace(":", "\\:")


def _open(src: SourceRef) -> av.container.InputContainer:
    """Open a source: a file, or an image sequence through FFmpeg's image2 demuxer."""
    if src.sequence_start >= 0:
        rate = 1 / src.time_base
        framerate = f"{rate.numerator}/{rate.denominator}"
        options = {"start_number": str(src.sequence_start), "framerate": framerate}
        return av.open(src.path, format="image2", options=options)
    return open_input(src.path)  # the frames needed are decoded next


def _build_graph(source: SourceRef, chain: list[tuple[str, str]], pix_fmt: str) -> Graph:
    graph = Graph()
    graph.threads = codec_threads()  # a warm worker's share of the cores, like its codecs
    tb = source.time_base
    sar = source.sar
    buffer = graph.add(
        "buffer",
        f"video_size={source.width}x{source.height}:pix_fmt={pix_fmt}:"
        f"time_base={tb.numerator}/{tb.denominator}:pixel_aspect={sar.numerator}/{sar.denominator}",
    )
    node = buffer
    for name, args in chain:
        nxt = graph.add(name, args) if args else graph.add(name)
        node.link_to(nxt)
        node = nxt
    sink = graph.add("buffersink")
    node.link_to(sink)
    graph.configure()
    return graph


def render_segment_cpu(job: SegmentJob, tmp_path: Path, clock: StageClock | None = None) -> dict[str, Any]:
    """Decode, transform and encode ``job`` into ``tmp_path`` (an .mp4). Returns timings.

    ``clock`` (optional) receives the seconds of each stage.
    """
    t0 = time.perf_counter()
    pictures: Iterable[tuple[av.VideoFrame, int]]
    if job.layers:
        from farm.backends.composite import composite_pictures

        pictures = composite_pictures(job, _filtered_frames)
    elif job.source is None:
        pictures = [(fill_picture(job.encode, job.fill, job.encode.pix_fmt), job.count)]
    elif job.reversed:
        # decoded forwards, shown backwards: the segment's distinct frames are held (a chunk's worth)
        pictures = list(_filtered_frames(job, clock))[::-1]
    else:
        pictures = _filtered_frames(job, clock)
    written = encode_segment(job, tmp_path, pictures, clock)
    return {"frames": written, "seconds": time.perf_counter() - t0, "backend": "cpu"}


def _filtered_frames(
    job: SegmentJob, clock: StageClock | None = None, keep_alpha: bool = False
) -> Iterator[tuple[av.VideoFrame, int]]:
    """Yield ``(frame, repeat)``: each distinct source frame of ``job`` through the filter chain, in order.

    Frames are selected by presentation timestamp after a seek to the keyframe
    at or before the first one needed, or after the frames this process last
    decoded from the source when the first one needed is just ahead of them
    (:mod:`farm.backends.warm`).
    """
    assert job.source is not None and job.geometry is not None
    src = job.source
    where = job_where(job)
    steps = decode_steps(job)
    cursor = _cursor(src, steps[0].index, clock, where)
    chain = filter_spec(src, job.geometry, job.lut_path, keep_alpha, job.encode.pix_fmt, job.encode.matrix)
    graph_key: tuple[object, ...] = ()
    i = 0
    kept = False
    try:
        vs = cursor.stream

        def seek() -> None:
            cursor.container.seek(steps[0].pts, stream=vs, backward=True, any_frame=False)

        # a frame's duration in the stream's time base, to decide between continuing and seeking
        step = max(1, round(1 / (vs.guessed_rate * src.time_base))) if vs.guessed_rate else 1
        decoded: Iterator[av.VideoFrame] = warm.frames_from(
            cursor, steps[0].pts, steps[0].index == 0, step, seek
        )
        if src.field_order in ("tff", "bff"):
            decoded = deinterlaced(decoded, src)
        for frame in clock.timed("decode", decoded) if clock else decoded:
            if frame.pts is None or frame.pts < steps[i].pts:
                continue  # frames between the keyframe and the first one needed
            if frame.pts > steps[i].pts:
                raise MediaError(
                    f"source frame at pts {steps[i].pts} is missing "
                    f"(decoder went from before it to {frame.pts})",
                    where,
                )
            with optional_stage(clock, "colour+scale"):
                if not graph_key:
                    graph_key = (src, tuple(chain), job.lut_hash, frame.format.name)
                    graph = warm.graph_for(graph_key, partial(_build_graph, src, chain, frame.format.name))
                graph.push(frame)
                filtered = graph.vpull()
            # the decoder's picture type (I/P/B of the *source*) survives the graph, and libx264
            # obeys it: an all-P source would force an all-P output, ~1.45x the bits at one crf
            filtered.pict_type = PictureType.NONE
            yield filtered, steps[i].repeat
            i += 1
            if i == len(steps):
                break
        if i < len(steps):
            raise MediaError(
                f"the source ended early: {len(steps) - i} of {len(steps)} needed frames could not be "
                "decoded (truncated file?)",
                where,
            )
        kept = True
        if clock is not None:  # recorded with the segment: was the decoder kept from the one before?
            clock.notes["decoder"] = cursor.how
    except av.error.FFmpegError as exc:
        raise MediaError(f"the source does not decode ({exc})", where) from None
    except GeneratorExit:  # the consumer stopped early: the decoder is where it left off
        kept = True
        raise
    finally:
        if kept:
            warm.give_back(src, cursor)
        else:
            cursor.close()
            if graph_key:
                warm.forget_graph(graph_key)


def _cursor(src: SourceRef, first: int, clock: StageClock | None, where: Where) -> warm.Cursor:
    """An open decoder of ``src``: the one this process kept, or a fresh one.

    A segment that starts at the source's first frame on a kept decoder opens
    the source again (an image file cannot seek back).
    """
    try:
        with optional_stage(clock, "decode"):
            cursor = warm.take_cursor(src, _open_threaded)
            if first == 0 and cursor.last_pts is not None:
                cursor.close()
                cursor = warm.take_cursor(src, _open_threaded)
    except av.error.FFmpegError as exc:
        raise MediaError(f"cannot open the source ({exc})", where) from None
    return cursor


def _open_threaded(src: SourceRef) -> av.container.InputContainer:
    """:func:`_open`, its video decoder set to decode in threads (before it is opened)."""
    container = _open(src)
    vs = container.streams.video[0]
    vs.thread_type = "AUTO"
    vs.codec_context.thread_count = codec_threads()
    return container
