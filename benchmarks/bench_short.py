"""Many short segments: 200 short shots x 2 variants at 320x180 (about 800 segments), farm vs FFmpeg.

Per-segment overhead is what this measures: each shot is 0.5-1.5 s, so most of
farm's time is opening sources, building graphs and encoders, and scheduling.
FFmpeg's peer is what one would type: per variant one command, every shot an
input (``-ss IN -t DUR -i SRC``), ``fps``, ``scale``, ``concat``, libx264
veryfast crf 20, AAC — the two variants' commands run one after the other and,
as FFmpeg's best on this machine, side by side.  farm runs cold (fresh cache)
with its own Ray, cold again joined to a ``farm up`` Ray, and once more on the
finished render (nothing to do).

    python benchmarks/bench_short.py [--shots 200] [--work DIR] [--out FILE] [--baseline OLD_CHECKOUT]
        [--no-joined] [--segment-cost-only] [--audio-only]

Every timed command also reports its CPU seconds (all the processes it
started, Ray's included: ``cpu_meter.py``), which is what to compare on a
machine other jobs share; ``--baseline`` renders with another checkout in the
same run (``git worktree add /tmp/old main``) for a before/after.
``in_process`` is the backend's own cost per segment: every distinct segment
rendered in one process in source order, with the worker's open decoders and
filter graphs kept (``warm``) or dropped before each segment (``cold``, what
each segment paid before warm workers); ``--segment-cost-only`` runs just that.
``audio`` (and ``audio_baseline``) is each variant's audio unit run in one
process: CPU seconds of the mix (least of three) and of the whole unit (mix and AAC encode), with
hashes of the samples and of the .m4a, so a before/after also shows the audio
did not change; ``ffmpeg_audio_cpu_seconds`` is FFmpeg's command for the audio
alone (the same trims, resampling, concat and AAC, no video), the peer of
``audio``; ``--audio-only`` runs just that.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_meter import CpuMeter  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RATES = (24, 25, 30, 24)
SECONDS = 40
W, H = 320, 180


def ensure_media(media: Path) -> list[tuple[str, int]]:
    from farm.media.synth import write_clip

    media.mkdir(parents=True, exist_ok=True)
    out = []
    for i, rate in enumerate(RATES):
        path = media / f"s{i}.mp4"
        if not path.is_file():
            tmp = media / f".tmp-s{i}.mp4"
            write_clip(
                tmp,
                width=W,
                height=H,
                rate=rate,
                frames=rate * SECONDS,
                source_id=i + 1,
                audio_tone_hz=300.0 + 100 * i,
            )
            os.replace(tmp, path)
        out.append((path.name, rate))
    return out


def make_cuts(sources: list[tuple[str, int]], shots: int) -> dict[str, list[tuple[str, int, int, int]]]:
    """Per variant: (file, rate, first frame, frames) for each shot; the second shares half the first's."""
    rnd = random.Random(13)
    first = []
    for _ in range(shots):
        name, rate = sources[rnd.randrange(len(sources))]
        n = rnd.randint(rate // 2, rate * 3 // 2)
        first.append((name, rate, rnd.randint(0, rate * SECONDS - n - 1), n))
    second = [s if k % 2 == 0 else first[(k * 7) % shots] for k, s in enumerate(reversed(first))]
    return {"a": first, "b": second}


def write_project(root: Path, media: Path, cuts: dict[str, list[tuple[str, int, int, int]]]) -> Path:
    import opentimelineio as otio

    (root / "cuts").mkdir(parents=True, exist_ok=True)
    rel = os.path.relpath(media, root)
    toml = [
        f'media_roots = ["{rel}"]\n\n[output]\nwidth = {W}\nheight = {H}\nfps = "24"\n'
        'quality = 20\npreset = "veryfast"\n'
    ]
    for variant, items in cuts.items():
        tl = otio.schema.Timeline(name=variant)
        track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
        tl.tracks.append(track)
        for k, (name, rate, a, n) in enumerate(items):
            ref = otio.schema.ExternalReference(target_url=f"{rel}/{name}")
            rng = otio.opentime.TimeRange(
                otio.opentime.RationalTime(a, rate), otio.opentime.RationalTime(n, rate)
            )
            track.append(otio.schema.Clip(name=f"shot{k}", media_reference=ref, source_range=rng))
        otio.adapters.write_to_file(tl, str(root / "cuts" / f"{variant}.otio"))
        toml.append(f'[variants.{variant}]\ntimeline = "cuts/{variant}.otio"\n')
    project = root / "farm.toml"
    project.write_text("\n".join(toml))
    return project


def ffmpeg_command(items: list[tuple[str, int, int, int]], media: Path, out: Path) -> list[str]:
    cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    chains, pads = [], []
    for i, (name, rate, a, n) in enumerate(items):
        cmd += ["-ss", f"{float(Fraction(a, rate)):.6f}", "-t", f"{float(Fraction(n, rate)):.6f}"]
        cmd += ["-i", str(media / name)]
        chains.append(f"[{i}:v]fps=24,scale={W}:{H},setsar=1,format=yuv420p[v{i}]")
        chains.append(f"[{i}:a]aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo[a{i}]")
        pads.append(f"[v{i}][a{i}]")
    graph = ";".join(chains) + ";" + "".join(pads) + f"concat=n={len(items)}:v=1:a=1[v][a]"
    cmd += ["-filter_complex", graph, "-map", "[v]", "-map", "[a]", "-c:v", "libx264", "-preset", "veryfast"]
    cmd += ["-crf", "20", "-g", "48", "-c:a", "aac", "-b:a", "192k", str(out)]
    return cmd


def ffmpeg_audio_command(items: list[tuple[str, int, int, int]], media: Path, out: Path) -> list[str]:
    """:func:`ffmpeg_command`'s audio alone: the same inputs, trims, resampling, concat and AAC."""
    cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    chains, pads = [], []
    for i, (name, rate, a, n) in enumerate(items):
        cmd += ["-ss", f"{float(Fraction(a, rate)):.6f}", "-t", f"{float(Fraction(n, rate)):.6f}"]
        cmd += ["-vn", "-i", str(media / name)]
        chains.append(f"[{i}:a]aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo[a{i}]")
        pads.append(f"[a{i}]")
    graph = ";".join(chains) + ";" + "".join(pads) + f"concat=n={len(items)}:v=0:a=1[a]"
    return [*cmd, "-filter_complex", graph, "-map", "[a]", "-c:a", "aac", "-b:a", "192k", str(out)]


def timed(
    cmds: list[list[str]],
    env: dict[str, str],
    parallel: bool = False,
    cwd: Path = REPO,
    sessions: set[int] | None = None,
) -> tuple[float, float]:
    """Run ``cmds`` (one after the other, or side by side); their wall seconds and CPU seconds.

    The CPU seconds count every process the commands start, Ray's included, and what the
    processes of ``sessions`` (a ``farm up`` Ray's) use meanwhile (``cpu_meter``).
    """
    meter = CpuMeter(sessions)
    env = {**env, **meter.env}
    t0 = time.perf_counter()
    with meter:
        if parallel:
            procs = [
                subprocess.Popen(c, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                for c in cmds
            ]
            for c, p in zip(cmds, procs, strict=True):
                if p.wait() != 0:
                    err = p.stderr.read().decode()[-2000:] if p.stderr else ""
                    raise SystemExit(f"failed: {' '.join(c[:8])}...: {err}")
        else:
            for c in cmds:
                r = subprocess.run(c, env=env, cwd=cwd, capture_output=True, text=True)
                if r.returncode != 0:
                    raise SystemExit(f"failed: {' '.join(c[:8])}...: {r.stderr[-2000:]}")
        seconds = time.perf_counter() - t0
    return seconds, meter.seconds


SEGMENT_COST = r"""
import json, shutil, sys, time
from pathlib import Path
import farm
from farm.backends import warm
from farm.backends.segment import render_segments
project, cache, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
jobs = sorted(farm.plan(project).jobs.values(), key=lambda j: (j.source.path if j.source else "", j.frames))
render_segments(jobs[:1], str(cache))  # imports and first-use costs, not counted
shutil.rmtree(cache)
t0, c0 = time.perf_counter(), time.process_time()
for job in jobs:
    if mode == "cold":
        warm.clear()  # what every segment paid before: open, seek, decoder, filter graph
    render_segments([job], str(cache))
cpu, wall = time.process_time() - c0, time.perf_counter() - t0
frames = sum(j.count for j in jobs)
print(json.dumps({"segments": len(jobs), "frames": frames, "cpu_seconds": cpu, "seconds": wall}))
"""


AUDIO_COST = r"""
import hashlib, json, sys, time
from pathlib import Path
import farm
from farm.media.audio import mix, render_audio
project, out = Path(sys.argv[1]), Path(sys.argv[2])
jobs = {name: vp.audio for name, vp in sorted(farm.plan(project).variants.items())}
mix(next(iter(jobs.values())))  # imports and first-use costs, not counted
result = {}
for name, job in jobs.items():
    mix_cpu = []
    for _ in range(3):  # the least of three: the mix is short and the machine shared
        c0 = time.process_time()
        samples = mix(job)
        mix_cpu.append(time.process_time() - c0)
    c1 = time.process_time()
    render_audio(job, out / f"{name}.m4a")  # what an audio unit runs: the mix again, then AAC
    c2 = time.process_time()
    result[name] = {
        "mix_cpu_seconds": round(min(mix_cpu), 3),
        "unit_cpu_seconds": round(c2 - c1, 3),
        "samples_sha256": hashlib.sha256(samples.tobytes()).hexdigest(),
        "m4a_sha256": hashlib.sha256((out / f"{name}.m4a").read_bytes()).hexdigest(),
    }
print(json.dumps(result))
"""


def audio_cost(project: Path, work: Path, env: dict[str, str], repo: Path) -> dict[str, Any]:
    """Each variant's audio unit (mix, then AAC) in one process with ``repo``'s farm: CPU seconds
    of the mix alone and of the whole unit, and hashes of the samples and of the .m4a."""
    out = work / "audio-inprocess"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    run = subprocess.run(
        [sys.executable, "-c", AUDIO_COST, str(project), str(out)],
        env={**env, "PYTHONPATH": str(repo)},
        cwd=repo,  # ``python -c`` puts the working directory first on sys.path
        capture_output=True,
        text=True,
    )
    if run.returncode != 0:
        raise SystemExit(f"audio cost failed: {run.stderr[-2000:]}")
    shutil.rmtree(out, ignore_errors=True)
    r: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    r["unit_cpu_seconds"] = round(sum(v["unit_cpu_seconds"] for v in r.values()), 3)
    return r


def segment_cost(project: Path, work: Path, env: dict[str, str]) -> dict[str, Any]:
    """Every distinct segment rendered in this machine's one process, in source order: CPU ms per
    segment with a worker's state kept (warm) and dropped before each segment (cold, as before)."""
    out: dict[str, Any] = {}
    for mode in ("cold", "warm"):
        cache = work / f"cache-inprocess-{mode}"
        shutil.rmtree(cache, ignore_errors=True)
        run = subprocess.run(
            [sys.executable, "-c", SEGMENT_COST, str(project), str(cache), mode],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        if run.returncode != 0:
            raise SystemExit(f"segment cost ({mode}) failed: {run.stderr[-2000:]}")
        r = json.loads(run.stdout.strip().splitlines()[-1])
        out[f"{mode}_cpu_ms_per_segment"] = round(1000 * r["cpu_seconds"] / r["segments"], 2)
        out[f"{mode}_wall_ms_per_segment"] = round(1000 * r["seconds"] / r["segments"], 2)
        out["segments"], out["frames"] = r["segments"], r["frames"]
        shutil.rmtree(cache, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=200)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "farm-short-timing")
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout (a folder holding farm/) rendered the same way in the same run, for an A/B",
    )
    parser.add_argument("--no-joined", action="store_true", help="skip the renders joined to a farm up Ray")
    parser.add_argument(
        "--segment-cost-only",
        action="store_true",
        help="only the in-process cost per segment, warm and cold (no Ray, no FFmpeg)",
    )
    parser.add_argument(
        "--audio-only",
        action="store_true",
        help="only the audio units' in-process cost (and the baseline's, with --baseline)",
    )
    args = parser.parse_args(argv)
    if shutil.which("ffmpeg") is None:
        raise SystemExit("ffmpeg is not installed: it is this benchmark's peer")
    work: Path = args.work
    media = work / "media"
    sources = ensure_media(media)
    cuts = make_cuts(sources, args.shots)
    project = write_project(work / "project", media, cuts)
    env = {**os.environ, "PYTHONPATH": str(REPO), "FARM_RAY_STATE": str(work / "ray-head.json")}
    farm = [sys.executable, "-m", "farm"]
    # bytecode compiled ahead, as installing a package does (PYTHONDONTWRITEBYTECODE would otherwise
    # have every command compile farm again)
    for checkout in [REPO, *([args.baseline.resolve()] if args.baseline else [])]:
        compileall.compile_dir(str(checkout / "farm"), quiet=1)
    result: dict[str, Any] = {
        "bytecode": "compiled ahead",
        "shots_per_variant": args.shots,
        "variants": 2,
        "cpus": os.cpu_count(),
        "load_before": os.getloadavg(),
    }

    joined: set[int] = set()  # farm up's session, while it runs

    def render(tag: str, repo: Path = REPO) -> float:
        report = work / f"report-{tag}.json"
        cmd = [
            *farm,
            "render",
            str(project),
            "--backend",
            "cpu",
            "--quiet",
            "--cache",
            str(work / "cache"),
            "--out",
            str(work / "out"),
            "--report",
            str(report),
        ]
        # run from the checkout: ``python -m`` puts the working directory first on sys.path
        seconds, cpu = timed([cmd], {**env, "PYTHONPATH": str(repo)}, cwd=repo, sessions=joined)
        data = json.loads(report.read_text())
        result[f"farm_{tag}_segments_rendered"] = sum(
            v["segments_rendered"] for v in data["variants"].values()
        )
        result[f"farm_{tag}_segments"] = sum(v["segments"] for v in data["variants"].values())
        result[f"farm_{tag}_cpu_seconds"] = cpu
        return seconds

    def clean() -> None:
        shutil.rmtree(work / "cache", ignore_errors=True)
        shutil.rmtree(work / "out", ignore_errors=True)

    if args.baseline is not None:
        result["audio_baseline"] = audio_cost(project, work, env, args.baseline.resolve())
    result["audio"] = audio_cost(project, work, env, REPO)
    if args.baseline is not None:
        result["audio_same_as_baseline"] = all(
            result["audio"][v][h] == result["audio_baseline"][v][h]
            for v in cuts
            for h in ("samples_sha256", "m4a_sha256")
        )
    ffa = [ffmpeg_audio_command(items, media, work / f"ffmpeg-{v}.m4a") for v, items in cuts.items()]
    result["ffmpeg_audio_cpu_seconds"] = timed(ffa, env)[1]
    result["audio_cpu_ratio"] = result["audio"]["unit_cpu_seconds"] / result["ffmpeg_audio_cpu_seconds"]
    if args.audio_only:
        print(json.dumps(result, indent=2))
        return 0
    result["in_process"] = segment_cost(project, work, env)
    if args.segment_cost_only:
        print(json.dumps(result, indent=2))
        return 0
    subprocess.run([*farm, "down"], env=env, capture_output=True)
    if args.baseline is not None:  # the other checkout first, on the same media and machine
        clean()
        result["baseline"] = str(args.baseline)
        result["farm_baseline_seconds"] = render("baseline", args.baseline.resolve())
        result["farm_baseline_rerun_seconds"] = render("baseline_rerun", args.baseline.resolve())
    clean()
    result["farm_own_ray_seconds"] = render("own_ray")
    result["farm_rerun_seconds"] = render("rerun")
    if not args.no_joined:
        up = subprocess.run([*farm, "up"], env=env, capture_output=True, text=True)
        if up.returncode != 0:
            raise SystemExit(up.stderr)
        try:
            joined.add(int(json.loads((work / "ray-head.json").read_text())["pid"]))
            clean()
            # CPU: the driver's, and what farm up's Ray (its warm workers) used meanwhile
            result["farm_joined_seconds"] = render("joined")
            result["farm_joined_rerun_seconds"] = render("joined_rerun")
        finally:
            joined.clear()
            subprocess.run([*farm, "down"], env=env, capture_output=True)
    ff = [ffmpeg_command(items, media, work / f"ffmpeg-{v}.mp4") for v, items in cuts.items()]
    result["ffmpeg_sequential_seconds"], result["ffmpeg_sequential_cpu_seconds"] = timed(ff, env)
    result["ffmpeg_parallel_seconds"], result["ffmpeg_parallel_cpu_seconds"] = timed(ff, env, parallel=True)
    best = min(result["ffmpeg_sequential_seconds"], result["ffmpeg_parallel_seconds"])
    result["ffmpeg_best_seconds"] = best
    result["ratio_own_ray"] = result["farm_own_ray_seconds"] / best
    ff_cpu = min(result["ffmpeg_sequential_cpu_seconds"], result["ffmpeg_parallel_cpu_seconds"])
    result["cpu_ratio_own_ray"] = result["farm_own_ray_cpu_seconds"] / ff_cpu
    segs = result["farm_own_ray_segments_rendered"]
    result["overhead_ms_per_segment_vs_ffmpeg"] = (
        1000 * (result["farm_own_ray_seconds"] - best) / max(1, segs)
    )
    result["cpu_overhead_ms_per_segment_vs_ffmpeg"] = (
        1000 * (result["farm_own_ray_cpu_seconds"] - ff_cpu) / max(1, segs)
    )
    if args.baseline is not None:
        result["ratio_baseline"] = result["farm_baseline_seconds"] / best
        result["cpu_ratio_baseline"] = result["farm_baseline_cpu_seconds"] / ff_cpu
    if not args.no_joined:
        result["ratio_joined"] = result["farm_joined_seconds"] / best
        result["cpu_ratio_joined"] = result["farm_joined_cpu_seconds"] / ff_cpu
    result["load_after"] = os.getloadavg()
    text = json.dumps(result, indent=2)
    print(text)
    out = args.out or HERE / "results" / f"short-{time.strftime('%Y-%m-%d')}.json"
    out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
