"""CuPy launch code for ``cuda/composite.cu`` (the twin of :mod:`farm.kernels._composite`).

Imported only when a CuPy array reaches :func:`farm.kernels._composite.mix_layer`
or :func:`~farm.kernels._composite.finish`; the arguments have been checked
there. Launches run on CuPy's current stream; nothing is copied to the host. A
wipe's mask plane (the CPU backend's, computed on the host by
:func:`farm.kernels._composite.wipe_plane`) is uploaded once per mask, weight,
size and device.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from farm.kernels._cupy import _cupy, _launch


def _contiguous(cp: Any, plane: Any) -> Any:
    return cp.ascontiguousarray(plane)


@functools.lru_cache(maxsize=4)
def _device_plane(cp: Any, mask: str, weight: float, width: int, height: int, device_id: int) -> Any:
    from farm.kernels._composite import wipe_plane

    with cp.cuda.Device(device_id):
        return cp.asarray(wipe_plane(mask, weight, width, height))


def mix_layer(
    acc_y: Any,
    acc_uv: Any,
    y: Any,
    uv: Any,
    alpha: Any | None,
    weight: float,
    mask: str,
) -> None:
    cp = _cupy()
    h, w = (int(n) for n in acc_y.shape)
    dev = acc_y.device.id
    if not (acc_y.flags.c_contiguous and acc_uv.flags.c_contiguous):
        raise ValueError("the accumulators must be contiguous (they are written in place)")
    with acc_y.device:
        y_c, uv_c = _contiguous(cp, y), _contiguous(cp, uv)
        # without alpha the kernel never reads the plane: any uint8 array stands in for it
        a_c = _contiguous(cp, alpha) if alpha is not None else y_c
        # likewise the mask plane of a layer that is no wipe
        m_c = _device_plane(cp, mask, weight, w, h, dev) if mask else y_c
        args = (acc_y, acc_uv, y_c, uv_c, a_c, np.int32(alpha is not None), m_c, np.int32(bool(mask)),
                np.float32(weight), np.int32(w), np.int32(h))  # fmt: skip
        _launch("composite.cu", "farm_mix_layer", dev, (h // 2) * (w // 2), args)


def finish(acc: Any) -> Any:
    cp = _cupy()
    with acc.device:
        out = cp.empty(acc.shape, cp.uint8)
        _launch("composite.cu", "farm_finish", acc.device.id, acc.size, (acc, out, np.int64(acc.size)))
    return out
