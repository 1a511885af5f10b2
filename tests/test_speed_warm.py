"""Warm CPU workers (issue 13): decoders and graphs kept between segments, short segments batched.

What is checked is the picture: every segment rendered on a warm decoder —
continued, sought back, reopened at frame 0 — shows exactly the source frames
its job names, as a fresh render does; and a render on warm Ray actors is
frame-exact and ran its segments in few processes.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import pytest
from coded import SOURCES, Shot, expected_frames, write_project
from media_check import frame_codes

import farm
from farm.backends import warm
from farm.backends.segment import render_segments
from farm.execute.calls import BATCH_FRAMES, BATCH_JOBS, TINY_FRAMES, CallQueue, make_calls
from farm.output.cache import Cache
from farm.planning.units import SegmentJob

ROOT = Path(__file__).resolve().parents[1]


def _jobs(project: Path) -> list[SegmentJob]:
    return sorted(
        farm.plan(project).jobs.values(), key=lambda j: (j.source.path if j.source else "", j.frames)
    )


def _shows(path: Path, job: SegmentJob) -> None:
    assert job.source is not None
    sid = next(s.source_id for s in SOURCES.values() if job.source.path.endswith(s.file))
    assert frame_codes(path) == [(sid, f) for f in job.frames], job.label


def test_segments_on_a_kept_decoder_show_the_frames_a_fresh_one_does(project_dir: Path) -> None:
    # short chunks of two sources: consecutive ones continue the decoder, the others seek it
    cut = [Shot("s24", 0, 40), Shot("s25", 30, 40), Shot("s24", 50, 20)]
    project = write_project(project_dir, {"cut": cut}, extra="[render]\nsegment_seconds = 0.5\n")
    jobs = _jobs(project)
    s24 = [j for j in jobs if j.source and j.source.path.endswith("s24.mp4")]
    # forwards (continue), back to the start (reopen), a jump ahead (seek), interleaved sources
    order = [*s24, s24[0], s24[-1], *[j for j in jobs if j not in s24], s24[2]]
    cache = Cache.open(str(project_dir / "cache"))
    warm.clear()
    before = warm.stats()
    for job in order:  # each as its own call, so a repeated job is rendered again from the warm state
        cache.segment_meta_path(job.key).unlink(missing_ok=True)  # rendered again, not reused
        [result] = render_segments([job], str(cache.root))
        assert result.get("rendered") is True, result
        _shows(cache.segment_path(job.key), job)
    used = {k: v - before[k] for k, v in warm.stats().items()}
    assert used["continued"] >= len(s24) - 2, used  # consecutive chunks did not seek
    assert used["seeked"] >= 1 and used["graphs_reused"] >= len(order) - 3, used
    warm.clear()


def test_a_failed_segment_leaves_no_kept_decoder_behind(project_dir: Path) -> None:
    project = write_project(
        project_dir, {"cut": [Shot("s24", 0, 30)]}, extra="[render]\nsegment_seconds = 0.5\n"
    )
    jobs = _jobs(project)
    warm.clear()
    cache = str(project_dir / "cache")
    # a job asking for frames past the source's end: the decoder runs out, the error names the file
    past = jobs[-1]
    n = SOURCES["s24"].frames
    bad = SegmentJob(
        key="f" * 64,
        frames=tuple(range(n - 2, n + 2)),
        frame_pts=tuple(
            f * past.frame_pts[1] // past.frames[1] if past.frames[1] else 0 for f in range(n - 2, n + 2)
        ),
        count=4,
        source=past.source,
        geometry=past.geometry,
        lut_path=None,
        lut_hash=None,
        encode=past.encode,
    )
    first, failed, after = render_segments([jobs[0], bad, jobs[1]], cache)
    assert "error" in failed and "s24" in str(failed["error"]), failed
    assert "error" not in first and "error" not in after
    _shows(Cache.open(cache).segment_path(jobs[1].key), jobs[1])
    warm.clear()


def _job(path: str, first: int, count: int) -> SegmentJob:
    from dataclasses import replace

    base = _JOB
    assert base.source is not None
    return replace(
        base,
        key=f"{path}-{first}-{count}",
        frames=tuple(range(first, first + count)),
        frame_pts=tuple(range(first, first + count)),
        count=count,
        source=replace(base.source, path=path),
    )


_JOB: SegmentJob


@pytest.fixture()
def template(project_dir: Path) -> None:
    global _JOB
    project = write_project(project_dir, {"cut": [Shot("s24", 0, 10)]})
    _JOB = _jobs(project)[0]


@pytest.mark.usefixtures("template")
def test_short_segments_of_one_source_are_batched_in_source_order_and_long_ones_run_alone() -> None:
    jobs = [_job("a", f, 10) for f in (90, 0, 30, 60, 10)] + [_job("b", 0, 12), _job("a", 200, TINY_FRAMES)]
    jobs += [_job("c", f * 20, 20) for f in range(20)]
    calls = make_calls(jobs, workers=2)
    assert sorted(j.key for c in calls for j in c) == sorted(j.key for j in jobs)  # each once
    for call in calls:
        paths = {j.source.path for j in call if j.source}
        assert len(paths) == 1
        assert [j.frames[0] for j in call] == sorted(j.frames[0] for j in call)
        assert len(call) <= BATCH_JOBS and (len(call) == 1 or sum(j.count for j in call) <= BATCH_FRAMES)
    assert (jobs[6],) in calls  # not short: alone
    sizes = [sum(j.count for j in c) for c in calls]
    assert sizes == sorted(sizes, reverse=True)  # the longest first
    queue = CallQueue(calls)
    rest = [queue.pop() for _ in range(len(queue))]
    assert queue.pop() is None and len(rest) == len(calls)


def _first(call: tuple[SegmentJob, ...] | None) -> tuple[str | None, int]:
    assert call is not None and call[0].source is not None
    return call[0].source.path, call[0].frames[0]


@pytest.mark.usefixtures("template")
def test_calls_are_handed_out_so_each_source_is_read_forwards_by_few_workers() -> None:
    # three sources: "a" 10 calls of 48 frames, "b" 4, "c" 2
    jobs = [_job("a", f * 48, 48) for f in range(10)] + [_job("b", f * 48, 48) for f in range(4)]
    jobs += [_job("c", f * 48, 48) for f in range(2)]
    queue = CallQueue(make_calls(jobs, workers=2))
    # two idle workers: the first takes the source with the most frames from its start, the second another
    assert _first(queue.pop(None, busy=set())) == ("a", 0)
    assert _first(queue.pop(None, busy={"a"})) == ("b", 0)
    # a worker that stopped at a's frame 47 goes on from 48: no seek
    assert _first(queue.pop(("a", 47), busy={"b"})) == ("a", 48)
    # one that stopped far from any call of its source takes the biggest source nobody reads
    assert _first(queue.pop(("b", 47 + 100), busy={"a"})) == ("b", 48)
    # when every source left is being read, the biggest is split: its middle call left
    left_a = [48 * f for f in range(2, 10)]
    got = _first(queue.pop(("x", 0), busy={"a", "b", "c"}))
    assert got == ("a", left_a[len(left_a) // 2])
    # and the rest is handed out once each
    rest = []
    while (call := queue.pop(None, busy=set())) is not None:
        rest.append(_first(call))
    assert len(rest) == len(set(rest)) == len(jobs) - 5


@pytest.mark.usefixtures("ray_session")
def test_a_render_on_warm_actors_is_frame_exact_and_uses_few_processes(project_dir: Path) -> None:
    cut = [Shot("s24", 0, 30), Shot("s25", 20, 30), Shot("s2997", 0, 40), Shot("s24", 40, 20)]
    project = write_project(project_dir, {"cut": cut}, extra="[render]\nsegment_seconds = 0.25\n")
    from farm.execute.ray_executor import RayExecutor

    report = farm.render(project, executor=RayExecutor(workers=2))
    v = report.variants["cut"]
    assert v.error is None, v.error
    assert frame_codes(Path(v.output)) == expected_frames(cut, Fraction(24))
    assert v.segments_rendered == v.segments > 8
    # consecutive chunks of a source went to the process that had decoded the one before, in order
    metas = [json.loads(p.read_text()) for p in (project_dir / ".farm-cache" / "segments").glob("*/*.json")]
    assert len(metas) == v.segments
    assert sum(m.get("decoder") == "continued" for m in metas) >= v.segments // 2, metas


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_a_render_with_its_own_ray_leaves_no_process_behind(project_dir: Path) -> None:
    from test_faults_render import _cmdline, _marked

    project = write_project(project_dir, {"cut": [Shot("s24", 0, 12)]})
    name, value = "FARM_TEST_RUN", uuid.uuid4().hex
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        name: value,
        "FARM_RAY_STATE": str(project_dir / "none.json"),
    }
    try:
        out = subprocess.run(
            [sys.executable, "-m", "farm", "render", str(project), "--workers", "2", "--quiet"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        assert frame_codes(project_dir / "renders" / "cut.mp4") == expected_frames(
            [Shot("s24", 0, 12)], Fraction(24)
        )
        deadline = time.monotonic() + 20  # Ray's processes stop in the background after the render's exit
        while time.monotonic() < deadline and _marked(f"{name}={value}"):
            time.sleep(0.1)
        left = _marked(f"{name}={value}")
        assert left == [], [_cmdline(p) for p in left]
    finally:
        for pid in _marked(f"{name}={value}"):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.mark.usefixtures("template")
def test_every_call_pushed_back_is_handed_out_once() -> None:
    """Retries are new entries: the queue hands out each exactly once, however many come and go."""
    queue = CallQueue(make_calls([_job("a", f * 10, 10) for f in range(30)], workers=2))
    out = 0
    for k in range(2000):  # retries come back as fresh one-job calls, many of them short-lived
        call = queue.pop(("a", k % 300))
        if call is not None:
            out += len(call)
        queue.push((_job("b", k, 1),))
    while (call := queue.pop()) is not None:
        out += len(call)
    assert len(queue) == 0 and out == 30 + 2000


def test_a_warm_workers_codecs_take_its_share_of_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    from farm.backends.host_encode import codec_threads, set_default_threads
    from farm.execute.warm_workers import threads_per_worker

    monkeypatch.delenv("FARM_CODEC_THREADS", raising=False)
    assert threads_per_worker(1) == (os.cpu_count() or 1)
    assert threads_per_worker(10 * (os.cpu_count() or 1)) == 1
    try:
        set_default_threads(1)
        assert codec_threads() == 1
        monkeypatch.setenv("FARM_CODEC_THREADS", "3")  # the user's word wins
        assert codec_threads() == 3
    finally:
        set_default_threads(0)
    monkeypatch.delenv("FARM_CODEC_THREADS")
    assert codec_threads() == 0


@dataclass(frozen=True)
class _Src:
    path: str


@dataclass(frozen=True)
class _Fake:
    """What the queue reads of a segment: its source's path, frames, count and layers."""

    key: str
    count: int
    frames: tuple[int, ...]
    source: _Src | None
    layers: tuple[()] = ()


