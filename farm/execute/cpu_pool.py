"""Warm CPU workers: long-lived Ray actors that render segments in batches, one source in order.

A Ray task per segment pays, every time, the scheduling of a task and, in the
worker, opening the source, seeking, starting a decoder and building a filter
graph: more than a short segment's frames cost at a small size.  Here the CPU
segments of a render go to :class:`CpuWorker` actors, one per CPU, which live
for the render's segment phase (or, on a ``farm up`` Ray, from one render to
the next: :mod:`farm.execute.warm_workers`), so their processes keep open
decoders and built graphs (:mod:`farm.backends.warm`) from one segment to the next:

- short segments of one source are rendered in one call, in source order, each
  still its own cache entry, lease, result and error, and calls are handed out
  source by source (:mod:`farm.execute.calls`);
- a failure is handled as for tasks: a segment whose actor dies is tried again
  (up to ``SEGMENT_RETRIES`` times) on another actor, or as a task when no
  actor is left; the failure budget's verdicts (sick nodes, segments to retry
  elsewhere) apply per segment, and a segment that must avoid nodes runs as a
  pinned task.  A render's own actors are ended as soon as no work is left for
  them, so the CPUs they held go to whatever still waits.

``FARM_CPU_ACTORS=0`` turns this off (one task per segment, as before).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass, field
from typing import Any, cast

from farm.errors import FarmError, InternalError
from farm.execute.calls import Call, CallQueue, make_calls, path_of
from farm.execute.protocol import OnDone, Outcome, SkipQuery, outcome_of
from farm.planning.units import AudioJob, SegmentJob


def enabled() -> bool:
    """Whether CPU segments run on warm actors (``FARM_CPU_ACTORS=0``: one task per segment)."""
    return os.environ.get("FARM_CPU_ACTORS", "1") != "0"


class CpuWorker:
    """A long-lived CPU segment worker; as a Ray actor its process keeps decoders and graphs warm.

    It serves one render's calls, or (a ``farm up`` Ray's, see
    :mod:`farm.execute.warm_workers`) one render's after another: each call names
    its cache and the driver it follows while it runs.
    """

    def __init__(self, backend: str, versions: dict[str, Any] | None, threads: int = 0) -> None:
        """``threads``: each codec's and filter graph's (its share of the node's cores; 0: they decide)."""
        from farm.backends.host_encode import set_default_threads

        set_default_threads(threads)
        self.backend = backend
        self.versions = versions

    def ready(self) -> int:
        """Import what rendering needs (a new worker's cost, paid before its first segment); its pid."""
        import farm.backends.segment  # noqa: F401  (the backends, PyAV, NumPy)

        return os.getpid()

    def audio(self, job: AudioJob, out_path: str, driver: tuple[str, int] | None = None) -> dict[str, Any]:
        """A variant's audio track, as the audio task renders it (no new process for it)."""
        from farm.execute.tasks import _audio_task
        from farm.output.lifeline import unfollow_driver

        try:
            return _audio_task(job, out_path, driver)
        finally:
            unfollow_driver()

    def render(
        self, jobs: Call, cache_root: str, driver: tuple[str, int] | None = None
    ) -> list[dict[str, Any]]:
        """Render ``jobs`` in order; one result per job, each naming this node (for the failure budget).

        While it runs the worker follows ``driver``: a SIGKILLed render leaves no worker writing.
        """
        import ray

        from farm.backends import segment  # looked up per call: a test may have replaced render_segment
        from farm.backends.versions import check_versions
        from farm.execute.worker_metrics import record_segment
        from farm.output.lifeline import follow_driver, unfollow_driver

        follow_driver(driver)
        try:
            node = ray.get_runtime_context().get_node_id()
            results = []
            for job in jobs:
                t0 = time.perf_counter()
                try:
                    if self.versions is not None:  # the keys claim the driver's codec libraries
                        check_versions(self.versions)
                    result = segment.render_segment(job, cache_root, self.backend)
                except FarmError as exc:
                    result = {"error": exc}
                record_segment(result, self.backend, job.encode.family, time.perf_counter() - t0)
                results.append({**result, "node": node})
            return results
        finally:
            unfollow_driver()


@dataclass
class _Actor:
    handle: Any
    node: str | None = None  # learnt from its first result
    last: tuple[str | None, int] | None = None  # the source and frame it decoded last


@dataclass
class _Flight:
    jobs: Call
    actor: _Actor | None  # None: a task


#: how often the loop looks at the driver's own work (audio) while it also waits on Ray
_POLL_SECONDS = 0.02


def _wait_any(waiting: list[Any]) -> list[Any]:
    """The first of ``waiting`` to finish: Ray object references, or futures of the driver's media thread."""
    import ray

    futures = [w for w in waiting if isinstance(w, Future)]
    refs = [w for w in waiting if not isinstance(w, Future)]
    if not futures:
        done: list[Any] = ray.wait(refs, num_returns=1)[0]
        return done
    while True:
        ready = [f for f in futures if f.done()]
        if ready:
            return ready
        if not refs:
            futures_wait(futures, return_when=FIRST_COMPLETED)
            continue
        done = ray.wait(refs, num_returns=1, timeout=_POLL_SECONDS)[0]
        if done:
            return done


@dataclass
class WarmFeed:
    """Runs a batch's CPU segments on warm actors (plus tasks where actors cannot take them).

    ``settle`` applies the failure budget (None: try the segment again),
    ``submit_task`` starts one segment as a task pinned away from the nodes it
    must avoid, ``avoid`` says which those are.
    """

    jobs: Sequence[SegmentJob]
    workers: int
    cache_root: str
    driver: tuple[str, int] | None
    make_actor: Callable[[int], Any]  # the n-th worker
    settle: Callable[[SegmentJob, Outcome, str | None], Outcome | None]
    submit_task: Callable[[SegmentJob], Any]
    avoid: Callable[[str], set[str]]
    excluded: Callable[[], set[str]]
    retries: int = 3
    #: the actors outlive the render (a ``farm up`` Ray's): never killed for being idle or at the end
    keep: bool = False
    #: called with the actors' handles once they exist, before any segment (audio starts on them)
    started: Callable[[list[Any]], None] | None = None
    _tries: dict[str, int] = field(default_factory=dict)

    def run(self, on_done: OnDone, skip: SkipQuery, other: dict[Any, Callable[[Any], None]]) -> None:
        """Run every segment not skipped; ``other`` holds audio in flight and its handlers.

        Audio is in flight as Ray object references, or as futures of the driver's
        thread (:mod:`farm.execute.audio_feed`).  A handler may add to ``other``
        (the next audio track to start).
        """
        import ray

        calls = make_calls(self.jobs, self.workers)
        queue = CallQueue(calls)
        count = min(self.workers, len(calls), max(1, int(cast(Any, ray).cluster_resources().get("CPU", 1))))
        idle = [_Actor(self.make_actor(n)) for n in range(count)]
        if self.started is not None:
            self.started([actor.handle for actor in idle])
        live = list(idle)
        flights: dict[Any, _Flight] = {}
        pending = other  # the caller's: a handler may start the next one
        try:
            while True:
                self._dispatch(queue, idle, live, flights, skip)
                if not queue:  # nothing left for idle actors: free their CPUs
                    for actor in idle:
                        self._end(actor.handle)
                        live.remove(actor)
                    idle.clear()
                if not flights and not pending:
                    break
                for ref in _wait_any([*flights, *pending]):
                    if ref in pending:
                        pending.pop(ref)(ref)
                        continue
                    flight = flights.pop(ref)
                    self._land(ref, flight, queue, idle, live, on_done)
        finally:
            for actor in live:
                self._end(actor.handle)

    def _end(self, handle: Any) -> None:
        import ray

        if not self.keep:
            ray.kill(handle)

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
            busy = {path_of(f.jobs[0]) for f in flights.values() if f.actor is not None}
            call = queue.pop(actor.last, busy)
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
            ref = actor.handle.render.remote(tuple(jobs), self.cache_root, self.driver)
            flights[ref] = _Flight(tuple(jobs), actor)
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
            actor.last = (path_of(last), last.frames[-1] if last.frames else 0)
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
