"""Fixtures for the kernel tests: test images, the GPU marker, and a CPU stand-in for CuPy.

GPU tests are marked ``gpu``: they run where CuPy sees a GPU, skip elsewhere,
and fail instead of skipping when ``FARM_REQUIRE_GPU=1`` promises a GPU.

Without a GPU the CUDA sources still run: :func:`emulated_cupy` compiles each
``.cu`` (exactly the text CuPy would give NVRTC) as C++ with g++, runs every
launch thread by thread on the CPU, and checks each kernel argument's type
against the kernel's C signature, as a real launch needs. Together with the
``nvcc`` compile test this covers the CUDA code and its launch code, short of
timing.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

REQUIRE_GPU = os.environ.get("FARM_REQUIRE_GPU") == "1"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "gpu: needs CuPy and a CUDA GPU (fails instead of skipping when FARM_REQUIRE_GPU=1)"
    )


def _gpu_missing() -> str | None:
    """Why CuPy cannot run on a GPU here, or None when it can."""
    try:
        import cupy
    except ImportError as exc:
        return f"CuPy is not importable: {exc}"
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "no CUDA device"
    except Exception as exc:  # CUDARuntimeError without a driver
        return f"no usable CUDA device: {exc}"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("gpu") is None:
        return
    reason = _gpu_missing()
    if reason is None:
        return
    if REQUIRE_GPU:
        pytest.fail(f"FARM_REQUIRE_GPU=1 but {reason}")
    pytest.skip(reason)


# ------------------------------------------------------------------ images


def _downscale(image: np.ndarray, width: int) -> np.ndarray:
    from PIL import Image

    height = round(image.shape[0] * width / image.shape[1])
    return np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR), np.float32) / 255.0


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    """Small natural photographs (shipped with scikit-image) as float32 RGB in [0, 1]."""
    import skimage.data

    return {
        name: _downscale(getattr(skimage.data, name)(), 160)
        for name in ("astronaut", "coffee", "chelsea", "rocket")
    }


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240611)


# --------------------------------------------------------- emulated CuPy

_PRELUDE = r"""
#include <math.h>
#include <algorithm>
using std::max;
using std::min;
struct FarmEmuDim3 { unsigned int x, y, z; };
extern "C" {
FarmEmuDim3 blockIdx, threadIdx, blockDim, gridDim;
void farm_emu_set(unsigned int block, unsigned int thread, unsigned int block_dim, unsigned int grid_dim) {
    blockIdx = {block, 0, 0}; threadIdx = {thread, 0, 0};
    blockDim = {block_dim, 1, 1}; gridDim = {grid_dim, 1, 1};
}
}
// single float operations rounded to nearest: what CUDA's __f*_rn intrinsics are (x86-64 g++ does
// not fuse a multiply and an add without -mfma)
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
#define __global__
#define __device__
#define __forceinline__ inline
#line 1 "kernel.cu"
"""

_C_TYPES = {
    "int": (np.int32, ctypes.c_int32),
    "long long": (np.int64, ctypes.c_int64),
    "float": (np.float32, ctypes.c_float),
}
_POINTEE = {
    "float": np.float32,
    "unsigned char": np.uint8,
    "unsigned short": np.uint16,
    "int": np.int32,
    "FarmNode": np.float32,
}


def _signatures(source: str) -> dict[str, list[str]]:
    """Kernel name -> C parameter types, from the preprocessed source (macros expanded)."""
    expanded = subprocess.run(
        ["g++", "-E", "-P", "-x", "c++", "-"], input=source, capture_output=True, text=True, check=True
    )
    out = {}
    for name, params in re.findall(r'extern "C" __global__ void (\w+)\s*\(([^)]*)\)', expanded.stdout, re.S):
        types_ = []
        for param in params.split(","):
            words = param.replace("*", " * ").split()
            types_.append(" ".join(w for w in words[:-1] if w not in ("const", "__restrict__")))
        out[name] = types_
    return out


class _EmulatedFunction:
    def __init__(self, library: ctypes.CDLL, name: str, params: list[str], array_type: type):
        self._library = library
        self._name = name
        self._function = getattr(library, name)
        self._function.restype = None
        self._params = params
        self._array_type = array_type

    def _convert(self, position: int, ctype: str, value: object) -> object:
        where = f"{self._name} argument {position} ({ctype})"
        if ctype.endswith("*"):
            pointee = ctype[:-1].strip()
            assert isinstance(value, self._array_type), f"{where}: expected a device array, got {type(value)}"
            assert value.dtype == _POINTEE[pointee], f"{where}: got a {value.dtype} array"
            if pointee == "FarmNode":
                assert value.shape[-1] == 4 and value.flags.c_contiguous, (
                    f"{where}: nodes must be (..., 4) contiguous"
                )
            return ctypes.c_void_p(value.__array_interface__["data"][0])
        numpy_type, c_type = _C_TYPES[ctype]
        assert type(value) is numpy_type, (
            f"{where}: expected {numpy_type.__name__}, got {type(value).__name__}"
        )
        return c_type(value.item())

    def __call__(self, grid: tuple, block: tuple, args: tuple, shared_mem: int = 0) -> None:
        assert len(args) == len(self._params), (
            f"{self._name}: {len(args)} arguments for {len(self._params)} parameters"
        )
        assert len(grid) == 1 and len(block) == 1, "farm's kernels use 1D launches"
        assert 0 < grid[0] <= 2**31 - 1 and 0 < block[0] <= 1024, f"bad launch {grid} x {block}"
        c_args = [self._convert(i, t, v) for i, (t, v) in enumerate(zip(self._params, args, strict=True))]
        for b in range(grid[0]):
            for t in range(block[0]):
                self._library.farm_emu_set(b, t, block[0], grid[0])
                self._function(*c_args)


_compiled: dict[str, tuple[ctypes.CDLL, dict[str, list[str]]]] = {}


def _compile(build_dir: Path, code: str) -> tuple[ctypes.CDLL, dict[str, list[str]]]:
    """The source built as a host shared library, once per test session."""
    key = hashlib.sha256(code.encode()).hexdigest()[:16]
    if key not in _compiled:
        source = build_dir / f"kernels_{key}.cpp"
        library = source.with_suffix(".so")
        source.write_text(_PRELUDE + code)
        subprocess.run(
            ["g++", "-std=c++17", "-O1", "-shared", "-fPIC", "-o", str(library), str(source)],
            check=True,
            capture_output=True,
            text=True,
        )
        _compiled[key] = (ctypes.CDLL(str(library)), _signatures(code))
    return _compiled[key]


def _make_emulated_cupy(build_dir: Path) -> types.ModuleType:
    cp = types.ModuleType("cupy")

    class ndarray(np.ndarray):  # noqa: N801 - mirrors cupy.ndarray
        @property
        def device(self) -> _Device:
            return _Device(0)

    ndarray.__module__ = "cupy._emulated"

    class _Device:
        def __init__(self, device_id: int = 0):
            self.id = device_id

        def __enter__(self) -> _Device:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

    class RawModule:
        def __init__(self, code: str, options: tuple = (), **kwargs: object):
            assert not re.search(r"^\s*#\s*include", code, re.M), (
                "NVRTC would need include paths: sources must be inlined"
            )
            self._library, self._signatures = _compile(build_dir, code)

        def get_function(self, name: str) -> _EmulatedFunction:
            return _EmulatedFunction(self._library, name, self._signatures[name], ndarray)

    def asarray(a: object, dtype: object = None) -> ndarray:
        return np.array(a, dtype=dtype, copy=True).view(ndarray)

    def ascontiguousarray(a: np.ndarray, dtype: object = None) -> ndarray:
        assert isinstance(a, ndarray), "the wrappers must not receive host arrays"
        if a.flags.c_contiguous and (dtype is None or a.dtype == np.dtype(dtype)):
            return a
        return np.array(a, dtype=dtype, order="C").view(ndarray)

    cp.ndarray = ndarray
    cp.asarray = asarray
    cp.ascontiguousarray = ascontiguousarray
    cp.asnumpy = lambda a: np.array(a).view(np.ndarray)
    cp.empty = lambda shape, dtype=np.float32: np.empty(shape, dtype).view(ndarray)
    cp.empty_like = lambda a: np.empty_like(np.asarray(a)).view(ndarray)
    cp.full = lambda shape, value, dtype=np.float32: np.full(shape, value, dtype).view(ndarray)
    cp.float32, cp.uint8, cp.uint16 = np.float32, np.uint8, np.uint16
    cp.RawModule = RawModule
    cp.cuda = types.SimpleNamespace(Device=_Device)
    return cp


def _clear_kernel_caches() -> None:
    from farm.kernels import _cupy

    _cupy._module.cache_clear()
    _cupy.device_taps.cache_clear()
    _cupy.device_affine.cache_clear()
    _cupy._lut_tables.clear()


@pytest.fixture(scope="session")
def _emulator_build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("emulated_cuda")


@pytest.fixture
def emulated_cupy(_emulator_build_dir: Path, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """A stand-in ``cupy`` that runs farm's CUDA sources on the CPU (needs g++)."""
    if shutil.which("g++") is None:
        pytest.skip("g++ is needed to emulate the CUDA kernels")
    cp = _make_emulated_cupy(_emulator_build_dir)
    monkeypatch.setitem(sys.modules, "cupy", cp)
    _clear_kernel_caches()
    yield cp
    _clear_kernel_caches()


@pytest.fixture(params=["emulated", pytest.param("cupy", marks=pytest.mark.gpu)])
def device_xp(request: pytest.FixtureRequest) -> types.ModuleType:
    """The array module the twin tests run on: the emulated CuPy, and real CuPy on a GPU."""
    if request.param == "emulated":
        return request.getfixturevalue("emulated_cupy")
    import cupy

    _clear_kernel_caches()
    return cupy
