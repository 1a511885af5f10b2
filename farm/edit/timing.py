"""Exact time: the sampling rule of DESIGN.md as pure functions.

All times are :class:`fractions.Fraction` seconds and ranges are half-open.
Output frame ``n`` of a variant at rate ``R`` is sampled at ``t = n / R``; it
shows the clip active at ``t`` and, inside it, the source frame on screen at
``source_in + (t - clip_start)``.  For a constant-rate source that is frame
``floor(source_time * source_rate)``; a variable-rate source is sampled by
timestamp (the last frame whose presentation time is ``<= source_time``).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np
import numpy.typing as npt

#: NTSC-family rates, which OTIO and containers store inexactly (29.97002997...).
_NTSC_RATES = tuple(Fraction(n * 1000, 1001) for n in (24, 30, 48, 60, 120, 240))


def parse_rate(text: str | int | float | Fraction) -> Fraction:
    """A frame rate from ``"24"``, ``"30000/1001"``, ``"29.97"``, 25 or a Fraction.

    Decimal NTSC spellings (``29.97``, ``23.976``, ``59.94``) mean the exact
    ``N*1000/1001`` rates, which is what every camera that writes them means.
    Raises ``ValueError`` for anything that is not a positive rate.
    """
    if isinstance(text, Fraction):
        rate = text
    elif isinstance(text, bool):
        raise ValueError(f"not a rate: {text!r}")
    elif isinstance(text, int):
        rate = Fraction(text)
    elif isinstance(text, float):
        rate = exact_rate(text)
    else:
        s = str(text).strip()
        try:
            if "/" in s:
                num, den = s.split("/", 1)
                rate = Fraction(int(num), int(den))
            else:
                rate = exact_rate(float(s)) if "." in s else Fraction(int(s))
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"not a rate: {text!r}") from None
    if rate <= 0:
        raise ValueError(f"not a positive rate: {text!r}")
    return rate


def exact_rate(value: float) -> Fraction:
    """An exact rate for a float one (OTIO's ``RationalTime.rate`` is a float).

    Whole numbers stay whole; values within 0.005 of an ``N*1000/1001`` rate
    are that rate; anything else is the nearest fraction with a small denominator.
    """
    if abs(value - round(value)) < 1e-9:
        return Fraction(round(value))
    for known in _NTSC_RATES:
        if abs(float(known) - value) < 5e-3:
            return known
    return Fraction(value).limit_denominator(1001)


def exact_value(value: float) -> Fraction:
    """An exact count of frames (or ticks) for a float OTIO ``RationalTime.value``."""
    return Fraction(value).limit_denominator(1_000_000)


def frame_count(duration: Fraction, rate: Fraction) -> int:
    """Frames a variant of ``duration`` seconds has at ``rate``: ``ceil(duration * rate)``."""
    if duration < 0:
        raise ValueError(f"negative duration {duration}")
    return math.ceil(duration * rate)


def frame_time(n: int, rate: Fraction) -> Fraction:
    """The timeline time output frame ``n`` is sampled at."""
    return Fraction(n) / rate


def first_frame_at_or_after(t: Fraction, rate: Fraction) -> int:
    """Smallest output frame ``n`` with ``n / rate >= t``: ``ceil(t * rate)`` in integers."""
    return -(-(t.numerator * rate.numerator) // (t.denominator * rate.denominator))


def source_frame_cfr(source_time: Fraction, source_rate: Fraction) -> int:
    """Frame of a constant-rate source on screen at ``source_time`` (seconds from its first frame)."""
    return math.floor(source_time * source_rate)


def source_frame_vfr(source_time: Fraction, frame_times: Sequence[Fraction]) -> int:
    """Frame of a variable-rate source on screen at ``source_time``.

    ``frame_times`` are the presentation times (seconds from the first frame),
    sorted.  Times before the first frame show the first frame.
    """
    return max(bisect.bisect_right(frame_times, source_time) - 1, 0)


def output_frames_of(start: Fraction, duration: Fraction, rate: Fraction) -> range:
    """Output frames whose sample time ``n / rate`` lies in ``[start, start + duration)``."""
    a, b = start.as_integer_ratio()
    c, d = duration.as_integer_ratio()
    r, s = rate.as_integer_ratio()
    # ceil(t * rate) for t = a/b and t = (a*d + c*b) / (b*d), in integers (no Fraction built)
    return range(-(-(a * r) // (b * s)), -(-((a * d + c * b) * r) // (b * d * s)))


def audio_samples_of(start: Fraction, duration: Fraction, sample_rate: int = 48000) -> range:
    """Audio samples whose time ``m / sample_rate`` lies in ``[start, start + duration)``."""
    return output_frames_of(start, duration, Fraction(sample_rate))


def floor_linear(offset: Fraction, rate: Fraction, span: range, scale: Fraction) -> npt.NDArray[np.int64]:
    """``floor((offset + n / rate) * scale)`` for every ``n`` in ``span``, exactly, as int64.

    The sampling rule is linear in ``n``: with every rational written as integers
    this is ``floor((A + n * B) / C)``, one integer multiply-add and one floor
    division per frame, no ``Fraction`` per frame.  Falls back to Python integers
    only when an intermediate would not fit in 62 bits.
    """
    return floor_terms(linear_terms(offset.as_integer_ratio(), rate, scale), span)


def linear_terms(offset: tuple[int, int], rate: Fraction, scale: Fraction) -> tuple[int, int, int]:
    """``(A, B, C)`` with ``floor((offset + n / rate) * scale) == (A + n * B) // C``, in lowest
    terms; ``offset`` is given as ``(numerator, denominator)``, ``denominator > 0``."""
    p, q = offset
    a, b = rate.as_integer_ratio()
    c, d = scale.as_integer_ratio()
    big_a, big_b, big_c = p * a * c, b * q * c, q * a * d
    g = math.gcd(big_a, big_b, big_c)
    return big_a // g, big_b // g, big_c // g


def floor_terms(terms: tuple[int, int, int], span: range) -> npt.NDArray[np.int64]:
    """``(A + n * B) // C`` for every ``n`` in ``span`` (see :func:`linear_terms`), as int64."""
    big_a, big_b, big_c = terms
    if not span:
        return np.zeros(0, dtype=np.int64)
    reach = abs(big_a) + abs(big_b) * max(abs(span.start), abs(span.stop))
    if reach < 1 << 62 and big_c < 1 << 62:
        n = np.arange(span.start, span.stop, span.step, dtype=np.int64)
        return (n * big_b + big_a) // big_c  # numpy's // floors, like Python's
    return np.array([(big_a + n * big_b) // big_c for n in span], dtype=np.int64)


def source_frames_cfr(
    offset: Fraction, rate: Fraction, span: range, source_rate: Fraction
) -> npt.NDArray[np.int64]:
    """Frames of a constant-rate source shown by output frames ``span`` at ``rate``.

    ``offset`` is ``source_in - clip_start``: output frame ``n`` shows
    :func:`source_frame_cfr` of ``offset + n / rate``, for every ``n`` at once.
    """
    return floor_linear(offset, rate, span, source_rate)


def source_frames_vfr(
    offset: Fraction, rate: Fraction, span: range, time_base: Fraction, relative_pts: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Frames of a variable-rate source shown by output frames ``span`` (see :func:`source_frame_vfr`).

    ``relative_pts`` are the frames' presentation times in ``time_base`` ticks from
    the first frame, sorted.  A frame is on screen at source time ``s`` when its
    pts is at most ``s / time_base``; pts are whole ticks, so comparing with
    ``floor(s / time_base)`` is exact.
    """
    ticks = floor_linear(offset, rate, span, 1 / time_base)
    found = np.searchsorted(relative_pts, ticks, side="right") - 1
    return np.maximum(found, 0).astype(np.int64)


def timecode_seconds(timecode: str, rate: Fraction) -> Fraction:
    """Seconds a SMPTE timecode ``HH:MM:SS:FF`` (``;`` before FF: drop-frame) stands for at ``rate``.

    Frames count at the nominal rate (30 for 29.97); drop-frame timecode skips
    frame numbers 0 and 1 of every minute except each tenth (2 and 4 at 59.94).
    """
    text = timecode.strip()
    drop = ";" in text or "." in text.rsplit(":", 1)[-1]
    parts = text.replace(";", ":").replace(".", ":").split(":")
    if len(parts) != 4 or not all(p.isdigit() for p in parts):
        raise ValueError(f"not a timecode: {timecode!r}")
    hh, mm, ss, ff = (int(p) for p in parts)
    nominal = round(rate)
    if ff >= nominal or ss >= 60 or mm >= 60:
        raise ValueError(f"timecode {timecode!r} is out of range at {float(rate):g} fps")
    frames = ((hh * 60 + mm) * 60 + ss) * nominal + ff
    if drop:
        dropped = 2 * round(nominal / 30)
        minutes = hh * 60 + mm
        frames -= dropped * (minutes - minutes // 10)
    return Fraction(frames) / rate
