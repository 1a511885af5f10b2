"""The content-addressed segment cache: ``KEY.mp4`` + ``KEY.json``, written atomically.

A segment counts as present only when its metadata exists, is a JSON object,
and agrees with the file beside it: same byte count and same content hash
(``"content_hash": "sha256:HEX"`` in ``KEY.json``, computed when the segment is
committed and checked each time it is reused).  The metadata is written last,
so a crash at any moment leaves either a complete entry or none; damage done
later (a flipped byte, a zeroed block) is caught by the hash, and the entry is
rendered again.

The segments live in a folder every node sees, or in an object store
(:mod:`farm.output.store`). With a store, ``root`` is a local scratch folder:
workers encode there and upload; the driver downloads what it stitches there.
Probes, looks and audio always live under ``root``.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from farm.errors import MissingInputError, OutputError, Where
from farm.output import lease
from farm.output.atomic import atomic_write, temp_path
from farm.output.lifeline import check_driver
from farm.output.store import PosixStore, S3Store, open_store, parse_location
from farm.planning.units import SegmentJob

#: the hash of a segment's bytes; SHA-256 runs at ~1.5 GB/s with the CPU's SHA instructions,
#: needs nothing outside the standard library, and is a checksum object stores carry natively
HASH_NAME = "sha256"


def content_hash(path: Path) -> str:
    """``"sha256:HEX"`` of a file's bytes."""
    digest = hashlib.new(HASH_NAME)
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return f"{HASH_NAME}:{digest.hexdigest()}"


def is_no_space(exc: BaseException) -> bool:
    """Whether ``exc`` says a filesystem is full (or a quota is reached)."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def no_space_error(
    folder: Path, what: str, needed: int | None = None, where: Where | None = None
) -> OutputError:
    """Exit 73: the filesystem of ``folder`` is full; says how much is free and (if known) needed."""
    try:
        free = shutil.disk_usage(folder).free
        left = f"{free / 1e6:.1f} MB free"
    except OSError:
        left = "free space unknown"
    need = f", at least {needed / 1e6:.1f} MB needed" if needed else ""
    base = where or Where()
    return OutputError(
        f"no space left to write {what} ({left}{need})",
        Where(variant=base.variant, clip=base.clip, path=str(folder), frames=base.frames),
        hint="free space there, or point --cache/--out at a larger disk",
    )


def scratch_dir() -> Path:
    """A worker's local scratch for an object-store cache (``FARM_SCRATCH``, else the temp folder)."""
    return Path(os.environ.get("FARM_SCRATCH") or tempfile.gettempdir()) / "farm-scratch"


def _meta_object(data: bytes | None) -> dict[str, Any] | None:
    """Parsed metadata, or None when absent or not a JSON object."""
    if data is None:
        return None
    try:
        meta = json.loads(data)
    except ValueError:
        return None
    return meta if isinstance(meta, dict) else None


