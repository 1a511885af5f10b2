"""Colour matching baked into a 3D LUT.

Each method estimates a transfer from the source's and the reference's colour
statistics and evaluates it at the nodes of an N³ grid over [0, 1]; the
resulting :class:`Lut` is applied to every frame of the clip, so the look is
constant over the clip and nothing flickers. All methods work on encoded
(non-linear) RGB in [0, 1], as the frames come out of the decoder.

* ``"mkl"``: the Monge–Kantorovich linear transfer of Pitié & Kokaram (2007),
  the affine map that carries the source's mean and covariance onto the
  reference's while moving colours as little as possible.
* ``"reinhard"``: Reinhard, Ashikhmin, Gooch & Shirley (2001): per-channel
  mean and standard deviation transfer in the decorrelated lαβ space.
* ``"histogram"``: per-channel histogram matching (each channel's quantiles
  mapped onto the reference's), as ``skimage.exposure.match_histograms``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from farm.kernels._common import FloatArray
from farm.kernels._cube import Lut, identity_lut, lut_grid

#: a colour transfer evaluated on RGB values (..., 3)
Transfer = Callable[[FloatArray], FloatArray]

METHODS = ("mkl", "reinhard", "histogram")

#: node values are clipped to this range, not to [0, 1]: a transfer that leaves
#: [0, 1] inside a cell is then interpolated as it is and clipped per pixel by
#: whoever turns the result into pixels, instead of bending inside the cell
NODE_RANGE = (-1.0, 2.0)
#: statistics are estimated from at most this many pixels (a fixed stride, so reruns agree)
MAX_SAMPLES = 1 << 18
#: added to covariance diagonals so that a flat (e.g. grey) source still has an
#: inverse; tiny (a standard deviation of 3e-4, under a tenth of an 8-bit step)
#: so that it never changes the transfer of a real picture
_MKL_EPS = 1e-7
#: LMS floor before log10 in Reinhard's transfer: black has no logarithm. Well
#: below the darkest 8-bit step (1/255), so it only keeps pure black from
#: becoming an infinitely distant outlier in the statistics
_REINHARD_FLOOR = 1e-4

# Reinhard et al. 2001, eq. 4 (RGB -> LMS) and eq. 6 (log LMS -> lαβ)
_RGB_TO_LMS = np.array(
    [
        [0.3811, 0.5783, 0.0402],
        [0.1967, 0.7244, 0.0782],
        [0.0241, 0.1288, 0.8444],
    ]
)
_LMS_TO_LAB = np.diag([1.0 / np.sqrt(3.0), 1.0 / np.sqrt(6.0), 1.0 / np.sqrt(2.0)]) @ np.array(
    [[1.0, 1.0, 1.0], [1.0, 1.0, -2.0], [1.0, -1.0, 0.0]]
)


def sample_pixels(rgb: npt.ArrayLike, max_samples: int = MAX_SAMPLES) -> FloatArray:
    """Pixels of an image, clip or pixel list (..., 3) as (P, 3) float64, strided to ≤ max_samples."""
    x = np.asarray(rgb)
    if x.shape[-1:] != (3,) or x.size == 0:
        raise ValueError(f"expected RGB values of shape (..., 3), got {x.shape}")
    x = x.reshape(-1, 3)
    step = -(-x.shape[0] // max_samples)
    return np.clip(x[::step].astype(np.float64), 0.0, 1.0)


def _sym_power(m: FloatArray, power: float) -> FloatArray:
    """m ** power for a symmetric positive definite matrix (eigen-decomposition)."""
    values, vectors = np.linalg.eigh(m)
    values = np.maximum(values, 1e-12)
    result: FloatArray = (vectors * values**power) @ vectors.T
    return result


def mkl_transfer(source: FloatArray, reference: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``(T, offset)`` of the MKL map ``x -> T x + offset`` (Pitié & Kokaram 2007, eq. 8).

    ``T = Σu^-½ (Σu^½ Σv Σu^½)^½ Σu^-½``, the unique symmetric positive map
    with ``T Σu T = Σv``.
    """
    mu_u, mu_v = source.mean(axis=0), reference.mean(axis=0)
    eye = np.eye(3) * _MKL_EPS
    cov_u = np.cov(source, rowvar=False) + eye
    cov_v = np.cov(reference, rowvar=False) + eye
    root_u = _sym_power(cov_u, 0.5)
    inv_root_u = _sym_power(cov_u, -0.5)
    t = inv_root_u @ _sym_power(root_u @ cov_v @ root_u, 0.5) @ inv_root_u
    return t, mu_v - t @ mu_u


