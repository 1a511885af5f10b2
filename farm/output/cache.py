"""The content-addressed segment cache: ``KEY.mp4`` + ``KEY.json``, written atomically.

A segment counts as present only when its metadata exists and agrees with the
file beside it: the metadata is renamed into place last, so a crash at any
moment leaves either a complete entry or none.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from farm.errors import OutputError, Where
from farm.output.atomic import atomic_write, temp_path


@dataclass(frozen=True)
class Cache:
    """The cache folder (shared by every node of a cluster)."""

    root: Path  # holds segments/, audio/, probe/, looks/ and tmp/

    def ensure(self) -> Cache:
        try:
            for sub in ("segments", "audio", "probe", "tmp"):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
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

    def segment_meta(self, key: str) -> dict[str, Any] | None:
        """The metadata of a complete cached segment, or None."""
        meta_path = self.segment_meta_path(key)
        media = self.segment_path(key)
        try:
            meta: dict[str, Any] = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            return None
        try:
            if media.stat().st_size != meta.get("bytes"):
                return None
        except OSError:
            return None
        return meta

    def commit_segment(self, key: str, tmp_media: Path, meta: dict[str, Any]) -> None:
        """Move a finished segment (written at :meth:`temp_path`) into place, then its metadata.

        The metadata is the commit point: :meth:`segment_meta` trusts a segment
        only when it exists and agrees with the media beside it.
        """
        meta = {**meta, "bytes": tmp_media.stat().st_size}
        os.replace(tmp_media, self.segment_path(key))
        with atomic_write(self.segment_meta_path(key), keep_suffix=True) as tmp_meta:
            tmp_meta.write_text(json.dumps(meta, indent=1, sort_keys=True))
