"""The nvidia backend's composited, generated, reversed and CPU-decoded segments, on the CPU stand-ins.

The stand-in CuPy is NumPy, so the kernels run their NumPy references (the
CUDA twins are checked against those in tests/kernels/test_composite.py).
Both encoder families render the composited cut of tests/kernels/composite_cut.py;
every frame must be the CPU backend's frame (the same source frame, the same
mix), within what the two scalers and the encoder differ by.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from gpu_helpers import render_variants, root_helpers
from test_nvidia_pipeline import fake_gpu  # noqa: F401 - the fixture

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kernels"))
import composite_cut  # noqa: E402

coded, media_check = root_helpers()
Shot = coded.Shot


def frames_of(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24").astype(np.int16) for f in container.decode(video=0)]


@pytest.mark.parametrize(("family", "nvenc_engines"), [("nvenc", 2), ("nvdec+cpu", 0)])
def test_a_composited_cut_renders_as_the_cpu_backend_does(
    fake_gpu,  # noqa: F811
    project_dir,
    tmp_path,
    family,
    nvenc_engines,
):
    fake_gpu(nvenc_engines=nvenc_engines)
    toml = composite_cut.write(project_dir)
    gpu = frames_of(render_variants(toml, "nvidia", family, tmp_path)["c"])
    cpu = frames_of(render_variants(toml, "cpu", "cpu", tmp_path)["c"])
    assert len(gpu) == len(cpu) == 41
    diff = [float(np.abs(g - c).mean()) for g, c in zip(gpu, cpu, strict=True)]
    # a neighbour a few frames away (another mix, another source frame) is much further off
    wrong = [float(np.abs(g - c).mean()) for g, c in zip(gpu, cpu[5:] + cpu[:5], strict=True)]
    print("mean abs diff per frame: max", max(diff), "median", np.median(diff), "shifted", np.median(wrong))
    assert max(diff) < 6, diff
    assert np.median(wrong) > 4 * np.median(diff), (diff, wrong)
    # the title's opaque red box is drawn over the picture in its six frames (20..25)
    for n in range(20, 26):
        assert abs(gpu[n][8, 18] - (255, 40, 40)).max() <= 24, (n, gpu[n][8, 18], cpu[n][8, 18])


def _cache_notes(work: Path, tag: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in (work / f"cache-{tag}").rglob("*.json")]


def _prores_render(tmp_path: Path, family: str) -> tuple[Path, list[dict]]:
    """A ProRes 4:2:2 10-bit coded clip (source 12) cut at frames 2..9 and rendered by the nvidia backend."""
    import av

    from farm.media.synth import write_clip

    root = tmp_path / "project"
    (root / "media").mkdir(parents=True)
    eight = tmp_path / "eight.mp4"
    write_clip(eight, width=320, height=180, rate=24, frames=10, source_id=12)
    with av.open(str(eight)) as src, av.open(str(root / "media" / "pro.mov"), "w") as dst:
        stream = dst.add_stream("prores_ks", rate=24)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv422p10le"
        for frame in src.decode(video=0):
            ten = frame.reformat(format="yuv422p10le")
            ten.pts, ten.time_base = frame.pts, frame.time_base
            dst.mux(stream.encode(ten))
        dst.mux(stream.encode(None))
    project = coded.write_project(root, {"cut": [Shot("media/pro.mov", 2, 8)]})
    out = render_variants(project, "nvidia", family, tmp_path)["cut"]
    notes = [n["decode"] for n in _cache_notes(tmp_path, f"nvidia-{family}") if "decode" in n]
    return out, notes


def _check_prores_render(out: Path, notes: list[dict]) -> None:
    assert media_check.frame_codes(out) == [(12, 2 + i) for i in range(8)]
    assert notes, "no segment records how its source was decoded"
    for decode in notes:
        (route,) = decode.values()
        assert route.startswith("cpu-fallback: NVDEC decodes 4:2:0 only, the source is 4:2:2"), route


def test_sources_nvdec_cannot_decode_fall_back_to_the_cpu_and_the_record_says_why(
    fake_gpu,  # noqa: F811
    tmp_path,
):
    """A ProRes 4:2:2 10-bit source: decoded by PyAV, uploaded, through the same kernels; frame-exact."""
    fake_gpu(nvenc_engines=0)
    _check_prores_render(*_prores_render(tmp_path, "nvdec+cpu"))


# ------------------------------------------------------------------ on a GPU (marked gpu: skipped here)


@pytest.mark.gpu
def test_on_the_gpu_the_composited_cut_renders_as_the_cpu_backend_does(project_dir, tmp_path):
    """Real NVDEC, the CUDA compositing kernel and the GPU's encoder family, against the CPU render."""
    from farm.backends.nvidia.pipeline import encode_family

    toml = composite_cut.write(project_dir)
    gpu = frames_of(render_variants(toml, "nvidia", encode_family("nvidia"), tmp_path)["c"])
    cpu = frames_of(render_variants(toml, "cpu", "cpu", tmp_path)["c"])
    assert len(gpu) == len(cpu) == 41
    diff = [float(np.abs(g - c).mean()) for g, c in zip(gpu, cpu, strict=True)]
    print("gpu vs cpu, mean abs difference per frame: max", max(diff), "median", np.median(diff))
    assert max(diff) < 6, diff


@pytest.mark.gpu
def test_on_the_gpu_a_prores_source_falls_back_to_the_cpu_decoder(tmp_path):
    """On a real GPU the fallback route is the same: PyAV decodes, the CUDA kernels convert."""
    from farm.backends.nvidia.pipeline import encode_family

    _check_prores_render(*_prores_render(tmp_path, encode_family("nvidia")))
