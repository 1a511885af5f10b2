"""The nvidia backend: NVDEC → CuPy → NVENC, or NVDEC → CuPy → libx264/libx265 where there is no NVENC.

A segment is decoded with PyNvVideoCodec (frames stay on the GPU; CuPy arrays
are built from each plane's pointer with byte strides, with neither a copy nor
a host sync), converted, graded, scaled and placed by the fused kernel on the
worker's one CUDA stream, then

* ``family == "nvenc"``: encoded by NVENC (IDR first, fixed GOP whose every
  I-frame is an IDR, constant QP, P1–P7) and muxed by PyAV from Annex-B
  without re-encoding (:mod:`farm.backends.nvidia.mux`);
* ``family == "nvdec+cpu"``: copied to the host once, after scaling (into
  pinned buffers, on a second stream, :mod:`farm.backends.nvidia.transfer`),
  and encoded by the host encoder the CPU backend uses too
  (:mod:`farm.backends.host_encode`). H100, H200 and A100 have NVDEC but no
  NVENC.

Which source frames to decode and how often each is shown is the schedule
both backends share (:mod:`farm.backends.schedule`). Where each source is
decoded (NVDEC, or PyAV on the host for what NVDEC cannot), fills and
composited segments are :mod:`farm.backends.nvidia.layers`; the route of every
source is in the segment's record (``decode``).

The family is part of the segment key and is decided when planning
(:func:`encode_family`); a worker asked for a family it cannot produce fails
with :class:`BackendUnavailableError` (exit 69) — it never substitutes another.

Importing this module imports neither CuPy nor PyNvVideoCodec. The GPU state
(stream, decoder session, compiled kernels, LUT tables) lives in one
per-process :class:`GpuState`, so a long-lived worker (a Ray actor, or the
process of ``InProcessExecutor``) keeps it warm across segments.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from farm.backends.capabilities import probe
from farm.backends.nvidia.params import (
    FAMILY_NVDEC_HOST,
    FAMILY_NVENC,
    family_for,
    keyframes_expected,
    nvenc_options,
)
from farm.backends.schedule import check_frame_count, job_where
from farm.errors import BackendUnavailableError, InternalError, Where
from farm.kernels import Array, Lut
from farm.planning.units import SegmentJob

#: decoded surfaces fetched at once (they stay locked until the next fetch)
DECODE_BATCH = int(os.environ.get("FARM_NVDEC_BATCH", "8"))
#: resampling filter of the fused kernel; the CPU backend's swscale uses bicubic too
SCALE_FILTER = "bicubic"
#: NVENC sessions: one per segment, closed with it. Reusing a session after ``EndEncode`` (with a
#: forced IDR) is not something NVENC documents, and what creating a session costs has not been
#: measured on an NVENC GPU yet; the former ``FARM_NVENC_REUSE`` switch is gone until both are.


def encode_family(backend: str, *, nvenc: bool | None = None) -> str:
    """The ``EncodeSpec.family`` the planner must set for segments rendered by ``backend``.

    ``"cpu"`` for the CPU backend. For ``"nvidia"``: ``"nvenc"`` where the
    GPUs encode, ``"nvdec+cpu"`` where they do not (decode and pixels on the
    GPU, libx264/libx265 on the host). ``nvenc=None`` asks this machine's
    first GPU; on a cluster pass what the workers advertise (the ``nvenc``
    resource of :func:`farm.backends.resources.node_resources`), since the
    driver may have no GPU.
    """
    if backend == "nvidia" and nvenc is None:
        nvenc = has_nvenc()
    return family_for(backend, bool(nvenc))


def has_nvenc(codec: str = "h264", gpu_id: int = 0) -> bool:
    """Whether this machine's GPU ``gpu_id`` has an NVENC that encodes ``codec`` (False without a GPU)."""
    return probe().has_nvenc(codec, gpu_id)


def pipeline_summary(gpu_id: int = 0) -> str:
    """One line for the render report: which GPU and what the frames go through."""
    gpu = probe().gpu(gpu_id)
    name = gpu.name if gpu is not None else f"GPU {gpu_id}"
    if has_nvenc(gpu_id=gpu_id):
        return f"{name}: NVDEC → CuPy → NVENC (frames stay on the GPU)"
    return (
        f"{name} has NVDEC but no NVENC: NVDEC → CuPy, then frames cross to the host once, "
        "after scaling, for libx264/libx265"
    )


# ------------------------------------------------------------------ warm state


