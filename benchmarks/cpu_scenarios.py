"""bench_cpu's scenarios: farm, its re-run and FFmpeg timed, the sharing computed (see bench_cpu.py)."""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from cpu_setup import TARGETS, count_video, ffmpeg_command, layout, media_dir, write_project  # noqa: E402
from cpu_timing import farm_command, first_line, timed  # noqa: E402


def cache_frames(cache: Path) -> dict:
    """What the cold render put in the cache: segments, frames and worker seconds."""
    segs = []
    for meta in sorted((cache / "segments").glob("*/*.json")):
        try:
            segs.append(json.loads(meta.read_text()))
        except (OSError, ValueError):
            continue
    return {
        "segments": len(segs),
        "frames": sum(int(s.get("frames", 0)) for s in segs),
        "worker_seconds": round(sum(float(s.get("seconds", 0.0)) for s in segs), 2),
        "audio_tracks": len(list((cache / "audio").glob("*.m4a"))),
    }


def sharing(project: Path, cache: Path) -> dict:
    """From farm's own plan: output frames, frames unique to one variant, distinct frames."""
    from farm.api import plan

    p = plan(project, None, cache)  # the probes are cached by now: no media is read
    users: dict[str, set[str]] = {}
    for name, vp in p.variants.items():
        for key in vp.keys:
            users.setdefault(key, set()).add(name)
    total = sum(vp.frames for vp in p.variants.values())
    unique = sum(pl.count for vp in p.variants.values() for pl in vp.placements if len(users[pl.key]) == 1)
    distinct = sum(j.count for j in p.jobs.values())
    return {
        "output_frames": total,
        "frames_unique_to_one_variant": unique,
        "unique_fraction": round(unique / total, 3),
        "distinct_frames": distinct,
        "distinct_segments": len(p.jobs),
        # farm can at best render only the distinct frames: its ideal ratio to FFmpeg,
        # which renders every output frame
        "ideal_ratio": round(distinct / total, 3),
    }


#: the two FFmpeg peers: the command as typed by hand, and the same with farm's float LUT path
PEERS = {"ffmpeg": False, "ffmpeg_float_lut": True}


