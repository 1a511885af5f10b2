"""Where a batch's audio tracks render while warm CPU workers render its segments.

An audio track is a few tenths of a CPU-second (decode, mix, AAC).  Three places:

- **the driver**, when Ray runs on this machine, for as many tracks as keep it
  from becoming the render's longest chain (:func:`driver_share`): the render loop's stitch
  thread renders the tracks one after another before it has anything to stitch
  (:attr:`~farm.execute.protocol.WorkBatch.driver_thread`, so no thread of its
  own is started for them).  The driver has nothing else to do
  while segments render and reads the same files the workers read; the
  operating system shares the cores between it and the workers.  On a worker, a
  track delays that worker's first segment and so the whole render, the other
  worker idling at the end while the last chunk finishes;
- **the actors**, on a remote cluster: each track ahead of one actor's segments
  (no process of its own to start), again as a task if that actor dies;
- **tasks pinned to the driver's node**, when the cache is an object store:
  the audio is written where the driver stitches.

Every track lands through ``on_done`` in the render loop's thread:
:meth:`farm.execute.cpu_pool.WarmFeed.run` waits on the driver's futures beside
Ray's object references.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from functools import partial
from typing import Any

from farm.errors import InternalError
from farm.execute.protocol import AudioUnit, OnDone, Outcome, SkipQuery, WorkBatch
from farm.execute.tasks import Tasks

#: rough CPU cost of a segment's output pixel (decode, scale, LUT, encode; 4K to 1080p here) and of
#: a second of audio (decode, mix, AAC): only their ratio matters, to share the tracks out
_SECONDS_PER_PIXEL = 2e-8
_SECONDS_PER_AUDIO_SECOND = 0.02


def driver_share(batch: WorkBatch, workers: int) -> tuple[list[AudioUnit], list[AudioUnit]]:
    """The tracks the driver renders, and the rest (for the workers), longest first.

    The driver takes tracks while its estimated audio work stays within one
    process's share of the batch's (the workers' and its own): a variant's audio
    is small beside its video at 4K, but 200 short shots at 320x180 have as much
    audio as video, and all of it on the driver would outlast the workers.
    """
    video = sum(j.count * j.encode.width * j.encode.height for j in batch.segments) * _SECONDS_PER_PIXEL
    tracks = sorted(batch.audio, key=lambda u: -u.job.duration)
    cost = [float(u.job.duration) * _SECONDS_PER_AUDIO_SECOND for u in tracks]
    share = (video + sum(cost)) / (max(1, workers) + 1)
    here: list[AudioUnit] = []
    there: list[AudioUnit] = []
    load = 0.0
    for unit, c in zip(tracks, cost, strict=True):
        if load + c <= share:
            here.append(unit)
            load += c
        else:
            there.append(unit)
    return here, there


class AudioFeed:
    """Starts a batch's audio tracks; their handlers go into ``pending`` (object reference or future)."""

    def __init__(
        self,
        batch: WorkBatch,
        tasks: Tasks,
        skip: SkipQuery,
        on_done: OnDone,
        driver: tuple[str, int] | None,
        workers: int,
    ) -> None:
        self.batch, self.tasks, self.skip, self.on_done = batch, tasks, skip, on_done
        self.driver, self.workers = driver, workers
        self.pending: dict[Any, Callable[[Any], None]] = {}
        self._waiting: list[AudioUnit] = []
        self._for_actors: list[AudioUnit] = list(batch.audio)  # all of them unless in_driver keeps some

    def in_driver(self) -> None:
        """Render the driver's share of the tracks (:func:`driver_share`) one after another on its
        media thread (``batch.driver_thread``); the rest go to the actors (:meth:`on_actors`).

        That is the render loop's stitch thread, idle until segments land.  A
        batch without one (an executor driven by hand) leaves every track to the
        actors.
        """
        thread = self.batch.driver_thread
        if thread is None:
            return
        here, self._for_actors = driver_share(self.batch, self.workers)
        for unit in here:
            if not self.skip(unit.key):
                self.pending[thread.submit(_render_here, unit)] = self._landed_here

    def on_actors(self, handles: list[Any]) -> None:
        """Each track not the driver's on an actor, ahead of its segments (``WarmFeed.started``)."""
        todo = [u for u in self._for_actors if not self.skip(u.key)]
        for n, u in enumerate(todo):
            ref = handles[n % len(handles)].audio.remote(u.job, str(u.out_path), self.driver)
            self.pending[ref] = partial(self._landed_on_actor, u)

    def pinned(self) -> None:
        """As tasks pinned to this node, beside the actors, as many at a time as there are workers."""
        self._waiting = list(reversed(self.batch.audio))
        for _ in range(max(1, self.workers)):
            self._start_pinned()

    def close(self) -> None:
        """The batch is over (done, failed or interrupted): no track starts any more in the driver."""
        for waiting in self.pending:
            if isinstance(waiting, Future):
                waiting.cancel()  # not started yet: never will

    def _start_pinned(self) -> None:
        while self._waiting:
            u = self._waiting.pop()
            if not self.skip(u.key):
                ref = self.tasks.audio.options(num_cpus=0).remote(u.job, str(u.out_path), self.driver)
                self.pending[ref] = partial(self._landed_pinned, u.key)
                return

    def _landed_here(self, future: Future[Outcome]) -> None:
        self.on_done(future.result())

    def _landed(self, key: str, ref: Any) -> None:
        from farm.execute.ray_executor import _outcome

        self.on_done(_outcome(ref, "audio", key)[0])

    def _landed_pinned(self, key: str, ref: Any) -> None:
        self._landed(key, ref)
        self._start_pinned()

    def _landed_on_actor(self, unit: AudioUnit, ref: Any) -> None:
        import ray

        try:
            ray.get(ref)
        except ray.exceptions.RayActorError:  # its worker died: as a task, retried like any
            again = self.tasks.audio.options(num_cpus=0).remote(unit.job, str(unit.out_path), self.driver)
            self.pending[again] = partial(self._landed, unit.key)
            return
        except ray.exceptions.RayError:
            pass  # reported by _landed
        self._landed(unit.key, ref)


def _render_here(unit: AudioUnit) -> Outcome:
    from farm.execute.local import _run_unit
    from farm.media.audio import render_audio

    try:
        return _run_unit(unit.key, "audio", partial(render_audio, unit.job, unit.out_path))
    except Exception as exc:  # a bug, not bad input: reported like a worker's failure; the render goes on
        error = InternalError(f"audio {unit.key[:12]} failed in the driver: {exc!r}")
        return Outcome(key=unit.key, kind="audio", error=error)
