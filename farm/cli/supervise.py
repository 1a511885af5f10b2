"""A crash in native code ends a ``farm`` command with a message, not the shell's "Segmentation fault".

A fault inside a C or C++ library (libav*, x264, NumPy, CuPy, a GPU driver)
kills the process that hit it before Python can say a word: the shell prints
"Segmentation fault" and the status is 139.  The driver of a render decodes,
mixes and stitches media itself, so ``farm`` forks once, before it imports
anything that does media work: the child runs the command with
:mod:`faulthandler` writing every thread's Python stack to an unlinked file,
and the parent, which holds no media library, waits for it.  When the child
dies of a fatal signal, the parent names the signal and the farm function that
called into the library, keeps the stacks in a file for the bug report, and
ends with status 70 (internal error), as every internal error does.  Finished
segments stay in the cache, so the same command resumes; the output being
stitched was still under its temporary name, which the next render removes.

Signals: the parent passes on those sent to it alone (``kill``, a job runner's
SIGTERM).  What the kernel sends to the whole process group (a terminal's
Ctrl-C) has reached the child already and is not passed on twice.  If the
parent is killed outright, the kernel kills the child too
(``PR_SET_PDEATHSIG``).  A child killed by any other signal ends the parent
by the same signal, so a shell or a job runner sees what it would have seen.

Linux only (``sigwaitinfo``, ``prctl``); elsewhere, or with
``FARM_SUPERVISE=0``, the command runs in the one process.
"""

from __future__ import annotations

import faulthandler
import mmap
import os
import re
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

from farm.output import activity

__all__ = ["EXIT_CRASH", "FATAL", "describe_crash", "watch"]

#: the exit status of a command whose process crashed in native code (internal error, as 70 is)
EXIT_CRASH = 70

#: the signals a fault in native code ends a process with, in words
FATAL: dict[int, str] = {
    signal.SIGSEGV: "a segmentation fault (SIGSEGV)",
    signal.SIGBUS: "a bus error (SIGBUS)",
    signal.SIGILL: "an illegal instruction (SIGILL)",
    signal.SIGFPE: "an arithmetic fault (SIGFPE)",
    signal.SIGABRT: "an abort (SIGABRT)",
}
#: the signals a parent passes on when they were sent to it alone
_PASSED_ON = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
_WATCHED = {*_PASSED_ON, signal.SIGCHLD}
#: ``si_code`` of a signal the kernel raised itself, a terminal's Ctrl-C to its foreground group among them
_SI_KERNEL = 0x80
_PR_SET_PDEATHSIG = 1

_FRAME = re.compile(r'^\s+File "(?P<file>[^"]+)", line (?P<line>\d+) in (?P<func>\S+)')
#: the child's faulthandler file, kept open for as long as the child runs
_dump: IO[bytes] | None = None


def _supported() -> bool:
    return (
        sys.platform.startswith("linux")
        and hasattr(signal, "sigwaitinfo")
        and os.environ.get("FARM_SUPERVISE", "1") != "0"
    )


def watch() -> int | None:
    """Fork; in the child return None (run the command), in the parent the status to exit with.

    Unsupervised (not Linux, ``FARM_SUPERVISE=0``): None, in the one process.
    """
    global _dump
    if not _supported():
        return None
    try:
        dump = tempfile.TemporaryFile(prefix="farm-crash-")
    except OSError:
        return None  # no writable temporary folder: unsupervised rather than not at all
    page = mmap.mmap(-1, activity.SIZE)  # shared with the child: what each of its threads is doing
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    parent = os.getpid()
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _WATCHED)
    try:
        pid = os.fork()
    except OSError:  # out of processes or memory: run the command here rather than not at all
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        return None
    if pid == 0:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        _die_with(parent)
        _dump = dump
        faulthandler.enable(file=dump, all_threads=True)
        activity.install(page)
        # Ray's core would install Abseil's crash handler in this process too, which prints eight
        # lines of unsymbolised addresses before this message (its workers keep Python's faulthandler)
        os.environ.setdefault("RAY_DISABLE_FAILURE_SIGNAL_HANDLER", "1")
        return None
    # the signals stay blocked here: this process only reports and exits (a late Ctrl-C is no traceback)
    code = os.waitstatus_to_exitcode(_wait(pid))
    if code >= 0:
        return code
    return _died(-code, dump, page)


