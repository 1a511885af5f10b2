"""A 50i clip woven from 50p motion, and its 25p progressive twin (the top field's instants)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

W, H = 320, 240


def moving_picture(t: int) -> np.ndarray:
    """Grey luma (H, W) at instant ``t`` (1/50 s steps): a bar moving 8 pixels an instant, and a grille."""
    img = np.full((H, W), 60, np.uint8)
    x = (20 + 8 * t) % (W - 40)
    img[:, x : x + 24] = 200
    img[40:80, :] = np.where((np.arange(W) // 16) % 2 == 0, 120, 90)[None, :]
    return img


def _write(path: Path, frames: list[np.ndarray], interlaced: bool) -> Path:
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        cc = stream.codec_context
        cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range = 6, 6, 6, 1
        params = "interlaced=1:tff=1" if interlaced else ""
        cc.options = {"crf": "8", "preset": "ultrafast", **({"x264-params": params} if params else {})}
        if interlaced:
            cc.flags |= 0x40000 | 0x20000000  # AV_CODEC_FLAG_INTERLACED_DCT | AV_CODEC_FLAG_INTERLACED_ME
        for i, luma in enumerate(frames):
            frame = av.VideoFrame(W, H, "yuv420p")
            frame.planes[0].update(np.ascontiguousarray(luma).tobytes())
            for plane in frame.planes[1:]:
                plane.update(np.full(plane.buffer_size, 128, np.uint8).tobytes())
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def write_pair(folder: Path, frames: int = 12) -> tuple[Path, Path]:
    """``(interlaced 50i, progressive 25p twin)``: field k of the 50i clip is instant k."""
    woven, twin = [], []
    for k in range(frames):
        top, bottom = moving_picture(2 * k), moving_picture(2 * k + 1)
        frame = top.copy()
        frame[1::2] = bottom[1::2]
        woven.append(frame)
        twin.append(top)
    return _write(folder / "i50.mp4", woven, True), _write(folder / "p25.mp4", twin, False)


def combing(luma: np.ndarray) -> float:
    """Mean energy of line-to-line alternation: |row − mean of its neighbours|, what weaving adds."""
    y = luma.astype(np.float64)
    return float(np.abs(y[1:-1] - (y[:-2] + y[2:]) / 2).mean())
