"""A running Ray cluster: its resources and nodes (``farm doctor``), and checks before a render.

Ray is imported here only when an address is given, and only for as long as
the query takes: a connection this module opens it also closes. Nothing is
raised; what went wrong is the report's ``reason``.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
from importlib import metadata
from pathlib import Path
from typing import Any

from farm.errors import OutputError, Where
from farm.output.atomic import temp_path


def _ray_version() -> str | None:
    try:
        return metadata.version("ray")
    except metadata.PackageNotFoundError:
        return None


def cluster_info(address: str | None) -> dict[str, Any]:
    """The cluster's total and available resources and its nodes, or why they are not known.

    Keys: ``installed``, ``version``, ``address``, ``connected``, and either
    ``reason`` or ``cluster_resources``, ``available_resources`` and ``nodes``.
    """
    info: dict[str, Any] = {
        "installed": importlib.util.find_spec("ray") is not None,
        "version": _ray_version(),
        "address": address,
        "connected": False,
    }
    if not address:
        info["reason"] = "no cluster address (pass --address or set RAY_ADDRESS)"
        return info
    if not info["installed"]:
        info["reason"] = "Ray is not installed"
        return info
    try:
        ray: Any = importlib.import_module("ray")
        started = not ray.is_initialized()
        if started:
            ray.init(
                address=address, logging_level=logging.ERROR, log_to_driver=False, include_dashboard=False
            )
        try:
            info["connected"] = True
            info["cluster_resources"] = dict(ray.cluster_resources())
            info["available_resources"] = dict(ray.available_resources())
            info["backend"] = _cluster_choice(info["cluster_resources"])
            nodes = list(ray.nodes())
            differ = _codec_mismatches(ray, nodes)
            info["nodes"] = [
                {
                    "address": n.get("NodeManagerAddress"),
                    "alive": n.get("Alive"),
                    "resources": n.get("Resources"),
                    "codec_mismatch": differ.get(n.get("NodeID"), []),
                }
                for n in nodes
            ]
        finally:
            if started:
                ray.shutdown()
    except Exception as exc:
        lines = str(exc).strip().splitlines()
        info["reason"] = f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")
    return info


def _node_codec_versions() -> dict[str, Any]:
    from farm.media.probe import codec_library_versions

    return codec_library_versions()


def _codec_mismatches(ray: Any, nodes: list[dict[str, Any]], timeout: float = 60.0) -> dict[str, list[str]]:
    """Per alive node, how its codec libraries differ from this process's (the version guard's view)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from farm.backends.versions import version_mismatch

    ask = ray.remote(num_cpus=0)(_node_codec_versions)
    alive = [n["NodeID"] for n in nodes if n.get("Alive")]
    refs = {
        node: ask.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=node, soft=False)
        ).remote()
        for node in alive
    }
    found: dict[str, list[str]] = {}
    for node, ref in refs.items():
        try:
            found[node] = version_mismatch(_node_codec_versions(), here=ray.get(ref, timeout=timeout))
        except Exception as exc:  # a node that cannot answer is reported, not fatal
            found[node] = [f"unknown ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"]
    return {node: differ for node, differ in found.items() if differ}


def _cluster_choice(resources: dict[str, float]) -> dict[str, str]:
    """What ``--backend auto`` picks on this cluster and why, and the family ``nvidia`` would use."""
    from farm.backends.select import select_for_cluster

    backend, family, reason = select_for_cluster("auto", resources)
    return {"auto": backend, "family": family, "reason": reason}


def joined_resources() -> dict[str, float]:
    """``ray.cluster_resources()`` of the Ray this process has joined (every alive node's, summed)."""
    ray: Any = importlib.import_module("ray")
    return {str(k): float(v) for k, v in ray.cluster_resources().items()}


def _has_marker(path: str) -> bool:
    return os.path.isfile(path)


def check_visible_everywhere(folder: Path, timeout: float = 120.0) -> None:
    """Fail clearly, before rendering, when ``folder`` is not the same folder on every alive node.

    A marker file is written here and one task per node (pinned to it) looks for it.
    """
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    ray: Any = importlib.import_module("ray")
    marker = temp_path(folder / "tmp" / "visible.txt")
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("farm: is this folder shared by every node?\n")
    try:
        look = ray.remote(num_cpus=0)(_has_marker)
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        refs = [
            look.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=n["NodeID"], soft=False)
            ).remote(str(marker))
            for n in nodes
        ]
        seen = ray.get(refs, timeout=timeout)
    finally:
        marker.unlink(missing_ok=True)
    blind = [str(n.get("NodeManagerAddress")) for n, ok in zip(nodes, seen, strict=True) if not ok]
    if blind:
        raise OutputError(
            f"the cache folder is not visible from node(s) {', '.join(blind)}",
            Where(path=str(folder)),
            hint="mount one shared folder at the same path on every node, or use --cache s3://BUCKET/PREFIX",
        )
