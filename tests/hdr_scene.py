"""One synthetic scene written as BT.709 SDR (8-bit H.264), HLG and PQ (BT.2020, 10-bit HEVC).

The scene is a grid of flat patches given in linear BT.709 *relative display
light*, 1.0 being reference white (203 cd/m² in HDR, SDR peak in SDR), as
BT.2408 lines the two up. Patches above 1.0 are highlights: SDR clips them,
HDR keeps them. The encodings use colour-science's transfer functions, not
farm's, so the test is independent of the code under test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

W, H = 320, 180
COLS, ROWS = 8, 4
WHITE_NITS = 203.0
#: (relative linear BT.709 RGB, kind); mid-tones are below reference white, highlights above it
PATCHES: list[tuple[tuple[float, float, float], str]] = [
    *(((v, v, v), "mid") for v in (0.005, 0.02, 0.05, 0.1, 0.18, 0.3, 0.45, 0.6, 0.8)),
    ((0.42, 0.26, 0.19), "mid"),  # skin
    ((0.16, 0.26, 0.5), "mid"),  # sky
    ((0.1, 0.3, 0.07), "mid"),  # foliage
    ((0.35, 0.05, 0.04), "mid"),  # red
    ((0.05, 0.08, 0.3), "mid"),  # blue
    ((0.5, 0.45, 0.1), "mid"),  # yellow
    ((0.2, 0.2, 0.2), "mid"),
    ((0.06, 0.12, 0.12), "mid"),  # teal shadow
    ((0.7, 0.55, 0.4), "mid"),  # lit skin
    ((0.25, 0.1, 0.3), "mid"),  # purple
    ((0.12, 0.07, 0.04), "mid"),  # brown
    ((1.0, 1.0, 1.0), "white"),
    *(((v, v, v), "high") for v in (1.5, 2.2, 3.0, 4.0)),
]
_BT709_TO_BT2020 = np.array(
    [[0.6274039, 0.3292830, 0.0433131], [0.0690973, 0.9195404, 0.0113623], [0.0163914, 0.0880133, 0.8955953]]
)


def patch_centres() -> list[tuple[int, int]]:
    """(y, x) of each patch's centre, in PATCHES order."""
    pw, ph = W // COLS, H // ROWS
    return [((i // COLS) * ph + ph // 2, (i % COLS) * pw + pw // 2) for i in range(len(PATCHES))]


def scene_linear() -> np.ndarray:
    """(H, W, 3) relative linear BT.709 light; unused cells are mid grey."""
    img = np.full((H, W, 3), 0.18)
    pw, ph = W // COLS, H // ROWS
    for i, (rgb, _) in enumerate(PATCHES):
        y, x = (i // COLS) * ph, (i % COLS) * pw
        img[y : y + ph, x : x + pw] = rgb
    return img


def encode(kind: str) -> np.ndarray:
    """The scene's non-linear R'G'B' for ``kind``: sdr (BT.709/BT.1886), pq or hlg (BT.2020), slog3.

    slog3: scene light whose rendering with a system gamma of 1.2 (scene 1.0 at reference
    white, as HLG) is the scene's display light, encoded by OpenColorIO's S-Log3 S-Gamut3.Cine.
    """
    import colour

    rel = scene_linear()
    if kind == "sdr":
        return np.clip(rel, 0, 1) ** (1 / 2.4)
    if kind == "slog3":
        import PyOpenColorIO as ocio

        y = np.maximum(rel @ np.array([0.2126, 0.7152, 0.0722]), 1e-9)[..., None]
        scene = np.ascontiguousarray((rel * y ** (-1 / 6)).astype(np.float32))
        cfg = ocio.Config.CreateFromFile("ocio://studio-config-latest")
        cfg.getProcessor("Linear Rec.709 (sRGB)", "S-Log3 S-Gamut3.Cine").getDefaultCPUProcessor().applyRGB(
            scene
        )
        return scene.astype(np.float64)
    nits = WHITE_NITS * rel @ _BT709_TO_BT2020.T
    if kind == "pq":
        return np.asarray(colour.models.eotf_inverse_ST2084(nits))
    scene = colour.models.ootf_inverse_BT2100_HLG(nits)  # L_W = 1000 cd/m², gamma 1.2
    return np.asarray(colour.models.oetf_BT2100_HLG(scene))


def _ycbcr_planes(rgb: np.ndarray, bits: int, matrix: str) -> list[np.ndarray]:
    kr, kb = (0.2126, 0.0722) if matrix == "bt709" else (0.2627, 0.0593)
    y = kr * rgb[..., 0] + (1 - kr - kb) * rgb[..., 1] + kb * rgb[..., 2]
    cb = (rgb[..., 2] - y) / (2 * (1 - kb))
    cr = (rgb[..., 0] - y) / (2 * (1 - kr))
    s = 2 ** (bits - 8)
    yq = np.round((16 + 219 * y) * s)
    sub = [(c.reshape(H // 2, 2, W // 2, 2).mean(axis=(1, 3))) for c in (cb, cr)]
    cq = [np.round((128 + 224 * c) * s) for c in sub]
    return [np.clip(p, 0, 2**bits - 1) for p in (yq, *cq)]


def write_scene(path: Path, kind: str, frames: int = 6) -> Path:
    """Write the scene as ``kind`` (sdr: 8-bit H.264 BT.709; pq/hlg: 10-bit HEVC BT.2020) at 24 fps."""
    import av

    hdr = kind != "sdr"
    planes = _ycbcr_planes(encode(kind), 10 if hdr else 8, "bt2020" if kind in ("pq", "hlg") else "bt709")
    fmt = "yuv420p10le" if hdr else "yuv420p"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx265" if hdr else "libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = W, H, fmt
        cc = stream.codec_context
        cc.color_primaries, cc.colorspace, cc.color_range = (9, 9, 1) if kind in ("pq", "hlg") else (1, 1, 1)
        cc.color_trc = {"sdr": 1, "pq": 16, "hlg": 18, "slog3": 1}[kind]  # log as cameras tag it: BT.709
        if hdr:
            extra = ""
            if kind == "pq":  # HDR10 metadata: a 1000 cd/m² mastering display, MaxCLL 1000
                extra = ":hdr10=1:master-display=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)"
                extra += "L(10000000,1):max-cll=1000,400"
            cc.options = {"crf": "4", "x265-params": "log-level=error:bframes=0" + extra}
        else:
            cc.options = {"crf": "4"}
        for i in range(frames):
            frame = av.VideoFrame(W, H, fmt)
            for plane, data in zip(frame.planes, planes, strict=True):
                dtype = np.uint16 if hdr else np.uint8
                rows = data.astype(dtype)
                line = plane.line_size // rows.itemsize
                padded = np.zeros((rows.shape[0], line), dtype)
                padded[:, : rows.shape[1]] = rows
                plane.update(padded.tobytes())
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path
