"""A local Ray kept running across renders: ``farm up`` starts it, ``farm render`` joins it.

Starting a local Ray costs seconds (its GCS, raylet and first workers) and
stopping it about one more; a render of a small project would pay that every
time.  ``farm up`` starts one Ray head in the background (``ray start --head
--block`` in a session of its own, held until ``farm down``) and records its
address in a state file; ``farm render`` without ``--address``
joins it when the record is live (the process runs, the address answers, and
it serves the same farm package and Python), and leaving a joined Ray is only
a disconnect.  Without a live record a render starts and stops a Ray of its own,
as before.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from farm.errors import BackendUnavailableError
from farm.output.atomic import write_text_atomic
from farm.output.lifeline import pid_alive

#: how long ``farm up`` waits for the Ray head to answer
START_TIMEOUT = 120.0
#: set by the ``farm`` program (:func:`farm.cli.entry`), whose process ends right after its command:
#: a render leaves the Ray it joined by that exit, which Ray sees as its driver going, rather than by
#: ``ray.shutdown()``, which waits about 0.3 s for the driver's core worker to stop
LEAVE_BY_EXIT = False
#: what ``ray start`` prints once its processes are up
_READY = b"Ray runtime started"


def state_path() -> Path:
    """Where the running head is recorded: ``$FARM_RAY_STATE``, else a per-user runtime file."""
    explicit = os.environ.get("FARM_RAY_STATE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_RUNTIME_DIR") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "farm" / "ray-head.json"


def _farm_dir() -> str:
    import farm

    return os.path.dirname(os.path.abspath(farm.__file__))


def _python() -> str:
    """This interpreter, links resolved (``python`` and ``python3`` of one install are one)."""
    return os.path.realpath(sys.executable)


def _answers(address: str, timeout: float = 1.0) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def running(path: Path | None = None) -> dict[str, Any] | None:
    """The live head's record ``{"address", "pid", "workers", "farm", "python"}``, or None."""
    path = path or state_path()
    try:
        record = json.loads(path.read_text())
        address, pid = str(record["address"]), int(record["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if record.get("farm") != _farm_dir() or record.get("python") != _python():
        return None  # another checkout's or interpreter's Ray: its workers would run other code
    if not pid_alive(pid) or not _answers(address):
        return None
    return dict(record)


def join_running_head(ray_init_kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """Connect this process to the live ``farm up`` head, if there is one; its record, else None."""
    head = running()
    if head is None:
        return None
    import ray

    ray.init(address=head["address"], **ray_init_kwargs)
    return head


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def up(workers: int | None = None, path: Path | None = None) -> tuple[dict[str, Any], bool]:
    """Start the head unless one is running; returns its record and whether it was started now.

    The head is ``ray start --head --block`` in a session of its own, on 127.0.0.1,
    every fixed port it would otherwise take chosen free (other Rays may run here);
    it stops, with everything it started, when ``farm down`` sends it SIGTERM.
    """
    path = path or state_path()
    record = running(path)
    if record is not None:
        return record, False
    path.parent.mkdir(parents=True, exist_ok=True)
    log = path.with_suffix(".log")
    count = workers or os.cpu_count() or 1
    port = _free_port()
    cmd = [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block"]
    cmd += ["--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", str(count)]
    cmd += ["--include-dashboard", "false", "--disable-usage-stats"]
    # a temp dir of its own: `ray start` records its address in the temp dir's ray_current_cluster,
    # which every bare ray.init() on the machine would otherwise join (and trip over once stale)
    cmd += ["--temp-dir", os.path.join(tempfile.gettempdir(), f"farm-ray-{os.getuid()}")]
    fixed = ("--dashboard-agent-listen-port", "--dashboard-agent-grpc-port")
    for option in fixed:
        cmd += [option, str(_free_port())]
    # a driver joins with Ray's default authentication (none) unless RAY_AUTH_MODE says otherwise;
    # the head must agree (``ray start`` turns token authentication on when it finds a token file)
    env = {**os.environ, "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled")}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
    record = {
        "address": f"127.0.0.1:{port}",
        "pid": proc.pid,
        "workers": count,
        "farm": _farm_dir(),
        "python": _python(),
        "started": time.time(),
    }
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BackendUnavailableError(
                f"the local Ray did not start (exit status {proc.returncode}); see {log}"
            )
        if _READY in log.read_bytes() and _answers(record["address"]):
            write_text_atomic(path, json.dumps(record) + "\n")
            return record, True
        time.sleep(0.1)
    _stop_group(proc.pid, 10.0)
    raise BackendUnavailableError(f"the local Ray did not answer within {START_TIMEOUT:.0f} s; see {log}")


def _stop_group(pid: int, timeout: float) -> bool:
    """SIGTERM the head's process group (ray start and what it started); SIGKILL what stays."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + timeout
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not pid_alive(pid):
            return True
    return not pid_alive(pid)


def _is_head(pid: int) -> bool:
    """Whether process ``pid`` is a ``ray start --head`` (not another process that got its pid since)."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return pid_alive(pid)  # no /proc: trust the record
    return b"ray.scripts.scripts" in cmd and b"--head" in cmd


def down(path: Path | None = None, timeout: float = 30.0) -> dict[str, Any] | None:
    """Stop the recorded head and wait for it; returns its record, or None when none was running.

    A head that another farm checkout or Python started (which renders here do not join) is
    stopped too: it is the one the record names.
    """
    path = path or state_path()
    try:
        record = json.loads(path.read_text())
        pid = int(record["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        path.unlink(missing_ok=True)
        return None
    if not pid_alive(pid) or not _is_head(pid):
        path.unlink(missing_ok=True)
        return None
    if not _stop_group(pid, timeout):
        raise BackendUnavailableError(f"the local Ray (process {pid}) did not stop")
    path.unlink(missing_ok=True)
    return dict(record)
