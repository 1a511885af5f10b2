"""Probing a source: what cannot be read is a MediaError naming the file, never a crash."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import pytest

from farm.errors import MediaError
from farm.media.probe import probe

_TITLE = b"farm-title-placeholder"


def _clip_with_metadata_that_is_not_text(path: Path) -> Path:
    """A valid clip whose title bytes are not UTF-8 (PyAV fails to decode it on open)."""
    with av.open(str(path), "w") as container:
        container.metadata["title"] = _TITLE.decode()
        stream = container.add_stream("mpeg4", rate=24)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        frame = av.VideoFrame(32, 32, "yuv420p")
        frame.pts = 0
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    data = path.read_bytes()
    assert data.count(_TITLE) == 1
    path.write_bytes(data.replace(_TITLE, b"\xff" * len(_TITLE)))
    return path


def test_metadata_that_is_not_text_is_a_media_error(tmp_path: Path) -> None:
    path = _clip_with_metadata_that_is_not_text(tmp_path / "bad-title.mp4")
    with pytest.raises(MediaError) as info:
        probe(path)
    assert info.value.exit_code == 65
    assert info.value.where.path == str(path)
    assert "cannot open: not a readable media file" in str(info.value)


def _write_bframes(path: Path, codec: str) -> Path:
    """Moving noise with B-frames (x264/x265 "medium"), in ``path``'s container (MKV and MPEG-TS have
    no table of decode delays, so a decoder learns the reorder depth from the stream alone)."""
    import numpy as np

    rng = np.random.default_rng(7)
    base = rng.integers(0, 255, (72, 96, 3), dtype=np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = 96, 72, "yuv420p"
        stream.options = {"preset": "medium", "bf": "3"}
        if codec == "libx265":
            stream.options = {"preset": "medium", "x265-params": "log-level=error:bframes=3"}
        for i in range(30):
            frame = av.VideoFrame.from_ndarray(np.roll(base, i * 3, axis=1), format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def _decoded(path: Path, opener: Callable[[Path], Any]) -> list[tuple[int | None, str]]:
    import hashlib

    with opener(path) as container:
        stream = container.streams.video[0]
        return [
            (f.pts, hashlib.sha1(b"".join(bytes(p) for p in f.planes)).hexdigest())
            for f in container.decode(stream)
        ]


def test_an_open_that_decodes_no_frame_probes_and_decodes_as_a_full_one(
    media_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Readers open media without ``find_stream_info``'s decoding (farm.media.inputs); nothing
    they learn may change: the probe's every field, and every decoded frame and its order."""
    from interlaced_media import write_pair

    from farm.errors import Where
    from farm.media import inputs
    from farm.media.probe import _probe_uncached

    files = sorted((media_dir / "media").glob("*.mp4"))
    files += list(write_pair(tmp_path))
    files += [_write_bframes(tmp_path / "b.mkv", "libx264"), _write_bframes(tmp_path / "b.ts", "libx264")]
    files += [_write_bframes(tmp_path / "h.mkv", "libx265")]
    for path in files:
        fast = (_probe_uncached(path, "id", Where()), _decoded(path, inputs.open_input))
        with monkeypatch.context() as m:
            m.setattr(inputs, "NO_PROBE_DECODE", {})
            full = (_probe_uncached(path, "id", Where()), _decoded(path, lambda p: av.open(str(p))))
        assert fast == full, path
        assert len(fast[1]) == len(fast[0].frame_pts) and [p for p, _ in fast[1]] == list(fast[0].frame_pts)
