"""Probing a source: what cannot be read is a MediaError naming the file, never a crash."""

from __future__ import annotations

from pathlib import Path

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
