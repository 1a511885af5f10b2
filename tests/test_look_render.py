"""Looks in renders: a cast clip matched to a reference moves toward it; LUT hash in the key."""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from coded import Shot, write_cut

import farm
from farm.kernels import delta_e_2000
from farm.media.synth import frame_rgb, write_clip

pytestmark = pytest.mark.usefixtures("ray_session")
REPO = Path(__file__).resolve().parents[1]


def _frames(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as c:
        return np.stack([frame_rgb(f) for f in c.decode(video=0)]).astype(np.float32) / 255.0


def test_a_lofi_clip_matched_to_the_reference_moves_toward_it(tmp_path: Path) -> None:
    root = tmp_path / "p"
    (root / "media").mkdir(parents=True)
    common = dict(width=480, height=270, rate=24, frames=24, pattern="city", source_id=3)
    write_clip(root / "media" / "lofi.mp4", color_cast=(1.25, 1.0, 0.7), noise=0.05, **common)
    write_clip(root / "media" / "hero.mp4", **common)
    for name in ("matched", "raw", "hero"):
        src = "hero" if name == "hero" else "lofi"
        write_cut(
            root / "cuts" / f"{name}.otio", [Shot(f"media/{src}.mp4", 0, 24, rate=Fraction(24), name=src)]
        )
    (root / "farm.toml").write_text(
        '[output]\nwidth = 320\nheight = 180\npreset = "ultrafast"\nquality = 16\n'
        '[look]\nreference = "media/hero.mp4"\nmethod = "mkl"\n'
        '[variants.matched]\ntimeline = "cuts/matched.otio"\n'
        '[variants.raw]\ntimeline = "cuts/raw.otio"\n[variants.raw.look]\nreference = ""\n'
        '[variants.hero]\ntimeline = "cuts/hero.otio"\n[variants.hero.look]\nreference = ""\n'
    )
    the_plan = farm.plan(root / "farm.toml")
    assert len(the_plan.looks) == 1  # one analysis, for the one source that is matched
    report = farm.render(root / "farm.toml", workers=2)
    for v in report.variants.values():
        assert v.error is None, v.error
    hero = _frames(root / "renders" / "hero.mp4")
    before = float(delta_e_2000(_frames(root / "renders" / "raw.mp4"), hero).mean())
    after = float(delta_e_2000(_frames(root / "renders" / "matched.mp4"), hero).mean())
    assert before > 5.0  # the cast is strong
    assert after < before / 2, (before, after)
    # the baked LUT is in the cache and joins the key: a different strength is a different segment
    assert len(list((root / ".farm-cache" / "looks").glob("*.cube"))) == 1
    text = (root / "farm.toml").read_text().replace('method = "mkl"\n', 'method = "mkl"\nstrength = 0.5\n')
    (root / "farm.toml").write_text(text)
    again = farm.render(root / "farm.toml", workers=2)
    assert again.variants["matched"].segments_rendered == 1
    assert again.variants["raw"].segments_rendered == 0 and again.variants["hero"].segments_rendered == 0


def test_a_missing_reference_fails_only_its_variant(project_dir: Path) -> None:
    write_cut(project_dir / "cuts" / "a.otio", [Shot("s24", 0, 12)])
    (project_dir / "farm.toml").write_text(
        '[output]\nwidth = 320\nheight = 180\npreset = "ultrafast"\n'
        '[variants.a]\ntimeline = "cuts/a.otio"\n'
        '[variants.b]\ntimeline = "cuts/a.otio"\n[variants.b.look]\nreference = "stills/none.png"\n'
    )
    report = farm.render(project_dir / "farm.toml", workers=2)
    assert report.variants["a"].error is None
    err = report.variants["b"].error
    assert err is not None and err.exit_code == 66 and "look reference not found" in str(err)


def test_creative_lut_in_a_render_matches_the_reference_kernel(tmp_path: Path) -> None:
    from farm.kernels import Lut, apply_lut, read_cube, write_cube

    root = tmp_path / "p"
    (root / "media").mkdir(parents=True)
    write_clip(
        root / "media" / "city.mp4",
        width=640,
        height=360,
        rate=24,
        frames=12,
        pattern="city",
        source_id=2,
        crf=12,
    )
    # a strong, smooth grade: swap red and blue, lift the shadows, crush the highlights
    n = 17
    axis = np.linspace(0, 1, n, dtype=np.float32)
    r, g, b = np.meshgrid(axis, axis, axis, indexing="ij")
    table = np.stack([0.1 + 0.8 * b, 0.05 + 0.9 * g**1.3, 0.1 + 0.8 * r], axis=-1).astype(np.float32)
    write_cube(Lut(table, title="test grade"), root / "grade.cube")
    write_cut(root / "cuts" / "c.otio", [Shot("media/city.mp4", 0, 12, rate=Fraction(24), name="city")])
    (root / "farm.toml").write_text(
        '[output]\nwidth = 640\nheight = 360\npreset = "ultrafast"\nquality = 10\n'
        '[variants.plain]\ntimeline = "cuts/c.otio"\n'
        '[variants.graded]\ntimeline = "cuts/c.otio"\n[variants.graded.look]\nlut = "grade.cube"\n'
    )
    report = farm.render(root / "farm.toml", workers=2)
    assert all(v.error is None for v in report.variants.values())
    plain = _frames(root / "renders" / "plain.mp4")
    graded = _frames(root / "renders" / "graded.mp4")
    expected = np.clip(apply_lut(plain, read_cube(root / "grade.cube")), 0, 1)
    # 8-bit 4:2:0 round trips on both sides: a few code values of difference, not a different grade
    assert float(np.abs(expected - graded).mean()) < 4 / 255
    assert float(np.abs(plain - graded).mean()) > 10 / 255  # and the grade is far from nothing


def _without_pillow(tmp_path: Path) -> dict[str, str]:
    """An environment in which ``import PIL`` fails, as on an install without Pillow."""
    poison = tmp_path / "no-pillow" / "PIL"
    poison.mkdir(parents=True)
    (poison / "__init__.py").write_text("raise ImportError('Pillow is not installed here')\n")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(poison.parent), str(REPO)])}


