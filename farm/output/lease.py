"""Leases in the cache: which keys a writer is encoding, and which keys a running render needs.

Two kinds, both small JSON objects created only if absent (``O_EXCL`` in a
folder, ``If-None-Match: *`` in an object store):

* ``leases/keys/KEY.json`` — one writer is encoding ``KEY``. Another render
  that needs the same key waits for its entry instead of encoding it again.
* ``leases/renders/ID.json`` — a running render and every key it needs (cached
  or not) until its variants are stitched. ``farm cache gc`` never removes them.

A lease names its holder (host, process id, when it was last refreshed). Its
holder refreshes it every sixth of ``FARM_LEASE_SECONDS`` (default 120 s) on
a thread; it is stale, and may be taken over or ignored, when its process is
gone (same host) or it has not been refreshed for ``FARM_LEASE_SECONDS``. So a
crashed writer's key is free again within two minutes, on any node.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections.abc import Iterable
from typing import Any, Protocol

from farm.output.lifeline import pid_alive
from farm.output.store import StoredObject

KEYS = "leases/keys/"
RENDERS = "leases/renders/"


class LeaseObjects(Protocol):
    """What leases need of a store (:class:`~farm.output.store.PosixStore` or an object store)."""

    url: str

    def get_bytes(self, name: str) -> bytes | None: ...
    def create(self, name: str, data: bytes) -> bool: ...
    def put_bytes(self, name: str, data: bytes) -> None: ...
    def delete(self, name: str) -> None: ...
    def list(self, under: str) -> Iterable[StoredObject]: ...


def lease_seconds() -> float:
    return float(os.environ.get("FARM_LEASE_SECONDS") or 120)


class _Refresher:
    """Rewrites a held lease with a fresh time until stopped (a daemon thread)."""

    def __init__(self, objects: LeaseObjects, name: str, extra: dict[str, Any]) -> None:
        self.objects, self.name, self.extra = objects, name, extra
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"farm-lease-{name[-12:]}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(lease_seconds() / 6):
            try:
                self.objects.put_bytes(self.name, _holder(**self.extra))
            except Exception:  # a missed refresh is retried; the lease lasts lease_seconds()
                continue

    def end(self) -> None:
        self.stop.set()
        self.thread.join()


_held: dict[tuple[str, str], _Refresher] = {}  # (store url, lease name) -> its refresher
_held_lock = threading.Lock()


def _hold(objects: LeaseObjects, name: str, extra: dict[str, Any]) -> None:
    with _held_lock:
        _held[(objects.url, name)] = _Refresher(objects, name, extra)


def _let_go(objects: LeaseObjects, name: str) -> None:
    with _held_lock:
        refresher = _held.pop((objects.url, name), None)
    if refresher is not None:
        refresher.end()
    objects.delete(name)


def _holder(**extra: Any) -> bytes:
    info = {"host": os.uname().nodename, "pid": os.getpid(), "since": time.time(), **extra}
    return json.dumps(info).encode()


def stale(info: dict[str, Any] | None) -> bool:
    """Whether a lease no longer holds anything (its process gone, or too old)."""
    if not isinstance(info, dict):
        return True
    if time.time() - float(info.get("since", 0)) > lease_seconds():
        return True
    return info.get("host") == os.uname().nodename and not pid_alive(int(info.get("pid", 0)))


def _read(objects: LeaseObjects, name: str) -> dict[str, Any] | None:
    data = objects.get_bytes(name)
    try:
        info = json.loads(data) if data is not None else None
    except ValueError:
        return None
    return info if isinstance(info, dict) else None


def take_key(objects: LeaseObjects, key: str) -> bool:
    """Take the lease on encoding ``key``; False while another live writer holds it."""
    name = f"{KEYS}{key}.json"
    taken = objects.create(name, _holder())
    if not taken and stale(_read(objects, name)):
        objects.delete(name)
        taken = objects.create(name, _holder())
    if taken:
        _hold(objects, name, {})
    return taken


def release_key(objects: LeaseObjects, key: str) -> None:
    _let_go(objects, f"{KEYS}{key}.json")


def hold_render(objects: LeaseObjects, keys: Iterable[str]) -> str:
    """Record that a render needs ``keys`` until :func:`release_render`; returns the lease's name."""
    name = f"{RENDERS}{os.uname().nodename}-{os.getpid()}-{secrets.token_hex(4)}.json"
    extra = {"keys": sorted(set(keys))}
    objects.create(name, _holder(**extra))
    _hold(objects, name, extra)
    return name


def release_render(objects: LeaseObjects, name: str) -> None:
    _let_go(objects, name)


def held_keys(objects: LeaseObjects) -> set[str]:
    """Every key a live lease holds: being encoded, or needed by a running render."""
    held: set[str] = set()
    for obj in objects.list("leases/"):
        info = _read(objects, obj.name)
        if stale(info):
            continue
        assert info is not None
        if obj.name.startswith(KEYS):
            held.add(obj.name[len(KEYS) :].removesuffix(".json"))
        else:
            held.update(str(k) for k in info.get("keys", ()))
    return held
