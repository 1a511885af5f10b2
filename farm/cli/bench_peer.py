"""``farm bench --vs ffmpeg``: FFmpeg's command line doing a plan's work, timed; and NVML sampling.

For each variant one ``ffmpeg`` command: every run of consecutive segments of
one clip becomes an input trimmed with ``-ss``/``-t``, conformed with ``fps``,
put through the same libavfilter chain farm's CPU backend builds
(:func:`farm.backends.cpu.filter_spec`), concatenated and encoded with the same
encoder settings. Two forms: *plain* (what one would type: ``lut3d`` on the
format FFmpeg negotiates) and *best* (planar float before ``lut3d``, as farm
does — the fair peer). Video only: farm's figure also includes its audio.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

from farm.backends.cpu import filter_spec
from farm.backends.host_encode import encoder_name
from farm.planning.planner import Placement, RenderPlan
from farm.planning.units import SegmentJob

__all__ = ["NvmlSampler", "ffmpeg_commands", "run_peer"]


def _runs(plan: RenderPlan, placements: tuple[Placement, ...]) -> list[list[SegmentJob]]:
    """Placements grouped into runs of one clip whose segments follow each other in the source."""
    runs: list[list[SegmentJob]] = []
    last: Placement | None = None
    for p in placements:
        job = plan.jobs[p.key]
        prev = runs[-1][-1] if runs else None
        same = (
            last is not None
            and prev is not None
            and p.clip == last.clip
            and job.source is not None
            and prev.source is not None
            and job.source.path == prev.source.path
            and job.frames[0] >= prev.frames[-1]
        )
        if same:
            runs[-1].append(job)
        else:
            runs.append([job])
        last = p
    return runs


def _start_time(path: str) -> Fraction:
    import av

    with av.open(path) as c:
        vs = c.streams.video[0]
        if vs.start_time is None or vs.time_base is None:
            return Fraction(0)
        return Fraction(vs.start_time) * Fraction(vs.time_base)


def ffmpeg_commands(plan: RenderPlan, out_dir: Path, float_lut: bool) -> dict[str, list[str]]:
    """One ``ffmpeg`` command per variant of ``plan``, writing ``out_dir/VARIANT.mp4``."""
    commands = {}
    starts: dict[str, Fraction] = {}
    for name, vp in plan.variants.items():
        spec = vp.spec.output
        fps = spec.fps
        cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
        chains = []
        for i, run in enumerate(_runs(plan, vp.placements)):
            j0 = run[0]
            count = sum(j.count for j in run)
            seconds = f"{float(Fraction(count) / fps):.6f}"
            enc = j0.encode
            if j0.source is None or j0.geometry is None:
                cmd += [
                    "-f",
                    "lavfi",
                    "-t",
                    seconds,
                    "-i",
                    f"color=c=black:s={enc.width}x{enc.height}:r={fps}",
                ]
                chains.append(f"[{i}:v]setsar=1,format=yuv420p[v{i}]")
                continue
            src = j0.source
            if src.path not in starts:
                starts[src.path] = _start_time(src.path)
            start = Fraction(j0.frame_pts[0]) * src.time_base - starts[src.path]
            cmd += ["-ss", f"{float(start):.6f}", "-t", seconds, "-i", src.path]
            chain = filter_spec(src, j0.geometry, j0.lut_path)
            if not float_lut:
                chain = [(f, a) for f, a in chain if (f, a) != ("format", "gbrpf32le")]
            body = ",".join(f"{f}={a}" if a else f for f, a in chain)
            # fps may round one frame more out of -t than the plan's count: trim to the count
            chains.append(f"[{i}:v]fps={fps},trim=end_frame={count},setpts=PTS-STARTPTS,{body}[v{i}]")
        n = len(chains)
        graph = ";".join(chains) + ";" + "".join(f"[v{i}]" for i in range(n)) + f"concat=n={n}:v=1:a=0[v]"
        enc = plan.jobs[vp.placements[0].key].encode
        cmd += ["-filter_complex", graph, "-map", "[v]", "-c:v", encoder_name(enc)]
        cmd += ["-preset", enc.preset, "-crf", str(enc.quality), "-g", str(enc.gop), "-pix_fmt", "yuv420p"]
        cmd += ["-an", str(out_dir / f"{name}.mp4")]
        commands[name] = cmd
    return commands


def run_peer(plan: RenderPlan, out_dir: Path, repeat: int) -> dict[str, Any]:
    """Time FFmpeg's plain and best commands for every variant, ``repeat`` times each (median)."""
    if shutil.which("ffmpeg") is None:
        return {"skipped": "ffmpeg is not on PATH (install FFmpeg's command line to compare with it)"}
    result: dict[str, Any] = {}
    for form, float_lut in (("plain", False), ("best", True)):
        folder = out_dir / f"ffmpeg-{form}"
        folder.mkdir(parents=True, exist_ok=True)
        commands = ffmpeg_commands(plan, folder, float_lut)
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            for name, cmd in commands.items():
                done = subprocess.run(cmd, capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    return {"error": f"ffmpeg failed on variant {name!r}: {done.stderr.strip()[-400:]}"}
            times.append(time.perf_counter() - t0)
        from farm.media.facts import container_facts

        result[form] = {
            "seconds": round(statistics.median(times), 4),
            "frames": {k: container_facts(str(folder / f"{k}.mp4"))["frames"] for k in commands},
            "all": [round(t, 4) for t in times],
            "commands": {k: " ".join(v) for k, v in commands.items()},
        }
    return result


class NvmlSampler:
    """GPU, NVDEC and NVENC utilisation sampled through NVML (``nvidia-ml-py``), when present."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.samples: list[tuple[int, int, int]] = []
        self.skipped: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        try:
            import pynvml  # type: ignore[import-not-found,unused-ignore]

            pynvml.nvmlInit()
            self._nvml: Any = pynvml
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        except ImportError:
            self.skipped = "nvidia-ml-py is not installed (pip install nvidia-ml-py)"
        except Exception as exc:  # no driver, no GPU
            self.skipped = f"NVML is unavailable: {exc}"

    def __enter__(self) -> NvmlSampler:
        if self.skipped is None:
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        n = self._nvml
        while not self._stop.wait(self.interval):
            sm = n.nvmlDeviceGetUtilizationRates(self._handle).gpu
            enc = n.nvmlDeviceGetEncoderUtilization(self._handle)[0]
            dec = n.nvmlDeviceGetDecoderUtilization(self._handle)[0]
            self.samples.append((int(sm), int(enc), int(dec)))

    def summary(self) -> dict[str, Any]:
        if self.skipped is not None:
            return {"skipped": self.skipped}
        if not self.samples:
            return {"samples": 0}
        cols = list(zip(*self.samples, strict=True))
        return {
            "samples": len(self.samples),
            **{
                f"{name}_percent": {"mean": round(statistics.fmean(c), 1), "max": max(c)}
                for name, c in zip(("sm", "nvenc", "nvdec"), cols, strict=True)
            },
        }
