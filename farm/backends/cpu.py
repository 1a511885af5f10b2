"""The CPU backend: PyAV decode → libavfilter (scale, LUT, rotate, fit) → libx264/libx265.

Frames are selected by presentation timestamp after a seek to the keyframe at
or before the first one needed, so seeking is frame-exact whatever the GOP.
"""

from __future__ import annotations

import os
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from farm.errors import MediaError, Where
from farm.planning.units import EncodeSpec, Geometry, SegmentJob, SourceRef

_ENCODERS = {"h264": "libx264", "hevc": "libx265"}


def codec_threads() -> int:
    """Threads each decoder and encoder of one worker may use (0: the codec decides).

    ``FARM_CODEC_THREADS`` overrides it; the default leaves it to the codec, which
    sizes itself to the machine's cores.
    """
    try:
        return max(0, int(os.environ.get("FARM_CODEC_THREADS", "0")))
    except ValueError:
        return 0


def open_encoder(container, spec: EncodeSpec):  # type: ignore[no-untyped-def]
    """An encoder whose segments can be concatenated: IDR first, closed GOPs, fixed GOP length."""
    stream = container.add_stream(_ENCODERS[spec.codec], rate=spec.fps)
    stream.width = spec.width
    stream.height = spec.height
    stream.pix_fmt = "yuv420p"
    stream.time_base = Fraction(spec.fps.denominator, spec.fps.numerator)
    cc = stream.codec_context
    cc.color_primaries = 1  # BT.709
    cc.color_trc = 1
    cc.colorspace = 1
    cc.color_range = 1  # limited ("tv")
    cc.thread_type = "AUTO"
    cc.thread_count = codec_threads()
    gop = str(spec.gop)
    options = {"crf": str(spec.quality), "preset": spec.preset, "g": gop}
    if spec.codec == "h264":
        # scenecut may add I-frames; open-gop stays off (x264's default) so every GOP is closed
        options["x264-params"] = f"keyint={gop}:min-keyint={min(int(gop), 25)}:open-gop=0"
    else:
        options["x265-params"] = f"keyint={gop}:min-keyint={min(int(gop), 25)}:open-gop=0:log-level=error"
        cc.codec_tag = "hvc1"  # what Apple players need for HEVC in MP4
    cc.options = options
    return stream


def filter_spec(source: SourceRef, geometry: Geometry, lut_path: str | None) -> list[tuple[str, str]]:
    """The libavfilter chain for one clip: every colour and geometry decision, explicit."""
    sw, sh = geometry.stored_scaled_size
    scale_in = (
        f"w={sw}:h={sh}:flags=bicubic:in_color_matrix={source.colorspace}:in_range={source.color_range}"
    )
    chain: list[tuple[str, str]] = []
    if lut_path is not None:
        # planar float: lut3d has SIMD code for it (about 4x faster than 8-bit gbrp here),
        # and nothing is rounded to 8 bits between the scale and the LUT
        chain += [
            ("scale", scale_in),
            ("format", "gbrpf32le"),
            ("lut3d", f"file='{_escape(lut_path)}':interp=tetrahedral"),
        ]
    else:
        chain += [("scale", scale_in + ":out_color_matrix=bt709:out_range=tv"), ("format", "yuv420p")]
    if geometry.rotation == 90:
        chain.append(("transpose", "cclock"))
    elif geometry.rotation == 270:
        chain.append(("transpose", "clock"))
    elif geometry.rotation == 180:
        chain += [("hflip", ""), ("vflip", "")]
    W, H = geometry.out_width, geometry.out_height
    if geometry.x < 0 or geometry.y < 0:
        chain.append(("crop", f"{W}:{H}:{max(-geometry.x, 0)}:{max(-geometry.y, 0)}"))
    if geometry.scaled_width < W or geometry.scaled_height < H:
        chain.append(("pad", f"{W}:{H}:{max(geometry.x, 0)}:{max(geometry.y, 0)}:color=black"))
    if lut_path is not None:
        chain += [("scale", "out_color_matrix=bt709:out_range=tv"), ("format", "yuv420p")]
    chain.append(("setsar", "1"))
    return chain


