"""``farm doctor`` and capabilities as Ray resources, on a machine without a GPU.

The doctor's JSON keeps its shape whatever is missing; a CPU node advertises
no video engines; segments ask for the engines their encoder family uses; GPU
workers are Ray actors that stay up across segments (checked with logical
resources, in a child process with its own Ray).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

import pytest

from farm.backends import resources
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
        [sys.executable, "-m", "farm.backends.doctor", "--json"],
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
    from farm.backends.doctor import collect, render_text

    text = render_text(collect())
    assert "GPUs: none" in text and "--backend auto: cpu" in text
    run = subprocess.run(
        [sys.executable, "-m", "farm.backends.doctor", "--resources"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert run.returncode == 0 and json.loads(run.stdout) == {}


def test_nodes_advertise_engines_summed_over_their_gpus():
    report = {
        "gpus": [
            {"nvdec": {"engines": 7}, "nvenc": {"engines": 0}},
            {"nvdec": {"engines": 7}, "nvenc": {"engines": 0}},
        ]
    }
    assert resources.node_resources(report) == {"nvdec": 14.0}
    l4 = {"gpus": [{"nvdec": {"engines": 4}, "nvenc": {"engines": 2}}]}
    assert resources.node_resources(l4) == {"nvdec": 4.0, "nvenc": 2.0}
    assert resources.node_resources({"gpus": []}) == {}
    assert resources.node_resources() == {}  # this machine


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
    assert resources.worker_count(h100_node, "nvdec+cpu") == 4  # a quarter GPU each
    assert resources.worker_count(h100_node, "nvdec+cpu", workers_per_gpu=7) == 7
    assert resources.worker_count(h100_node, "nvenc") == 0  # no NVENC anywhere
    l4_node = {"CPU": 8.0, "GPU": 1.0, "nvdec": 4.0, "nvenc": 2.0}
    assert resources.worker_count(l4_node, "nvenc") == 2
    assert resources.worker_count({"CPU": 3.0}, "cpu") == 3


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

        ray.init(num_cpus=4, num_gpus=1, resources={{"nvdec": 2, "nvenc": 1}}, include_dashboard=False,
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
