"""The fused kernel is separable: a horizontal pass into a float intermediate, then a vertical pass.

The first pass is run alone (on the emulated CuPy, and on a GPU where there is
one) and compared with the reference's horizontal resampling of each plane;
the whole kernel against the NumPy reference is in ``test_twins.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from farm.kernels import _cupy, rgb_to_yuv
from farm.kernels._resize import resize


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("filter", ["bilinear", "bicubic"])
def test_the_horizontal_pass_resamples_each_row_of_both_planes(device_xp, photos, dtype, filter):
    rgb = photos["chelsea"][:24, :40]
    y, uv = rgb_to_yuv(rgb, "bt709", "limited", "nv12" if dtype == np.uint8 else "p010")
    shift = 0 if dtype == np.uint8 else 6
    in_h, in_w = y.shape
    fit_w = 18
    cp = device_xp
    dy, duv = cp.asarray(y), cp.asarray(uv)
    tmp_y = cp.empty((in_h, fit_w), np.float32)
    tmp_c = cp.empty((in_h // 2, fit_w // 2, 2), np.float32)
    lx = _cupy.device_taps(in_w, fit_w, filter, 0)
    cx = _cupy.device_taps(in_w // 2, fit_w // 2, filter, 0)
    i32 = np.int32
    fmt = "nv12" if dtype == np.uint8 else "p010"
    args = (dy, duv, i32(in_w), i32(in_h), i32(in_w), i32(in_w), tmp_y, tmp_c, i32(fit_w),
            lx[0], lx[1], i32(lx[2]), cx[0], cx[1], i32(cx[2]))  # fmt: skip
    _cupy._launch("fused.cu", f"farm_{fmt}_resize_h", 0, in_h * fit_w + (in_h // 2) * (fit_w // 2), args)
    want_y = resize((y >> shift).astype(np.float32), fit_w, in_h, filter)
    want_c = resize((uv >> shift).astype(np.float32), fit_w // 2, in_h // 2, filter)
    np.testing.assert_allclose(cp.asnumpy(tmp_y), want_y, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(cp.asnumpy(tmp_c), want_c, rtol=1e-5, atol=1e-3)
