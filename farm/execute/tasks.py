"""The Ray task bodies of a render: segments, audio tracks and looks, and their remote options.

Module functions, so a worker imports them from farm (shipped to a cluster with
the job).  A FarmError comes back as a value, as every executor expects.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from farm.errors import FarmError
from farm.planning.units import AudioJob, LookJob, SegmentJob

#: a unit whose worker process dies is run again this many times
SEGMENT_RETRIES = 3


def _segment_task(
    job: SegmentJob,
    cache_root: str,
    backend: str,
    versions: dict[str, Any] | None = None,
    driver: tuple[str, int] | None = None,
) -> dict[str, Any]:
    import ray

    from farm.backends.segment import render_segment
    from farm.backends.versions import check_versions
    from farm.execute.worker_metrics import record_segment
    from farm.output.lifeline import follow_driver

    follow_driver(driver)  # stop with the driver (a SIGKILLed render leaves no orphans writing)
    node = ray.get_runtime_context().get_node_id()  # for the failure budget
    t0 = time.perf_counter()
    try:
        if versions is not None:  # the keys claim the driver's codec libraries
            check_versions(versions)
        result = render_segment(job, cache_root, backend)
    except FarmError as exc:
        result = {"error": exc}
    record_segment(result, backend, job.encode.family, time.perf_counter() - t0)
    return {**result, "node": node}


def _audio_task(job: AudioJob, out_path: str, driver: tuple[str, int] | None = None) -> dict[str, Any]:
    from pathlib import Path

    from farm.media.audio import render_audio
    from farm.output.lifeline import follow_driver

    follow_driver(driver)

    try:
        return render_audio(job, Path(out_path))
    except FarmError as exc:
        return {"error": exc}


def _look_task(job: LookJob, driver: tuple[str, int] | None = None) -> dict[str, Any]:
    from farm.look.bake import bake_look
    from farm.output.lifeline import follow_driver

    follow_driver(driver)

    try:
        return bake_look(job)
    except FarmError as exc:
        return {"error": exc}


@dataclass(frozen=True)
class Tasks:
    """The task bodies as Ray remote functions (``ray.remote`` objects are untyped)."""

    segment: Any
    audio: Any
    look: Any


def remote_tasks(task_env: dict[str, str], pin_to_driver: bool = False) -> Tasks:
    """The remote task bodies; ``pin_to_driver`` runs audio and looks on the driver's node.

    With an object-store cache, audio tracks and baked looks are written to the
    driver's local scratch (where it stitches), so they must run there.
    """
    import ray

    retries = SEGMENT_RETRIES
    here: dict[str, Any] = {}
    if pin_to_driver:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        node = ray.get_runtime_context().get_node_id()
        here = {"scheduling_strategy": NodeAffinitySchedulingStrategy(node_id=node, soft=False)}
    env: dict[str, Any] = {"runtime_env": {"env_vars": task_env}} if task_env else {}
    once = {"max_retries": retries, "retry_exceptions": False, **env}
    return Tasks(
        segment=ray.remote(num_cpus=1, **once)(_segment_task),
        audio=ray.remote(**once, **here)(_audio_task),
        look=ray.remote(num_cpus=1, **once, **here)(_look_task),
    )


#: where the object store is, passed from the driver to the workers (never credentials: a node
#: reads its own, from its environment, profile or role)
STORE_LOCATION_ENV = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION")


def store_env() -> dict[str, str]:
    return {name: os.environ[name] for name in STORE_LOCATION_ENV if os.environ.get(name)}
