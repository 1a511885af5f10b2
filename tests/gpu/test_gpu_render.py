"""The nvidia backend on a GPU: frame-exact renders, the CPU render's twin, the kernels' twins.

Every test here is marked ``gpu``: skipped without a GPU, a failure with
``FARM_REQUIRE_GPU=1``. None needs Ray: cuts are planned with the encoder
family under test and rendered by the real render loop on the in-process
executor (``gpu_helpers.render_variants``), as ``farm render`` does on a GPU box
without Ray. The test media carry burned-in codes, so every rendered frame says
which source frame it shows.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from gpu_helpers import render_variants, root_helpers

from farm.errors import BackendUnavailableError

pytestmark = pytest.mark.gpu

coded, media_check = root_helpers()
Shot, Gap = coded.Shot, coded.Gap

#: the cut of the CPU backend's frame-exactness test: every source rate, a gap, a clip without audio
MIXED = [Shot("s24", 5, 30), Gap(7), Shot("s25", 10, 33), Shot("s2997", 3, 40), Shot("s30", 0, 20)]


def nvidia_family() -> str:
    from farm.backends.nvidia.pipeline import encode_family

    return encode_family("nvidia")


def yuv_frames(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="yuv420p") for f in c.decode(video=0)]


def psnr(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    assert len(a) == len(b) and a
    mse = np.mean([np.mean((x.astype(np.float64) - y) ** 2) for x, y in zip(a, b, strict=True)])
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


# ------------------------------------------------------------------ frame-exact renders


@pytest.mark.parametrize("out_fps", ["24", "30000/1001"])
def test_every_output_frame_shows_the_source_frame_the_rule_picks(project_dir, tmp_path, out_fps):
    from farm.edit.timing import parse_rate

    project = coded.write_project(project_dir, {"cut": MIXED}, output={"fps": out_fps})
    out = render_variants(project, "nvidia", nvidia_family(), tmp_path)["cut"]
    assert media_check.frame_codes(out) == coded.expected_frames(MIXED, parse_rate(out_fps))


def test_rotated_and_variable_rate_sources(project_dir, tmp_path):
    items = [Shot("rot", 4, 20), Shot("vfr", 3, 30, rate=Fraction(20))]
    project = coded.write_project(project_dir, {"cut": items})
    out = render_variants(project, "nvidia", nvidia_family(), tmp_path)["cut"]
    assert media_check.frame_codes(out) == coded.expected_frames(items, Fraction(24))


def test_the_host_encode_family_runs_on_any_gpu(project_dir, tmp_path):
    """NVDEC + CuPy, one host copy after scaling, libx264: what H100/H200/A100 render."""
    items = [Shot("s24", 0, 24), Gap(6), Shot("rot", 0, 12)]
    project = coded.write_project(project_dir, {"cut": items})
    out = render_variants(project, "nvidia", "nvdec+cpu", tmp_path)["cut"]
    assert media_check.frame_codes(out) == coded.expected_frames(items, Fraction(24))


@pytest.mark.parametrize("codec", ["h264", "hevc"])
def test_nvenc_segments_are_frame_exact_and_concatenate(project_dir, tmp_path, codec):
    from farm.backends.nvidia.pipeline import has_nvenc

    if not has_nvenc(codec):
        pytest.skip(f"this GPU has no NVENC for {codec}")
    items = [Shot("s24", 0, 60), Gap(5), Shot("s25", 0, 50)]  # several segments per clip
    project = coded.write_project(project_dir, {"cut": items}, output={"codec": codec})
    out = render_variants(project, "nvidia", "nvenc", tmp_path)["cut"]
    assert media_check.frame_codes(out) == coded.expected_frames(items, Fraction(24))
    info = media_check.stream_info(out)
    assert (info["width"], info["height"], info["frames"]) == (
        320,
        180,
        len(coded.expected_frames(items, Fraction(24))),
    )


def test_the_nvenc_family_on_a_gpu_without_nvenc_is_refused_with_69(media_dir, tmp_path):
    from farm.backends.nvidia.pipeline import has_nvenc
    from farm.backends.segment import render_segment
    from farm.media.probe import probe
    from farm.planning.sources import source_ref
    from farm.planning.units import EncodeSpec, SegmentJob, fit_geometry

    if has_nvenc():
        pytest.skip("this GPU has NVENC")
    info = probe(media_dir / "media" / "s24.mp4")
    src = source_ref(info)
    job = SegmentJob(
        key="n" * 40,
        frames=(0, 1),
        frame_pts=info.frame_pts[:2],
        count=2,
        source=src,
        geometry=fit_geometry(*info.display_size, 0, 320, 180, "fit"),
        lut_path=None,
        lut_hash=None,
        encode=EncodeSpec("h264", 20, "fast", 320, 180, Fraction(24), 48, family="nvenc"),
    )
    with pytest.raises(BackendUnavailableError) as err:
        render_segment(job, str(tmp_path / "cache"), "nvidia")
    assert err.value.exit_code == 69 and "NVENC" in str(err.value)
    # CreateEncoder's failed caps query left no foreign CUDA context: the decoder still takes our stream
    host = dataclasses.replace(job, key="h" * 40, encode=dataclasses.replace(job.encode, family="nvdec+cpu"))
    assert render_segment(host, str(tmp_path / "cache"), "nvidia")["frames"] == 2


def test_a_ten_bit_hevc_source(tmp_path):
    """NVDEC hands out P016 for 10-bit HEVC; the kernel reads it and the segment is 8-bit BT.709."""
    import av

    from farm.media.probe import probe
    from farm.media.synth import write_clip

    root = tmp_path / "project"
    (root / "media").mkdir(parents=True)
    eight = tmp_path / "eight.mp4"
    write_clip(eight, width=320, height=180, rate=24, frames=24, source_id=11)
    ten = root / "media" / "ten.mp4"
    with av.open(str(eight)) as src, av.open(str(ten), "w") as dst:
        stream = dst.add_stream("libx265", rate=24)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p10le"
        stream.codec_context.options = {"crf": "12", "x265-params": "log-level=error"}
        stream.codec_context.colorspace, stream.codec_context.color_range = 1, 1
        for frame in src.decode(video=0):
            out = frame.reformat(format="yuv420p10le")
            out.pts, out.time_base = frame.pts, frame.time_base
            dst.mux(stream.encode(out))
        dst.mux(stream.encode(None))
    assert probe(ten).pix_fmt == "yuv420p10le"
    project = coded.write_project(root, {"cut": [Shot("media/ten.mp4", 0, 24)]})
    out = render_variants(project, "nvidia", nvidia_family(), tmp_path)["cut"]
    assert media_check.frame_codes(out) == [(11, i) for i in range(24)]


def test_a_bt601_source_is_converted_in_the_kernel(tmp_path):
    from farm.media.synth import write_clip

    root = tmp_path / "project"
    (root / "media").mkdir(parents=True)
    write_clip(
        root / "media" / "sd.mp4", width=320, height=240, rate=24, frames=24, source_id=12, colorspace="bt601"
    )
    project = coded.write_project(root, {"cut": [Shot("media/sd.mp4", 0, 24)]})
    gpu = render_variants(project, "nvidia", nvidia_family(), tmp_path)["cut"]
    cpu = render_variants(project, "cpu", "cpu", tmp_path)["cut"]
    assert media_check.frame_codes(gpu) == [(12, i) for i in range(24)]
    assert psnr(yuv_frames(gpu), yuv_frames(cpu)) >= 40.0


# ------------------------------------------------------------------ the CPU render's twin


def test_a_gpu_render_matches_the_cpu_render_of_the_same_cut(project_dir, tmp_path):
    items = [Shot("s24", 0, 30), Shot("rot", 2, 20), Gap(4), Shot("s2997", 0, 30)]
    project = coded.write_project(project_dir, {"cut": items})
    gpu = render_variants(project, "nvidia", nvidia_family(), tmp_path)["cut"]
    cpu = render_variants(project, "cpu", "cpu", tmp_path)["cut"]
    assert media_check.frame_codes(gpu) == media_check.frame_codes(cpu)
    assert psnr(yuv_frames(gpu), yuv_frames(cpu)) >= 40.0


def test_a_graded_gpu_render_matches_the_graded_cpu_render(project_dir, tmp_path):
    from farm.kernels import Lut, identity_lut, write_cube

    grid = identity_lut(17).table3d.astype(np.float64)
    r, g, b = np.moveaxis(grid, -1, 0)
    write_cube(Lut(np.stack([r**0.9, 0.05 + 0.9 * g, b**1.1], -1), title="look"), project_dir / "look.cube")
    items = [Shot("s25", 0, 25), Shot("s30", 0, 15)]
    project = coded.write_project(project_dir, {"cut": items}, extra='[look]\nlut = "look.cube"\n')
    gpu = render_variants(project, "nvidia", nvidia_family(), tmp_path)["cut"]
    cpu = render_variants(project, "cpu", "cpu", tmp_path)["cut"]
    assert media_check.frame_codes(gpu) == coded.expected_frames(items, Fraction(24))
    assert psnr(yuv_frames(gpu), yuv_frames(cpu)) >= 40.0


def test_farm_render_with_the_in_process_executor(project_dir, tmp_path):
    """The public API on a GPU box without Ray (needs the planner to use encode_family(backend))."""
    import farm
    from farm.execute.local import InProcessExecutor

    project = coded.write_project(project_dir, {"cut": MIXED})
    report = farm.render(
        project,
        backend="nvidia",
        executor=InProcessExecutor(),
        out=tmp_path / "out",
        cache=tmp_path / "cache",
    )
    v = report.variants["cut"]
    assert v.error is None, v.error
    assert report.backend == "nvidia" and "NVDEC" in report.backend_reason
    assert media_check.frame_codes(Path(v.output)) == coded.expected_frames(MIXED, Fraction(24))


# ------------------------------------------------------------------ twins and warm state


@pytest.mark.parametrize(
    ("rotation", "out", "fit"),
    [
        (0, (256, 144), "fit"),
        (90, (256, 144), "fit"),
        (270, (256, 144), "fit"),
        (180, (256, 144), "stretch"),
        (0, (144, 256), "fill"),
    ],
)
@pytest.mark.parametrize("ten_bit", [False, True])
def test_compose_frame_twin(tmp_path, rotation, out, fit, ten_bit):
    import av
    import cupy

    from farm.backends.nvidia.frames import compose_frame
    from farm.backends.nvidia.params import frame_plan
    from farm.kernels import Lut, identity_lut
    from farm.media.probe import probe
    from farm.media.synth import write_clip
    from farm.planning.units import fit_geometry

    path = tmp_path / "clip.mp4"
    write_clip(path, width=320, height=180, rate=24, frames=2, source_id=2, rotation=rotation)
    info = probe(path)
    with av.open(str(path)) as c:
        frame = next(c.decode(video=0))
    arr = frame.reformat(format="nv12").to_ndarray()
    y, uv = arr[:180], arr[180:].reshape(90, 160, 2)
    if ten_bit:
        y, uv = y.astype(np.uint16) << 8, uv.astype(np.uint16) << 8
    grid = identity_lut(9).table3d.astype(np.float64)
    lut = Lut(np.stack([grid[..., 0] ** 0.8, grid[..., 1], grid[..., 2] ** 1.2], -1))
    plan = frame_plan(fit_geometry(*info.display_size, info.rotation, out[0], out[1], fit))
    want = compose_frame(np, y, uv, plan, lut, "bt709", "limited")
    got = compose_frame(cupy, cupy.asarray(y), cupy.asarray(uv), plan, lut, "bt709", "limited")
    for g, w in zip(got, want, strict=True):
        diff = np.abs(cupy.asnumpy(g).astype(int) - w)
        assert diff.max() <= 1 and np.mean(diff > 0) < 0.01


def test_the_worker_keeps_its_gpu_state_warm(project_dir, tmp_path):
    from farm.backends.nvidia.pipeline import gpu_state

    # run longest first: s24 [0, 48), s25, then s24 again further on (read forward, no new decoder)
    items = [Shot("s24", 0, 48), Shot("s25", 0, 24), Shot("s24", 56, 12)]
    project = coded.write_project(project_dir, {"cut": items})
    state = gpu_state()
    before, opened, seeks = state.segments, len(state.reader.opened), state.reader.seeks
    out = render_variants(project, "nvidia", nvidia_family(), tmp_path)["cut"]
    assert media_check.frame_codes(out) == coded.expected_frames(items, Fraction(24))
    assert gpu_state() is state  # one stream, one decoder per source, one set of compiled kernels
    assert state.segments - before == 3
    assert len(state.reader.opened) - opened <= 2 and state.reader.seeks == seeks
