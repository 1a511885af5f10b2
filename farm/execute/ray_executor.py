"""Execute a plan on Ray: the missing segments and audio tracks only, bounded in flight.

This is the one place Ray lives.  A local Ray is started when no address is
given; segments are Ray tasks (retried when their worker process dies), audio
tracks too.  The executor calls back as work completes so the caller can
stitch a variant as soon as its last piece lands, and report progress.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from farm.errors import FarmError, InternalError

#: a segment whose worker process dies is run again this many times
SEGMENT_RETRIES = 3


@dataclass
class Outcome:
    """What became of one unit of work (a segment or an audio track)."""

    key: str
    kind: str  # "segment" | "audio"
    rendered: bool = False  # rendered now (False: taken from the cache)
    meta: dict = field(default_factory=dict)
    error: FarmError | None = None


def _remote_functions():  # type: ignore[no-untyped-def]
    import ray

    @ray.remote(num_cpus=1, max_retries=SEGMENT_RETRIES, retry_exceptions=False)
    def segment_task(job, cache_root: str, backend: str):  # type: ignore[no-untyped-def]
        from farm.backends.segment import render_segment

        try:
            return render_segment(job, cache_root, backend)
        except FarmError as exc:
            return {"error": exc}

    @ray.remote(max_retries=SEGMENT_RETRIES, retry_exceptions=False)
    def audio_task(job, out_path: str):  # type: ignore[no-untyped-def]
        from farm.media.audio import render_audio

        try:
            return render_audio(job, Path(out_path))
        except FarmError as exc:
            return {"error": exc}

    @ray.remote(num_cpus=1, max_retries=SEGMENT_RETRIES, retry_exceptions=False)
    def look_task(job):  # type: ignore[no-untyped-def]
        from farm.look.bake import bake_look

        try:
            return bake_look(job)
        except FarmError as exc:
            return {"error": exc}

    return segment_task, audio_task, look_task


class RayExecutor:
    """Runs work on a local or remote Ray cluster."""

    def __init__(
        self,
        workers: int | None = None,
        address: str | None = None,
        task_env: dict[str, str] | None = None,
        backend: str = "cpu",
    ):
        self.workers = workers or os.cpu_count() or 1
        self.address = address
        self.backend = backend  # a local Ray advertises this machine's video engines for nvidia
        #: environment variables set in the worker processes that run tasks
        self.task_env = dict(task_env or {})
        self._started = False
        self.entered = False

    def __enter__(self) -> RayExecutor:
        import ray

        self.entered = True
        if not ray.is_initialized():
            try:
                self._init(ray)
            except Exception as exc:  # ConnectionError, ValueError, RuntimeError... from Ray
                from farm.errors import BackendUnavailableError

                where = f"the Ray cluster at {self.address}" if self.address else "a local Ray"
                raise BackendUnavailableError(f"cannot start or join {where}: {exc}") from None
            self._started = True
        return self

    def _init(self, ray) -> None:  # type: ignore[no-untyped-def]
        kwargs: dict = {"include_dashboard": False, "logging_level": "ERROR", "log_to_driver": True}
        if self.address:
            import farm

            _check_reachable(self.address)
            # ship the driver's farm package so cluster workers run the same code
            kwargs["runtime_env"] = {"py_modules": [os.path.dirname(farm.__file__)]}
            ray.init(address=self.address, **kwargs)
            return
        if self.backend == "nvidia":
            from farm.backends.resources import node_resources

            kwargs["resources"] = node_resources()
        # "local": a new Ray of our own, even when RAY_ADDRESS names a running one
        ray.init(address="local", num_cpus=self.workers, **kwargs)

    def __exit__(self, *exc_info: object) -> None:
        import ray

        self.entered = False
        if self._started:
            ray.shutdown()

    def run(
        self,
        segments: list,  # SegmentJob
        audio: list[tuple[object, Path]],  # (AudioJob, output path)
        cache_root: Path,
        backend: str,
        on_done: Callable[[Outcome], None],
        skip: Callable[[str], bool] = lambda key: False,
        looks: list | None = None,  # LookJob, run before any segment
    ) -> None:
        """Run every unit, calling ``on_done`` for each as it finishes.

        ``skip(key)`` is asked just before a unit is submitted; it lets the
        caller drop work nobody needs any more (its variants already failed).
        """
        import ray

        segment_task, audio_task, look_task = _remote_functions()
        if self.task_env:
            env = {"env_vars": self.task_env}
            segment_task = segment_task.options(runtime_env=env)
            audio_task = audio_task.options(runtime_env=env)
            look_task = look_task.options(runtime_env=env)
        # looks first, all of them: segments apply the LUTs they bake
        if looks:
            refs = {look_task.remote(job): job.key for job in looks if not skip(job.key)}
            self._drain(refs, "look", on_done)
        # GPU segments run on actors that keep decoder, encoder and kernels warm (and that
        # Ray gives a GPU: a task asking for none sees no CUDA device)
        gpu_actors: list = []
        idle: list = []
        busy: dict = {}
        if backend == "nvidia" and segments:
            from farm.backends.resources import worker_count
            from farm.errors import BackendUnavailableError
            from farm.execute.actors import start_gpu_workers

            family = segments[0].encode.family
            count = min(len(segments), worker_count(ray.cluster_resources(), family))
            if count < 1:
                raise BackendUnavailableError(
                    f"no Ray node offers what {family!r} segments need",
                    hint="start GPU nodes with cluster/start-node.sh, or use --backend cpu",
                )
            gpu_actors = start_gpu_workers(count, family, str(cache_root))
            idle = list(gpu_actors)

        def on_actor(job):  # type: ignore[no-untyped-def]
            actor = idle.pop()
            ref = actor.render.remote(job)
            busy[ref] = actor
            return ref

        pending: list[tuple[str, str, Callable]] = []
        # audio first: few, long, and they overlap with the many short segments
        for job, path in audio:
            pending.append(("audio", job.key, lambda j=job, p=path: audio_task.remote(j, str(p))))  # type: ignore[attr-defined]
        for job in segments:
            if gpu_actors:
                pending.append(("segment", job.key, lambda j=job: on_actor(j)))
            else:
                pending.append(
                    ("segment", job.key, lambda j=job: segment_task.remote(j, str(cache_root), backend))
                )
        limit = max(2, 2 * self.workers)  # bounded: enough to keep every worker busy, no more
        in_flight: dict = {}
        pending.reverse()
        while pending or in_flight:
            while pending and len(in_flight) < limit:
                if gpu_actors and pending[-1][0] == "segment" and not idle:
                    break  # every GPU worker is busy
                kind, key, submit = pending.pop()
                if skip(key):
                    continue
                in_flight[submit()] = (kind, key)
            if not in_flight:
                break
            done, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in done:
                kind, key = in_flight.pop(ref)
                if ref in busy:
                    idle.append(busy.pop(ref))
                on_done(_outcome(ref, kind, key))

    @staticmethod
    def _drain(refs: dict, kind: str, on_done: Callable[[Outcome], None]) -> None:
        import ray

        pending = dict(refs)
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                on_done(_outcome(ref, kind, pending.pop(ref)))


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


def _outcome(ref, kind: str, key: str) -> Outcome:  # type: ignore[no-untyped-def]
    """The outcome of a finished Ray task: its result, or the error it returned or died of."""
    import ray

    outcome = Outcome(key=key, kind=kind)
    try:
        result = ray.get(ref)
    except ray.exceptions.RayError as exc:
        outcome.error = InternalError(f"{kind} {key[:12]} failed on Ray: {exc}")
        return outcome
    if "error" in result:
        outcome.error = result["error"]
    else:
        outcome.meta = result
        outcome.rendered = bool(result.get("rendered", True))
    return outcome


class LocalExecutor:
    """Runs work in this process, one unit at a time (no Ray): for GPU boxes and debugging."""

    entered = False

    def __enter__(self) -> LocalExecutor:
        self.entered = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.entered = False

    def run(self, segments, audio, cache_root, backend, on_done, skip=lambda key: False, looks=None) -> None:  # type: ignore[no-untyped-def]
        from farm.backends.segment import render_segment
        from farm.look.bake import bake_look
        from farm.media.audio import render_audio

        for job in looks or []:
            if skip(job.key):
                continue
            outcome = Outcome(key=job.key, kind="look")
            try:
                outcome.meta = bake_look(job)
                outcome.rendered = bool(outcome.meta.get("rendered"))
            except FarmError as exc:
                outcome.error = exc
            on_done(outcome)

        for job, path in audio:
            if skip(job.key):
                continue
            outcome = Outcome(key=job.key, kind="audio")
            try:
                outcome.meta = render_audio(job, path)
                outcome.rendered = True
            except FarmError as exc:
                outcome.error = exc
            on_done(outcome)
        for job in segments:
            if skip(job.key):
                continue
            outcome = Outcome(key=job.key, kind="segment")
            t0 = time.perf_counter()
            try:
                outcome.meta = render_segment(job, str(cache_root), backend)
                outcome.rendered = bool(outcome.meta.get("rendered"))
            except FarmError as exc:
                outcome.error = exc
            outcome.meta.setdefault("seconds", time.perf_counter() - t0)
            on_done(outcome)
