"""resize against Pillow, whose conventions it follows."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from farm.kernels import resize
from farm.kernels._resize import resize_weights

PILLOW_FILTERS = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "lanczos3": Image.LANCZOS}


def _pillow(image: np.ndarray, width: int, height: int, filter: str) -> np.ndarray:
    channels = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(image[..., c]), "F").resize(
                (width, height), PILLOW_FILTERS[filter]
            )
        )
        for c in range(image.shape[2])
    ]
    return np.stack(channels, axis=-1)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return np.inf if mse == 0 else 10 * np.log10(1.0 / mse)


@pytest.mark.parametrize("filter", ["bilinear", "bicubic", "lanczos3"])
@pytest.mark.parametrize(
    "size",
    [(61, 41), (37, 100), (160, 107), (250, 173), (401, 90)],
    ids=["shrink-2.6x", "shrink-x-enlarge-y", "same", "enlarge-1.6x", "enlarge-x-shrink-y"],
)
def test_matches_pillow(photos, filter, size):
    image = photos["astronaut"][:107]  # 160 x 107, non-integer ratios to every target
    result = resize(image, *size, filter)
    assert result.shape == (size[1], size[0], 3) and result.dtype == np.float32
    assert _psnr(result, _pillow(image, *size, filter)) >= 45.0


@pytest.mark.parametrize("filter", ["bilinear", "bicubic", "lanczos3"])
def test_matches_pillow_on_noise_where_edges_and_antialiasing_dominate(rng, filter):
    image = rng.random((33, 47, 2)).astype(np.float32)
    for size in ((13, 9), (100, 71)):
        assert _psnr(resize(image, *size, filter), _pillow(image, *size, filter)) >= 45.0


def test_weights_sum_to_one_and_sample_at_pixel_centres():
    start, weights = resize_weights(10, 5, "bilinear")
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-6)
    # output 0 of a 2x shrink centres on source 0.5: taps -1..2 with the kernel widened 2x, -1 dropped
    taps = {int(start[0]) + k: float(w) for k, w in enumerate(weights[0]) if w}
    assert taps == pytest.approx({0: 3 / 7, 1: 3 / 7, 2: 1 / 7})


def test_constant_image_stays_constant():
    image = np.full((20, 30, 3), 0.25, np.float32)
    for filter in ("bilinear", "bicubic", "lanczos3"):
        np.testing.assert_allclose(resize(image, 7, 45, filter), 0.25, atol=1e-6)


def test_accepts_single_channel_images(rng):
    image = rng.random((12, 16)).astype(np.float32)
    assert resize(image, 8, 6).shape == (6, 8)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="filter"):
        resize(np.zeros((4, 4, 3)), 2, 2, "nearest")
    with pytest.raises(ValueError, match="positive"):
        resize(np.zeros((4, 4, 3)), 0, 2)
