"""PyNvVideoCodec behind small doors: import, capabilities, decode, encode.

``import PyNvVideoCodec`` loads the driver's ``libnvcuvid`` and
``libnvidia-encode``; it happens here, on first use, and a failure becomes a
:class:`~farm.errors.BackendUnavailableError` that says what is missing. The
decoder is ``SimpleDecoder`` on the worker's CUDA stream, one per source
(:class:`NvdecReader`: it reads forward across a source's segments and seeks
only backwards or far ahead; ``.mov``/``.mkv``/``.webm`` are scanned first so
that seeking by frame number is exact); every frame it returns is checked
against the timestamp the probe recorded, so a wrong frame is an error, never
a silent substitute. The encoder is ``CreateEncoder`` with the string options
of :func:`farm.backends.nvidia.params.nvenc_options`, one session per segment;
a failed ``CreateEncoder`` cannot leave its own CUDA context current
(:func:`foreign_context_dropped`). The capability queries run in a child
process (:mod:`farm.backends.nvidia.gpu_caps`).
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from farm.errors import BackendUnavailableError, MediaError, Where


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


@functools.cache
def pynvvideocodec() -> Any:
    """The PyNvVideoCodec module, imported once; BackendUnavailableError when it cannot load."""
    try:
        import PyNvVideoCodec as nvc
    except ImportError as exc:
        raise BackendUnavailableError(
            f"PyNvVideoCodec is not importable ({_first_line(exc)})",
            hint="pip install 'farm[gpu]' on a machine with an NVIDIA driver, or use --backend cpu",
        ) from exc
    except Exception as exc:  # RuntimeError: libnvcuvid / libnvidia-encode missing, driver too old
        raise BackendUnavailableError(
            f"PyNvVideoCodec cannot load the NVIDIA video libraries ({_first_line(exc)})",
            hint="containers need NVIDIA_DRIVER_CAPABILITIES to include 'video'; or use --backend cpu",
        ) from exc
    return nvc


def _enum(enum_type: Any, *names: str) -> Any:
    members = getattr(enum_type, "__members__", {})
    for name in names:
        if name in members:
            return members[name]
        if hasattr(enum_type, name):
            return getattr(enum_type, name)
    raise BackendUnavailableError(f"this PyNvVideoCodec has no {enum_type.__name__} among {names}")


# ------------------------------------------------------------------ capabilities

#: codecs the doctor asks NVDEC about, with the bit depths worth knowing
DECODE_PROBES = (("h264", 8), ("hevc", 8), ("hevc", 10), ("av1", 8), ("av1", 10), ("vp9", 8))
ENCODE_PROBES = ("h264", "hevc", "av1")
_NV_CODECS = {"h264": "H264", "hevc": "HEVC", "av1": "AV1", "vp9": "VP9"}


def decoder_caps(gpu_id: int, codec: str, bit_depth: int = 8) -> dict[str, int]:
    """NVDEC's answer for 4:2:0 ``codec`` at ``bit_depth``: supported, engines, size limits."""
    nvc = pynvvideocodec()
    caps = nvc.GetDecoderCaps(
        gpuid=gpu_id,
        codec=_enum(nvc.cudaVideoCodec, _NV_CODECS[codec]),
        chromaformat=_enum(nvc.cudaVideoChromaFormat, "420", "YUV420", "_420"),
        bitdepth=bit_depth,
    )
    return {str(k): int(v) for k, v in dict(caps).items()}


def encoder_caps(gpu_id: int, codec: str) -> dict[str, int]:
    """NVENC's capabilities for ``codec``; raises where the GPU has no encoder (H100, A100…)."""
    nvc = pynvvideocodec()
    try:
        caps = nvc.GetEncoderCaps(gpuid=gpu_id, codec=codec)
    except TypeError:  # releases whose binding takes the codec only
        caps = nvc.GetEncoderCaps(codec=codec)
    return {str(k): int(v) for k, v in dict(caps).items() if isinstance(v, (int, bool))}


# ------------------------------------------------------------------ decoding


#: containers whose index PyNvVideoCodec only trusts after a scan of the stream: without
#: ``need_scanned_stream_metadata`` it seeks by an estimate from the rate (MP4 has a sample table)
SCANNED_CONTAINERS = frozenset({".mov", ".mkv", ".webm"})
#: sources whose decoder a worker keeps open (each holds an NVDEC session and its surfaces)
DECODERS_KEPT = 4
#: decode forward (and drop frames) rather than seek when the next wanted frame is at most this
#: many frames ahead: a seek restarts at the keyframe before it, which costs up to a GOP anyway
FORWARD_LIMIT = 96
#: frames decoded and dropped per call while reading forward (their surfaces are freed by the next)
SKIP_BATCH = 8


