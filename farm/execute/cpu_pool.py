"""Warm CPU workers: long-lived Ray actors that render segments in batches, one source in order.

A Ray task per segment pays, every time, the scheduling of a task and, in the
worker, opening the source, seeking, starting a decoder and building a filter
graph: more than a short segment's frames cost at a small size.  Here the CPU
segments of a render go to :class:`CpuWorker` actors, one per CPU, which live
for the render's segment phase, so their processes keep open decoders and
built graphs (:mod:`farm.backends.warm`) from one segment to the next:

- short segments (fewer than :data:`TINY_FRAMES` frames) of one source are
  rendered in one call, in source order (:func:`make_calls`), each still its own
  cache entry, lease, result and error;
- an idle actor takes next the call that continues the source it last decoded,
  the nearest one ahead, before anything else (no seek, or a short one);
- a failure is handled as for tasks: a segment whose actor dies is tried again
  (up to ``SEGMENT_RETRIES`` times) on another actor, or as a task when no
  actor is left; the failure budget's verdicts (sick nodes, segments to retry
  elsewhere) apply per segment, and a segment that must avoid nodes runs as a
  pinned task.  Actors are ended as soon as no work is left for them, so the
  CPUs they held go to whatever still waits.

``FARM_CPU_ACTORS=0`` turns this off (one task per segment, as before).
"""

from __future__ import annotations

import math
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from farm.errors import FarmError, InternalError
from farm.execute.protocol import OnDone, Outcome, SkipQuery, outcome_of
from farm.planning.units import SegmentJob

#: a segment with fewer frames than this is batched with its source's neighbours
TINY_FRAMES = 48
#: a batch holds at most this many frames ...
BATCH_FRAMES = 120
#: ... and at most this many segments
BATCH_JOBS = 8

Call = tuple[SegmentJob, ...]


def enabled() -> bool:
    """Whether CPU segments run on warm actors (``FARM_CPU_ACTORS=0``: one task per segment)."""
    return os.environ.get("FARM_CPU_ACTORS", "1") != "0"


class CpuWorker:
    """A long-lived CPU segment worker; as a Ray actor its process keeps decoders and graphs warm."""

    def __init__(
        self, cache_root: str, backend: str, versions: dict[str, Any] | None, driver: tuple[str, int] | None
    ) -> None:
        from farm.output.lifeline import follow_driver

        follow_driver(driver)  # stop with the driver (a SIGKILLed render leaves no orphans writing)
        self.cache_root = cache_root
        self.backend = backend
        self.versions = versions

    def render(self, jobs: Call) -> list[dict[str, Any]]:
        """Render ``jobs`` in order; one result per job, each naming this node (for the failure budget)."""
        import ray

        from farm.backends import segment  # looked up per call: a test may have replaced render_segment
        from farm.backends.versions import check_versions
        from farm.execute.worker_metrics import record_segment

        node = ray.get_runtime_context().get_node_id()
        results = []
        for job in jobs:
            t0 = time.perf_counter()
            try:
                if self.versions is not None:  # the keys claim the driver's codec libraries
                    check_versions(self.versions)
                result = segment.render_segment(job, self.cache_root, self.backend)
            except FarmError as exc:
                result = {"error": exc}
            record_segment(result, self.backend, job.encode.family, time.perf_counter() - t0)
            results.append({**result, "node": node})
        return results


def _first_frame(job: SegmentJob) -> int:
    return job.frames[0] if job.frames else 0


def _path(job: SegmentJob) -> str | None:
    return job.source.path if job.source is not None else None


def make_calls(jobs: Sequence[SegmentJob], workers: int) -> list[Call]:
    """Group ``jobs`` into calls: short ones of one source in source order, the rest alone; longest first.

    A batch holds at most :data:`BATCH_FRAMES` frames and :data:`BATCH_JOBS`
    segments, fewer when that is needed to keep ``2 × workers`` calls to share out.
    """
    calls: list[Call] = []
    short: dict[str | None, list[SegmentJob]] = {}
    for job in jobs:
        if job.count < TINY_FRAMES and not job.layers:
            short.setdefault(_path(job), []).append(job)
        else:
            calls.append((job,))
    n_short = sum(len(group) for group in short.values())
    per_call = max(1, min(BATCH_JOBS, math.ceil(n_short / max(1, 2 * workers - len(calls)))))
    for group in short.values():
        group.sort(key=_first_frame)
        batch: list[SegmentJob] = []
        frames = 0
        for job in group:
            if batch and (frames + job.count > BATCH_FRAMES or len(batch) >= per_call):
                calls.append(tuple(batch))
                batch, frames = [], 0
            batch.append(job)
            frames += job.count
        if batch:
            calls.append(tuple(batch))
    calls.sort(key=lambda c: -sum(j.count for j in c))
    return calls


class CallQueue:
    """Calls waiting for a worker: the longest first, but a worker's own source, just ahead, before that."""

    def __init__(self, calls: Sequence[Call]) -> None:
        self._calls: list[Call] = list(calls)  # by entry number (a retry is a new entry)
        self._order: deque[int] = deque(range(len(self._calls)))
        self._by_path: dict[str | None, list[int]] = {}
        for n in sorted(self._order, key=lambda n: _first_frame(self._calls[n][0])):
            self._by_path.setdefault(_path(self._calls[n][0]), []).append(n)
        self._taken: set[int] = set()

    def __len__(self) -> int:
        return len(self._calls) - len(self._taken)

    def push(self, call: Call) -> None:
        """Put ``call`` back at the front (a retry)."""
        self._calls.append(call)
        self._order.appendleft(len(self._calls) - 1)

    def _take(self, n: int) -> Call:
        self._taken.add(n)
        return self._calls[n]

    def pop(self, after: tuple[str | None, int] | None = None) -> Call | None:
        """The next call; ``after`` = (source, frame): first the nearest call of that source from there on."""
        if after is not None and after[0] is not None:
            for n in self._by_path.get(after[0], []):
                if n not in self._taken and _first_frame(self._calls[n][0]) >= after[1]:
                    return self._take(n)
        while self._order:
            n = self._order.popleft()
            if n not in self._taken:
                return self._take(n)
        return None


