"""The .cube reader and writer: round trips, other writers' files, and errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from farm.errors import MissingInputError, ProjectError
from farm.kernels import Lut, apply_lut, identity_lut, read_cube, write_cube

colour = pytest.importorskip("colour")
warnings.filterwarnings("ignore", module="colour")


def _random_lut(rng: np.random.Generator, size: int = 5, **kwargs: object) -> Lut:
    return Lut(rng.random((size, size, size, 3)), **kwargs)


def test_round_trip_is_exact(tmp_path, rng):
    lut = _random_lut(rng, title="grade one")
    write_cube(lut, tmp_path / "a.cube")
    back = read_cube(tmp_path / "a.cube")
    np.testing.assert_array_equal(back.table3d, lut.table3d)
    assert back.title == "grade one"
    assert back.digest() == lut.digest()


def test_round_trip_keeps_domain_and_shaper(tmp_path, rng):
    shaper = np.linspace(0, 1, 16)[:, None] ** np.array([0.5, 0.6, 0.7])
    lut = _random_lut(rng, 4, domain_min=-0.25, domain_max=1.5, shaper1d=shaper, shaper_domain_max=2.0)
    write_cube(lut, tmp_path / "s.cube")
    text = (tmp_path / "s.cube").read_text()
    assert text.index("LUT_1D_SIZE 16") < text.index("LUT_3D_SIZE 4")
    back = read_cube(tmp_path / "s.cube")
    assert back.digest() == lut.digest()
    np.testing.assert_array_equal(back.domain_min, [-0.25] * 3)
    np.testing.assert_array_equal(back.shaper_domain_max, [2.0] * 3)


def test_per_channel_domain_is_written_as_domain_min_max(tmp_path, rng):
    lut = _random_lut(rng, 3, domain_min=[0.0, -0.1, 0.1], domain_max=[1.0, 1.2, 0.9])
    write_cube(lut, tmp_path / "d.cube")
    assert "DOMAIN_MIN 0 -0.1 0.1" in (tmp_path / "d.cube").read_text()
    assert read_cube(tmp_path / "d.cube").digest() == lut.digest()


def test_colour_science_reads_our_file_in_the_same_axis_order(tmp_path, rng):
    """Red varies fastest in the file; colour-science's reader must see the same table."""
    lut = _random_lut(rng, 6, domain_min=-0.1, domain_max=1.1)
    write_cube(lut, tmp_path / "c.cube")
    theirs = colour.read_LUT(str(tmp_path / "c.cube"))
    np.testing.assert_allclose(theirs.table, lut.table3d, atol=1e-8)
    np.testing.assert_allclose(theirs.domain, [[-0.1] * 3, [1.1] * 3], atol=1e-7)


def test_reads_resolve_shaper_files_written_by_colour_science(tmp_path, rng):
    domain_1d = np.array([[-0.1] * 3, [3.0] * 3])
    curve = np.linspace(0.0, 1.0, 64)[:, None] ** np.array([1 / 2.2, 1 / 2.0, 1 / 2.4])
    shaper = colour.LUT3x1D(curve, domain=domain_1d)
    cube = colour.LUT3D(rng.random((7, 7, 7, 3)), domain=np.array([[0.0] * 3, [1.4] * 3]))
    colour.write_LUT(colour.LUTSequence(shaper, cube), str(tmp_path / "r.cube"), method="Resolve Cube")
    ours = read_cube(tmp_path / "r.cube")
    assert ours.shaper1d is not None and ours.shaper1d.shape == (64, 3)
    x = rng.uniform(-0.1, 3.0, (500, 3))  # colour-science extrapolates a 1D LUT; Resolve clamps
    expected = cube.apply(shaper.apply(x), interpolator=colour.algebra.table_interpolation_tetrahedral)
    np.testing.assert_allclose(apply_lut(x, ours), expected, atol=2e-4)


def test_reads_iridas_files_written_by_colour_science(tmp_path, rng):
    domain = np.array([[-0.1, 0.0, 0.2], [1.1, 1.0, 0.8]])
    cube = colour.LUT3D(rng.random((5, 5, 5, 3)), domain=domain)
    colour.write_LUT(cube, str(tmp_path / "i.cube"), method="Iridas Cube")
    ours = read_cube(tmp_path / "i.cube")
    np.testing.assert_allclose(ours.domain_min, domain[0], atol=1e-7)
    x = rng.uniform(-0.2, 1.2, (500, 3))
    expected = cube.apply(x, interpolator=colour.algebra.table_interpolation_trilinear)
    np.testing.assert_allclose(apply_lut(x, ours, "trilinear"), expected, atol=2e-4)