def needs_scan(path: str) -> bool:
    """Whether the decoder must scan ``path``'s packets to seek by frame number exactly."""
    return os.path.splitext(path)[1].lower() in SCANNED_CONTAINERS


@dataclass
class _Source:
    decoder: Any
    position: int = 0  # index of the frame the next sequential read returns


@dataclass
class NvdecReader:
    """Warm NVDEC sessions of one worker: one decoder per source, reads forward where it can.

    A worker renders a source's segments one after another; the decoder of
    that source stays open (up to :data:`DECODERS_KEPT` sources, least recently
    used closed first) and remembers where it is, so the next segment that
    starts at or after that point is decoded forward instead of seeking back
    to a keyframe. A segment that starts behind it, or far ahead, seeks.
    """

    gpu_id: int
    stream_ptr: int  # the worker's CUDA stream: decoder post-processing is ordered with the kernels
    #: by (path, content identity): a file rewritten in place gets a decoder of its own
    _sources: OrderedDict[tuple[str, str], _Source] = field(default_factory=OrderedDict)
    opened: list[str] = field(default_factory=list)  # decoders created, by source, in order (reports)
    seeks: int = 0  # seeks asked of the decoders (reports, tests)

    def open(self, path: str, where: Where, identity: str = "") -> _Source:
        key = (path, identity)
        if key in self._sources:
            self._sources.move_to_end(key)
            return self._sources[key]
        nvc = pynvvideocodec()
        while len(self._sources) >= DECODERS_KEPT:
            self._sources.popitem(last=False)  # the decoder is closed when dropped
        try:
            decoder = nvc.SimpleDecoder(
                path,
                gpu_id=self.gpu_id,
                cuda_stream=self.stream_ptr,
                use_device_memory=True,
                need_scanned_stream_metadata=needs_scan(path),
                output_color_type=nvc.OutputColorType.NATIVE,
            )
        except Exception as exc:
            unsupported = getattr(nvc, "PyNvVCExceptionUnsupported", ())
            if unsupported and isinstance(exc, unsupported):
                raise BackendUnavailableError(
                    f"NVDEC on this GPU cannot decode this source ({_first_line(exc)})",
                    where,
                    hint="render it with --backend cpu",
                ) from exc
            raise MediaError(f"NVDEC cannot open the source ({_first_line(exc)})", where) from exc
        source = self._sources[key] = _Source(decoder)
        self.opened.append(path)
        return source

    def _by_index(self, key: tuple[str, str], indices: list[int], where: Where) -> list[Any]:
        try:
            frames = list(self._sources[key].decoder.get_batch_frames_by_index(indices))
        except Exception as exc:
            self._sources.pop(key, None)
            raise MediaError(
                f"NVDEC failed on source frames {indices[0]}..{indices[-1]} ({_first_line(exc)})", where
            ) from exc
        if len(frames) != len(indices):
            raise MediaError(
                f"NVDEC returned {len(frames)} of {len(indices)} frames from {indices[0]} on: "
                "the source ends early (truncated file?)",
                where,
            )
        return frames

    def fetch(self, path: str, indices: list[int], where: Where, identity: str = "") -> list[Any]:
        """Decoded frames for ``indices`` (ascending, distinct), valid until the next fetch."""
        source = self.open(path, where, identity)
        first, last = indices[0], indices[-1]
        if not hasattr(source.decoder, "seek_to_index"):  # a release without it: random access only
            return self._by_index((path, identity), indices, where)
        try:
            if not source.position <= first <= source.position + FORWARD_LIMIT:
                source.decoder.seek_to_index(first)
                self.seeks += 1
                source.position = first
            while source.position < first:  # forward: decode and drop, a batch at a time
                skipped = len(source.decoder.get_batch_frames(min(first - source.position, SKIP_BATCH)))
                if not skipped:
                    break
                source.position += skipped
            decoded = list(source.decoder.get_batch_frames(last - source.position + 1))
        except Exception as exc:
            self._sources.pop((path, identity), None)  # its position is unknown now
            raise MediaError(
                f"NVDEC failed on source frames {first}..{last} ({_first_line(exc)})", where
            ) from exc
        start = source.position
        source.position += len(decoded)
        frames = [decoded[i - start] for i in indices if i - start < len(decoded)]
        if len(frames) != len(indices):
            raise MediaError(
                f"NVDEC returned {len(frames)} of {len(indices)} frames from {first} on: "
                "the source ends early (truncated file?)",
                where,
            )
        return frames