def test_the_queue_hands_out_every_call_once_whatever_the_sources_and_retries() -> None:
    """Sources of every kind (None: fills and composites), empty segments, retries, any worker state."""
    rng = random.Random(13)
    for _ in range(400):
        jobs = []
        for i in range(rng.randint(1, 12)):
            path = rng.choice(["a", "b", None])
            first, count = rng.randint(0, 100), rng.randint(0, 60)
            src = _Src(path) if path else None
            jobs.append(_Fake(f"k{i}", count, tuple(range(first, first + count)), src))
        queue = CallQueue(make_calls(jobs, workers=2))  # type: ignore[arg-type]
        seen, retries = [], 0
        while len(queue):
            if rng.random() < 0.1:
                retries += 1
                queue.push((_Fake(f"r{retries}", 3, (1, 2, 3), _Src("a")),))  # type: ignore[arg-type]
            after = rng.choice([None, ("a", rng.randint(0, 100)), ("b", rng.randint(0, 100))])
            call = queue.pop(after, busy=set(rng.sample(["a", "b", None], rng.randint(0, 3))))
            assert call is not None
            seen += [j.key for j in call]
        assert queue.pop() is None
        assert sorted(seen) == sorted([j.key for j in jobs] + [f"r{n}" for n in range(1, retries + 1)])


