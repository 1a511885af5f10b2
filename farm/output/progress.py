"""Progress of a long render: one live line on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """Segments done/total, frames per second and ETA.

    On a terminal the line is redrawn in place; elsewhere (CI logs, pipes) a
    plain line is printed at most every ``interval`` seconds and at the end.
    """

    def __init__(
        self,
        total_segments: int,
        total_frames: int,
        stream: TextIO | None = None,
        interval: float = 5.0,
        enabled: bool = True,
    ):
        self.total_segments = total_segments
        self.total_frames = total_frames
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval
        self.enabled = enabled and total_segments > 0
        self.done_segments = 0
        self.done_frames = 0
        self.started = time.monotonic()
        self._last_print = 0.0

    def advance(self, frames: int) -> None:
        self.done_segments += 1
        self.done_frames += frames
        self._show(final=self.done_segments >= self.total_segments)

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        fps = self.done_frames / elapsed if elapsed > 0 else 0.0
        left = self.total_frames - self.done_frames
        eta = _clock(left / fps) if fps > 0 and left > 0 else ("0:00:00" if left <= 0 else "--:--:--")
        pct = 100.0 * self.done_frames / self.total_frames if self.total_frames else 100.0
        segments = f"segments {self.done_segments}/{self.total_segments}"
        frames = f"frames {self.done_frames}/{self.total_frames} ({pct:.0f}%)"
        return f"{segments}  {frames}  {fps:.1f} fps  ETA {eta}"

    def note(self, text: str) -> None:
        """A message that must not be overwritten by the live line."""
        if self.tty and self.enabled:
            self.stream.write("\r\033[K")
        self.stream.write(text + "\n")
        self.stream.flush()

    def _show(self, final: bool) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty:
            self.stream.write("\r\033[K" + self.line() + ("\n" if final else ""))
            self.stream.flush()
        elif final or now - self._last_print >= self.interval:
            self.stream.write(self.line() + "\n")
            self.stream.flush()
            self._last_print = now
