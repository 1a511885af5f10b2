"""Device → host for GPUs without NVENC: pinned buffers, copies on a second stream.

The ``nvdec+cpu`` family decodes and scales on the GPU and encodes on the
host. :class:`HostCopies` packs each output picture as I420 on the worker's
stream into a ring of device staging buffers, then copies it into a ring of
page-locked (pinned) host buffers with ``cudaMemcpyAsync`` on a second
stream, which waits for the packing kernel through an event (never the host).
The host only waits for a copy when it hands that picture to the encoder,
:data:`DEPTH` pictures later, so the copies of one decode batch run while the
kernels of the next one do.

What the CPU stand-ins cannot show is the overlap itself (their copies are
synchronous); the ring, the ordering and the picture contents are tested.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

#: pictures in flight between the packing kernel and the host encoder (ring size)
DEPTH = 4
_DEVICE_TO_HOST = 2  # cudaMemcpyDeviceToHost


def _pointer(array: Any) -> int:
    iface = getattr(array, "__cuda_array_interface__", None) or array.__array_interface__
    return int(iface["data"][0])


class HostCopies:
    """A ring of (device staging, pinned host) I420 buffers for frames of one size."""

    def __init__(self, cp: Any, width: int, height: int, depth: int = DEPTH):
        self.cp = cp
        self.size = (width, height)
        self.nbytes = width * height * 3 // 2
        self.depth = depth
        self.stream = cp.cuda.Stream(non_blocking=True)  # the copy stream
        self.staging = [cp.empty(self.nbytes, dtype=cp.uint8) for _ in range(depth)]
        self.host = [
            np.frombuffer(cp.cuda.alloc_pinned_memory(self.nbytes), np.uint8, self.nbytes).reshape(
                height * 3 // 2, width
            )
            for _ in range(depth)
        ]
        self.copies = 0

    def _pack(self, slot: int, y: Any, uv: Any) -> None:
        """I420 into staging buffer ``slot`` on the current (compute) stream: chroma deinterleaved."""
        w, h = self.size
        flat = self.staging[slot]
        quarter = h * w // 4
        flat[: h * w] = y.reshape(-1)
        flat[h * w : h * w + quarter] = uv[:, :, 0].reshape(-1)
        flat[h * w + quarter :] = uv[:, :, 1].reshape(-1)

    def _copy(self, slot: int) -> Any:
        """Start the copy of staging ``slot`` on the copy stream after the packing; returns its event."""
        cuda = self.cp.cuda
        packed = cuda.Event(disable_timing=True)
        packed.record(cuda.get_current_stream())
        self.stream.wait_event(packed)
        cuda.runtime.memcpyAsync(
            _pointer(self.host[slot]),
            _pointer(self.staging[slot]),
            self.nbytes,
            _DEVICE_TO_HOST,
            self.stream.ptr,
        )
        done = cuda.Event(disable_timing=True)
        done.record(self.stream)
        self.copies += 1
        return done

    def pictures(self, frames: Iterable[tuple[Any, Any, int]]) -> Iterator[tuple[np.ndarray, int]]:
        """``(host I420 (H·3/2, W), repeat)`` for each ``(y, uv, repeat)``, in order.

        A yielded array is valid until the next item is requested (its slot is
        then reused): the consumer copies it (``av.VideoFrame.from_ndarray``).
        """
        pending: deque[tuple[int, Any, int]] = deque()
        slot = 0
        for y, uv, repeat in frames:
            if len(pending) == self.depth:  # the oldest slot is the one about to be reused
                ready, event, times = pending.popleft()
                event.synchronize()
                yield self.host[ready], times
            self._pack(slot, y, uv)
            pending.append((slot, self._copy(slot), repeat))
            slot = (slot + 1) % self.depth
        while pending:
            ready, event, times = pending.popleft()
            event.synchronize()
            yield self.host[ready], times


def host_yuv420p10(y: Any, uv: Any) -> Any:
    """A P010 device picture as a host ``yuv420p10le`` PyAV frame (one synchronous copy per plane).

    The 10-bit output path of GPUs without NVENC: the codes leave the device
    unrounded, and the host encoder writes them (HEVC Main10, or ProRes after
    its 4:2:2 conversion).
    """
    import av

    h, w = (int(n) for n in y.shape)
    planes = [y, uv[:, :, 0], uv[:, :, 1]]
    hosts = [np.asarray(p.get() if hasattr(p, "get") else p) >> 6 for p in planes]
    frame = av.VideoFrame(w, h, "yuv420p10le")
    for plane, data in zip(frame.planes, hosts, strict=True):
        rows, cols = data.shape
        padded = np.zeros((rows, plane.line_size // 2), np.uint16)
        padded[:, :cols] = data
        plane.update(padded.tobytes())
    return frame
