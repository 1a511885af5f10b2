"""A stand-in GPU stack for running the nvidia backend's orchestration on the CPU.

``FakeCupy`` is NumPy under CuPy's names (NumPy arrays send ``farm.kernels``
down its NumPy references, so the frame code runs unchanged). ``FakeNvc``
mimics the parts of PyNvVideoCodec the backend uses, as documented and as its
2.0/2.2 sources behave: ``SimpleDecoder`` returns frames in presentation
order by index, each with a ``timestamp`` (the container pts) and ``cuda()``
plane views of one contiguous NV12 (or P016) buffer; ``CreateEncoder`` takes
string options and GPU input through ``cuda()`` returning the Y (H, W, 1) and
UV (H/2, W/2, 2) planes of one allocation, and returns Annex-B — as ``bytes`` per call (2.0) or lists of
``{"data", "timestamp", "picture_type"}`` (2.1+). The pictures come from
libx264/libx265 in Annex-B mode, with NVENC's GOP/IDR/QP options applied.

The fakes check their inputs strictly (string option values, surface shape,
plane layout), so a call the real library would reject fails here too.
"""

from __future__ import annotations

import enum
import importlib.machinery
import types
from fractions import Fraction
from typing import Any

import numpy as np

# ------------------------------------------------------------------ CuPy


class _Stream:
    ptr = 0x5EED

    def __init__(self, non_blocking: bool = False):
        self.non_blocking = non_blocking
        self.synchronized = 0

    def __enter__(self) -> _Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def synchronize(self) -> None:
        self.synchronized += 1


class _Device:
    def __init__(self, device_id: int = 0):
        self.id = device_id


def fake_cupy(devices: int = 1) -> types.ModuleType:
    cp = types.ModuleType("cupy")
    cp.__spec__ = importlib.machinery.ModuleSpec("cupy", None)
    for name in (
        "asarray",
        "empty",
        "full",
        "zeros",
        "minimum",
        "rot90",
        "uint8",
        "uint16",
        "uint32",
        "ndarray",
    ):
        setattr(cp, name, getattr(np, name))
    cp.asnumpy = np.asarray
    runtime = types.SimpleNamespace(
        getDeviceCount=lambda: devices,
        getDeviceProperties=lambda i: {
            "name": b"Fake GPU",
            "totalGlobalMem": 2**34,
            "major": 9,
            "minor": 0,
            "multiProcessorCount": 132,
            "memoryClockRate": 2_619_000,
            "memoryBusWidth": 5120,
        },
        runtimeGetVersion=lambda: 12080,
        deviceSynchronize=lambda: None,
        driverGetVersion=lambda: 12080,
    )
    cp.cuda = types.SimpleNamespace(Stream=_Stream, Device=_Device, runtime=runtime)
    cp.__version__ = "fake"
    return cp


# ------------------------------------------------------------------ PyNvVideoCodec: decoding


class _View:
    """A plane exposing ``__cuda_array_interface__`` (here: NumPy's array interface under that name)."""

    def __init__(self, array: np.ndarray):
        self._array = array
        self.__cuda_array_interface__ = {**array.__array_interface__, "version": 3, "stream": 2}

    def __array__(self, dtype=None, copy=None):  # type: ignore[no-untyped-def]
        return self._array if dtype is None else self._array.astype(dtype)