def test_on_this_machines_ray_the_driver_renders_the_audio_beside_the_warm_workers(
    project_dir: Path,
) -> None:
    """The audio track is the driver's work there, so no worker starts its segments late.

    Behaviour checked: the track lands with its tones where the cut puts them, its
    span names this process (marked as the driver), and every segment ran in a
    worker process.
    """
    from media_check import audio_samples, tone_at

    from farm.execute.ray_executor import RayExecutor
    from farm.execute.timing import TimedExecutor
    from farm.output.spans import worker_name

    cut = [Shot("s24", 0, 24), Shot("s25", 25, 24)]
    # 720p: the video outweighs the audio, so the driver takes the track (driver_share)
    project = write_project(project_dir, {"cut": cut}, output={"width": 1280, "height": 720})
    spans: list[dict] = []
    report = farm.render(project, executor=TimedExecutor(RayExecutor(workers=2), spans))
    v = report.variants["cut"]
    assert v.error is None, v.error
    samples, rate = audio_samples(Path(v.output))
    assert rate * 2 <= len(samples) < rate * 2 + 1024  # 48 frames at 24 fps; AAC ends on a whole frame
    assert tone_at(samples, rate, Fraction(1, 2)) == pytest.approx(SOURCES["s24"].tone, rel=0.02)
    assert tone_at(samples, rate, Fraction(3, 2)) == pytest.approx(SOURCES["s25"].tone, rel=0.02)
    audio = [s for s in spans if s.get("kind") == "audio"]
    assert [s["track"] for s in audio] == [f"{worker_name()} (driver)"]
    assert set(audio[0]["stages"]) == {"audio mix", "audio encode"}
    segments = [s for s in spans if s.get("kind") == "segment"]
    assert segments and all(s["track"] != audio[0]["track"] for s in segments)
    assert all(not s["track"].endswith(f":{os.getpid()}") for s in segments)


