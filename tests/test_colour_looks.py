"""The creative look as an OpenColorIO look (by name, from a config file or the built-in studio config).

A small OCIO config written here holds two CDL looks; the render's pixels are
read back and compared with what the CDL does to linear light (slope 0.5 on red
halves red's linear light: its signal is multiplied by 0.5^(1/2.4)).  The look's
name and its config join the look key; an unknown look is exit 65 naming the
looks the config has, an unreadable config exit 66 naming the path.
"""

from __future__ import annotations

import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from coded import Shot, write_cut
from hdr_scene import PATCHES, patch_centres, write_scene

import farm
from farm.errors import MissingInputError, ProjectError

CONFIG = """ocio_profile_version: 2
roles:
  default: Linear Rec.709 (sRGB)
  scene_linear: Linear Rec.709 (sRGB)
  aces_interchange: Linear Rec.709 (sRGB)
  cie_xyz_d65_interchange: Linear Rec.709 (sRGB)
displays:
  sRGB:
    - !<View> {name: Raw, colorspace: Linear Rec.709 (sRGB)}
looks:
  - !<Look>
    name: cool
    process_space: Linear Rec.709 (sRGB)
    transform: !<CDLTransform> {slope: [0.5, 1, 1]}
  - !<Look>
    name: warm
    process_space: Linear Rec.709 (sRGB)
    transform: !<CDLTransform> {slope: [1, 1, 0.5]}
colorspaces:
  - !<ColorSpace>
    name: Linear Rec.709 (sRGB)
    isdata: false
"""
GREY = PATCHES.index(((0.18, 0.18, 0.18), "mid"))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("looks")
    (root / "media").mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_scene(root / "media" / "sdr.mp4", "sdr", frames=3)
    write_cut(root / "cuts" / "v.otio", [Shot("media/sdr.mp4", 0, 3, rate=Fraction(24), name="sdr")])
    (root / "looks.ocio").write_text(CONFIG)
    return root


def _write(root: Path, look: str) -> Path:
    text = '[output]\nwidth = 320\nheight = 180\nfps = "24"\npreset = "ultrafast"\nquality = 0\n'
    (root / "farm.toml").write_text(text + f'[variants.v]\ntimeline = "cuts/v.otio"\n[look]\n{look}\n')
    return root / "farm.toml"


def _key(root: Path, look: str) -> str:
    return farm.plan(_write(root, look)).variants["v"].placements[0].key


def _grey(path: Path) -> np.ndarray:
    """Mean R'G'B' (BT.709 limited range decoded to [0, 1]) of the 0.18 grey patch of the first frame."""
    import av

    with av.open(str(path)) as c:
        frame = next(c.decode(video=0))
        img = frame.reformat(format="rgb48le", src_colorspace="itu709", src_color_range="MPEG").to_ndarray()
    y, x = patch_centres()[GREY]
    return np.asarray(img[y - 6 : y + 6, x - 6 : x + 6].reshape(-1, 3).mean(axis=0) / 65535.0)


@pytest.mark.usefixtures("ray_session")
def test_an_ocio_look_from_a_config_file_renders_what_the_cdl_does(project: Path) -> None:
    plain = farm.render(_write(project, ""), workers=1)
    assert plain.variants["v"].error is None
    before = _grey(project / "renders" / "v.mp4")
    looked = farm.render(_write(project, 'ocio_look = "cool"\nocio_config = "looks.ocio"'), workers=1)
    assert looked.variants["v"].error is None
    after = _grey(project / "renders" / "v.mp4")
    print(f"grey before {before.round(4)}, after the 'cool' look {after.round(4)}")
    assert abs(before[0] - 0.18 ** (1 / 2.4)) < 0.01  # the scene's grey, as SDR
    assert abs(after[0] - before[0] * 0.5 ** (1 / 2.4)) < 0.01, (before, after)  # red's linear light halved
    assert np.abs(after[1:] - before[1:]).max() < 0.01  # green and blue untouched


def test_the_look_name_and_config_join_the_key(project: Path) -> None:
    base = _key(project, "")
    cool = _key(project, 'ocio_look = "cool"\nocio_config = "looks.ocio"')
    warm = _key(project, 'ocio_look = "warm"\nocio_config = "looks.ocio"')
    assert len({base, cool, warm}) == 3
    assert _key(project, 'ocio_look = "cool"\nocio_config = "looks.ocio"') == cool
    # the built-in studio config's look, by name ([colour] config is the studio config by default)
    studio = _key(project, 'ocio_look = "ACES 1.3 Reference Gamut Compression"')
    assert studio not in (base, cool, warm)


def test_an_unknown_look_is_exit_65_listing_the_configs_looks(project: Path) -> None:
    error = farm.plan(_write(project, 'ocio_look = "teal"\nocio_config = "looks.ocio"')).failed["v"]
    text = str(error)
    assert isinstance(error, ProjectError) and error.exit_code == 65, text
    assert "'teal'" in text and "cool, warm" in text and "variant 'v'" in text, text


def test_an_unreadable_look_config_is_exit_66_naming_it(project: Path) -> None:
    (project / "broken.ocio").write_text("ocio_profile_version: 2\ncolorspaces: [oops\n")
    for config in ("missing.ocio", "broken.ocio"):
        try:  # a missing file is found when farm.toml is read; an unreadable one when the look is planned
            error: Exception = farm.plan(
                _write(project, f'ocio_look = "cool"\nocio_config = "{config}"')
            ).failed["v"]
        except MissingInputError as exc:
            error = exc
        assert isinstance(error, MissingInputError) and error.exit_code == 66, str(error)
        assert config in str(error), str(error)
