"""The stitcher: segments and audio joined by packet copy, each input opened once, checked in one read.

The reference for its bytes is the stitcher as it was before (``stitch_reference``):
the same packets, timestamps and interleaving must come out, whatever the codec,
the B-frames or the order pieces are appended in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import pytest
from stitch_media import decoded_codes, write_audio, write_segment
from stitch_reference import reference_mux, reference_verify

from farm.errors import InternalError, Where
from farm.media.inputs import NO_PROBE_DECODE
from farm.media.stitch import StitchPiece, extend, start_stitch, stitch

FPS = Fraction(24)


def make_pieces(
    folder: Path, counts: list[int], *, bframes: list[int | None] | None = None, **kw: Any
) -> list[StitchPiece]:
    """Segments of ``counts`` frames; segment ``i`` codes ``3 * i``, ``3 * i + 1``, ..."""
    pieces, start = [], 0
    for i, count in enumerate(counts):
        path = write_segment(folder / f"seg{i}.mp4", count, 3 * i, bframes=(bframes or [None] * 99)[i], **kw)
        pieces.append(StitchPiece(path, start, count))
        start += count
    return pieces


def expected_codes(pieces: list[StitchPiece]) -> list[int]:
    return [(3 * i + f) % 28 for i, p in enumerate(pieces) for f in range(p.count)]


def temp_files(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if "farm-tmp" in p.name]


CASES = {
    "h264 with audio": dict(counts=[12, 24, 7, 30], audio=True),
    "h264 B-frames": dict(counts=[12, 25, 9], bframes=[2, 2, 2], audio=False),
    "h264 B-frames with audio": dict(counts=[13, 12], bframes=[3, 3], audio=True),
    # the decode delay grows twice: the file starts again, each time from its first segment
    "delays differ": dict(counts=[12, 24, 7, 13], bframes=[0, 2, 0, 3], headers_in_band=True, audio=True),
    "29.97 B-frames with audio": dict(
        counts=[15, 16, 9], bframes=[2, 2, 2], fps=Fraction(30000, 1001), audio=True
    ),
    "hevc": dict(counts=[12, 14], codec="libx265", audio=True),
    "prores": dict(counts=[5, 6], codec="prores_ks", audio=False),
}


@pytest.mark.parametrize("case", CASES)
def test_the_stitch_is_byte_identical_to_the_reference(tmp_path: Path, case: str) -> None:
    spec = dict(CASES[case])
    audio = spec.pop("audio")
    fps = spec.get("fps", FPS)
    pieces = make_pieces(tmp_path, **spec)  # type: ignore[arg-type]
    frames = sum(p.count for p in pieces)
    audio_path = write_audio(tmp_path / "a.m4a", Fraction(frames) / fps) if audio else None
    ext = ".mov" if spec.get("codec") == "prores_ks" else ".mp4"
    reference_mux(tmp_path / f"ref{ext}", pieces, audio_path, fps, "farm-plan:0123")
    result = stitch(pieces, audio_path, tmp_path / f"out{ext}", fps, frames, "v", plan_digest="0123")
    assert (tmp_path / f"out{ext}").read_bytes() == (tmp_path / f"ref{ext}").read_bytes()
    assert result["frames"] == frames and result["keyframes"] >= len(pieces)
    # the one-read check finds what the two-read one did
    assert result == reference_verify(tmp_path / f"out{ext}", fps, frames, len(pieces), audio, Where())
    assert decoded_codes(tmp_path / f"out{ext}") == expected_codes(pieces)
    assert temp_files(tmp_path) == []


def _video_params(path: Path) -> dict[str, Any]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        cc = s.codec_context
        return {
            "codec": cc.name,
            "tag": cc.codec_tag,
            "extradata": cc.extradata,
            "profile": cc.profile,
            "size": (cc.width, cc.height),
            "pix_fmt": cc.pix_fmt,
            "colour": (cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range),
            "sar": s.sample_aspect_ratio,
            "rate": s.average_rate,
        }


@pytest.mark.parametrize("codec", ["libx264", "libx265"])
def test_codec_parameters_and_colour_tags_are_the_references(tmp_path: Path, codec: str) -> None:
    """Inputs are read without decoding a picture, yet the output says exactly what it said before."""
    pieces = make_pieces(tmp_path, [12, 12], codec=codec)
    reference_mux(tmp_path / "ref.mp4", pieces, None, FPS, None)
    stitch(pieces, None, tmp_path / "out.mp4", FPS, 24, "v")
    params = _video_params(tmp_path / "out.mp4")
    assert params == _video_params(tmp_path / "ref.mp4")
    assert params["colour"] == (1, 1, 1, 1) and params["extradata"]


def test_every_input_is_opened_once_without_a_probe_decode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pieces = make_pieces(tmp_path, [12, 7, 12, 5])
    audio = write_audio(tmp_path / "a.m4a", Fraction(36, 24))
    opened: Counter[str] = Counter()
    probing: list[str] = []
    real_open = av.open

    def counting_open(file: Any, mode: str = "r", **kw: Any) -> Any:
        opened[Path(str(file)).name if mode == "r" else "(output)"] += 1
        if mode == "r" and kw.get("options") != NO_PROBE_DECODE:
            probing.append(str(file))
        return real_open(file, mode, **kw)

    monkeypatch.setattr(av, "open", counting_open)
    out = tmp_path / "out.mp4"
    stitch(pieces, audio, out, FPS, 36, "v")
    assert {name: opened[name] for name in opened if "farm-tmp" not in name} == {
        **{p.path.name: 1 for p in pieces},
        "a.m4a": 1,
        "(output)": 1,
    }
    # the check reads the written file once (under its temporary name)
    assert [count for name, count in opened.items() if "farm-tmp" in name] == [1]
    assert probing == []


def test_appending_in_steps_writes_the_same_file(tmp_path: Path) -> None:
    """What a render does while segments land: a prefix now, the rest (here with a larger delay) later."""
    pieces = make_pieces(tmp_path, [12, 12, 7, 9], bframes=[0, 0, 2, 0], headers_in_band=True)
    audio = write_audio(tmp_path / "a.m4a", Fraction(40, 24))
    out = tmp_path / "out.mp4"
    writer = extend(start_stitch(out, FPS, audio, "v", "0123"), pieces[:1])
    writer = extend(writer, pieces[:2])
    assert writer.pieces == 2 and writer.frames == 24 and writer.dest.is_file() and not out.exists()
    stitch(pieces, audio, out, FPS, 40, "v", plan_digest="0123", started=writer)
    reference_mux(tmp_path / "ref.mp4", pieces, audio, FPS, "farm-plan:0123")
    assert out.read_bytes() == (tmp_path / "ref.mp4").read_bytes()
    assert temp_files(tmp_path) == []


# ------------------------------------------------------------------ damage


def _damage_garbage(path: Path) -> None:
    path.write_bytes(b"not a video at all\n" * 50)


def _damage_truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def _damage_remove(path: Path) -> None:
    path.unlink()


@pytest.mark.parametrize("damage", [_damage_garbage, _damage_truncate, _damage_remove])
def test_a_damaged_segment_is_an_error_naming_the_variant_and_the_file(tmp_path: Path, damage: Any) -> None:
    out_dir = tmp_path / "renders"
    pieces = make_pieces(tmp_path, [12, 24, 12])
    damage(pieces[1].path)
    with pytest.raises(InternalError) as caught:
        stitch(pieces, None, out_dir / "v.mp4", FPS, 48, "trailer")
    err = caught.value
    assert err.exit_code == 70
    assert "variant 'trailer'" in str(err) and "seg1.mp4" in str(err)
    assert err.where.path == str(pieces[1].path)
    assert not (out_dir / "v.mp4").exists() and temp_files(out_dir) == []


def test_a_segment_of_the_wrong_length_is_an_error_naming_it(tmp_path: Path) -> None:
    pieces = make_pieces(tmp_path, [12, 12])
    wrong = [pieces[0], StitchPiece(pieces[1].path, 12, 13)]
    needs = r"segment seg1\.mp4 holds 12 frames, the plan needs 13"
    with pytest.raises(InternalError, match=needs) as caught:
        stitch(wrong, None, tmp_path / "v.mp4", FPS, 25, "trailer")
    assert "delete the cache entry" in str(caught.value)
    assert not (tmp_path / "v.mp4").exists() and temp_files(tmp_path) == []


def test_a_file_that_fails_its_check_is_never_published(tmp_path: Path) -> None:
    pieces = make_pieces(tmp_path, [12, 12])
    short_audio = write_audio(tmp_path / "a.m4a", Fraction(1, 2))
    with pytest.raises(InternalError, match="the stitched file failed its check: audio lasts 0.5"):
        stitch(pieces, short_audio, tmp_path / "v.mp4", FPS, 24, "v")
    assert not (tmp_path / "v.mp4").exists() and temp_files(tmp_path) == []


def test_the_check_reads_nothing_the_close_freed(tmp_path: Path) -> None:
    """glibc fills freed memory with a pattern (MALLOC_PERTURB_): a field read after the file's close
    then reads garbage every time, not only when another thread happens to reuse the memory.  The
    check once read the audio time base after the close and, in CI, saw audio lasting -5e9 s."""
    pieces = make_pieces(tmp_path, [12, 24, 7])
    frames = sum(p.count for p in pieces)
    audio = write_audio(tmp_path / "a.m4a", Fraction(frames) / FPS)
    expected = stitch(pieces, audio, tmp_path / "v.mp4", FPS, frames, "v")
    script = (
        "import json, sys; from fractions import Fraction; from farm.errors import Where; "
        "from farm.media.stitch import verify; "
        f"print(json.dumps(verify(sys.argv[1], Fraction(24), {frames}, 3, True, Where())))"
    )
    env = {**os.environ, "MALLOC_PERTURB_": "165", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    run = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "v.mp4")], capture_output=True, text=True, env=env
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == expected
