"""Applying and composing 3D LUTs: the NumPy reference.

The reference works in float64 and returns float32; the CuPy twin in
``_cupy.py`` (CUDA in ``cuda/lut.cu``) follows the same steps in float32.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from farm.kernels import _cupy
from farm.kernels._common import Array, FloatArray, check_interpolation, is_cupy
from farm.kernels._cube import Lut, lut_grid

IndexArray = npt.NDArray[np.intp]


def apply_lut(rgb: Array, lut: Lut, interpolation: str = "tetrahedral") -> Array:
    """Apply ``lut`` to RGB values of shape (..., 3).

    A NumPy array runs this reference and returns float32 NumPy; a CuPy array
    runs the CUDA kernel on its device and returns CuPy (no host copies).
    Inputs outside the LUT's domain are clamped to it, as Resolve, FFmpeg and
    OpenColorIO do.
    """
    check_interpolation(interpolation)
    if is_cupy(rgb):
        return _cupy.apply_lut(rgb, lut, interpolation)
    x = np.asarray(rgb, dtype=np.float64)
    if x.shape[-1:] != (3,):
        raise ValueError(f"rgb must have shape (..., 3), got {x.shape}")
    shape = x.shape
    x = x.reshape(-1, 3)
    if lut.shaper1d is not None:
        x = apply_shaper(x, lut)
    return _apply_table(x, lut, interpolation).reshape(shape).astype(np.float32)


def apply_shaper(x: FloatArray, lut: Lut) -> FloatArray:
    """The 1D stage: per-channel linear interpolation over the shaper's domain."""
    assert lut.shaper1d is not None
    out = np.empty_like(x, dtype=np.float64)
    nodes = np.linspace(0.0, 1.0, lut.shaper1d.shape[0])
    for c in range(3):
        lo, hi = float(lut.shaper_domain_min[c]), float(lut.shaper_domain_max[c])
        t = (x[:, c] - lo) / (hi - lo)
        out[:, c] = np.interp(t, nodes, lut.shaper1d[:, c].astype(np.float64))
    return out


def _apply_table(x: FloatArray, lut: Lut, interpolation: str) -> FloatArray:
    n = lut.size
    lo = lut.domain_min.astype(np.float64)
    hi = lut.domain_max.astype(np.float64)
    pos = np.clip((x - lo) / (hi - lo), 0.0, 1.0) * (n - 1)
    # the lower corner of the cell; the top node belongs to the last cell
    base = np.minimum(np.floor(pos), n - 2).astype(np.intp)
    frac = pos - base
    table = lut.table3d.reshape(-1, 3).astype(np.float64)
    strides = np.array([n * n, n, 1], dtype=np.intp)
    corner = base @ strides
    if interpolation == "trilinear":
        return _trilinear(table, corner, frac, strides)
    return _tetrahedral(table, corner, frac, strides)


def _trilinear(table: FloatArray, corner: IndexArray, frac: FloatArray, strides: IndexArray) -> FloatArray:
    out = np.zeros((corner.shape[0], 3))
    for dr in (0, 1):
        wr = frac[:, 0] if dr else 1.0 - frac[:, 0]
        for dg in (0, 1):
            wg = frac[:, 1] if dg else 1.0 - frac[:, 1]
            for db in (0, 1):
                wb = frac[:, 2] if db else 1.0 - frac[:, 2]
                offset = dr * strides[0] + dg * strides[1] + db * strides[2]
                out += (wr * wg * wb)[:, None] * table[corner + offset]
    return out


def _tetrahedral(table: FloatArray, corner: IndexArray, frac: FloatArray, strides: IndexArray) -> FloatArray:
    """Tetrahedral interpolation, written as a walk from the low to the high corner.

    The cell is cut into six tetrahedra along its main diagonal; the one that
    holds the point is found by ordering the fractions f1 >= f2 >= f3 (axes
    a1, a2, a3). The walk 000 -> +a1 -> +a1+a2 -> 111 visits its vertices and
    the barycentric weights are 1-f1, f1-f2, f2-f3, f3.
    """
    order = np.argsort(-frac, axis=1, kind="stable")
    f = np.take_along_axis(frac, order, axis=1)
    v1 = corner + strides[order[:, 0]]
    v2 = v1 + strides[order[:, 1]]
    v3 = corner + strides.sum()
    result: FloatArray = (
        (1.0 - f[:, 0])[:, None] * table[corner]
        + (f[:, 0] - f[:, 1])[:, None] * table[v1]
        + (f[:, 1] - f[:, 2])[:, None] * table[v2]
        + f[:, 2][:, None] * table[v3]
    )
    return result


def compose(first: Lut, then: Lut, size: int | None = None, interpolation: str = "tetrahedral") -> Lut:
    """One plain 3D LUT equal to applying ``first`` and then ``then``.

    The result samples the chain at the nodes of a ``size``³ grid (default:
    ``first``'s size) over ``first``'s input domain (its shaper's domain when it
    has one). It has no shaper, so FFmpeg's ``lut3d`` can use it; a shaper in
    ``first`` is baked in at the grid's resolution.
    """
    check_interpolation(interpolation)
    size = first.size if size is None else size
    if first.shaper1d is not None:
        lo, hi = first.shaper_domain_min, first.shaper_domain_max
    else:
        lo, hi = first.domain_min, first.domain_max
    grid_lut = Lut(np.zeros((size, size, size, 3), np.float32), domain_min=lo, domain_max=hi)
    grid = lut_grid(grid_lut)
    mid = apply_lut(grid, first, interpolation)
    out = apply_lut(mid, then, interpolation)
    title = " + ".join(t for t in (first.title, then.title) if t)
    return Lut(out, domain_min=lo, domain_max=hi, title=title)
