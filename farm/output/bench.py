"""``farm bench``'s figures: spans on one timeline, the wall time split into stages, a trace, a picture.

A *span* is ``{"track", "name", "start", "end"}`` (wall-clock seconds) plus,
for a worker's segment, ``"stages"``: the seconds of each stage inside it
(stages interleave frame by frame, so only their totals are measured).
:func:`wall_breakdown` splits the driver's wall time: at every instant the
highest-priority driver phase that is running owns it; what no phase covers is
``other``, so the parts always sum to the wall time and ``other`` says how
much the measured stages miss.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

from farm.output.spans import STAGES

__all__ = ["PHASES", "chrome_trace", "svg_report", "wall_breakdown", "worker_stages"]

#: driver phases, highest priority first (the one that owns an instant when several run)
PHASES = ("segments", "worker warm-up", "look bakes", "stitch", "shutdown", "probe+plan", "start-up")
DRIVER = "driver"
#: colours of phases and worker stages in the picture
COLOURS = {
    "start-up": "#9e9e9e",
    "probe+plan": "#8d6e63",
    "look bakes": "#ab47bc",
    "worker warm-up": "#90caf9",
    "segments": "#42a5f5",
    "stitch": "#26a69a",
    "shutdown": "#bdbdbd",
    "decode": "#1e88e5",
    "colour+scale": "#fb8c00",
    "encode": "#e53935",
    "mux": "#8e24aa",
    "cache write": "#43a047",
    "verify": "#fdd835",
    "other": "#e0e0e0",
    "audio": "#00acc1",
    "audio mix": "#00acc1",
    "audio encode": "#00838f",
    "look": "#ab47bc",
}


def wall_breakdown(spans: Sequence[dict[str, Any]], t0: float, t1: float) -> dict[str, float]:
    """Seconds of ``[t0, t1]`` owned by each driver phase (spans of kind ``phase``), and ``other``."""
    driver = [s for s in spans if s.get("kind") == "phase" and s["name"] in PHASES]
    cuts = sorted({t0, t1, *(min(max(s[k], t0), t1) for s in driver for k in ("start", "end"))})
    out = dict.fromkeys((*PHASES, "other"), 0.0)
    for a, b in zip(cuts, cuts[1:], strict=False):
        mid = (a + b) / 2
        running = {s["name"] for s in driver if s["start"] <= mid < s["end"]}
        owner = next((p for p in PHASES if p in running), "other")
        out[owner] += b - a
    order = (
        "start-up",
        "probe+plan",
        "look bakes",
        "worker warm-up",
        "segments",
        "stitch",
        "shutdown",
        "other",
    )
    return {k: round(out[k], 4) for k in order}


def worker_stages(spans: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Worker-seconds per stage over every segment and audio span; per worker, busy seconds and segments."""
    totals = dict.fromkeys((*STAGES, "verify", "other"), 0.0)
    workers: dict[str, dict[str, float]] = {}
    for s in spans:
        if "stages" not in s:
            continue
        busy = s["end"] - s["start"]
        measured = 0.0
        for stage, sec in s["stages"].items():
            totals[stage] = totals.get(stage, 0.0) + sec
            measured += sec
        totals["other"] += max(0.0, busy - measured)
        w = workers.setdefault(s["track"], {"segments": 0, "busy": 0.0})
        w["segments"] += s.get("kind", "segment") == "segment"  # and audio tracks: busy, not counted
        w["busy"] += busy
    return {
        "stages": {k: round(v, 4) for k, v in totals.items() if v or k in STAGES},
        "workers": {
            k: {"segments": int(v["segments"]), "busy": round(v["busy"], 4)} for k, v in workers.items()
        },
    }


def _tracks(spans: Sequence[dict[str, Any]]) -> list[str]:
    names = sorted({s["track"] for s in spans} - {DRIVER})
    return [DRIVER, *names]


def chrome_trace(spans: Sequence[dict[str, Any]], t0: float, meta: dict[str, Any]) -> dict[str, Any]:
    """The Chrome trace format (Perfetto, chrome://tracing): one track (thread) per worker.

    A segment's stages are drawn inside it one after the other, each as long as
    its measured total (inside a worker they interleave frame by frame).
    """
    tracks = _tracks(spans)
    events: list[dict[str, Any]] = [
        {"ph": "M", "name": "process_name", "pid": 1, "args": {"name": "farm"}},
    ]
    for tid, name in enumerate(tracks):
        events.append({"ph": "M", "name": "thread_name", "pid": 1, "tid": tid, "args": {"name": name}})
        events.append(
            {"ph": "M", "name": "thread_sort_index", "pid": 1, "tid": tid, "args": {"sort_index": tid}}
        )

    def us(t: float) -> float:
        return round((t - t0) * 1e6, 1)

    for s in spans:
        tid = tracks.index(s["track"])
        dur = max(0.0, s["end"] - s["start"])
        args = {k: v for k, v in s.items() if k not in ("track", "name", "start", "end")}
        events.append(
            {
                "ph": "X",
                "name": s["name"],
                "cat": s.get("kind", "phase"),
                "pid": 1,
                "tid": tid,
                "ts": us(s["start"]),
                "dur": round(dur * 1e6, 1),
                "args": args,
            }
        )
        at = s["start"]
        for stage, sec in s.get("stages", {}).items():
            events.append(
                {
                    "ph": "X",
                    "name": stage,
                    "cat": "stage",
                    "pid": 1,
                    "tid": tid,
                    "ts": us(at),
                    "dur": round(sec * 1e6, 1),
                    "args": {"seconds": sec, "summed": True},
                }
            )
            at += sec
    return {"traceEvents": events, "displayTimeUnit": "ms", "otherData": meta}