def _rgb_to_lab_reinhard(rgb: FloatArray) -> FloatArray:
    lms = np.maximum(rgb @ _RGB_TO_LMS.T, _REINHARD_FLOOR)
    lab: FloatArray = np.log10(lms) @ _LMS_TO_LAB.T
    return lab


def _lab_reinhard_to_rgb(lab: FloatArray) -> FloatArray:
    # bounded so that a degenerate transfer (a flat source) cannot overflow;
    # the bounds lie beyond black (the floor) and far beyond white
    log_lms = np.clip(lab @ np.linalg.inv(_LMS_TO_LAB).T, np.log10(_REINHARD_FLOOR), 2.0)
    lms = 10.0**log_lms
    rgb: FloatArray = lms @ np.linalg.inv(_RGB_TO_LMS).T
    return rgb


def _reinhard_map(source: FloatArray, reference: FloatArray) -> Transfer:
    lab_s, lab_r = _rgb_to_lab_reinhard(source), _rgb_to_lab_reinhard(reference)
    mu_s, mu_r = lab_s.mean(axis=0), lab_r.mean(axis=0)
    gain = lab_r.std(axis=0) / np.maximum(lab_s.std(axis=0), 1e-6)

    def transfer(rgb: FloatArray) -> FloatArray:
        return _lab_reinhard_to_rgb((_rgb_to_lab_reinhard(rgb) - mu_s) * gain + mu_r)

    return transfer


def histogram_curves(source: FloatArray, reference: FloatArray) -> list[tuple[FloatArray, FloatArray]]:
    """Per channel, the matching curve as (source values, matched values).

    A source value at empirical quantile q (fraction of source values ≤ it)
    maps to the reference's value at quantile q, interpolated linearly between
    the reference's distinct values. Between source values the curve is linear.
    """
    curves = []
    for c in range(3):
        src_values, src_counts = np.unique(source[:, c], return_counts=True)
        ref_values, ref_counts = np.unique(reference[:, c], return_counts=True)
        src_q = np.cumsum(src_counts) / source.shape[0]
        ref_q = np.cumsum(ref_counts) / reference.shape[0]
        curves.append((src_values, np.interp(src_q, ref_q, ref_values)))
    return curves


def _histogram_map(source: FloatArray, reference: FloatArray) -> Transfer:
    curves = histogram_curves(source, reference)

    def transfer(rgb: FloatArray) -> FloatArray:
        return np.stack([np.interp(rgb[..., c], *curves[c]) for c in range(3)], axis=-1)

    return transfer


def match(
    source_rgb: npt.ArrayLike,
    reference_rgb: npt.ArrayLike,
    method: str = "mkl",
    strength: float = 1.0,
    size: int = 33,
) -> Lut:
    """A ``size``³ LUT that makes ``source_rgb`` look like ``reference_rgb``.

    Both are float RGB in [0, 1] of any shape (..., 3): a frame, a stack of
    frames, or a pixel list. ``strength`` in [0, 1] blends the transfer
    with the identity (0 changes nothing).

    Node values are clipped to :data:`NODE_RANGE`, wider than [0, 1], so the
    LUT's output can leave [0, 1] where the transfer does: clip after applying
    it (pixel formats, ``rgb_to_yuv``, the fused kernel and FFmpeg's ``lut3d``
    on integer formats all do). Measured on photographs, clipping the nodes to
    [0, 1] instead roughly doubles the error against the exact transfer.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {strength}")
    source = sample_pixels(source_rgb)
    reference = sample_pixels(reference_rgb)
    identity = identity_lut(size)
    nodes = lut_grid(identity)
    if method == "mkl":
        t, offset = mkl_transfer(source, reference)
        mapped = nodes @ t.T + offset
    elif method == "reinhard":
        mapped = _reinhard_map(source, reference)(nodes)
    else:
        mapped = _histogram_map(source, reference)(nodes)
    table = np.clip(nodes + strength * (mapped - nodes), *NODE_RANGE)
    return Lut(table, title=f"farm match {method} strength {strength:g}")
