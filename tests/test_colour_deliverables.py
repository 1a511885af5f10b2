"""HDR deliverables (HDR10 PQ, HLG) and the mezzanines (DNxHR HQX, ProRes 4444): probed and read back.

One cut of the synthetic scene (tests/hdr_scene.py) as SDR, HLG and PQ is
rendered to an HDR10 output, an HLG output and two mezzanines.  The files are
probed with FFmpeg's own ffprobe (colour tags, profile, HDR side data) and their
pixels read back: reference white lands at PQ 58% / HLG 75% (BT.2408, the code
values computed with colour-science), highlights of the HDR sources stay above
it and ordered.  Every output is its segments' packets, not a re-encode.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import warnings
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from coded import Shot, write_cut
from hdr_scene import PATCHES, patch_centres, write_scene

import farm
from farm.edit.project import load_project
from farm.errors import BackendUnavailableError, ProjectError

pytestmark = pytest.mark.usefixtures("ray_session")
colour = pytest.importorskip("colour")
FFPROBE = shutil.which("ffprobe")
KINDS = ("sdr", "hlg", "pq")  # one 6-frame clip each, in this order
WHITE = next(i for i, (_, k) in enumerate(PATCHES) if k == "white")
HIGH = [i for i, (_, k) in enumerate(PATCHES) if k == "high"]
GREY = PATCHES.index(((0.18, 0.18, 0.18), "mid"))
OUTPUTS = {
    "hdr10": 'codec = "hevc"\nbit_depth = 10\ntransfer = "pq"\nmax_cll = 800\nmax_fall = 200',
    "hlg": 'codec = "hevc"\nbit_depth = 10\ntransfer = "hlg"',
    "dnxhr": 'codec = "dnxhr"',
    "prores4444": 'codec = "prores4444"',
    "prores4444_hlg": 'codec = "prores4444"\ntransfer = "hlg"',
}


@pytest.fixture(scope="module")
def renders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("deliverables")
    (root / "media").mkdir()
    shots = []
    for kind in KINDS:
        write_scene(root / "media" / f"{kind}.mp4", kind)
        shots.append(Shot(f"media/{kind}.mp4", 0, 6, rate=Fraction(24), name=kind))
    write_cut(root / "cuts" / "a.otio", shots)
    # one segment per clip: every output is three segments stitched
    text = '[output]\nwidth = 320\nheight = 180\nfps = "24"\npreset = "ultrafast"\nquality = 4\n'
    for name, output in OUTPUTS.items():
        text += f'[variants.{name}]\ntimeline = "cuts/a.otio"\n[variants.{name}.output]\n{output}\n'
    (root / "farm.toml").write_text(text)
    report = farm.render(root / "farm.toml", workers=1)
    for v in report.variants.values():
        assert v.error is None, v.error
    return root


def _probe(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """ffprobe's video stream and the first frame's side data."""
    assert FFPROBE is not None
    out = subprocess.run(
        [FFPROBE, "-v", "error", "-select_streams", "v:0", "-show_streams", "-show_frames"]
        + ["-read_intervals", "%+#1", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    doc = json.loads(out.stdout)
    return doc["streams"][0], doc["frames"][0].get("side_data_list", [])


def _luma(path: Path) -> list[list[int]]:
    """Median 10-bit luma code around each patch centre, for the first frame of each clip."""
    import av

    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
    out = []
    for frame in frames[0::6]:
        assert frame.format.name.endswith("10le"), frame.format.name
        y = np.frombuffer(bytes(frame.planes[0]), np.uint16).reshape(frame.height, -1)[:, : frame.width]
        out.append([int(np.median(y[cy - 4 : cy + 4, cx - 4 : cx + 4])) for cy, cx in patch_centres()])
    return out


def _code(signal: float) -> float:
    """A [0, 1] signal as a 10-bit limited-range code value."""
    return 64 + 876 * signal


def _expected(kind: str, rel: float) -> float:
    """Where relative display light ``rel`` (1.0 = 203 cd/m²) lands, by colour-science's functions."""
    nits = 203.0 * rel
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "pq":
            return _code(float(colour.models.eotf_inverse_ST2084(nits)))
        # HLG: the inverse OOTF of a 1000 cd/m² display (system gamma 1.2), then the OETF
        return _code(float(colour.models.oetf_BT2100_HLG((nits / 1000.0) ** (1 / 1.2))))


