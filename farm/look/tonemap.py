"""HDR → SDR: the transfer functions (BT.2100 PQ and HLG) and the BT.2390 EETF, in NumPy.

Pure functions on float arrays, tested against colour-science.  The operator
(README "Colour") works in display light, the way ITU-R BT.2408 mixes HDR and
SDR sources:

1. the HDR signal becomes display light in cd/m² (PQ: the ST 2084 EOTF; HLG: the
   inverse OETF, then the BT.2100 OOTF for a 1000 cd/m² display, so that 75%
   HLG is 203 cd/m²);
2. the BT.2390 EETF rolls the highlights off, per channel in PQ space, from the
   source's peak down to the HDR reference white (203 cd/m²): below its knee
   (88 cd/m² for a 1000 cd/m² source, SDR signal 70%) it is the identity;
   reference white itself lands at SDR signal 90%;
3. the result, divided by the reference white, is SDR display light (1.0 = SDR
   peak) and is encoded for a BT.1886 display (gamma 2.4).

So mid-tones land exactly where BT.2408 puts them (an SDR picture of the same
scene), highlights are ordered and reach SDR peak only at the source's peak.
"""

from __future__ import annotations

import numpy as np

from farm.kernels._common import FloatArray

# SMPTE ST 2084
_M1 = 2610 / 16384
_M2 = 2523 / 4096 * 128
_C1 = 3424 / 4096
_C2 = 2413 / 4096 * 32
_C3 = 2392 / 4096 * 32
# BT.2100 HLG
_A = 0.17883277
_B = 1 - 4 * _A
_C = 0.5 - _A * np.log(4 * _A)
#: BT.2020 luminance weights (the HLG OOTF)
BT2020_Y = np.array([0.2627, 0.6780, 0.0593])
BT709_Y = np.array([0.2126, 0.7152, 0.0722])
#: linear BT.2020 → linear BT.709 RGB (both D65), from the primaries
BT2020_TO_BT709 = np.array(
    [
        [1.6604910021, -0.5876411388, -0.0728498633],
        [-0.1245504745, 1.1328998971, -0.0083494226],
        [-0.0181507634, -0.1005788980, 1.1187296614],
    ]
)
BT709_TO_BT2020 = np.linalg.inv(BT2020_TO_BT709)
#: linear Display P3 (D65) → linear BT.709
P3_TO_BT709 = np.array(
    [
        [1.2249401763, -0.2249401763, 0.0],
        [-0.0420569547, 1.0420569547, 0.0],
        [-0.0196375546, -0.0786360456, 1.0982736001],
    ]
)


def pq_eotf(signal: FloatArray) -> FloatArray:
    """PQ signal in [0, 1] → display light in cd/m² (0..10000)."""
    e = np.power(np.clip(signal, 0.0, 1.0), 1 / _M2)
    return 10000.0 * np.power(np.maximum(e - _C1, 0.0) / (_C2 - _C3 * e), 1 / _M1)


def pq_inverse_eotf(nits: FloatArray) -> FloatArray:
    """Display light in cd/m² → PQ signal in [0, 1]."""
    y = np.power(np.clip(np.asarray(nits, dtype=np.float64) / 10000.0, 0.0, 1.0), _M1)
    return np.power((_C1 + _C2 * y) / (1 + _C3 * y), _M2)


def hlg_inverse_oetf(signal: FloatArray) -> FloatArray:
    """HLG signal in [0, 1] → normalised scene light E in [0, 1]."""
    x = np.clip(np.asarray(signal, dtype=np.float64), 0.0, 1.0)
    with np.errstate(over="ignore"):
        high = (np.exp((x - _C) / _A) + _B) / 12
    return np.where(x <= 0.5, x * x / 3, high)


def hlg_oetf(scene: FloatArray) -> FloatArray:
    """Normalised scene light E in [0, 1] → HLG signal."""
    e = np.clip(np.asarray(scene, dtype=np.float64), 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        high = _A * np.log(np.maximum(12 * e - _B, 1e-12)) + _C
    return np.where(e <= 1 / 12, np.sqrt(3 * e), high)


def hlg_gamma(peak_nits: float) -> float:
    """The BT.2100 system gamma for an HLG display of ``peak_nits`` (1.2 at 1000 cd/m²)."""
    return 1.2 + 0.42 * float(np.log10(peak_nits / 1000.0))


def hlg_ootf(scene_rgb: FloatArray, peak_nits: float = 1000.0) -> FloatArray:
    """BT.2020 scene light (..., 3) → display light in cd/m² (BT.2100 OOTF, black level 0)."""
    y = np.maximum(scene_rgb @ BT2020_Y, 0.0)[..., None]
    return np.asarray(peak_nits * np.power(y, hlg_gamma(peak_nits) - 1) * scene_rgb, dtype=np.float64)


def hlg_inverse_ootf(display_rgb: FloatArray, peak_nits: float = 1000.0) -> FloatArray:
    """Display light in cd/m² (BT.2020, ..., 3) → scene light (the HLG OOTF inverted)."""
    g = hlg_gamma(peak_nits)
    yd = np.maximum(display_rgb @ BT2020_Y, 1e-12)[..., None]
    return np.asarray(np.power(yd / peak_nits, (1 - g) / g) * display_rgb / peak_nits, dtype=np.float64)


def eetf_bt2390(nits: FloatArray, source_peak: float, target_peak: float) -> FloatArray:
    """ITU-R BT.2390 EETF (black levels 0): display light mastered to ``source_peak``, for ``target_peak``.

    Identity below the knee ``KS = 1.5 × maxLum − 0.5`` (in PQ, normalised to
    the source's peak), a Hermite spline from there to the target's peak.
    """
    if target_peak >= source_peak:
        return np.minimum(np.asarray(nits, dtype=np.float64), source_peak)
    top = float(pq_inverse_eotf(np.array(source_peak)))
    e1 = pq_inverse_eotf(nits) / top
    max_lum = float(pq_inverse_eotf(np.array(target_peak))) / top
    ks = 1.5 * max_lum - 0.5
    t = np.clip((e1 - ks) / (1 - ks), 0.0, 1.0)
    t2, t3 = t * t, t * t * t
    spline = (2 * t3 - 3 * t2 + 1) * ks + (t3 - 2 * t2 + t) * (1 - ks) + (-2 * t3 + 3 * t2) * max_lum
    e2 = np.where(e1 < ks, e1, spline)
    return pq_eotf(np.clip(e2, 0.0, 1.0) * top)


def bt1886_inverse(relative: FloatArray) -> FloatArray:
    """SDR display light (1.0 = peak white) → signal for a BT.1886 display (gamma 2.4, black 0)."""
    return np.power(np.clip(relative, 0.0, 1.0), 1 / 2.4)


def bt1886_eotf(signal: FloatArray) -> FloatArray:
    return np.power(np.clip(signal, 0.0, 1.0), 2.4)


def display_to_sdr(nits_709: FloatArray, source_peak: float, white_nits: float) -> FloatArray:
    """Linear BT.709 display light in cd/m² → BT.1886 SDR signal: the EETF, then ``white_nits`` ↦ 1.0."""
    rolled = eetf_bt2390(np.maximum(nits_709, 0.0), max(source_peak, white_nits), white_nits)
    return bt1886_inverse(rolled / white_nits)
