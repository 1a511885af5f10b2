"""Content keys: a hash of everything that decides a segment's or an audio track's bytes."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, is_dataclass
from fractions import Fraction
from typing import Any

from farm.media.probe import codec_library_versions

#: Bump when the bytes a backend writes for the same inputs change.
KEY_VERSION = 2


def _canonical(value: Any) -> Any:
    if isinstance(value, Fraction):
        return f"{value.numerator}/{value.denominator}"
    if is_dataclass(value) and not isinstance(value, type):
        return _canonical(asdict(value))
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value


def runs(frames: tuple[int, ...] | list[int]) -> list[list[int]]:
    """Run-length form of a frame list: ``[[first, step, count], ...]`` — compact and exact."""
    out: list[list[int]] = []
    i = 0
    n = len(frames)
    while i < n:
        if i + 1 < n:
            step = frames[i + 1] - frames[i]
            j = i + 1
            while j + 1 < n and frames[j + 1] - frames[j] == step:
                j += 1
            out.append([frames[i], step, j - i + 1])
            i = j + 1
        else:
            out.append([frames[i], 0, 1])
            i += 1
    return out


def content_key(kind: str, **parts: Any) -> str:
    """A stable 40-hex-digit key for ``parts`` (dataclasses, Fractions, lists, scalars).

    The versions of the codec libraries join every key: a new libx264 means new keys.
    """
    doc = {"kind": kind, "v": KEY_VERSION, "enc": codec_library_versions(), **parts}
    blob = json.dumps(_canonical(doc), sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:40]


def file_digest(path: str) -> str:
    """A hash of a whole file's bytes (32 hex digits), for inputs small enough to read: LUTs, references."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:32]
