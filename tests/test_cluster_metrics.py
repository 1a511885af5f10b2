"""Worker metrics: a render's segments are counted by ``ray.util.metrics`` and reach Ray's Prometheus export.

Ray exports them from each node's agent, which needs Ray's "default" extras
(aiohttp, OpenTelemetry); on a minimal Ray the export test skips, saying so.
The driver's own metrics are served on ``--metrics-addr``.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest
from coded import Shot, write_project

from farm.output.metrics import RenderMetrics

REPO = Path(__file__).resolve().parents[1]

SCRIPT = """
import sys, time, urllib.request
import ray
import farm
from farm.execute.ray_executor import RayExecutor

ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR",
         _metrics_export_port=PORT)
report = farm.render(PROJECT, executor=RayExecutor(workers=2))
assert report.exit_code == 0, report.to_json()
node = ray.nodes()[0]
url = f"http://{node['NodeManagerAddress']}:{node['MetricsExportPort']}/metrics"
for _ in range(60):
    try:
        text = urllib.request.urlopen(url, timeout=5).read().decode()
    except OSError:
        text = ""
    lines = [l for l in text.splitlines() if l.startswith("ray_farm_worker_frames")]
    if lines:
        print("\\n".join(lines))
        break
    time.sleep(1)
ray.shutdown()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.ray
@pytest.mark.skipif(
    importlib.util.find_spec("aiohttp") is None or importlib.util.find_spec("opentelemetry") is None,
    reason="Ray's metrics export needs ray[default] (aiohttp, opentelemetry); this Ray is minimal",
)
def test_worker_metrics_reach_rays_prometheus_export(project_dir: Path) -> None:
    project = write_project(project_dir, {"cut": [Shot("s24", 0, 30)]})
    code = f"PROJECT, PORT = {str(project)!r}, {_free_port()}\n" + textwrap.dedent(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_ADDRESS": ""}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.strip().splitlines()
    assert lines, "no ray_farm_worker_frames in Ray's export"
    assert sum(float(line.rsplit(" ", 1)[1]) for line in lines) == 30
    assert all('family="cpu"' in line and 'backend="cpu"' in line for line in lines)


def test_the_driver_serves_its_metrics_on_the_address_asked() -> None:
    meter = RenderMetrics()
    meter.frames.inc(7)
    port = _free_port()
    meter.serve(port, "0.0.0.0")
    host = socket.gethostbyname(socket.gethostname())
    text = urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5).read().decode()
    assert "farm_frames_rendered_total 7.0" in text
