"""Chroma siting: a 4:2:0 source's ``left`` or ``topleft`` chroma is read where the stream says it sits.

Two lossless H.264 clips hold the same planes, one tagged left-sited (the
H.264/HEVC default), one top-left (BT.2020 masters).  The probe reads the tags;
rendered through a LUT (R'G'B' in between; outputs are written left-sited), the
top-left clip's chroma edges move a quarter of a chroma row down relative to the
left-sited one's — what reading both the same way would not do.
"""

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
from farm.kernels import identity_lut, write_cube
from farm.media.probe import probe

pytestmark = pytest.mark.usefixtures("ray_session")
W, H = 64, 32


def _planes() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grey luma; chroma in horizontal bands 4 chroma rows high (sharp edges every 8 luma rows)."""
    y = np.full((H, W), 128, np.uint8)
    band = (np.arange(H // 2) // 4) % 2
    u = np.repeat(np.where(band, 90, 170)[:, None], W // 2, axis=1).astype(np.uint8)
    v = np.repeat(np.where(band, 170, 90)[:, None], W // 2, axis=1).astype(np.uint8)
    return y, u, v


def _write(path: Path, chromaloc: int) -> None:
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        cc = stream.codec_context
        cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range = 1, 1, 1, 1  # BT.709, as the output
        cc.options = {"qp": "0", "x264-params": f"chromaloc={chromaloc}"}
        for i in range(3):
            frame = av.VideoFrame(W, H, "yuv420p")
            for plane, data in zip(frame.planes, _planes(), strict=True):
                padded = np.zeros((data.shape[0], plane.line_size), np.uint8)
                padded[:, : data.shape[1]] = data
                plane.update(padded.tobytes())
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def _chroma(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as c:
        frame = next(c.decode(video=0))
    plane = frame.planes[1]
    return (
        np.frombuffer(bytes(plane), np.uint8).reshape(-1, plane.line_size)[: H // 2, : W // 2].astype(float)
    )


def test_tagged_chroma_siting_is_probed_and_honoured(tmp_path: Path) -> None:
    (tmp_path / "media").mkdir()
    for name, loc in (("left", 0), ("topleft", 2)):
        _write(tmp_path / "media" / f"{name}.mp4", loc)
        assert probe(tmp_path / "media" / f"{name}.mp4").chroma_location == name
        write_cut(tmp_path / "cuts" / f"{name}.otio", [Shot(f"media/{name}.mp4", 0, 3, rate=Fraction(24))])
    write_cube(identity_lut(17), tmp_path / "flat.cube")  # through R'G'B', where siting matters
    text = f'[output]\nwidth = {W}\nheight = {H}\nfps = "24"\npreset = "ultrafast"\nquality = 0\n'
    text += '[look]\nlut = "flat.cube"\n'
    for name in ("left", "topleft"):
        text += f'[variants.{name}]\ntimeline = "cuts/{name}.otio"\n'
    (tmp_path / "farm.toml").write_text(text)
    report = farm.render(tmp_path / "farm.toml", workers=1)
    for v in report.variants.values():
        assert v.error is None, v.error
    source = _planes()[1].astype(float)
    left = _chroma(tmp_path / "renders" / "left.mp4")
    top = _chroma(tmp_path / "renders" / "topleft.mp4")
    edge = 3  # the last chroma row of the first band: the next row holds the other value
    print(
        f"chroma row {edge}: source {source[edge, 8]:.0f}, next {source[edge + 1, 8]:.0f}; rendered "
        f"left-sited {left[edge, 8]:.0f}, top-left {top[edge, 8]:.0f}"
    )
    for rendered in (left, top):  # inside a band nothing moves
        assert np.abs(rendered[1, 4:-4] - source[1, 4:-4]).max() <= 2
    # top-left samples sit a quarter of a chroma row above left-sited ones: towards the next band
    step = source[edge + 1, 8] - source[edge, 8]
    moved = (top[edge, 8] - left[edge, 8]) / step
    print(f"the top-left clip's edge row moved {moved:.2f} of the step further than the left-sited one's")
    assert 0.1 < moved < 0.5, (top[edge, 8], left[edge, 8])


#: what a probe thread's open looks like while another thread reads a siting: the level set, no capture
_OPEN_WHILE_THE_LEVEL_IS_SET = """
import sys, av
import farm.media.siting
av.logging.set_level(av.logging.INFO)
try:
    av.open(sys.argv[1])
except av.error.FFmpegError:
    pass
av.logging.set_level(None)
"""


def test_what_libav_logs_in_other_threads_while_siting_is_read_stays_off_the_terminal(tmp_path: Path) -> None:
    """Reading a frame's siting sets PyAV's log level for a moment; what another thread's open logs
    then (a parallel probe) reaches Python's "libav" logger, which must not print it: `farm plan`
    once printed "Could not find codec parameters for stream 0 ..." that way.  In a child process:
    pytest's own log capture would hide what Python prints without it."""
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(64))  # no moov: libav logs an error
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    run = subprocess.run(
        [sys.executable, "-c", _OPEN_WHILE_THE_LEVEL_IS_SET, str(broken)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert run.returncode == 0 and run.stderr == "", run.stderr
