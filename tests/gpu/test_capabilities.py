"""The capabilities probe, ``farm doctor`` and capabilities as Ray resources, on a machine without a GPU.

The probe is one value, asked once per process; what the nvidia backend lacks
is read from it; the doctor's JSON keeps its shape whatever is missing; a CPU
node advertises no video engines; segments ask for the engines their encoder
family uses; GPU workers are Ray actors that stay up across segments (checked
with logical resources, in a child process with its own Ray). The same probe
with a (stand-in) GPU is in ``test_nvidia_pipeline.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest

from farm.backends import capabilities, resources
from farm.backends.capabilities import (
    Capabilities,
    CodecSupport,
    CupyStatus,
    Gpu,
    VideoCodecStatus,
    VideoEngine,
)
from farm.errors import BackendUnavailableError
from farm.execute import actors
from farm.planning.units import EncodeSpec, SegmentJob

REPO = Path(__file__).resolve().parents[2]


def _black_job(key: str, family: str = "cpu") -> SegmentJob:
    spec = EncodeSpec("h264", 23, "ultrafast", 64, 36, Fraction(24), 24, family=family)
    return SegmentJob(
        key=key.ljust(40, "0"),
        frames=(),
        frame_pts=(),
        count=3,
        source=None,
        geometry=None,
        lut_path=None,
        lut_hash=None,
        encode=spec,
    )


def test_doctor_json_has_its_shape_without_a_gpu():
    run = subprocess.run(
        [sys.executable, "-m", "farm", "doctor", "--json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    for key in ("farm", "python", "platform", "driver", "cupy", "pynvvideocodec", "gpus", "nvdec_engines",
                "nvenc_engines", "backend", "ray_resources", "ray"):  # fmt: skip
        assert key in report, key
    assert report["gpus"] == [] and report["nvdec_engines"] == report["nvenc_engines"] == 0
    assert report["cupy"]["available"] is False and "CuPy" in report["cupy"]["error"]
    assert report["pynvvideocodec"]["available"] is False
    assert report["backend"]["auto"] == "cpu" and report["backend"]["reason"].startswith("auto:")
    assert report["backend"]["encode_family"] == {"cpu": "cpu"}
    assert report["ray_resources"] == {}
    assert report["ray"]["connected"] is False and "address" in report["ray"]["reason"]


def test_doctor_text_and_resources_flag():
    from farm.backends.doctor import collect
    from farm.cli.doctor import render_text

    text = render_text(collect())
    assert "GPUs: none" in text and "--backend auto: cpu" in text
    run = subprocess.run(
        [sys.executable, "-m", "farm", "doctor", "--resources"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert run.returncode == 0 and json.loads(run.stdout) == {}


def _machine(*engines: tuple[int, int]) -> Capabilities:
    """A machine whose GPUs have these (NVDEC, NVENC) engine counts."""
    h264 = (CodecSupport("h264", True, {}),)
    gpus = tuple(
        Gpu(i, "GPU", VideoEngine(dec, h264), VideoEngine(enc, h264 if enc else ()))
        for i, (dec, enc) in enumerate(engines)
    )
    return Capabilities(
        driver="580.1",
        cupy=CupyStatus(True, "13", 13000, 13000, len(gpus), None),
        pynvvideocodec=VideoCodecStatus(True, "2.2", None),
        gpus=gpus,
    )


def test_nodes_advertise_engines_summed_over_their_gpus():
    assert resources.node_resources(_machine((7, 0), (7, 0))) == {"nvdec": 14.0}
    assert resources.node_resources(_machine((4, 2))) == {"nvdec": 4.0, "nvenc": 2.0}
    assert resources.node_resources(_machine()) == {}
    assert resources.node_resources() == {}  # this machine


def test_the_probe_is_one_value_per_process():
    caps = capabilities.probe()
    assert capabilities.probe() is caps  # asked once
    assert caps.gpus == () and not caps.cupy.installed and not caps.pynvvideocodec.available
    assert caps.nvidia_missing == (
        "CuPy (pip install 'farm[gpu]')",
        "PyNvVideoCodec (pip install 'farm[gpu]')",
    )
    capabilities.clear_cache()
    assert capabilities.probe() is not caps and capabilities.probe() == caps


def test_what_the_nvidia_backend_lacks_is_read_from_the_probe():
    l4 = _machine((4, 2))
    assert l4.nvidia_missing == () and l4.has_nvenc("h264") and not l4.has_nvenc("av1")
    h200 = _machine((7, 0))
    assert h200.nvidia_missing == () and not h200.has_nvenc() and not h200.has_nvenc(gpu_id=3)
    no_driver = replace(
        l4, cupy=replace(l4.cupy, device_count=0, error="CUDARuntimeError: no driver"), gpus=()
    )
    assert no_driver.nvidia_missing == ("a working CUDA driver (CUDARuntimeError: no driver)",)
    assert replace(l4, cupy=replace(l4.cupy, device_count=0), gpus=()).nvidia_missing == ("a CUDA GPU",)
    unloadable = replace(l4, pynvvideocodec=VideoCodecStatus(True, None, "libnvcuvid.so.1 missing"))
    assert unloadable.nvidia_missing == ("libnvcuvid.so.1 missing",)


def test_segments_ask_for_what_their_family_uses():
    assert resources.segment_request("cpu") == {"num_cpus": 1}
    nvenc = resources.segment_request("nvenc")
    assert nvenc["resources"] == {"nvdec": 1.0, "nvenc": 1.0} and nvenc["num_gpus"] == 0.25
    host = resources.segment_request("nvdec+cpu", workers_per_gpu=7)
    assert host["resources"] == {"nvdec": 1.0} and host["num_cpus"] == resources.HOST_ENCODE_CPUS
    assert host["num_gpus"] == pytest.approx(1 / 7)
    with pytest.raises(ValueError, match="unknown encoder family"):
        resources.segment_request("x264")
    options = actors.actor_options("nvenc")
    assert options["max_restarts"] == options["max_task_retries"] == actors.ACTOR_RESTARTS


def test_worker_counts_follow_the_scarcest_resource():
    h100_node = {"CPU": 16.0, "GPU": 1.0, "nvdec": 7.0}
    assert resources.worker_count(h100_node, "nvdec+cpu", workers_per_gpu=4) == 4  # a quarter GPU each
    assert resources.worker_count(h100_node, "nvdec+cpu", workers_per_gpu=7) == 7
    assert resources.worker_count(h100_node, "nvenc") == 0  # no NVENC anywhere
    l4_node = {"CPU": 8.0, "GPU": 1.0, "nvdec": 4.0, "nvenc": 2.0}
    assert resources.worker_count(l4_node, "nvenc") == 2
    assert resources.worker_count({"CPU": 3.0}, "cpu") == 3


def test_gpu_workers_are_sized_by_the_nvdec_engines_of_a_gpu():
    """One worker per NVDEC engine (7 on H100/H200, 4 on an L4), not a fixed four."""
    h200s = {"CPU": 64.0, "GPU": 2.0, "nvdec": 14.0}
    assert resources.cluster_workers_per_gpu(h200s) == 7
    assert resources.worker_count(h200s, "nvdec+cpu") == 14  # by default: every engine of both GPUs
    l4 = {"CPU": 16.0, "GPU": 1.0, "nvdec": 4.0, "nvenc": 2.0}
    assert resources.cluster_workers_per_gpu(l4) == 4 and resources.worker_count(l4, "nvenc") == 2
    assert resources.cluster_workers_per_gpu({"CPU": 8.0}) == resources.WORKERS_PER_GPU
    assert resources.engines_per_gpu(_machine((7, 0), (5, 0))) == 5
    assert resources.engines_per_gpu(_machine()) == resources.WORKERS_PER_GPU


def test_a_gpu_worker_renders_and_returns_errors_as_values(tmp_path):
    worker = actors.GpuWorker(str(tmp_path / "cache"), backend="cpu")
    result = worker.render(_black_job("a"))
    assert result["frames"] == 3 and result["rendered"] and worker.stats()["rendered"] == 1
    assert worker.render(_black_job("a"))["rendered"] is False  # cached: not rendered again
    refused = actors.GpuWorker(str(tmp_path / "cache"), backend="nvidia").render(_black_job("b", "cpu"))
    assert isinstance(refused["error"], BackendUnavailableError) and refused["error"].exit_code == 69


@pytest.mark.ray
def test_gpu_workers_are_actors_placed_by_video_resources(tmp_path):
    code = textwrap.dedent(f"""
        import json, sys
        from fractions import Fraction
        import ray
        from farm.backends import resources
        from farm.execute import actors
        from farm.planning.units import EncodeSpec, SegmentJob

        ray.init(address="local", num_cpus=4, num_gpus=1, resources={{"nvdec": 2, "nvenc": 1}},
                 include_dashboard=False,
                 logging_level="ERROR", log_to_driver=False)
        count = resources.worker_count(ray.cluster_resources(), "nvenc")
        workers = actors.start_gpu_workers(count, "nvenc", {str(tmp_path / "cache")!r}, backend="cpu")
        spec = EncodeSpec("h264", 23, "ultrafast", 64, 36, Fraction(24), 24, family="cpu")
        jobs = [SegmentJob(key=str(i) * 40, frames=(), frame_pts=(), count=2, source=None, geometry=None,
                           lut_path=None, lut_hash=None, encode=spec) for i in range(3)]
        results = ray.get([workers[0].render.remote(job) for job in jobs])
        stats = ray.get(workers[0].stats.remote())
        print(json.dumps({{"count": count, "frames": [r["frames"] for r in results], "stats": stats}}))
        ray.shutdown()
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["count"] == 1  # one NVENC engine: one worker
    assert result["frames"] == [2, 2, 2]
    assert result["stats"]["rendered"] == 3  # one long-lived process served every segment
