"""What a CPU worker keeps open between segments: decoders where they stopped, built filter graphs.

A long-lived worker (a Ray actor, or the process of the in-process executor)
renders many segments of few sources.  Opening a source, seeking, starting a
decoder and building a libavfilter graph (which reads and parses a ``.cube``)
cost milliseconds each, more than a short segment's frames at a small size.
So the CPU backend borrows them from here:

- a :class:`Cursor` per source: the open container and its decoder, with the
  timestamp of the last frame it produced.  The next segment of that source
  continues decoding from there when its first frame lies just ahead (a few
  frames: less work than a seek), else seeks the open container.  Either way
  the decoded pictures are the ones a fresh open and seek gives (decoding is
  exact; a seek lands on a keyframe and frames are selected by timestamp).
- a configured filter graph per (source, chain, LUT content, input format): every filter
  farm builds here is per frame (scale, format, lut1d/lut3d, transpose, crop,
  pad, setsar), so a graph gives the same pixels whatever it filtered before.

Interlaced sources keep no cursor (``bwdif`` looks at neighbouring frames, so
continuing would give a segment's first frame other pixels than a fresh
render).  Both caches are small LRUs, per process.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import av
from av.filter import Graph
from av.video.stream import VideoStream

from farm.planning.units import SourceRef

#: open sources kept per process (a 4K decoder with its frame threads holds a few hundred MiB)
MAX_CURSORS = 2
#: configured filter graphs kept per process
MAX_GRAPHS = 8
#: continue decoding (rather than seek) when the next wanted frame is at most this many frames ahead
CONTINUE_FRAMES = 12


@dataclass
class Cursor:
    """An open source, its decoder, and how far it has decoded."""

    container: av.container.InputContainer
    stream: VideoStream
    frames: Iterator[av.VideoFrame] | None = None  # the decoder's output since the last seek
    last_pts: int | None = None  # the last frame ``frames`` produced
    how: str = "opened"  # how the current segment found it: opened | continued | sought

    def close(self) -> None:
        self.frames = None
        self.container.close()


def _source_key(src: SourceRef) -> tuple[str, str, int]:
    return (src.path, src.identity, src.sequence_start)


_cursors: OrderedDict[tuple[str, str, int], Cursor] = OrderedDict()
_graphs: OrderedDict[tuple[object, ...], Graph] = OrderedDict()
#: how segments found their decoder and graph in this process (for tests and benchmarks)
_stats = {"opened": 0, "continued": 0, "seeked": 0, "graphs_built": 0, "graphs_reused": 0}


def keeps_cursor(src: SourceRef) -> bool:
    """Whether a decoder of ``src`` may be kept between segments (not interlaced, not an image pipe)."""
    return src.field_order not in ("tff", "bff") and src.sequence_start < 0


def take_cursor(src: SourceRef, open_source: Callable[[SourceRef], av.container.InputContainer]) -> Cursor:
    """The kept cursor of ``src`` (removed from the cache while in use), or a freshly opened one."""
    key = _source_key(src)
    cursor = _cursors.pop(key, None)
    if cursor is not None:
        return cursor
    container = open_source(src)
    _stats["opened"] += 1
    return Cursor(container, container.streams.video[0])


def give_back(src: SourceRef, cursor: Cursor) -> None:
    """Keep ``cursor`` for the next segment of ``src`` (closing the least recently used beyond the bound)."""
    if not keeps_cursor(src):
        cursor.close()
        return
    _cursors[_source_key(src)] = cursor
    while len(_cursors) > MAX_CURSORS:
        _, old = _cursors.popitem(last=False)
        old.close()


def frames_from(
    cursor: Cursor, first_pts: int, at_start: bool, frame_step: int, seek: Callable[[], None]
) -> Iterator[av.VideoFrame]:
    """Decoded frames up to and past ``first_pts``: continued when it is a few frames ahead, else sought.

    ``at_start``: the segment starts at the source's first frame (a fresh
    cursor needs no seek).  ``frame_step`` is a frame's duration in the stream's
    time base (an estimate is enough: it only decides between continuing and
    seeking); ``seek`` puts the container at the keyframe at or before
    ``first_pts``.
    """
    ahead = None if cursor.last_pts is None else first_pts - cursor.last_pts
    if cursor.frames is not None and ahead is not None and 0 < ahead <= CONTINUE_FRAMES * max(1, frame_step):
        _stats["continued"] += 1
        cursor.how = "continued"
    else:
        if cursor.last_pts is not None or not at_start:
            seek()
            _stats["seeked"] += 1
            cursor.how = "sought" if cursor.last_pts is not None else "opened"
        cursor.frames = cursor.container.decode(cursor.stream)
    frames = cursor.frames
    for frame in frames:
        if frame.pts is not None:
            cursor.last_pts = frame.pts
        yield frame
    cursor.frames = None  # the end of the file: the next segment seeks


def graph_for(key: tuple[object, ...], build: Callable[[], Graph]) -> Graph:
    """The configured graph for ``key`` (source, chain, input format), built on first use."""
    graph = _graphs.pop(key, None)
    if graph is None:
        graph = build()
        _stats["graphs_built"] += 1
    else:
        _stats["graphs_reused"] += 1
    _graphs[key] = graph
    while len(_graphs) > MAX_GRAPHS:
        _graphs.popitem(last=False)
    return graph


def forget_graph(key: tuple[object, ...]) -> None:
    """Drop a graph that failed mid-frame (its state is unknown)."""
    _graphs.pop(key, None)


def stats() -> dict[str, int]:
    """How segments found their decoders and graphs in this process (for tests and benchmarks)."""
    return dict(_stats)


def clear() -> None:
    """Close every kept source and drop every graph."""
    while _cursors:
        _, cursor = _cursors.popitem()
        cursor.close()
    _graphs.clear()