def bench_scenario(  # noqa: C901
    scenario: str, work: Path, lut: Path, scale: float, repeat: int, startup: dict, joined: dict
) -> dict:
    """FFmpeg's commands, then farm with a Ray of its own, then joining ``joined`` (``farm up``'s Ray)."""
    cuts = layout(scenario, scale)
    project = write_project(work, scenario, cuts, lut, scale)
    runs = work / "runs" / scenario
    media = media_dir(work, scale)
    farm = farm_command()
    print(
        f"\n== {scenario}: {', '.join(f'{v} ({sum(b - a for _, a, b in c)}s)' for v, c in cuts.items())}",
        flush=True,
    )

    farm_times, reports, reruns, steps = [], [], [], []
    joined_times: list[float] = []
    joined_reports: list[dict] = []
    peer_times: dict[str, list[float]] = {p: [] for p in PEERS}
    peer_variants: dict[str, dict[str, dict]] = {p: {} for p in PEERS}
    for _ in range(repeat):
        if runs.exists():
            shutil.rmtree(runs)
        (runs / "logs").mkdir(parents=True)
        # FFmpeg: each variant on its own
        for peer, float_lut in PEERS.items():
            (runs / peer).mkdir()
            total = 0.0
            for variant, items in cuts.items():
                cmd = ffmpeg_command(items, media, lut, runs / peer / f"{variant}.mp4", float_lut)
                t = timed(f"{peer} {variant}", cmd, runs / "logs" / f"{peer}-{variant}.log", steps)
                total += t["seconds"]
                entry = peer_variants[peer].setdefault(variant, {"seconds": [], "command": " ".join(cmd)})
                entry["seconds"].append(t["seconds"])
                print(f"  {peer} {variant}: {t['seconds']:.1f}s", flush=True)
            peer_times[peer].append(total)
        # farm: every variant, one command, cold cache
        cache, out = runs / "cache", runs / "farm"
        report = runs / "report.json"
        cmd = farm + [
            "render",
            str(project),
            "--backend",
            "cpu",
            "--cache",
            str(cache),
            "--out",
            str(out),
            "--report",
            str(report),
            "--quiet",
        ]

        def cold(cache: Path = cache, out: Path = out) -> None:
            shutil.rmtree(cache, ignore_errors=True)
            shutil.rmtree(out, ignore_errors=True)

        # a Ray of its own: FARM_RAY_STATE names no running head
        own = {"FARM_RAY_STATE": str(work / "no-farm-up.json")}
        t = timed("farm render", cmd, runs / "logs" / "farm.log", steps, prepare=cold, env=own)
        farm_times.append(t["seconds"])
        reports.append(json.loads(report.read_text()))
        print(f"  farm render (cold cache, its own Ray): {t['seconds']:.1f}s", flush=True)
        # the Ray `farm up` started, with its warm workers
        log = runs / "logs" / "farm-joined.log"
        t = timed("farm render joined", cmd, log, steps, prepare=cold, env=joined["env"])
        joined_times.append(t["seconds"])
        joined_reports.append(json.loads(report.read_text()))
        print(f"  farm render (cold cache, joining farm up's Ray): {t['seconds']:.1f}s", flush=True)
        # re-run: the render is finished; nothing should be rendered
        report2 = runs / "report-rerun.json"
        cmd2 = [str(report2) if c == str(report) else c for c in cmd]
        t2 = timed("farm re-run", cmd2, runs / "logs" / "farm-rerun.log", steps, env=joined["env"])
        rep2 = json.loads(report2.read_text())
        reruns.append(
            {
                "wall_seconds": round(t2["seconds"], 2),
                "report_seconds": rep2["seconds"],
                "segments_rendered": sum(v["segments_rendered"] for v in rep2["variants"].values()),
                "segments_reused": sum(v["segments_reused"] for v in rep2["variants"].values()),
                "all_up_to_date": all(v["up_to_date"] for v in rep2["variants"].values()),
            }
        )
        print(
            f"  farm re-run: {t2['seconds']:.1f}s, {reruns[-1]['segments_rendered']} segments rendered",
            flush=True,
        )

    # the last attempt's outputs and cache
    rep = reports[-1]
    farm_out = {v: count_video(Path(r["output"])) for v, r in rep["variants"].items()}
    farm_frames = sum(o["frames"] for o in farm_out.values())
    rendered = cache_frames(runs / "cache")
    share = sharing(project, runs / "cache")
    farm_s = statistics.median(farm_times)
    ray_s = startup["python_ray_init_shutdown_seconds"]
    last_variant = max(v["seconds"] for v in rep["variants"].values())

    peers = {}
    for peer in PEERS:
        outs = {v: count_video(runs / peer / f"{v}.mp4") for v in cuts}
        frames = sum(o["frames"] for o in outs.values())
        secs = statistics.median(peer_times[peer])
        peers[peer] = {
            "seconds": round(secs, 2),
            "seconds_all": [round(x, 2) for x in peer_times[peer]],
            "fps": round(frames / secs, 2),
            "output_frames": frames,
            "farm_ratio": round(farm_s / secs, 3),
            "per_variant": {
                v: {"seconds": [round(x, 2) for x in d["seconds"]], "command": d["command"], **outs[v]}
                for v, d in peer_variants[peer].items()
            },
        }
    ff_s = peers["ffmpeg"]["seconds"]
    best_s = peers["ffmpeg_float_lut"]["seconds"]
    joined_s = statistics.median(joined_times)
    jrep = joined_reports[-1]
    for st in steps:
        st["seconds"] = round(st["seconds"], 2)
    return {
        "variants": {v: [f"{s.name}[{a}s,{b}s)" for s, a, b in items] for v, items in cuts.items()},
        "project": str(project),
        "output_frames": {"farm": farm_frames, **{p: peers[p]["output_frames"] for p in PEERS}},
        # the figure the target is about: farm joining the Ray `farm up` keeps (what a studio's or CI's
        # machine runs) over FFmpeg's best-configured command (planar float before lut3d)
        "ratio_joined_vs_ffmpeg_float_lut": round(joined_s / best_s, 3),
        # farm starting and stopping a Ray of its own, over FFmpeg's command as typed by hand, and its best
        "ratio": round(farm_s / ff_s, 3),
        # Ray's start and stop, measured on their own, taken out of farm's wall time
        "ratio_without_ray_startup": round((farm_s - ray_s) / ff_s, 3),
        # against FFmpeg given farm's planar-float LUT path too: the same filter work
        "ratio_vs_ffmpeg_float_lut": peers["ffmpeg_float_lut"]["farm_ratio"],
        "target_ratio_max": TARGETS[scenario],
        "target_met": joined_s / best_s <= TARGETS[scenario],
        "farm_joined": {
            "wall_seconds": round(joined_s, 2),
            "wall_seconds_all": [round(x, 2) for x in joined_times],
            "fps": round(farm_frames / joined_s, 2),
            "report_seconds": jrep["seconds"],
            "segments_rendered": sum(v["segments_rendered"] for v in jrep["variants"].values()),
            "farm_up_seconds": joined["seconds"],
        },
        "farm": {
            "command": " ".join(
                farm
                + [
                    "render",
                    str(project),
                    "--backend",
                    "cpu",
                    "--cache",
                    "FRESH",
                    "--out",
                    "OUT",
                    "--report",
                    "R.json",
                    "--quiet",
                ]
            ),
            "wall_seconds": round(farm_s, 2),
            "wall_seconds_all": [round(x, 2) for x in farm_times],
            "wall_seconds_without_ray_startup": round(farm_s - ray_s, 2),
            "fps": round(farm_frames / farm_s, 2),
            # farm's report: from the start of render() (plan, probes, Ray start) to the end
            "report_seconds": rep["seconds"],
            # ... and to the moment the last variant's file was written
            "last_variant_written_seconds": round(last_variant, 2),
            "workers": rep["workers"],
            "backend": rep["backend"],
            "segments": sum(v["segments"] for v in rep["variants"].values()),
            "segments_rendered": sum(v["segments_rendered"] for v in rep["variants"].values()),
            "frames_rendered": rendered["frames"],
            "rendered_fps": round(rendered["frames"] / farm_s, 2),
            # time the workers spent inside segments (decode, filter, encode), summed
            "segment_worker_seconds_sum": rendered["worker_seconds"],
            "audio_tracks_rendered": rendered["audio_tracks"],
            "outputs": farm_out,
            "report": rep,
        },
        **peers,
        "sharing": share,
        "rerun": reruns[-1],
        "rerun_all": reruns,
        # every timed command: how quiet the machine was (other processes' CPU while it ran)
        "steps": steps,
    }


