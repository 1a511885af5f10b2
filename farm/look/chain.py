"""One colour chain per source: input transform → working space → match → creative look → output.

The **working space** is display-referred BT.709 for a BT.1886 display (gamma
2.4, SDR reference white at 1.0): what an SDR camera would have recorded.  The
reference match and the creative ``.cube`` work there, and the default output
(BT.709 SDR) is the working space itself, so the output transform is the
identity.  The **input transform** takes a source's decoded R'G'B' there:

- SDR (BT.709, BT.601, sRGB, BT.2020 SDR, untagged): BT.709 primaries pass
  through untouched; BT.2020 or P3 primaries are converted in linear light;
- PQ and HLG: :mod:`farm.look.tonemap` (display light, BT.2390 roll-off,
  203 cd/m² at SDR reference white);
- camera log (or any scene-referred colour space of the OCIO config): OCIO to
  scene-linear BT.709, then the BT.2100 OOTF's gamma 1.2 with scene 1.0 at
  203 cd/m² (as HLG's reference white), then the same roll-off from a
  1000 cd/m² peak (``peak_nits`` keeps more highlights at the cost of
  mid-tone contrast): log comes out as an HLG camera would have shown it.

:func:`bake_chain` samples the whole chain into one 3D LUT behind a per-channel
1D shaper (the chain's own response to greys), so HDR and log inputs, whose
mid-tones sit in a narrow band of code values, keep their precision.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from farm.edit.colour_table import HDR_TRANSFERS, LOG_ENCODINGS, SDR_TRANSFERS, TRANSFERS, ColourSettings
from farm.errors import MediaError, Where
from farm.kernels import Lut, identity_lut
from farm.kernels._common import FloatArray
from farm.kernels._cube import lut_grid
from farm.look import tonemap as tm

if TYPE_CHECKING:
    from farm.media.probe import SourceInfo

#: probed transfer tags farm reads as display-referred SDR (BT.709-family curves)
_SDR_TAGS = ("", "bt709", "smpte170m", "iec61966-2-1", "bt2020-10", "bt2020-12", "gamma22")
#: entries of the 1D shaper in front of a chain's 3D table
SHAPER_SIZE = 4096
#: input kinds baked behind a shaper: measured on near-neutral colours (README "Colour"), the
#: grey-response shaper helps HLG; PQ and log code values are already spaced for the eye, and a
#: shaper there moves nodes away from saturated colours, so those are baked on their code values
SHAPER_KINDS = ("hlg",)
#: how much of the identity the shaper keeps (the rest follows the chain's grey response)
SHAPER_BLEND = 0.5
#: PQ peak assumed without metadata (BT.2408's typical mastering display); HLG's nominal peak
DEFAULT_HDR_PEAK = 1000.0


@dataclass(frozen=True)
class InputTransform:
    """How one source's decoded R'G'B' reaches the working space."""

    kind: str  # sdr | pq | hlg | ocio
    primaries: str = "bt709"  # bt709 | bt2020 | p3 (sdr, pq, hlg)
    colorspace: str = ""  # the OCIO colour space (kind ocio)
    config: str = ""  # the OCIO config (kind ocio)
    peak_nits: float = DEFAULT_HDR_PEAK  # the source's peak, where the roll-off ends (pq, hlg, ocio)
    white_nits: float = 203.0  # lands at SDR reference white
    tonemap: str = "bt2390"
    #: bt2408 (the default: SDR sources untouched, HDR mapped by BT.2408) | aces (every source
    #: re-rendered from scene light by the ACES 2.0 output transform of ``config``)
    rendering: str = "bt2408"

    @property
    def is_identity(self) -> bool:
        return self.kind == "sdr" and self.primaries == "bt709" and self.rendering == "bt2408"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> InputTransform:
        return cls(**json.loads(text))

    def key_parts(self) -> dict[str, Any]:
        """Everything that decides this transform's numbers (OCIO version and config included)."""
        from farm.look.ocio import config_identity

        parts: dict[str, Any] = asdict(self)
        if self.rendering == "bt2408":  # (the default keeps the keys it had before ACES was offered)
            del parts["rendering"]
        if self.kind == "ocio" or self.rendering != "bt2408":
            parts["ocio"] = config_identity(self.config)
        return parts


def sdr_input(colour: ColourSettings) -> InputTransform:
    """The input transform of a BT.709 SDR picture (a still, an unprobed source) under ``colour``."""
    if colour.rendering == "bt2408":
        return InputTransform("sdr")
    return InputTransform(
        "sdr", config=colour.config, white_nits=colour.sdr_white_nits, rendering=colour.rendering
    )


def _primaries(tag: str, matrix: str) -> str:
    if tag == "bt2020" or (tag == "" and matrix == "bt2020"):
        return "bt2020"
    return "p3" if tag in ("smpte431", "smpte432") else "bt709"


