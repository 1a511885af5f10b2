"""``[colour] rendering = "aces"``: every source, SDR ones too, re-rendered by ACES 2.0 through OCIO.

The scene (tests/hdr_scene.py) as SDR, HLG and PQ is rendered with the ACES
rendering.  The SDR clip's grey patch is checked against OpenColorIO's own ACES
2.0 SDR output transform of the scene light colour-science's inverse BT.709
OETF gives; the HDR clips' mid-tones sit within CIEDE2000 5 of the SDR clip's.
The choice changes every source's look key, SDR sources included.
"""

from __future__ import annotations

import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from coded import Shot, write_cut
from hdr_scene import PATCHES, write_scene
from test_hdr_render import _lab, frame_patches

import farm
from farm.errors import ProjectError

colour = pytest.importorskip("colour")
KINDS = ("sdr", "hlg", "pq")
MID = [i for i, (_, k) in enumerate(PATCHES) if k == "mid"]
GREY = PATCHES.index(((0.18, 0.18, 0.18), "mid"))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("aces")
    (root / "media").mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for kind in KINDS:
            write_scene(root / "media" / f"{kind}.mp4", kind, frames=3)
    shots = [Shot(f"media/{k}.mp4", 0, 3, rate=Fraction(24), name=k) for k in KINDS]
    write_cut(root / "cuts" / "v.otio", shots)
    return root


def _write(root: Path, extra: str) -> Path:
    text = '[output]\nwidth = 320\nheight = 180\nfps = "24"\npreset = "ultrafast"\nquality = 2\n'
    (root / "farm.toml").write_text(text + f'[variants.v]\ntimeline = "cuts/v.otio"\n{extra}')
    return root / "farm.toml"


def _keys(root: Path, extra: str) -> tuple[list[str], int]:
    plan = farm.plan(_write(root, extra))
    assert not plan.failed, plan.failed
    return [p.key for p in plan.variants["v"].placements], len(plan.looks)


def test_the_aces_rendering_changes_every_sources_key(project: Path) -> None:
    base, base_looks = _keys(project, "")
    aces, aces_looks = _keys(project, '[colour]\nrendering = "aces"\n')
    assert base_looks == 2 and aces_looks == 3  # the SDR clip gets a chain of its own too
    assert len(base) == len(aces) == 3 and not set(base) & set(aces)
    assert _keys(project, '[colour]\nrendering = "bt2408"\n')[0] == base  # the default, said out loud


def _frames(path: Path) -> list[np.ndarray]:
    """The patches of each clip's first frame (one clip every 3 frames)."""
    import av

    out = []
    with av.open(str(path)) as c:
        for i, frame in enumerate(c.decode(video=0)):
            if i % 3 == 0:
                out.append(frame_patches(frame))
    return out


def _ocio_grey() -> float:
    """OCIO's ACES 2.0 SDR rendering of the SDR scene's grey patch, read back to scene light."""
    import PyOpenColorIO as ocio

    signal = 0.18 ** (1 / 2.4)  # how tests/hdr_scene.py encodes 0.18 for SDR
    scene = float(colour.models.oetf_inverse_BT709(signal))
    cfg = ocio.Config.CreateFromFile("ocio://studio-config-latest")
    view = ocio.DisplayViewTransform(
        src="Linear Rec.709 (sRGB)",
        display="Rec.1886 Rec.709 - Display",
        view="ACES 2.0 - SDR 100 nits (Rec.709)",
    )
    rgb = np.full((1, 3), scene, np.float32)
    cfg.getProcessor(view).getDefaultCPUProcessor().applyRGB(rgb)
    return float(rgb[0, 0])


@pytest.mark.usefixtures("ray_session")
def test_every_source_renders_through_aces(project: Path) -> None:
    out = project / "renders" / "v.mp4"
    assert farm.render(_write(project, ""), workers=1).variants["v"].error is None
    default = _frames(out)
    report = farm.render(_write(project, '[colour]\nrendering = "aces"\n'), workers=1)
    assert report.variants["v"].error is None
    aces = _frames(out)
    sdr, hlg, pq = aces
    assert abs(sdr[GREY].mean() - _ocio_grey()) < 0.01, (sdr[GREY], _ocio_grey())
    for name, clip in (("hlg", hlg), ("pq", pq)):
        de = np.asarray(colour.delta_E(_lab(clip[MID]), _lab(sdr[MID]), method="CIE 2000"))
        print(f"aces: {name} mid-tones vs the SDR clip, mean CIEDE2000 {de.mean():.2f}, max {de.max():.2f}")
        assert de.mean() < 5.0, de
    # ACES re-renders the SDR clip's mid-tones: measured against the default (BT.2408) rendering
    moved = np.asarray(colour.delta_E(_lab(sdr[MID]), _lab(default[0][MID]), method="CIE 2000"))
    print(f"aces vs bt2408, SDR clip mid-tones: mean CIEDE2000 {moved.mean():.2f}")
    assert moved.mean() > 2.0, moved


CONFIG = """ocio_profile_version: 2
roles:
  default: Linear Rec.709 (sRGB)
  scene_linear: Linear Rec.709 (sRGB)
  aces_interchange: Linear Rec.709 (sRGB)
  cie_xyz_d65_interchange: Linear Rec.709 (sRGB)
displays:
  sRGB:
    - !<View> {name: Raw, colorspace: Linear Rec.709 (sRGB)}
colorspaces:
  - !<ColorSpace>
    name: Linear Rec.709 (sRGB)
    isdata: false
"""


def test_aces_needs_its_view_and_an_hdr10_peak_it_has(project: Path) -> None:
    (project / "bare.ocio").write_text(CONFIG)
    plan = farm.plan(_write(project, '[colour]\nrendering = "aces"\nconfig = "bare.ocio"\n'))
    error = plan.failed["v"]
    assert isinstance(error, ProjectError) and "ACES 2.0 - SDR 100 nits (Rec.709)" in str(error), str(error)
    hdr = '[variants.v.output]\ncodec = "hevc"\nbit_depth = 10\ntransfer = "pq"\npeak_nits = 600\n'
    error = farm.plan(_write(project, '[colour]\nrendering = "aces"\n' + hdr)).failed["v"]
    assert isinstance(error, ProjectError) and error.exit_code == 65 and "600" in str(error), str(error)
    with pytest.raises(ProjectError) as info:
        farm.plan(_write(project, '[colour]\nrendering = "filmic"\n'))
    assert "bt2408 | aces" in str(info.value)
