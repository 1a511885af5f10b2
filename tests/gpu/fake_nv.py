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
plane layout), so a call the real library would reject fails here too, and
they carry the real library's known faults (from an audit of the 2.2.4 wheel),
so code that would trip on them trips here: P016 planes report strides in
elements; a seek in a ``.mov``/``.mkv`` that was not scanned lands by an
estimate from the rate; an output's ``timestamp`` is garbage unless
``inputTimeStamp`` was passed; ``GetEncoderCaps``/``CreateEncoder`` on a GPU
without NVENC leave a context of their own current (:class:`FakeCudaDriver`);
the caps functions ignore ``gpuid`` and answer for device 0 of the process.
The CuPy stand-in's ``asarray`` reads an interface as CuPy does (strides in
bytes, a host sync on a named stream, counted in ``syncs``).
"""

from __future__ import annotations

import ctypes
import enum
import importlib.machinery
import json
import os
import types
from fractions import Fraction
from typing import Any

import numpy as np

# ------------------------------------------------------------------ CuPy


class _Stream:
    ptr = 0x5EED

    def __init__(self, non_blocking: bool = False, ptr: int | None = None):
        self.non_blocking = non_blocking
        self.synchronized = 0
        self.waits = 0
        if ptr is not None:
            self.ptr = ptr

    def __enter__(self) -> _Stream:
        _current.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _current.pop()

    def synchronize(self) -> None:
        self.synchronized += 1

    def wait_event(self, event: _Event) -> None:
        assert event.recorded, "waiting for an event that was never recorded"
        self.waits += 1


_current: list[_Stream] = []
_null_stream = _Stream(ptr=0)


class _Event:
    def __init__(self, block: bool = False, disable_timing: bool = False, interprocess: bool = False):
        self.recorded = False
        self.synchronized = 0

    def record(self, stream: _Stream | None = None) -> None:
        self.recorded = True

    def synchronize(self) -> None:
        assert self.recorded
        self.synchronized += 1


class _Device:
    def __init__(self, device_id: int = 0):
        self.id = device_id


class _UnownedMemory:
    def __init__(self, ptr: int, size: int, owner: object, device_id: int | None = None):
        assert owner is not None, "UnownedMemory must keep the owner of the pointer alive"
        self.ptr, self.size, self.owner = ptr, size, owner


class _MemoryPointer:
    def __init__(self, mem: _UnownedMemory, offset: int):
        self.mem, self.ptr = mem, mem.ptr + offset


class _ndarray(np.ndarray):  # noqa: N801 - mirrors cupy.ndarray
    """``cupy.ndarray(shape, dtype, memptr, strides)``: an array over device memory (here: host)."""

    def __new__(cls, shape, dtype=float, memptr=None, strides=None, order="C"):  # type: ignore[no-untyped-def]
        if memptr is None:
            return np.empty(shape, dtype)
        buffer = (ctypes.c_char * memptr.mem.size).from_address(memptr.ptr)
        array = np.ndarray(shape, dtype, buffer=buffer, strides=strides)
        array.flags.writeable = True
        return array


def fake_cupy(devices: int = 1) -> types.ModuleType:
    cp = types.ModuleType("cupy")
    cp.__spec__ = importlib.machinery.ModuleSpec("cupy", None)
    for name in (
        "empty",
        "full",
        "zeros",
        "minimum",
        "rot90",
        "float32",
        "uint8",
        "uint16",
        "uint32",
    ):
        setattr(cp, name, getattr(np, name))
    cp.ndarray = _ndarray
    cp.syncs = []  # streams the host waited for, as cupy.asarray does on a view that names one

    def asarray(a, dtype=None):  # type: ignore[no-untyped-def]
        """As CuPy: an interface's strides are bytes, and a named stream is synchronised."""
        cai = getattr(a, "__cuda_array_interface__", None)
        if cai is None:
            return np.asarray(a, dtype)
        if cai.get("stream") is not None:
            cp.syncs.append(cai["stream"])
        dtype_ = np.dtype(cai["typestr"])
        shape = tuple(cai["shape"])
        strides = cai.get("strides")
        extent = (
            dtype_.itemsize * int(np.prod(shape))
            if strides is None
            else (dtype_.itemsize + sum((n - 1) * st for n, st in zip(shape, strides, strict=True)))
        )
        buffer = (ctypes.c_char * extent).from_address(cai["data"][0])
        return np.ndarray(shape, dtype_, buffer=buffer, strides=strides)

    cp.asarray = asarray
    cp.asnumpy = np.asarray
    copies: list[int] = []

    def memcpy_async(dst: int, src: int, size: int, kind: int, stream: int) -> None:
        assert kind == 2, "device to host"
        assert stream != 0, "copies run on a stream of their own"
        ctypes.memmove(dst, src, size)
        copies.append(size)

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
        memcpyAsync=memcpy_async,
        copies=copies,
    )
    cp.pinned = []

    def alloc_pinned_memory(size: int) -> bytearray:
        buffer = bytearray(size)
        cp.pinned.append(size)
        return buffer

    cp.cuda = types.SimpleNamespace(
        Stream=_Stream,
        Device=_Device,
        runtime=runtime,
        Event=_Event,
        ExternalStream=lambda ptr, device_id=-1: _Stream(ptr=ptr),
        get_current_stream=lambda: _current[-1] if _current else _null_stream,
        UnownedMemory=_UnownedMemory,
        MemoryPointer=_MemoryPointer,
        alloc_pinned_memory=alloc_pinned_memory,
    )
    cp.__version__ = "fake"
    return cp


