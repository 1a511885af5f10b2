"""Pictures of a segment on the device: NVDEC or CPU decode, fills, and composited layers.

Every source picture reaches the output frame through the same GPU chain
(:func:`farm.backends.nvidia.frames.compose_frame`: the fused scale + colour +
LUT kernel, turn, mirror, crop, letterbox). Where it is decoded depends on the
source and the GPU at hand (:func:`decode_route`, from the capability table in
:mod:`farm.backends.nvidia.gpu_caps`):

* ``nvdec``: the GPU decodes it (frames stay on the device);
* ``cpu-fallback``: PyAV decodes it on the host (ProRes, 4:2:2, 10-bit H.264,
  AV1 on a GPU whose NVDEC lacks it, stills and image sequences) — interlaced
  sources through the CPU backend's ``bwdif`` first —, converts it to 4:2:0
  at its own depth (NV12, or P010 above 8 bits, so a 10-bit source reaches the
  LUT with its 10 bits) and uploads it, once per distinct frame;
* ``cpu-chain``: a source with an alpha channel, or whose pictures are RGB
  or grey (stills), goes through the CPU backend's whole filter chain (alpha
  kept, straight) and the result is uploaded: no GPU kernel scales alpha or
  converts RGB yet.

Composited segments mix their layers with :mod:`farm.kernels._composite`
(the CUDA kernel on the device; the CPU backend's rule, bit for bit, at 8
bits); a wipe's mask is the CPU backend's own (:mod:`farm.backends.wipes`),
computed on the host and uploaded, so every wipe the CPU backend draws renders
here too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np

from farm.backends.nvidia.gpu_caps import cpu_decode_reason
from farm.backends.nvidia.params import FramePlan, frame_plan, kernel_colour, pts_matches
from farm.backends.schedule import batches, decode_steps
from farm.errors import BackendUnavailableError, MediaError, Where
from farm.kernels._composite import WIPES, finish, mix_layer, new_accumulator
from farm.planning.units import SegmentJob, SourceRef

#: a picture on the device: Y, interleaved UV, straight alpha (None: opaque), repeat count
Picture = tuple[Any, Any, Any | None, int]
NVDEC, CPU_FALLBACK, CPU_CHAIN = "nvdec", "cpu-fallback", "cpu-chain"


def decode_route(src: SourceRef, gpu_id: int) -> tuple[str, str]:
    """``(route, reason)``: where ``src`` is decoded on GPU ``gpu_id``, and why not by NVDEC."""
    from farm.backends.capabilities import probe

    gpu = probe().gpu(gpu_id)
    answer = {c.name: c.supported for c in gpu.nvdec.codecs if c.error is None} if gpu is not None else {}
    reason = cpu_decode_reason(
        src.codec, src.bit_depth, src.chroma, src.field_order, src.alpha, answer or None
    )
    if src.sequence_start >= 0 and reason is None:
        reason = "an image sequence (NVDEC reads streams)"
    if reason is None:
        return NVDEC, ""
    # pictures that are not Y'CbCr (RGB, grey stills) or carry alpha: the CPU backend's exact chain
    chain = src.alpha or src.chroma in ("rgb", "gray")
    return (CPU_CHAIN if chain else CPU_FALLBACK), reason


#: planar 4:2:0 formats packed as they are (no scaler: exact, and a full-range picture stays full range)
_PLANAR_420 = {"yuv420p": 8, "yuvj420p": 8, "yuva420p": 8, "yuv420p10le": 10}


def host_nv12(frame: Any, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """A decoded PyAV frame as host NV12 (``bits`` 8) or P010 (more) planes: 4:2:0, the source's range.

    8- and 10-bit planar 4:2:0 frames are packed directly; others (4:2:2,
    4:4:4, 12-bit) go through swscale, which keeps limited range but would
    move a ``yuvj`` (full-range) picture to limited range: see :func:`host_range`.
    """
    if frame.width % 2 or frame.height % 2:
        raise ValueError(f"a {frame.width}x{frame.height} picture has no 4:2:0 chroma (odd size)")
    wide = bits > 8
    w, h = frame.width, frame.height
    depth = _PLANAR_420.get(frame.format.name)
    if depth is not None:
        y, u, v = (
            _plane(frame, i, depth, rows, cols)
            for i, rows, cols in ((0, h, w), (1, h // 2, w // 2), (2, h // 2, w // 2))
        )
        uv = np.stack([u, v], axis=-1)
        if wide:  # P010: the 10-bit code in the high bits (8-bit codes widened exactly)
            shift = 6 if depth == 10 else 8
            return y.astype(np.uint16) << shift, uv.astype(np.uint16) << shift
        if depth == 10:
            raise ValueError("a 10-bit picture is uploaded as P010, not NV12")
        return y, uv
    converted = frame.reformat(format="p010le" if wide else "nv12")
    dtype = np.uint16 if wide else np.uint8
    planes = []
    for index, rows in ((0, h), (1, h // 2)):
        plane = converted.planes[index]
        data = np.frombuffer(memoryview(plane), dtype).reshape(-1, plane.line_size // dtype().itemsize)
        planes.append(np.ascontiguousarray(data[:rows, :w]))
    return planes[0], planes[1].reshape(h // 2, w // 2, 2)


def host_range(frame: Any, color_range: str) -> str:
    """The range of :func:`host_nv12`'s planes: swscale moves a full-range ``yuvj`` picture it converts
    to limited range (``tv``); packed pictures keep the source's."""
    name = frame.format.name
    return "tv" if name.startswith("yuvj") and name not in _PLANAR_420 else color_range