@pytest.mark.skipif(FFPROBE is None, reason="ffprobe is not installed")
@pytest.mark.parametrize(
    ("name", "transfer"), [("hdr10", "smpte2084"), ("hlg", "arib-std-b67")], ids=["hdr10", "hlg"]
)
def test_hdr_outputs_are_tagged_main10_bt2020(renders: Path, name: str, transfer: str) -> None:
    stream, side = _probe(renders / "renders" / f"{name}.mp4")
    got = {k: stream.get(k) for k in ("codec_name", "profile", "pix_fmt", "color_range")}
    assert got == {"codec_name": "hevc", "profile": "Main 10", "pix_fmt": "yuv420p10le", "color_range": "tv"}
    tags = (stream["color_primaries"], stream["color_transfer"], stream["color_space"])
    assert tags == ("bt2020", transfer, "bt2020nc"), tags
    kinds = {s["side_data_type"] for s in side}
    if name == "hdr10":  # the mastering display (BT.2020, 1000 cd/m²) and content light level, from farm.toml
        display = next(s for s in side if s["side_data_type"] == "Mastering display metadata")
        assert Fraction(display["max_luminance"]) == 1000 and Fraction(display["min_luminance"]) == Fraction(
            1, 10000
        )
        assert (Fraction(display["red_x"]), Fraction(display["green_y"])) == (
            Fraction("0.708"),
            Fraction("0.797"),
        )
        light = next(s for s in side if s["side_data_type"] == "Content light level metadata")
        assert (light["max_content"], light["max_average"]) == (800, 200)
    else:  # HLG carries no mastering metadata
        assert "Mastering display metadata" not in kinds, kinds


@pytest.mark.parametrize("name", ["hdr10", "hlg"])
def test_reference_white_lands_at_the_bt2408_code_value(renders: Path, name: str) -> None:
    kind = "pq" if name == "hdr10" else "hlg"
    clips = _luma(renders / "renders" / f"{name}.mp4")
    white, grey = _expected(kind, 1.0), _expected(kind, 0.18)
    print(
        f"{name}: white {[c[WHITE] for c in clips]} (expected {white:.1f}), grey 0.18 "
        f"{[c[GREY] for c in clips]} (expected {grey:.1f})"
    )
    for source, codes in zip(KINDS, clips, strict=True):
        # SDR white (100%) is placed at 203 cd/m², and so is the HDR sources' reference white
        assert abs(codes[WHITE] - white) <= 3, (source, codes[WHITE], white)
        assert abs(codes[GREY] - grey) <= 3, (source, codes[GREY], grey)
    for source, codes in zip(KINDS[1:], clips[1:], strict=True):
        # the HDR sources keep their highlights: above reference white, ordered, below the 1000 cd/m² peak
        highs = [codes[i] for i in HIGH]
        assert codes[WHITE] + 20 < highs[0] and highs == sorted(highs) and len(set(highs)) == len(highs), (
            highs
        )
        assert highs[-1] < _expected(kind, 1000 / 203) - 3, (source, highs)
        expected = [_expected(kind, PATCHES[i][0][0]) for i in HIGH]
        assert np.abs(np.array(highs) - expected).max() <= 6, (source, highs, expected)
    # the SDR source's highlights were clipped at SDR white when it was shot: they stay at white
    assert {clips[0][i] for i in HIGH} <= {clips[0][WHITE], clips[0][WHITE] + 1}


