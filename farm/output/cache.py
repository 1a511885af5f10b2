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

from farm.errors import OutputError, Where


@dataclass(frozen=True)
class Cache:
    root: Path

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
        """A unique temporary name beside ``final`` (same filesystem: rename is atomic)."""
        final.parent.mkdir(parents=True, exist_ok=True)
        return final.with_name(f".{final.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")

    def segment_meta(self, key: str) -> dict | None:
        """The metadata of a complete cached segment, or None."""
        meta_path = self.segment_meta_path(key)
        media = self.segment_path(key)
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            return None
        try:
            if media.stat().st_size != meta.get("bytes"):
                return None
        except OSError:
            return None
        return meta

    def commit_segment(self, key: str, tmp_media: Path, meta: dict) -> None:
        """Move a finished segment into place, then its metadata (the commit point)."""
        final = self.segment_path(key)
        meta = {**meta, "bytes": tmp_media.stat().st_size}
        os.replace(tmp_media, final)
        tmp_meta = self.temp_path(self.segment_meta_path(key))
        tmp_meta.write_text(json.dumps(meta, indent=1, sort_keys=True))
        os.replace(tmp_meta, self.segment_meta_path(key))
