"""The output transform: the working space → the variant's deliverable (BT.709 SDR, HDR10 PQ or HLG).

For the default BT.709 SDR output the working space *is* the output, so the
transform is the identity.  For an HDR output (README "HDR outputs"):

1. each source reaches linear BT.709 display light with 1.0 at the reference
   white (203 cd/m²), :func:`farm.look.chain.to_display` — SDR sources by
   BT.2408's display-referred mapping (SDR peak white at 203 cd/m²), HDR and
   log sources with their own highlights, rolled off to the output's peak;
2. the reference match and the creative look, which are defined on the SDR
   working signal, apply to every pixel's *colour*: a pixel is divided by
   ``k = max(1, its largest channel)``, the look applied to that (an SDR
   signal), and the result multiplied by ``k`` again — below reference white
   exactly the SDR look, above it the look's hue and saturation at the
   highlight's own brightness;
3. display light in cd/m² on BT.2020 primaries, clipped to the output's peak,
   then PQ's inverse EOTF (ST 2084), or HLG's inverse OOTF for the nominal
   1000 cd/m² display and its OETF (BT.2100), so that reference white is PQ
   58% / HLG 75% as BT.2408 puts it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from farm.kernels._common import FloatArray
from farm.look import tonemap as tm

if TYPE_CHECKING:
    from farm.edit.colour_table import ColourSettings
    from farm.edit.project import OutputSpec

#: HLG's nominal display peak (BT.2100): an HLG output's highlights roll off to it
HLG_PEAK = 1000.0


@dataclass(frozen=True)
class OutputTransform:
    """How the working space reaches a variant's output signal."""

    kind: str = "sdr"  # sdr | pq | hlg
    peak_nits: float = HLG_PEAK  # pq: the mastering display's peak; hlg: the nominal 1000 cd/m²
    white_nits: float = 203.0  # reference white (BT.2408)

    @property
    def is_identity(self) -> bool:
        return self.kind == "sdr"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> OutputTransform:
        return cls(**json.loads(text))

    def key_parts(self) -> dict[str, Any]:
        return asdict(self)


def output_transform(output: OutputSpec | None, colour: ColourSettings) -> OutputTransform:
    """The output transform a variant's ``[output]`` asks for."""
    if output is None or output.transfer == "sdr":
        return OutputTransform()
    peak = output.peak_nits if output.transfer == "pq" else HLG_PEAK
    return OutputTransform(output.transfer, peak_nits=peak, white_nits=colour.sdr_white_nits)


def encode_transfer(output: OutputSpec, family: str, variant: str) -> dict[str, Any]:
    """The output's transfer and HDR10 metadata for its ``EncodeSpec`` (only a PQ output has the
    metadata, so it keys only those); exit 69 for an HDR output on an encoder family other than
    the CPU's: the nvidia kernels write BT.709 Y'CbCr."""
    if output.transfer == "sdr":
        return {}
    if family != "cpu":
        from farm.errors import BackendUnavailableError, Where

        raise BackendUnavailableError(
            f"the nvidia backend cannot write an HDR ({output.transfer}) output yet: its kernels convert "
            "to BT.709 Y'CbCr",
            Where(variant=variant),
            hint="render this variant with --backend cpu",
        )
    if output.transfer == "hlg":
        return {"transfer": "hlg"}
    return {
        "transfer": "pq",
        "peak_nits": output.peak_nits,
        "max_cll": output.max_cll,
        "max_fall": output.max_fall,
    }


def look_on_hdr(look: Callable[[FloatArray], FloatArray], rel: FloatArray) -> FloatArray:
    """Apply an SDR-signal look to linear relative display light that may exceed 1.0 (step 2 above)."""
    rel = np.maximum(np.asarray(rel, dtype=np.float64), 0.0)
    k = np.maximum(rel.max(axis=-1, keepdims=True), 1.0)
    styled = look(tm.bt1886_inverse(rel / k))
    return np.asarray(tm.bt1886_eotf(np.asarray(styled, dtype=np.float64)) * k, dtype=np.float64)


def encode_output(t: OutputTransform, rel: FloatArray) -> FloatArray:
    """Linear BT.709 relative display light (1.0 = reference white) → the output's R'G'B' signal."""
    rel = np.asarray(rel, dtype=np.float64)
    if t.kind == "sdr":
        return np.asarray(tm.bt1886_inverse(rel), dtype=np.float64)
    nits = np.clip(t.white_nits * rel, 0.0, t.peak_nits) @ tm.BT709_TO_BT2020.T
    nits = np.clip(nits, 0.0, t.peak_nits)
    if t.kind == "pq":
        return np.asarray(tm.pq_inverse_eotf(nits), dtype=np.float64)
    if t.kind == "hlg":
        return np.asarray(tm.hlg_oetf(tm.hlg_inverse_ootf(nits, HLG_PEAK)), dtype=np.float64)
    raise ValueError(f"unknown output transform kind {t.kind!r}")