def _frame_tags(path: Path) -> set[tuple[str, ...]]:
    """Every frame's colour tags as FFmpeg's decoder reads them (ProRes keeps them per frame)."""
    assert FFPROBE is not None
    out = subprocess.run(
        [FFPROBE, "-v", "error", "-select_streams", "v:0", "-show_frames", "-of", "json"]
        + ["-show_entries", "frame=color_primaries,color_transfer,color_space,color_range", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    keys = ("color_primaries", "color_transfer", "color_space", "color_range")
    return {tuple(f.get(k, "") for k in keys) for f in json.loads(out.stdout)["frames"]}


@pytest.mark.skipif(FFPROBE is None, reason="ffprobe is not installed")
@pytest.mark.parametrize(
    ("name", "codec", "profile", "tag", "pix_fmt", "tags"),
    [
        ("dnxhr", "dnxhd", "DNXHR HQX", "AVdh", "yuv422p10le", ("bt709", "bt709", "bt709")),
        # (FFmpeg's ProRes decoder reports 4444 as 12-bit, whatever the encoder was given)
        ("prores4444", "prores", "4444", "ap4h", "yuv444p12le", ("bt709", "bt709", "bt709")),
        ("prores4444_hlg", "prores", "4444", "ap4h", "yuv444p12le", ("bt2020", "arib-std-b67", "bt2020nc")),
    ],
)
def test_mezzanines_are_tagged_10_bit_movs(
    renders: Path, name: str, codec: str, profile: str, tag: str, pix_fmt: str, tags: tuple[str, ...]
) -> None:
    path = renders / "renders" / f"{name}.mov"
    stream, _ = _probe(path)
    got = tuple(stream.get(k) for k in ("codec_name", "profile", "codec_tag_string", "pix_fmt"))
    assert got == (codec, profile, tag, pix_fmt), got
    said = (stream["color_primaries"], stream["color_transfer"], stream["color_space"], stream["color_range"])
    assert said == (*tags, "tv"), said
    # every frame says it too, the HLG and PQ sources' frames included (ProRes has a header per frame)
    assert _frame_tags(path) == {(*tags, "tv")}, _frame_tags(path)


def _packets(path: Path) -> list[bytes]:
    import av

    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(video=0) if p.size]


@pytest.mark.parametrize("name", list(OUTPUTS))
def test_outputs_are_their_segments_stitched_without_re_encoding(renders: Path, name: str) -> None:
    out = renders / "renders" / f"{name}{'.mp4' if name in ('hdr10', 'hlg') else '.mov'}"
    segments: dict[bytes, int] = {}
    for seg in (renders / ".farm-cache" / "segments").rglob("*"):
        if seg.suffix in (".mp4", ".mov"):
            for p in _packets(seg):
                segments[p] = segments.get(p, 0) + 1
    packets = _packets(out)
    assert len(packets) == 18
    missing = [i for i, p in enumerate(packets) if p not in segments]
    assert not missing, f"packets {missing} of {name} are not any segment's packets (re-encoded)"


def test_hdr_outputs_need_10_bits_and_pq_needs_hevc(tmp_path: Path) -> None:
    cases = {
        'codec = "h264"\ntransfer = "pq"': "bit_depth = 10",
        'codec = "prores"\ntransfer = "pq"': '"pq" (HDR10) with codec "hevc"',
        'codec = "hevc"\nbit_depth = 10\ntransfer = "hdr"': "sdr | pq | hlg",
        'codec = "hevc"\nbit_depth = 10\ntransfer = "pq"\npeak_nits = 50': "400 to 10000",
        'codec = "dnxhr"\nwidth = 160\nheight = 90': "at least 256x120",
    }
    for output, message in cases.items():
        (tmp_path / "farm.toml").write_text(f'[output]\n{output}\n[variants.v]\ntimeline = "a.otio"\n')
        with pytest.raises(ProjectError) as info:
            load_project(tmp_path / "farm.toml")
        assert message in str(info.value) and info.value.exit_code == 65, str(info.value)
    # HLG in a mezzanine is allowed (it needs no metadata)
    (tmp_path / "farm.toml").write_text(
        '[output]\ncodec = "dnxhr"\ntransfer = "hlg"\n[variants.v]\ntimeline = "a.otio"\n'
    )
    assert load_project(tmp_path / "farm.toml").variants["v"].output.transfer == "hlg"


def _flat(spec: Any, luma: int) -> Any:
    """A flat 10-bit picture of ``spec``'s size and format: luma ``luma``, neutral chroma."""
    import av

    frame = av.VideoFrame(spec.width, spec.height, spec.pix_fmt)
    for plane, value in zip(frame.planes, (luma, 512, 512), strict=True):
        plane.update(np.full(plane.buffer_size // 2, value, np.uint16).tobytes())
    return frame


@pytest.mark.parametrize("codec", ["dnxhr", "prores4444"])
def test_verify_measures_10_bit_outputs_at_10_bits(tmp_path: Path, codec: str) -> None:
    """A one-code (10-bit) difference, invisible once both sides are cut to 8 bits, is measured."""
    from farm.backends.host_encode import encode_segment
    from farm.media.compare import verify_encoded
    from farm.planning.units import EncodeSpec, SegmentJob

    spec = EncodeSpec(codec, 20, "ultrafast", 256, 120, Fraction(24), 24, bit_depth=10)  # DNxHR's smallest
    job = SegmentJob(
        key="7" * 40, frames=(), frame_pts=(), count=2, source=None, geometry=None,
        lut_path=None, lut_hash=None, encode=spec,
    )  # fmt: skip
    path = tmp_path / "flat.mov"
    assert encode_segment(job, path, [(_flat(spec, 512), 2)]) == 2
    same = verify_encoded(str(path), [_flat(spec, 512)] * 2)
    off = verify_encoded(str(path), [_flat(spec, 513)] * 2)
    print(f"{codec}: PSNR of the same picture {same['psnr_min']}, one 10-bit code off {off['psnr_min']}")
    assert same["pix_fmt"] == off["pix_fmt"] == spec.pix_fmt and same["frames"] == 2
    assert same["psnr_min"] > 90 and 55 < off["psnr_min"] < 70, (same, off)


@pytest.mark.parametrize("transfer", ["sdr", "pq", "hlg"])
def test_fills_are_drawn_in_the_outputs_colour(transfer: str) -> None:
    """A white generator in an HDR output sits where an SDR source's white does (BT.2408)."""
    from farm.backends.fills import fill_picture
    from farm.planning.units import EncodeSpec

    spec = EncodeSpec("hevc", 20, "ultrafast", 64, 32, Fraction(24), 24, bit_depth=10, transfer=transfer)
    white = fill_picture(spec, "colour:ffffff", spec.pix_fmt)
    black = fill_picture(spec, "black", spec.pix_fmt)
    assert white.format.name == black.format.name == "yuv420p10le"
    planes = [np.frombuffer(bytes(p), np.uint16) for p in white.planes]
    expected = {"sdr": 940, "pq": _expected("pq", 1.0), "hlg": _expected("hlg", 1.0)}[transfer]
    assert abs(int(planes[0][0]) - expected) <= 1 and set(planes[1]) == set(planes[2]) == {512}
    assert int(np.frombuffer(bytes(black.planes[0]), np.uint16)[0]) == 64


@pytest.mark.parametrize("family", ["nvenc", "nvdec+cpu"])
def test_hdr_outputs_are_refused_on_the_nvidia_families(tmp_path: Path, family: str) -> None:
    """The nvidia kernels write BT.709 Y'CbCr: an HDR variant there is exit 69, the others plan."""
    (tmp_path / "media").mkdir()
    write_scene(tmp_path / "media" / "sdr.mp4", "sdr", frames=2)
    write_cut(tmp_path / "cuts" / "a.otio", [Shot("media/sdr.mp4", 0, 2, rate=Fraction(24))])
    text = '[output]\nwidth = 320\nheight = 180\nfps = "24"\n[variants.sdr]\ntimeline = "cuts/a.otio"\n'
    text += (
        '[variants.hdr]\ntimeline = "cuts/a.otio"\n[variants.hdr.output]\ncodec = "hevc"\nbit_depth = 10\n'
    )
    (tmp_path / "farm.toml").write_text(text + 'transfer = "hlg"\n')
    plan = farm.plan(tmp_path / "farm.toml", family=family)
    error = plan.failed["hdr"]
    assert isinstance(error, BackendUnavailableError) and error.exit_code == 69, error
    assert "--backend cpu" in str(error) and "variant 'hdr'" in str(error), str(error)
    assert "sdr" in plan.variants and "sdr" not in plan.failed
