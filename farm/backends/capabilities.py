"""What this machine can render with: one value, probed once per process.

:class:`Capabilities` holds the NVIDIA driver's version, CuPy and the GPUs it
sees, PyNvVideoCodec, and for each GPU what its NVDEC decodes and its NVENC
encodes, with engine counts. Backend choice (:mod:`farm.backends.select`), the
Ray resources a node advertises (:mod:`farm.backends.resources`), the encoder
family (:func:`farm.backends.nvidia.pipeline.encode_family`) and ``farm
doctor`` (which adds its diagnostics on top) all read this one value.

The driver version comes from ``/proc``; CuPy and PyNvVideoCodec are
imported only when installed, and a failure is recorded in their place, never
raised. Each GPU's video engines are asked by a short process of their own
(:func:`video_engines` says why), only where PyNvVideoCodec loads. :func:`probe` caches the
value for the process; :func:`clear_cache` forgets it (tests that swap the
libraries call it).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from farm.backends.nvidia import codec, gpu_caps
from farm.errors import FarmError

#: where Linux's NVIDIA kernel driver states its version
DRIVER_VERSION_FILE = "/proc/driver/nvidia/version"
GPU_EXTRAS = "pip install 'farm[gpu]'"
T = TypeVar("T")


@dataclass(frozen=True)
class CodecSupport:
    """What one engine's driver says about one codec."""

    name: str  # "h264 8-bit 4:2:0" for NVDEC, "h264" for NVENC
    supported: bool  # the engine handles it
    limits: Mapping[str, int | bool | None]  # as the driver reports them (max_width, ...), for reports
    error: str | None = None  # why the driver could not be asked (then ``supported`` is False)


@dataclass(frozen=True)
class VideoEngine:
    """A GPU's NVDEC or NVENC: how many engines, and what they handle."""

    engines: int  # 0: none (or none could be counted)
    codecs: tuple[CodecSupport, ...] = ()  # one entry per codec asked about, in the order asked
    error: str | None = None  # why nothing could be asked (PyNvVideoCodec missing)

    def supports(self, name: str) -> bool:
        return any(c.name == name and c.supported for c in self.codecs)


@dataclass(frozen=True)
class Gpu:
    """One CUDA device as CuPy numbers it."""

    index: int  # CUDA device ordinal
    name: str  # as the driver names it ("NVIDIA H200"); "GPU <index>" when it would not say
    nvdec: VideoEngine  # its decoders
    nvenc: VideoEngine  # its encoders (none on H100, H200, A100)


@dataclass(frozen=True)
class CupyStatus:
    """CuPy, and what it could ask the CUDA driver."""

    installed: bool  # importable as far as the import system knows
    version: str | None  # cupy.__version__
    cuda_runtime: int | None  # CUDA runtime version CuPy was built against (e.g. 12080)
    cuda_driver: int | None  # CUDA version the driver supports
    device_count: int  # CUDA devices visible to this process
    error: str | None  # "Type: message" of what failed when CuPy asked the driver, else None


@dataclass(frozen=True)
class VideoCodecStatus:
    """PyNvVideoCodec, and whether it loaded the driver's video libraries."""

    installed: bool  # importable as far as the import system knows
    version: str | None  # its version once imported
    error: str | None  # why PyNvVideoCodec is not usable (not installed, or its import failed)

    @property
    def available(self) -> bool:
        return self.installed and self.error is None


