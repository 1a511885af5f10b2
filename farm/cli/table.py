"""Plain-text tables on stdout: what a render did, what a plan holds."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from farm.output.report import RenderReport


def write_rows(rows: Sequence[Sequence[str]], stream: TextIO) -> None:
    """Left-aligned columns two spaces apart, without trailing blanks."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        stream.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n")


def print_table(report: RenderReport, stream: TextIO | None = None) -> None:
    """One row per variant of a render (frames, segments rendered and reused, time, output).

    Then a line naming the backend, why it was chosen, and the whole time.
    """
    stream = stream or sys.stdout
    rows = [("variant", "frames", "rendered", "reused", "seconds", "output")]
    for name, v in report.variants.items():
        out = v.output or f"FAILED (exit {v.error.exit_code})" if v.error else (v.output or "")
        rows.append(
            (name, str(v.frames), str(v.segments_rendered), str(v.segments_reused), f"{v.seconds:.1f}", out)
        )
    write_rows(rows, stream)
    stream.write(f"backend: {report.backend} ({report.backend_reason}); {report.seconds:.1f}s in all\n")


def print_plan_table(summary: dict[str, Any], stream: TextIO | None = None) -> None:
    """One row per planned variant (frames, seconds, segments, shared, cached, to encode), then totals.

    The cache columns appear when the summary carries them (``farm plan`` against a cache).
    """
    stream = stream or sys.stdout
    against_cache = "to_encode" in summary
    head = ("variant", "frames", "seconds", "segments", "shared")
    rows = [head + (("cached", "to encode") if against_cache else ())]
    for name, v in summary["variants"].items():
        row: tuple[str, ...] = (
            name,
            str(v["frames"]),
            f"{v['duration_seconds']:.2f}",
            str(v["segments"]),
            str(v["shared"]),
        )
        if against_cache:
            row += (
                f"{v['cached_segments']} ({v['cached_frames']} fr)",
                f"{v['encode_segments']} ({v['encode_frames']} fr)",
            )
        rows.append(row)
    write_rows(rows, stream)
    stream.write(f"unique segments: {summary['unique_segments']} ({summary['unique_frames']} frames)\n")
    if against_cache:
        todo = summary["to_encode"]
        encode = f"{todo['segments']} segments ({todo['frames']} frames)"
        stream.write(f"to encode now: {encode}; cache {summary['cache']}\n")
