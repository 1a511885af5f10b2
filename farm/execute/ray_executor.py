"""Run a batch on Ray: segments, audio tracks and looks as tasks, bounded in flight.

With :mod:`farm.execute.actors` this is where Ray lives.  A local Ray is
started when no address is given.  Units are Ray tasks, retried when their
worker process dies; GPU segments run on actors that keep their decoder,
encoder and kernels warm.  Every unit's outcome goes back to the caller as it
lands, so a variant is stitched as soon as its last piece is there.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from types import TracebackType
from typing import Any, TextIO, cast

from farm.errors import BackendUnavailableError, InternalError
from farm.execute import local_ray
from farm.execute.budget import FailureBudget
from farm.execute.local_ray import join_running_head
from farm.execute.protocol import OnDone, Outcome, SkipQuery, UnitKind, WorkBatch, outcome_of
from farm.execute.tasks import SEGMENT_RETRIES, Tasks, remote_tasks, store_env
from farm.planning.units import SegmentJob

__all__ = ["SEGMENT_RETRIES", "RayExecutor"]


@dataclass(frozen=True)
class _Unit:
    """A unit waiting to start."""

    kind: UnitKind
    key: str
    start: Callable[[], Any]  # submits it; returns its Ray object reference


class _ActorPool:
    """GPU worker actors: a segment starts only on an idle one."""

    def __init__(self, actors: list[Any]) -> None:
        self.idle = list(actors)
        self.busy: dict[Any, Any] = {}  # object reference -> the actor computing it

    def submit(self, job: SegmentJob) -> Any:
        actor = self.idle.pop()
        ref = actor.render.remote(job)
        self.busy[ref] = actor
        return ref

    def release(self, ref: Any) -> None:
        actor = self.busy.pop(ref, None)
        if actor is not None:
            self.idle.append(actor)


class RayExecutor:
    """Runs work on a local Ray of its own, or on the Ray cluster at ``address``."""

    def __init__(
        self,
        workers: int | None = None,
        address: str | None = None,
        task_env: dict[str, str] | None = None,
        backend: str = "cpu",
        versions: dict[str, Any] | None = None,
        notes: TextIO | None = None,
    ) -> None:
        """``versions``: the codec library versions the keys claim (default: this process's);
        ``notes``: where to say what starting a Ray of its own cost (and how not to pay it)."""
        from farm.media.probe import codec_library_versions

        #: every segment task checks its worker has these (see farm.backends.versions)
        self.versions = codec_library_versions() if versions is None else versions
        self.workers = workers or os.cpu_count() or 1
        self._asked_workers = workers is not None
        #: the address of the ``farm up`` Ray this executor joined (leaving it only disconnects)
        self.joined: str | None = None
        self.address = address
        self.backend = backend  # a local Ray advertises this machine's video engines for nvidia
        #: environment variables of the worker processes that run tasks
        self.task_env = dict(task_env or {})
        self._started = False  # this executor started Ray (and stops it on exit)
        self.budget = FailureBudget()  # nodes failing segments for system reasons are taken out
        self._driver: tuple[str, int] | None = None  # (host, pid) the workers follow; set by run()
        self._turn = 0  # round-robin over the nodes a pinned segment may use
        self.notes = notes

    def __enter__(self) -> RayExecutor:
        import ray

        if not ray.is_initialized():
            t0 = time.perf_counter()
            try:
                self._init()
            except Exception as exc:  # ConnectionError, ValueError, RuntimeError... from Ray
                where = f"the Ray cluster at {self.address}" if self.address else "a local Ray"
                raise BackendUnavailableError(f"cannot start or join {where}: {exc}") from None
            self._started = True
            took = time.perf_counter() - t0
            # Ray builds its serialization context on the first thing a driver sends, importing
            # serializers for libraries farm never sends (0.1-0.3 s): here, while planning goes on
            ray.put(None)
            if self.notes is not None and not self.address and not self.joined and took >= 1.0:
                print(
                    f"farm: started a local Ray in {took:.1f} s; `farm up` keeps one running, with warm "
                    "workers, for the renders after this one",
                    file=self.notes,
                    flush=True,
                )
        return self

    def _init(self) -> None:
        import ray

        kwargs: dict[str, Any] = {
            "include_dashboard": False,
            "logging_level": "ERROR",
            "log_to_driver": True,
        }
        if self.address:
            import farm

            _check_reachable(self.address)
            # ship the driver's farm package so cluster workers run the same code
            kwargs["runtime_env"] = {"py_modules": [os.path.dirname(farm.__file__)]}
            ray.init(address=self.address, **kwargs)
            if not self._asked_workers:  # a cluster's workers are its CPUs, not this machine's
                self.workers = max(1, int(cast(Any, ray).cluster_resources().get("CPU", 1)))
            return
        if self.backend == "cpu" and (head := join_running_head(kwargs)) is not None:
            if not self._asked_workers:  # the head's workers, not this machine's cores
                self.workers = int(head["workers"])
            self.joined = str(head["address"])
            return
        if self.backend == "nvidia":
            from farm.backends.resources import node_resources

            kwargs["resources"] = node_resources()
        # "local": a new Ray of our own, even when RAY_ADDRESS names a running one
        ray.init(address="local", num_cpus=self.workers, **kwargs)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        import ray

        if self._started:
            self._started = False
            if self.joined and local_ray.LEAVE_BY_EXIT:
                return  # the process's end disconnects it (farm.cli.entry), without 0.3 s of waiting
            from farm.execute.ray_stop import stop_detached

            if not stop_detached():  # its processes stop in the background, not holding the exit
                ray.shutdown()

    def run(self, batch: WorkBatch, on_done: OnDone, skip: SkipQuery) -> None:
        """Run every unit ``skip`` lets through, calling ``on_done`` for each as it finishes."""
        from farm.output.lifeline import this_process

        task_env = {**store_env(), **self.task_env} if batch.cache_url else self.task_env
        tasks = remote_tasks(task_env, pin_to_driver=bool(batch.cache_url))
        driver = this_process()
        self._driver = driver
        # looks first, all of them: segments apply the LUTs they bake
        looks = [_Unit("look", job.key, partial(tasks.look.remote, job, driver)) for job in batch.looks]
        self._feed(looks, None, on_done, skip, limit=len(looks))
        if batch.cache_url:  # workers of an object-store cache fetch the looks from the store
            from farm.output.cache import Cache

            store = Cache.open(batch.cache_url)
            for lut in sorted({j.lut_path for j in batch.segments if j.lut_path}):
                if os.path.isfile(lut):
                    store.share_lut(lut)
        from farm.execute import cpu_pool

        if batch.backend == "cpu" and batch.segments and cpu_pool.enabled():
            self._run_warm(batch, tasks, task_env, on_done, skip)
            return
        pool = self._gpu_pool(batch) if batch.backend == "nvidia" and batch.segments else None
        # audio first: few, long, and they overlap with the many short segments
        units = [
            _Unit("audio", u.key, partial(tasks.audio.remote, u.job, str(u.out_path), driver))
            for u in batch.audio
        ]
        for job in batch.segments:
            if pool is not None:
                start = partial(pool.submit, job)
            else:
                start = partial(self._submit_segment, tasks.segment, job, batch.cache_location, batch.backend)
            units.append(_Unit("segment", job.key, start))
        # bounded: enough to keep every worker busy, no more
        self._feed(units, pool, on_done, skip, limit=max(2, 2 * self.workers))

    def _run_warm(
        self, batch: WorkBatch, tasks: Tasks, task_env: dict[str, str], on_done: OnDone, skip: SkipQuery
    ) -> None:
        """CPU segments on warm actors (:mod:`farm.execute.cpu_pool`).

        Audio (:mod:`farm.execute.audio_feed`): when Ray runs on this machine this
        process renders its share and the actors the rest; on a remote cluster the
        actors render it all; with an object-store cache, tasks pinned to this node.
        """
        import ray

        from farm.execute.audio_feed import AudioFeed
        from farm.execute.cpu_pool import CpuWorker, WarmFeed
        from farm.execute.warm_workers import WarmWorkers, threads_per_worker

        audio = AudioFeed(batch, tasks, skip, on_done, self._driver, self.workers)
        if batch.cache_url:  # written where the driver stitches (tasks pinned there), not on any worker
            audio.pinned()
        elif not self.address:  # this machine's Ray: the driver renders it, beside the workers
            audio.in_driver()
        cache, backend = batch.cache_location, batch.backend
        # on this machine the workers share its cores: a thread each per codec and graph when there are
        # as many workers as cores, rather than every codec sizing itself to the whole machine
        threads = 0 if self.address else threads_per_worker(self.workers)
        make_actor: Callable[[int], Any]
        if self.joined:  # the farm up Ray's workers: found warm, left running for the next render
            make_actor = WarmWorkers(backend, self.versions, task_env, threads).get
        else:
            env: dict[str, Any] = {"runtime_env": {"env_vars": task_env}} if task_env else {}
            worker = ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0, **env)(CpuWorker)
            make_actor = lambda _n: worker.remote(backend, self.versions, threads)  # noqa: E731

        def settle(job: SegmentJob, outcome: Outcome, node: str | None) -> Outcome | None:
            return self._settle(_Unit("segment", job.key, lambda: None), outcome, node)

        feed = WarmFeed(
            jobs=batch.segments,
            workers=self.workers,
            cache_root=cache,
            driver=self._driver,
            make_actor=make_actor,
            keep=self.joined is not None,
            started=None if batch.cache_url else audio.on_actors,
            settle=settle,
            submit_task=lambda job: self._submit_segment(tasks.segment, job, cache, backend),
            avoid=self.budget.avoid,
            excluded=lambda: set(self.budget.excluded),
            retries=SEGMENT_RETRIES,
        )
        try:
            feed.run(on_done, skip, audio.pending)
        finally:
            audio.close()

    def _submit_segment(self, task: Any, job: SegmentJob, cache: str, backend: str) -> Any:
        """Start a segment task, pinned away from the nodes the failure budget says to avoid."""
        avoid = self.budget.avoid(job.key)
        if not avoid:
            return task.remote(job, cache, backend, self.versions, self._driver)
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        nodes = self._nodes_for(job.key)
        self._turn += 1
        node = nodes[self._turn % len(nodes)] if nodes else next(iter(avoid))  # none left: it fails there
        strategy = NodeAffinitySchedulingStrategy(node_id=node, soft=False)
        return task.options(scheduling_strategy=strategy).remote(
            job, cache, backend, self.versions, self._driver
        )

    def _nodes_for(self, key: str) -> list[str]:
        """Alive nodes with CPUs that segment ``key`` may still run on."""
        import ray

        avoid = self.budget.avoid(key)
        nodes = cast(Callable[[], list[dict[str, Any]]], ray.nodes)()
        return sorted(
            n["NodeID"]
            for n in nodes
            if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) >= 1 and n["NodeID"] not in avoid
        )

    def _settle(self, unit: _Unit, outcome: Outcome, node: str | None) -> Outcome | None:
        """Apply the failure budget to a segment's outcome: None when it is to be tried again."""
        err = outcome.error
        if unit.kind != "segment" or err is None or node is None or not self.budget.is_system(err):
            return outcome
        before = set(self.budget.excluded)
        again = self.budget.record(unit.key, node, err)
        for sick in set(self.budget.excluded) - before:
            print(
                f"farm: warning: node {sick} taken out of this render: {self.budget.excluded[sick]}",
                file=sys.stderr,
            )
        if again and self._nodes_for(unit.key):
            return None
        return dataclasses.replace(outcome, error=self.budget.failure(unit.key, err))

    @property
    def excluded_nodes(self) -> dict[str, str]:
        """Nodes the failure budget took out of this render, and why."""
        return dict(self.budget.excluded)

    def _gpu_pool(self, batch: WorkBatch) -> _ActorPool:
        """GPU worker actors (Ray gives an actor a GPU: a task asking for none sees no CUDA device)."""
        import ray

        from farm.backends.resources import worker_count
        from farm.execute.actors import start_gpu_workers

        family = batch.segments[0].encode.family
        resources = cast(Callable[[], dict[str, float]], ray.cluster_resources)()
        count = min(len(batch.segments), worker_count(resources, family))
        if count < 1:
            raise BackendUnavailableError(
                f"no Ray node offers what {family!r} segments need",
                hint="start GPU nodes with cluster/start-node.sh, or use --backend cpu",
            )
        return _ActorPool(start_gpu_workers(count, family, batch.cache_location))

    def _feed(
        self, units: list[_Unit], pool: _ActorPool | None, on_done: OnDone, skip: SkipQuery, limit: int
    ) -> None:
        """Start units in order, at most ``limit`` in flight, reporting each as it lands."""
        import ray

        queue = list(reversed(units))
        in_flight: dict[Any, _Unit] = {}
        while queue or in_flight:
            while queue and len(in_flight) < limit:
                if pool is not None and queue[-1].kind == "segment" and not pool.idle:
                    break  # every GPU worker is busy
                unit = queue.pop()
                if not skip(unit.key):
                    in_flight[unit.start()] = unit
            if not in_flight:
                break
            done, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in done:
                unit = in_flight.pop(ref)
                if pool is not None:
                    pool.release(ref)
                outcome, node = _outcome(ref, unit.kind, unit.key)
                settled = self._settle(unit, outcome, node)
                if settled is None:
                    queue.append(unit)  # next: on a node it has not failed on
                else:
                    on_done(settled)


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast on a cluster address nothing answers at (Ray itself retries for minutes)."""
    import socket

    if address in ("auto", "local") or "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {address!r}")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise ConnectionError(f"nothing answers at {address} ({exc.strerror or exc})") from None


def _outcome(ref: Any, kind: UnitKind, key: str) -> tuple[Outcome, str | None]:
    """The outcome of a finished Ray task (its result, or the error it returned or died of) and its node."""
    import ray

    try:
        result = ray.get(ref)
    except ray.exceptions.RayError as exc:
        error = InternalError(f"{kind} {key[:12]} failed on Ray: {exc}")
        return Outcome(key=key, kind=kind, error=error), None
    node = result.pop("node", None) if isinstance(result, dict) else None
    return outcome_of(key, kind, result), node
