"""Prometheus metrics of the driver process.

A private registry (not the global one) so that several renders in one Python
process, and the tests, never collide.  ``farm render --metrics-port`` serves it
while rendering; ``--metrics-file`` writes it once at the end in the text
format that node_exporter's textfile collector reads.  Workers report through
``ray.util.metrics`` (exported by Ray's own agent).
"""

from __future__ import annotations

from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
    write_to_textfile,
)

from farm.output.atomic import atomic_write


class RenderMetrics:
    """The counters a render updates as segments and variants finish."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.segments = Counter(
            "farm_segments", "Segments finished, by outcome", ["outcome"], registry=self.registry
        )
        self.frames = Counter(
            "farm_frames_rendered", "Output frames rendered (not reused)", registry=self.registry
        )
        self.segment_seconds = Histogram(
            "farm_segment_seconds",
            "Wall time of one segment on its worker",
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120),
            registry=self.registry,
        )
        self.variants = Counter(
            "farm_variants", "Variants finished, by outcome", ["outcome"], registry=self.registry
        )
        self.in_progress = Gauge("farm_segments_pending", "Segments not yet finished", registry=self.registry)

    def serve(self, port: int, addr: str = "127.0.0.1") -> None:
        start_http_server(port, addr=addr, registry=self.registry)

    def write(self, path: Path) -> None:
        """Publish every metric at ``path`` in the text format (atomically: a collector may read it)."""
        with atomic_write(path) as tmp:
            write_to_textfile(str(tmp), self.registry)