def test_reads_a_1d_only_file_as_a_per_channel_curve(tmp_path):
    rows = "\n".join(f"{v:.6f} {v**2:.6f} {1 - v:.6f}" for v in np.linspace(0, 1, 11))
    (tmp_path / "one.cube").write_text(f"LUT_1D_SIZE 11\nDOMAIN_MIN 0 0 0\nDOMAIN_MAX 2 2 2\n{rows}\n")
    lut = read_cube(tmp_path / "one.cube")
    x = np.array([[0.0, 0.5, 1.0], [1.3, 1.9, 2.5]])
    t = np.clip(x / 2, 0, 1)
    nodes = np.linspace(0, 1, 11)
    expected = np.stack([np.interp(t[:, 0], nodes, nodes), np.interp(t[:, 1], nodes, nodes**2),
                         np.interp(t[:, 2], nodes, 1 - nodes)], -1)  # fmt: skip
    for interpolation in ("tetrahedral", "trilinear"):
        np.testing.assert_allclose(apply_lut(x, lut, interpolation), expected, atol=1e-6)


def test_ignores_comments_blank_lines_and_vendor_keywords(tmp_path):
    body = (
        identity_lut(2)
        .to_cube_text()
        .replace("LUT_3D_SIZE 2", "# comment\n\nLUT_3D_SIZE 2\nLUT_IN_VIDEO_RANGE")
    )
    (tmp_path / "v.cube").write_text(body)
    assert read_cube(tmp_path / "v.cube").digest() == identity_lut(2).digest()


def test_missing_file_is_a_missing_input_error(tmp_path):
    with pytest.raises(MissingInputError) as info:
        read_cube(tmp_path / "nope.cube")
    assert info.value.exit_code == 66 and "nope.cube" in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("LUT_3D_SIZE 2\n" + "0 0 0\n" * 7, "expected 8 table rows, found 7"),
        ("LUT_3D_SIZE 2\n" + "0 0 0\n" * 3 + "0 zero 0\n" + "0 0 0\n" * 4, "line 5: a table row has a value"),
        ("LUT_3D_SIZE 2\n" + "0 0 0\n" * 2 + "0 0\n" + "0 0 0\n" * 5, "line 4: a table row needs 3 numbers"),
        ("LUT_3D_SIZE 300\n0 0 0\n", "line 1: LUT_3D_SIZE 300 is outside [2, 256]"),
        ("TITLE x\n0 0 0\n", "neither LUT_1D_SIZE nor LUT_3D_SIZE"),
        ("LUT_3D_SIZE 2\nDOMAIN_MIN 0 0\n" + "0 0 0\n" * 8, "line 2: DOMAIN_MIN needs 3 numbers"),
        ("LUT_3D_SIZE 2\nDOMAIN_MIN 1 1 1\n" + "0 0 0\n" * 8, "domain_max"),
        ("LUT_3D_SIZE 2\n" + "0 0 0\n" * 8 + "DOMAIN_MAX 1 1 1\n", "line 10: keyword after the table data"),
    ],
)
def test_malformed_files_name_the_file_and_line(tmp_path, text, expected):
    path = tmp_path / "bad.cube"
    path.write_text(text)
    with pytest.raises(ProjectError) as info:
        read_cube(path)
    assert expected in str(info.value)
    assert "bad.cube" in str(info.value)


def test_digest_follows_pixels_not_title(rng):
    lut = _random_lut(rng, 3)
    table = lut.table3d.copy()
    assert Lut(table, title="other").digest() == lut.digest()
    table[1, 2, 0, 1] += 1e-6
    assert Lut(table).digest() != lut.digest()
    assert Lut(lut.table3d, domain_max=2.0).digest() != lut.digest()


def test_lut_arrays_are_read_only_copies(rng):
    table = rng.random((2, 2, 2, 3)).astype(np.float32)
    lut = Lut(table)
    table[0, 0, 0, 0] = 9.0
    assert lut.table3d[0, 0, 0, 0] != 9.0
    with pytest.raises(ValueError):
        lut.table3d[0, 0, 0, 0] = 1.0
