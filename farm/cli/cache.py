"""``farm cache ls|du|gc``: what the segment cache holds, how big it is, and trimming it.

``gc`` removes segments no listed project references (every variant, every
encoder family), oldest first, and never one a running render holds (see
:mod:`farm.output.lease`). ``--keep-days N`` spares segments written in the last
N days; ``--max-size S`` removes only until the cache is at most S. The
metadata goes first, so a segment being removed is never taken as present.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from farm.cli.arguments import cache_location
from farm.cli.table import write_rows
from farm.errors import MissingInputError, Where
from farm.output.cache import Cache
from farm.output.lease import held_keys, lease_seconds
from farm.output.store import StoredObject

FAMILIES = ("cpu", "nvenc", "nvdec+cpu")
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def size(text: str) -> int:
    """A size in bytes: ``500M``, ``20G``, ``1.5T`` (binary units) or a plain number."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)i?B?\s*", text, re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (for example 500M, 20G, 1.5T)")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``ls``, ``du`` and ``gc`` to ``parser``."""
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (
        ("ls", "one line per cached segment"),
        ("du", "how much the cache holds"),
        ("gc", "remove segments no listed project needs"),
    ):
        action = sub.add_parser(name, help=text)
        action.add_argument(
            "--cache",
            type=cache_location,
            default=os.environ.get("FARM_CACHE"),
            metavar="DIR|URL",
            help="the cache (default: .farm-cache/ beside the first --project)",
        )
        action.add_argument(
            "--project", action="append", default=[], type=Path, metavar="P", help="a farm.toml (repeatable)"
        )
        action.add_argument("--json", action="store_true", help="print JSON")
        if name == "gc":
            action.add_argument(
                "--keep-days", type=float, metavar="N", help="keep segments younger than N days"
            )
            action.add_argument("--max-size", type=size, metavar="S", help="trim only until at most S remain")
            action.add_argument("--dry-run", action="store_true", help="say what would go; remove nothing")
    return parser


@dataclass
class Entry:
    """One key's objects in the cache."""

    key: str
    objects: list[StoredObject] = field(default_factory=list)
    meta: dict[str, Any] | None = None

    @property
    def bytes(self) -> int:
        return sum(o.size for o in self.objects)

    @property
    def mtime(self) -> float:
        return max(o.mtime for o in self.objects)

    @property
    def committed(self) -> bool:
        return any(o.name.endswith(f"/{self.key}.json") for o in self.objects)


def entries(cache: Cache) -> dict[str, Entry]:
    """Every key with objects under ``segments/`` (committed or left by a crashed writer)."""
    found: dict[str, Entry] = {}
    for obj in cache.objects.list("segments/"):
        key = obj.name.rsplit("/", 1)[-1].lstrip(".").split(".", 1)[0]
        found.setdefault(key, Entry(key)).objects.append(obj)
    return found


def _open(args: argparse.Namespace) -> Cache:
    from farm.api import open_cache
    from farm.edit.project import load_project

    if args.cache is None and not args.project:
        raise MissingInputError("which cache? pass --cache DIR|URL or --project farm.toml")
    if args.cache is None:
        return open_cache(load_project(args.project[0]), None)
    scratch = Path(".farm-cache").resolve()
    return Cache.open(args.cache, scratch=scratch)


def referenced(projects: Iterable[Path], cache: Cache) -> set[str]:
    """Every segment key of every variant of ``projects``, for each encoder family."""
    from farm.api import open_cache
    from farm.edit.project import load_project
    from farm.planning.planner import plan_project

    keys: set[str] = set()
    for path in projects:
        project = load_project(path)
        # probes and looks: in the cache folder, or (an object store) the project's local one
        local = cache.root if cache.store is None else open_cache(project, None).ensure().root
        for family in FAMILIES:
            plan = plan_project(project, None, local, family=family)
            for name, err in plan.failed.items():
                raise type(err)(
                    f"cannot tell which segments variant {name!r} needs ({err}); nothing removed",
                    Where(path=str(path)),
                )
            keys.update(plan.jobs)
    return keys


def run(args: argparse.Namespace) -> int:
    """Perform ``farm cache ACTION``."""
    cache = _open(args)
    if cache.store is not None:
        cache.store.check()
    found = entries(cache)
    if args.action == "ls":
        return _ls(found, args.json)
    if args.action == "du":
        total = {
            "segments": sum(e.committed for e in found.values()),
            "bytes": sum(e.bytes for e in found.values()),
        }
        print(json.dumps(total) if args.json else f"{total['segments']} segments, {_human(total['bytes'])}")
        return 0
    return _gc(cache, found, args)


def _ls(found: dict[str, Entry], as_json: bool) -> int:
    now = time.time()
    rows = [(e.key, e.bytes, (now - e.mtime) / 86400, e.committed) for e in found.values()]
    rows.sort(key=lambda r: -r[2])
    if as_json:
        print(json.dumps([{"key": k, "bytes": b, "age_days": a, "committed": c} for k, b, a, c in rows]))
    elif rows:
        table = [("key", "bytes", "age (days)", "state")]
        table += [(k, str(b), f"{a:.2f}", "ok" if c else "partial") for k, b, a, c in rows]
        write_rows(table, sys.stdout)
    return 0


def _gc(cache: Cache, found: dict[str, Entry], args: argparse.Namespace) -> int:
    if not (args.project or args.keep_days is not None or args.max_size is not None):
        raise MissingInputError(
            "farm cache gc needs --project (keep what projects use), --keep-days or --max-size"
        )
    keep = referenced(args.project, cache)
    held = held_keys(cache.objects)
    now = time.time()
    total = sum(e.bytes for e in found.values())
    candidates = []
    for e in sorted(found.values(), key=lambda e: e.mtime):
        young = args.keep_days is not None and now - e.mtime < args.keep_days * 86400
        crashed = not e.committed and now - e.mtime > lease_seconds()
        if e.key in held or (e.key in keep and not crashed) or (young and not crashed):
            continue
        if not e.committed and not crashed:
            continue  # a writer may be uploading it right now
        candidates.append(e)
    removed = []
    for e in candidates:
        if args.max_size is not None and total <= args.max_size:
            break
        if not args.dry_run:
            for obj in sorted(e.objects, key=lambda o: not o.name.endswith(".json")):  # metadata first
                cache.objects.delete(obj.name)
        removed.append(e)
        total -= e.bytes
    freed = sum(e.bytes for e in removed)
    result = {
        "removed_segments": len(removed),
        "freed_bytes": freed,
        "remaining_bytes": total,
        "held": len(held & found.keys()),
        "dry_run": bool(args.dry_run),
    }
    if args.json:
        print(json.dumps(result))
    else:
        verb = "would remove" if args.dry_run else "removed"
        print(
            f"{verb} {len(removed)} segments ({_human(freed)}); {_human(total)} remain; "
            f"{result['held']} held by running renders"
        )
    return 0


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