@dataclass
class GpuState:
    """What a GPU worker keeps between segments."""

    cp: Any  # the cupy module
    gpu_id: int
    stream: Any  # the worker's one cupy.cuda.Stream
    reader: Any  # codec.NvdecReader
    luts: dict[tuple[str | None, str | None], Lut] = field(default_factory=dict)
    copies: dict[tuple[int, int], Any] = field(default_factory=dict)  # transfer.HostCopies by size
    segments: int = 0

    def lut(self, path: str | None, digest: str | None) -> Lut:
        """The segment's look as a Lut (identity without one); device tables are memoised by farm.kernels."""
        key = (path, digest)
        if key not in self.luts:
            from farm.kernels import identity_lut, read_cube

            self.luts[key] = identity_lut(2) if path is None else read_cube(path)
        return self.luts[key]


_state: GpuState | None = None


def gpu_state() -> GpuState:
    """This process's GPU state, created on first use (CuPy and PyNvVideoCodec are imported here)."""
    global _state
    if _state is None:
        from farm.backends.nvidia.codec import NvdecReader, pynvvideocodec

        try:
            import cupy as cp
        except ImportError as exc:
            raise BackendUnavailableError(
                f"CuPy is not importable ({exc})", hint="pip install 'farm[gpu]', or use --backend cpu"
            ) from exc
        try:
            if cp.cuda.runtime.getDeviceCount() < 1:
                raise BackendUnavailableError("no CUDA GPU is visible", hint="use --backend cpu")
        except BackendUnavailableError:
            raise
        except Exception as exc:
            raise BackendUnavailableError(
                f"no working CUDA driver ({exc})", hint="use --backend cpu"
            ) from exc
        pynvvideocodec()
        gpu_id = cp.cuda.Device().id
        stream = cp.cuda.Stream(non_blocking=True)
        _state = GpuState(cp=cp, gpu_id=gpu_id, stream=stream, reader=NvdecReader(gpu_id, stream.ptr))
    return _state


# ------------------------------------------------------------------ rendering


def refuse_unsupported(job: SegmentJob) -> None:
    """Exit 69 for what this backend would render wrong: 10-bit and ProRes outputs through NVENC.

    Sources NVDEC cannot decode are decoded on the CPU (:mod:`farm.backends.nvidia.layers`);
    10-bit and ProRes outputs are written by the host encoder (the ``nvdec+cpu`` family,
    H100/H200/A100); farm does not drive NVENC's 10-bit HEVC yet.
    """
    spec = job.encode
    if spec.family == FAMILY_NVENC and (spec.bit_depth != 8 or spec.codec == "prores"):
        raise BackendUnavailableError(
            f"the nvidia backend cannot encode a {spec.bit_depth}-bit {spec.codec} output with NVENC yet",
            job_where(job),
            hint="render this project with --backend cpu, or on a GPU without NVENC (host encoder)",
        )


def out_bits(job: SegmentJob) -> int:
    """Depth of the device pictures: 10 (P010) for a 10-bit output of a single source, else 8 (NV12).

    Composited segments are mixed at 8 bits (NV12 layers, an 8-bit accumulator rounded to NV12),
    so a composited segment of a 10-bit output carries 8-bit 4:2:0 codes that the host encoder
    widens to the output's depth and chroma; the CPU backend mixes such a segment at 10 bits in
    the output's chroma, so there the two backends' pictures differ by up to that rounding.
    """
    return 10 if job.encode.bit_depth == 10 and not job.layers else 8


def render_segment_nvidia(job: SegmentJob, tmp_path: Path) -> dict[str, Any]:
    """Decode, transform and encode ``job`` into ``tmp_path`` (an .mp4) on the GPU. Returns timings."""
    from farm.output.spans import current_clock

    t0 = time.perf_counter()
    family = job.encode.family
    where = job_where(job)
    if family not in (FAMILY_NVENC, FAMILY_NVDEC_HOST):
        raise BackendUnavailableError(
            f"the nvidia backend renders the {FAMILY_NVENC!r} and {FAMILY_NVDEC_HOST!r} encoder families, "
            f"not {family!r}",
            where,
            hint="plan with farm.backends.nvidia.pipeline.encode_family('nvidia'): "
            "keys must name the bytes written",
        )
    refuse_unsupported(job)
    decodes: dict[str, str] = {}  # source path -> nvdec | cpu-fallback: why | cpu-chain: why
    if family == FAMILY_NVDEC_HOST and job.source is None and not job.layers:
        # a gap or a generator: nothing to decode, and the host encoder writes it
        from farm.backends.fills import fill_picture
        from farm.backends.host_encode import black_picture, encode_segment

        picture = black_picture(job.encode) if job.fill == "black" else fill_picture(job.encode, job.fill)
        written = encode_segment(job, tmp_path, [(picture, job.count)])
        info: dict[str, Any] = {"frames": written, "encoder": _host_encoder(job), "gpu": False}
    else:
        state = gpu_state()
        with state.stream:
            if family == FAMILY_NVENC:
                info = _render_nvenc(state, job, tmp_path, where, decodes)
            else:
                info = _render_host_encode(state, job, tmp_path, where, decodes)
        state.segments += 1
    check_frame_count(info["frames"], job)
    if decodes:
        info["decode"] = decodes
        clock = current_clock()
        if clock is not None:  # lands in the segment's record in the cache (its .json)
            clock.notes["decode"] = decodes
    return {**info, "backend": "nvidia", "seconds": time.perf_counter() - t0}


