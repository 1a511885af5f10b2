"""The command line's edges: a reader that closes stdout early ends a command quietly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from coded import Shot, write_project


def _run_with_stdout_closed(args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``python -m farm ARGS`` with its stdout a pipe whose reader is already gone."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "farm", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # like `| head -0`: every write to stdout now fails with EPIPE
    stderr = proc.stderr.read()
    proc.stderr.close()
    return subprocess.CompletedProcess(proc.args, proc.wait(timeout=120), "", stderr)


@pytest.mark.parametrize("command", [["plan", "--json"], ["plan"]])
def test_a_closed_stdout_ends_a_command_quietly(project_dir: Path, command: list[str]) -> None:
    project = write_project(project_dir, {"cut": [Shot("s24", 0, 24)]})
    done = _run_with_stdout_closed([command[0], str(project), *command[1:]])
    assert done.stderr == ""  # no BrokenPipeError traceback, no "Exception ignored"
    assert done.returncode == 141  # what a shell reports for a process ended by SIGPIPE


def test_help_to_a_closed_stdout_is_quiet() -> None:
    done = _run_with_stdout_closed(["--help"])
    assert done.stderr == "" and done.returncode in (0, 141)  # argparse itself ignores the closed pipe
