"""The nvidia backend's logic, on a machine without a GPU.

Everything that decides bytes or placement without needing the device is
checked here: encoder families, the preset and option mapping, where a
decoded picture lands (the NumPy run of the same frame code the worker runs
on CuPy, against the CPU backend's libavfilter chain and the burned-in
frame codes), plane handling, the decode schedule, backend selection and its
exit 69, and that importing farm touches neither CuPy, PyNvVideoCodec nor Ray.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import types
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from farm.backends import capabilities, schedule
from farm.backends.nvidia import params
from farm.backends.nvidia.frames import (
    compose_frame,
    host_i420,
    nv12_surface,
    planes_from_views,
    to_8bit,
)
from farm.errors import BackendUnavailableError
from farm.kernels import Lut, identity_lut, write_cube
from farm.media.probe import probe
from farm.media.synth import read_code, write_clip
from farm.planning.units import EncodeSpec, Geometry, SegmentJob, SourceRef, fit_geometry

REPO = Path(__file__).resolve().parents[1]


def _spec(**kw) -> EncodeSpec:  # type: ignore[no-untyped-def]
    base = dict(
        codec="h264",
        quality=20,
        preset="veryfast",
        width=320,
        height=180,
        fps=Fraction(24),
        gop=48,
        family="nvenc",
    )
    base.update(kw)
    return EncodeSpec(**base)  # type: ignore[arg-type]


# ------------------------------------------------------------------ families


def test_each_backend_has_its_own_encoder_family():
    from farm.backends.nvidia.pipeline import encode_family

    assert encode_family("cpu") == "cpu"
    assert encode_family("nvidia", nvenc=True) == "nvenc"
    assert encode_family("nvidia", nvenc=False) == "nvdec+cpu"
    # no GPU here: the local probe finds no NVENC
    assert encode_family("nvidia") == "nvdec+cpu"
    with pytest.raises(ValueError, match="unknown backend"):
        encode_family("opencl")


def test_the_nvidia_worker_refuses_a_family_it_would_mislabel(tmp_path):
    from farm.backends.nvidia.pipeline import render_segment_nvidia

    job = SegmentJob(
        key="k" * 40,
        frames=(),
        frame_pts=(),
        count=2,
        source=None,
        geometry=None,
        lut_path=None,
        lut_hash=None,
        encode=_spec(family="cpu"),
    )
    with pytest.raises(BackendUnavailableError, match="not 'cpu'") as info:
        render_segment_nvidia(job, tmp_path / "seg.mp4")
    assert info.value.exit_code == 69


def test_gaps_of_the_host_encode_family_need_no_gpu(tmp_path):
    import av

    from farm.backends.nvidia.pipeline import render_segment_nvidia

    job = SegmentJob(
        key="g" * 40,
        frames=(),
        frame_pts=(),
        count=5,
        source=None,
        geometry=None,
        lut_path=None,
        lut_hash=None,
        encode=_spec(family="nvdec+cpu"),
    )
    info = render_segment_nvidia(job, tmp_path / "gap.mp4")
    assert info["frames"] == 5 and "libx264" in info["encoder"]
    with av.open(str(tmp_path / "gap.mp4")) as c:
        luma = [f.to_ndarray()[: f.height] for f in c.decode(video=0)]  # yuv420p: Y rows first
    assert len(luma) == 5 and all(abs(float(y.mean()) - 16) <= 1 for y in luma)


# ------------------------------------------------------------------ NVENC settings


def test_x264_presets_map_to_nvenc_presets_in_speed_order():
    from farm.edit.project import PRESETS

    mapped = [params.nvenc_preset(p) for p in PRESETS]  # fastest first
    assert all(m in params.NVENC_PRESETS for m in mapped)
    assert [int(m[1]) for m in mapped] == sorted(int(m[1]) for m in mapped)
    assert (mapped[0], mapped[-1]) == ("P1", "P7")
    assert params.nvenc_preset("medium") == "P4"
    assert params.nvenc_preset("p3") == "P3"
    with pytest.raises(ValueError, match="no NVENC equivalent.*ultrafast"):
        params.nvenc_preset("turbo")


@pytest.mark.parametrize("codec", ["h264", "hevc"])
def test_encoder_options_are_strings_for_constant_qp_and_a_fixed_closed_gop(codec):
    options = params.nvenc_options(
        _spec(codec=codec, quality=23, preset="slow", gop=50, fps=Fraction(30000, 1001))
    )
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in options.items())
    assert options["codec"] == codec
    assert options["rc"] == "constqp" and options["constqp"] == "23"
    assert options["gop"] == options["idrperiod"] == "50"
    assert options["preset"] == "P5"
    assert options["bf"] == "0"  # decode order is presentation order
    assert options["fps"] == "29.97"
    assert "colorspace" not in options  # PyNvVideoCodec 2.0 would flag full range; the muxer writes the VUI
    assert params.nvenc_qp(70) == 51 and params.nvenc_qp(-3) == 0  # clamped to H.264/HEVC's 0..51


def test_encoder_options_refuse_what_nvenc_segments_cannot_be():
    with pytest.raises(ValueError, match="codec"):  # the segment description itself refuses it now
        params.nvenc_options(_spec(codec="av1"))
    assert params.fps_option(Fraction(25)) == "25"
    assert params.fps_option(Fraction(24000, 1001)) == "23.98"
    assert params.keyframes_expected(100, 48) == [0, 48, 96]


# ------------------------------------------------------------------ geometry plan


def _geometry(display, rotation, out, fit):  # type: ignore[no-untyped-def]
    return fit_geometry(Fraction(display[0]), Fraction(display[1]), rotation, out[0], out[1], fit)


def test_a_plain_fit_is_one_direct_kernel_pass():
    plan = params.frame_plan(_geometry((1920, 1080), 0, (1280, 720), "fit"))
    assert plan.direct and plan.fit_rect == (0, 0, 1280, 720) and plan.quarter_turns == 0
    pillar = params.frame_plan(_geometry((1440, 1080), 0, (1920, 1080), "fit"))
    assert pillar.direct and pillar.fit_rect == (240, 0, 1440, 1080)


def test_fill_crops_and_rotation_turns_after_scaling():
    fill = params.frame_plan(_geometry((1920, 1080), 0, (1080, 1920), "fill"))
    assert not fill.direct
    assert fill.scale_size == (3414, 1920)
    assert fill.crop == (1166, 0, 1080, 1920) and fill.paste == (0, 0)
    # a phone clip stored 1920x1080, shown turned: scaled in stored orientation, then turned
    g = _geometry((1080, 1920), 90, (1920, 1080), "fit")
    portrait = params.frame_plan(g)
    assert portrait.scale_size == (g.scaled_height, g.scaled_width) == (1080, 608)
    assert portrait.quarter_turns == 1 and not portrait.direct
    assert portrait.crop == (0, 0, 608, 1080) and portrait.paste == (656, 0)
    assert params.frame_plan(_geometry((1920, 1080), 270, (1920, 1080), "stretch")).quarter_turns == 3


def test_every_plan_value_is_even():
    with pytest.raises(ValueError, match="even"):
        params.FramePlan((3, 2), 0, (4, 4), True, (0, 0, 3, 2), (0, 0, 3, 2), (0, 0))


# ------------------------------------------------------------------ frames: NumPy run of the GPU frame code


def _nv12_planes(frame):  # type: ignore[no-untyped-def]
    arr = frame.reformat(format="nv12").to_ndarray()
    h = frame.height
    return arr[:h], arr[h:].reshape(h // 2, frame.width // 2, 2)


def _rgb(y: np.ndarray, uv: np.ndarray) -> np.ndarray:
    import av

    arr = np.concatenate([y, uv.reshape(y.shape[0] // 2, y.shape[1])])
    frame = av.VideoFrame.from_ndarray(arr, format="nv12")
    return frame.to_ndarray(
        format="rgb24",
        src_colorspace="itu709",
        dst_colorspace="itu709",
        src_color_range="MPEG",
        dst_color_range="JPEG",
    )


def _source_ref(info) -> SourceRef:  # type: ignore[no-untyped-def]
    return SourceRef(
        path=info.path,
        identity=info.identity,
        time_base=info.time_base,
        colorspace=info.colorspace,
        color_range=info.color_range,
        width=info.width,
        height=info.height,
        sar=info.sar,
    )


def _cpu_reference(path: Path, src: SourceRef, geometry: Geometry, lut_path: str | None, index: int):  # type: ignore[no-untyped-def]
    """The CPU backend's libavfilter chain applied to source frame ``index``: (Y, U, V) planes."""
    import av

    from farm.backends.cpu import _build_graph, filter_spec

    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        for i, frame in enumerate(c.decode(stream)):
            if i == index:
                graph = _build_graph(src, filter_spec(src, geometry, lut_path), frame.format.name)
                graph.push(frame)
                out = graph.pull()
                h, w = out.height, out.width
                yuv = out.to_ndarray()
                return (
                    yuv[:h],
                    yuv[h : h + h // 4].reshape(h // 2, w // 2),
                    yuv[h + h // 4 :].reshape(h // 2, w // 2),
                )
    raise AssertionError(f"source frame {index} not found")


def _decode(path: Path, index: int):  # type: ignore[no-untyped-def]
    import av

    with av.open(str(path)) as c:
        for i, frame in enumerate(c.decode(video=0)):
            if i == index:
                return frame
    raise AssertionError(index)


@pytest.fixture(scope="module")
def coded(tmp_path_factory):  # type: ignore[no-untyped-def]
    """Small coded clips: landscape in each rotation, and a BT.601-tagged one."""
    root = tmp_path_factory.mktemp("nv-coded")
    clips = {}
    for rotation in (0, 90, 180, 270):
        clips[rotation] = root / f"rot{rotation}.mp4"
        write_clip(
            clips[rotation],
            width=320,
            height=180,
            rate=24,
            frames=6,
            source_id=3 + rotation // 90,
            rotation=rotation,
            gop=3,
        )
    clips["bt601"] = root / "bt601.mp4"
    write_clip(clips["bt601"], width=320, height=180, rate=24, frames=6, source_id=9, colorspace="bt601")
    return clips


def _compose_case(path: Path, out: tuple[int, int], fit: str, lut: Lut, lut_path: str | None, index: int = 4):
    """Our frame and the CPU backend's frame for one case (NV12 planes; Y, U, V planes), and the geometry."""
    info = probe(path)
    src = _source_ref(info)
    geometry = fit_geometry(*info.display_size, info.rotation, out[0], out[1], fit)
    y, uv = _nv12_planes(_decode(path, index))
    matrix, range_ = params.kernel_colour(src.colorspace, src.color_range)
    ours = compose_frame(np, y, uv, params.frame_plan(geometry), lut, matrix, range_)
    return ours, _cpu_reference(path, src, geometry, lut_path, index), geometry, info


def _read(y_o, uv_o, geometry):  # type: ignore[no-untyped-def]
    g = geometry
    return read_code(_rgb(y_o, uv_o), (g.x, g.y, g.x + g.scaled_width, g.y + g.scaled_height))


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_rotated_sources_land_upright_where_the_cpu_backend_puts_them(coded, rotation):
    (y_o, uv_o), (cpu_y, cpu_u, cpu_v), geometry, info = _compose_case(
        coded[rotation], (256, 144), "fit", identity_lut(2), None
    )
    assert y_o.shape == (144, 256) and uv_o.shape == (72, 128, 2) and y_o.dtype == np.uint8
    # read_code refuses a picture in the wrong orientation
    assert _read(y_o, uv_o, geometry) == (3 + rotation // 90, 4)
    assert np.mean(np.abs(y_o.astype(int) - cpu_y)) < 2.0
    assert np.mean(np.abs(uv_o[..., 0].astype(int) - cpu_u)) < 2.0
    assert np.mean(np.abs(uv_o[..., 1].astype(int) - cpu_v)) < 2.0
    # the letterbox/pillarbox is black in both, in the same place
    assert np.array_equal(y_o <= 17, cpu_y <= 17) or np.mean((y_o <= 17) != (cpu_y <= 17)) < 0.01


def test_fill_crops_the_centre_like_the_cpu_backend(coded):
    (y_o, uv_o), (cpu_y, _, _), geometry, _ = _compose_case(
        coded[0], (144, 256), "fill", identity_lut(2), None
    )
    assert geometry.x < 0
    assert _read(y_o, uv_o, geometry) == (3, 4)
    assert np.mean(np.abs(y_o.astype(int) - cpu_y)) < 2.0


def test_stretch_and_a_bt601_source_convert_to_bt709(coded):
    (y_o, uv_o), (cpu_y, cpu_u, cpu_v), geometry, info = _compose_case(
        coded["bt601"], (256, 144), "stretch", identity_lut(2), None
    )
    assert info.colorspace == "bt601"
    assert _read(y_o, uv_o, geometry) == (9, 4)
    assert np.mean(np.abs(y_o.astype(int) - cpu_y)) < 2.0
    assert np.mean(np.abs(uv_o[..., 0].astype(int) - cpu_u)) < 2.0
    assert np.mean(np.abs(uv_o[..., 1].astype(int) - cpu_v)) < 2.0


def test_the_look_lut_is_applied_after_scaling_like_lut3d(coded, tmp_path):
    grid = identity_lut(9).table3d.astype(np.float64)
    r, g, b = np.moveaxis(grid, -1, 0)
    lut = Lut(np.stack([r**0.8, 0.1 + 0.8 * g, b**1.2], -1), title="look")
    cube = tmp_path / "look.cube"
    write_cube(lut, cube)
    (y_o, uv_o), (cpu_y, cpu_u, cpu_v), geometry, _ = _compose_case(
        coded[0], (256, 144), "fit", lut, str(cube)
    )
    assert _read(y_o, uv_o, geometry) == (3, 4)
    assert np.mean(np.abs(y_o.astype(int) - cpu_y)) < 2.5
    assert np.mean(np.abs(uv_o[..., 0].astype(int) - cpu_u)) < 2.5


def test_ten_bit_planes_give_the_eight_bit_result(coded):
    info = probe(coded[90])
    frame = _decode(coded[90], 2)
    y, uv = _nv12_planes(frame)
    plan = params.frame_plan(fit_geometry(*info.display_size, info.rotation, 256, 144, "fit"))
    y8, uv8 = compose_frame(np, y, uv, plan, identity_lut(2), "bt709", "limited")
    y16, uv16 = compose_frame(
        np, y.astype(np.uint16) << 8, uv.astype(np.uint16) << 8, plan, identity_lut(2), "bt709", "limited"
    )
    assert y16.dtype == np.uint8
    assert np.max(np.abs(y16.astype(int) - y8)) <= 1 and np.max(np.abs(uv16.astype(int) - uv8)) <= 1


def test_p010_codes_round_to_eight_bits():
    codes10 = np.array([0, 1, 2, 64, 512, 940, 1021, 1022, 1023], np.uint16)
    got = to_8bit(np, codes10 << 6)
    assert got.dtype == np.uint8
    assert got.tolist() == [min(255, (c + 2) // 4) for c in codes10.tolist()]
    assert to_8bit(np, np.array([64 << 6, 512 << 6], np.uint16)).tolist() == [16, 128]  # black stays black


def test_decoded_views_become_planes_without_copies():
    h, w = 6, 8
    whole = np.arange(h * 3 // 2 * w, dtype=np.uint8).reshape(h * 3 // 2, w)
    y_view, uv_view = whole[:h, :, None], whole[h:].reshape(h // 2, w // 2, 2)
    for views in ([y_view, uv_view], [whole[:h], whole[h:]], whole, whole[:, :, None]):
        y, uv = planes_from_views(np, views, w, h)
        assert y.shape == (h, w) and uv.shape == (h // 2, w // 2, 2)
        assert np.shares_memory(y, whole) and np.shares_memory(uv, whole)
        assert np.array_equal(uv[1, 2], whole[h + 1, 4:6])
    with pytest.raises(ValueError, match="4:2:2"):
        planes_from_views(np, [whole[:h], np.zeros((h, w), np.uint8)], w, h)


def test_interface_strides_in_elements_become_bytes():
    """PyNvVideoCodec 2.2.4 reports P016 planes' strides in elements ((W, 1, 1) for |u2 data)."""
    from farm.backends.nvidia.frames import byte_strides

    h, w = 4, 10
    assert byte_strides((h, w, 1), 2, (w, 1, 1)) == (2 * w, 2, 2)  # Y, in elements
    assert byte_strides((h // 2, w // 2, 2), 2, (w, 2, 1)) == (2 * w, 4, 2)  # UV, in elements
    assert byte_strides((h, w, 1), 2, (2 * w, 2, 2)) == (2 * w, 2, 2)  # already bytes
    assert byte_strides((h, w, 1), 1, (w + 6, 1, 1)) == (w + 6, 1, 1)  # 8-bit, pitched
    assert byte_strides((h, w, 1), 2, None) == (2 * w, 2, 2)  # C-contiguous


def test_encoder_surface_and_host_frame_layouts():
    import av

    rng = np.random.default_rng(1)
    h, w = 8, 12
    y = rng.integers(0, 256, (h, w), dtype=np.uint8)
    uv = rng.integers(0, 256, (h // 2, w // 2, 2), dtype=np.uint8)
    surface = nv12_surface(np, y, uv)
    assert surface.shape == (h * 3 // 2, w) and surface.flags.c_contiguous
    expected = av.VideoFrame.from_ndarray(surface, format="nv12").reformat(format="yuv420p").to_ndarray()
    assert np.array_equal(host_i420(np, y, uv), expected)


# ------------------------------------------------------------------ decode schedule


def test_decode_steps_follow_the_frames_with_repeats():
    src = SourceRef("a.mp4", "id", Fraction(1, 12800), "bt709", "tv", 64, 36, Fraction(1))
    job = SegmentJob(
        key="s" * 40,
        frames=(3, 3, 4, 6, 6, 6),
        frame_pts=(1536, 2048, 3072),
        count=6,
        source=src,
        geometry=Geometry(0, 64, 36, 0, 0, 64, 36),
        lut_path=None,
        lut_hash=None,
        encode=_spec(),
    )
    steps = schedule.decode_steps(job)
    assert [(s.index, s.pts, s.repeat) for s in steps] == [(3, 1536, 2), (4, 2048, 1), (6, 3072, 3)]
    assert sum(s.repeat for s in steps) == job.count
    assert [[s.index for s in b] for b in schedule.batches(steps, 2)] == [[3, 4], [6]]
    with pytest.raises(ValueError):
        schedule.batches(steps, 0)


def test_decoded_timestamps_are_checked_in_stream_units_or_milliseconds():
    tb = Fraction(1, 30000)
    assert params.pts_matches(3003, 3003, tb)
    assert params.pts_matches(100, 3003, tb)  # 100.1 ms
    assert not params.pts_matches(3004, 3003, tb)
    assert not params.pts_matches(133, 3003, tb)
    assert not params.pts_matches(None, 0, tb)


# ------------------------------------------------------------------ backend selection


class _FakeRuntime:
    def __init__(self, count: int | Exception):
        self.count = count

    def getDeviceCount(self) -> int:  # noqa: N802 - mirrors CuPy
        if isinstance(self.count, Exception):
            raise self.count
        return self.count


@pytest.fixture
def codec_caches():  # type: ignore[no-untyped-def]
    """The capabilities probe (and PyNvVideoCodec's import) is once per process: start and end each
    test with it forgotten; a test that changes the machine midway forgets it again."""
    capabilities.clear_cache()
    yield capabilities.clear_cache
    capabilities.clear_cache()


def _fake_gpu_stack(monkeypatch, tmp_path, devices, nvc_source):  # type: ignore[no-untyped-def]
    """A fake CuPy with ``devices`` GPUs and a PyNvVideoCodec package whose import runs ``nvc_source``."""
    import importlib.util as iu

    import farm.backends.select as backend

    cupy = types.ModuleType("cupy")
    cupy.cuda = types.SimpleNamespace(runtime=_FakeRuntime(devices))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    package = tmp_path / "fake_site" / "PyNvVideoCodec"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(nvc_source)
    monkeypatch.syspath_prepend(str(package.parent))
    # registered so that teardown removes the fake module whatever the test imported
    monkeypatch.setitem(sys.modules, "PyNvVideoCodec", types.ModuleType("placeholder"))
    del sys.modules["PyNvVideoCodec"]
    real = iu.find_spec
    monkeypatch.setattr(
        backend.importlib.util, "find_spec", lambda name, *a: object() if name == "cupy" else real(name, *a)
    )
    return backend


def test_nvidia_without_its_libraries_exits_69_naming_them():
    from farm.backends.select import select_backend

    with pytest.raises(BackendUnavailableError) as info:
        select_backend("nvidia")
    assert info.value.exit_code == 69
    assert "CuPy" in str(info.value) and "PyNvVideoCodec" in str(info.value)
    backend, reason = select_backend("auto")
    assert backend == "cpu" and "auto:" in reason and "CuPy" in reason


def test_a_gpu_without_a_driver_or_video_libraries_is_named(monkeypatch, tmp_path, codec_caches):
    backend = _fake_gpu_stack(monkeypatch, tmp_path, RuntimeError("cudaErrorNoDevice"), "")
    with pytest.raises(BackendUnavailableError, match="working CUDA driver.*cudaErrorNoDevice"):
        backend.select_backend("nvidia")
    monkeypatch.setattr(sys.modules["cupy"].cuda, "runtime", _FakeRuntime(0))
    codec_caches()
    with pytest.raises(BackendUnavailableError, match="a CUDA GPU"):
        backend.select_backend("nvidia")
    monkeypatch.setattr(sys.modules["cupy"].cuda, "runtime", _FakeRuntime(1))
    sys.modules.pop("PyNvVideoCodec", None)
    codec_caches()
    (tmp_path / "fake_site" / "PyNvVideoCodec" / "__init__.py").write_text(
        "raise RuntimeError('libnvcuvid.so.1: cannot open shared object file\\nmore text')\n"
    )
    with pytest.raises(
        BackendUnavailableError, match="cannot load the NVIDIA video libraries.*libnvcuvid"
    ) as info:
        backend.select_backend("nvidia")
    assert info.value.exit_code == 69
    name, reason = backend.select_backend("auto")
    assert name == "cpu" and "libnvcuvid" in reason


def test_auto_picks_nvidia_and_says_what_the_gpu_can_do(monkeypatch, tmp_path, codec_caches):
    fake = textwrap.dedent("""
        __version__ = "9.9"
        def GetEncoderCaps(gpuid=0, codec="h264"):
            raise RuntimeError("NV_ENC_ERR_UNSUPPORTED_DEVICE")
    """)
    backend = _fake_gpu_stack(monkeypatch, tmp_path, 1, fake)
    name, reason = backend.select_backend("auto")
    assert name == "nvidia"
    assert "auto:" in reason and "no NVENC" in reason and "host" in reason
    name, reason = backend.select_backend("nvidia")
    assert name == "nvidia" and "requested" in reason and "libx264" in reason
    from farm.backends.nvidia.pipeline import encode_family

    assert encode_family("nvidia") == "nvdec+cpu"


def test_farm_render_backend_nvidia_exits_69_on_this_machine(tmp_path):
    project = tmp_path / "farm.toml"
    (tmp_path / "cuts").mkdir()
    (tmp_path / "cuts" / "cut.otio").write_text("{}")
    project.write_text('[output]\nwidth = 320\nheight = 180\n[variants.cut]\ntimeline = "cuts/cut.otio"\n')
    run = subprocess.run(
        [sys.executable, "-m", "farm", "render", str(project), "--backend", "nvidia"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert run.returncode == 69, run.stderr
    assert "CuPy" in run.stderr and "PyNvVideoCodec" in run.stderr


# ------------------------------------------------------------------ lazy imports


def _python(code: str, env_path: Path | None = None) -> subprocess.CompletedProcess:
    import os

    env = dict(os.environ)
    if env_path is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(env_path), str(REPO)])
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, timeout=300
    )


def test_importing_farm_imports_no_gpu_library(tmp_path):
    # present but poisoned: importing them at import time would fail loudly
    for name in ("cupy", "PyNvVideoCodec"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(f"raise ImportError('{name} imported too early')\n")
    code = textwrap.dedent("""
        import json, sys
        import farm, farm.api, farm.backends.select, farm.backends.doctor, farm.backends.resources
        import farm.backends.capabilities, farm.backends.schedule, farm.backends.host_encode
        import farm.execute.actors, farm.execute.cluster, farm.cli.doctor
        import farm.backends.segment, farm.backends.nvidia.pipeline, farm.backends.cpu
        from farm.backends.nvidia import codec as _nv_codec
        from farm.backends.nvidia import frames as _nv_frames
        from farm.backends.nvidia import mux as _nv_mux
        from farm.backends.nvidia import params as _nv_params
        from farm.execute.local import InProcessExecutor
        watched = ('cupy', 'PyNvVideoCodec', 'ray')
        print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in watched)))
    """)
    run = _python(code, tmp_path)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == []


def test_a_local_executor_render_never_imports_ray(tmp_path):
    code = textwrap.dedent(f"""
        import importlib.util, json, sys
        from fractions import Fraction
        from pathlib import Path
        sys.path.insert(0, {str(REPO / "tests")!r})
        import coded as helpers
        from farm.media.synth import write_clip
        import farm
        from farm.execute.local import InProcessExecutor
        root = Path({str(tmp_path)!r})
        (root / "media").mkdir(); (root / "cuts").mkdir()
        write_clip(root / "media" / "s24.mp4", width=160, height=90, rate=24, frames=12, source_id=1)
        project = helpers.write_project(root, {{"cut": [helpers.Shot("s24", 0, 12), helpers.Gap(4)]}},
                                        output={{"width": 160, "height": 90}})
        report = farm.render(project, backend="cpu", executor=InProcessExecutor(), progress_stream=sys.stderr)
        v = report.variants["cut"]
        print(json.dumps({{"error": str(v.error) if v.error else None, "frames": v.frames,
                          "ray": sorted(m for m in sys.modules if m.split('.')[0] == 'ray')}}))
    """)
    run = _python(code)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result == {"error": None, "frames": 16, "ray": []}