# ------------------------------------------------------------------ main


def startup_costs(workers: int, logs: Path, times: int = 3) -> dict:
    """What farm pays before rendering anything, measured on its own (median of ``times``)."""
    logs.mkdir(parents=True, exist_ok=True)
    steps: list[dict] = []
    version = farm_command() + ["--version"]
    cli = [timed("farm --version", version, logs / "version.log", steps)["seconds"] for _ in range(times)]
    # what RayExecutor does for a local render (address="local": a new instance, never a running one)
    code = (
        "import ray; ray.init(address='local', "
        f"num_cpus={workers}, include_dashboard=False, logging_level='ERROR'); ray.shutdown()"
    )
    ray_s = [
        timed("ray init+shutdown", [sys.executable, "-c", code], logs / "ray-init.log", steps)["seconds"]
        for _ in range(times)
    ]
    return {
        "farm_cli_seconds": round(statistics.median(cli), 2),
        "python_ray_init_shutdown_seconds": round(statistics.median(ray_s), 2),
        "python_ray_init_shutdown_seconds_all": [round(x, 2) for x in ray_s],
    }


def farm_source_state() -> dict:
    """The commit of the farm package being measured, and whether farm/ differs from it."""
    import farm

    pkg = Path(farm.__file__).resolve().parent

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", "-C", str(pkg), *args], capture_output=True, text=True, check=False
            ).stdout.strip()
        except OSError:
            return ""

    changed = git("status", "--porcelain", "--", ".")
    digest = hashlib.sha256()
    for f in sorted(pkg.rglob("*")):
        if f.is_file() and f.suffix in (".py", ".cu", ".cuh"):
            digest.update(str(f.relative_to(pkg)).encode() + b"\0" + f.read_bytes())
    return {
        "commit": git("rev-parse", "HEAD") or None,
        "farm_package_modified": bool(changed),
        "modified_files": changed.splitlines()[:20],
        "code_sha256": digest.hexdigest(),
    }


def versions() -> dict:
    import av
    import opentimelineio
    import ray

    import farm

    libs = {k: ".".join(map(str, v)) for k, v in av.library_versions.items()}
    return {
        "ffmpeg_cli": first_line(["ffmpeg", "-version"]),
        "farm": farm.__version__,
        "av": av.__version__,
        "av_libraries": libs,
        "ray": ray.__version__,
        "opentimelineio": opentimelineio.__version__,
        "python": platform.python_version(),
    }


def summary(name: str, r: dict) -> str:
    f, j, g, best = r["farm"], r["farm_joined"], r["ffmpeg"], r["ffmpeg_float_lut"]
    s, rr = r["sharing"], r["rerun"]
    met = "met" if r["target_met"] else "NOT met"
    lines = [
        f"{name}: {len(r['variants'])} variant(s), {r['output_frames']['farm']} output frames "
        f"({s['frames_unique_to_one_variant']} unique to one variant, {s['distinct_frames']} distinct)",
        f"  farm, joining farm up's Ray {j['wall_seconds']:6.1f}s  {j['fps']:5.1f} fps",
        f"  farm, a Ray of its own      {f['wall_seconds']:6.1f}s  {f['fps']:5.1f} fps  "
        f"({f['frames_rendered']} frames rendered)",
        f"  ffmpeg, best command        {best['seconds']:6.1f}s  {best['fps']:5.1f} fps  "
        "(planar float before lut3d)",
        f"  ffmpeg, plain command       {g['seconds']:6.1f}s  {g['fps']:5.1f} fps",
        f"  farm joined / ffmpeg best {r['ratio_joined_vs_ffmpeg_float_lut']:.2f} (target <= "
        f"{r['target_ratio_max']}: {met}; floor from sharing {s['ideal_ratio']:.2f}); its own Ray / best "
        f"{r['ratio_vs_ffmpeg_float_lut']:.2f}, / plain {r['ratio']:.2f}",
        f"  re-run {rr['wall_seconds']:.1f}s, {rr['segments_rendered']} segments rendered",
    ]
    noisy = [st["step"] for st in r["steps"] if st["used"] and st["disturbed"]]
    if noisy:
        lines.append(f"  WARNING: other processes used the CPU during: {', '.join(noisy)} (see 'steps')")
    return "\n".join(lines)
