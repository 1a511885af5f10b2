"""The content-addressed segment cache: ``KEY.mp4`` + ``KEY.json``, written atomically.

A segment counts as present only when its metadata exists, is a JSON object,
and agrees with the file beside it: same byte count and same content hash
(``"content_hash": "sha256:HEX"`` in ``KEY.json``, computed when the segment is
committed and checked each time it is reused).  The metadata is renamed into
place last, so a crash at any moment leaves either a complete entry or none;
damage done later (a flipped byte, a zeroed block) is caught by the hash, and
the entry is rendered again.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from farm.errors import OutputError, Where
from farm.output.atomic import atomic_write, temp_path
from farm.output.lifeline import check_driver

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


@dataclass(frozen=True)
class Cache:
    """The cache folder (shared by every node of a cluster)."""

    root: Path  # holds segments/, audio/, probe/, looks/ and tmp/

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

    def segment_path(self, key: str) -> Path:
        return self.root / "segments" / key[:2] / f"{key}.mp4"

    def segment_meta_path(self, key: str) -> Path:
        return self.root / "segments" / key[:2] / f"{key}.json"

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
        """
        meta_path = self.segment_meta_path(key)
        media = self.segment_path(key)
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(meta, dict) or not isinstance(meta.get("content_hash"), str):
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

    def commit_segment(self, key: str, tmp_media: Path, meta: dict[str, Any]) -> None:
        """Move a finished segment (written at :meth:`temp_path`) into place, then its metadata.

        The metadata is the commit point: :meth:`segment_meta` trusts a segment
        only when it exists and agrees with the media beside it.
        """
        meta = {**meta, "bytes": tmp_media.stat().st_size, "content_hash": content_hash(tmp_media)}
        check_driver()
        os.replace(tmp_media, self.segment_path(key))
        with atomic_write(self.segment_meta_path(key), keep_suffix=True) as tmp_meta:
            tmp_meta.write_text(json.dumps(meta, indent=1, sort_keys=True))