def _escape(path: str) -> str:
    return path.replace("\\", "\\\\").replace("'", "\\'").replace(":", "\\:")


def _build_graph(stream, source: SourceRef, chain: list[tuple[str, str]], pix_fmt: str):  # type: ignore[no-untyped-def]
    import av

    graph = av.filter.Graph()
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


def _black_frame(spec: EncodeSpec):  # type: ignore[no-untyped-def]
    import av

    frame = av.VideoFrame(spec.width, spec.height, "yuv420p")
    y, u, v = frame.planes
    for plane, value in ((y, 16), (u, 128), (v, 128)):
        plane.update(np.full(plane.buffer_size, value, dtype=np.uint8).tobytes())
    return frame


def render_segment_cpu(job: SegmentJob, tmp_path: Path) -> dict:
    """Decode, transform and encode ``job`` into ``tmp_path`` (an .mp4). Returns timings."""
    import av

    t0 = time.perf_counter()
    spec = job.encode
    written = 0
    with av.open(str(tmp_path), "w", format="mp4") as out:
        stream = open_encoder(out, spec)
        # the muxer rewrites stream.time_base on the first write: keep the encoder's own
        frame_tb = Fraction(spec.fps.denominator, spec.fps.numerator)

        def emit(frame, repeat: int) -> None:  # type: ignore[no-untyped-def]
            nonlocal written
            for _ in range(repeat):
                frame.pts = written
                frame.time_base = frame_tb
                for packet in stream.encode(frame):
                    out.mux(packet)
                written += 1

        if job.source is None:
            emit(_black_frame(spec), job.count)
        else:
            _decode_and_filter(job, emit)
        for packet in stream.encode(None):
            out.mux(packet)
    if written != job.count:
        raise MediaError(
            f"rendered {written} frames, expected {job.count}",
            Where(path=job.source.path if job.source else None, frames=job.source_range),
        )
    return {"frames": written, "seconds": time.perf_counter() - t0, "backend": "cpu"}


def _decode_and_filter(job: SegmentJob, emit) -> None:  # type: ignore[no-untyped-def]
    import av

    assert job.source is not None and job.geometry is not None
    src = job.source
    where = Where(path=src.path, frames=job.source_range)
    # how many output frames each distinct source frame fills, in order
    wanted: list[tuple[int, int]] = []
    repeats: dict[int, int] = {}
    for f in job.frames:
        repeats[f] = repeats.get(f, 0) + 1
    for f, pts in zip(sorted(repeats), job.frame_pts):
        wanted.append((pts, repeats[f]))
    try:
        container = av.open(src.path)
    except av.error.FFmpegError as exc:
        raise MediaError(f"cannot open the source ({exc})", where) from None
    with container:
        vs = container.streams.video[0]
        vs.thread_type = "AUTO"
        vs.codec_context.thread_count = codec_threads()
        container.seek(wanted[0][0], stream=vs, backward=True, any_frame=False)
        chain = filter_spec(src, job.geometry, job.lut_path)
        graph = None
        i = 0
        try:
            for frame in container.decode(vs):
                if frame.pts is None or frame.pts < wanted[i][0]:
                    continue  # frames between the keyframe and the first one needed
                if frame.pts > wanted[i][0]:
                    raise MediaError(
                        f"source frame at pts {wanted[i][0]} is missing (decoder went from before it to {frame.pts})",
                        where,
                    )
                if graph is None:
                    graph = _build_graph(vs, src, chain, frame.format.name)
                graph.push(frame)
                emit(graph.pull(), wanted[i][1])
                i += 1
                if i == len(wanted):
                    break
        except av.error.FFmpegError as exc:
            raise MediaError(f"the source does not decode ({exc})", where) from None
        if i < len(wanted):
            raise MediaError(
                f"the source ended early: {len(wanted) - i} of {len(wanted)} needed frames could not be decoded "
                "(truncated file?)",
                where,
            )
