"""What an executor is: a context manager that runs a batch of work and reports every unit.

A render hands its executor one :class:`WorkBatch` (the looks to bake, the audio
tracks to mix and the segments to render that are not in the cache yet) and two
callbacks: ``on_done`` receives an :class:`Outcome` as each unit finishes, and
``skip`` is asked just before a unit is started, so work that nobody needs any
more (every variant using it already failed) is never run.

Two executors exist: :class:`farm.execute.ray_executor.RayExecutor` (the
default, local or on a cluster) and :class:`farm.execute.local.InProcessExecutor`
(one unit at a time in this process, without Ray).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor as Executor_
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol

from farm.backends.segment import BACKENDS
from farm.errors import FarmError
from farm.planning.units import AudioJob, LookJob, SegmentJob

#: the kinds of unit an executor runs
UnitKind = Literal["segment", "audio", "look"]


@dataclass(frozen=True)
class Outcome:
    """What became of one unit of work."""

    key: str  # the unit's content key
    kind: UnitKind
    rendered: bool = False  # made now (False: it was already there, or it failed)
    meta: dict[str, Any] = field(default_factory=dict)  # what the worker returned (frames, seconds...)
    error: FarmError | None = None  # why it failed; None when it did not


def outcome_of(key: str, kind: UnitKind, result: dict[str, Any]) -> Outcome:
    """The outcome of a unit whose worker returned ``result``.

    Workers return a :class:`FarmError` as ``{"error": exc}`` (it must cross a
    process boundary); anything else is the unit's metadata, which says
    whether the unit was made now (``rendered``, True when it does not say).
    """
    error = result.get("error")
    if isinstance(error, FarmError):
        return Outcome(key=key, kind=kind, error=error)
    return Outcome(key=key, kind=kind, rendered=bool(result.get("rendered", True)), meta=result)


@dataclass(frozen=True)
class AudioUnit:
    """One variant audio track to mix and encode."""

    job: AudioJob
    out_path: Path  # the .m4a to write (in the cache)

    @property
    def key(self) -> str:
        return self.job.key


@dataclass(frozen=True)
class WorkBatch:
    """Everything a render still has to run, each unit once, in the order to start it."""

    segments: tuple[SegmentJob, ...]  # longest first, so the last to finish are short ones
    audio: tuple[AudioUnit, ...]  # started before the segments: few, long, they overlap with them
    looks: tuple[LookJob, ...]  # all finished before any segment starts: segments apply their LUTs
    cache_root: Path  # the cache segments are rendered into
    backend: str  # the backend that renders the segments: cpu | nvidia
    cache_url: str = ""  # the segment cache when it is an object store (s3://...); "" for a folder
    #: the driver's thread for media work (the render loop's stitch thread, idle until segments
    #: land): an executor that renders audio in the driver submits it there
    driver_thread: Executor_ | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, not {self.backend!r}")
        keys = [u.key for u in self.segments] + [u.key for u in self.audio] + [u.key for u in self.looks]
        if len(keys) != len(set(keys)):
            raise ValueError("a unit of work appears twice in one batch")

    @property
    def cache_location(self) -> str:
        """What workers open the segment cache with (:meth:`farm.output.cache.Cache.open`)."""
        return self.cache_url or str(self.cache_root)

    @property
    def empty(self) -> bool:
        return not (self.segments or self.audio or self.looks)


#: called with each unit's outcome as it finishes (on the thread that called ``run``)
OnDone = Callable[[Outcome], None]
#: asked with a unit's key just before it starts; True drops the unit (no outcome follows)
SkipQuery = Callable[[str], bool]


class Executor(Protocol):
    """Runs a :class:`WorkBatch`; entered before ``run`` and left once the render is done."""

    @property
    def workers(self) -> int:
        """How many units it runs at once."""
        ...

    def __enter__(self) -> Executor: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def run(self, batch: WorkBatch, on_done: OnDone, skip: SkipQuery) -> None:
        """Run every unit not skipped, calling ``on_done`` once for each as it finishes."""
        ...


class ExecutorSession:
    """An executor made and entered the first time work needs it, and left by :meth:`close`.

    A render whose outputs are all up to date never starts one (no Ray start-up).
    """

    def __init__(self, make: Callable[[], Executor]) -> None:
        self._make = make
        self._executor: Executor | None = None

    @property
    def started(self) -> bool:
        return self._executor is not None

    def executor(self) -> Executor:
        """The entered executor, entering it now if it is not yet."""
        if self._executor is None:
            executor = self._make()
            executor.__enter__()
            self._executor = executor
        return self._executor

    def close(self) -> None:
        """Leave the executor (stops a local Ray); a later :meth:`executor` enters a new one."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.__exit__(None, None, None)

    def __enter__(self) -> ExecutorSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.__exit__(exc_type, exc, tb)
