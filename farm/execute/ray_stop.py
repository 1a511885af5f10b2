"""Stopping a local Ray without holding the render's exit.

``ray.shutdown()`` on a Ray this process started stops its processes one by
one, each given a second to exit (about 1–1.5 s here), after the render's
work is done.  :func:`stop_detached` instead notes every process of that Ray
(its GCS, raylet and the agents and workers under the raylet), disconnects
this driver (milliseconds), and hands the processes to a small detached
reaper: it sends them SIGTERM (the raylet first, so it can end its workers),
waits up to :data:`GRACE_SECONDS` for them to go, and SIGKILLs the rest.  A
process is only signalled while it is still the one noted (same pid, same
start time), so a recycled pid is never hit.  Linux (``/proc``) only; elsewhere
Ray's own shutdown runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: how long the reaper lets Ray's processes exit on SIGTERM before killing them
GRACE_SECONDS = 2.0

# The reaper: argv = grace seconds, then "pid:starttime" for each process (the raylet first).
_REAPER = r"""
import os, signal, sys, time
def started(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except OSError:
        return None
grace = float(sys.argv[1])
procs = [tuple(a.split(":")) for a in sys.argv[2:]]
def alive():
    return [(p, s) for p, s in procs if started(p) == s]
for sig in (signal.SIGTERM, signal.SIGKILL):
    for pid, _ in alive():
        try:
            os.kill(int(pid), sig)
        except OSError:
            pass
    end = time.monotonic() + grace
    while alive() and time.monotonic() < end:
        time.sleep(0.05)
"""


def _start_time(pid: int) -> str | None:
    """Field 22 of ``/proc/PID/stat`` (when the process started): with the pid, it names one process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()[19]


def _children() -> dict[int, list[int]]:
    """Every process's children, from ``/proc``."""
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def ray_processes() -> list[int]:
    """The processes of the Ray this process started: raylet first, then the rest, then those below them."""
    from ray._private import worker

    node = getattr(worker, "_global_node", None)
    if node is None:
        return []
    ordered = sorted(node.all_processes.items(), key=lambda item: item[0] != "raylet")
    roots = [info.process.pid for _, infos in ordered for info in infos if info.process.poll() is None]
    tree = _children()
    found: list[int] = []
    todo = list(roots)
    while todo:
        pid = todo.pop(0)
        if pid not in found and pid != os.getpid():
            found.append(pid)
            todo.extend(tree.get(pid, []))
    return found


def stop_detached() -> bool:
    """Disconnect from the local Ray this process started; its processes are stopped by a detached reaper.

    Returns False (and does nothing) where that cannot be done: no ``/proc``,
    or no Ray started by this process; the caller then runs ``ray.shutdown()``.
    """
    import ray
    from ray._private import worker

    if not Path("/proc/self/stat").exists() or not ray.is_initialized():
        return False
    try:
        pids = ray_processes()
    except Exception:  # Ray's internals moved: its own shutdown still works
        return False
    procs = [f"{pid}:{start}" for pid in pids if (start := _start_time(pid)) is not None]
    if not procs:
        return False
    worker._global_node = None  # ray.shutdown() now only disconnects this driver
    ray.shutdown()
    subprocess.Popen(
        [sys.executable, "-S", "-c", _REAPER, str(GRACE_SECONDS), *procs],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # not in the render's process group: a Ctrl-C there does not stop it
        close_fds=True,
    )
    return True
