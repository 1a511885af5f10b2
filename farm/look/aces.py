"""The ACES rendering (``[colour] rendering = "aces"``): every source re-rendered from scene light.

The alternative to farm's default (README "Colour"): instead of leaving SDR
sources as they are and mapping HDR ones onto them by BT.2408, every source —
SDR ones too — is taken back to scene-linear light (:func:`farm.look.chain.scene_linear`)
and rendered by the ACES 2.0 output transform of the OpenColorIO config (the
built-in studio config by default): ``ACES 2.0 - SDR 100 nits (Rec.709)`` on the
``Rec.1886 Rec.709 - Display`` for SDR outputs; ``ACES 2.0 - HDR N nits (Rec.2020)``
on ``Rec.2100-PQ - Display`` for HDR10 outputs (N: the output's peak, 500, 1000,
2000 or 4000); ``ACES 2.0 - HDR 1000 nits (P3 D65)`` on ``Rec.2100-HLG - Display``
for HLG outputs.  Mid-tones come out as ACES renders them, not as the SDR camera
did, so it only makes sense for a whole project.
"""

from __future__ import annotations

import numpy as np

from farm.errors import ProjectError, Where
from farm.kernels._common import FloatArray
from farm.look import tonemap as tm
from farm.look.ocio import LINEAR_709, load_config

SDR_DISPLAY, SDR_VIEW = "Rec.1886 Rec.709 - Display", "ACES 2.0 - SDR 100 nits (Rec.709)"
PQ_DISPLAY, HLG_DISPLAY = "Rec.2100-PQ - Display", "Rec.2100-HLG - Display"
HLG_VIEW = "ACES 2.0 - HDR 1000 nits (P3 D65)"
PQ_PEAKS = (500, 1000, 2000, 4000)


def hdr_view(kind: str, peak: float) -> tuple[str, str]:
    """The display and view of the ACES HDR output transform for an output of ``kind`` and ``peak``."""
    if kind == "hlg":
        return HLG_DISPLAY, HLG_VIEW
    return PQ_DISPLAY, f"ACES 2.0 - HDR {round(peak)} nits (Rec.2020)"


def check_rendering(config: str, where: Where, kind: str = "sdr", peak: float = 1000.0) -> None:
    """Exit 65 unless ``config`` has the display and view the ACES rendering needs for ``kind``."""
    display, view = (SDR_DISPLAY, SDR_VIEW) if kind == "sdr" else hdr_view(kind, peak)
    if kind == "pq" and round(peak) not in PQ_PEAKS:
        raise ProjectError(
            f"the ACES rendering has HDR10 output transforms for {', '.join(map(str, PQ_PEAKS))} cd/m², "
            f"not for a {peak:g} cd/m² peak",
            where,
            hint=f"set the output's peak_nits to one of {', '.join(map(str, PQ_PEAKS))}, "
            'or use [colour] rendering = "bt2408"',
        )
    cfg = load_config(config)
    if cfg.getColorSpace(LINEAR_709) is None or view not in list(cfg.getViews(display)):
        raise ProjectError(
            f"the OpenColorIO config {config} has no view {view!r} on the display {display!r} "
            f"(or no colour space {LINEAR_709!r}) for the ACES rendering",
            where,
            hint='use the built-in "ocio://studio-config-latest" as [colour] config, '
            'or [colour] rendering = "bt2408"',
        )


def _view(config: str, display: str, view: str, scene: FloatArray) -> FloatArray:
    import PyOpenColorIO as ocio

    cfg = load_config(config)
    transform = ocio.DisplayViewTransform(src=LINEAR_709, display=display, view=view)
    proc = cfg.getProcessor(transform).getDefaultCPUProcessor()
    flat = np.ascontiguousarray(np.asarray(scene, dtype=np.float32).reshape(-1, 3))
    proc.applyRGB(flat)
    return np.clip(flat.reshape(np.shape(scene)).astype(np.float64), 0.0, 1.0)


def aces_sdr(config: str, scene: FloatArray) -> FloatArray:
    """Scene-linear BT.709 (1.0 at diffuse white) → the working space (BT.1886 BT.709) through ACES 2.0."""
    return _view(config, SDR_DISPLAY, SDR_VIEW, scene)


def aces_hdr(config: str, scene: FloatArray, kind: str, peak: float, white_nits: float) -> FloatArray:
    """Scene-linear BT.709 → ACES 2.0's HDR rendering: linear BT.709 display light, 1.0 at ``white_nits``."""
    display, view = hdr_view(kind, peak)
    signal = _view(config, display, view, scene)
    if kind == "hlg":
        nits = tm.hlg_ootf(tm.hlg_inverse_oetf(signal), 1000.0)
    else:
        nits = tm.pq_eotf(signal)
    return np.asarray(np.asarray(nits) @ tm.BT2020_TO_BT709.T / white_nits, dtype=np.float64)