@dataclass(frozen=True)
class Capabilities:
    """This machine's GPU video stack, as far as farm is concerned."""

    driver: str | None  # NVIDIA kernel driver version, None without one
    cupy: CupyStatus  # the GPU array library
    pynvvideocodec: VideoCodecStatus  # the NVDEC/NVENC binding
    gpus: tuple[Gpu, ...]  # the GPUs CuPy sees (none without CuPy)

    @property
    def nvidia_missing(self) -> tuple[str, ...]:
        """What the nvidia backend needs and this machine lacks (empty: it can run)."""
        missing = []
        if not self.cupy.installed:
            missing.append(f"CuPy ({GPU_EXTRAS})")
        if not self.pynvvideocodec.installed:
            missing.append(f"PyNvVideoCodec ({GPU_EXTRAS})")
        if missing:
            return tuple(missing)
        if self.cupy.error is not None:
            return (f"a working CUDA driver ({self.cupy.error})",)
        if self.cupy.device_count < 1:
            return ("a CUDA GPU",)
        if self.pynvvideocodec.error is not None:
            return (self.pynvvideocodec.error,)
        return ()

    def gpu(self, index: int) -> Gpu | None:
        return next((g for g in self.gpus if g.index == index), None)

    def has_nvenc(self, codec_name: str = "h264", gpu_id: int = 0) -> bool:
        """Whether GPU ``gpu_id`` has an NVENC that encodes ``codec_name`` (False without a GPU)."""
        gpu = self.gpu(gpu_id)
        return gpu is not None and gpu.nvenc.supports(codec_name)

    @property
    def nvdec_engines(self) -> int:
        return sum(g.nvdec.engines for g in self.gpus)

    @property
    def nvenc_engines(self) -> int:
        return sum(g.nvenc.engines for g in self.gpus)


def error_text(exc: BaseException) -> str:
    """``"Type: first line of the message"``, the form every probe error takes."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")


# ------------------------------------------------------------------ probes


@functools.cache
def probe() -> Capabilities:
    """This machine's capabilities, probed on first use and then remembered by the process."""
    cupy, names = _probe_cupy()
    video = _probe_pynvvideocodec()
    gpus = tuple(Gpu(i, name, *video_engines(i, video)) for i, name in enumerate(names))
    return Capabilities(driver=driver_version(), cupy=cupy, pynvvideocodec=video, gpus=gpus)


def clear_cache() -> None:
    """Forget the probe and PyNvVideoCodec's import, so the next :func:`probe` asks again."""
    probe.cache_clear()
    _ask_gpu.cache_clear()
    codec.pynvvideocodec.cache_clear()


def driver_version() -> str | None:
    """The NVIDIA kernel driver's version from ``/proc`` (None when it is not loaded)."""
    try:
        with open(DRIVER_VERSION_FILE) as f:
            text = f.read()
    except OSError:
        return None
    for token in text.split():
        parts = token.split(".")
        if len(parts) >= 2 and all(p.isdigit() for p in parts):
            return token
    return None


def _best_effort(ask: Callable[[], T], default: T | None = None) -> T | None:
    try:
        return ask()
    except Exception:  # a version or a name is a courtesy; the device count decides
        return default


def _device_name(runtime: Any, index: int) -> str:
    name: object = _best_effort(lambda: runtime.getDeviceProperties(index)["name"], f"GPU {index}")
    return name.decode() if isinstance(name, bytes) else str(name)


def _probe_cupy() -> tuple[CupyStatus, list[str]]:
    """CuPy's status and the names of the GPUs it sees."""
    if importlib.util.find_spec("cupy") is None:
        return CupyStatus(False, None, None, None, 0, None), []
    cupy: Any = None
    try:
        cupy = importlib.import_module("cupy")
        count = int(cupy.cuda.runtime.getDeviceCount())
    except Exception as exc:  # CUDARuntimeError and friends without a driver
        version = _best_effort(lambda: str(cupy.__version__))
        return CupyStatus(True, version, None, None, 0, f"{type(exc).__name__}: {exc}"), []
    runtime = cupy.cuda.runtime
    status = CupyStatus(
        installed=True,
        version=_best_effort(lambda: str(cupy.__version__)),
        cuda_runtime=_best_effort(lambda: int(runtime.runtimeGetVersion())),
        cuda_driver=_best_effort(lambda: int(runtime.driverGetVersion())),
        device_count=count,
        error=None,
    )
    return status, [_device_name(runtime, i) for i in range(count)]


def _probe_pynvvideocodec() -> VideoCodecStatus:
    if importlib.util.find_spec("PyNvVideoCodec") is None:
        return VideoCodecStatus(False, None, f"PyNvVideoCodec is not installed ({GPU_EXTRAS})")
    try:
        nvc = codec.pynvvideocodec()  # loads the driver's libnvcuvid / libnvidia-encode
    except FarmError as exc:
        return VideoCodecStatus(True, None, exc.message)
    version = getattr(nvc, "__version__", None) or _package_version("pynvvideocodec")
    return VideoCodecStatus(True, version, None)


