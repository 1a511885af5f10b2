"""Cluster-aware scheduling: with --address the cluster's nodes, not the driver, decide the backend.

The cluster is a real multi-node Ray (``ray.cluster_utils.Cluster``) on this
machine with *logical* GPU resources: a CPU-only node and a "GPU node"
advertising ``GPU``, ``nvdec`` and ``nvenc`` as ``cluster/start-node.sh`` does.
The GPU actors need real GPUs to render nvidia segments, so the tests check the
choice, the placement (actors land on the node that advertises the engines),
and that the driver, which has no GPU, does not refuse ``--backend nvidia``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from coded import Shot, write_project

from farm.backends.select import select_for_cluster
from farm.errors import BackendUnavailableError

REPO = Path(__file__).resolve().parents[1]


def test_the_cluster_resources_choose_backend_and_family() -> None:
    cpu_only = {"CPU": 64.0}
    l4 = {"CPU": 16.0, "GPU": 1.0, "nvdec": 4.0, "nvenc": 2.0}
    h100 = {"CPU": 32.0, "GPU": 1.0, "nvdec": 7.0}
    mixed = {k: cpu_only.get(k, 0) + l4.get(k, 0) + h100.get(k, 0) for k in {*cpu_only, *l4, *h100}}
    assert select_for_cluster("auto", cpu_only)[:2] == ("cpu", "cpu")
    assert select_for_cluster("auto", l4)[:2] == ("nvidia", "nvenc")
    assert select_for_cluster("nvidia", h100)[:2] == ("nvidia", "nvdec+cpu")
    assert select_for_cluster("auto", mixed)[:2] == ("nvidia", "nvenc")
    assert select_for_cluster("cpu", mixed)[:2] == ("cpu", "cpu")
    with pytest.raises(BackendUnavailableError) as err:
        select_for_cluster("nvidia", cpu_only, "the cluster at 10.0.0.1:6379")
    assert err.value.exit_code == 69
    assert "10.0.0.1:6379" in str(err.value) and "GPU" in str(err.value) and "nvdec" in str(err.value)


CLUSTER = """
import json, os, subprocess, sys
import ray
from ray.cluster_utils import Cluster

cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2})
cluster.add_node(num_cpus=2, num_gpus=1, resources={"nvdec": 2, "nvenc": 1})
cluster.wait_for_nodes()
out = {}
farm = [sys.executable, "-m", "farm"]
doctor = subprocess.run(
    farm + ["doctor", "--json", "--address", cluster.address], capture_output=True, text=True
)
out["doctor"] = json.loads(doctor.stdout)["ray"]
render = subprocess.run(
    farm + ["render", PROJECT, "--address", cluster.address, "--backend", "nvidia", "--quiet",
            "--report", REPORT, "--cache", CACHE],
    capture_output=True, text=True)
out["render"] = {"rc": render.returncode, "stderr": render.stderr[-3000:]}
plan = subprocess.run(
    farm + ["plan", PROJECT, "--address", cluster.address, "--backend", "nvidia", "--json"],
    capture_output=True, text=True,
)
out["plan"] = json.loads(plan.stdout)["encode_family"] if plan.returncode == 0 else plan.stderr

# placement: a GPU worker actor of the nvenc family lands on the node advertising the engines
ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False)
from farm.execute import actors
worker = actors.start_gpu_workers(1, "nvenc", CACHE, backend="cpu")[0]
node = ray.get(worker.__ray_call__.remote(lambda self: ray.get_runtime_context().get_node_id()))
gpu_node = [n["NodeID"] for n in ray.nodes() if n["Resources"].get("nvenc")]
out["placed_on_gpu_node"] = node in gpu_node
ray.shutdown()
cluster.shutdown()
print(json.dumps(out))
"""


@pytest.mark.ray
def test_a_cpu_only_driver_renders_with_nvidia_on_a_gpu_cluster(project_dir: Path, tmp_path: Path) -> None:
    project = write_project(project_dir, {"cut": [Shot("s24", 0, 12)]})
    code = (
        f"PROJECT, REPORT, CACHE = {str(project)!r}, {str(tmp_path / 'r.json')!r}, {str(tmp_path / 'c')!r}\n"
        + textwrap.dedent(CLUSTER)
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_ADDRESS": ""}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=400)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])

    # farm doctor --address lists both nodes and what the cluster would run
    ray = out["doctor"]
    assert ray["connected"] and len(ray["nodes"]) == 2
    assert sorted(bool(n["resources"].get("nvenc")) for n in ray["nodes"]) == [False, True]
    assert all(n["codec_mismatch"] == [] for n in ray["nodes"])  # one machine: the same libraries
    assert ray["backend"]["auto"] == "nvidia" and ray["backend"]["family"] == "nvenc"

    # the driver has no GPU, yet --backend nvidia is accepted: the cluster's nodes decide
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["backend"] == "nvidia", out["render"]
    assert "the cluster at" in report["backend_reason"] and "1 NVENC" in report["backend_reason"]
    assert "cannot run here" not in out["render"]["stderr"]
    # its logical GPU node has no CuPy: the segments went there and failed there, with exit 69
    assert out["render"]["rc"] in (0, 69), out["render"]
    assert out["placed_on_gpu_node"]
    assert out["plan"] == "nvenc"  # farm plan --address plans the keys the cluster would render
