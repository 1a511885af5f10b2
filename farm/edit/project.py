"""The project file, ``farm.toml``: load, validate, resolve paths.

The file's shape is a contract (see README).  Everything is checked here, once,
with messages that name the key, the bad value and what is allowed; the rest of
farm trusts what this module returns.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from farm.edit.colour_table import (
    ColourSettings,
    bad_value,
    check_hdr,
    output_hdr,
    parse_colour,
    reject_unknown_keys,
)
from farm.edit.timing import parse_rate
from farm.errors import MissingInputError, ProjectError, Where

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: prores: ProRes 422 HQ (10-bit 4:2:2); prores4444: ProRes 4444 (10-bit 4:4:4); dnxhr: DNxHR HQX
#: (10-bit 4:2:2) — the three mezzanines, written in a .mov
CODECS = ("h264", "hevc", "prores", "prores4444", "dnxhr")
MOV_CODECS = ("prores", "prores4444", "dnxhr")
FITS = ("fit", "fill", "stretch")
PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)
LOOK_METHODS = ("mkl", "reinhard", "histogram")
#: a variant name is a file name on every system: ASCII letters, digits, "_", "-" and "." (not first)
VARIANT_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
VARIANT_NAME_RULE = "1-64 characters from A-Z a-z 0-9 _ - . (not starting with . or -)"


@dataclass(frozen=True)
class OutputSpec:
    """What every frame of a variant's output looks like."""

    width: int = 1920
    height: int = 1080
    fps: Fraction = Fraction(24)
    codec: str = "h264"  # one of CODECS
    bit_depth: int = 8  # 8, or 10 (hevc: Main10; the mezzanines are always 10)
    transfer: str = "sdr"  # sdr (BT.709) | pq (HDR10, BT.2020) | hlg (BT.2020, ARIB STD-B67)
    peak_nits: float = 1000.0  # pq: the mastering display's peak, where highlights roll off to
    max_cll: int = 0  # pq: MaxCLL in cd/m² for the metadata; 0: the peak (see README "HDR outputs")
    max_fall: int = 0  # pq: MaxFALL in cd/m²; 0: unknown, as HDR10 allows
    quality: int = 20  # constant quality: crf for x264/x265
    preset: str = "veryfast"  # x264 preset name
    fit: str = "fit"  # fit (letter/pillarbox) | fill (crop) | stretch

    @property
    def fps_text(self) -> str:
        f = self.fps
        return str(f.numerator) if f.denominator == 1 else f"{f.numerator}/{f.denominator}"


@dataclass(frozen=True)
class LookSpec:
    """The look applied to every clip: an optional colour match, then an optional creative LUT."""

    lut: Path | None = None  # creative .cube, applied after the match
    reference: Path | None = None  # clip or still to match every source clip to
    method: str = "mkl"
    strength: float = 1.0
    ocio_look: str | None = None  # an OpenColorIO look by name, applied after the creative .cube
    ocio_config: str | None = None  # the config that holds it (a file or ocio:// URI); None: [colour] config
    # the colour pipeline ([colour] and [media] overrides): project-wide, carried with the look
    colour: ColourSettings = field(default_factory=ColourSettings)


@dataclass(frozen=True)
class VariantSpec:
    name: str
    timeline: Path
    output: OutputSpec
    look: LookSpec
    timeline_name: str | None = None  # which timeline of a file that holds several
    timeline_rate: Fraction | None = None  # rate of a cut format without one (EDL); None: output fps


@dataclass(frozen=True)
class Project:
    path: Path  # the farm.toml
    root: Path  # its folder; media and relative paths resolve against it
    variants: dict[str, VariantSpec]
    media_roots: tuple[Path, ...] = ()  # extra folders media may live in
    media_search: tuple[Path, ...] = ()  # folders where clips are found by name (relinking)
    segment_seconds: Fraction = Fraction(2)  # chunk grid of long shots, in source seconds
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def allowed_roots(self) -> tuple[Path, ...]:
        return (self.root, *self.media_roots, *self.media_search)


_TOP_KEYS = {"output", "look", "variants", "media_roots", "media_search", "render", "media", "colour"}
_OUTPUT_KEYS = {
    "width",
    "height",
    "fps",
    "codec",
    "quality",
    "preset",
    "fit",
    "bit_depth",
    "transfer",
    "peak_nits",
    "max_cll",
    "max_fall",
}
_LOOK_KEYS = {"lut", "reference", "method", "strength", "ocio_look", "ocio_config"}
_VARIANT_KEYS = {"timeline", "timeline_name", "timeline_rate", "output", "look"}
_RENDER_KEYS = {"segment_seconds"}


