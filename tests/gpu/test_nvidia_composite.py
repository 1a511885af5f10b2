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
from gpu_helpers import load_test_module, render_variants, root_helpers
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


def test_every_smpte_wipe_renders_as_the_cpu_backend_draws_it(
    fake_gpu,  # noqa: F811
    project_dir,
    tmp_path,
):
    """W007 (the TV cut's), W024 and W008 into a gap (its inverse mask): the nvidia backend renders them
    with the CPU backend's masks, where before it refused them (exit 69)."""
    fake_gpu(nvenc_engines=2)
    toml = composite_cut.write_wipes(project_dir, ("W007", "W024", "W008"))
    gpu = frames_of(render_variants(toml, "nvidia", "nvenc", tmp_path)["c"])
    cpu = frames_of(render_variants(toml, "cpu", "cpu", tmp_path)["c"])
    assert len(gpu) == len(cpu) == 18
    diff = [float(np.abs(g - c).mean()) for g, c in zip(gpu, cpu, strict=True)]
    # within each wipe (frames 3..6, 8..11, 14..17) the mask is what changes from frame to frame
    wrong = [float(np.abs(gpu[n] - cpu[n + 1]).mean()) for n in (4, 9, 15)]
    print("mean abs diff per frame: max", max(diff), "; against the next frame's mask", wrong)
    assert max(diff) < 6, diff
    assert min(wrong) > 2 * max(diff[n] for n in (4, 9, 15)), (diff, wrong)


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
        assert route == "cpu-fallback: NVDEC does not decode prores", route


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


def test_an_interlaced_source_is_deinterlaced_on_the_cpu_then_scaled_on_the_gpu(
    fake_gpu,  # noqa: F811
    tmp_path,
):
    """50i through bwdif (CPU) and the GPU chain combs no more than the CPU backend's render of it."""
    interlaced_media = load_test_module(
        "interlaced_media", Path(__file__).resolve().parents[1] / "interlaced_media.py"
    )
    fake_gpu(nvenc_engines=2)
    root = tmp_path / "project"
    (root / "media").mkdir(parents=True)
    woven, _ = interlaced_media.write_pair(root / "media", frames=8)
    project = coded.write_project(
        root, {"cut": [Shot(f"media/{woven.name}", 0, 6)]}, output={"width": 160, "height": 120}
    )
    gpu = render_variants(project, "nvidia", "nvenc", tmp_path)["cut"]
    cpu = render_variants(project, "cpu", "cpu", tmp_path)["cut"]
    combs = [[interlaced_media.combing(f[..., 0]) for f in frames_of(path)] for path in (gpu, cpu)]
    assert len(combs[0]) == len(combs[1]) == 6
    print("combing: nvidia", np.mean(combs[0]), "cpu", np.mean(combs[1]))
    assert np.mean(combs[0]) <= np.mean(combs[1]) * 1.25 + 0.2, combs
    notes = [n["decode"] for n in _cache_notes(tmp_path, "nvidia-nvenc") if "decode" in n]
    assert notes and all("interlaced (tff)" in route for n in notes for route in n.values()), notes


