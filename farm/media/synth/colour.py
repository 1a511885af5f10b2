"""Re-encode a synthetic SDR clip as real footage arrives: 10-bit HLG, camera log, or interlaced.

The demo's phone, hero and archive clips start as SDR clips from
:func:`~farm.media.synth.write_clip` and are re-encoded here (video only):

* ``hlg``: the SDR picture's display light placed with SDR peak at HDR reference
  white (203 cd/m², BT.2408), BT.2020, the HLG inverse OOTF and OETF; 10-bit HEVC
  tagged BT.2020 / ARIB STD-B67, as phones write it;
* ``slog3``: the scene light whose rendering (system gamma 1.2, as HLG) is that
  picture, encoded by OpenColorIO's S-Log3 S-Gamut3.Cine; 10-bit HEVC tagged
  BT.709, as cameras that record log often tag it (farm.toml must say it is log);
* ``interlaced``: pairs of frames of a clip at twice the rate woven into one
  frame (top field first), H.264 coded as interlaced at half the rate.
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from farm.look import tonemap as tm

KINDS = ("hlg", "slog3", "interlaced")


def _rgb_frames(path: Path) -> tuple[list[np.ndarray], Fraction]:
    import av

    from farm.media.synth.codes import frame_rgb

    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        rate = Fraction(stream.average_rate or 24)
        return [frame_rgb(f).astype(np.float64) / 255.0 for f in c.decode(stream)], rate


def _encode_signal(rgb: np.ndarray, kind: str) -> np.ndarray:
    rel = tm.bt1886_eotf(rgb)  # SDR display light, 1.0 = peak = HDR reference white
    if kind == "hlg":
        nits = 203.0 * np.maximum(rel @ tm.BT709_TO_BT2020.T, 0.0)
        return np.asarray(tm.hlg_oetf(tm.hlg_inverse_ootf(nits)), dtype=np.float64)
    y = np.maximum(rel @ tm.BT709_Y, 1e-9)[..., None]
    scene = np.ascontiguousarray((rel * y ** (-1 / 6)).astype(np.float32))
    _slog3_processor().applyRGB(scene)
    return scene.astype(np.float64)


@lru_cache(maxsize=1)
def _slog3_processor() -> Any:
    import PyOpenColorIO as ocio

    cfg = ocio.Config.CreateFromFile("ocio://studio-config-latest")
    return cfg.getProcessor("Linear Rec.709 (sRGB)", "S-Log3 S-Gamut3.Cine").getDefaultCPUProcessor()


def _yuv_frame(rgb: np.ndarray, bits: int, matrix: str) -> object:
    import av

    kr, kb = (0.2627, 0.0593) if matrix == "bt2020" else (0.2126, 0.0722)
    y = kr * rgb[..., 0] + (1 - kr - kb) * rgb[..., 1] + kb * rgb[..., 2]
    cb = (rgb[..., 2] - y) / (2 * (1 - kb))
    cr = (rgb[..., 0] - y) / (2 * (1 - kr))
    h, w = y.shape
    s = 2 ** (bits - 8)
    planes = [np.round((16 + 219 * y) * s)]
    planes += [
        np.round((128 + 224 * c.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))) * s) for c in (cb, cr)
    ]
    fmt = "yuv420p10le" if bits == 10 else "yuv420p"
    dtype = np.uint16 if bits == 10 else np.uint8
    frame = av.VideoFrame(w, h, fmt)
    for plane, data in zip(frame.planes, planes, strict=True):
        rows = np.clip(data, 0, 2**bits - 1).astype(dtype)
        padded = np.zeros((rows.shape[0], plane.line_size // rows.itemsize), dtype)
        padded[:, : rows.shape[1]] = rows
        plane.update(padded.tobytes())
    return frame


def reencode(source: Path, dest: Path, kind: str) -> Path:
    """Write ``source`` (an SDR clip) to ``dest`` as ``kind`` (see the module's docstring)."""
    import av

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    frames, rate = _rgb_frames(source)
    if kind == "interlaced":
        woven = []
        for top, bottom in zip(frames[0::2], frames[1::2], strict=False):
            frame = top.copy()
            frame[1::2] = bottom[1::2]
            woven.append(frame)
        frames, rate = woven, rate / 2
    h, w = frames[0].shape[:2]
    with av.open(str(dest), "w") as out:
        stream = out.add_stream("libx264" if kind == "interlaced" else "libx265", rate=rate)
        stream.width, stream.height = w, h
        stream.pix_fmt = "yuv420p" if kind == "interlaced" else "yuv420p10le"
        cc = stream.codec_context
        tags = {"hlg": (9, 18, 9), "slog3": (1, 1, 1), "interlaced": (5, 6, 5)}[kind]
        cc.color_primaries, cc.color_trc, cc.colorspace = tags
        cc.color_range = 1
        if kind == "interlaced":
            cc.options = {"crf": "18", "preset": "veryfast", "x264-params": "interlaced=1:tff=1"}
            cc.flags |= 0x40000 | 0x20000000  # interlaced DCT and motion estimation
        else:
            cc.options = {"crf": "18", "preset": "ultrafast", "x265-params": "log-level=error"}
        for i, rgb in enumerate(frames):
            if kind == "interlaced":
                frame = _yuv_frame(rgb, 8, "bt601")
            else:
                frame = _yuv_frame(_encode_signal(rgb, kind), 10, "bt2020" if kind == "hlg" else "bt709")
            frame.pts = i  # type: ignore[attr-defined]
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return dest
