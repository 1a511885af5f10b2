"""CPU workers that outlive a render: a ``farm up`` Ray keeps them, warm, for the next one.

A render that starts its own Ray starts its workers too, and they end with it.
A render that joins the Ray ``farm up`` started finds its workers there: named,
detached actors (:class:`~farm.execute.cpu_pool.CpuWorker`) that already have
PyAV, NumPy and the backends imported and keep their decoders and filter graphs
from one render to the next.  ``farm up`` starts them before it returns.

Workers are only shared by renders that would make identical ones: the same
farm code (every module's size and modification time), codec library versions,
backend, environment and threads.  Their names carry two digests: the code's,
and the rest's.  A changed farm gets new workers, and the workers of older code
are ended when they are made (nothing will ask for them again); workers of the
same code but another environment (``--verify``, other threads) stay, so that
two renders joined at once never end each other's.  All of them end with
``farm down``.  They hold no CPU in
Ray's accounts (the render decides how many calls run at once), so tasks of the
render, such as looks and audio, are never left waiting behind them.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

#: the Ray namespace the workers' names live in
NAMESPACE = "farm"
#: every worker's name starts with this
PREFIX = "farm-cpu-"


def threads_per_worker(workers: int) -> int:
    """Each worker's codec and filter threads when ``workers`` of them share this machine's cores."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def _code_fingerprint() -> list[tuple[str, int, int]]:
    import farm

    root = Path(farm.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        st = path.stat()
        found.append((str(path.relative_to(root)), st.st_size, st.st_mtime_ns))
    return found


def identity(backend: str, versions: dict[str, Any] | None, env: dict[str, str], threads: int) -> str:
    """``CODE-REST``: a digest of the farm code a worker runs, and one of everything else it depends on."""

    def digest(about: object) -> str:
        blob = json.dumps(about, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    rest = {"backend": backend, "versions": versions, "env": env, "threads": threads}
    return f"{digest(_code_fingerprint())}-{digest(rest)}"


def _end_older_code(code: str) -> int:
    """End every farm worker that runs other code than ``code`` (a code digest); how many."""
    import ray
    from ray.util import list_named_actors

    ended = 0
    for entry in list_named_actors(all_namespaces=True):
        name, namespace = entry.get("name", ""), entry.get("namespace")
        if namespace == NAMESPACE and name.startswith(PREFIX) and not name.startswith(f"{PREFIX}{code}-"):
            try:
                ray.kill(ray.get_actor(name, namespace=NAMESPACE))
                ended += 1
            except ValueError:  # ended meanwhile
                pass
    return ended


class WarmWorkers:
    """The joined Ray's workers for one identity; :meth:`get` finds or starts the n-th."""

    def __init__(
        self, backend: str, versions: dict[str, Any] | None, env: dict[str, str], threads: int
    ) -> None:
        import ray

        from farm.execute.cpu_pool import CpuWorker

        self.digest = identity(backend, versions, env, threads)
        runtime: dict[str, Any] = {"runtime_env": {"env_vars": env}} if env else {}
        self._cls = ray.remote(num_cpus=0, max_restarts=0, max_task_retries=0, **runtime)(CpuWorker)
        self._args = (backend, versions, threads)
        self._checked = False

    def get(self, n: int) -> Any:
        """The n-th worker, started now (detached, named) unless it runs."""
        if not self._checked:
            _end_older_code(self.digest.split("-")[0])
            self._checked = True
        return self._cls.options(
            name=f"{PREFIX}{self.digest}-{n}",
            namespace=NAMESPACE,
            lifetime="detached",
            get_if_exists=True,
        ).remote(*self._args)


def prewarm(address: str, workers: int, timeout: float = 120.0) -> int:
    """Join the Ray at ``address``, start its ``workers`` default workers and wait until they are ready.

    The default workers are the ones a plain ``farm render --backend cpu`` asks
    for; returns how many answered.
    """
    import logging

    import ray

    from farm.media.probe import codec_library_versions

    ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False, include_dashboard=False)
    try:
        pool = WarmWorkers("cpu", codec_library_versions(), {}, threads_per_worker(workers))
        handles = [pool.get(n) for n in range(workers)]
        return len(ray.get([h.ready.remote() for h in handles], timeout=timeout))
    finally:
        ray.shutdown()