def test_a_ten_bit_output_keeps_ten_bits_on_a_gpu_without_nvenc(
    fake_gpu,  # noqa: F811
    tmp_path,
):
    """A 10-bit ramp (HEVC Main10, decoded as P016) to a Main10 output through the host encoder."""
    import av

    fake_gpu(nvenc_engines=0)
    root = tmp_path / "project"
    (root / "media").mkdir(parents=True)
    w, h = 320, 64
    ramp = (64 + np.arange(w) * (940 - 64) // (w - 1)).astype(np.uint16)
    with av.open(str(root / "media" / "ramp.mp4"), "w") as dst:
        stream = dst.add_stream("libx265", rate=24)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p10le"
        stream.codec_context.options = {"x265-params": "log-level=error:lossless=1"}
        for i in range(4):
            frame = av.VideoFrame(w, h, "yuv420p10le")
            for plane, data in zip(frame.planes, (np.tile(ramp, (h, 1)), None, None), strict=True):
                values = data if data is not None else np.full((h // 2, w // 2), 512, np.uint16)
                padded = np.zeros((values.shape[0], plane.line_size // 2), np.uint16)
                padded[:, : values.shape[1]] = values
                plane.update(padded.tobytes())
            frame.pts = i
            dst.mux(stream.encode(frame))
        dst.mux(stream.encode(None))
    output = {"width": w, "height": h, "codec": "hevc", "bit_depth": 10, "quality": 4}
    project = coded.write_project(root, {"cut": [Shot("media/ramp.mp4", 0, 4)]}, output=output)
    out = render_variants(project, "nvidia", "nvdec+cpu", tmp_path)["cut"]
    with av.open(str(out)) as container:
        frames = [f for f in container.decode(video=0)]
    assert [f.format.name for f in frames] == ["yuv420p10le"] * 4
    levels = np.unique(frames[0].to_ndarray()[: h // 2])
    print("levels kept of the 10-bit ramp:", len(levels))
    assert len(levels) > 256, len(levels)  # an 8-bit step anywhere on the way would leave at most 220


@pytest.mark.parametrize(
    "name", ["otio/transition.otio", "otio/multiple_track.otio", "edl/dissolve_test_4.edl"]
)
def test_real_cuts_with_tracks_and_transitions_render_as_on_the_cpu(
    fake_gpu,  # noqa: F811
    tmp_path,
    name,
):
    """Real edit files (with the harness's generated media) through the nvidia backend and the CPU one."""
    harness = load_test_module(
        "realcuts_harness", Path(__file__).resolve().parents[1] / "realcuts_harness.py"
    )
    if not harness.REALCUTS.is_dir():
        pytest.skip("../shared/realcuts is not there")
    fake_gpu(nvenc_engines=0)
    project, _ = harness.build_project(harness.REALCUTS / name, tmp_path / "p")
    gpu = frames_of(render_variants(project, "nvidia", "nvdec+cpu", tmp_path)["cut"])
    cpu = frames_of(render_variants(project, "cpu", "cpu", tmp_path)["cut"])
    assert len(gpu) == len(cpu) > 0
    diff = [float(np.abs(g - c).mean()) for g, c in zip(gpu, cpu, strict=True)]
    assert max(diff) < 2, diff


def test_av1_on_a_gpu_whose_nvdec_lacks_it_decodes_on_the_cpu(
    fake_gpu,  # noqa: F811
    tmp_path,
):
    """The GPU's own answer decides: the stand-in is a Hopper, whose NVDEC has no AV1."""
    import av

    from farm.media.synth import write_clip

    fake_gpu(nvenc_engines=0)
    root = tmp_path / "project"
    (root / "media").mkdir(parents=True)
    eight = tmp_path / "eight.mp4"
    write_clip(eight, width=320, height=180, rate=24, frames=6, source_id=13)
    with av.open(str(eight)) as src, av.open(str(root / "media" / "av1.mp4"), "w") as dst:
        stream = dst.add_stream("libsvtav1", rate=24)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        stream.codec_context.options = {"preset": "12", "crf": "20"}
        for frame in src.decode(video=0):
            frame.pict_type = av.video.frame.PictureType.NONE
            dst.mux(stream.encode(frame))
        dst.mux(stream.encode(None))
    project = coded.write_project(root, {"cut": [Shot("media/av1.mp4", 0, 6)]})
    out = render_variants(project, "nvidia", "nvdec+cpu", tmp_path)["cut"]
    assert media_check.frame_codes(out) == [(13, i) for i in range(6)]
    notes = [n["decode"] for n in _cache_notes(tmp_path, "nvidia-nvdec+cpu") if "decode" in n]
    assert notes and all(
        route == "cpu-fallback: this GPU's NVDEC does not decode av1 8-bit 4:2:0"
        for n in notes
        for route in n.values()
    ), notes
