"""Worker metrics through ``ray.util.metrics``: exported by every node's Ray agent for Prometheus.

Each worker process makes its metrics once. Ray prefixes the names with
``ray_``: ``ray_farm_worker_frames_total``, ``ray_farm_worker_segment_seconds``
(a histogram), ``ray_farm_worker_segments_total`` and
``ray_farm_worker_failures_total`` (by ``reason``: the error's class and exit
code). Every metric is labelled by ``node`` (the host), ``backend`` and
``family`` (the encoder family).
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from farm.errors import FarmError

LABELS = ("node", "backend", "family")
#: upper bounds of the segment time buckets, in seconds
SECONDS_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300]


@cache
def _metrics() -> dict[str, Any]:
    from ray.util import metrics

    return {
        "frames": metrics.Counter(
            "farm_worker_frames", description="Output frames encoded by workers", tag_keys=LABELS
        ),
        "segments": metrics.Counter(
            "farm_worker_segments",
            description="Segments finished by workers, by outcome",
            tag_keys=(*LABELS, "outcome"),
        ),
        "seconds": metrics.Histogram(
            "farm_worker_segment_seconds",
            description="Wall time of one segment on its worker (decode, colour, scale, encode, upload)",
            boundaries=SECONDS_BUCKETS,
            tag_keys=LABELS,
        ),
        "failures": metrics.Counter(
            "farm_worker_failures",
            description="Segments that failed on a worker, by reason",
            tag_keys=(*LABELS, "reason"),
        ),
    }


def record_segment(result: dict[str, Any], backend: str, family: str, seconds: float) -> None:
    """Count one segment's outcome on this worker (rendered, reused or failed)."""
    try:
        m = _metrics()
    except Exception:  # metrics are a courtesy: a worker without them still renders
        return
    tags = {"node": os.uname().nodename, "backend": backend, "family": family}
    error = result.get("error")
    if isinstance(error, FarmError):
        m["segments"].inc(1, tags={**tags, "outcome": "failed"})
        m["failures"].inc(1, tags={**tags, "reason": f"{type(error).__name__} (exit {error.exit_code})"})
        return
    rendered = bool(result.get("rendered", True))
    m["segments"].inc(1, tags={**tags, "outcome": "rendered" if rendered else "reused"})
    if rendered:
        m["frames"].inc(float(result.get("frames", 0)), tags=tags)
        m["seconds"].observe(seconds, tags=tags)