def test_a_video_reference_needs_no_pillow_and_a_still_says_what_to_install(tmp_path: Path) -> None:
    from PIL import Image

    root = tmp_path / "p"
    for sub in ("stills", "media"):
        (root / sub).mkdir(parents=True)
    common = dict(width=320, height=180, rate=24, frames=12, pattern="city", source_id=1)
    write_clip(root / "media" / "lofi.mp4", color_cast=(1.2, 1.0, 0.75), **common)
    write_clip(root / "media" / "hero.mp4", **common)
    Image.new("RGB", (64, 36), (90, 120, 200)).save(root / "stills" / "hero.png")
    write_cut(root / "cuts" / "c.otio", [Shot("media/lofi.mp4", 0, 12, rate=Fraction(24), name="lofi")])
    (root / "farm.toml").write_text(
        '[output]\nwidth = 320\nheight = 180\npreset = "ultrafast"\n'
        '[variants.video]\ntimeline = "cuts/c.otio"\n[variants.video.look]\nreference = "media/hero.mp4"\n'
        '[variants.still]\ntimeline = "cuts/c.otio"\n[variants.still.look]\nreference = "stills/hero.png"\n'
    )
    env = _without_pillow(tmp_path)
    poisoned = subprocess.run([sys.executable, "-c", "import PIL"], env=env, capture_output=True, text=True)
    assert poisoned.returncode != 0 and "Pillow is not installed here" in poisoned.stderr

    proc = subprocess.run(
        [sys.executable, "-m", "farm", "render", str(root / "farm.toml"), "--workers", "2", "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert (root / "renders" / "video.mp4").is_file(), proc.stderr  # the video reference rendered
    assert not (root / "renders" / "still.mp4").exists()
    assert proc.returncode == 69, proc.stderr  # the still: unavailable, not an internal error (70)
    assert "variant 'still'" in proc.stderr and "pip install pillow" in proc.stderr
    assert "Traceback" not in proc.stderr

    look = [sys.executable, "-m", "farm", "look", "--out", str(tmp_path / "look.cube")]
    by_video = subprocess.run(
        [*look, str(root / "media" / "lofi.mp4"), "--reference", str(root / "media" / "hero.mp4")],
        env=env,
        capture_output=True,
        text=True,
    )
    assert by_video.returncode == 0, by_video.stderr
    by_still = subprocess.run(
        [*look, str(root / "media" / "lofi.mp4"), "--reference", str(root / "stills" / "hero.png")],
        env=env,
        capture_output=True,
        text=True,
    )
    assert by_still.returncode == 69 and "pip install pillow" in by_still.stderr, by_still.stderr
