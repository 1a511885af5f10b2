"""The failure budget on a real two-node Ray cluster (``ray.cluster_utils.Cluster``).

A worker hook (``sitecustomize`` on the workers' path) makes every segment fail
for a system reason on one node, as a node with a broken encoder library or a
full disk would: that node is taken out after N failures, its segments run on
the other node, the render completes, and the report names the node. A segment
that fails on M different nodes fails its variant with every node's reason.
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

REPO = Path(__file__).resolve().parents[1]

HOOK = """
import os

import farm.backends.segment as _segment
from farm.errors import InternalError

_real = _segment.render_segment


def render_segment(job, cache_root, backend="cpu"):
    import ray

    node = ray.get_runtime_context().get_node_id()
    if node == os.environ.get("FARM_TEST_BAD_NODE") or job.key == os.environ.get("FARM_TEST_BAD_KEY"):
        raise InternalError(f"simulated: libx264 crashed on node {node[:8]}")
    return _real(job, cache_root, backend)


_segment.render_segment = render_segment
"""

SCRIPT = """
import json, os
import ray
from ray.cluster_utils import Cluster
import farm
from farm.execute.ray_executor import RayExecutor

cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2})
cluster.add_node(num_cpus=2)
cluster.wait_for_nodes()
ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False)
nodes = sorted(n["NodeID"] for n in ray.nodes() if n["Alive"])
bad = [n for n in nodes if n != ray.get_runtime_context().get_node_id()][0]
env = {"PYTHONPATH": os.pathsep.join([HOOK_DIR, REPO])}
out = {"bad": bad}

runner = RayExecutor(workers=4, address=cluster.address, task_env={**env, "FARM_TEST_BAD_NODE": bad})
report = farm.render(PROJECT, cache=CACHE + "1", out=OUT + "1", executor=runner)
out["first"] = report.to_json()

key = sorted(farm.plan(PROJECT).jobs)[0]
runner = RayExecutor(workers=4, address=cluster.address, task_env={**env, "FARM_TEST_BAD_KEY": key})
report = farm.render(PROJECT, cache=CACHE + "2", out=OUT + "2", executor=runner)
out["second"] = report.to_json()
ray.shutdown()
cluster.shutdown()
print(json.dumps(out))
"""


@pytest.mark.ray
def test_a_failing_node_is_taken_out_and_a_failing_segment_names_every_node(
    project_dir: Path, tmp_path: Path
) -> None:
    shots = [Shot("s24", 0, 48), Shot("s25", 0, 50), Shot("s2997", 0, 60)]
    project = write_project(project_dir, {"cut": shots}, extra="[render]\nsegment_seconds = 0.5\n")
    (tmp_path / "hook").mkdir()
    (tmp_path / "hook" / "sitecustomize.py").write_text(HOOK)
    paths = {"PROJECT": project, "CACHE": tmp_path / "cache", "OUT": tmp_path / "out", "REPO": REPO}
    paths["HOOK_DIR"] = tmp_path / "hook"
    code = "".join(f"{k} = {str(v)!r}\n" for k, v in paths.items()) + textwrap.dedent(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_ADDRESS": "", "FARM_NODE_FAILURES": "2"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=500)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])

    first = out["first"]
    assert first["variants"]["cut"].get("error") is None, first
    assert list(first["nodes_excluded"]) == [out["bad"]]
    assert "libx264 crashed" in first["nodes_excluded"][out["bad"]]
    assert "taken out of this render" in run.stderr

    second = out["second"]["variants"]["cut"]
    message = second["error"]["message"]
    assert second["error"]["exit_code"] == 70
    assert "failed on 2 nodes" in message and message.count("libx264 crashed") == 2, message
