"""Chroma siting of a decoded 4:2:0 picture: where its chroma samples sit relative to luma.

H.264 and HEVC signal it in the VUI (``chroma_sample_loc_type``): ``left`` (MPEG-2,
most SDR video), ``topleft`` (BT.2020/HDR masters, many phones' HDR), ``center``
(MPEG-1, JPEG) and others.  PyAV does not expose a frame's siting, so it is read
from libavfilter's ``showinfo`` report of the decoded frame (``cl:``).  The CPU
backend passes a tagged siting to the scaler (its chroma position); an untagged
source keeps libswscale's default (centre), as farm always did.
"""

from __future__ import annotations

import logging
import re
import threading

import av

#: PyAV's log level and callback are process-wide: one capture at a time
_CAPTURE = threading.Lock()
# While a capture's level is set, what libav logs in other threads (a parallel probe's open) goes
# to Python's "libav" logger, and without a handler of its own Python prints warnings on stderr:
# a user saw "Could not find codec parameters for stream 0 ..." during `farm plan`.  libav stays
# as silent as PyAV keeps it by default.
logging.getLogger("libav").addHandler(logging.NullHandler())

#: the sitings farm reads (libavutil's names; farm.backends.cpu.CHROMA_POSITIONS places them)
SITINGS = ("left", "center", "topleft", "top", "bottomleft", "bottom")
_CL = re.compile(r"\bcl:(\w+)")


def chroma_location(frame: av.VideoFrame) -> str:
    """The frame's chroma siting (one of :data:`SITINGS`), or "" when the stream does not say."""
    from av.filter import Graph

    graph = Graph()
    buffer = graph.add(
        "buffer", f"video_size={frame.width}x{frame.height}:pix_fmt={frame.format.name}:time_base=1/1"
    )
    info = graph.add("showinfo")
    sink = graph.add("buffersink")
    buffer.link_to(info)
    info.link_to(sink)
    graph.configure()
    # While the level is set, every libav log line of the process goes through a Python callback
    # that takes the GIL: a libav thread logging then, while another thread holds the GIL and
    # waits for it (freeing a threaded decoder), deadlocks.  Callers decode ``frame`` without
    # threads (farm.media.probe), and the window is as short as one filter pass.
    with _CAPTURE:
        level = av.logging.get_level()
        av.logging.set_level(av.logging.INFO)
        try:
            with av.logging.Capture() as logs:
                graph.push(frame)
                graph.pull()
        finally:
            av.logging.set_level(level)
    for _, name, message in logs:
        if name == "showinfo":
            found = _CL.search(message)
            if found:
                return found.group(1) if found.group(1) in SITINGS else ""
    return ""
