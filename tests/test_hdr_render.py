"""HDR sources render next to SDR ones: one scene as SDR, HLG and PQ comes out as one picture.

The same synthetic scene (tests/hdr_scene.py) is written as BT.709 SDR, as HLG
BT.2020 10-bit and as PQ 10-bit HEVC, each rendered by farm to BT.709 SDR.
Mid-tones (patches below reference white) of the HDR renders lie within a mean
CIEDE2000 of 5 of the SDR render; highlights stay ordered and below SDR peak.
"""

from __future__ import annotations

import warnings
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from coded import Shot, write_cut
from hdr_scene import PATCHES, patch_centres, write_scene

import farm

pytestmark = pytest.mark.usefixtures("ray_session")
colour = pytest.importorskip("colour")


def _patches(path: Path) -> np.ndarray:
    """Mean R'G'B' (BT.709, full range floats) around each patch centre of the first rendered frame."""
    import av

    with av.open(str(path)) as c:
        return frame_patches(next(c.decode(video=0)))


def frame_patches(frame: Any) -> np.ndarray:
    """Mean R'G'B' (BT.709, full range floats) around each patch centre of a decoded BT.709 frame."""
    rgb = frame.reformat(format="rgb48le", src_colorspace="itu709", src_color_range="MPEG")
    img = rgb.to_ndarray().astype(np.float64) / 65535.0
    return np.array(
        [img[y - 6 : y + 6, x - 6 : x + 6].reshape(-1, 3).mean(axis=0) for y, x in patch_centres()]
    )


def _lab(signal: np.ndarray) -> np.ndarray:
    """BT.1886 (gamma 2.4) BT.709 signal → CIE L*a*b* (D65)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        xyz = colour.RGB_to_XYZ(np.clip(signal, 0, 1) ** 2.4, colour.RGB_COLOURSPACES["ITU-R BT.709"])
        return np.asarray(
            colour.XYZ_to_Lab(xyz, colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D65"])
        )


@pytest.fixture(scope="module")
def renders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    root = tmp_path_factory.mktemp("hdr")
    (root / "media").mkdir()
    lines = ['[output]\nwidth = 320\nheight = 180\nfps = "24"\npreset = "ultrafast"\nquality = 4\n']
    for kind in ("sdr", "hlg", "pq", "slog3"):
        write_scene(root / "media" / f"{kind}.mp4", kind)
        write_cut(
            root / "cuts" / f"{kind}.otio", [Shot(f"media/{kind}.mp4", 0, 6, rate=Fraction(24), name=kind)]
        )
        lines.append(f'[variants.{kind}]\ntimeline = "cuts/{kind}.otio"\n')
    lines.append('[media."media/slog3.*"]\ntransfer = "sony-slog3"\n')  # files rarely say they are log
    (root / "farm.toml").write_text("\n".join(lines))
    report = farm.render(root / "farm.toml", workers=1)
    for v in report.variants.values():
        assert v.error is None, v.error
    return {kind: _patches(root / "renders" / f"{kind}.mp4") for kind in ("sdr", "hlg", "pq", "slog3")}


@pytest.mark.parametrize("kind", ["hlg", "pq", "slog3"])
def test_hdr_mid_tones_land_where_the_sdr_version_has_them(renders: dict[str, np.ndarray], kind: str) -> None:
    mid = [i for i, (_, k) in enumerate(PATCHES) if k == "mid"]
    de = np.asarray(colour.delta_E(_lab(renders[kind][mid]), _lab(renders["sdr"][mid]), method="CIE 2000"))
    print(f"{kind}: mean CIEDE2000 on {len(mid)} mid-tone patches {de.mean():.2f}, max {de.max():.2f}")
    assert de.mean() < 5.0, de
    # and without the input transform it would not: the HDR code values read as SDR are far off
    assert np.abs(renders[kind][mid] - renders["sdr"][mid]).max() < 0.2


@pytest.mark.parametrize("kind", ["hlg", "pq", "slog3"])
def test_hdr_highlights_roll_off_ordered_and_unclipped(renders: dict[str, np.ndarray], kind: str) -> None:
    order = [i for i, (_, k) in enumerate(PATCHES) if k in ("white", "high")]
    luma = renders[kind][order] @ np.array([0.2126, 0.7152, 0.0722])
    print(f"{kind}: reference white and highlights at SDR signal {np.round(luma, 3)}")
    # each brighter patch lands on a brighter code (the roll-off is steep near the source's 1000 cd/m²
    # peak: 609 and 812 cd/m² are one or two 8-bit codes apart), and the brightest is below SDR peak
    assert np.all(np.diff(luma) > 0.5 / 255), luma
    assert luma[0] < 0.95 and luma[-1] < 1.0 - 0.5 / 255, luma
    # the SDR version clips every highlight to one level: the HDR versions keep what it lost
    sdr = renders["sdr"][order] @ np.array([0.2126, 0.7152, 0.0722])
    assert np.ptp(sdr) < 0.01