def _plane(frame: Any, index: int, depth: int, rows: int, cols: int) -> np.ndarray:
    plane = frame.planes[index]
    dtype = np.uint16 if depth > 8 else np.uint8
    data = np.frombuffer(memoryview(plane), dtype).reshape(-1, plane.line_size // dtype().itemsize)
    return np.ascontiguousarray(data[:rows, :cols])


def host_alpha(frame: Any) -> np.ndarray | None:
    """The alpha plane of a yuva420p frame (None for a format without alpha)."""
    if frame.format.name != "yuva420p":
        return None
    plane = frame.planes[3]
    data = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)
    return np.ascontiguousarray(data[: frame.height, : frame.width])


def host_decoded(job: SegmentJob, where: Where) -> Iterator[tuple[Any, int]]:
    """``(frame, repeat)``: each distinct source frame of ``job`` decoded by PyAV, deinterlaced when
    interlaced (the CPU backend's ``bwdif``), selected by timestamp after a seek, unfiltered."""
    import av

    from farm.backends.cpu import _open, deinterlaced

    assert job.source is not None
    src = job.source
    steps = decode_steps(job)
    try:
        container = _open(src)
    except av.error.FFmpegError as exc:
        raise MediaError(f"cannot open the source ({exc})", where) from None
    with container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if steps[0].index > 0:
            container.seek(steps[0].pts, stream=stream, backward=True, any_frame=False)
        i = 0
        try:
            decoded: Iterator[Any] = container.decode(stream)
            if src.field_order in ("tff", "bff"):
                decoded = deinterlaced(decoded, src)
            for frame in decoded:
                if frame.pts is None or frame.pts < steps[i].pts:
                    continue
                if frame.pts > steps[i].pts:
                    raise MediaError(f"source frame at pts {steps[i].pts} is missing", where)
                yield frame, steps[i].repeat
                i += 1
                if i == len(steps):
                    break
        except av.error.FFmpegError as exc:
            raise MediaError(f"the source does not decode ({exc})", where) from None
    if i < len(steps):
        raise MediaError(
            f"the source ended early: {len(steps) - i} needed frames could not be decoded", where
        )


def source_pictures(
    state: Any, job: SegmentJob, where: Where, decodes: dict[str, str], *, keep_alpha: bool, out_bits: int = 8
) -> Iterator[Picture]:
    """Each distinct source frame of ``job`` as an output-size picture on the device, in source order.

    ``decodes`` receives the route of the source (path → ``nvdec`` or
    ``cpu-fallback: why``). The arrays are fresh: a caller may hold them.
    """
    from farm.backends.nvidia.frames import compose_frame
    from farm.backends.nvidia.pipeline import SCALE_FILTER

    assert job.source is not None and job.geometry is not None
    xp, src = state.cp, job.source
    route, reason = decode_route(src, state.gpu_id)
    decodes[src.path] = f"{route}: {reason}" if reason else route
    if route == CPU_CHAIN:
        from farm.backends.cpu import _filtered_frames

        for frame, repeat in _filtered_frames(job, keep_alpha=keep_alpha):
            y, uv = host_nv12(frame, out_bits)
            alpha = host_alpha(frame) if keep_alpha else None
            yield xp.asarray(y), xp.asarray(uv), None if alpha is None else xp.asarray(alpha), repeat
        return
    plan = frame_plan(job.geometry)
    matrix, range_ = kernel_colour(src.colorspace, src.color_range)
    lut = state.lut(job.lut_path, job.lut_hash)

    def composed(y_in: Any, uv_in: Any, repeat: int, in_range: str = range_) -> Picture:
        y, uv = compose_frame(
            xp, y_in, uv_in, plan, lut, matrix, in_range, SCALE_FILTER, src.mirrored, out_bits
        )
        return y, uv, None, repeat

    if route == CPU_FALLBACK:
        for frame, repeat in host_decoded(job, where):
            y_host, uv_host = host_nv12(frame, src.bit_depth)
            in_range = kernel_colour(src.colorspace, host_range(frame, src.color_range))[1]
            yield composed(xp.asarray(y_host), xp.asarray(uv_host), repeat, in_range)
        return
    yield from _nvdec_pictures(state, job, where, composed)


