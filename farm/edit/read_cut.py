"""Reading an untrusted cut without letting a crash in OpenTimelineIO take the render down.

OpenTimelineIO is C++: some malformed files crash the process that reads them
(a ``Timeline`` whose ``tracks`` is ``null`` segfaults in ``video_tracks()``;
JSON nested 200,000 deep overflows its reader's stack).  Two guards stand in
front of it:

* :func:`check_otio_shape` reads an ``.otio`` file with Python's own JSON
  reader first and refuses the shapes known to crash OTIO, with a message;
* :func:`read_in_subprocess` runs :func:`farm.edit.cut.load_cut` in a
  short-lived child process, so whatever crash is left becomes exit 65 naming
  the file.  It costs one interpreter start per cut (about 0.2 s, measured in
  ``tests/test_faults.py``), paid once per render, not per frame.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
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
    where = Where(variant=variant, path=str(timeline_path))
    if not timeline_path.is_file():
        raise MissingInputError("timeline not found", where)
    if timeline_path.suffix.lower() == ".otio":
        check_otio_shape(timeline_path, where)
    return read_in_subprocess(variant, timeline_path, root, allowed_roots, **options)


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
    if proc.returncode != 0:
        if proc.returncode < 0:
            try:
                name = signal.Signals(-proc.returncode).name
            except ValueError:
                name = f"signal {-proc.returncode}"
            why = f"the timeline reader crashed ({name}) on this file"
        else:
            last = (proc.stderr.decode(errors="replace").strip().splitlines() or ["no message"])[-1]
            why = f"the timeline reader failed (exit {proc.returncode}: {last[:200]})"
        raise CutError(why, where, hint="the file is malformed; export it again from the editor")
    try:
        kind, value = pickle.loads(proc.stdout)
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
    variant, timeline_path, root, allowed, options = pickle.loads(sys.stdin.buffer.read())
    where = Where(variant=variant, path=str(timeline_path))
    result: tuple[str, object]
    try:
        result = ("cut", load_cut(variant, timeline_path, root, allowed, **options))
    except FarmError as exc:
        result = ("error", exc)
    except RecursionError:
        result = ("error", CutError("cannot read timeline: nested too deep", where))
    except Exception as exc:  # a malformed file meeting code that trusted it
        result = ("error", CutError(f"cannot read timeline: {type(exc).__name__}: {exc}", where))
    answer.write(pickle.dumps(result))
    answer.flush()


if __name__ == "__main__":
    _child()
