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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: every temporary name ends with this marker (before an optional kept extension)
TEMP_MARKER = ".farm-tmp"
_TEMP_RE = re.compile(r"^\..+\.[^.]+\.\d+\.[0-9a-f]{8}\.farm-tmp(\.\w+)?$")


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


@contextmanager
def atomic_write(final: Path, keep_suffix: bool = False, make_parents: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write; on success rename it to ``final``, on failure remove it.

    The caller writes the whole file at the yielded path (with any library);
    nothing appears at ``final`` unless the block finishes without an exception.
    """
    if make_parents:
        final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(final, keep_suffix)
    try:
        yield tmp
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
