"""bench_cpu's timed commands: waiting for an idle machine, watching who else used it (see bench_cpu.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

# ------------------------------------------------------------------ helpers


class BenchError(Exception):
    pass


_CLK = os.sysconf("SC_CLK_TCK")


def _proc_table() -> dict[int, tuple[int, int, float, int]]:
    """pid -> (parent pid, session id, CPU seconds, start time in clock ticks) for every process."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        f = text[text.rindex(")") + 2 :].split()  # fields after "pid (comm)"; f[0] is field 3
        table[int(entry.name)] = (int(f[1]), int(f[3]), (int(f[11]) + int(f[12])) / _CLK, int(f[19]))
    return table


def _machine_busy() -> float:
    """CPU seconds the whole machine has been busy since boot (user, nice, system, irq, softirq)."""
    v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (v[0] + v[1] + v[2] + v[5] + v[6]) / _CLK


def _machine_steal() -> float:
    """CPU seconds the hypervisor gave this virtual machine's cores to others since boot (``steal``).

    On a shared host this is the disturbance no process table shows: the tool being timed waited
    for a physical core while the guest looked busy."""
    v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return v[7] / _CLK if len(v) > 7 else 0.0


def _boot_ticks_now() -> int:
    return int(float(Path("/proc/uptime").read_text().split()[0]) * _CLK)


class LoadWatch(threading.Thread):
    """While a timed command runs: CPU used by processes outside its session and process tree.

    Other people's jobs on a shared machine steal cores from the tool being timed; this
    says how much (approximately: a process that lives less than a sampling interval is missed).
    """

    def __init__(self, child_pid: int, interval: float = 0.25):
        super().__init__(daemon=True)
        self.child, self.interval = child_pid, interval
        self.started_ticks = _boot_ticks_now()
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.halt = threading.Event()

    def _sample(self) -> None:
        table = _proc_table()
        ours = {self.child, os.getpid()}
        changed = True
        while changed:  # descendants of the child (Ray may start new sessions)
            changed = False
            for pid, (ppid, sid, _, _) in table.items():
                if pid not in ours and (ppid in ours or sid == self.child or sid in OUR_SESSIONS):
                    ours.add(pid)
                    changed = True
        for pid, (_, _, cpu, start) in table.items():
            if pid in ours:
                self.first.pop(pid, None)
                self.last.pop(pid, None)
                continue
            if pid not in self.first:
                self.first[pid] = 0.0 if start >= self.started_ticks else cpu
            self.last[pid] = cpu

    def run(self) -> None:
        while not self.halt.is_set():
            self._sample()
            self.halt.wait(self.interval)

    def stop(self) -> float:
        self.halt.set()
        self.join()
        return sum(self.last[p] - self.first[p] for p in self.last)


def wait_for_idle(max_wait: float, busy_below: float = 0.25) -> dict:
    """Wait (up to ``max_wait`` s) until the machine has been nearly idle for two seconds."""
    t0 = time.perf_counter()
    quiet = 0
    busy = 0.0
    while True:
        b0 = _machine_busy()
        time.sleep(1.0)
        busy = _machine_busy() - b0  # cores busy over the last second
        quiet = quiet + 1 if busy < busy_below else 0
        waited = time.perf_counter() - t0
        if quiet >= 2 or waited >= max_wait:
            return {
                "idle_before": quiet >= 2,
                "waited_for_idle_seconds": round(waited, 1),
                "busy_cores_before": round(busy, 2),
            }


#: sessions whose processes count as the timed command's own: a ``farm up`` Ray's, which the renders use
OUR_SESSIONS: set[int] = set()
_MAX_IDLE_WAIT = 120.0  # set by --idle-wait
_RETRIES = 3  # set by --retries


def run(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> dict:
    """Run ``cmd`` (its output into ``log``) on a machine as idle as it gets; time it. Fails loudly."""
    idle = wait_for_idle(_MAX_IDLE_WAIT)
    busy0, steal0 = _machine_busy(), _machine_steal()
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            cmd,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
        watch = LoadWatch(proc.pid)
        watch.start()
        rc = proc.wait()
    seconds = time.perf_counter() - t0
    foreign = watch.stop()
    busy = _machine_busy() - busy0
    steal = _machine_steal() - steal0
    if rc != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise BenchError(f"command failed (exit {rc}): {' '.join(cmd)}\n{tail}")
    return {
        "seconds": seconds,
        "machine_busy_cores": round(busy / seconds, 2),  # the tool's own use plus anything else running
        "other_processes_cpu_seconds": round(foreign, 2),  # CPU time other processes took meanwhile
        "steal_seconds": round(steal, 2),  # CPU time the host gave other machines meanwhile
        **idle,
    }


def disturbed(t: dict) -> bool:
    """Whether other processes, or other machines on the host (steal), took more than 5% of the
    machine while a command ran."""
    cores = os.cpu_count() or 1
    # at least 0.2 CPU-s: /proc counts in ticks, and a sub-second command's 5% is a few of them
    limit = max(0.05 * t["seconds"] * cores, 0.2)
    others = max(t["other_processes_cpu_seconds"], t.get("steal_seconds", 0.0))
    return not t["idle_before"] or others > limit


def timed(step: str, cmd: list[str], log: Path, steps: list[dict], prepare=None, env=None) -> dict:  # type: ignore[no-untyped-def]
    """``run`` a command; measure it again (up to --retries times) while others disturbed it.

    Every attempt is recorded in ``steps``; the last one is the measurement used.
    """
    for attempt in range(1, _RETRIES + 2):
        if prepare is not None:
            prepare()
        t = {"step": step, "attempt": attempt, **run(cmd, log, env)}
        t["disturbed"] = disturbed(t)
        t["used"] = False
        steps.append(t)
        if not t["disturbed"] or attempt > _RETRIES:
            break
        other, steal = t["other_processes_cpu_seconds"], t["steal_seconds"]
        print(
            f"  ({step}: {t['seconds']:.1f}s, but other processes took {other:.1f} CPU-s meanwhile "
            f"and the host {steal:.1f}; measuring again)",
            flush=True,
        )
    t["used"] = True
    return t


def first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
    except OSError as exc:
        return f"unavailable ({exc})"
    return out.splitlines()[0].strip() if out else "unknown"


def farm_command() -> list[str]:
    """The ``farm`` program beside this Python (a virtualenv's), not a version manager's shim found
    first on PATH (pyenv's costs about 0.1 s a call, which is not farm's); else ``python -m farm``."""
    beside = Path(sys.executable).parent / "farm"
    exe = str(beside) if beside.is_file() else shutil.which("farm")
    return [exe] if exe else [sys.executable, "-m", "farm"]


def compile_farm() -> str:
    """Compile farm's modules to bytecode, as installing a package does.

    An editable install compiles nothing, and with ``PYTHONDONTWRITEBYTECODE`` set (as in some
    containers) every farm command would compile its modules again (0.14 s a render here).
    Returns what was done, for the results."""
    import compileall

    import farm

    folder = Path(farm.__file__).parent
    try:
        ok = compileall.compile_dir(str(folder), quiet=1)
    except OSError as exc:
        return f"not compiled ({exc})"
    return f"compiled ahead ({folder})" if ok else "compiled ahead, with errors"
