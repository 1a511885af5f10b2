"""Generators: clips whose picture an editor's application makes (black, colour, bars, slugs).

OTIO carries them as a ``GeneratorReference`` with a ``generator_kind``; each
adapter spells the kinds its own way (an EDL's ``BL`` becomes ``black``, FCP7
XML's slugs are all ``Slug`` and differ by clip name).  :func:`classify` maps
them to what farm renders:

* ``black``: EDL black, ``Black Video``, a plain ``Slug`` (FCP's slug is black
  with silence);
* ``transparent``: ``Transparent Video`` (nothing; on the only track, black);
* ``bars``: SMPTE bars (``SMPTEBars``, ``HD Bars and Tone``), ARIB STD-B28-like
  75 % bars drawn by farm;
* ``colour``: a solid colour (``SolidColor``/``Color`` with a ``color``
  parameter as ``#RRGGBB`` or ``[r, g, b]`` in 0..1, or FCP7 XML's ``fillcolor``,
  which the adapter leaves in the reference's metadata: :func:`fcp_fill_colour`).

A kind farm does not know is an error (exit 65) naming it.  A kind farm knows
but cannot draw faithfully (a counting leader, a title, a colour matte whose
colour the file does not carry) renders black with a warning naming the clip.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: the kinds (lower case) that are black
_BLACK = {"black", "bl", "blk", "black video", "blackvideo", "slug"}
_BARS = {"smptebars", "smpte bars", "bars", "colorbars", "color bars"}
_COLOUR = {"solidcolor", "solid color", "solidcolour", "color", "colour", "colormatte", "color matte"}
#: kinds that are known but not drawn: rendered black with a warning
_APPROXIMATED = {"graphicandtype", "countingleader", "counting leader", "title", "text"}


@dataclass(frozen=True)
class Fill:
    """What a generator clip shows: ``kind`` is black | transparent | bars | colour."""

    kind: str
    rgb: tuple[int, int, int] = (0, 0, 0)  # 8-bit full-range sRGB/BT.709 for ``colour``
    approximation: str | None = None  # set when the picture is not what the editor saw: why

    def __post_init__(self) -> None:
        if self.kind not in ("black", "transparent", "bars", "colour"):
            raise ValueError(f"fill kind must be black, transparent, bars or colour, not {self.kind!r}")
        if any(not 0 <= c <= 255 for c in self.rgb):
            raise ValueError(f"colour components lie in 0..255, not {self.rgb}")

    @property
    def token(self) -> str:
        """A short, stable description (part of segment keys)."""
        if self.kind == "colour":
            r, g, b = self.rgb
            return f"colour:{r:02x}{g:02x}{b:02x}"
        return self.kind


class UnknownGenerator(ValueError):
    """A generator kind farm does not know."""


def _parse_colour(value: Any) -> tuple[int, int, int] | None:
    if isinstance(value, str):
        s = value.strip().lstrip("#")
        if len(s) == 6:
            try:
                return (int(s[0:2], 16), int(s[2:4], 16), int(s[4:6], 16))
            except ValueError:
                return None
        return None
    try:  # a list, a tuple or OTIO's AnyVector of three numbers in 0..1
        comps = [float(v) for v in list(value)[:3]]
    except (TypeError, ValueError):
        return None
    if len(comps) == 3:
        if all(0.0 <= c <= 1.0 for c in comps):
            return (round(comps[0] * 255), round(comps[1] * 255), round(comps[2] * 255))
    return None


def fcp_fill_colour(metadata: Mapping[str, Any]) -> str | None:
    """A colour matte's colour as FCP7 XML carries it (the generator's ``fillcolor`` parameter,
    8-bit red/green/blue in the reference's ``fcp_xml`` metadata), as ``#rrggbb``; None without one."""
    fcp: Any = metadata.get("fcp_xml")
    if not hasattr(fcp, "get"):
        return None
    params = fcp.get("parameter")
    for p in params if isinstance(params, list) or type(params).__name__ == "AnyVector" else [params]:
        if hasattr(p, "get") and p.get("parameterid") == "fillcolor" and hasattr(p.get("value"), "get"):
            v = p["value"]
            try:
                rgb = [int(v[c]) for c in ("red", "green", "blue")]
            except (KeyError, TypeError, ValueError):
                return None
            if all(0 <= c <= 255 for c in rgb):
                return "#{:02x}{:02x}{:02x}".format(*rgb)
    return None


def classify(kind: str, clip_name: str, parameters: Mapping[str, Any]) -> Fill:
    """What a generator of ``kind`` (named ``clip_name``) renders; raises :class:`UnknownGenerator`."""
    k = kind.strip().lower()
    name = clip_name.strip().lower()
    if k == "slug":  # FCP7 XML: every built-in generator is a slug; the name says which
        if "transparent" in name:
            return Fill("transparent")
        if "bars" in name:
            return Fill("bars")
        if "leader" in name:
            return Fill("black", approximation="a counting leader is drawn as black")
        if name in ("", "slug", "black video", "black") or "black" in name:
            return Fill("black")
        return Fill("black", approximation=f"slug {clip_name!r} is drawn as black")
    if k in _BLACK:
        return Fill("black")
    if k in _BARS:
        return Fill("bars")
    if k in _COLOUR:
        for key in ("color", "colour", "rgb", "value"):
            if key in parameters:
                rgb = _parse_colour(parameters[key])
                if rgb is not None:
                    return Fill("colour", rgb)
        return Fill("black", approximation="the file does not carry the colour matte's colour")
    if k in _APPROXIMATED:
        return Fill("black", approximation=f"a {kind} generator (text or graphics) cannot be drawn")
    raise UnknownGenerator(kind)
