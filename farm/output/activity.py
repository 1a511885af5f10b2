"""What each thread of the ``farm`` process is doing, where a crash report can still read it.

A crash in native code leaves no Python exception to name the variant, clip,
file and frame range.  :mod:`farm.cli.supervise` gives the command's process a
page of memory shared with the process watching it; the driver's media work
(probing a source, rendering an audio track in the driver,
appending a segment to an output, checking it) writes one line there per
thread for as long as it runs (:func:`doing`).  After a crash the watcher reads
the line of the thread that crashed.  Without a page (a Ray worker, the Python
API) :func:`doing` costs one global lookup.

A slot is the thread's id (8 bytes), the length of its line (2 bytes) and the
line in UTF-8; a thread keeps its slot while it lives.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from farm.errors import Where

__all__ = ["SIZE", "doing", "install", "lines"]

_SLOTS = 16
_SLOT = 512
#: bytes of the shared page a watcher allocates
SIZE = _SLOTS * _SLOT
_HEAD = struct.Struct("<QH")

_page: Any = None  # a writable buffer of SIZE bytes (an mmap shared with the watching process)
_lock = threading.Lock()
_local = threading.local()
_next_slot = 0


def install(page: Any) -> None:
    """Write activity lines into ``page`` (SIZE bytes) from now on."""
    global _page
    _page = page


def _slot() -> int:
    global _next_slot
    slot: int | None = getattr(_local, "slot", None)
    if slot is None:
        with _lock:
            # when every slot is taken, the oldest thread's
            slot, _next_slot = _next_slot % _SLOTS, _next_slot + 1
        _local.slot = slot
    return slot


def _write(slot: int, line: bytes) -> None:
    at = slot * _SLOT
    line = line[: _SLOT - _HEAD.size]
    _page[at : at + _HEAD.size + len(line)] = _HEAD.pack(threading.get_ident(), len(line)) + line


@contextmanager
def doing(what: str, where: Where) -> Iterator[None]:
    """While the block runs, this thread's line says ``what`` it is doing ``where``."""
    if _page is None:
        yield
        return
    slot = _slot()
    at = slot * _SLOT
    before = bytes(_page[at : at + _SLOT])
    described = where.describe()
    _write(slot, (f"{what} ({described})" if described else what).encode("utf-8", "replace"))
    try:
        yield
    finally:
        _page[at : at + _SLOT] = before


def lines(page: Any) -> dict[int, str]:
    """Each thread's line in ``page``, by thread id (as ``threading.get_ident`` and faulthandler show it)."""
    found: dict[int, str] = {}
    for slot in range(_SLOTS):
        at = slot * _SLOT
        ident, size = _HEAD.unpack_from(page, at)
        if ident and size:
            start = at + _HEAD.size
            line = bytes(page[start : start + min(size, _SLOT - _HEAD.size)])
            found[ident] = line.decode("utf-8", "replace")
    return found