def _bar(x: float, y: float, w: float, h: float, colour: str, title: str) -> str:
    return (
        f'<rect x="{x:.2f}" y="{y:.2f}" width="{max(w, 0.5):.2f}" height="{h:.2f}" fill="{colour}">'
        f"<title>{html.escape(title)}</title></rect>"
    )


def svg_report(
    spans: Sequence[dict[str, Any]], t0: float, t1: float, title: str, figures: dict[str, Any]
) -> str:
    """A picture: a timeline (one row per track; segments split into their stages) and the stage breakdown."""
    tracks = _tracks(spans)
    left, width, row = 190, 900, 22
    scale = width / max(t1 - t0, 1e-9)
    top = 40
    parts = [f'<text x="10" y="22" font-size="15" font-weight="bold">{html.escape(title)}</text>']
    for i, track in enumerate(tracks):
        y = top + i * row
        parts.append(f'<text x="10" y="{y + 15}" font-size="11">{html.escape(track[-28:])}</text>')
        parts.append(
            f'<line x1="{left}" x2="{left + width}" y1="{y + row - 2}" y2="{y + row - 2}" stroke="#eee"/>'
        )
    for s in spans:
        y = top + tracks.index(s["track"]) * row
        x = left + (s["start"] - t0) * scale
        if "stages" in s:
            at = x
            for stage, sec in s["stages"].items():
                parts.append(
                    _bar(
                        at,
                        y + 2,
                        sec * scale,
                        row - 6,
                        COLOURS.get(stage, "#777"),
                        f"{s['name']}: {stage} {sec:.3f}s",
                    )
                )
                at += sec * scale
            rest = (s["end"] - s["start"]) * scale - (at - x)
            if rest > 0:
                parts.append(
                    _bar(
                        at, y + 2, rest, row - 6, COLOURS["other"], f"{s['name']}: other {rest / scale:.3f}s"
                    )
                )
        else:
            colour = COLOURS.get(s["name"], COLOURS.get(s.get("kind", ""), "#777"))
            parts.append(
                _bar(
                    x,
                    y + 2,
                    (s["end"] - s["start"]) * scale,
                    row - 6,
                    colour,
                    f"{s['name']} {s['end'] - s['start']:.3f}s",
                )
            )
    y = top + len(tracks) * row + 10
    parts.append(f'<text x="{left}" y="{y + 10}" font-size="10">0 s</text>')
    parts.append(f'<text x="{left + width - 40}" y="{y + 10}" font-size="10">{t1 - t0:.2f} s</text>')
    y += 30
    for label, breakdown in (
        ("wall time", figures.get("wall", {})),
        ("worker-seconds", figures.get("stages", {})),
    ):
        total = sum(breakdown.values()) or 1.0
        parts.append(f'<text x="10" y="{y + 14}" font-size="12">{label} ({total:.2f} s)</text>')
        at = float(left)
        for name, sec in breakdown.items():
            w = sec / total * width
            parts.append(
                _bar(at, y, w, 18, COLOURS.get(name, "#777"), f"{name} {sec:.3f}s ({sec / total:.0%})")
            )
            if w > 45:
                parts.append(
                    f'<text x="{at + 3:.1f}" y="{y + 13}" font-size="10" fill="#fff">'
                    f"{html.escape(name)}</text>"
                )
            at += w
        y += 28
    legend = [n for n in COLOURS if n not in ("look", "audio")]
    for i, name in enumerate(legend):
        x = 10 + (i % 7) * 150
        ly = y + 10 + (i // 7) * 16
        parts.append(f'<rect x="{x}" y="{ly}" width="10" height="10" fill="{COLOURS[name]}"/>')
        parts.append(f'<text x="{x + 14}" y="{ly + 9}" font-size="10">{html.escape(name)}</text>')
    height = y + 20 + ((len(legend) + 6) // 7) * 16
    body = "\n".join(parts)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 20}" height="{height}" '
        f'font-family="sans-serif">\n<rect width="100%" height="100%" fill="#fff"/>\n{body}\n</svg>\n'
    )


def html_report(svg: str, figures: dict[str, Any]) -> str:
    """The picture with the figures under it, as one HTML page."""
    return (
        "<!doctype html><meta charset='utf-8'><title>farm bench</title>\n"
        + svg
        + "<pre>"
        + html.escape(json.dumps(figures, indent=2))
        + "</pre>\n"
    )
