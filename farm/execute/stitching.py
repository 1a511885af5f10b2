"""Stitch while segments still render: append each variant's segments to its file as they land.

A variant's output is written in output order, so as soon as its segments from
output frame 0 onward are available (found in the cache or just rendered) they
can be appended to a temporary file (:func:`~farm.media.stitch.start_stitch`);
when its last segment lands only the remainder, the audio's tail and the check
are left (:func:`~farm.media.stitch.stitch` with ``started``).  Audio is
interleaved with the video by time, so a variant is appended to only once its
audio track exists; until then it waits, and if the audio lands last the whole
variant is stitched at the end as before.

Every method of :class:`ProgressiveStitch` except :meth:`stop` runs on the
render loop's one stitch thread, in the order the loop submitted them, so
nothing here needs a lock.  Nothing is published early: a variant that fails,
or a render that is interrupted, leaves no file (:meth:`discard_all`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from farm.errors import FarmError
from farm.media.stitch import StitchPiece, discard, start_stitch
from farm.media.stitch_writer import StitchWriter
from farm.output.cache import Cache
from farm.output.report import VariantResult
from farm.planning.planner import VariantPlan

#: appends ``pieces[writer.pieces:]`` to ``writer``; returns the writer holding them all
Extend = Callable[[str, StitchWriter, list[StitchPiece]], StitchWriter]


class ProgressiveStitch:
    """Each active variant's partly written output, extended as its pieces become available.

    ``ready``: the segment and audio keys available before anything runs;
    ``outputs``: variant -> its final path; ``digests``: variant -> the plan
    digest its file carries; ``extend``: how to append (the loop's, so a timed
    render can record it).
    """

    def __init__(
        self,
        variants: Mapping[str, VariantPlan],
        outputs: Mapping[str, Path],
        digests: Mapping[str, str],
        cache: Cache,
        results: Mapping[str, VariantResult],
        ready: Iterable[str],
        extend: Extend,
    ) -> None:
        self._variants = variants
        self._outputs = outputs
        self._digests = digests
        self._cache = cache
        self._results = results
        self._extend = extend
        self._ready = set(ready)
        self._writers: dict[str, StitchWriter] = {}
        self._pieces: dict[str, list[StitchPiece]] = {}  # in the file so far, in output order
        self._finished: set[str] = set()  # taken for the end stitch, failed, or given up on
        self._stopped = False

    # ------------------------------------------------------------------ on the stitch thread

    def advance(self, names: Iterable[str], landed: str | None = None) -> None:
        """``landed`` is now available; append what became appendable to each of ``names``."""
        if landed is not None:
            self._ready.add(landed)
        for name in names:
            if self._stopped:
                return
            self._advance(name)

    def take(self, name: str) -> tuple[StitchWriter | None, list[StitchPiece]]:
        """The variant's writer (None if nothing was appended) and its pieces so far, for the end stitch.

        From now on the end stitch owns the file; nothing more is appended here.
        """
        self._finished.add(name)
        return self._writers.pop(name, None), self._pieces.pop(name, [])

    def discard_all(self) -> None:
        """Remove every file not taken: its variant failed or never completed, or the render stopped."""
        for name in list(self._writers):
            self._drop(name)

    # ------------------------------------------------------------------ from any thread

    def stop(self) -> None:
        """Append nothing more (the render is being interrupted); the queued calls return at once."""
        self._stopped = True

    # ------------------------------------------------------------------ inside

    def _advance(self, name: str) -> None:
        if name in self._finished:
            return
        vp = self._variants[name]
        if self._results[name].error is not None:
            self._drop(name)
            return
        if vp.audio.key not in self._ready:
            return  # audio is interleaved by time: wait for it
        done = self._pieces.get(name, [])
        new = []
        for placement in vp.placements[len(done) :]:
            if placement.key not in self._ready:
                break
            new.append(placement)
        if not new:
            return
        try:
            pieces = done + [StitchPiece(self._cache.local_segment(p.key), p.start, p.count) for p in new]
            writer = self._writers.get(name)
            if writer is None:
                out, audio = self._outputs[name], self._cache.audio_path(vp.audio.key)
                writer = start_stitch(out, vp.spec.output.fps, audio, name, self._digests[name])
                self._writers[name] = writer
            self._writers[name] = self._extend(name, writer, pieces)
            self._pieces[name] = pieces
        except FarmError:
            # a damaged segment, a full disk...: the end stitch meets it again and reports it
            self._drop(name)

    def _drop(self, name: str) -> None:
        self._finished.add(name)
        self._pieces.pop(name, None)
        writer = self._writers.pop(name, None)
        if writer is not None:
            discard(writer)
