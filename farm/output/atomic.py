"""The one way farm publishes a file: write a temporary name beside it, then rename.

A reader never sees half a file, and a writer that dies leaves only a temporary
name that :func:`is_temp_name` recognises (so stale ones can be swept). The
temporary name carries the host, the process id and a random suffix, because a
cache folder may be shared over NFS by many hosts whose pids collide.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from farm.output.lifeline import check_driver, pid_alive

#: every temporary name ends with this marker (before an optional kept extension)
TEMP_MARKER = ".farm-tmp"
_TEMP_RE = re.compile(r"^\..+\.(?P<host>[^.]+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.farm-tmp(\.\w+)?$")
#: what earlier versions of farm left: ``.NAME.PID.partial`` (stitch), ``.NAME.PID.RAND.tmp`` (cache)
_LEGACY_RE = re.compile(r"^\..+\.(?P<pid>\d+)(\.partial|\.[0-9A-Za-z_-]+\.tmp)$")
#: a temporary file older than this is stale whoever wrote it (another host, a reused pid)
STALE_AFTER_SECONDS = 24 * 3600


def _host() -> str:
    # dots would make the name ambiguous to parse; keep the short host name
    return (socket.gethostname().split(".")[0] or "host").replace(os.sep, "_")


def temp_path(final: Path, keep_suffix: bool = False) -> Path:
    """A unique temporary name beside ``final`` (same folder, so the rename is atomic).

    ``keep_suffix`` ends the name with ``final``'s extension, for writers that
    choose a format by extension.
    """
    tail = final.suffix if keep_suffix else ""
    name = f".{final.name}.{_host()}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_MARKER}{tail}"
    return final.with_name(name)


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is a temporary name made by :func:`temp_path`."""
    return bool(_TEMP_RE.match(name))


def is_stale(path: Path, now: float | None = None, max_age: float = STALE_AFTER_SECONDS) -> bool:
    """Whether ``path`` is a temporary file of farm's that nobody will finish.

    Only farm's own temporary names qualify: one of this host whose process is
    gone, or any (another host's, an earlier version's) older than ``max_age``.
    """
    name = path.name
    match = _TEMP_RE.match(name)
    legacy = None if match else _LEGACY_RE.match(name)
    if match is None and legacy is None:
        return False
    try:
        age = (time.time() if now is None else now) - path.lstat().st_mtime
    except OSError:
        return False
    if age > max_age:
        return True
    if match is not None and match["host"] == _host():
        pid = int(match["pid"])
        return pid != os.getpid() and not pid_alive(pid)
    return False


def sweep_stale(folders: Iterable[Path], recursive: bool = False) -> list[Path]:
    """Remove the stale temporary files (see :func:`is_stale`) in ``folders``; return what went.

    Files of live processes, files that are not farm's and folders are left alone.
    """
    removed: list[Path] = []
    now = time.time()
    for folder in folders:
        walk = os.walk(folder) if recursive else [(str(folder), [], None)]
        for top, _, names in walk:
            if names is None:
                try:
                    names = [e.name for e in os.scandir(top) if e.is_file(follow_symlinks=False)]
                except OSError:
                    continue
            for name in names:
                path = Path(top) / name
                if is_stale(path, now):
                    try:
                        path.unlink()
                    except OSError:
                        continue
                    removed.append(path)
    return removed


@contextmanager
def atomic_write(
    final: Path, keep_suffix: bool = False, make_parents: bool = True, tmp: Path | None = None
) -> Iterator[Path]:
    """Yield a temporary path to write; on success rename it to ``final``, on failure remove it.

    The caller writes the whole file at the yielded path (with any library);
    nothing appears at ``final`` unless the block finishes without an exception.
    ``tmp``: a name from :func:`temp_path` the caller already began writing (default: a new one).
    """
    if make_parents:
        final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(final, keep_suffix) if tmp is None else tmp
    try:
        yield tmp
        check_driver()
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink(missing_ok=True)


def write_text_atomic(final: Path, text: str, encoding: str = "utf-8") -> None:
    """Publish ``text`` at ``final`` atomically."""
    with atomic_write(final) as tmp:
        tmp.write_text(text, encoding=encoding)


def write_bytes_atomic(final: Path, data: bytes) -> None:
    """Publish ``data`` at ``final`` atomically."""
    with atomic_write(final) as tmp:
        tmp.write_bytes(data)