def frame_timestamp(frame: Any) -> int | None:
    stamp = getattr(frame, "timestamp", None)
    if stamp is None and hasattr(frame, "getPTS"):
        stamp = frame.getPTS()
    return None if stamp is None else int(stamp)


def frame_views(frame: Any) -> Any:
    """The frame's planes as ``__cuda_array_interface__`` objects (or the frame, for DLPack)."""
    if hasattr(frame, "cuda"):
        return list(frame.cuda())
    return frame


# ------------------------------------------------------------------ CUDA contexts


class CudaContexts:
    """The CUDA driver's current-context calls (``libcuda.so.1`` through ctypes)."""

    def __init__(self, lib: Any):
        self.lib = lib

    def current(self) -> int:
        ctx = ctypes.c_void_p()
        self.lib.cuCtxGetCurrent(ctypes.byref(ctx))
        return int(ctx.value or 0)

    def set_current(self, ctx: int) -> None:
        self.lib.cuCtxSetCurrent(ctypes.c_void_p(ctx or None))

    def destroy(self, ctx: int) -> None:
        self.lib.cuCtxDestroy_v2(ctypes.c_void_p(ctx))


@functools.cache
def cuda_driver() -> CudaContexts | None:
    """The driver's context calls, or None where there is no CUDA driver."""
    try:
        return CudaContexts(ctypes.CDLL("libcuda.so.1"))
    except OSError:
        return None


@contextmanager
def foreign_context_dropped() -> Iterator[None]:
    """Run a PyNvVideoCodec call that may fail leaving a CUDA context of its own current.

    ``CreateEncoder`` asks for the encoder's capabilities first, and on a GPU
    without NVENC that creates a context, fails and throws with the context
    still current. On failure, a context that was not current before is
    destroyed and the one that was is made current again, so the worker's CuPy
    stream (primary context) keeps working. Success changes nothing.
    """
    driver = cuda_driver()
    before = driver.current() if driver is not None else 0
    try:
        yield
    except BaseException:
        if driver is not None:
            after = driver.current()
            if after != before:
                if after:
                    driver.destroy(after)
                driver.set_current(before)
        raise


# ------------------------------------------------------------------ encoding


@dataclass
class NvencSession:
    """One NVENC session, for one segment: its first picture is an IDR, its GOP fixed."""

    encoder: Any
    options: dict[str, str]
    size: tuple[int, int]

    @classmethod
    def create(
        cls, gpu_id: int, stream_ptr: int, width: int, height: int, options: dict[str, str]
    ) -> NvencSession:
        nvc = pynvvideocodec()
        kwargs: dict[str, Any] = dict(options)
        kwargs["gpu_id"] = str(gpu_id)
        kwargs["cudastream"] = stream_ptr
        try:
            with foreign_context_dropped():
                encoder = nvc.CreateEncoder(width, height, "NV12", False, **kwargs)
        except Exception as exc:
            raise BackendUnavailableError(
                f"NVENC cannot open a {options.get('codec')} {width}x{height} session on this GPU "
                f"({_first_line(exc)})",
                hint="GPUs without NVENC (H100, H200, A100) render the 'nvdec+cpu' family; plan with "
                "encode_family('nvidia', nvenc=False)",
            ) from exc
        return cls(encoder, dict(options), (width, height))

    def encode(self, frame: Any) -> Any:
        return self.encoder.Encode(frame)

    def flush(self) -> Any:
        return self.encoder.EndEncode()


def encode_frames(session: NvencSession, frames: Iterator[tuple[Any, int]]) -> list[Any]:
    """Encode ``(EncoderInput, repeat)`` pairs, then flush. Returns the raw outputs, in output order.

    No ``inputTimeStamp`` is passed: without B-frames NVENC returns pictures in
    the order they were fed, which is the display order.
    """
    outputs: list[Any] = []
    for surface, repeat in frames:
        for _ in range(repeat):
            outputs.append(session.encode(surface))
    outputs.append(session.flush())
    return outputs
