"""Planning at scale: many clips, many variants, many segments — time and memory, no media.

Probe results are synthetic (``scale_plan.py``: 40 sources at mixed rates, every
tenth variable-rate, 10 minutes each), as if every probe were cached; the cuts
are 1–5 s shots.  What is timed is the planner proper (``plan_variant`` for every
variant, jobs deduplicated across variants), in this process, after the inputs
are built.  ``--baseline DIR`` runs the same scenario with the ``farm`` package
found in DIR (an older checkout) in a subprocess, for an A/B in one run;
``--rounds N`` alternates the two N times, so both see the same load.

    python benchmarks/bench_scale.py [--clips 2000 8000] [--variants 10] [--repeat 5]
        [--memory-clips 4000] [--baseline /path/to/old/checkout [--baseline-clips 2000]
        [--baseline-repeat 5] [--rounds 3]] [--out FILE]
"""

from __future__ import annotations

import argparse
import gc
import inspect
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from fractions import Fraction
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from scale_plan import synthetic_sources, synthetic_variants  # noqa: E402


def plan_all(variants: list[Any], sources: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Plan every variant as ``plan_project`` does; returns (placements, jobs by key)."""
    from farm.planning import planner

    accepts = inspect.signature(planner.plan_variant).parameters
    extra: dict[str, Any] = {}
    if "tables" in accepts:
        from farm.planning.sampling import SourceTables

        extra["tables"] = SourceTables()
    if "cuts" in accepts:  # cut points shared across variants (none in single-track cuts)
        from farm.planning.boundaries import CutPoints

        extra["cuts"] = CutPoints()
    jobs: dict[str, Any] = {}
    placements = 0
    for spec, cut in variants:
        if "known" in accepts:
            extra["known"] = set(jobs)
        vplan, new, _ = planner.plan_variant(spec, cut, lambda p, w: sources[str(p)], Fraction(2), **extra)
        placements += len(vplan.placements)
        for job in new:
            jobs.setdefault(job.key, job)
    return placements, jobs


def time_plan(n_variants: int, clips: int, repeat: int) -> dict[str, Any]:
    sources = synthetic_sources(40, seconds=600, vfr_every=10)
    variants = synthetic_variants(n_variants, sources, clips)
    wall, cpu = [], []
    for _ in range(repeat):
        gc.collect()
        t, c = time.perf_counter(), time.process_time()
        placements, jobs = plan_all(variants, sources)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        del jobs
    _, jobs = plan_all(variants, sources)
    return {
        "variants": n_variants,
        "clips_per_variant": clips,
        "clip_placements": n_variants * clips,
        "segment_placements": placements,
        "unique_segments": len(jobs),
        "unique_frames": sum(j.count for j in jobs.values()),
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "wall_median": statistics.median(wall),
        "wall_min": min(wall),
        "cpu_median": statistics.median(cpu),
        "cpu_min": min(cpu),
        "us_per_clip_placement_min": 1e6 * min(wall) / (n_variants * clips),
    }


def merged(rounds: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One timing per size from several rounds: every time kept, min and median over all."""
    out = []
    for sizes in zip(*rounds, strict=True):
        first = dict(sizes[0])
        wall = [t for p in sizes for t in p["wall_seconds"]]
        cpu = [t for p in sizes for t in p["cpu_seconds"]]
        first.update(
            wall_seconds=wall,
            cpu_seconds=cpu,
            wall_median=statistics.median(wall),
            wall_min=min(wall),
            cpu_median=statistics.median(cpu),
            cpu_min=min(cpu),
            us_per_clip_placement_min=1e6 * min(wall) / first["clip_placements"],
        )
        out.append(first)
    return out


def measure_memory(n_variants: int, clips: int) -> dict[str, Any]:
    """Peak traced memory while planning, what the finished plan holds, and the process's peak RSS."""
    sources = synthetic_sources(40, seconds=600, vfr_every=10)
    variants = synthetic_variants(n_variants, sources, clips, share=0.0)
    gc.collect()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    placements, jobs = plan_all(variants, sources)
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    frames = sum(j.count for j in jobs.values())
    return {
        "variants": n_variants,
        "clips_per_variant": clips,
        "segment_placements": placements,
        "unique_segments": len(jobs),
        "unique_frames": frames,
        "plan_held_mib": (held - base) / 2**20,
        "planning_peak_mib": (peak - base) / 2**20,
        "bytes_per_unique_segment": (held - base) / max(1, len(jobs)),
        "bytes_per_unique_frame": (held - base) / max(1, frames),
        "process_peak_rss_mib": rss_after / 1024,
        "process_peak_rss_before_mib": rss_before / 1024,
    }


def run_baseline(src: Path, args: argparse.Namespace) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{HERE}"}
    cmd = [sys.executable, str(HERE / "bench_scale.py"), "--inner", "--repeat", str(args.baseline_repeat)]
    cmd += [
        "--variants",
        str(args.variants),
        "--clips",
        *map(str, args.baseline_clips),
        "--memory-clips",
        "0",
    ]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True, cwd=src)
    return json.loads(out.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, nargs="+", default=[2000, 8000], help="clips per variant")
    parser.add_argument("--variants", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5, help="time N plans; report min and median")
    parser.add_argument(
        "--memory-clips", type=int, default=4000, help="clips per variant, unshared (0: skip)"
    )
    parser.add_argument("--baseline", type=Path, help="a checkout whose farm/ is the A side of an A/B")
    parser.add_argument("--baseline-clips", type=int, nargs="+", default=[2000], help="its clips per variant")
    parser.add_argument("--baseline-repeat", type=int, default=1, help="its repeats (it is slow)")
    parser.add_argument(
        "--rounds", type=int, default=1, help="alternate this checkout and the baseline N times"
    )
    parser.add_argument("--out", type=Path)
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    import farm

    result: dict[str, Any] = {
        "farm": str(Path(farm.__file__).parent),
        "cpus": os.cpu_count(),
        "load_before": os.getloadavg(),
        "rounds": args.rounds,
    }
    # with a baseline, the rounds alternate: this checkout's timings, then the baseline's, so
    # both see the same load; times are CPU seconds of this process (time.process_time)
    ours_rounds, base_rounds = [], []
    for _ in range(args.rounds):
        ours_rounds.append([time_plan(args.variants, c, args.repeat) for c in args.clips])
        if args.baseline and not args.inner:
            base_rounds.append(run_baseline(args.baseline, args))
    result["plan"] = merged(ours_rounds)
    if args.memory_clips:
        result["memory"] = measure_memory(args.variants, args.memory_clips)
    result["load_after"] = os.getloadavg()
    if args.inner:
        print(json.dumps(result))
        return 0
    if args.baseline:
        base = dict(base_rounds[0])
        base["plan"] = merged([b["plan"] for b in base_rounds])
        result["baseline"] = base
        ours = {p["clips_per_variant"]: p for p in result["plan"]}
        result["ratios_min"] = [
            {
                "clips": b["clips_per_variant"],
                "new_over_old": ours[b["clips_per_variant"]]["wall_min"] / b["wall_min"],
                "cpu_new_over_old": ours[b["clips_per_variant"]]["cpu_min"] / min(b["cpu_seconds"]),
            }
            for b in base["plan"]
            if b["clips_per_variant"] in ours
        ]
    for p in result["plan"]:
        print(
            f"plan {p['variants']} x {p['clips_per_variant']} clips: {p['segment_placements']} placements, "
            f"{p['unique_segments']} unique segments, {p['unique_frames']} frames: "
            f"cpu min {p['cpu_min']:.3f} s, median {p['cpu_median']:.3f} s "
            f"(wall min {p['wall_min']:.3f} s)",
            file=sys.stderr,
        )
    for p in result.get("baseline", {}).get("plan", []):
        print(
            f"baseline {p['variants']} x {p['clips_per_variant']}: cpu min {min(p['cpu_seconds']):.3f} s, "
            f"median {p['cpu_median']:.3f} s (wall min {p['wall_min']:.3f} s)",
            file=sys.stderr,
        )
    if "memory" in result:
        m = result["memory"]
        print(
            f"memory: {m['unique_segments']} unique segments x {m['variants']} variants "
            f"({m['unique_frames']} frames): plan holds {m['plan_held_mib']:.0f} MiB, planning peak "
            f"{m['planning_peak_mib']:.0f} MiB, process peak RSS {m['process_peak_rss_mib']:.0f} MiB",
            file=sys.stderr,
        )
    out = args.out or HERE / "results" / f"scale-{time.strftime('%Y-%m-%d')}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(out, file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
