"""Reading an untrusted cut without letting a crash in OpenTimelineIO take the render down.

OpenTimelineIO is C++: some malformed files crash the process that reads them
(a ``Timeline`` whose ``tracks`` is ``null`` segfaults in ``video_tracks()``;
JSON nested 200,000 deep overflows its reader's stack).  Two guards stand in
front of it:

* :func:`check_otio_shape` reads an ``.otio`` file with Python's own JSON
  reader first and refuses the shapes known to crash OTIO, with a message;
* the read itself runs in a short-lived child process, so whatever crash is
  left becomes exit 65 naming the file.  A process that runs one thread forks
  that child (:func:`start_read`: a few milliseconds, farm and OpenTimelineIO
  already imported, and the read runs beside whatever the parent does next);
  one that runs threads starts a fresh interpreter instead
  (:func:`read_in_subprocess`, about 0.3 s), since a fork copies locks other
  threads may hold.  ``tests/test_faults.py`` prints both costs.
"""

from __future__ import annotations

import faulthandler
import json
import os
import pickle
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from farm.edit.cut import Cut, load_cut
from farm.errors import CutError, FarmError, InternalError, MissingInputError, Where

#: the module a child runs (``python -m``); tests check the name
READER_MODULE = "farm.edit.read_cut"
#: seconds a child may spend on one cut
READER_TIMEOUT = 120.0
#: a cut file larger than this is refused before anything parses it
MAX_CUT_BYTES = 256 << 20
#: containers nested deeper than this are refused (an edit needs a handful of levels)
MAX_DEPTH = 200


def load_cut_isolated(
    variant: str,
    timeline_path: Path,
    root: Path,
    allowed_roots: tuple[Path, ...] | None = None,
    **options: Any,
) -> Cut:
    """:func:`farm.edit.cut.load_cut`, guarded: known bad shapes refused, the rest read in a child.

    ``options`` are :func:`~farm.edit.cut.load_cut`'s keyword arguments (rates, timeline name,
    media search folders)."""
    return start_read(variant, timeline_path, root, allowed_roots, **options)()


def start_read(
    variant: str,
    timeline_path: Path,
    root: Path,
    allowed_roots: tuple[Path, ...] | None = None,
    **options: Any,
) -> Callable[[], Cut]:
    """Start :func:`load_cut_isolated`'s read now; the function returned waits for its cut.

    Errors (a missing file, a refused shape, a crash) are raised by the function returned, so a
    caller can start every variant's read first and meet each variant's error with that variant.
    A forked child starts at once; in a process running threads the child is a fresh interpreter,
    started when the function is called.
    """
    where = Where(variant=variant, path=str(timeline_path))
    try:
        if not timeline_path.is_file():
            raise MissingInputError("timeline not found", where)
        if timeline_path.suffix.lower() == ".otio":
            check_otio_shape(timeline_path, where)
    except FarmError as exc:
        refused = exc

        def refuse() -> Cut:
            raise refused

        return refuse
    request = (variant, timeline_path, root, allowed_roots, options)
    if hasattr(os, "fork") and threading.active_count() == 1:
        return _ForkedRead(request, where).wait
    return lambda: read_in_subprocess(variant, timeline_path, root, allowed_roots, **options)


class _ForkedRead:
    """A child forked from this (single-threaded) process, reading one cut into a pipe."""

    def __init__(self, request: tuple[Any, ...], where: Where) -> None:
        self.where = where
        self.answer: Cut | None = None
        read_end, write_end = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the child: never returns
            os.close(read_end)
            _forked_child(request, write_end)
        os.close(write_end)
        self.fd: int | None = read_end

    def wait(self) -> Cut:
        if self.answer is not None:
            return self.answer
        if self.fd is None:
            raise InternalError("the timeline reader was already waited for", self.where)
        data, timed_out = _read_all(self.fd, READER_TIMEOUT)
        os.close(self.fd)
        self.fd = None
        if timed_out:
            os.kill(self.pid, signal.SIGKILL)
        _, status = os.waitpid(self.pid, 0)
        if timed_out:
            raise CutError(f"reading the timeline took longer than {READER_TIMEOUT:.0f}s", self.where)
        self.answer = _answer(os.waitstatus_to_exitcode(status), data, b"", self.where)
        return self.answer


def _read_all(fd: int, timeout: float) -> tuple[bytes, bool]:
    """Everything a child writes to ``fd`` until it closes it; ``(data, True)`` at the deadline."""
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return b"".join(chunks), True
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b"".join(chunks), False
            chunks.append(chunk)


def _forked_child(request: tuple[Any, ...], write_end: int) -> None:
    """In a forked child: read the cut, write the pickled answer, and leave without cleaning up."""
    status = 0
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)  # whatever an adapter prints stays out of the parent's output
        os.dup2(devnull, 2)
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C ends the child, the parent reports it
        faulthandler.disable()  # a crash is the parent's to word (a test runner enables the handler)
        answer = pickle.dumps(_read(*request))
        view = memoryview(answer)
        while view:
            view = view[os.write(write_end, view) :]
    except BaseException:  # noqa: BLE001 - nothing may unwind into the parent's code in a fork
        status = 70
    finally:
        os._exit(status)  # no atexit handlers, no flush of buffers copied from the parent