def _package_version(name: str) -> str | None:
    from importlib import metadata

    for dist in (name, name.lower(), name.replace("_", "-")):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


#: seconds one GPU's capability process may take
CAPS_TIMEOUT = 60


def video_engines(index: int, video: VideoCodecStatus) -> tuple[VideoEngine, VideoEngine]:
    """(NVDEC, NVENC) of GPU ``index``, asked through PyNvVideoCodec in a process of its own.

    The process sees only that GPU (``CUDA_VISIBLE_DEVICES``), because the
    library's caps functions ignore ``gpuid``, and it ends after asking,
    because ``GetEncoderCaps`` on a GPU without NVENC leaves a CUDA context of
    its own current (see :mod:`farm.backends.nvidia.gpu_caps`). The answer is
    remembered per GPU and driver version for the life of this process.
    """
    if not video.available:
        missing = VideoEngine(0, (), video.error)
        return missing, missing
    answer = _ask_gpu(index, driver_version())
    if "error" in answer:
        failed = VideoEngine(0, (), str(answer["error"]))
        return failed, failed
    return _nvdec(answer["nvdec"]), _nvenc(answer["nvenc"])


@functools.cache
def _ask_gpu(index: int, driver: str | None) -> dict[str, Any]:
    """What :mod:`farm.backends.nvidia.gpu_caps` answers for GPU ``index`` (the driver keys the cache)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    devices = [d.strip() for d in visible.split(",")] if visible else []
    env = dict(os.environ)
    env["CUDA_VISIBLE_DEVICES"] = devices[index] if index < len(devices) else str(index)
    # the child imports what this process imports (the same farm, the same PyNvVideoCodec)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    try:
        run = subprocess.run(
            [sys.executable, "-m", "farm.backends.nvidia.gpu_caps"],
            env=env,
            capture_output=True,
            text=True,
            timeout=CAPS_TIMEOUT,
            check=False,
        )
        line = next(x for x in reversed(run.stdout.splitlines()) if x.startswith(gpu_caps.MARKER))
        answer: dict[str, Any] = json.loads(line[len(gpu_caps.MARKER) :])
    except subprocess.TimeoutExpired:
        return {"error": f"asking GPU {index} for its video engines took over {CAPS_TIMEOUT} s"}
    except (StopIteration, ValueError):
        tail = (run.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"asking GPU {index} for its video engines failed (exit {run.returncode}: {tail})"}
    return answer


def _nvdec(answers: list[dict[str, Any]]) -> VideoEngine:
    codecs: list[CodecSupport] = []
    engines = 0
    for item in answers:
        label = f"{item['codec']} {item['bits']}-bit 4:2:0"
        if "error" in item:
            codecs.append(CodecSupport(label, False, {}, item["error"]))
            continue
        caps = item["caps"]
        engines = max(engines, caps.get("num_decoder_engines", 0))
        limits = {
            "max_width": caps.get("width_max"),
            "max_height": caps.get("height_max"),
            "min_width": caps.get("width_min"),
            "min_height": caps.get("height_min"),
            "max_macroblocks": caps.get("mb_num_max"),
        }
        codecs.append(CodecSupport(label, bool(caps.get("supported", 0)), limits))
    return VideoEngine(engines, tuple(codecs))


def _nvenc(answers: list[dict[str, Any]]) -> VideoEngine:
    codecs: list[CodecSupport] = []
    engines = 0
    for item in answers:
        name = item["codec"]
        if "error" in item:  # no NVENC on this GPU: the session does not open
            codecs.append(CodecSupport(name, False, {}, item["error"]))
            continue
        caps = item["caps"]
        count = caps.get("num_encoder_engines", 0)
        engines = max(engines, count)
        limits = {
            "max_b_frames": caps.get("num_max_bframes"),
            "max_width": caps.get("width_max"),
            "max_height": caps.get("height_max"),
            "ten_bit": bool(caps.get("support_10bit_encode", 0)),
            "lossless": bool(caps.get("support_lossless_encode", 0)),
        }
        codecs.append(CodecSupport(name, count > 0 or bool(caps.get("supported", 0)), limits))
    return VideoEngine(engines, tuple(codecs))
