"""The deployment files: KubeRay manifests checked against the CRD fields they use, ray up, image, dashboard.

The schema below is the part of KubeRay's ``ray.io/v1`` RayCluster and RayJob
CRDs (and of the core PodSpec) that farm's manifests use, with each field's
type: an unknown or misspelt field, a wrong type, or a ``rayStartParams``
value that is not a string (KubeRay's ``map[string]string``) fails the check.
Then what farm needs: GPU groups advertise their engines as escaped JSON in
``rayStartParams.resources``, ask for ``nvidia.com/gpu`` and mount the video
driver capability; every pod reads the cache's credentials.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml")

CLUSTER = Path(__file__).resolve().parents[1] / "cluster"

S, N, B = str, int, bool
ANY_MAP = "map"  # any mapping (labels, selectors, limits): keys and values checked by the caller

ENV = {"name": S, "value": S}
CONTAINER = {
    "name": S,
    "image": S,
    "command": [S],
    "args": [S],
    "ports": [{"containerPort": N, "name": S, "protocol": S}],
    "env": [ENV],
    "envFrom": [{"secretRef": {"name": S}, "configMapRef": {"name": S}}],
    "resources": {"limits": ANY_MAP, "requests": ANY_MAP},
    "volumeMounts": [{"name": S, "mountPath": S, "readOnly": B}],
}
POD_TEMPLATE = {
    "metadata": {"labels": ANY_MAP, "annotations": ANY_MAP},
    "spec": {
        "containers": [CONTAINER],
        "volumes": [
            {
                "name": S,
                "emptyDir": ANY_MAP,
                "persistentVolumeClaim": {"claimName": S, "readOnly": B},
                "secret": {"secretName": S},
            }
        ],
        "nodeSelector": ANY_MAP,
        "tolerations": [{"key": S, "operator": S, "value": S, "effect": S}],
        "serviceAccountName": S,
    },
}
HEAD_GROUP = {"rayStartParams": ANY_MAP, "template": POD_TEMPLATE, "serviceType": S}
WORKER_GROUP = {
    "groupName": S,
    "replicas": N,
    "minReplicas": N,
    "maxReplicas": N,
    "rayStartParams": ANY_MAP,
    "template": POD_TEMPLATE,
}
METADATA = {"name": S, "namespace": S, "labels": ANY_MAP}
RAY_CLUSTER_SPEC = {
    "rayVersion": S,
    "enableInTreeAutoscaling": B,
    "headGroupSpec": HEAD_GROUP,
    "workerGroupSpecs": [WORKER_GROUP],
}
RAY_CLUSTER = {"apiVersion": S, "kind": S, "metadata": METADATA, "spec": RAY_CLUSTER_SPEC}
RAY_JOB = {
    "apiVersion": S,
    "kind": S,
    "metadata": METADATA,
    "spec": {
        "entrypoint": S,
        "clusterSelector": ANY_MAP,
        "rayClusterSpec": RAY_CLUSTER_SPEC,
        "submissionMode": S,
        "runtimeEnvYAML": S,
        "shutdownAfterJobFinishes": B,
        "ttlSecondsAfterFinished": N,
        "activeDeadlineSeconds": N,
        "backoffLimit": N,
    },
}
REQUIRED = {
    "RayCluster": ["apiVersion", "kind", "metadata.name", "spec.headGroupSpec.template.spec.containers"],
    "RayJob": ["apiVersion", "kind", "metadata.name", "spec.entrypoint"],
}


def check(doc: Any, schema: Any, where: str = "") -> list[str]:
    """Every place ``doc`` does not fit ``schema`` (unknown fields, wrong types)."""
    if schema == ANY_MAP:
        return [] if isinstance(doc, dict) else [f"{where}: expected a mapping"]
    if isinstance(schema, list):
        if not isinstance(doc, list):
            return [f"{where}: expected a list"]
        return [p for i, item in enumerate(doc) for p in check(item, schema[0], f"{where}[{i}]")]
    if isinstance(schema, dict):
        if not isinstance(doc, dict):
            return [f"{where}: expected a mapping"]
        problems = [f"{where}.{k}: not a field of the CRD" for k in doc if k not in schema]
        return problems + [
            p for k, v in doc.items() if k in schema for p in check(v, schema[k], f"{where}.{k}")
        ]
    ok = isinstance(doc, schema) and not (schema is N and isinstance(doc, bool))
    return [] if ok else [f"{where}: expected {schema.__name__}, got {doc!r}"]


def _get(doc: dict, dotted: str) -> Any:
    for part in dotted.split("."):
        doc = doc[part]
    return doc


def _load(name: str) -> dict:
    return yaml.safe_load((CLUSTER / "kuberay" / name).read_text())


def _groups(cluster: dict) -> list[dict]:
    return [cluster["spec"]["headGroupSpec"], *cluster["spec"]["workerGroupSpecs"]]


def _advertised(group: dict) -> dict[str, float]:
    """The custom resources of ``rayStartParams.resources``: a JSON object inside a quoted string."""
    text = group["rayStartParams"].get("resources")
    if text is None:
        return {}
    assert text.startswith('"') and text.endswith('"'), f"resources must be quoted escaped JSON: {text!r}"
    return json.loads(json.loads(text))


def test_the_schema_check_catches_what_kuberay_would_reject() -> None:
    cluster = _load("raycluster.yaml")
    assert check(cluster, RAY_CLUSTER) == []
    cluster["spec"]["workerGroupSpecs"][0]["replica"] = 2  # misspelt
    cluster["spec"]["workerGroupSpecs"][1]["maxReplicas"] = "4"
    problems = check(cluster, RAY_CLUSTER)
    assert any("replica: not a field" in p for p in problems)
    assert any("maxReplicas: expected int" in p for p in problems)


def test_the_raycluster_fits_the_crd_and_advertises_the_engines() -> None:
    cluster = _load("raycluster.yaml")
    assert cluster["apiVersion"] == "ray.io/v1" and cluster["kind"] == "RayCluster"
    assert check(cluster, RAY_CLUSTER) == []
    for path in REQUIRED["RayCluster"]:
        assert _get(cluster, path) is not None
    gpu_groups = []
    for group in _groups(cluster):
        params = group["rayStartParams"]
        assert all(isinstance(v, str) for v in params.values()), (
            f"rayStartParams values are strings: {params}"
        )
        for container in group["template"]["spec"]["containers"]:
            assert {"secretRef": {"name": "farm-cache"}} in container.get("envFrom", []), container["name"]
            limits = container["resources"]["limits"]
            if "num-gpus" in params:
                gpu_groups.append(group)
                assert limits.get("nvidia.com/gpu") == int(params["num-gpus"])
                env = {e["name"]: e["value"] for e in container["env"]}
                assert "video" in env["NVIDIA_DRIVER_CAPABILITIES"].split(",")
            else:
                assert "nvidia.com/gpu" not in limits
        mounts = {m["name"] for c in group["template"]["spec"]["containers"] for m in c["volumeMounts"]}
        volumes = {v["name"] for v in group["template"]["spec"]["volumes"]}
        assert mounts <= volumes and "media" in mounts
    engines = {g["groupName"]: _advertised(g) for g in gpu_groups}
    assert engines == {"gpu-l4": {"nvdec": 4, "nvenc": 2}, "gpu-h100": {"nvdec": 7}}
    assert cluster["spec"]["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"


def test_the_rayjob_fits_the_crd_and_renders_into_the_object_store() -> None:
    job = _load("rayjob.yaml")
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    assert check(job, RAY_JOB) == []
    cluster = _load("raycluster.yaml")
    assert job["spec"]["clusterSelector"] == {"ray.io/cluster": cluster["metadata"]["name"]}
    words = job["spec"]["entrypoint"].split()
    assert words[:2] == ["farm", "render"] and "--address" in words
    assert words[words.index("--cache") + 1].startswith("s3://")
    from farm.cli import build_parser

    args = build_parser().parse_args(words[1:])  # the entrypoint is a valid farm command line
    assert args.address == "auto" and args.cache.startswith("s3://")
    assert yaml.safe_load(job["spec"]["runtimeEnvYAML"])["env_vars"]["FARM_NODE_FAILURES"] == "3"


def test_ray_up_config_advertises_engines_and_the_video_capability() -> None:
    config = yaml.safe_load((CLUSTER / "ray-up.yaml").read_text())
    assert config["head_node_type"] in config["available_node_types"]
    for name, node in config["available_node_types"].items():
        assert {"resources", "node_config"} <= node.keys(), name
        assert all(isinstance(v, int) for v in node["resources"].values())
        if node["resources"].get("GPU"):
            assert node["resources"].get("nvdec", 0) > 0, name
    assert "-e NVIDIA_DRIVER_CAPABILITIES=compute,utility,video" in config["docker"]["run_options"]
    assert any("farm doctor --resources" in c for c in config["worker_start_ray_commands"])


def test_the_image_is_pinned_and_mounts_the_video_driver() -> None:
    text = (CLUSTER / "Dockerfile").read_text()
    base = re.search(r"^ARG RAY_IMAGE=(\S+)$", text, re.MULTILINE)
    assert base and re.fullmatch(r"rayproject/ray:\d+\.\d+\.\d+-py3\d+-cu\d+", base.group(1)), "pin the base"
    assert "FROM ${RAY_IMAGE}" in text
    caps = re.search(r"NVIDIA_DRIVER_CAPABILITIES=(\S+)", text)
    assert caps and "video" in caps.group(1).split(",")
    assert '".[gpu,s3]"' in text
    repo = CLUSTER.parent
    for line in re.findall(r"^COPY (?:--\S+ )*(.+) \S+$", text, re.MULTILINE):
        for src in line.split():
            assert (repo / src).exists(), f"COPY {src}: not in the repository"
    extras = re.findall(r"^(\w+) = \[", (repo / "pyproject.toml").read_text(), re.MULTILINE)
    assert {"gpu", "s3"} <= set(extras)


def test_the_dashboard_charts_metrics_farm_exports() -> None:
    from farm.output.metrics import RenderMetrics

    dash = json.loads((CLUSTER / "grafana-farm.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    driver = {m.name for m in RenderMetrics().registry.collect()}
    worker = {
        "farm_worker_frames",
        "farm_worker_segments",
        "farm_worker_segment_seconds",
        "farm_worker_failures",
    }
    known = {f"{n}_total" for n in driver} | {f"{n}_bucket" for n in driver} | {"farm_segments_pending"}
    known |= {f"ray_{n}_total" for n in worker} | {f"ray_{n}_bucket" for n in worker}
    used = {m for e in exprs for m in re.findall(r"\b((?:ray_)?farm_\w+)", e)}
    assert used and used <= known, used - known
    assert any("DCGM_FI_DEV_DEC_UTIL" in e for e in exprs) and any("DCGM_FI_DEV_ENC_UTIL" in e for e in exprs)
    titles = " ".join(p["title"] for p in dash["panels"]).lower()
    for what in ("frames", "segments by state", "p95", "cache hit", "failures", "nvdec"):
        assert what in titles