def test_the_driver_takes_the_audio_tracks_that_keep_it_from_being_the_longest_chain() -> None:
    """A 4K variant's or a few variants' audio is the driver's; 200 short shots' is shared out."""
    from types import SimpleNamespace as NS

    from farm.execute.audio_feed import driver_share

    def batch(frames: int, size: tuple[int, int], tracks: list[float]) -> NS:
        encode = NS(width=size[0], height=size[1])
        segments = [NS(count=24, encode=encode)] * (frames // 24)
        audio = [NS(key=str(n), job=NS(duration=Fraction(d))) for n, d in enumerate(tracks)]
        return NS(segments=segments, audio=audio)

    def split(b: NS) -> tuple[list[float], list[float]]:
        here, there = driver_share(b, 2)  # type: ignore[arg-type]
        return [float(u.job.duration) for u in here], [float(u.job.duration) for u in there]

    assert split(batch(240, (1920, 1080), [10])) == ([10], [])  # the single 4K scenario
    assert split(batch(672, (1920, 1080), [28, 24, 26])) == ([28, 26, 24], [])  # three sharing shots
    # 200 short shots x 2 variants at 320x180: as much audio as video; one track each way
    assert split(batch(9600, (320, 180), [200, 200])) == ([200], [200])
    assert split(batch(0, (320, 180), [5])) == ([], [5])  # audio alone: the workers'
