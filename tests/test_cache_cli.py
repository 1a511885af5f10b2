"""``farm plan`` against the cache, ``farm cache ls|du|gc``, and leases between renders on one cache."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from coded import Shot, write_project

import farm
from farm.backends import segment
from farm.execute.local import InProcessExecutor
from farm.output import lease
from farm.output.cache import Cache

A = {"a": [Shot("s24", 0, 30), Shot("s25", 10, 25)]}
B = {"b": [Shot("s25", 10, 25), Shot("s2997", 0, 20)]}


def _farm(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "farm", *map(str, args)], capture_output=True, text=True)


def _json(*args: str | Path) -> dict:
    done = _farm(*args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _segment_bytes(cache: Path) -> int:
    return sum(p.stat().st_size for p in (cache / "segments").rglob("*") if p.is_file())


def test_plan_counts_what_the_cache_holds_and_gc_frees_what_it_says(
    tmp_path: Path, project_dir: Path
) -> None:
    pa = write_project(project_dir, A)
    pb_dir = tmp_path / "b"
    (pb_dir / "cuts").mkdir(parents=True)
    (pb_dir / "media").symlink_to(project_dir / "media")
    pb = write_project(pb_dir, B)
    cache = tmp_path / "shared-cache"

    before = _json("plan", pa, "--cache", cache, "--backend", "cpu")
    jobs_a = farm.plan(pa).jobs
    assert before["to_encode"]["segments"] == len(jobs_a)
    assert before["variants"]["a"]["cached_segments"] == 0
    assert before["variants"]["a"]["encode_frames"] == sum(j.count for j in jobs_a.values())

    for project in (pa, pb):
        report = farm.render(project, cache=cache, executor=InProcessExecutor())
        assert all(v.error is None for v in report.variants.values())
    after = _json("plan", pa, "--cache", cache, "--backend", "cpu")
    assert after["to_encode"] == {"segments": 0, "frames": 0}
    assert after["variants"]["a"]["cached_frames"] == after["variants"]["a"]["frames"]
    text = _farm("plan", pa, "--cache", cache, "--backend", "cpu")
    assert "to encode now: 0 segments (0 frames)" in text.stdout

    listed = _json("cache", "ls", "--cache", cache)
    keys_a, keys_b = set(jobs_a), set(farm.plan(pb).jobs)
    assert {e["key"] for e in listed} == keys_a | keys_b
    du = _json("cache", "du", "--cache", cache)
    assert du == {"segments": len(keys_a | keys_b), "bytes": _segment_bytes(cache)}

    # gc keeps what project a uses and removes b's own segments, and says how much it freed
    gc = _json("cache", "gc", "--cache", cache, "--project", pa)
    assert gc["removed_segments"] == len(keys_b - keys_a) > 0
    assert gc["freed_bytes"] == du["bytes"] - _segment_bytes(cache)
    assert gc["remaining_bytes"] == _segment_bytes(cache)
    assert _json("plan", pa, "--cache", cache, "--backend", "cpu")["to_encode"]["segments"] == 0
    assert _json("plan", pb, "--cache", cache, "--backend", "cpu")["to_encode"]["segments"] == len(
        keys_b - keys_a
    )


def test_gc_never_removes_what_a_running_render_holds(tmp_path: Path, project_dir: Path) -> None:
    pa = write_project(project_dir, A)
    cache_dir = tmp_path / "cache"
    assert farm.render(pa, cache=cache_dir, executor=InProcessExecutor()).variants["a"].error is None
    cache = Cache(cache_dir)
    keys = sorted(farm.plan(pa).jobs)
    held, free = keys[:1], keys[1:]
    name = lease.hold_render(cache.objects, held)  # as a render in progress does
    gc = _json("cache", "gc", "--cache", cache_dir, "--max-size", "0")
    assert gc["removed_segments"] == len(free) and gc["held"] == 1
    assert cache.segment_meta(held[0]) is not None
    assert all(cache.segment_meta(k) is None for k in free)
    lease.release_render(cache.objects, name)
    gc = _json("cache", "gc", "--cache", cache_dir, "--max-size", "0")
    assert gc["removed_segments"] == 1 and gc["remaining_bytes"] == 0 == _segment_bytes(cache_dir)


def test_gc_without_a_rule_and_unknown_schemes_are_usage_errors(tmp_path: Path) -> None:
    done = _farm("cache", "gc", "--cache", tmp_path)
    assert done.returncode == 66 and "--project" in done.stderr
    done = _farm("cache", "ls", "--cache", "gs://bucket/x")
    assert done.returncode == 2 and "s3://" in done.stderr


def test_a_key_another_render_is_encoding_is_waited_for_and_reused(tmp_path: Path, project_dir: Path) -> None:
    pa = write_project(project_dir, A)
    cache = Cache(tmp_path / "cache").ensure()
    job = next(iter(farm.plan(pa, cache=cache.root).jobs.values()))
    assert cache.claim(job.key) is None  # "render 1" holds the key
    result: dict = {}
    waiter = threading.Thread(target=lambda: result.update(segment.render_segment(job, str(cache.root))))
    waiter.start()
    waiter.join(timeout=1.0)
    assert waiter.is_alive(), "render 2 encoded a key render 1 holds"
    mine = segment._render(cache, job, "cpu")  # render 1 finishes and lets go
    cache.release(job.key)
    waiter.join(timeout=30)
    assert not waiter.is_alive()
    assert result["rendered"] is False and result["bytes"] == mine["bytes"]
    assert not list((cache.root / "leases").rglob("*.json"))


def test_leases_are_refreshed_while_held_and_a_silent_holder_is_taken_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FARM_LEASE_SECONDS", "0.6")
    objects = Cache(tmp_path / "cache").objects
    key = "ef" + "2" * 62
    assert lease.take_key(objects, key)
    first = json.loads(objects.get_bytes(f"leases/keys/{key}.json"))["since"]
    time.sleep(0.5)
    assert json.loads(objects.get_bytes(f"leases/keys/{key}.json"))["since"] > first  # refreshed
    assert not lease.take_key(objects, key) and key in lease.held_keys(objects)
    lease.release_key(objects, key)
    assert objects.get_bytes(f"leases/keys/{key}.json") is None
    # a holder on another node that stopped refreshing (it crashed): stale after FARM_LEASE_SECONDS
    silent = {"host": "elsewhere", "pid": 1, "since": time.time()}
    objects.create(f"leases/keys/{key}.json", json.dumps(silent).encode())
    assert not lease.take_key(objects, key)
    time.sleep(0.7)
    assert key not in lease.held_keys(objects)
    assert lease.take_key(objects, key)
    lease.release_key(objects, key)


TWO_RENDERS = """
import json, sys
import farm
from farm.execute.local import InProcessExecutor

report = farm.render(sys.argv[1], out=sys.argv[2], cache=sys.argv[3], executor=InProcessExecutor())
print(json.dumps(report.to_json()))
"""


def test_two_renders_on_one_cache_never_encode_one_key_twice(tmp_path: Path, project_dir: Path) -> None:
    project = write_project(project_dir, {"a": A["a"] + B["b"]}, extra="[render]\nsegment_seconds = 0.5\n")
    cache = tmp_path / "shared"
    Cache(cache).ensure()
    farm.plan(project, cache=cache)  # probe once, so both start encoding at once
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", TWO_RENDERS, str(project), str(tmp_path / f"out{i}"), str(cache)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    reports = []
    for run in runs:
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, err[-2000:]
        reports.append(json.loads(out.strip().splitlines()[-1])["variants"]["a"])
    jobs = farm.plan(project, cache=cache).jobs
    assert all(r.get("error") is None for r in reports)
    assert sum(r["segments_rendered"] for r in reports) == len(jobs), reports  # each key encoded once
    assert (tmp_path / "out0" / "a.mp4").read_bytes() == (tmp_path / "out1" / "a.mp4").read_bytes()