class _Frame:
    def __init__(self, timestamp: int, buffer: np.ndarray, height: int):
        self.timestamp = timestamp
        self._buffer = buffer
        self._height = height

    def cuda(self) -> list[_View]:
        h, w = self._height, self._buffer.shape[1]
        return [_View(self._buffer[:h, :, None]), _View(self._buffer[h:].reshape(h // 2, w // 2, 2))]

    def getPTS(self) -> int:  # noqa: N802 - mirrors PyNvVideoCodec
        return self.timestamp


def _decode_all(path: str) -> tuple[list[int], list[np.ndarray], int]:
    """Every frame of ``path`` in presentation order as one NV12 / P016 buffer each."""
    import av

    frames: list[tuple[int, np.ndarray]] = []
    height = 0
    with av.open(path) as c:
        for frame in c.decode(video=0):
            h, w = frame.height, frame.width
            height = h
            if frame.format.name == "yuv420p10le":
                planes = frame.to_ndarray()
                y = planes[:h]
                u = planes[h : h + h // 4].reshape(h // 2, w // 2)
                v = planes[h + h // 4 :].reshape(h // 2, w // 2)
                uv = np.stack([u, v], -1).reshape(h // 2, w)
                buffer = (np.concatenate([y, uv]).astype(np.uint16) << 6).astype(np.uint16)
            else:
                buffer = frame.reformat(format="nv12").to_ndarray()
            frames.append((frame.pts, np.ascontiguousarray(buffer)))
    frames.sort(key=lambda f: f[0])
    return [f[0] for f in frames], [f[1] for f in frames], height


class FakeSimpleDecoder:
    opened: list[str] = []

    def __init__(
        self,
        path: str,
        gpu_id: int = 0,
        cuda_context: int = 0,
        cuda_stream: int = 0,
        use_device_memory: bool = True,
        output_color_type: Any = None,
        **kwargs: Any,
    ):
        assert use_device_memory and isinstance(cuda_stream, int)
        self.stream = cuda_stream
        self.timestamp_shift = 0  # tests set it to make the decoder disagree with the probe
        self._load(path)

    def _load(self, path: str) -> None:
        self.pts, self.buffers, self.height = _decode_all(path)
        FakeSimpleDecoder.opened.append(path)

    def reconfigure_decoder(self, path: str) -> None:
        self._load(path)

    def __len__(self) -> int:
        return len(self.buffers)

    def get_batch_frames(self, batch: int) -> list[_Frame]:
        """The next ``batch`` frames in order; empty at the end."""
        start = getattr(self, "_next", 0)
        self._next = min(start + batch, len(self.buffers))
        return self.get_batch_frames_by_index(list(range(start, self._next)))

    def get_batch_frames_by_index(self, indices: list[int]) -> list[_Frame]:
        return [
            _Frame(self.pts[i] + self.timestamp_shift, self.buffers[i], self.height)
            for i in indices
            if 0 <= i < len(self.buffers)
        ]


# ------------------------------------------------------------------ PyNvVideoCodec: encoding


class NV_ENC_PIC_FLAGS(enum.IntEnum):  # noqa: N801 - mirrors PyNvVideoCodec
    FORCEINTRA = 1
    FORCEIDR = 2
    OUTPUT_SPSPPS = 4


class FakeEncoder:
    def __init__(
        self, width: int, height: int, fmt: str, cpu_input: bool, options: dict[str, Any], dicts: bool
    ):
        assert fmt == "NV12" and cpu_input is False
        for key, value in options.items():
            if key not in ("cudastream", "cudacontext"):
                assert isinstance(value, str), f"CreateEncoder option {key}={value!r} must be a string"
        assert options["rc"] == "constqp" and options["preset"] in {f"P{i}" for i in range(1, 8)}
        assert options["gop"] == options["idrperiod"] and options.get("bf") == "0"
        self.width, self.height, self.options, self.dicts = width, height, options, dicts
        self.calls: list[int | None] = []
        self.counter = 0
        self._open()

    def _open(self) -> None:
        import av

        codec = self.options.get("codec", "h264")
        gop, qp = self.options["gop"], self.options["constqp"]
        cc = av.CodecContext.create({"h264": "libx264", "hevc": "libx265"}[codec], "w")
        cc.width, cc.height, cc.pix_fmt = self.width, self.height, "yuv420p"
        cc.time_base = Fraction(1, 24)
        common = f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=0:repeat-headers=1"
        if codec == "h264":
            cc.options = {"preset": "ultrafast", "qp": qp, "x264-params": f"annexb=1:{common}"}
        else:
            cc.options = {
                "preset": "ultrafast",
                "qp": qp,
                "x265-params": f"{common}:open-gop=0:annexb=1:log-level=error",
            }
        self.cc = cc
        self.flushed = False

    def _wrap(self, packets: list[Any]) -> Any:
        if self.dicts:
            return [
                {"data": bytes(p), "timestamp": int(p.pts), "picture_type": 3 if p.is_keyframe else 1}
                for p in packets
            ]
        return b"".join(bytes(p) for p in packets)

    def Encode(self, frame: Any, flags: int | None = None) -> Any:  # noqa: N802
        import av

        h, w = self.height, self.width
        planes = frame.cuda()
        # PyNvVideoCodec calls __dlpack__(stream) positionally on a whole-frame object; CuPy's is keyword-only
        assert not hasattr(planes, "__dlpack__"), "give Encode per-plane views, not a whole-frame tensor"
        y, uv = planes[0].__array_interface__, planes[1].__array_interface__
        for plane, shape, strides in ((y, (h, w, 1), (w, 1, 1)), (uv, (h // 2, w // 2, 2), (w, 2, 1))):
            assert plane["typestr"] == "|u1" and tuple(plane["shape"]) == shape, plane
            assert plane["strides"] in (None, strides), plane
        assert uv["data"][0] - y["data"][0] == h * w, "the UV plane must follow the Y plane"
        surface = np.concatenate(
            [np.asarray(planes[0]).reshape(h, w), np.asarray(planes[1]).reshape(h // 2, w)]
        )
        self.calls.append(flags)
        packets = []
        if flags is not None and flags & NV_ENC_PIC_FLAGS.FORCEIDR:
            if not self.flushed:
                packets += list(self.cc.encode(None))
            self._open()  # a new GOP: x264 restarted
        assert not self.flushed, "Encode after EndEncode needs FORCEIDR in this stand-in"
        yuv = av.VideoFrame.from_ndarray(surface, format="nv12").reformat(format="yuv420p")
        yuv.pts, yuv.time_base = self.counter, Fraction(1, 24)
        self.counter += 1
        packets += list(self.cc.encode(yuv))
        return self._wrap(packets)

    def EndEncode(self) -> Any:  # noqa: N802
        self.flushed = True
        return self._wrap(list(self.cc.encode(None)))


def fake_pynvvideocodec(nvenc_engines: int = 2, dicts: bool = False) -> types.ModuleType:
    """A PyNvVideoCodec stand-in; ``nvenc_engines=0`` is a GPU without NVENC (H100, A100)."""
    nvc = types.ModuleType("PyNvVideoCodec")
    nvc.__spec__ = importlib.machinery.ModuleSpec("PyNvVideoCodec", None)
    nvc.__version__ = "fake-2.x"
    nvc.OutputColorType = enum.Enum("OutputColorType", {"NATIVE": 0, "RGB": 1, "RGBP": 2})
    nvc.cudaVideoCodec = enum.Enum("cudaVideoCodec", {"H264": 4, "HEVC": 8, "VP9": 10, "AV1": 11})
    nvc.cudaVideoChromaFormat = enum.Enum(
        "cudaVideoChromaFormat", {"Monochrome": 0, "420": 1, "422": 2, "444": 3}
    )
    nvc.NV_ENC_PIC_FLAGS = NV_ENC_PIC_FLAGS
    nvc.SimpleDecoder = FakeSimpleDecoder
    nvc.encoders = []

    class PyNvVCExceptionUnsupported(Exception):
        pass

    nvc.PyNvVCExceptionUnsupported = PyNvVCExceptionUnsupported

    def GetDecoderCaps(gpuid=0, codec=None, chromaformat=None, bitdepth=8):  # type: ignore[no-untyped-def]  # noqa: N802
        supported = not (codec.name == "AV1")  # Hopper: no AV1 decode
        return {
            "supported": int(supported),
            "num_decoder_engines": 7,
            "width_max": 8192,
            "height_max": 8192,
            "width_min": 48,
            "height_min": 16,
            "mb_num_max": 262144,
            "bitdepth": bitdepth,
        }

    def GetEncoderCaps(gpuid=0, codec="h264"):  # type: ignore[no-untyped-def]  # noqa: N802
        if nvenc_engines == 0:
            raise RuntimeError("NV_ENC_ERR_UNSUPPORTED_DEVICE: no encode capable device (code 2)")
        return {
            "num_encoder_engines": nvenc_engines,
            "num_max_bframes": 4,
            "width_max": 8192,
            "height_max": 8192,
            "support_10bit_encode": 1,
        }

    def CreateEncoder(width, height, fmt, usecpuinputbuffer, **kwargs):  # type: ignore[no-untyped-def]  # noqa: N802
        if nvenc_engines == 0:
            raise RuntimeError("NV_ENC_ERR_UNSUPPORTED_DEVICE (code 2)")
        encoder = FakeEncoder(width, height, fmt, usecpuinputbuffer, kwargs, dicts)
        nvc.encoders.append(encoder)
        return encoder

    nvc.GetDecoderCaps = GetDecoderCaps
    nvc.GetEncoderCaps = GetEncoderCaps
    nvc.CreateEncoder = CreateEncoder
    return nvc