def _parse_output(table: Mapping[str, Any], base: OutputSpec, prefix: str, path: Path) -> OutputSpec:
    reject_unknown_keys(table, _OUTPUT_KEYS, prefix, path)
    values: dict[str, Any] = {}
    for key in ("width", "height"):
        if key in table:
            v = table[key]
            if isinstance(v, bool) or not isinstance(v, int) or v < 16 or v > 8192 or v % 2:
                raise bad_value(prefix + key, v, "an even integer from 16 to 8192", path)
            values[key] = v
    if "fps" in table:
        v = table["fps"]
        try:
            if isinstance(v, float):
                raise ValueError
            values["fps"] = parse_rate(v)
        except ValueError:
            raise bad_value(
                prefix + "fps", v, 'a rational such as "24", "25" or "30000/1001"', path
            ) from None
        if not (Fraction(1) <= values["fps"] <= Fraction(240)):
            raise bad_value(prefix + "fps", v, "a rate between 1 and 240", path)
    if "codec" in table:
        if table["codec"] not in CODECS:
            raise bad_value(prefix + "codec", table["codec"], " | ".join(CODECS), path)
        values["codec"] = table["codec"]
    if "quality" in table:
        v = table["quality"]
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 51:
            raise bad_value(prefix + "quality", v, "an integer from 0 to 51 (crf)", path)
        values["quality"] = v
    if "preset" in table:
        if table["preset"] not in PRESETS:
            raise bad_value(prefix + "preset", table["preset"], " | ".join(PRESETS), path)
        values["preset"] = table["preset"]
    if "fit" in table:
        if table["fit"] not in FITS:
            raise bad_value(prefix + "fit", table["fit"], " | ".join(FITS), path)
        values["fit"] = table["fit"]
    values.update(output_hdr(table, prefix, path))
    spec = _output_depth(table, replace(base, **values), prefix, path)
    check_hdr(
        spec.transfer, spec.codec, spec.bit_depth, spec.max_cll or spec.peak_nits, spec.max_fall, prefix, path
    )
    return spec


def _output_depth(table: Mapping[str, Any], spec: OutputSpec, prefix: str, path: Path) -> OutputSpec:
    """``bit_depth``: 8 or 10; h264 is 8-bit only, the mezzanines always 10 (README "Colour")."""
    # an h264 variant under a 10-bit [output] is 8-bit unless it asks for 10
    depth = table.get("bit_depth", 8 if spec.codec == "h264" else spec.bit_depth)
    if isinstance(depth, bool) or depth not in (8, 10):
        raise bad_value(prefix + "bit_depth", depth, "8 | 10", path)
    if spec.codec == "dnxhr" and (spec.width < 256 or spec.height < 120):
        raise bad_value(
            prefix + "codec",
            spec.codec,
            f'"dnxhr" for outputs of at least 256x120 (FFmpeg\'s DNxHR), not {spec.width}x{spec.height}',
            path,
        )
    if spec.codec in MOV_CODECS:
        return replace(spec, bit_depth=10)
    if spec.codec == "h264" and depth == 10:
        raise bad_value(
            prefix + "bit_depth",
            depth,
            '8 with codec "h264"; 10 with codec "hevc" (Main10) or a mezzanine ('
            + ", ".join(MOV_CODECS)
            + ")",
            path,
        )
    return replace(spec, bit_depth=depth)


def _resolve(root: Path, value: Any, key: str, path: Path) -> Path:
    if not isinstance(value, str) or not value:
        raise bad_value(key, value, "a path (relative to the project file's folder, or absolute)", path)
    if "\0" in value:
        raise bad_value(key, value, "a path without NUL characters", path)
    p = Path(value).expanduser()
    return (p if p.is_absolute() else root / p).resolve()