def _nvdec_pictures(state: Any, job: SegmentJob, where: Where, composed: Any) -> Iterator[Picture]:
    from farm.backends.nvidia.codec import frame_timestamp, frame_views
    from farm.backends.nvidia.frames import planes_from_views
    from farm.backends.nvidia.pipeline import DECODE_BATCH

    src = job.source
    assert src is not None
    for batch in batches(decode_steps(job), DECODE_BATCH):
        frames = state.reader.fetch(src.path, [s.index for s in batch], where, src.identity)
        for step, frame in zip(batch, frames, strict=True):
            stamp = frame_timestamp(frame)
            if not pts_matches(stamp, step.pts, src.time_base):
                raise MediaError(
                    f"NVDEC returned the frame at timestamp {stamp} for source frame {step.index}, whose "
                    f"timestamp is {step.pts}: the decoder's frame numbering disagrees with the probe "
                    "(open GOP or edit list?)",
                    where,
                    hint="render this source with --backend cpu",
                )
            y_in, uv_in = planes_from_views(state.cp, frame_views(frame), src.width, src.height)
            yield composed(y_in, uv_in, step.repeat)
        # the next fetch unlocks these surfaces: the kernels reading them must be done
        state.stream.synchronize()


def fill_planes(xp: Any, job: SegmentJob, fill: str, out_bits: int = 8) -> tuple[Any, Any]:
    """A generated fill (black, bars, colour) as a device picture: drawn on the host once, uploaded."""
    from farm.backends.fills import fill_picture

    y, uv = host_nv12(fill_picture(job.encode, fill), out_bits)
    return xp.asarray(y), xp.asarray(uv)


def placement_alpha(xp: Any, plan: FramePlan) -> Any | None:
    """Where a source layer's picture lands: 255 there, 0 in the letterbox (None: it fills the frame)."""
    out_w, out_h = plan.out_size
    _, _, cw, ch = plan.crop
    px, py = plan.paste
    if (px, py, cw, ch) == (0, 0, out_w, out_h):
        return None
    alpha = xp.zeros((out_h, out_w), dtype=xp.uint8)
    alpha[py : py + ch, px : px + cw] = 255
    return alpha


def composite_pictures(
    state: Any, job: SegmentJob, where: Where, decodes: dict[str, str]
) -> Iterator[Picture]:
    """The composited segment's frames on the device: its layers mixed bottom to top over black."""
    xp, spec = state.cp, job.encode
    unknown = sorted({layer.mask for layer in job.layers if layer.mask and layer.mask not in WIPES})
    if unknown:  # a mask the planner may name and no backend draws (farm.backends.wipes)
        raise BackendUnavailableError(
            f"the nvidia backend cannot draw the {', '.join(unknown)} transition ({job.label})",
            where,
            hint="use --backend cpu",
        )
    layers: list[dict[int, tuple[Any, Any, Any | None]]] = []
    for layer in job.layers:
        if layer.source is None or layer.geometry is None:
            y, uv = fill_planes(xp, job, layer.fill)
            layers.append({-1: (y, uv, None)})
            continue
        sub = replace(
            job,
            frames=layer.frames,
            frame_pts=layer.frame_pts,
            source=layer.source,
            geometry=layer.geometry,
            lut_path=layer.lut_path,
            lut_hash=layer.lut_hash,
            layers=(),
        )
        placed = placement_alpha(xp, frame_plan(layer.geometry))
        pictures = source_pictures(state, sub, where, decodes, keep_alpha=True)
        distinct = sorted(set(layer.frames))
        layers.append(
            {
                f: (y, uv, placed if a is None else a)
                for f, (y, uv, a, _) in zip(distinct, pictures, strict=True)
            }
        )
    for k in range(job.count):
        acc_y, acc_uv = new_accumulator(xp, spec.width, spec.height)
        for layer, pictures_of in zip(job.layers, layers, strict=True):
            y, uv, alpha = pictures_of[layer.frames[k] if layer.source is not None else -1]
            mix_layer(acc_y, acc_uv, y, uv, alpha, float(layer.weights[k]), layer.mask)
        y_out, uv_out = finish(acc_y, acc_uv)
        yield y_out, uv_out, None, 1