def resolve_input(info: SourceInfo, colour: ColourSettings, where: Where | None = None) -> InputTransform:
    """The input transform of a probed source: its tags, then the ``[media]`` overrides that match it.

    Untagged sources are SDR (BT.709 primaries; BT.2020 when only the matrix
    says BT.2020).  A tagged transfer farm does not know is exit 65.
    """
    where = where or Where(path=info.path)
    over = colour.for_source(info.path)
    common: dict[str, Any] = {"white_nits": colour.sdr_white_nits, "tonemap": colour.tonemap}
    if colour.rendering != "bt2408":
        from farm.look.aces import check_rendering

        check_rendering(colour.config, where)
        common["rendering"] = colour.rendering
    config = colour.config if colour.rendering != "bt2408" else ""  # the ACES rendering's config
    if "ocio_colorspace" in over:
        from farm.look.ocio import check_colorspace

        check_colorspace(colour.config, over["ocio_colorspace"], where)
        peak = float(over.get("peak_nits", DEFAULT_HDR_PEAK))
        return InputTransform(
            "ocio", colorspace=over["ocio_colorspace"], config=colour.config, peak_nits=peak, **common
        )
    transfer = over.get("transfer")
    if transfer is None:
        tag = info.transfer
        if tag in ("smpte2084", "arib-std-b67"):
            transfer = "pq" if tag == "smpte2084" else "hlg"
        elif tag in _SDR_TAGS:
            transfer = "sdr"
        else:
            raise MediaError(
                f"the source's transfer is tagged {tag!r}, which farm does not know",
                where,
                hint=f'say what it is in farm.toml: [media."GLOB"] transfer = one of {" | ".join(TRANSFERS)}',
            )
    primaries = over.get("primaries") or _primaries(info.primaries, info.colorspace)
    if transfer in LOG_ENCODINGS:
        from farm.look.ocio import check_colorspace

        name = LOG_ENCODINGS[transfer]
        check_colorspace(colour.config, name, where)
        peak = float(over.get("peak_nits", DEFAULT_HDR_PEAK))
        return InputTransform("ocio", colorspace=name, config=colour.config, peak_nits=peak, **common)
    if transfer in HDR_TRANSFERS:
        # PQ: the brightest the metadata promises (MaxCLL, else the mastering display); HLG is
        # defined for its nominal 1000 cd/m² display
        metadata = (info.max_cll or info.mastering_max_nits) if transfer == "pq" else None
        hdr_peak = float(over.get("peak_nits") or metadata or DEFAULT_HDR_PEAK)
        hdr_peak = max(hdr_peak, colour.sdr_white_nits)
        return InputTransform(transfer, primaries=primaries, peak_nits=hdr_peak, config=config, **common)
    assert transfer in SDR_TRANSFERS, transfer  # farm.toml's values were checked on load
    return InputTransform("sdr", primaries=primaries, config=config, **common)


def _to_709(rgb: FloatArray, primaries: str) -> FloatArray:
    matrix = {"bt2020": tm.BT2020_TO_BT709, "p3": tm.P3_TO_BT709}.get(primaries)
    return rgb if matrix is None else np.asarray(rgb @ matrix.T, dtype=np.float64)


def to_working(t: InputTransform, rgb: FloatArray) -> FloatArray:
    """Decoded R'G'B' (..., 3) in [0, 1] → the working space (BT.709, BT.1886), exactly (no LUT)."""
    x = np.clip(np.asarray(rgb, dtype=np.float64), 0.0, 1.0)
    if t.rendering == "aces":
        from farm.look.aces import aces_sdr

        return aces_sdr(t.config, scene_linear(t, x))
    if t.kind == "sdr":
        if t.primaries == "bt709":
            return x
        return np.asarray(tm.bt1886_inverse(_to_709(tm.bt1886_eotf(x), t.primaries)), dtype=np.float64)
    return np.asarray(tm.display_to_sdr(_display_nits(t, x), t.peak_nits, t.white_nits), dtype=np.float64)


def to_display(t: InputTransform, rgb: FloatArray, out_peak: float, out_kind: str = "pq") -> FloatArray:
    """Decoded R'G'B' → linear BT.709 display light for an HDR output, 1.0 at reference white.

    SDR sources are placed as BT.2408 places them (display-referred): SDR peak
    white at the reference white (203 cd/m²), so an SDR clip sits next to HDR
    ones at the level an HDR programme expects; HDR and log sources keep their
    display light, their highlights rolled off by the BT.2390 EETF from their
    own peak to ``out_peak`` (the output's mastering peak), not to SDR.  Under the ACES
    rendering, every source is rendered from scene light by the ACES 2.0 HDR output transform
    for ``out_kind`` (pq or hlg) and its peak.
    """
    x = np.clip(np.asarray(rgb, dtype=np.float64), 0.0, 1.0)
    if t.rendering == "aces":
        from farm.look.aces import aces_hdr

        return aces_hdr(t.config, scene_linear(t, x), out_kind, out_peak, t.white_nits)
    if t.kind == "sdr":
        return np.asarray(_to_709(tm.bt1886_eotf(x), t.primaries), dtype=np.float64)
    nits = np.maximum(_display_nits(t, x), 0.0)
    rolled = tm.eetf_bt2390(nits, max(t.peak_nits, out_peak), out_peak)
    return np.asarray(rolled / t.white_nits, dtype=np.float64)


