"""OpenColorIO at farm's edge: load the project's config once, read camera log through it.

farm evaluates OCIO processors on the CPU while baking a LUT (never per frame):
the config's colour space for a camera log encoding (curve and gamut) to the
config's linear Rec.709.  The config's name and cache id and OCIO's version
join the look's key.  An unreadable config is exit 66 naming the path.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from farm.errors import MissingInputError, ProjectError, Where
from farm.kernels._common import FloatArray

if TYPE_CHECKING:
    import PyOpenColorIO

#: the scene-linear space of the studio config farm reads log into (BT.709 primaries, D65)
LINEAR_709 = "Linear Rec.709 (sRGB)"


@lru_cache(maxsize=8)
def load_config(config: str) -> PyOpenColorIO.Config:
    """The OCIO config at ``config`` (a file or an ``ocio://`` URI); exit 66 naming it when unreadable."""
    import PyOpenColorIO as ocio

    try:
        cfg = ocio.Config.CreateFromFile(config)
        cfg.validate()
    except (ocio.Exception, ocio.ExceptionMissingFile) as exc:
        raise MissingInputError(
            f"cannot read the OpenColorIO config {config} ({str(exc).strip()})",
            Where(path=config),
            hint='check [colour] config in farm.toml, or remove it to use "ocio://studio-config-latest"',
        ) from None
    return cfg


def config_identity(config: str) -> dict[str, Any]:
    """What decides a config's transforms: OCIO's version, the config's name and cache id."""
    import PyOpenColorIO as ocio

    cfg = load_config(config)
    return {"ocio": ocio.__version__, "config": cfg.getName() or config, "cache_id": cfg.getCacheID()}


def _require_linear_709(cfg: Any, config: str, purpose: str, where: Where) -> None:
    """Exit 65 when ``config`` lacks the linear Rec.709 space farm hands its transforms (``purpose``)."""
    if cfg.getColorSpace(LINEAR_709) is None:
        raise ProjectError(
            f"the OpenColorIO config {config} has no colour space {LINEAR_709!r} {purpose}", where
        )


def check_colorspace(config: str, name: str, where: Where) -> None:
    """Exit 65 when ``name`` is not a colour space of ``config``, listing a few that are."""
    cfg = load_config(config)
    if cfg.getColorSpace(name) is None:
        names = list(cfg.getColorSpaceNames())
        raise ProjectError(
            f"the OpenColorIO config {config} has no colour space {name!r}",
            where,
            hint=f"allowed: {', '.join(names[:40])}{' ...' if len(names) > 40 else ''}",
        )
    _require_linear_709(cfg, config, "for farm to read log into", where)


def to_linear_709(config: str, colorspace: str, rgb: FloatArray) -> FloatArray:
    """``rgb`` (..., 3) encoded in ``colorspace`` → scene-linear BT.709 through the config."""
    cfg = load_config(config)
    proc = cfg.getProcessor(colorspace, LINEAR_709).getDefaultCPUProcessor()
    flat = np.ascontiguousarray(np.asarray(rgb, dtype=np.float32).reshape(-1, 3))
    proc.applyRGB(flat)
    return flat.reshape(np.shape(rgb)).astype(np.float64)


def check_look(config: str, look: str, where: Where) -> None:
    """Exit 65 when ``config`` has no look ``look`` (listing those it has) or no linear Rec.709 for it."""
    cfg = load_config(config)
    if cfg.getLook(look) is None:
        names = list(cfg.getLookNames())
        raise ProjectError(
            f"the OpenColorIO config {config} has no look {look!r}",
            where,
            hint=f"allowed: {', '.join(names) if names else '(the config defines no looks)'}",
        )
    _require_linear_709(cfg, config, "to apply its look from", where)


def apply_look(config: str, look: str, signal: FloatArray) -> FloatArray:
    """An OCIO look on working-space signal (..., 3): decoded (gamma 2.4) to linear light, handed to
    the config as its linear Rec.709 (1.0 at reference white), the look, then encoded again."""
    import PyOpenColorIO as ocio

    cfg = load_config(config)
    transform = ocio.LookTransform(src=LINEAR_709, dst=LINEAR_709, looks=look)
    proc = cfg.getProcessor(transform).getDefaultCPUProcessor()
    lin = np.power(np.clip(np.asarray(signal, dtype=np.float64), 0.0, 1.0), 2.4)
    flat = np.ascontiguousarray(lin.astype(np.float32).reshape(-1, 3))
    proc.applyRGB(flat)
    out = np.clip(flat.reshape(np.shape(signal)).astype(np.float64), 0.0, 1.0)
    return np.asarray(np.power(out, 1 / 2.4), dtype=np.float64)