@dataclass
class _Actor:
    handle: Any
    node: str | None = None  # learnt from its first result
    last: tuple[str | None, int] | None = None  # the source and frame it decoded last


@dataclass
class _Flight:
    jobs: Call
    actor: _Actor | None  # None: a task


@dataclass
class WarmFeed:
    """Runs a batch's CPU segments on warm actors (plus tasks where actors cannot take them).

    ``settle`` applies the failure budget (None: try the segment again),
    ``submit_task`` starts one segment as a task pinned away from the nodes it
    must avoid, ``avoid`` says which those are.
    """

    jobs: Sequence[SegmentJob]
    workers: int
    make_actor: Callable[[], Any]
    settle: Callable[[SegmentJob, Outcome, str | None], Outcome | None]
    submit_task: Callable[[SegmentJob], Any]
    avoid: Callable[[str], set[str]]
    excluded: Callable[[], set[str]]
    retries: int = 3
    _tries: dict[str, int] = field(default_factory=dict)

    def run(self, on_done: OnDone, skip: SkipQuery, other: dict[Any, Callable[[Any], None]]) -> None:
        """Run every segment not skipped; ``other`` holds refs in flight (audio) and their handlers.

        A handler may add to ``other`` (the next audio track to start).
        """
        import ray

        calls = make_calls(self.jobs, self.workers)
        queue = CallQueue(calls)
        count = min(self.workers, len(calls), max(1, int(cast(Any, ray).cluster_resources().get("CPU", 1))))
        idle = [_Actor(self.make_actor()) for _ in range(count)]
        live = list(idle)
        flights: dict[Any, _Flight] = {}
        pending = other  # the caller's: a handler may start the next one
        try:
            while True:
                self._dispatch(queue, idle, live, flights, skip)
                if not queue:  # nothing left for idle actors: free their CPUs
                    for actor in idle:
                        ray.kill(actor.handle)
                        live.remove(actor)
                    idle.clear()
                if not flights and not pending:
                    break
                done, _ = ray.wait([*flights, *pending], num_returns=1)
                for ref in done:
                    if ref in pending:
                        pending.pop(ref)(ref)
                        continue
                    flight = flights.pop(ref)
                    self._land(ref, flight, queue, idle, live, on_done)
        finally:
            for actor in live:
                ray.kill(actor.handle)

    def _dispatch(
        self,
        queue: CallQueue,
        idle: list[_Actor],
        live: list[_Actor],
        flights: dict[Any, _Flight],
        skip: SkipQuery,
    ) -> None:
        import ray

        while queue and idle:
            actor = idle.pop()
            if actor.node is not None and actor.node in self.excluded():
                ray.kill(actor.handle)  # its node was taken out of this render
                live.remove(actor)
                continue
            call = queue.pop(actor.last)
            assert call is not None
            jobs = []
            for job in call:
                if skip(job.key):
                    continue
                if self.avoid(job.key) and (actor.node is None or actor.node in self.avoid(job.key)):
                    flights[self.submit_task(job)] = _Flight((job,), None)  # pinned elsewhere
                else:
                    jobs.append(job)
            if not jobs:
                idle.append(actor)
                continue
            flights[actor.handle.render.remote(tuple(jobs))] = _Flight(tuple(jobs), actor)
        tasks = sum(1 for f in flights.values() if f.actor is None)
        while queue and len(live) + tasks < self.workers:  # actors lost: tasks take their place
            call = queue.pop()
            assert call is not None
            for job in call:
                if not skip(job.key):
                    flights[self.submit_task(job)] = _Flight((job,), None)
                    tasks += 1

    def _land(
        self,
        ref: Any,
        flight: _Flight,
        queue: CallQueue,
        idle: list[_Actor],
        live: list[_Actor],
        on_done: OnDone,
    ) -> None:
        import ray

        actor = flight.actor
        try:
            value = ray.get(ref)
            results = value if isinstance(value, list) else [value]
        except ray.exceptions.RayActorError as exc:  # the actor's process died: its segments go again
            assert actor is not None
            live.remove(actor)
            for job in flight.jobs:
                self._again(job, queue, on_done, f"its worker died: {exc}")
            return
        except ray.exceptions.RayError as exc:
            if actor is not None:
                idle.append(actor)
            for job in flight.jobs:
                error = InternalError(f"segment {job.key[:12]} failed on Ray: {exc}")
                on_done(Outcome(key=job.key, kind="segment", error=error))
            return
        if actor is not None:
            idle.append(actor)
            last = flight.jobs[-1]
            actor.last = (_path(last), last.frames[-1] if last.frames else 0)
        for job, result in zip(flight.jobs, results, strict=True):
            node = result.pop("node", None) if isinstance(result, dict) else None
            if actor is not None and node is not None:
                actor.node = node
            settled = self.settle(job, outcome_of(job.key, "segment", result), node)
            if settled is None:
                queue.push((job,))  # next: on a node it has not failed on
            else:
                on_done(settled)

    def _again(self, job: SegmentJob, queue: CallQueue, on_done: OnDone, why: str) -> None:
        tries = self._tries[job.key] = self._tries.get(job.key, 0) + 1
        if tries <= self.retries:
            queue.push((job,))
        else:
            error = InternalError(f"segment {job.key[:12]} failed on Ray: {why}")
            on_done(Outcome(key=job.key, kind="segment", error=error))
