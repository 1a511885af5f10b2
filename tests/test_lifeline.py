"""A worker follows the render it works for: it ends with a dead driver, unless told to stop following."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# a worker process: follows the driver given as argv[1] (then unfollows it when argv[2] says so),
# says it is ready, and lives on for three seconds, printing "alive" if it is still there
WORKER = textwrap.dedent(
    """
    import socket, sys, time
    from farm.output import lifeline
    lifeline.follow_driver((socket.gethostname(), int(sys.argv[1])))
    if sys.argv[2] == "unfollow":
        lifeline.unfollow_driver()
    print("ready", flush=True)
    time.sleep(3)
    print("alive", flush=True)
    """
)


def _run(mode: str) -> tuple[int, str]:
    driver = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(driver.pid), mode], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == "ready"
        driver.kill()
        driver.wait()
        out, _ = worker.communicate(timeout=30)
        return worker.returncode, out
    finally:
        for proc in (driver, worker):
            if proc.poll() is None:
                proc.kill()


def test_a_worker_ends_when_the_driver_it_follows_dies() -> None:
    code, out = _run("follow")
    assert code == 1 and "alive" not in out


def test_a_worker_that_stopped_following_outlives_the_driver() -> None:
    """A farm up worker between two renders: the first render's end is not its end."""
    code, out = _run("unfollow")
    assert code == 0 and "alive" in out
