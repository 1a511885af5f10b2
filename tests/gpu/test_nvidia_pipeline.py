"""The nvidia backend end to end on the CPU, through stand-ins for CuPy and PyNvVideoCodec.

The stand-ins (``fake_nv``) follow PyNvVideoCodec's documented behaviour and
check their inputs as strictly as the library, so this covers everything the
worker does between the library calls: the decode schedule and timestamp
checks, plane handling, geometry, the encoder's options and input surfaces,
both generations of encoder output, muxing, the keyframe check, the host
encode for GPUs without NVENC, warm state, capability reports and backend
selection. What it cannot cover — the real decoder, encoder and kernels —
is in ``test_gpu_render.py``.
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import fake_nv
import pytest
from gpu_helpers import render_variants, root_helpers

from farm.errors import BackendUnavailableError, MediaError

coded, media_check = root_helpers()
Shot, Gap = coded.Shot, coded.Gap


FAKE_SITE = Path(fake_nv.__file__).with_name("fake_site")


@pytest.fixture
def fake_gpu(monkeypatch):  # type: ignore[no-untyped-def]
    """Install the stand-ins; returns a function that swaps in a PyNvVideoCodec variant.

    The same stand-in is importable by the processes the capabilities probe
    starts (``fake_site`` on the path, its configuration in the environment).
    """
    import farm.backends.select
    from farm.backends import capabilities
    from farm.backends.nvidia import codec as _nv_codec
    from farm.backends.nvidia import pipeline as nvidia

    monkeypatch.syspath_prepend(str(FAKE_SITE))
    monkeypatch.setattr(fake_nv.FakeSimpleDecoder, "opened", [])
    monkeypatch.setattr(fake_nv.FakeSimpleDecoder, "seeks", [])

    def install(nvenc_engines: int = 2, dicts: bool = False, gpus=None):  # type: ignore[no-untyped-def]
        nvc = fake_nv.fake_pynvvideocodec(nvenc_engines=nvenc_engines, dicts=dicts, gpus=gpus)
        monkeypatch.setenv(fake_nv.CONFIG_ENV, fake_nv.config_env(nvenc_engines, dicts, gpus))
        monkeypatch.setitem(sys.modules, "cupy", fake_nv.fake_cupy(len(gpus) if gpus else 1))
        monkeypatch.setitem(sys.modules, "PyNvVideoCodec", nvc)
        monkeypatch.setattr(nvidia, "_state", None)
        monkeypatch.setattr(_nv_codec, "cuda_driver", lambda: nvc.driver, raising=False)
        capabilities.clear_cache()
        return nvc

    real_find_spec = farm.backends.select.importlib.util.find_spec
    monkeypatch.setattr(
        farm.backends.select.importlib.util,
        "find_spec",
        lambda name, *a: (
            sys.modules[name].__spec__ if name in ("cupy", "PyNvVideoCodec") else real_find_spec(name, *a)
        ),
    )
    yield install
    capabilities.clear_cache()


#: sources at every rate, a gap, a turned phone clip and a variable-rate clip, several segments per clip
CUT = [
    Shot("s24", 5, 60),
    Gap(7),
    Shot("s2997", 3, 40),
    Shot("rot", 4, 20),
    Shot("vfr", 3, 30, rate=Fraction(20)),
]


@pytest.mark.parametrize(
    ("codec", "dicts"),
    [("h264", False), ("h264", True), ("hevc", True)],
    ids=["h264-bytes-2.0", "h264-dicts-2.2", "hevc-dicts-2.2"],
)
def test_nvenc_renders_are_frame_exact(fake_gpu, project_dir, tmp_path, dicts, codec):
    nvc = fake_gpu(dicts=dicts)
    from farm.backends.nvidia.pipeline import encode_family

    assert encode_family("nvidia") == "nvenc"
    project = coded.write_project(project_dir, {"cut": CUT}, output={"codec": codec, "preset": "slow"})
    out = render_variants(project, "nvidia", "nvenc", tmp_path)["cut"]
    assert media_check.frame_codes(out) == coded.expected_frames(CUT, Fraction(24))
    # one fresh session per segment: each starts with an IDR of its own, no forced flags needed
    assert nvc.encoders and all(e.options["preset"] == "P5" for e in nvc.encoders)
    assert all(call is None for e in nvc.encoders for call in e.calls)


def test_the_host_encode_family_copies_each_frame_once(fake_gpu, project_dir, tmp_path):
    nvc = fake_gpu(nvenc_engines=0)
    from farm.backends.nvidia.pipeline import encode_family, gpu_state

    assert encode_family("nvidia") == "nvdec+cpu"
    out = render_variants(coded.write_project(project_dir, {"cut": CUT}), "nvidia", "nvdec+cpu", tmp_path)[
        "cut"
    ]
    assert media_check.frame_codes(out) == coded.expected_frames(CUT, Fraction(24))
    assert not nvc.encoders
    state = gpu_state()
    assert state.stream.synchronized > 0  # decoded surfaces are released only after the kernels ran
    cp = sys.modules["cupy"]
    assert cp.syncs == []  # decoded planes never made the host wait
    # a ring of pinned buffers, one asynchronous copy per distinct picture on the copy stream
    from farm.backends.nvidia.transfer import DEPTH

    copier = state.copies[(320, 180)]
    assert cp.pinned == [320 * 180 * 3 // 2] * DEPTH
    assert cp.cuda.runtime.copies == [320 * 180 * 3 // 2] * copier.copies and copier.copies > 20
    assert copier.stream.waits == copier.copies  # each copy waits for its packing kernel on the device


def test_the_nvenc_family_without_nvenc_exits_69(fake_gpu, project_dir, tmp_path):
    nvc = fake_gpu(nvenc_engines=0)
    from farm.errors import FarmError

    with pytest.raises(FarmError) as err:
        render_variants(
            coded.write_project(project_dir, {"cut": [Shot("s24", 0, 12)]}), "nvidia", "nvenc", tmp_path
        )
    assert isinstance(err.value, BackendUnavailableError) and err.value.exit_code == 69
    assert "NVENC" in str(err.value) and "nvdec+cpu" in str(err.value)
    # CreateEncoder's failed caps query left a context of its own current: dropped, the primary restored
    assert nvc.driver.current() == nvc.driver.primary and not nvc.driver.leaked


def test_a_decoder_that_disagrees_with_the_probe_is_an_error(fake_gpu, project_dir, tmp_path, monkeypatch):
    fake_gpu()
    real_init = fake_nv.FakeSimpleDecoder.__init__

    def shifted(self, *a, **kw):  # type: ignore[no-untyped-def]
        real_init(self, *a, **kw)
        self.timestamp_shift = 1  # as if the decoder counted frames differently (open GOP, edit list)

    monkeypatch.setattr(fake_nv.FakeSimpleDecoder, "__init__", shifted)
    with pytest.raises(MediaError, match="timestamp") as err:
        render_variants(
            coded.write_project(project_dir, {"cut": [Shot("s24", 0, 12)]}), "nvidia", "nvenc", tmp_path
        )
    assert err.value.exit_code == 65


def test_ten_bit_sources_are_read_as_p016(fake_gpu, tmp_path):
    import av

    from farm.media.synth import write_clip

    fake_gpu()
    root = tmp_path / "project"
    (root / "media").mkdir(parents=True)
    eight = tmp_path / "eight.mp4"
    write_clip(eight, width=320, height=180, rate=24, frames=12, source_id=11)
    with av.open(str(eight)) as src, av.open(str(root / "media" / "ten.mp4"), "w") as dst:
        stream = dst.add_stream("libx265", rate=24)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p10le"
        stream.codec_context.options = {"crf": "12", "x265-params": "log-level=error"}
        for frame in src.decode(video=0):
            ten = frame.reformat(format="yuv420p10le")
            ten.pts, ten.time_base = frame.pts, frame.time_base
            dst.mux(stream.encode(ten))
        dst.mux(stream.encode(None))
    project = coded.write_project(root, {"cut": [Shot("media/ten.mp4", 0, 12)]})
    out = render_variants(project, "nvidia", "nvenc", tmp_path)["cut"]
    # the stand-in reports P016 strides in elements, as PyNvVideoCodec 2.2.4 does
    assert media_check.frame_codes(out) == [(11, i) for i in range(12)]
    assert sys.modules["cupy"].syncs == []


def test_the_session_reuse_switch_is_gone(fake_gpu, project_dir, tmp_path, monkeypatch):
    """FARM_NVENC_REUSE=1 used to keep one NVENC session across segments (restarted by a forced IDR
    after EndEncode), which NVENC does not document: every segment now opens its own session."""
    import importlib

    from farm.backends.nvidia import pipeline as nvidia

    monkeypatch.setenv("FARM_NVENC_REUSE", "1")
    importlib.reload(nvidia)
    try:
        nvc = fake_gpu()
        items = [Shot("s24", 0, 60), Shot("s25", 3, 60)]
        project = coded.write_project(project_dir, {"cut": items})
        out = render_variants(project, "nvidia", "nvenc", tmp_path)["cut"]
        assert media_check.frame_codes(out) == coded.expected_frames(items, Fraction(24))
        assert len(nvc.encoders) == nvidia.gpu_state().segments > 2
        assert all(call is None for e in nvc.encoders for call in e.calls)  # no forced IDR anywhere
    finally:
        monkeypatch.delenv("FARM_NVENC_REUSE")
        importlib.reload(nvidia)


def test_one_decoder_per_source_reads_forward_across_segments(fake_gpu, project_dir, tmp_path):
    fake_gpu()
    from farm.backends.nvidia.pipeline import gpu_state

    # s24, then s25, then s24 again further on (the render loop starts the longest segments first:
    # these run in this order)
    items = [Shot("s24", 0, 48), Shot("s25", 0, 24), Shot("s24", 56, 12)]
    project = coded.write_project(project_dir, {"cut": items})
    out = render_variants(project, "nvidia", "nvenc", tmp_path)["cut"]
    assert media_check.frame_codes(out) == coded.expected_frames(items, Fraction(24))
    state = gpu_state()
    assert state.segments == 3
    # one decoder per source, opened once, never reconfigured; every segment read forward
    assert [Path(p).name for p in fake_nv.FakeSimpleDecoder.opened] == ["s24.mp4", "s25.mp4"]
    assert fake_nv.FakeSimpleDecoder.seeks == [] and state.reader.seeks == 0


def test_a_segment_behind_the_decoder_seeks(fake_gpu, project_dir, tmp_path):
    fake_gpu()
    items = [Shot("s24", 30, 10), Shot("s24", 2, 10)]
    project = coded.write_project(project_dir, {"cut": items})
    out = render_variants(project, "nvidia", "nvenc", tmp_path)["cut"]
    assert media_check.frame_codes(out) == coded.expected_frames(items, Fraction(24))
    assert [Path(p).name for p in fake_nv.FakeSimpleDecoder.opened] == ["s24.mp4"]
    assert [i for _, i in fake_nv.FakeSimpleDecoder.seeks] == [2]  # 30 is read forward from 0


def test_a_decoder_without_seek_to_index_reads_by_index(fake_gpu, project_dir, tmp_path, monkeypatch):
    fake_gpu()
    monkeypatch.delattr(fake_nv.FakeSimpleDecoder, "seek_to_index")
    items = [Shot("s24", 30, 10), Shot("s24", 2, 10)]
    project = coded.write_project(project_dir, {"cut": items})
    out = render_variants(project, "nvidia", "nvenc", tmp_path)["cut"]
    assert media_check.frame_codes(out) == coded.expected_frames(items, Fraction(24))


@pytest.mark.parametrize("suffix", [".mov", ".MOV"])
def test_containers_without_a_sample_table_are_scanned_before_seeking(fake_gpu, tmp_path, suffix):
    """A variable-rate .mkv/.mov: seeking by an estimate from the rate would land on other frames."""
    from farm.media.synth import write_clip

    fake_gpu()
    root = tmp_path / "project"
    (root / "media").mkdir(parents=True)
    stamps = [Fraction(i, 24) if i < 20 else Fraction(20, 24) + Fraction(i - 20, 8) for i in range(36)]
    clip = root / "media" / f"vfr{suffix}"
    write_clip(clip, width=320, height=180, rate=24, frames=36, source_id=12, timestamps=stamps, gop=6)
    items = [Shot(f"media/vfr{suffix}", 24, 12, rate=Fraction(24))]
    project = coded.write_project(root, {"cut": items})
    nvidia_out = render_variants(project, "nvidia", "nvenc", tmp_path)["cut"]
    cpu_out = render_variants(project, "cpu", "cpu", tmp_path)["cut"]
    assert media_check.frame_codes(nvidia_out) == media_check.frame_codes(cpu_out)
    assert min(c[1] for c in media_check.frame_codes(cpu_out)) >= 20  # the variable-rate part


@pytest.mark.parametrize("nvenc", [2, 0])
def test_backend_selection_and_doctor_with_a_gpu(fake_gpu, nvenc):
    nvc = fake_gpu(nvenc_engines=nvenc)
    from farm.backends.doctor import collect
    from farm.backends.select import select_backend
    from farm.cli.doctor import render_text

    name, reason = select_backend("auto")
    assert name == "nvidia" and "Fake GPU" in reason
    assert ("NVENC (frames stay on the GPU)" in reason) == bool(nvenc)
    assert ("no NVENC" in reason) == (not nvenc)
    report = collect()
    gpu = report["gpus"][0]
    assert gpu["name"] == "Fake GPU" and gpu["nvdec"]["engines"] == 7 and gpu["nvenc"]["engines"] == nvenc
    assert gpu["nvdec"]["codecs"]["hevc 10-bit 4:2:0"]["supported"]
    assert not gpu["nvdec"]["codecs"]["av1 8-bit 4:2:0"]["supported"]
    assert report["ray_resources"] == ({"nvdec": 7.0, "nvenc": float(nvenc)} if nvenc else {"nvdec": 7.0})
    assert report["backend"]["encode_family"]["nvidia"] == ("nvenc" if nvenc else "nvdec+cpu")
    assert "NVDEC: 7 engine(s)" in render_text(report)
    # every caps query ran in a child process: this one never called them, and no context leaked here
    assert nvc.caps_calls == [] and not nvc.driver.leaked
    assert nvc.driver.current() == nvc.driver.primary


def test_each_gpu_reports_its_own_engines(fake_gpu, monkeypatch):
    """PyNvVideoCodec's caps functions ignore gpuid: each GPU is asked by a process that sees only it."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    fake_gpu(gpus=[(7, 0), (5, 2), (3, 1)])
    from farm.backends.capabilities import probe
    from farm.backends.doctor import collect
    from farm.backends.nvidia.pipeline import has_nvenc

    caps = probe()
    assert [(g.nvdec.engines, g.nvenc.engines) for g in caps.gpus] == [(7, 0), (5, 2), (3, 1)]
    assert [has_nvenc(gpu_id=i) for i in range(3)] == [False, True, True]
    report = collect()
    assert [g["nvenc"]["engines"] for g in report["gpus"]] == [0, 2, 1]
    assert report["ray_resources"] == {"nvdec": 15.0, "nvenc": 3.0}
    # CUDA_VISIBLE_DEVICES of this process is honoured: its GPU 0 is the machine's GPU 2
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,0")
    fake_gpu(gpus=[(7, 0), (5, 2), (3, 1)])
    assert [g.nvdec.engines for g in probe().gpus[:2]] == [3, 7]


