"""Specification of the synthetic media generator (farm.media.synth).

Every test writes real files with PyAV and reads them back the way the renderer
and FFmpeg would: which frame is on screen, where the picture is, what it sounds
like. Clips are tiny and written once per module, so the file runs in seconds.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import av.filter
import numpy as np
import pytest

from farm.media.synth import frame_rgb, read_code, tone_frequency, write_clip
from farm.media.synth.codes import CodedPainter, cell_centre

WIDTH, HEIGHT, RATE = 320, 180, Fraction(30000, 1001)


def decode_frames(path: Path) -> list[av.VideoFrame]:
    with av.open(str(path)) as container:
        return list(container.decode(video=0))


def decode_rgb(path: Path) -> list[np.ndarray]:
    return [frame_rgb(frame) for frame in decode_frames(path)]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Clips shared by several tests, written once."""
    root = tmp_path_factory.mktemp("synth")
    written = {}

    def clip(name: str, **kwargs: object) -> None:
        path = root / f"{name}.mp4"
        arguments = {"width": WIDTH, "height": HEIGHT, "rate": RATE, "frames": 6, "source_id": 11}
        arguments.update(kwargs)
        write_clip(path, **arguments)  # type: ignore[arg-type]
        written[name] = path

    clip("h264", crf=23)
    clip("hevc", codec="hevc", crf=23)
    clip("cast", crf=28, color_cast=(1.3, 0.85, 0.45))
    return written


# --------------------------------------------------------------------------- #
# The code survives what a render does to a frame
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("name", ["h264", "hevc"])
def test_every_decoded_frame_reads_back_its_source_and_number(clips: dict[str, Path], name: str) -> None:
    frames = decode_frames(clips[name])
    assert len(frames) == 6
    for index, frame in enumerate(frames):
        assert read_code(frame_rgb(frame)) == (11, index)
        assert frame.time == pytest.approx(float(index / RATE))


def test_the_code_survives_downscaling_to_160x90_and_128x72(clips: dict[str, Path]) -> None:
    for index, frame in enumerate(decode_frames(clips["h264"])):
        for width, height in ((160, 90), (128, 72)):
            small = frame_rgb(frame.reformat(width=width, height=height))
            assert read_code(small) == (11, index)


def test_the_code_survives_a_colour_cast_at_crf_28_and_a_lut(clips: dict[str, Path]) -> None:
    for index, rgb in enumerate(decode_rgb(clips["cast"])):
        assert read_code(rgb) == (11, index)
        # a crude "look": gamma, lift and a channel swap, as a LUT might do
        graded = (255 * (rgb / 255.0) ** 0.6 * 0.8 + 20)[..., ::-1].astype(np.uint8)
        assert read_code(graded) == (11, index)


@pytest.mark.parametrize(
    ("canvas", "picture"),
    [((90, 160), (90, 50)), ((640, 480), (320, 180)), ((200, 200), (120, 68))],
    ids=["letterbox-in-9x16", "windowbox", "square"],
)
def test_letterboxed_frames_are_found_inside_black_bars(
    clips: dict[str, Path], canvas: tuple[int, int], picture: tuple[int, int]
) -> None:
    canvas_w, canvas_h = canvas
    for index, frame in enumerate(decode_frames(clips["h264"])):
        scaled = frame_rgb(frame.reformat(width=picture[0], height=picture[1]))
        padded = np.zeros((canvas_h, canvas_w, 3), dtype=np.uint8)
        top, left = (canvas_h - picture[1]) // 2, (canvas_w - picture[0]) // 2
        padded[top : top + picture[1], left : left + picture[0]] = scaled
        assert read_code(padded) == (11, index)


def test_a_centre_crop_to_9x16_keeps_every_block(clips: dict[str, Path]) -> None:
    crop_w = 102  # 180 * 9/16, rounded up to even
    left = (WIDTH - crop_w) // 2
    for index, rgb in enumerate(decode_rgb(clips["h264"])):
        cropped = np.ascontiguousarray(rgb[:, left : left + crop_w])
        assert read_code(cropped, rect=(-left, 0, WIDTH - left, HEIGHT)) == (11, index)
        # and the vertical social cut at 72x128: the crop scaled by 128/180
        scale = 128 / HEIGHT
        small = av.VideoFrame.from_ndarray(cropped, format="rgb24").reformat(width=72, height=128)
        rect = (round(-left * scale), 0, round((WIDTH - left) * scale), 128)
        assert read_code(small.to_ndarray(format="rgb24"), rect=rect) == (11, index)


