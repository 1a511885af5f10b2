"""Content keys: a hash of everything that decides a segment's or an audio track's bytes."""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any

import numpy as np

from farm.media.probe import codec_library_versions
from farm.planning.frameruns import FrameRuns

#: Bump when the bytes a backend writes for the same inputs change, or when a key's form changes
#: (3: a clip segment's frames are hashed as their exact int64 list, not as JSON runs; 4: the CPU
#: backend reads 4:2:0 chroma where the source says it sits and writes it left-sited; 5: a clip
#: segment's frames are hashed as their greedy runs ``(start, step, count)``, int64, not frame by frame).
KEY_VERSION = 5


def _canonical(value: Any) -> Any:
    kind = type(value)
    if kind is int or kind is str or kind is float or kind is bool or value is None:
        return value
    if kind is Fraction:
        return f"{value.numerator}/{value.denominator}"
    if kind is list or kind is tuple:
        return [v if _plain(v) else _canonical(v) for v in value]
    if isinstance(value, (str, int, float)):
        return value
    if isinstance(value, Fraction):
        return f"{value.numerator}/{value.denominator}"
    if is_dataclass(value) and not isinstance(value, type):
        try:
            return _canonical_unit(value)  # type: ignore[arg-type]  # frozen ones are hashable
        except TypeError:  # a mutable dataclass: not hashable, canonicalised every time
            return _canonical(asdict(value))
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [v if _plain(v) else _canonical(v) for v in value]
    return value


def _plain(value: Any) -> bool:
    """Already canonical: an int or str, or a list of ints (a run of frames)."""
    kind = type(value)
    return kind is int or kind is str or (kind is list and all(type(x) is int for x in value))


@lru_cache(maxsize=4096)
def _canonical_unit(value: Any) -> Any:
    """A frozen dataclass's canonical form, once per distinct value (encode specs and geometries
    repeat across thousands of keys).  Callers only serialise the result, never change it."""
    return _canonical(asdict(value))


@lru_cache(maxsize=1)
def _canonical_versions() -> Any:
    return _canonical(codec_library_versions())


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


def _document(kind: str, parts: dict[str, Any]) -> bytes:
    doc = {str(k): _canonical(v) for k, v in parts.items()}
    doc.update(kind=kind, v=KEY_VERSION, enc=_canonical_versions())
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def canonical_key(kind: str, **parts: Any) -> str:
    """:func:`content_key` for parts already in canonical form (JSON values, Fractions as
    ``"num/den"`` strings): the same key, without walking the parts again."""
    doc = dict(parts)
    doc.update(kind=kind, v=KEY_VERSION, enc=_canonical_versions())
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:40]


def fraction_text(value: Any) -> Any:
    """A Fraction's canonical form in a key (``"num/den"``); anything else canonicalised as usual."""
    if type(value) is Fraction:
        num, den = value.as_integer_ratio()  # one call (numerator and denominator are two properties)
        return f"{num}/{den}"
    return _canonical(value)


def content_key(kind: str, **parts: Any) -> str:
    """A stable 40-hex-digit key for ``parts`` (dataclasses, Fractions, lists, scalars).

    The versions of the codec libraries join every key: a new libx264 means new keys.
    """
    return hashlib.sha256(_document(kind, parts)).hexdigest()[:40]


class FramesKey:
    """Keys of segments that differ only in their source frames: everything else hashed once.

    ``FramesKey(kind, **parts).key(frames)`` hashes the canonical JSON of ``parts`` (as
    :func:`content_key` does), a separator, then the frame list's greedy runs
    (:class:`~farm.planning.frameruns.FrameRuns`: ``start, step, count`` per run) as
    little-endian int64 — one hash update per segment, its size the number of runs, not of
    frames.  Equal lists have equal greedy runs, so equal frames give equal keys however the
    list was described (a clip's rule, an array, runs).
    """

    def __init__(self, kind: str, **parts: Any) -> None:
        if "frames" in parts:
            raise ValueError("the frames are given to key(), not to the prefix")
        self._prefix = hashlib.sha256(_document(kind, parts) + b"\nframes:runs:int64le\n")
        #: names everything but the frames: segments with equal prefixes differ only in their frames
        self.prefix = self._prefix.hexdigest()[:40]

    def key(self, frames: FrameRuns | np.ndarray[Any, Any] | Sequence[int]) -> str:
        """The key of a segment showing ``frames`` (source frame per output frame, in order)."""
        return self.key_runs(FrameRuns.of(frames).flat)

    def key_runs(self, flat: Sequence[int]) -> str:
        """:meth:`key` of the list whose greedy runs, flattened, are ``flat``."""
        h = self._prefix.copy()
        h.update(struct.pack(f"<{len(flat)}q", *flat))
        return h.hexdigest()[:40]


def file_digest(path: str) -> str:
    """A hash of a whole file's bytes (32 hex digits), for inputs small enough to read: LUTs, references."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:32]
