"""The whole colour description from the probe; [media] overrides; bad colour input is a clean exit."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from coded import Shot, write_cut
from hdr_scene import write_scene

from farm.edit.project import load_project
from farm.errors import FarmError
from farm.look.chain import resolve_input
from farm.media.probe import probe

REPO = Path(__file__).resolve().parents[1]


def _clip(
    path: Path, codec: str, pix: str, tags: tuple[int, int, int], matrix: list[int] | None = None
) -> Path:
    """A few grey frames with the given (primaries, transfer, matrix) tags and display matrix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = "mov" if path.suffix == ".mov" else None
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, pix
        if matrix is not None:
            stream.set_display_matrix(matrix)
        cc = stream.codec_context
        cc.color_primaries, cc.color_trc, cc.colorspace = tags
        cc.color_range = 1
        if codec == "libx265":
            cc.options = {"x265-params": "log-level=error"}
        if codec == "prores_ks":
            cc.options = {"profile": "3"}
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 90, np.uint8), "rgb24").reformat(
                format=pix
            )
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def test_hdr_sources_are_probed_with_transfer_depth_and_hdr10_metadata(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pq = probe(write_scene(tmp_path / "pq.mp4", "pq", frames=2))
        hlg = probe(write_scene(tmp_path / "hlg.mp4", "hlg", frames=2))
    assert (pq.primaries, pq.transfer, pq.colorspace, pq.bit_depth, pq.chroma) == (
        "bt2020",
        "smpte2084",
        "bt2020",
        10,
        "4:2:0",
    )
    assert (pq.mastering_max_nits, pq.max_cll, pq.max_fall) == (1000.0, 1000, 400)
    assert pq.mastering_min_nits == pytest.approx(0.0001)
    assert (hlg.transfer, hlg.max_cll, hlg.field_order, hlg.interlaced) == (
        "arib-std-b67",
        None,
        "progressive",
        False,
    )


def test_prores_422_10_bit_tags_come_from_the_container(tmp_path: Path) -> None:
    info = probe(_clip(tmp_path / "p.mov", "prores_ks", "yuv422p10le", (1, 1, 1)))
    # the frames of a ProRes MOV are untagged; the colr atom says BT.709
    assert (info.codec, info.bit_depth, info.chroma) == ("prores", 10, "4:2:2")
    assert (info.colorspace, info.colorspace_tagged, info.primaries, info.transfer) == (
        "bt709",
        True,
        "bt709",
        "bt709",
    )


def test_a_mirrored_display_matrix_is_a_mirror_not_a_half_turn(tmp_path: Path) -> None:
    one = 1 << 16
    flipped = probe(
        _clip(tmp_path / "m.mp4", "libx264", "yuv420p", (1, 1, 1), [-one, 0, 0, 0, one, 0, 0, 0, 1 << 30])
    )
    assert (flipped.rotation, flipped.mirrored) == (0, True)
    turned = probe(
        _clip(tmp_path / "r.mp4", "libx264", "yuv420p", (1, 1, 1), [-one, 0, 0, 0, -one, 0, 0, 0, 1 << 30])
    )
    assert (turned.rotation, turned.mirrored) == (180, False)


def _project(root: Path, extra: str) -> Path:
    (root / "phones").mkdir(parents=True, exist_ok=True)
    write_cut(root / "cuts" / "v.otio", [Shot("phones/a.mp4", 0, 2, rate=Fraction(25))])
    path = root / "farm.toml"
    path.write_text(f'[variants.v]\ntimeline = "cuts/v.otio"\n{extra}')
    return path


def test_media_globs_override_the_tags_later_tables_win(tmp_path: Path) -> None:
    src = _clip(tmp_path / "phones" / "a.mp4", "libx264", "yuv420p", (2, 2, 2))  # untagged
    project = load_project(
        _project(
            tmp_path,
            '[media."phones/*"]\ntransfer = "hlg"\nprimaries = "bt2020"\n'
            '[media."phones/a.mp4"]\npeak_nits = 600\n'
            '[media."other/*"]\ntransfer = "pq"\n',
        )
    )
    colour = project.variants["v"].look.colour
    t = resolve_input(probe(src), colour)
    assert (t.kind, t.primaries, t.peak_nits) == ("hlg", "bt2020", 600.0)
    # untagged without an override: SDR BT.709, the working space itself
    assert resolve_input(
        probe(src), load_project(_project(tmp_path, "")).variants["v"].look.colour
    ).is_identity


def test_a_log_encoding_reads_through_the_ocio_config(tmp_path: Path) -> None:
    src = _clip(tmp_path / "phones" / "a.mp4", "libx264", "yuv420p", (1, 1, 1))
    project = load_project(_project(tmp_path, '[media."phones/*"]\ntransfer = "arri-logc3"\n'))
    t = resolve_input(probe(src), project.variants["v"].look.colour)
    assert (t.kind, t.colorspace, t.config) == ("ocio", "ARRI LogC3 (EI800)", "ocio://studio-config-latest")
    assert t.key_parts()["ocio"]["ocio"].startswith("2.")


def _farm(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "farm", *args], capture_output=True, text=True, env=env)


def test_an_unknown_transfer_is_exit_65_naming_it_and_the_allowed_values(tmp_path: Path) -> None:
    _clip(tmp_path / "phones" / "a.mp4", "libx264", "yuv420p", (1, 1, 1))
    path = _project(tmp_path, '[media."phones/*"]\ntransfer = "canon-log"\n')
    result = _farm("plan", str(path))
    assert result.returncode == 65, result.stderr
    assert "'canon-log'" in result.stderr and "arri-logc3" in result.stderr and "canon-log3" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_tagged_transfer_farm_does_not_know_is_exit_65(tmp_path: Path) -> None:
    _clip(tmp_path / "phones" / "a.mp4", "libx264", "yuv420p", (1, 8, 1))  # linear light: not video
    result = _farm("plan", str(_project(tmp_path, "")))
    assert result.returncode == 65, result.stderr
    assert "'linear'" in result.stderr and "hlg" in result.stderr and "phones/a.mp4" in result.stderr


def test_an_unreadable_ocio_config_is_exit_66_naming_it(tmp_path: Path) -> None:
    _clip(tmp_path / "phones" / "a.mp4", "libx264", "yuv420p", (1, 1, 1))
    missing = tmp_path / "nowhere" / "config.ocio"
    path = _project(
        tmp_path, f'[colour]\nconfig = "{missing}"\n[media."phones/*"]\ntransfer = "sony-slog3"\n'
    )
    result = _farm("plan", str(path))
    assert result.returncode == 66, result.stderr
    assert str(missing) in result.stderr and "Traceback" not in result.stderr


def test_an_ocio_colour_space_the_config_lacks_is_exit_65(tmp_path: Path) -> None:
    src = _clip(tmp_path / "phones" / "a.mp4", "libx264", "yuv420p", (1, 1, 1))
    project = load_project(_project(tmp_path, '[media."phones/*"]\nocio_colorspace = "My Camera"\n'))
    with pytest.raises(FarmError) as info:
        resolve_input(probe(src), project.variants["v"].look.colour)
    assert info.value.exit_code == 65 and "'My Camera'" in str(info.value) and "ARRI LogC4" in str(info.value)