def _die_with(parent: int) -> None:
    """Ask the kernel to kill this process when its parent dies (and die now if it already has)."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return  # no prctl: an orphaned child finishes its command and exits
    if os.getppid() != parent:  # the parent died before prctl took hold
        os._exit(128 + signal.SIGKILL)


def _wait(pid: int) -> int:
    """Wait for the child, passing on what was sent to this process alone; its wait status."""
    while True:
        info = signal.sigwaitinfo(_WATCHED)
        if info.si_signo == signal.SIGCHLD:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return status
        elif info.si_code != _SI_KERNEL:  # the kernel's group signals reached the child too
            try:
                os.kill(pid, info.si_signo)
            except ProcessLookupError:
                pass


def _died(sig: int, dump: IO[bytes], page: mmap.mmap) -> int:
    """The child died of ``sig``: say so; the status to exit with (or end by the same signal)."""
    if sig in FATAL:
        dump.seek(0)
        stacks = dump.read().decode("utf-8", "replace")
        kept = _keep(stacks)
        message = describe_crash(sig, stacks, kept, activity.lines(page))
        print(f"farm: error: {message}", file=sys.stderr, flush=True)
        return EXIT_CRASH
    if sig == signal.SIGKILL:
        print(
            "farm: error: the command was killed (SIGKILL); if nobody killed it, the kernel may have "
            "run out of memory (see `dmesg`). Finished segments stay in the cache and are reused next time",
            file=sys.stderr,
            flush=True,
        )
        return 128 + sig
    signal.signal(sig, signal.SIG_DFL)  # end as the child ended: a shell reports it the same way
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {sig})
    os.kill(os.getpid(), sig)
    return 128 + sig


def _keep(stacks: str) -> Path | None:
    """The stacks in a file beside other temporary files, for the bug report (None if empty or unwritable)."""
    if not stacks.strip():
        return None
    path = Path(tempfile.gettempdir()) / f"farm-crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
    try:
        path.write_text(stacks, encoding="utf-8")
    except OSError:
        return None
    return path


def describe_crash(sig: int, stacks: str, kept: Path | None, doing: dict[int, str] | None = None) -> str:
    """One message for a process that died of ``sig``, from faulthandler's ``stacks`` and what each
    thread was ``doing`` (:func:`farm.output.activity.lines`)."""
    where = _farm_frame(stacks)
    at = f" in {where}" if where else ""
    crashed = _crashed_thread(stacks)
    task = (doing or {}).get(crashed) if crashed is not None else None
    while_ = f", while {task}" if task else ""
    text = (
        f"the command crashed inside a native library: {FATAL.get(sig, f'signal {sig}')}{at}{while_}. "
        "Nothing unfinished was published; finished segments stay in the cache and running the "
        "same command again resumes"
    )
    if kept is not None:
        text += f". If it crashes again, report it with Python's stacks at the crash: {kept}"
    return text


def _crashed_thread(stacks: str) -> int | None:
    """The id of the thread that crashed, as faulthandler printed it (``Current thread 0x...``)."""
    found = re.search(r"^Current thread (0x[0-9a-fA-F]+)", stacks, re.MULTILINE)
    return int(found[1], 16) if found else None


def _farm_frame(stacks: str) -> str | None:
    """``function (farm/x/y.py, line N)``: the innermost farm frame of the thread that crashed."""
    lines = stacks.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Current thread")), None)
    if start is None:
        return None
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # .../farm
    for line in lines[start + 1 :]:
        match = _FRAME.match(line)
        if match is None:
            break  # the thread's stack has ended
        file = match["file"]
        if os.path.abspath(file).startswith(package + os.sep):
            shown = os.path.relpath(file, os.path.dirname(package))
            return f"{match['func']} ({shown}, line {match['line']})"
    return None