@pytest.mark.parametrize("frame_number", [0, 1, 2047, 4095, 4096, 16383])
@pytest.mark.parametrize("source_id", [0, 9, 15])
def test_all_source_ids_and_frame_numbers_up_to_16383_are_encodable(
    source_id: int, frame_number: int
) -> None:
    # writing 16384 frames would be slow: paint the frame, then take it through
    # yuv420p and a downscale as an encoder and a renderer would
    picture = CodedPainter((320, 180), source_id, (1.0, 1.0, 1.0)).paint(frame_number)
    frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(
        format="yuv420p", width=128, height=72
    )
    assert read_code(frame_rgb(frame)) == (source_id, frame_number)


def test_unreadable_pictures_raise_value_error(clips: dict[str, Path]) -> None:
    rgb = decode_rgb(clips["h264"])[3]
    with pytest.raises(ValueError):
        read_code(np.zeros_like(rgb))
    with pytest.raises(ValueError):
        read_code(np.full_like(rgb, 128))
    with pytest.raises(ValueError):  # the picture is taken for a smaller one it is not
        read_code(rgb, rect=(80, 0, 240, 180))


# --------------------------------------------------------------------------- #
# Rotation, by FFmpeg's own rules
# --------------------------------------------------------------------------- #
def display_matrix(frame: av.VideoFrame) -> np.ndarray | None:
    for side_data in frame.side_data:
        if side_data.type == av.sidedata.sidedata.Type.DISPLAYMATRIX:
            return np.frombuffer(bytes(side_data), dtype="<i4")
    return None


def autorotate(frame: av.VideoFrame) -> av.VideoFrame:
    """What the ffmpeg command line shows: fftools' autorotate, filter for filter.

    ``theta = get_rotation(matrix)`` is the negated ``av_display_rotation_get``
    (PyAV's ``VideoFrame.rotation``), wrapped into [0, 360); then 90 →
    ``transpose=clock`` (``cclock_flip`` if ``matrix[3] > 0``), 180 → ``hflip`` if
    ``matrix[0] < 0`` and ``vflip`` if ``matrix[4] < 0``, 270 → ``transpose=cclock``
    (``clock_flip`` if ``matrix[3] < 0``), 0 → ``vflip`` if ``matrix[4] < 0``.
    """
    matrix = display_matrix(frame)
    theta = -round(frame.rotation) if matrix is not None else 0.0
    theta -= 360 * math.floor(theta / 360 + 0.9 / 360)
    filters: list[tuple[str, str | None]] = []
    if abs(theta - 90) < 1:
        assert matrix is not None
        filters.append(("transpose", "cclock_flip" if matrix[3] > 0 else "clock"))
    elif abs(theta - 180) < 1:
        assert matrix is not None
        filters += [("hflip", None)] if matrix[0] < 0 else []
        filters += [("vflip", None)] if matrix[4] < 0 else []
    elif abs(theta - 270) < 1:
        assert matrix is not None
        filters.append(("transpose", "clock_flip" if matrix[3] < 0 else "cclock"))
    elif matrix is not None and matrix[4] < 0:
        filters.append(("vflip", None))
    graph = av.filter.Graph()
    nodes = [
        graph.add_buffer(
            width=frame.width, height=frame.height, format=frame.format.name, time_base=frame.time_base
        )
    ]
    nodes += [graph.add(name, argument) for name, argument in filters]
    nodes.append(graph.add("buffersink"))
    graph.link_nodes(*nodes).configure()
    graph.push(frame)
    return graph.pull()