@dataclass(frozen=True)
class Cache:
    """The cache: a folder shared by every node, or a local folder in front of an object store."""

    root: Path  # holds segments/ (POSIX, or downloaded copies), audio/, probe/, looks/ and tmp/
    store: S3Store | None = None  # where segments live when the cache is an object store

    @classmethod
    def open(cls, location: str | Path, scratch: Path | None = None) -> Cache:
        """The cache at ``location`` (a folder, ``file://`` or ``s3://`` URL); ``scratch`` for a store."""
        scheme, rest = parse_location(str(location))
        if scheme == "file":
            return cls(Path(rest))
        return cls(scratch or scratch_dir(), open_store(str(location)))

    @property
    def location(self) -> str:
        """What a worker passes to :meth:`open` to reach the same segments."""
        return self.store.url if self.store is not None else str(self.root)

    def ensure(self) -> Cache:
        try:
            for sub in ("segments", "audio", "probe", "tmp"):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            if is_no_space(exc):
                raise no_space_error(self.root, "the cache") from None
            raise OutputError(
                f"cannot create the cache ({exc.strerror})", Where(path=str(self.root))
            ) from None
        return self

    @property
    def objects(self) -> S3Store | PosixStore:
        """The segments' store, seen through one set of calls (listing, leases, gc)."""
        return self.store if self.store is not None else PosixStore(self.root)

    def claim(self, key: str, poll: float = 0.25) -> dict[str, Any] | None:
        """Take the lease on encoding ``key``, or wait for the writer holding it and return its entry.

        None: the caller holds the lease (and :meth:`release` s it). Two renders
        on one cache never encode one key twice; the loser reuses the winner's.
        """
        objects = self.objects
        while True:
            if lease.take_key(objects, key):
                meta = self.segment_meta(key)  # committed between our look and our lease
                if meta is None:
                    return None
                lease.release_key(objects, key)
                return meta
            time.sleep(poll)
            meta = self.segment_meta(key)
            if meta is not None:
                return meta

    def release(self, key: str) -> None:
        """Give up the lease :meth:`claim` took."""
        lease.release_key(self.objects, key)

    @staticmethod
    def segment_name(key: str, ext: str = "mp4") -> str:
        """A segment's name relative to the cache (also its object name in a store)."""
        return f"segments/{key[:2]}/{key}.{ext}"

    def segment_path(self, key: str) -> Path:
        return self.root / self.segment_name(key)

    def segment_meta_path(self, key: str) -> Path:
        return self.root / self.segment_name(key, "json")

    def audio_path(self, key: str) -> Path:
        return self.root / "audio" / f"{key}.m4a"

    def temp_path(self, final: Path) -> Path:
        """A unique temporary name beside ``final``, its folder made (see :mod:`farm.output.atomic`).

        The name keeps ``final``'s extension: what a killed worker leaves behind
        still looks like the kind of file it was, and is never named ``KEY.mp4``.
        """
        final.parent.mkdir(parents=True, exist_ok=True)
        return temp_path(final, keep_suffix=True)

    def segment_meta(self, key: str, on_damage: Callable[[str], None] | None = None) -> dict[str, Any] | None:
        """The metadata of a complete, undamaged cached segment, or None.

        An entry whose bytes no longer match its content hash counts as absent
        (it is rendered again); ``on_damage`` is told why, naming the key.
        Metadata that is not a JSON object, or has no hash, counts as absent.
        In an object store the hash is checked when the driver downloads the
        segment (:meth:`local_segment`).
        """
        if self.store is not None:
            meta = _meta_object(self.store.get_bytes(self.segment_name(key, "json")))
            return meta if meta is not None and isinstance(meta.get("content_hash"), str) else None
        media = self.segment_path(key)
        try:
            meta = _meta_object(self.segment_meta_path(key).read_bytes())
        except OSError:
            return None
        if meta is None or not isinstance(meta.get("content_hash"), str):
            return None
        try:
            size = media.stat().st_size
            if size != meta.get("bytes"):
                problem = f"holds {size} bytes, its metadata says {meta.get('bytes')}"
            elif content_hash(media) != meta["content_hash"]:
                problem = "its bytes do not match its content hash"
            else:
                return meta
        except OSError as exc:
            problem = f"cannot be read ({exc.strerror})"
        if on_damage is not None:
            on_damage(f"cached segment {key} ({media}) {problem}: it is rendered again")
        return None

    def commit_segment(self, key: str, tmp_media: Path, meta: dict[str, Any]) -> dict[str, Any]:
        """Move a finished segment (written at :meth:`temp_path`) into place, then its metadata.

        The metadata is the commit point: :meth:`segment_meta` trusts a segment
        only when it exists and agrees with the media beside it. In a store the
        media is uploaded under a name of its own and the metadata created only
        if absent: when another writer committed the key first, its entry
        stands, ours is removed, and its metadata is returned.
        """
        meta = {**meta, "bytes": tmp_media.stat().st_size, "content_hash": content_hash(tmp_media)}
        check_driver()  # a worker whose driver died commits nothing
        if self.store is None:
            os.replace(tmp_media, self.segment_path(key))
            with atomic_write(self.segment_meta_path(key), keep_suffix=True) as tmp_meta:
                tmp_meta.write_text(json.dumps(meta, indent=1, sort_keys=True))
            return meta
        obj = temp_path(Path(self.segment_name(key)), keep_suffix=True).as_posix()
        meta["object"] = obj
        self.store.put_file(obj, tmp_media)
        tmp_media.unlink()
        data = json.dumps(meta, indent=1, sort_keys=True).encode()
        if self.store.create(self.segment_name(key, "json"), data):
            return meta
        self.store.delete(obj)  # another writer committed this key first: its entry stands
        theirs = self.segment_meta(key)
        if theirs is None:
            raise OutputError(f"segment {key[:12]} vanished from the cache while committing it")
        return theirs

    def local_segment(self, key: str) -> Path:
        """A local file holding the cached segment ``key`` (downloaded from a store when needed)."""
        if self.store is None:
            path = self.segment_path(key)
            if not path.is_file():
                raise MissingInputError(
                    f"segment {key[:12]} is not in the cache folder",
                    Where(path=str(path)),
                    hint="on a cluster the cache folder must be one every node sees, or s3://BUCKET/PREFIX",
                )
            return path
        meta = self.segment_meta(key)
        if meta is None:
            raise MissingInputError(
                f"segment {key[:12]} is not in the cache",
                Where(path=f"{self.location}/{self.segment_name(key)}"),
            )
        dest = self.segment_path(key)
        if dest.is_file() and dest.stat().st_size == meta.get("bytes"):
            return dest
        tmp = self.temp_path(dest)
        try:
            self.store.download(str(meta.get("object", self.segment_name(key))), tmp)
            if tmp.stat().st_size != meta.get("bytes") or content_hash(tmp) != meta.get("content_hash"):
                raise OutputError(
                    f"segment {key[:12]} in the cache does not match its metadata "
                    f"({tmp.stat().st_size} bytes, {meta.get('bytes')} expected, or another content hash)",
                    Where(path=f"{self.location}/{meta.get('object')}"),
                    hint=f"delete {self.segment_name(key, 'json')} from the store and render again",
                )
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        return dest

    def share_lut(self, path: str) -> None:
        """Put a baked look where workers of an object-store cache find it (no-op for a folder)."""
        if self.store is None:
            return
        name = f"looks/{Path(path).name}"
        if self.store.get_bytes(name) is None:
            self.store.put_file(name, Path(path))

    def with_local_lut(self, job: SegmentJob) -> SegmentJob:
        """``job`` with its look at a local path (fetched from the store when this node lacks it)."""
        if self.store is None or job.lut_path is None or Path(job.lut_path).is_file():
            return job
        local = self.root / "looks" / Path(job.lut_path).name
        if not local.is_file():
            local.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.temp_path(local)
            try:
                self.store.download(f"looks/{local.name}", tmp)
                os.replace(tmp, local)
            finally:
                tmp.unlink(missing_ok=True)
        return dataclasses.replace(job, lut_path=str(local))
