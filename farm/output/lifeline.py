"""Workers stop with the driver that started them.

A Ray worker outlives a driver killed with SIGKILL (it is not in the driver's
process group), and would keep rendering and committing segments nobody will
stitch.  A task body calls :func:`follow_driver` with the driver's host and
pid: on the driver's host a daemon thread then ends the worker process within
:data:`POLL_SECONDS` of the driver's death, and :func:`check_driver` (called
before every commit) refuses to publish anything once it is gone.  A long-lived worker serving one
render after another (a ``farm up`` Ray's) calls :func:`unfollow_driver` at the
end of each call: between renders no driver's end is its end.  Workers on other
hosts cannot see the driver's pid; Ray's own job clean-up ends them.
"""

from __future__ import annotations

import os
import socket
import threading
import time

from farm.errors import InternalError

#: how often the watcher looks at the driver
POLL_SECONDS = 0.25

_driver: tuple[str, int] | None = None
_watching = False  # the watcher thread runs
_lock = threading.Lock()


def _host() -> str:
    return socket.gethostname()


def this_process() -> tuple[str, int]:
    """What a driver passes to its tasks: ``(host, pid)``."""
    return (_host(), os.getpid())


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host runs (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (a dead child not yet reaped) counts as dead
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def driver_gone() -> bool:
    """Whether the followed driver (if any, on this host) has died."""
    driver = _driver
    return driver is not None and driver[0] == _host() and not pid_alive(driver[1])


def follow_driver(driver: tuple[str, int] | None) -> None:
    """In a worker: stop this process when ``driver`` dies (None: nothing to follow).

    One watcher thread per process looks at whichever driver is followed now, so a
    long-lived worker serving one render after another follows each in turn.
    """
    global _driver, _watching
    if driver is None or driver[0] != _host() or driver[1] == os.getpid():
        return
    with _lock:
        _driver = driver
        if not _watching:
            _watching = True
            threading.Thread(target=_watch, name="farm-lifeline", daemon=True).start()


def unfollow_driver() -> None:
    """In a long-lived worker, between renders: no driver's death ends this process any more."""
    global _driver
    with _lock:
        _driver = None


def _watch() -> None:
    while True:
        with _lock:
            gone = driver_gone()
        if gone:
            os._exit(1)
        time.sleep(POLL_SECONDS)


def check_driver() -> None:
    """Refuse to publish a file once the driver is gone (called before every commit)."""
    if driver_gone():
        raise InternalError(f"the render that asked for this work (pid {_driver and _driver[1]}) is gone")
