"""Every CUDA source compiles with nvcc for the GPUs farm targets (no GPU needed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from farm.kernels._cupy import CUDA_DIR, cuda_source

ARCHITECTURES = ("sm_75", "sm_86", "sm_89", "sm_90")
SOURCES = sorted(p.name for p in CUDA_DIR.glob("*.cu"))
NVCC = shutil.which("nvcc")

pytestmark = pytest.mark.skipif(NVCC is None, reason="nvcc is not on PATH")


def test_there_are_sources_for_every_kernel_family():
    assert SOURCES == ["composite.cu", "fused.cu", "lut.cu", "resize.cu", "yuv.cu"]


def _nvcc(source: Path, output: Path, arch: str, *extra: str) -> None:
    result = subprocess.run(
        [
            NVCC,
            "-cubin",
            f"-arch={arch}",
            "-std=c++17",
            "-Werror",
            "all-warnings",
            *extra,
            "-o",
            str(output),
            str(source),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, f"nvcc failed for {source.name} ({arch}):\n{result.stderr}"
    assert output.stat().st_size > 0


@pytest.mark.parametrize("name", SOURCES)
def test_compiles_as_a_file(tmp_path, name):
    for arch in ARCHITECTURES:
        _nvcc(CUDA_DIR / name, tmp_path / f"{name}.{arch}.cubin", arch, "-I", str(CUDA_DIR))


@pytest.mark.parametrize("name", SOURCES)
def test_compiles_as_cupy_gets_it(tmp_path, name):
    """The text handed to NVRTC (header inlined, no include path) compiles on its own."""
    source = tmp_path / f"inlined_{name}"
    source.write_text(cuda_source(name))
    _nvcc(source, tmp_path / f"{name}.cubin", "sm_90")
