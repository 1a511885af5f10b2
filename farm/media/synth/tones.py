"""Audio of synthetic clips: one sine tone per source, and the oracle that hears it back."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import av
    import av.container

_TONE_AMPLITUDE = 0.3


def tone_frequency(samples: np.ndarray, sample_rate: int) -> float:
    """Dominant frequency (Hz) of a window of mono or multi-channel samples.

    A 2-D array is averaged over its shorter axis (channels, either layout).
    A Hann window, 16x zero padding and a parabola through the log-magnitude peak
    give well under 1 Hz of error for a clean 0.1 s tone.
    """
    data = np.asarray(samples, dtype=np.float64)
    if data.ndim == 2:
        data = data.mean(axis=0 if data.shape[0] < data.shape[1] else 1)
    if data.ndim != 1 or data.size < 8:
        raise ValueError(f"need at least 8 samples in a 1-D or 2-D array, got shape {samples.shape}")
    data = (data - data.mean()) * np.hanning(data.size)
    size = 1 << math.ceil(math.log2(data.size * 16))
    spectrum = np.abs(np.fft.rfft(data, size))
    peak = int(np.argmax(spectrum[1:-1])) + 1
    left, centre, right = np.log(spectrum[peak - 1 : peak + 2] + 1e-12)
    denominator = left - 2 * centre + right
    offset = 0.5 * (left - right) / denominator if denominator != 0 else 0.0
    return (peak + offset) * sample_rate / size


class ToneWriter:
    """Encodes a stereo sine into an AAC stream, a whole AAC frame at a time."""

    _FRAME = 1024  # AAC frame size; only the last frame may be shorter

    def __init__(self, container: av.container.OutputContainer, frequency: float, sample_rate: int) -> None:
        self._container = container
        self._stream = container.add_stream("aac", rate=sample_rate, layout="stereo")
        self._stream.codec_context.time_base = Fraction(1, sample_rate)
        self._frequency = frequency
        self._rate = sample_rate
        self._next = 0  # index of the next sample to encode
        self._end = 0  # samples requested so far: [0, end)

    def write_until(self, time: Fraction) -> None:
        """Encode the whole AAC frames that lie before ``time``; the rest waits."""
        self._end = max(self._end, math.ceil(time * self._rate))
        while self._end - self._next >= self._FRAME:
            self._encode(self._FRAME)

    def flush(self) -> None:
        if self._end > self._next:
            self._encode(self._end - self._next)
        self._container.mux(self._stream.encode(None))

    def _encode(self, count: int) -> None:
        import av

        t = (self._next + np.arange(count)) / self._rate
        wave = (_TONE_AMPLITUDE * np.sin(2 * np.pi * self._frequency * t)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(np.stack([wave, wave]), format="fltp", layout="stereo")
        frame.sample_rate = self._rate
        frame.pts = self._next
        frame.time_base = Fraction(1, self._rate)
        self._next += count
        self._container.mux(self._stream.encode(frame))
