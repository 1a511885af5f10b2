"""farm look: frame sampling, colour tags, and the command end to end."""

from __future__ import annotations

import argparse
import re
import warnings

import numpy as np
import pytest
from PIL import Image

from farm.cli.look import configure_parser, run
from farm.errors import MediaError, MissingInputError
from farm.kernels import apply_lut, read_cube
from farm.look.analyse import analyse_look
from farm.media.frames import sample_frames

av = pytest.importorskip("av")
colour = pytest.importorskip("colour")
warnings.filterwarnings("ignore", module="colour")

#: a saturated orange in 8-bit YCbCr codes; frame i of a test clip has luma 60 + 10 i
CB, CR = 90, 200


def write_clip(path, width, height, frames=6, colorspace=None, color_range=None, pix_fmt="yuv420p"):
    """A lossless clip of flat frames whose luma code counts the frame number."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if colorspace is not None:  # the tags live in the stream (Matroska colour elements)
            stream.codec_context.colorspace = colorspace
        if color_range is not None:
            stream.codec_context.color_range = color_range
        for i in range(frames):
            frame = av.VideoFrame(width, height, pix_fmt)
            for plane, value in zip(frame.planes, (60 + 10 * i, CB, CR), strict=True):
                plane.update(np.full(plane.line_size * plane.height, value, np.uint8).tobytes())
            frame.pts = i
            if colorspace is not None:
                frame.colorspace = colorspace
            if color_range is not None:
                frame.color_range = color_range
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def expected_rgb(luma, weights, legal=True):
    ycbcr = np.array([luma, CB, CR], float)
    return np.clip(
        colour.YCbCr_to_RGB(ycbcr, K=colour.WEIGHTS_YCBCR[weights], in_bits=8, in_legal=legal, in_int=True),
        0,
        1,
    )


def test_image_gives_one_frame(tmp_path, photos):
    path = tmp_path / "still.png"
    Image.fromarray(np.rint(photos["coffee"] * 255).astype(np.uint8)).save(path)
    frames = sample_frames(path, count=5)
    assert len(frames) == 1 and frames[0].dtype == np.float32
    np.testing.assert_allclose(frames[0], photos["coffee"], atol=0.5 / 255)


def test_clip_frames_are_spread_across_the_clip(tmp_path):
    frames = sample_frames(write_clip(tmp_path / "c.mkv", 64, 48, frames=6), count=3)
    # centres of three equal slices of six frames: frames 1, 3 and 5
    lumas = [60 + 10 * i for i in (1, 3, 5)]
    for frame, luma in zip(frames, lumas, strict=True):
        np.testing.assert_allclose(frame[10, 10], expected_rgb(luma, "ITU-R BT.601"), atol=2e-6)


@pytest.mark.parametrize(
    ("size", "colorspace", "weights"),
    [
        ((1280, 720), None, "ITU-R BT.709"),  # untagged HD: BT.709, not FFmpeg's BT.601
        ((640, 480), None, "ITU-R BT.601"),  # untagged SD: BT.601
        ((1280, 720), 6, "ITU-R BT.601"),  # tagged SMPTE 170M wins over the size rule
        ((640, 480), 1, "ITU-R BT.709"),
        ((640, 480), 9, "ITU-R BT.2020"),
    ],
)
def test_colour_matrix_comes_from_tags_then_size(tmp_path, size, colorspace, weights):
    path = write_clip(tmp_path / "m.mkv", *size, frames=1, colorspace=colorspace)
    (frame,) = sample_frames(path, count=1)
    np.testing.assert_allclose(frame[5, 5], expected_rgb(60, weights), atol=2e-6)


def test_full_range_tag_is_honoured(tmp_path):
    path = write_clip(tmp_path / "f.mkv", 64, 48, frames=1, colorspace=1, color_range=2)
    (frame,) = sample_frames(path, count=1)
    np.testing.assert_allclose(frame[5, 5], expected_rgb(60, "ITU-R BT.709", legal=False), atol=2e-6)


def test_missing_and_undecodable_inputs(tmp_path):
    with pytest.raises(MissingInputError):
        sample_frames(tmp_path / "absent.mp4")
    junk = tmp_path / "junk.mov"
    junk.write_bytes(b"not a video at all" * 10)
    with pytest.raises(MediaError):
        sample_frames(junk)


def test_analyse_look_weighs_frames_equally(photos):
    small, big = photos["rocket"][:40, :40], np.tile(photos["astronaut"], (3, 3, 1))
    lut = analyse_look([small, big], [photos["coffee"]], "mkl", 1.0, 9)
    swapped = analyse_look([big, small], [photos["coffee"]], "mkl", 1.0, 9)
    np.testing.assert_allclose(lut.table3d, swapped.table3d, atol=1e-3)


def test_command_writes_a_cube_and_a_preview(tmp_path, photos, capsys):
    source = tmp_path / "source.png"
    Image.fromarray(np.rint(photos["chelsea"] * 255).astype(np.uint8)).save(source)
    reference = write_clip(tmp_path / "reference.mkv", 96, 64, frames=4, colorspace=1)
    parser = configure_parser(argparse.ArgumentParser(prog="farm look"))
    args = parser.parse_args([str(source), "--reference", str(reference), "--method", "reinhard",
                              "--size", "17", "--out", str(tmp_path / "look.cube"),
                              "--preview", str(tmp_path / "preview.png")])  # fmt: skip
    assert run(args) == 0

    lut = read_cube(tmp_path / "look.cube")
    assert lut.size == 17
    matched = np.clip(apply_lut(photos["chelsea"], lut), 0, 1)
    target = expected_rgb(60 + 10 * 1, "ITU-R BT.709")  # the reference clip's colours, frame 1 and on
    assert np.abs(matched.mean((0, 1)) - target).max() < np.abs(photos["chelsea"].mean((0, 1)) - target).max()

    out = capsys.readouterr().out
    before, after = map(
        float,
        re.search(r"mean colour dE2000 to the reference: ([\d.]+) before, ([\d.]+) after", out).groups(),
    )
    assert after < before / 2
    with Image.open(tmp_path / "preview.png") as preview:
        assert preview.height == 160 and preview.width > 3 * 160  # one source frame: one row of three tiles


@pytest.mark.parametrize("bad", [["--strength", "1.5"], ["--size", "1"], ["--method", "pca"]])
def test_command_rejects_bad_arguments(bad):
    parser = configure_parser(argparse.ArgumentParser(prog="farm look"))
    with pytest.raises(SystemExit) as info:
        parser.parse_args(["a.png", "--reference", "b.png", "--out", "c.cube", *bad])
    assert info.value.code == 2
