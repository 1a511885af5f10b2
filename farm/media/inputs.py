"""Media opened for reading without decoding a picture first.

``avformat_find_stream_info``, which every open runs, decodes frames of each
stream to fill in what the container's header leaves out; for H.264 it decodes
several to guess the decode delay.  At 4K that is about 40 ms of CPU per open,
paid by every probe, every worker's first segment of a source, every audio
read and every stitch input.  farm never needs what it learns that way: the
probe decodes the first frame itself, and decoders take their reorder depth
from the stream.  With the decoder told to skip every frame, the open reads the
header and a few packets only (about 4 ms).

Checked on some 500 files (MP4, MOV, MKV, MPEG-TS, FLV, AVI, WebM, MXF, raw
H.264 and HEVC; B-frames, interlaced, 10-bit, rotated, VFR): the probe's result
and the first 80 decoded frames are the same with and without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from av.container import InputContainer

#: a decoder option for ``avformat_find_stream_info`` only: the decoders farm opens afterwards
#: decode every frame
NO_PROBE_DECODE = {"skip_frame": "all"}


def open_input(path: str | Path, **kwargs: Any) -> InputContainer:
    """``path`` opened for reading (``kwargs`` as ``av.open`` takes them), no frame decoded to open it."""
    import av

    options = {**NO_PROBE_DECODE, **kwargs.pop("options", {})}
    return cast("InputContainer", av.open(str(path), "r", options=options, **kwargs))
