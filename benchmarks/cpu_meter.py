"""CPU seconds of a command and of everything it starts, on a shared machine (Linux ``/proc``).

Wall times on a loaded machine say little; the CPU a command's processes used
says what it cost.  Ray's processes are not the command's waited-for children
(a worker's parent is the raylet, which a detached reaper may end), so
``RUSAGE_CHILDREN`` misses them.  Instead every process the command starts
inherits a marker in its environment, and a thread samples ``/proc`` every
:data:`PERIOD` seconds, keeping the last CPU time seen of each marked process
(by pid and start time).  What a process uses in the last sample period
before it exits is missed: a few tens of milliseconds per process.

A render that joins a ``farm up`` Ray has its segments rendered by that Ray's
warm workers, which were started before the meter: processes of the sessions
named in ``sessions`` count with the CPU they use while the meter runs.
"""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path

PERIOD = 0.1
_CLK = os.sysconf("SC_CLK_TCK")


class CpuMeter(threading.Thread):
    """``with CpuMeter() as m: run(env={**env, **m.env})`` then ``m.seconds``."""

    def __init__(self, sessions: set[int] | None = None) -> None:
        super().__init__(daemon=True)
        self.sessions = sessions or set()
        self._base: dict[tuple[int, str], float] = {}  # a session process's CPU when first seen
        self.marker = uuid.uuid4().hex
        self.env = {"FARM_BENCH_CPU_METER": self.marker}
        self._needle = f"FARM_BENCH_CPU_METER={self.marker}".encode()
        self._seen: dict[tuple[int, str], float] = {}
        self._halt = threading.Event()

    def _sample(self) -> None:
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                text = Path(entry.path, "stat").read_text()
                f = text[text.rindex(")") + 2 :].split()
                ours = int(f[3]) in self.sessions
                if not ours and self._needle not in Path(entry.path, "environ").read_bytes():
                    continue
            except (OSError, ValueError):
                continue
            key, cpu = (int(entry.name), f[19]), (int(f[11]) + int(f[12])) / _CLK
            if ours:
                cpu -= self._base.setdefault(key, cpu)
            self._seen[key] = cpu

    def run(self) -> None:
        while not self._halt.wait(PERIOD):
            self._sample()

    def __enter__(self) -> CpuMeter:
        self._sample()  # the session processes' CPU so far is not this command's
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._halt.set()
        self.join()
        self._sample()

    @property
    def seconds(self) -> float:
        return round(sum(self._seen.values()), 2)