def check_otio_shape(path: Path, where: Where) -> None:
    """Refuse an ``.otio`` file that is not JSON, too deep, or shaped the way that crashes OTIO."""
    try:
        if path.stat().st_size > MAX_CUT_BYTES:
            raise CutError(f"the cut file is larger than {MAX_CUT_BYTES >> 20} MiB", where)
        data = json.loads(path.read_bytes())
    except RecursionError:
        raise CutError("cannot read timeline: JSON nested too deep", where) from None
    except (ValueError, OSError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise CutError(f"cannot read timeline: not valid JSON ({exc})", where) from None
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise CutError(f"cannot read timeline: JSON nested deeper than {MAX_DEPTH} levels", where)
        if isinstance(value, dict):
            _check_object(value, where)
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


def _check_object(obj: dict[str, Any], where: Where) -> None:
    schema = obj.get("OTIO_SCHEMA")
    if schema is None:
        return
    if not isinstance(schema, str):
        raise CutError(f"cannot read timeline: OTIO_SCHEMA = {schema!r} is not a string", where)
    if schema.split(".")[0] == "Timeline" and "tracks" in obj:
        tracks = obj["tracks"]
        if not isinstance(tracks, dict) or not isinstance(tracks.get("OTIO_SCHEMA"), str):
            raise CutError(
                f"cannot read timeline: its tracks are {json.dumps(tracks)[:40]}, not a Stack", where
            )


def read_in_subprocess(
    variant: str,
    timeline_path: Path,
    root: Path,
    allowed_roots: tuple[Path, ...] | None = None,
    **options: Any,
) -> Cut:
    """Run :func:`farm.edit.cut.load_cut` in a child process; a crash there is a :class:`CutError`."""
    where = Where(variant=variant, path=str(timeline_path))
    request = pickle.dumps((variant, timeline_path, root, allowed_roots, options))
    package_parent = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([package_parent, *([path] if path else [])])}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", READER_MODULE],
            input=request,
            capture_output=True,
            timeout=READER_TIMEOUT,
            env=env,
        )
    except subprocess.TimeoutExpired:
        raise CutError(f"reading the timeline took longer than {READER_TIMEOUT:.0f}s", where) from None
    except OSError as exc:
        raise CutError(f"cannot start the timeline reader ({exc})", where) from None
    return _answer(proc.returncode, proc.stdout, proc.stderr, where)


def _answer(returncode: int, stdout: bytes, stderr: bytes, where: Where) -> Cut:
    """The cut a reader child sent back, or the error its answer or its death means."""
    if returncode != 0:
        if returncode < 0:
            try:
                name = signal.Signals(-returncode).name
            except ValueError:
                name = f"signal {-returncode}"
            why = f"the timeline reader crashed ({name}) on this file"
        else:
            last = (stderr.decode(errors="replace").strip().splitlines() or ["no message"])[-1]
            why = f"the timeline reader failed (exit {returncode}: {last[:200]})"
        raise CutError(why, where, hint="the file is malformed; export it again from the editor")
    try:
        kind, value = pickle.loads(stdout)
    except Exception as exc:  # nothing, or something else, came back
        raise InternalError(f"the timeline reader gave no answer ({type(exc).__name__})", where) from None
    if kind == "error" and isinstance(value, FarmError):
        raise value
    if kind != "cut" or not isinstance(value, Cut):
        raise InternalError(f"the timeline reader answered {kind!r}", where)
    return value


def _child() -> None:
    """In the child: read one cut; write back ``("cut", Cut)`` or ``("error", FarmError)``."""
    answer = sys.stdout.buffer
    sys.stdout = sys.stderr  # whatever an adapter prints must not mix with the answer
    answer.write(pickle.dumps(_read(*pickle.loads(sys.stdin.buffer.read()))))
    answer.flush()


def _read(
    variant: str, timeline_path: Path, root: Path, allowed: tuple[Path, ...] | None, options: dict[str, Any]
) -> tuple[str, object]:
    """In a reader child: ``("cut", Cut)``, or ``("error", FarmError)`` for what went wrong."""
    where = Where(variant=variant, path=str(timeline_path))
    try:
        return ("cut", load_cut(variant, timeline_path, root, allowed, **options))
    except FarmError as exc:
        return ("error", exc)
    except RecursionError:
        return ("error", CutError("cannot read timeline: nested too deep", where))
    except Exception as exc:  # a malformed file meeting code that trusted it
        return ("error", CutError(f"cannot read timeline: {type(exc).__name__}: {exc}", where))


if __name__ == "__main__":
    _child()
