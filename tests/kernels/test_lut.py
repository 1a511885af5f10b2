"""apply_lut and compose against colour-science and FFmpeg's lut3d filter."""

from __future__ import annotations

import subprocess
import sys
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from farm.kernels import Lut, apply_lut, compose, identity_lut, write_cube

colour = pytest.importorskip("colour")
warnings.filterwarnings("ignore", module="colour")

INTERPOLATORS = {
    "tetrahedral": "table_interpolation_tetrahedral",
    "trilinear": "table_interpolation_trilinear",
}


def _creative(size: int, rng: np.random.Generator, noise: float = 0.03) -> np.ndarray:
    """A smooth but clearly non-linear grade, with some noise so every cell differs."""
    grid = identity_lut(size).table3d.astype(np.float64)
    r, g, b = np.moveaxis(grid, -1, 0)
    table = np.stack(
        [r**0.7 * 0.9 + 0.1 * g * b, 0.2 + 0.6 * g**1.3 + 0.1 * r, np.sqrt(b) * (0.8 + 0.2 * r)], -1
    )
    return np.clip(table + noise * rng.standard_normal(table.shape), 0.0, 1.0)


@pytest.mark.parametrize("interpolation", ["tetrahedral", "trilinear"])
@pytest.mark.parametrize("size", [2, 17, 33])
def test_matches_colour_science(rng, interpolation, size):
    table = _creative(size, rng)
    domain = np.array([[-0.05, 0.0, 0.1], [1.1, 1.0, 0.95]])
    theirs = colour.LUT3D(table, domain=domain)
    ours = Lut(table, domain_min=domain[0], domain_max=domain[1])
    rgb = rng.uniform(-0.1, 1.15, (96, 80, 3)).astype(np.float32)  # includes out-of-domain values
    interpolator = getattr(colour.algebra, INTERPOLATORS[interpolation])
    expected = theirs.apply(rgb.astype(np.float64), interpolator=interpolator)
    result = apply_lut(rgb, ours, interpolation)
    assert result.dtype == np.float32 and result.shape == rgb.shape
    assert np.abs(result - expected).max() < 2e-4


def test_tetrahedral_and_trilinear_are_exact_at_nodes_and_on_linear_tables(rng):
    lut = Lut(_creative(5, rng))
    nodes = identity_lut(5).table3d
    for interpolation in ("tetrahedral", "trilinear"):
        np.testing.assert_allclose(apply_lut(nodes, lut, interpolation), lut.table3d, atol=1e-6)
        x = rng.random((50, 3))
        np.testing.assert_allclose(apply_lut(x, identity_lut(3), interpolation), x, atol=1e-6)


def test_shaper_then_table_matches_colour_science_sequence(rng):
    domain_1d = np.array([[0.0] * 3, [4.0] * 3])
    curve = (np.linspace(0, 1, 256)[:, None] ** np.array([0.45, 0.5, 0.55])).astype(np.float64)
    table = _creative(9, rng)
    sequence = colour.LUTSequence(colour.LUT3x1D(curve, domain=domain_1d), colour.LUT3D(table))
    ours = Lut(table, shaper1d=curve, shaper_domain_min=0.0, shaper_domain_max=4.0)
    x = rng.uniform(0.0, 4.0, (64, 64, 3))
    tetra = colour.algebra.table_interpolation_tetrahedral
    expected = sequence[1].apply(sequence[0].apply(x), interpolator=tetra)
    assert np.abs(apply_lut(x, ours) - expected).max() < 2e-4


def test_compose_equals_applying_one_then_the_other(rng):
    first = Lut(_creative(17, rng, noise=0.0))
    then = Lut(_creative(9, rng, noise=0.0)[::-1], domain_min=-0.1, domain_max=1.1)
    both = compose(first, then)
    assert both.size == 17 and both.shaper1d is None
    nodes = identity_lut(17).table3d
    np.testing.assert_allclose(both.table3d, apply_lut(apply_lut(nodes, first), then), atol=1e-6)
    x = rng.random((64, 64, 3)).astype(np.float32)
    # between nodes only interpolation error remains
    assert np.abs(apply_lut(x, both) - apply_lut(apply_lut(x, first), then)).mean() < 2e-3


def test_compose_with_identity_changes_nothing(rng):
    lut = Lut(_creative(9, rng))
    np.testing.assert_allclose(compose(identity_lut(9), lut).table3d, lut.table3d, atol=1e-6)
    np.testing.assert_allclose(compose(lut, identity_lut(2)).table3d, lut.table3d, atol=1e-6)


@pytest.mark.parametrize("interpolation", ["tetrahedral", "trilinear"])
def test_ffmpeg_lut3d_reads_our_cube_and_agrees(tmp_path, rng, interpolation):
    """The CPU render path applies our .cube with libavfilter's lut3d: it must read it the same way."""
    av = pytest.importorskip("av")
    lut = Lut(_creative(17, rng), title="ffmpeg check")
    path = tmp_path / "grade.cube"
    write_cube(lut, path)
    rgb = rng.random((32, 48, 3)).astype(np.float32)

    graph = av.filter.Graph()
    source = graph.add_buffer(width=48, height=32, format="gbrpf32le", time_base=Fraction(1, 25))
    lut3d = graph.add("lut3d", f"file={path}:interp={interpolation}")
    sink = graph.add("buffersink")
    source.link_to(lut3d)
    lut3d.link_to(sink)
    graph.configure()
    frame = av.VideoFrame.from_ndarray(rgb, format="gbrpf32le")
    frame.pts = 0
    graph.push(frame)
    filtered = graph.pull().to_ndarray()

    assert np.abs(filtered - apply_lut(rgb, lut, interpolation)).max() < 1e-4


def test_numpy_inputs_never_import_cupy(rng):
    code = (
        "import sys, numpy as np\n"
        "import farm.kernels as k\n"
        "k.apply_lut(np.zeros((2, 2, 3), np.float32), k.identity_lut(2))\n"
        "k.resize(np.zeros((4, 4, 3), np.float32), 2, 2)\n"
        "assert 'cupy' not in sys.modules, 'cupy was imported'\n"
    )
    import farm.kernels

    repo_root = Path(farm.kernels.__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=repo_root)


def test_rejects_unknown_interpolation():
    with pytest.raises(ValueError, match="interpolation"):
        apply_lut(np.zeros((1, 3)), identity_lut(2), "cubic")
