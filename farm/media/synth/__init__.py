"""Synthetic media: real encoded clips whose frames say which frame they are.

Tests, the demo and the benchmarks need footage with known content and no files
checked in. :func:`write_clip` renders one of two pictures and encodes it with
PyAV into an ``.mp4`` or ``.mov``:

``"coded"``
    A mid-grey picture with a grid of large black/white blocks in its centre that
    spell the source id and the frame number (:mod:`.codes`, the test oracle).
    :func:`read_code` reads them back from any rendered frame, after scaling,
    letterboxing, centre crops, colour casts, LUTs and lossy re-encoding.
``"city"``
    A procedural dusk/night skyline with lit windows and moving cars, seeded by
    the source id (:mod:`.footage`), for the demo and for benchmarks that want
    natural-ish content.

A clip may carry an AAC tone per source (:mod:`.tones`; :func:`tone_frequency`
hears it back). The encoder and its conventions for stored size, rotation,
sample aspect and colour tags are in :mod:`.clips`.
"""

from __future__ import annotations

from farm.media.synth.clips import write_clip
from farm.media.synth.codes import MAX_CODED_FRAMES, frame_rgb, read_code
from farm.media.synth.tones import tone_frequency

__all__ = ["MAX_CODED_FRAMES", "frame_rgb", "read_code", "tone_frequency", "write_clip"]
