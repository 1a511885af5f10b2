"""The colour keys of ``farm.toml``: ``[media."GLOB"]`` overrides and the ``[colour]`` table.

Files rarely say that they hold camera log, and phones sometimes forget their
HDR tags; ``[media."phones/*"] transfer = "hlg"`` says it for every source whose
path (relative to the project folder, ``/``-separated) matches the glob.  Every
matching table applies, in file order; a later one wins key by key.  Values are
checked here, once: an unknown transfer or log encoding is an error (exit 65)
naming it and the allowed values.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from farm.errors import MissingInputError, ProjectError, Where

#: transfer names farm.toml accepts: display-referred SDR curves, the two HDR ones, camera log encodings
SDR_TRANSFERS = ("sdr", "bt709", "bt1886", "srgb", "bt2020")
HDR_TRANSFERS = ("pq", "hlg")
#: camera log encodings → the colour space of that name in OpenColorIO's studio config (curve and gamut)
LOG_ENCODINGS = {
    "arri-logc3": "ARRI LogC3 (EI800)",
    "arri-logc4": "ARRI LogC4",
    "sony-slog3": "S-Log3 S-Gamut3.Cine",
    "sony-slog3-sgamut3": "S-Log3 S-Gamut3",
    "panasonic-vlog": "V-Log V-Gamut",
    "canon-log2": "CanonLog2 CinemaGamut D55",
    "canon-log3": "CanonLog3 CinemaGamut D55",
    "apple-log": "Apple Log",
    "red-log3g10": "Log3G10 REDWideGamutRGB",
    "dji-dlog": "D-Log D-Gamut",
}
TRANSFERS = SDR_TRANSFERS + HDR_TRANSFERS + tuple(LOG_ENCODINGS)
PRIMARIES = ("bt709", "bt2020", "p3")
TONEMAPS = ("bt2390",)
#: how sources are rendered for the output: BT.2408 (SDR as it is, HDR mapped onto it) or ACES 2.0
RENDERINGS = ("bt2408", "aces")
DEFAULT_CONFIG = "ocio://studio-config-latest"
#: an output's transfer: BT.709 SDR, HDR10 (PQ, with its metadata) or HLG — both HDR ones BT.2020
OUTPUT_TRANSFERS = ("sdr", "pq", "hlg")

_MEDIA_KEYS = {"transfer", "primaries", "peak_nits", "ocio_colorspace"}
_COLOUR_KEYS = {"config", "tonemap", "sdr_white_nits", "rendering"}


@dataclass(frozen=True)
class MediaOverride:
    """What one ``[media."GLOB"]`` table says; ``None`` leaves the probed value."""

    pattern: str  # glob over the source path relative to the project folder
    transfer: str | None = None  # one of TRANSFERS
    primaries: str | None = None  # one of PRIMARIES (log encodings carry their own gamut)
    peak_nits: float | None = None  # the HDR source's peak, for the tone map (else its metadata)
    ocio_colorspace: str | None = None  # any scene-referred colour space of the OCIO config


@dataclass(frozen=True)
class ColourSettings:
    """The project's colour pipeline settings (``[colour]``) and its ``[media]`` overrides."""

    overrides: tuple[MediaOverride, ...] = ()
    config: str = DEFAULT_CONFIG  # OpenColorIO config: a file or an ocio:// URI
    tonemap: str = "bt2390"  # HDR → SDR operator (see README "Colour")
    sdr_white_nits: float = 203.0  # the HDR luminance that lands at SDR reference white (BT.2408)
    rendering: str = "bt2408"  # one of RENDERINGS (README "Colour": the ACES rendering)
    root: str = ""  # the project folder the [media] globs are relative to

    def for_source(self, path: str) -> dict[str, Any]:
        """The override keys that apply to the source at ``path`` (later tables win)."""
        p = Path(path)
        try:
            rel = p.resolve().relative_to(Path(self.root).resolve()).as_posix() if self.root else p.as_posix()
        except ValueError:
            rel = p.as_posix()
        out: dict[str, Any] = {}
        for o in self.overrides:
            if fnmatch.fnmatchcase(rel, o.pattern) or fnmatch.fnmatchcase(p.as_posix(), o.pattern):
                for key in ("transfer", "primaries", "peak_nits", "ocio_colorspace"):
                    if getattr(o, key) is not None:
                        out[key] = getattr(o, key)
        return out


def bad_value(key: str, value: Any, allowed: str, path: Path) -> ProjectError:
    """A ``farm.toml`` value outside what ``key`` allows (exit 65); shared with farm.edit.project."""
    return ProjectError(f"bad value {key} = {value!r}", Where(path=str(path)), hint=f"allowed: {allowed}")


def reject_unknown_keys(table: Mapping[str, Any], allowed: set[str], where: str, path: Path) -> None:
    """Exit 65 on a key ``table`` (``[where]``) does not allow; shared with farm.edit.project."""
    for key in table:
        if key not in allowed:
            raise ProjectError(
                f"unknown key {where}{key} = {table[key]!r}",
                Where(path=str(path)),
                hint=f"allowed keys in [{where.rstrip('.') or 'top level'}]: {', '.join(sorted(allowed))}",
            )


