"""The HDR → SDR operator against colour-science's and OpenColorIO's transfer functions."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from farm.kernels import apply_lut, delta_e_2000, srgb_to_lab
from farm.look import tonemap as tm
from farm.look.chain import SHAPER_KINDS, InputTransform, bake_chain, to_working

colour = pytest.importorskip("colour")
SIGNAL = np.linspace(0.0, 1.0, 1025)


@pytest.fixture(autouse=True)
def _quiet() -> None:
    warnings.simplefilter("ignore")


def test_pq_matches_colour_science_and_ocio() -> None:
    import PyOpenColorIO as ocio

    nits = tm.pq_eotf(SIGNAL)
    np.testing.assert_allclose(nits, colour.models.eotf_ST2084(SIGNAL), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(tm.pq_inverse_eotf(nits), SIGNAL, atol=1e-6)  # PQ(0 cd/m²) is 7.3e-7
    builtin = ocio.BuiltinTransform("CURVE - ST-2084_to_LINEAR")
    proc = ocio.Config.CreateRaw().getProcessor(builtin).getDefaultCPUProcessor()
    rgb = np.ascontiguousarray(np.repeat(SIGNAL[:, None], 3, axis=1).astype(np.float32))
    proc.applyRGB(rgb)
    np.testing.assert_allclose(rgb[:, 0] * 100, nits, rtol=1e-4, atol=1e-4)  # OCIO: nits / 100


def test_hlg_matches_colour_science() -> None:
    np.testing.assert_allclose(
        tm.hlg_inverse_oetf(SIGNAL), colour.models.oetf_inverse_BT2100_HLG(SIGNAL), atol=1e-12
    )
    scene = tm.hlg_inverse_oetf(SIGNAL)
    np.testing.assert_allclose(tm.hlg_oetf(scene), SIGNAL, atol=1e-9)
    rgb = np.random.default_rng(1).random((200, 3))
    np.testing.assert_allclose(tm.hlg_ootf(rgb), colour.models.ootf_BT2100_HLG(rgb), rtol=1e-9)
    np.testing.assert_allclose(tm.hlg_inverse_ootf(tm.hlg_ootf(rgb)), rgb, rtol=1e-9)
    # BT.2408: 75% HLG is 203 cd/m² on a 1000 cd/m² display
    assert tm.hlg_ootf(np.full((1, 3), tm.hlg_inverse_oetf(0.75)))[0, 0] == pytest.approx(203, abs=1.0)


def test_the_eetf_keeps_mid_tones_and_rolls_highlights_off_to_the_target_peak() -> None:
    nits = np.geomspace(0.01, 1000, 500)
    out = tm.eetf_bt2390(nits, 1000.0, 203.0)
    knee = nits < 87  # below the knee (88 cd/m² for 1000 → 203) it is the identity
    np.testing.assert_allclose(out[knee], nits[knee], rtol=1e-9)
    assert np.all(np.diff(out) > 0) and out[-1] == pytest.approx(203.0, rel=1e-6)
    # SDR signal of reference white, and of the source peak
    sdr = tm.display_to_sdr(np.array([203.0, 1000.0]), 1000.0, 203.0)
    assert 0.85 < sdr[0] < 0.95 and sdr[1] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "transform",
    [
        InputTransform("hlg", primaries="bt2020"),
        InputTransform("pq", primaries="bt2020"),
        InputTransform("ocio", colorspace="ARRI LogC3 (EI800)", config="ocio://studio-config-latest"),
    ],
    ids=["hlg", "pq", "logc3"],
)
def test_the_baked_lut_follows_the_exact_chain_on_natural_colours(transform: InputTransform) -> None:
    rng = np.random.default_rng(0)
    grey = rng.random((20000, 1)) * 0.8
    x = np.clip(grey + rng.normal(0, 0.04, (20000, 3)), 0, 1)  # near-neutral, as most of a picture
    exact = to_working(transform, x)
    lut = bake_chain(
        lambda rgb: to_working(transform, rgb),
        size=33,
        shaper_size=4096 if transform.kind in SHAPER_KINDS else 0,
    )
    de = delta_e_2000(srgb_to_lab(np.clip(apply_lut(x, lut), 0, 1)), srgb_to_lab(exact))
    mean, median = float(de.mean()), float(np.median(de))
    print(f"{transform.kind}: mean CIEDE2000 LUT vs exact {mean:.3f}, median {median:.3f}")
    assert float(np.median(de)) < 0.5 and float(de.mean()) < 3.0
