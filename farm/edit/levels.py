"""Clip audio levels the cut carries, read from the effects NLEs export them as.

An audio clip's level is a gain farm applies when it is a single value:

* DaVinci Resolve (``Resolve_OTIO`` metadata): "Fairlight Clip Volume and Fades"
  with a ``volume`` parameter in dB; without one it is 0 dB;
* Final Cut Pro 7 XML (``fcp_xml`` metadata): the "audiolevels" filter's
  ``level`` parameter, a linear gain (1 is 0 dB).

Effects that change nothing are passed over: one the editor switched off
(``Enabled: false``), a Resolve pan or pitch without parameters (centred,
unshifted).  A level that changes over time (key frames) and every other
audio effect are not applied: the caller warns, naming the clip and frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Level:
    """What one effect does to a clip's audio level: ``gain`` (linear), or ``why`` it is not applied."""

    gain: float = 1.0
    why: str | None = None


NEUTRAL = Level()
_NEUTRAL_WHEN_EMPTY = ("Fairlight Clip Pan", "Fairlight Clip Pitch")


def _plain(value: Any) -> Any:
    """OTIO's AnyDictionary / AnyVector as Python dicts and lists."""
    if hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or type(value).__name__ == "AnyVector":
        return [_plain(v) for v in value]
    return value


def level_of(effect: Any) -> Level | None:
    """The effect as a level (None: not an audio level effect farm knows)."""
    meta = _plain(effect.metadata)
    resolve = meta.get("Resolve_OTIO")
    if isinstance(resolve, dict) and "Effect Name" in resolve:
        if resolve.get("Enabled") is False:
            return NEUTRAL
        name = resolve["Effect Name"]
        params = resolve.get("Parameters") or []
        if name in _NEUTRAL_WHEN_EMPTY and not params:
            return NEUTRAL
        if name == "Fairlight Clip Volume and Fades":
            volume = [p for p in params if p.get("Parameter ID") == "volume"]
            if not volume:
                return NEUTRAL
            if volume[0].get("Key Frames"):
                return Level(why="its volume changes over time (key frames)")
            return Level(gain=10 ** (float(volume[0]["Parameter Value"]) / 20))
        return None
    fcp = meta.get("fcp_xml")
    if isinstance(fcp, dict) and str(fcp.get("effectid", "")).lower() == "audiolevels":
        params = fcp.get("parameter")
        params = params if isinstance(params, list) else [params]
        level = [p for p in params if isinstance(p, dict) and p.get("parameterid") == "level"]
        if not level:
            return NEUTRAL
        if level[0].get("keyframe"):
            return Level(why="its level changes over time (key frames)")
        value = float(level[0].get("value", 1))
        return Level(gain=value) if math.isfinite(value) and value >= 0 else Level(why=f"level {value}")
    return None