def _peak(value: Any, key: str, path: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 100 <= value <= 10000:
        raise bad_value(key, value, "a peak luminance in cd/m² from 100 to 10000", path)
    return float(value)


def parse_colour(raw: Mapping[str, Any], root: Path, path: Path) -> ColourSettings:
    """``[media]`` and ``[colour]`` of a parsed farm.toml (both optional)."""
    media = raw.get("media", {})
    colour = raw.get("colour", {})
    for name, table in (("media", media), ("colour", colour)):
        if not isinstance(table, dict):
            raise bad_value(name, table, f"a table [{name}]", path)
    overrides = []
    for pattern, table in media.items():
        prefix = f'media."{pattern}".'
        if not isinstance(table, dict):
            raise bad_value(
                prefix.rstrip("."), table, 'a table such as [media."phones/*"] with transfer = "hlg"', path
            )
        reject_unknown_keys(table, _MEDIA_KEYS, prefix, path)
        values: dict[str, Any] = {}
        if "transfer" in table:
            if table["transfer"] not in TRANSFERS:
                raise bad_value(prefix + "transfer", table["transfer"], " | ".join(TRANSFERS), path)
            values["transfer"] = table["transfer"]
        if "primaries" in table:
            if table["primaries"] not in PRIMARIES:
                raise bad_value(prefix + "primaries", table["primaries"], " | ".join(PRIMARIES), path)
            values["primaries"] = table["primaries"]
        if "peak_nits" in table:
            values["peak_nits"] = _peak(table["peak_nits"], prefix + "peak_nits", path)
        if "ocio_colorspace" in table:
            v = table["ocio_colorspace"]
            if not isinstance(v, str) or not v:
                raise bad_value(
                    prefix + "ocio_colorspace", v, "the name of a colour space in [colour] config", path
                )
            values["ocio_colorspace"] = v
        overrides.append(MediaOverride(pattern=str(pattern), **values))
    reject_unknown_keys(colour, _COLOUR_KEYS, "colour.", path)
    settings: dict[str, Any] = {}
    if "config" in colour:
        v = colour["config"]
        if not isinstance(v, str) or not v:
            raise bad_value("colour.config", v, "an OpenColorIO config file or an ocio:// URI", path)
        settings["config"] = v if v.startswith("ocio://") else str((root / Path(v).expanduser()).resolve())
        if not v.startswith("ocio://") and not Path(settings["config"]).is_file():
            raise MissingInputError(
                f"the OpenColorIO config {settings['config']} cannot be read: no such file",
                Where(path=settings["config"]),
                hint='check [colour] config in farm.toml, or remove it for "ocio://studio-config-latest"',
            )
    if "tonemap" in colour:
        if colour["tonemap"] not in TONEMAPS:
            raise bad_value("colour.tonemap", colour["tonemap"], " | ".join(TONEMAPS), path)
        settings["tonemap"] = colour["tonemap"]
    if "sdr_white_nits" in colour:
        v = colour["sdr_white_nits"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 50 <= v <= 1000:
            raise bad_value(
                "colour.sdr_white_nits", v, "a luminance in cd/m² from 50 to 1000 (BT.2408: 203)", path
            )
        settings["sdr_white_nits"] = float(v)
    if "rendering" in colour:
        if colour["rendering"] not in RENDERINGS:
            raise bad_value("colour.rendering", colour["rendering"], " | ".join(RENDERINGS), path)
        settings["rendering"] = colour["rendering"]
    return ColourSettings(overrides=tuple(overrides), root=str(root), **settings)


def output_hdr(table: Mapping[str, Any], prefix: str, path: Path) -> dict[str, Any]:
    """``transfer``, ``peak_nits``, ``max_cll`` and ``max_fall`` of an ``[output]`` table."""
    values: dict[str, Any] = {}
    if "transfer" in table:
        if table["transfer"] not in OUTPUT_TRANSFERS:
            raise bad_value(prefix + "transfer", table["transfer"], " | ".join(OUTPUT_TRANSFERS), path)
        values["transfer"] = table["transfer"]
    if "peak_nits" in table:
        v = table["peak_nits"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 400 <= v <= 10000:
            raise bad_value(prefix + "peak_nits", v, "a mastering peak in cd/m² from 400 to 10000", path)
        values["peak_nits"] = float(v)
    for key in ("max_cll", "max_fall"):
        if key in table:
            v = table[key]
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 10000:
                raise bad_value(prefix + key, v, "an integer in cd/m² from 0 to 10000 (0: derived)", path)
            values[key] = v
    return values


def check_hdr(
    transfer: str, codec: str, depth: int, max_cll: float, max_fall: int, prefix: str, path: Path
) -> None:
    """HDR outputs are 10-bit; PQ (whose metadata only HEVC carries here) is HEVC Main10."""
    if transfer == "sdr":
        return
    if depth != 10:
        raise bad_value(
            prefix + "transfer",
            transfer,
            f'"sdr" with a {depth}-bit output; an HDR output needs codec = "hevc" with '
            "bit_depth = 10, or (hlg) a mezzanine codec",
            path,
        )
    if transfer == "pq" and codec != "hevc":
        raise bad_value(
            prefix + "transfer",
            transfer,
            f'"sdr" or "hlg" with codec "{codec}"; "pq" (HDR10) with codec "hevc" and bit_depth = 10, '
            "which carries the mastering display and content light level metadata",
            path,
        )
    if max_fall > max_cll:
        raise bad_value(prefix + "max_fall", max_fall, "at most max_cll (the brightest pixel)", path)