# ------------------------------------------------------------------ PyNvVideoCodec: decoding


class _View:
    """A plane exposing ``__cuda_array_interface__`` (here: over host memory)."""

    def __init__(self, array: np.ndarray, stream: int, element_strides: bool = False):
        self._array = array
        iface = {**array.__array_interface__, "version": 3, "stream": stream}
        if element_strides:  # as PyNvVideoCodec 2.2.4 reports 16-bit (P016) planes
            iface["strides"] = tuple(st // array.itemsize for st in array.strides)
        self.__cuda_array_interface__ = iface


class _Frame:
    def __init__(self, timestamp: int, buffer: np.ndarray, height: int, stream: int):
        self.timestamp = timestamp
        self._buffer = buffer
        self._height = height
        self._stream = stream

    def cuda(self) -> list[_View]:
        h, w = self._height, self._buffer.shape[1]
        wide = self._buffer.dtype == np.uint16
        return [
            _View(self._buffer[:h, :, None], self._stream, wide),
            _View(self._buffer[h:].reshape(h // 2, w // 2, 2), self._stream, wide),
        ]

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
    """Frames by index; ``seek_to_index`` then ``get_batch_frames`` reads on from there.

    Without ``need_scanned_stream_metadata`` a container other than MP4 seeks
    by an estimate from the average rate, as the library does: on a
    variable-rate ``.mov``/``.mkv`` that lands on the wrong frame.
    """

    opened: list[str] = []  # every decoder created or reconfigured, by source
    seeks: list[tuple[str, int]] = []

    def __init__(
        self,
        path: str,
        gpu_id: int = 0,
        cuda_context: int = 0,
        cuda_stream: int = 0,
        use_device_memory: bool = True,
        max_width: int = 0,
        max_height: int = 0,
        need_scanned_stream_metadata: bool = False,
        decoder_cache_size: int = 4,
        output_color_type: Any = None,
        **kwargs: Any,
    ):
        assert use_device_memory and isinstance(cuda_stream, int)
        assert not kwargs, f"SimpleDecoder has no arguments {sorted(kwargs)}"
        self.stream = cuda_stream
        self.scanned = need_scanned_stream_metadata
        self.timestamp_shift = 0  # tests set it to make the decoder disagree with the probe
        self._load(path)

    def _load(self, path: str) -> None:
        self.path = path
        self.pts, self.buffers, self.height = _decode_all(path)
        self._next = 0
        FakeSimpleDecoder.opened.append(path)

    def reconfigure_decoder(self, path: str) -> None:
        self._load(path)

    def __len__(self) -> int:
        return len(self.buffers)

    def _landing(self, index: int) -> int:
        """The frame a seek to ``index`` lands on."""
        if self.scanned or self.path.lower().endswith(".mp4") or len(self.pts) < 2:
            return index
        step = (self.pts[-1] - self.pts[0]) / (len(self.pts) - 1)  # the average frame duration
        guess = self.pts[0] + index * step
        return min(range(len(self.pts)), key=lambda i: abs(self.pts[i] - guess))

    def _frame(self, i: int) -> _Frame:
        return _Frame(self.pts[i] + self.timestamp_shift, self.buffers[i], self.height, self.stream)

    def seek_to_index(self, index: int) -> None:
        FakeSimpleDecoder.seeks.append((self.path, index))
        self._next = self._landing(index)

    def get_batch_frames(self, batch: int) -> list[_Frame]:
        """The next ``batch`` frames in order; empty at the end."""
        start = self._next
        self._next = min(start + batch, len(self.buffers))
        return [self._frame(i) for i in range(start, self._next)]

    def get_batch_frames_by_index(self, indices: list[int]) -> list[_Frame]:
        landed = [self._landing(i) for i in indices]
        return [self._frame(i) for i in landed if 0 <= i < len(self.buffers)]


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
        self.stamps: dict[int, int | None] = {}
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
                {
                    "data": bytes(p),
                    "timestamp": self._stamp(int(p.pts)),
                    "picture_type": 3 if p.is_keyframe else 1,
                }
                for p in packets
            ]
        return b"".join(bytes(p) for p in packets)

    def _stamp(self, order: int) -> int:
        """NVENC echoes ``inputTimeStamp``; unset, the field holds whatever was there (here: garbage)."""
        given = self.stamps.get(order)
        return given if given is not None else (0x7FFF - 37 * order) % 4096

    def Encode(self, frame: Any, flags: int | None = None, inputTimeStamp: int | None = None) -> Any:  # noqa: N802, N803
        import av

        self.stamps[self.counter] = inputTimeStamp

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


class FakeCudaDriver:
    """The current CUDA context of the process, as ``cuCtxGetCurrent``/``SetCurrent``/``Destroy`` see it."""

    def __init__(self) -> None:
        self.primary = 0x1000
        self.current_context = self.primary
        self.live = {self.primary}
        self._next = 0x2000

    def create(self) -> int:
        """``cuCtxCreate``: a new context, made current."""
        self._next += 0x10
        self.live.add(self._next)
        self.current_context = self._next
        return self._next

    def current(self) -> int:
        return self.current_context

    def set_current(self, ctx: int) -> None:
        self.current_context = ctx

    def destroy(self, ctx: int) -> None:
        self.live.discard(ctx)
        if self.current_context == ctx:
            self.current_context = 0

    @property
    def leaked(self) -> set[int]:
        return self.live - {self.primary}


def _physical_gpu() -> int:
    """The GPU the library's caps functions ask: device 0 of this process, whatever ``gpuid`` says."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return int(visible.split(",")[0]) if visible else 0


def fake_pynvvideocodec(
    nvenc_engines: int = 2, dicts: bool = False, gpus: list[tuple[int, int]] | None = None
) -> types.ModuleType:
    """A PyNvVideoCodec stand-in; ``nvenc_engines=0`` is a GPU without NVENC (H100, A100).

    ``gpus`` lists ``(nvdec engines, nvenc engines)`` per GPU of a machine
    with several; the caps functions, like the library's, ignore ``gpuid``
    and answer for device 0 of the process (``CUDA_VISIBLE_DEVICES``).
    """
    machine = gpus if gpus is not None else [(7, nvenc_engines)]
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
    nvc.driver = FakeCudaDriver()
    nvc.caps_calls = []  # (function, gpuid) asked in this process

    class PyNvVCExceptionUnsupported(Exception):
        pass

    nvc.PyNvVCExceptionUnsupported = PyNvVCExceptionUnsupported

    def GetDecoderCaps(gpuid=0, codec=None, chromaformat=None, bitdepth=8):  # type: ignore[no-untyped-def]  # noqa: N802
        nvc.caps_calls.append(("GetDecoderCaps", gpuid))
        supported = not (codec.name == "AV1")  # Hopper: no AV1 decode
        return {
            "supported": int(supported),
            "num_decoder_engines": machine[_physical_gpu()][0],
            "width_max": 8192,
            "height_max": 8192,
            "width_min": 48,
            "height_min": 16,
            "mb_num_max": 262144,
            "bitdepth": bitdepth,
        }

    def GetEncoderCaps(gpuid=0, codec="h264"):  # type: ignore[no-untyped-def]  # noqa: N802
        nvc.caps_calls.append(("GetEncoderCaps", gpuid))
        engines = machine[_physical_gpu()][1]
        if engines == 0:
            nvc.driver.create()  # and throws with it current, as the library does
            raise RuntimeError("NV_ENC_ERR_UNSUPPORTED_DEVICE: no encode capable device (code 2)")
        return {
            "num_encoder_engines": engines,
            "num_max_bframes": 4,
            "width_max": 8192,
            "height_max": 8192,
            "support_10bit_encode": 1,
        }

    def CreateEncoder(width, height, fmt, usecpuinputbuffer, **kwargs):  # type: ignore[no-untyped-def]  # noqa: N802
        GetEncoderCaps(0, kwargs.get("codec", "h264"))  # leaks its context on a GPU without NVENC
        encoder = FakeEncoder(width, height, fmt, usecpuinputbuffer, kwargs, dicts)
        nvc.encoders.append(encoder)
        return encoder

    nvc.GetDecoderCaps = GetDecoderCaps
    nvc.GetEncoderCaps = GetEncoderCaps
    nvc.CreateEncoder = CreateEncoder
    return nvc


#: the environment variable a child process reads to build the same stand-in (see fake_site/)
CONFIG_ENV = "FARM_FAKE_NVC"


def config_env(nvenc_engines: int = 2, dicts: bool = False, gpus: list[tuple[int, int]] | None = None) -> str:
    return json.dumps({"nvenc_engines": nvenc_engines, "dicts": dicts, "gpus": gpus})


def from_env() -> types.ModuleType:
    config = json.loads(os.environ.get(CONFIG_ENV, "{}"))
    gpus = config.get("gpus")
    return fake_pynvvideocodec(
        config.get("nvenc_engines", 2), config.get("dicts", False), [tuple(g) for g in gpus] if gpus else None
    )