def _parse_look(table: Mapping[str, Any], base: LookSpec, prefix: str, root: Path, path: Path) -> LookSpec:
    reject_unknown_keys(table, _LOOK_KEYS, prefix, path)
    values: dict[str, Any] = {}
    for key in ("lut", "reference"):
        if key in table:
            # an empty string switches an inherited look off for one variant
            values[key] = None if table[key] == "" else _resolve(root, table[key], prefix + key, path)
    if "method" in table:
        if table["method"] not in LOOK_METHODS:
            raise bad_value(prefix + "method", table["method"], " | ".join(LOOK_METHODS), path)
        values["method"] = table["method"]
    if "strength" in table:
        v = table["strength"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
            raise bad_value(prefix + "strength", v, "a number from 0.0 to 1.0", path)
        values["strength"] = float(v)
    if "ocio_look" in table:
        v = table["ocio_look"]
        if not isinstance(v, str):
            raise bad_value(prefix + "ocio_look", v, "the name of a look in the OpenColorIO config", path)
        values["ocio_look"] = v or None  # an empty string switches an inherited look off
    if "ocio_config" in table:
        v = table["ocio_config"]
        if not isinstance(v, str) or not v:
            raise bad_value(prefix + "ocio_config", v, "an OpenColorIO config file or an ocio:// URI", path)
        if not v.startswith("ocio://"):
            v = str(_resolve(root, v, prefix + "ocio_config", path))
            if not Path(v).is_file():
                raise MissingInputError(
                    f"the OpenColorIO config {v} cannot be read: no such file",
                    Where(path=v),
                    hint=f"check {prefix}ocio_config in farm.toml",
                )
        values["ocio_config"] = v
    return replace(base, **values)


def load_project(path: str | Path) -> Project:
    """Read and validate a ``farm.toml``."""
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise MissingInputError("project file not found", Where(path=str(path)))
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ProjectError(f"not valid TOML: {exc}", Where(path=str(path))) from None
    except RecursionError:
        raise ProjectError(
            "not valid TOML: arrays or tables nested too deep", Where(path=str(path))
        ) from None
    except OSError as exc:
        raise ProjectError(f"cannot read the project file ({exc.strerror})", Where(path=str(path))) from None
    return parse_project(raw, path)


def parse_project(raw: Mapping[str, Any], path: Path) -> Project:
    """Validate an already-parsed project table; ``path`` is where it came from."""
    root = path.parent
    reject_unknown_keys(raw, _TOP_KEYS, "", path)
    for key in ("output", "look", "variants", "render"):
        if key in raw and not isinstance(raw[key], dict):
            raise bad_value(key, raw[key], f"a table [{key}]", path)
    output = _parse_output(raw.get("output", {}), OutputSpec(), "output.", path)
    look = _parse_look(
        raw.get("look", {}), LookSpec(colour=parse_colour(raw, root, path)), "look.", root, path
    )

    render = raw.get("render", {})
    reject_unknown_keys(render, _RENDER_KEYS, "render.", path)
    segment_seconds = Fraction(2)
    if "segment_seconds" in render:
        v = render["segment_seconds"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.1 <= v <= 600:
            raise bad_value("render.segment_seconds", v, "a number of seconds from 0.1 to 600", path)
        segment_seconds = Fraction(v).limit_denominator(1000)

    roots = raw.get("media_roots", [])
    if not isinstance(roots, list):
        raise bad_value("media_roots", roots, "a list of folders", path)
    media_roots = tuple(_resolve(root, r, "media_roots", path) for r in roots)
    search = raw.get("media_search", [])
    if not isinstance(search, list):
        raise bad_value("media_search", search, "a list of folders", path)
    media_search = tuple(_resolve(root, r, "media_search", path) for r in search)
    for folder in media_search:
        if not folder.is_dir():
            raise MissingInputError(
                f"media_search folder {folder} does not exist",
                Where(path=str(path)),
                hint="check media_search",
            )

    variants_raw = raw.get("variants", {})
    if not variants_raw:
        raise ProjectError(
            "the project has no variants",
            Where(path=str(path)),
            hint='add a [variants.NAME] table with timeline = "cuts/NAME.otio"',
        )
    variants: dict[str, VariantSpec] = {}
    for name, table in variants_raw.items():
        prefix = f"variants.{name}."
        if not isinstance(table, dict):
            raise bad_value(prefix.rstrip("."), table, "a table with timeline = PATH", path)
        if not VARIANT_NAME.fullmatch(name):
            raise bad_value(f"variants.{name!r}", name, VARIANT_NAME_RULE, path)
        reject_unknown_keys(table, _VARIANT_KEYS, prefix, path)
        if "timeline" not in table:
            raise ProjectError(f"[variants.{name}] has no timeline", Where(variant=name, path=str(path)))
        for sub in ("output", "look"):
            if sub in table and not isinstance(table[sub], dict):
                raise bad_value(prefix + sub, table[sub], f"a table [variants.{name}.{sub}]", path)
        timeline_name = table.get("timeline_name")
        if timeline_name is not None and (not isinstance(timeline_name, str) or not timeline_name):
            raise bad_value(
                prefix + "timeline_name", timeline_name, "the name of a timeline in the file", path
            )
        timeline_rate = None
        if "timeline_rate" in table:
            v = table["timeline_rate"]
            try:
                if isinstance(v, float):
                    raise ValueError
                timeline_rate = parse_rate(v)
            except ValueError:
                allowed = 'a rational such as "24" or "30000/1001"'
                raise bad_value(prefix + "timeline_rate", v, allowed, path) from None
        variants[name] = VariantSpec(
            name=name,
            timeline_name=timeline_name,
            timeline_rate=timeline_rate,
            timeline=_resolve(root, table["timeline"], prefix + "timeline", path),
            output=_parse_output(table.get("output", {}), output, prefix + "output.", path),
            look=_parse_look(table.get("look", {}), look, prefix + "look.", root, path),
        )
    return Project(
        path=path,
        root=root,
        variants=variants,
        media_roots=media_roots,
        media_search=media_search,
        segment_seconds=segment_seconds,
        raw=raw,
    )