def scene_linear(t: InputTransform, x: FloatArray) -> FloatArray:
    """Scene-linear BT.709 light of a source for the ACES rendering: diffuse (reference) white at 1.0.

    SDR: the inverse BT.709 camera OETF; HLG: the inverse OETF, scaled so that 75% HLG is 1.0;
    PQ: its display light through HLG's inverse OOTF, scaled so that 203 cd/m² is 1.0; camera
    log: through the OCIO config.
    """
    if t.kind == "sdr":
        lin = np.where(x < 0.081, x / 4.5, np.power((x + 0.099) / 1.099, 1 / 0.45))
        return np.asarray(_to_709(lin, t.primaries), dtype=np.float64)
    if t.kind == "pq":  # display light back to scene light through HLG's 1000 cd/m² OOTF (gamma 1.2)
        nits = np.maximum(_to_709(tm.pq_eotf(x), t.primaries), 0.0) @ tm.BT709_TO_BT2020.T
        scene = tm.hlg_inverse_ootf(nits, 1000.0) @ tm.BT2020_TO_BT709.T
        return np.asarray(scene / (t.white_nits / 1000.0) ** (1 / 1.2), dtype=np.float64)
    if t.kind == "hlg":
        white = float(tm.hlg_inverse_oetf(np.array(0.75)))
        return np.asarray(_to_709(tm.hlg_inverse_oetf(x), t.primaries) / white, dtype=np.float64)
    from farm.look.ocio import to_linear_709

    return to_linear_709(t.config, t.colorspace, x)


def _display_nits(t: InputTransform, x: FloatArray) -> FloatArray:
    """An HDR or log source's linear BT.709 display light in cd/m²."""
    if t.kind == "pq":
        return _to_709(tm.pq_eotf(x), t.primaries)
    if t.kind == "hlg":
        scene = tm.hlg_inverse_oetf(x)
        if t.primaries != "bt2020":  # the OOTF is defined on BT.2020 luminance
            scene = _to_709(scene, t.primaries) @ tm.BT709_TO_BT2020.T
        return np.asarray(tm.hlg_ootf(scene, DEFAULT_HDR_PEAK) @ tm.BT2020_TO_BT709.T, dtype=np.float64)
    if t.kind == "ocio":
        return _log_display_nits(t, x)
    raise ValueError(f"unknown input transform kind {t.kind!r}")


def _log_display_nits(t: InputTransform, x: FloatArray) -> FloatArray:
    """Scene-referred log → display light: scene 1.0 at the reference white, system gamma 1.2 (as HLG)."""
    from farm.look.ocio import to_linear_709

    lin = np.maximum(to_linear_709(t.config, t.colorspace, x), 0.0)
    y = np.maximum(lin @ tm.BT709_Y, 1e-12)[..., None]
    return np.asarray(t.white_nits * np.power(y, 0.2) * lin, dtype=np.float64)


def bake_chain(
    chain: Callable[[FloatArray], FloatArray],
    then: Callable[[FloatArray], FloatArray] | None = None,
    size: int = 33,
    shaper_size: int = SHAPER_SIZE,
) -> Lut:
    """One LUT for ``then(chain(rgb))``: a 1D shaper (the chain's response to greys), then a 3D table.

    The 3D table's node ``t`` on each axis sits at the input whose shaped value
    is ``t``, so its nodes follow the chain's output, not the code values.
    ``shaper_size=0`` bakes a plain 3D table on the code values.
    """
    if shaper_size < 2:
        nodes = lut_grid(identity_lut(size)).reshape(-1, 3)
        out = chain(nodes)
        out = then(out) if then is not None else out
        return Lut(np.clip(out, 0.0, 1.0).reshape(size, size, size, 3).astype(np.float32))
    x = np.linspace(0.0, 1.0, shaper_size)
    grey = chain(np.repeat(x[:, None], 3, axis=1))
    lo, hi = grey[0], grey[-1]
    span = np.where(hi - lo > 1e-6, hi - lo, 1.0)
    shaped = np.where(hi - lo > 1e-6, (grey - lo) / span, x[:, None])
    eps = (
        SHAPER_BLEND  # part identity: strictly increasing, and nodes where greys are flat but colours are not
    )
    shaper = np.maximum.accumulate((1 - eps) * np.clip(shaped, 0.0, 1.0) + eps * x[:, None], axis=0)
    shaper = (shaper - shaper[0]) / (shaper[-1] - shaper[0])
    nodes = lut_grid(identity_lut(size)).reshape(-1, 3).astype(np.float64)
    inputs = np.stack([np.interp(nodes[:, c], shaper[:, c], x) for c in range(3)], axis=1)
    out = chain(inputs)
    if then is not None:
        out = then(out)
    table = np.clip(out, 0.0, 1.0).reshape(size, size, size, 3).astype(np.float32)
    return Lut(table, shaper1d=shaper.astype(np.float32))
