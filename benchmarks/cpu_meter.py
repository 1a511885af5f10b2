"""CPU seconds of a command and of everything it starts, on a shared machine (Linux ``/proc``).

Wall times on a loaded machine say little; the CPU a command's processes used
says what it cost.  Ray's processes are not the command's waited-for children
(a worker's parent is the raylet, which a detached reaper may end), so
``RUSAGE_CHILDREN`` misses them.  Instead every process the command starts
inherits a marker in its environment, and a thread samples ``/proc`` every
:data:`PERIOD` seconds, keeping the last CPU time seen of each marked process
(by pid and start time).  What a process uses in the last sample period
before it exits is missed: a few tens of milliseconds per process.
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

    def __init__(self) -> None:
        super().__init__(daemon=True)
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
                if self._needle not in Path(entry.path, "environ").read_bytes():
                    continue
                text = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            f = text[text.rindex(")") + 2 :].split()
            self._seen[(int(entry.name), f[19])] = (int(f[11]) + int(f[12])) / _CLK

    def run(self) -> None:
        while not self._halt.wait(PERIOD):
            self._sample()

    def __enter__(self) -> CpuMeter:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._halt.set()
        self.join()
        self._sample()

    @property
    def seconds(self) -> float:
        return round(sum(self._seen.values()), 2)