def _host_encoder(job: SegmentJob) -> str:
    from farm.backends.host_encode import encoder_name

    return encoder_name(job.encode) + " on the host (no NVENC)"


def _frames(
    state: GpuState, job: SegmentJob, where: Where, decodes: dict[str, str]
) -> Iterator[tuple[Array, Array, int]]:
    """Yield ``(y, uv, repeat)``: every distinct output picture of ``job`` on the device, in order.

    NV12, or P010 where :func:`out_bits` says 10. A fill is drawn once; a
    composited segment mixes its layers; a clip played backwards is decoded
    forwards, held, and shown backwards (a segment's worth of pictures).
    """
    from farm.backends.nvidia.layers import composite_pictures, fill_planes, source_pictures

    bits = out_bits(job)
    if job.layers:
        pictures = composite_pictures(state, job, where, decodes)
    elif job.source is None:
        y, uv = fill_planes(state.cp, job, job.fill, bits)
        yield y, uv, job.count
        return
    else:
        pictures = source_pictures(state, job, where, decodes, keep_alpha=False, out_bits=bits)
        if job.reversed:
            pictures = iter(list(pictures)[::-1])
    for y, uv, _, repeat in pictures:
        yield y, uv, repeat


def _render_nvenc(
    state: GpuState, job: SegmentJob, tmp_path: Path, where: Where, decodes: dict[str, str]
) -> dict[str, Any]:
    from farm.backends.nvidia.codec import NvencSession, encode_frames
    from farm.backends.nvidia.frames import EncoderInput, nv12_surface
    from farm.backends.nvidia.mux import encoder_output_pictures, mux_annexb

    cp = state.cp
    spec = job.encode
    options = nvenc_options(spec)
    session = NvencSession.create(state.gpu_id, state.stream.ptr, spec.width, spec.height, options)
    surface = cp.empty((spec.height * 3 // 2, spec.width), dtype=cp.uint8)
    t_decode = time.perf_counter()
    surfaces = (
        (EncoderInput(nv12_surface(cp, y, uv, surface)), repeat)
        for y, uv, repeat in _frames(state, job, where, decodes)
    )
    outputs = encode_frames(session, surfaces)
    t_encode = time.perf_counter()
    # no B-frames (options "bf": "0"): NVENC emits pictures in display order, which is the order fed
    pictures = encoder_output_pictures(spec.codec, outputs)
    if len(pictures) != job.count:
        raise InternalError(f"NVENC returned {len(pictures)} pictures for {job.count} frames", where)
    result = mux_annexb(tmp_path, spec.codec, pictures, spec.fps)
    expected = keyframes_expected(job.count, spec.gop)
    if list(result.keyframes) != expected:
        raise InternalError(
            f"NVENC put IDR pictures at {list(result.keyframes)}, the segment needs exactly {expected} "
            "(IDR first, fixed GOP)",
            where,
        )
    return {
        "frames": result.frames,
        "encoder": f"nvenc {options['preset']} constqp {options['constqp']}",
        "extradata_sha256": result.extradata_sha256,
        "decode_and_encode_seconds": t_encode - t_decode,
        "gpu": True,
    }


def _render_host_encode(
    state: GpuState, job: SegmentJob, tmp_path: Path, where: Where, decodes: dict[str, str]
) -> dict[str, Any]:
    """NVDEC + CuPy, then one asynchronous copy to pinned host memory per distinct frame, then the
    shared host encoder (:mod:`farm.backends.nvidia.transfer`)."""
    import av

    from farm.backends.host_encode import encode_segment
    from farm.backends.nvidia.transfer import HostCopies

    spec = job.encode
    frames = _frames(state, job, where, decodes)
    if out_bits(job) == 10:  # P010 pictures: one synchronous copy each (the pinned ring is 8-bit)
        from farm.backends.nvidia.transfer import host_yuv420p10

        written = encode_segment(job, tmp_path, ((host_yuv420p10(y, uv), r) for y, uv, r in frames))
        return {"frames": written, "encoder": _host_encoder(job), "gpu": True}
    size = (spec.width, spec.height)
    if size not in state.copies:
        state.copies[size] = HostCopies(state.cp, *size)
    pictures = (
        (av.VideoFrame.from_ndarray(host, format="yuv420p"), repeat)
        for host, repeat in state.copies[size].pictures(frames)
    )
    written = encode_segment(job, tmp_path, pictures)
    return {"frames": written, "encoder": _host_encoder(job), "gpu": True}