def _gpu_run():  # type: ignore[no-untyped-def]
    from gpu_helpers import TESTS, load_test_module

    return load_test_module("gpu_run", TESTS.parent / "benchmarks" / "gpu_run.py")


def _gpu_parts():  # type: ignore[no-untyped-def]
    from gpu_helpers import TESTS, load_test_module

    return load_test_module("gpu_parts", TESTS.parent / "benchmarks" / "gpu_parts.py")


def test_the_gpu_run_script_benchmarks_through_the_backend(fake_gpu, tmp_path):
    """benchmarks/gpu_run.py's GPU parts (gpu_parts.py), on small clips through the stand-ins."""
    from farm.media.synth import write_clip

    fake_gpu(nvenc_engines=0)
    gpu_parts = _gpu_parts()
    clip = tmp_path / "clip.mp4"
    write_clip(clip, width=640, height=360, rate=24, frames=20, source_id=1, gop=12)
    decode = gpu_parts.bench_nvdec(clip, "h264")
    assert decode["frames"] == 20 and decode["engines"] == decode["sessions"] == 7 and not decode["errors"]
    assert decode["aggregate_fps"] > 0 and decode["published_fps"] == round(7 * 770 / 4, 1)
    look = gpu_parts.write_look(tmp_path / "look.cube")
    result = gpu_parts.bench_end_to_end(clip, "nvidia", "nvdec+cpu", look, tmp_path, size=(320, 180))
    assert result["frames"] == 20 and result["segments"] == 1 and result["fps"] > 0


def test_junit_reports_are_counted(tmp_path):
    report = tmp_path / "junit.xml"
    report.write_text(
        '<testsuites><testsuite name="pytest" tests="9" failures="1" errors="1" skipped="3"></testsuite>'
        "</testsuites>"
    )
    assert _gpu_run().junit_counts(report) == {"passed": 4, "failed": 2, "skipped": 3, "errors": 1}


def test_a_gpu_test_that_hangs_fails_alone_within_its_time(tmp_path):
    """gpu_run.py gives each GPU test its own short limit: one hang cannot eat the device call."""
    import os

    tests = tmp_path / "test_hang.py"
    tests.write_text("import time\n\ndef test_hangs():\n    time.sleep(30)\n\ndef test_quick():\n    pass\n")
    gpu_run = _gpu_run()
    path = os.pathsep.join([str(gpu_run.REPO / "benchmarks"), str(gpu_run.REPO)])
    env = dict(os.environ, FARM_TEST_TIMEOUT="1", PYTHONPATH=path)
    result = gpu_run.run_pytest([str(tests)], tmp_path / "junit.xml", env, timeout=60)
    assert result["passed"] == 1 and result["failed"] == 1 and result["seconds"] < 20
    assert "ran past 1 s" in result["output_tail"]
