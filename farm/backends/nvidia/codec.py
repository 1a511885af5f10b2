"""PyNvVideoCodec behind small doors: import, capabilities, decode, encode.

``import PyNvVideoCodec`` loads the driver's ``libnvcuvid`` and
``libnvidia-encode``; it happens here, on first use, and a failure becomes a
:class:`~farm.errors.BackendUnavailableError` that says what is missing. The
decoder is ``SimpleDecoder`` (frame-accurate random access: it seeks to the
keyframe before a frame and decodes forward) fed on the worker's CUDA stream;
every frame it returns is checked against the timestamp the probe recorded,
so a wrong frame is an error, never a silent substitute. The encoder is
``CreateEncoder`` with the string options of :func:`farm.backends.nvidia.params.nvenc_options`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
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


@functools.cache
def nvenc_engines(gpu_id: int = 0, codec: str = "h264") -> int:
    """NVENC engines that encode ``codec`` on this GPU; 0 when there are none.

    One codec, asked directly. farm itself reads the whole picture from
    :func:`farm.backends.capabilities.probe`, which clears this cache with its own.
    """
    try:
        caps = encoder_caps(gpu_id, codec)
    except BackendUnavailableError:
        raise
    except Exception:  # NV_ENC_ERR_UNSUPPORTED_DEVICE and friends: no encoder on this GPU
        return 0
    if caps.get("supported", 1) == 0:
        return 0
    return max(int(caps.get("num_encoder_engines", 1)), 0)


# ------------------------------------------------------------------ decoding


@dataclass
class NvdecReader:
    """A warm NVDEC session that follows the worker from source to source."""

    gpu_id: int
    stream_ptr: int  # the worker's CUDA stream: decoder post-processing is ordered with the kernels
    _decoder: Any = None
    _path: str | None = None
    opened: list[str] = field(default_factory=list)  # sources in the order they were opened (for reports)

    def open(self, path: str, where: Where) -> Any:
        nvc = pynvvideocodec()
        if self._decoder is not None and path == self._path:
            return self._decoder
        try:
            if self._decoder is None:
                self._decoder = nvc.SimpleDecoder(
                    path,
                    gpu_id=self.gpu_id,
                    cuda_stream=self.stream_ptr,
                    use_device_memory=True,
                    output_color_type=nvc.OutputColorType.NATIVE,
                )
            else:
                self._decoder.reconfigure_decoder(path)  # reuses a cached NVDEC session when it fits
        except Exception as exc:
            self._decoder, self._path = None, None
            unsupported = getattr(nvc, "PyNvVCExceptionUnsupported", ())
            if unsupported and isinstance(exc, unsupported):
                raise BackendUnavailableError(
                    f"NVDEC on this GPU cannot decode this source ({_first_line(exc)})",
                    where,
                    hint="render it with --backend cpu",
                ) from exc
            raise MediaError(f"NVDEC cannot open the source ({_first_line(exc)})", where) from exc
        self._path = path
        self.opened.append(path)
        return self._decoder

    def fetch(self, path: str, indices: list[int], where: Where) -> list[Any]:
        """Decoded frames for ``indices`` (ascending, distinct), valid until the next fetch."""
        decoder = self.open(path, where)
        try:
            frames = list(decoder.get_batch_frames_by_index(indices))
        except Exception as exc:
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


# ------------------------------------------------------------------ encoding


@dataclass
class NvencSession:
    """One NVENC session for segments of one size and setting."""

    encoder: Any
    options: dict[str, str]
    size: tuple[int, int]
    segments: int = 0  # segments encoded with it (>0: the next one forces an IDR)

    @classmethod
    def create(
        cls, gpu_id: int, stream_ptr: int, width: int, height: int, options: dict[str, str]
    ) -> NvencSession:
        nvc = pynvvideocodec()
        kwargs: dict[str, Any] = dict(options)
        kwargs["gpu_id"] = str(gpu_id)
        kwargs["cudastream"] = stream_ptr
        try:
            encoder = nvc.CreateEncoder(width, height, "NV12", False, **kwargs)
        except Exception as exc:
            raise BackendUnavailableError(
                f"NVENC cannot open a {options.get('codec')} {width}x{height} session on this GPU "
                f"({_first_line(exc)})",
                hint="GPUs without NVENC (H100, H200, A100) render the 'nvdec+cpu' family; plan with "
                "encode_family('nvidia', nvenc=False)",
            ) from exc
        return cls(encoder, dict(options), (width, height))

    def encode(self, frame: Any, force_idr: bool = False) -> Any:
        if not force_idr:
            return self.encoder.Encode(frame)
        nvc = pynvvideocodec()
        flags = nvc.NV_ENC_PIC_FLAGS
        value = int(flags.FORCEIDR) | int(flags.OUTPUT_SPSPPS)
        return self.encoder.Encode(frame, value)

    def flush(self) -> Any:
        return self.encoder.EndEncode()


def encode_frames(session: NvencSession, frames: Iterator[tuple[Any, int]]) -> list[Any]:
    """Encode ``(EncoderInput, repeat)`` pairs; the first picture is an IDR. Returns the raw outputs."""
    outputs: list[Any] = []
    first = True
    for surface, repeat in frames:
        for _ in range(repeat):
            outputs.append(session.encode(surface, force_idr=first and session.segments > 0))
            first = False
    outputs.append(session.flush())
    session.segments += 1
    return outputs
