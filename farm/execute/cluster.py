"""A running Ray cluster as ``farm doctor`` reports it: its resources and nodes.

Ray is imported here only when an address is given, and only for as long as
the query takes: a connection this module opens it also closes. Nothing is
raised; what went wrong is the report's ``reason``.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from importlib import metadata
from typing import Any


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
            info["nodes"] = [
                {
                    "address": n.get("NodeManagerAddress"),
                    "alive": n.get("Alive"),
                    "resources": n.get("Resources"),
                }
                for n in ray.nodes()
            ]
        finally:
            if started:
                ray.shutdown()
    except Exception as exc:
        lines = str(exc).strip().splitlines()
        info["reason"] = f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")
    return info
