"""Look analysis: the LUT that matches a clip's colour to a reference, and how far apart they are.

Frames sampled across the source and the reference (see
:func:`farm.media.frames.sample_frames`) pool into one set of pixels each;
:func:`farm.kernels.match` estimates the transfer and bakes it into a 3D LUT
that Resolve, FFmpeg's ``lut3d`` and OpenColorIO can apply. ``farm look``
(:mod:`farm.cli.look`) and the per-source looks of a render
(:mod:`farm.look.bake`) both use :func:`analyse_look`.
"""

from __future__ import annotations

import numpy as np

from farm.kernels import Lut, delta_e_2000, match, resize, srgb_to_lab
from farm.kernels._color import delta_e_2000_lab
from farm.kernels._match import MAX_SAMPLES

#: width both frames are resized to before a per-pixel comparison
_COMPARE_WIDTH = 256


def analyse_look(
    source_frames: list[np.ndarray],
    reference_frames: list[np.ndarray],
    method: str = "mkl",
    strength: float = 1.0,
    size: int = 33,
) -> Lut:
    """The LUT that matches the source frames to the reference frames.

    Every frame contributes equally to the statistics (each is subsampled to
    an equal share of the sample budget), whatever its size.
    """
    return match(_pooled_pixels(source_frames), _pooled_pixels(reference_frames), method, strength, size)


def _pooled_pixels(frames: list[np.ndarray]) -> np.ndarray:
    if not frames:
        raise ValueError("at least one frame is needed")
    share = max(1, MAX_SAMPLES // len(frames))
    pooled = []
    for frame in frames:
        pixels = np.asarray(frame, dtype=np.float32).reshape(-1, 3)
        pooled.append(pixels[:: -(-pixels.shape[0] // share)])
    return np.concatenate(pooled)


def mean_colour_delta_e(frames_a: list[np.ndarray], frames_b: list[np.ndarray]) -> float:
    """ΔE2000 between the mean L*a*b* colours of two frame sets (meaningful for any content)."""
    lab_a = srgb_to_lab(_pooled_pixels(frames_a)).mean(axis=0)
    lab_b = srgb_to_lab(_pooled_pixels(frames_b)).mean(axis=0)
    return float(delta_e_2000_lab(lab_a, lab_b))


def fit_width(frame: np.ndarray, width: int, height: int | None = None) -> np.ndarray:
    """``frame`` resized to ``width`` (and ``height``, else keeping its aspect), clipped to [0, 1]."""
    h, w = frame.shape[:2]
    height = height or max(1, round(h * width / w))
    resized: np.ndarray = np.clip(resize(frame, width, height, "bilinear"), 0.0, 1.0)
    return resized


def pixel_delta_e(frame_a: np.ndarray, frame_b: np.ndarray) -> float:
    """Mean per-pixel ΔE2000 after resizing both to a common size (meaningful for the same scene)."""
    h, w = frame_b.shape[:2]
    height = max(1, round(h * _COMPARE_WIDTH / w))
    a = fit_width(frame_a, _COMPARE_WIDTH, height)
    b = fit_width(frame_b, _COMPARE_WIDTH, height)
    return float(delta_e_2000(a, b).mean())


def pairs(frames_a: list[np.ndarray], frames_b: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each frame of ``frames_a`` with a frame of ``frames_b`` (cycling when ``frames_b`` is shorter)."""
    return [(a, frames_b[i % len(frames_b)]) for i, a in enumerate(frames_a)]