@pytest.fixture(scope="module")
def rotated_clips(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    root = tmp_path_factory.mktemp("rotated")
    paths = {}
    for rotation in (0, 90, 180, 270):
        paths[rotation] = root / f"r{rotation}.mp4"
        write_clip(
            paths[rotation], width=WIDTH, height=HEIGHT, rate=25, frames=3, source_id=6, rotation=rotation
        )
    return paths


@pytest.mark.parametrize(("rotation", "pyav_rotation"), [(0, 0), (90, -90), (180, 180), (270, 90)])
def test_rotation_is_the_clockwise_turn_ffmpeg_autorotate_applies(
    rotated_clips: dict[int, Path], rotation: int, pyav_rotation: int
) -> None:
    frames = decode_frames(rotated_clips[rotation])
    for index, frame in enumerate(frames):
        assert (frame.width, frame.height) == (WIDTH, HEIGHT)  # stored size as written
        # 180 and -180 are one matrix; PyAV reports it as -180
        assert frame.rotation == pyav_rotation or {frame.rotation, pyav_rotation} == {180, -180}
        shown = autorotate(frame)
        portrait = rotation in (90, 270)
        assert (shown.width, shown.height) == ((HEIGHT, WIDTH) if portrait else (WIDTH, HEIGHT))
        assert read_code(frame_rgb(shown)) == (6, index)
        if rotation:
            # the stored picture, as a renderer that ignores the matrix would show it,
            # must never pass for the right frame
            assert read_code_or_none(frame_rgb(frame)) != (6, index)


def read_code_or_none(rgb: np.ndarray) -> tuple[int, int] | None:
    try:
        return read_code(rgb)
    except ValueError:
        return None


def test_a_portrait_clip_pillarboxed_into_a_16x9_frame_reads_back(rotated_clips: dict[int, Path]) -> None:
    for index, frame in enumerate(decode_frames(rotated_clips[90])):
        shown = autorotate(frame).reformat(width=50, height=90)
        canvas = np.zeros((90, 160, 3), dtype=np.uint8)
        canvas[:, 55:105] = frame_rgb(shown)
        assert read_code(canvas) == (6, index)


# --------------------------------------------------------------------------- #
# Sample aspect ratio, timing, audio, colour tags
# --------------------------------------------------------------------------- #
def disc_aspect(rgb: np.ndarray) -> float:
    """Width / height of the bright decorative disc in the top-left of a coded frame."""
    height, width = rgb.shape[:2]
    region = rgb[: height // 2, : width * 3 // 8].mean(axis=2) > 180
    ys, xs = np.nonzero(region)
    return (xs.max() - xs.min() + 1) / (ys.max() - ys.min() + 1)


@pytest.mark.parametrize("sar", [Fraction(4, 3), Fraction(2, 3)])
def test_sample_aspect_is_written_and_the_picture_is_pre_squeezed(tmp_path: Path, sar: Fraction) -> None:
    path = tmp_path / "anamorphic.mp4"
    write_clip(path, width=240, height=180, rate=25, frames=2, source_id=3, sample_aspect=sar)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.sample_aspect_ratio == sar
        frames = [frame_rgb(frame) for frame in container.decode(stream)]
    for index, rgb in enumerate(frames):
        assert rgb.shape[:2] == (180, 240)
        # stored squeezed by 1/SAR, so that the player's stretch makes the disc round
        assert disc_aspect(rgb) == pytest.approx(float(1 / sar), rel=0.1)
        assert read_code(rgb) == (3, index)


def test_square_pixels_draw_a_round_disc(clips: dict[str, Path]) -> None:
    assert disc_aspect(decode_rgb(clips["h264"])[0]) == pytest.approx(1.0, rel=0.1)


@pytest.mark.parametrize("start", [Fraction(0), Fraction(1, 10)])
def test_vfr_timestamps_are_written_exactly(tmp_path: Path, start: Fraction) -> None:
    offsets = [Fraction(n, d) for n, d in ((0, 1), (1, 30), (1, 10), (1, 8), (1, 2), (1001, 2000), (1, 1))]
    timestamps = [start + offset for offset in offsets]
    path = tmp_path / "vfr.mp4"
    # veryfast uses B-frames, so decode order differs from presentation order
    write_clip(
        path,
        width=WIDTH,
        height=HEIGHT,
        rate=30,
        frames=len(timestamps),
        preset="veryfast",
        timestamps=timestamps,
        source_id=2,
    )
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.has_b_frames
        packet_times = sorted(
            packet.pts * stream.time_base for packet in container.demux(stream) if packet.pts is not None
        )
    assert packet_times == timestamps
    for index, frame in enumerate(decode_frames(path)):
        assert frame.pts * frame.time_base == timestamps[index]
        assert read_code(frame_rgb(frame)) == (2, index)


@pytest.mark.parametrize(("tone_hz", "audio_rate"), [(440.0, 48000), (997.0, 44100)])
def test_audio_is_an_aac_stereo_tone_covering_the_video(
    tmp_path: Path, tone_hz: float, audio_rate: int
) -> None:
    path = tmp_path / "tone.mp4"
    write_clip(path, width=64, height=36, rate=25, frames=20, audio_tone_hz=tone_hz, audio_rate=audio_rate)
    with av.open(str(path)) as container:
        audio = container.streams.audio[0]
        assert (audio.codec_context.name, audio.sample_rate, audio.channels) == ("aac", audio_rate, 2)
        samples = np.concatenate([frame.to_ndarray() for frame in container.decode(audio)], axis=1)
    assert samples.shape[0] == 2
    assert samples.shape[1] >= 20 / 25 * audio_rate  # at least as long as the video
    assert samples.shape[1] <= 20 / 25 * audio_rate + 2048  # AAC pads to whole frames
    middle = samples.shape[1] // 2
    window = samples[:, middle : middle + audio_rate // 10]
    assert tone_frequency(window, audio_rate) == pytest.approx(tone_hz, abs=3)
    assert np.abs(window).max() == pytest.approx(0.3, abs=0.03)


def test_a_clip_without_a_tone_has_no_audio_stream(clips: dict[str, Path]) -> None:
    with av.open(str(clips["h264"])) as container:
        assert len(container.streams.audio) == 0


def test_tone_frequency_is_accurate_on_a_tenth_of_a_second() -> None:
    t = np.arange(4800) / 48000
    for hz in (100.0, 440.0, 1234.5, 5000.0):
        assert tone_frequency(np.sin(2 * np.pi * hz * t + 0.3), 48000) == pytest.approx(hz, abs=0.5)


@pytest.mark.parametrize(
    ("colorspace", "height", "tags"),
    [("bt709", 180, (1, 1, 1, 1)), ("bt601", 180, (6, 6, 6, 1)), (None, 180, None), (None, 720, None)],
)
def test_colour_tags_match_the_conversion_used(
    tmp_path: Path, colorspace: str | None, height: int, tags: tuple[int, int, int, int] | None
) -> None:
    width = height * 16 // 9
    path = tmp_path / "tagged.mp4"
    cast = (1.0, 0.3, 0.3)  # the white calibration block becomes (255, 77, 77)
    write_clip(path, width=width, height=height, rate=25, frames=1, colorspace=colorspace, color_cast=cast)
    frame = decode_frames(path)[0]
    if tags is not None:
        assert (frame.colorspace, frame.color_primaries, frame.color_trc, frame.color_range) == tags
    else:
        assert frame.colorspace == 2  # AVCOL_SPC_UNSPECIFIED
    u, v = cell_centre(0)
    x, y = int(u * width), int(v * height)
    white = frame_rgb(frame)[y - 2 : y + 3, x - 2 : x + 3].reshape(-1, 3).mean(axis=0)
    assert white == pytest.approx([255, 77, 77], abs=4)


@pytest.mark.parametrize(("height", "kr", "kb"), [(180, 0.299, 0.114), (720, 0.2126, 0.0722)])
def test_frame_rgb_of_an_untagged_frame_is_bt601_below_720_lines_and_bt709_from_720(
    tmp_path: Path, height: int, kr: float, kb: float
) -> None:
    path = tmp_path / "untagged.mp4"
    write_clip(
        path,
        width=height * 16 // 9,
        height=height,
        rate=25,
        frames=1,
        colorspace=None,
        color_cast=(1.0, 0.6, 0.2),
    )
    frame = decode_frames(path)[0]
    planes = frame.to_ndarray()  # yuv420p: Y rows, then U and V quarter planes
    y = planes[:height].astype(float)
    h, w = height // 2, frame.width // 2
    u = planes[height:].reshape(-1)[: h * w].reshape(h, w).repeat(2, 0).repeat(2, 1).astype(float)
    v = planes[height:].reshape(-1)[h * w :].reshape(h, w).repeat(2, 0).repeat(2, 1).astype(float)
    # textbook limited-range Y'CbCr → R'G'B'
    yy, cb, cr = (y - 16) * 255 / 219, (u - 128) * 255 / 224, (v - 128) * 255 / 224
    kg = 1 - kr - kb
    r = yy + 2 * (1 - kr) * cr
    b = yy + 2 * (1 - kb) * cb
    g = (yy - kr * r - kb * b) / kg
    expected = np.clip(np.stack([r, g, b], axis=-1), 0, 255)
    difference = np.abs(frame_rgb(frame).astype(float) - expected)
    # compare away from chroma edges, where swscale interpolates chroma and we repeat it
    smooth = np.abs(np.diff(expected, axis=1, prepend=expected[:, :1])).max(axis=2) < 1
    assert np.percentile(difference[smooth], 99) <= 2.5


# --------------------------------------------------------------------------- #
# Other codecs and containers, the city, argument checks
# --------------------------------------------------------------------------- #
def test_mpeg4_in_a_mov_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "clip.mov"
    write_clip(path, width=WIDTH, height=HEIGHT, rate=24, frames=3, codec="mpeg4", source_id=4, gop=1)
    with av.open(str(path)) as container:
        assert container.format.name.startswith("mov")
        assert container.streams.video[0].codec_context.name == "mpeg4"
        frames = list(container.decode(video=0))
    assert all(frame.key_frame for frame in frames)  # gop=1
    assert [read_code(frame_rgb(frame)) for frame in frames] == [(4, 0), (4, 1), (4, 2)]


def test_the_city_writes_a_4k_clip_whose_frames_move(tmp_path: Path) -> None:
    path = tmp_path / "city.mp4"
    write_clip(path, width=3840, height=2160, rate=24, frames=6, pattern="city", source_id=1, noise=0.1)
    with av.open(str(path)) as container:
        frames = [frame.to_ndarray(format="gray") for frame in container.decode(video=0)]
    assert len(frames) == 6
    assert frames[0].shape == (2160, 3840)
    assert 20 < frames[0].mean() < 200  # a picture, not black or blown out
    assert not np.array_equal(frames[0], frames[5])


def test_city_pictures_depend_on_the_source_id(tmp_path: Path) -> None:
    pictures = []
    for source_id in (0, 1):
        path = tmp_path / f"city{source_id}.mp4"
        write_clip(
            path,
            width=WIDTH,
            height=HEIGHT,
            rate=25,
            frames=1,
            pattern="city",
            source_id=source_id,
            color_cast=(1.1, 1.0, 0.9),
        )
        pictures.append(decode_rgb(path)[0].astype(float))
    assert np.abs(pictures[0] - pictures[1]).mean() > 10


@pytest.mark.parametrize(
    "bad",
    [
        {"width": 321},
        {"rotation": 45},
        {"codec": "vp9"},
        {"source_id": 16},
        {"frames": 16385},
        {"timestamps": [Fraction(0), Fraction(1)]},
        {"timestamps": [0.0, 0.1, 0.2]},
        {"colorspace": "bt2020"},
        {"pattern": "bars"},
    ],
)
def test_bad_arguments_are_refused_before_writing(tmp_path: Path, bad: dict[str, object]) -> None:
    arguments: dict[str, object] = {"width": WIDTH, "height": HEIGHT, "rate": 25, "frames": 3}
    arguments.update(bad)
    path = tmp_path / "bad.mp4"
    with pytest.raises(ValueError):
        write_clip(path, **arguments)  # type: ignore[arg-type]
    assert not path.exists()
