"""Which layers every output frame shows: tracks stacked bottom to top, transitions, plain runs.

Pure.  For output frame ``n`` at ``t = n / R`` each video track contributes
what is active on it at ``t``: nothing for a gap or a transparent generator, a
clip or a generator at weight 1, or — inside a transition ``[at − before,
at + after)`` — both clips of the cut with the weight of the incoming one

    ``w(n) = (t − (at − before) + 1/(2R)) / (before + after)``, clamped to [0, 1],

(frame-centred: a transition of N frames uses ``(k + ½)/N`` for k = 0..N−1, never
a whole frame of only one side).  A dissolve shows the outgoing clip at 1 and the
incoming one over it at ``w`` (into a gap: the outgoing clip at ``1 − w``; out
of a gap: the incoming one at ``w`` — fades to and from what lies below, black
at the bottom).  A wipe shows the incoming clip where the edge has passed
(``wipe-left``: columns ``x < w·width``, ``wipe-top``: rows ``y < w·height``; the
other SMPTE masks in ``farm/backends/wipes.py``).

Layers are then looked at from the top: an opaque layer at weight 1 that covers
the frame (no alpha, no letterbox) hides everything below it.  A frame whose
visible stack is one such layer is *plain* and renders exactly as a single-track
cut does (same segments, same keys); anything else is *composited*.  Runs of
consecutive frames with the same items visible become segments, so segments
split at every edit point of every track, and only frames an upper track or a
transition touches are composited.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from farm.edit.cut import ClipItem, Cut, GapItem, GeneratorItem, Item, TransitionItem
from farm.edit.timing import output_frames_of

Visible = ClipItem | GeneratorItem


@dataclass(frozen=True)
class Entry:
    """One item shown in one output frame, with its weight (opacity or wipe position)."""

    item: Visible
    weight: Fraction
    mask: str = ""


@dataclass(frozen=True)
class Run:
    """Output frames ``[start, stop)`` that show the same thing."""

    start: int
    stop: int
    item: Item | None  # a plain run: this item alone (a gap or None: black)
    entries: tuple[tuple[Entry, ...], ...] | None = None  # composited: the visible stack per frame


def _visible(item: Item) -> Visible | None:
    if isinstance(item, GapItem):
        return None
    if isinstance(item, GeneratorItem) and item.fill.kind == "transparent":
        return None
    return item


def _transition_entries(
    tr: TransitionItem, track: tuple[Item, ...], t: Fraction, rate: Fraction
) -> list[Entry]:
    a = next((i for i in track if i.end == tr.at), None)
    b = next((i for i in track if i.start == tr.at), None)
    va = _visible(a) if a is not None else None
    vb = _visible(b) if b is not None else None
    w = (t - tr.start + 1 / (2 * rate)) / (tr.before + tr.after)
    w = min(max(w, Fraction(0)), Fraction(1))
    if tr.kind == "dissolve":
        if va is not None and vb is not None:
            return [Entry(va, Fraction(1)), Entry(vb, w)]
        if va is not None:
            return [Entry(va, 1 - w)]
        return [Entry(vb, w)] if vb is not None else []
    if va is not None and vb is not None:
        return [Entry(va, Fraction(1)), Entry(vb, w, tr.kind)]
    if va is not None:
        return [Entry(va, w, tr.kind + "-inv")]
    return [Entry(vb, w, tr.kind)] if vb is not None else []


def layer_runs(cut: Cut, rate: Fraction, total: int, covers: Callable[[ClipItem], bool]) -> list[Run]:
    """The runs of output frames of ``cut`` at ``rate`` (``total`` frames), plain or composited.

    ``covers(clip)`` says whether a clip's picture is opaque and fills the frame.
    """
    if len(cut.layers) == 1 and not cut.transitions:  # the single-track cut: one run per item
        runs = []
        for item in cut.video:
            span = output_frames_of(item.start, item.duration, rate)
            span = range(span.start, min(span.stop, total))
            if span:
                runs.append(Run(span.start, span.stop, item))
        return runs
    which: list[list[Item | None]] = []
    for track in cut.layers:
        at: list[Item | None] = [None] * total
        for item in track:
            span = output_frames_of(item.start, item.duration, rate)
            for n in range(span.start, min(span.stop, total)):
                at[n] = item
        which.append(at)
    # the transition (if any) under each output frame of each track: frames n with start <= n/rate < end
    during: list[list[TransitionItem | None]] = [[None] * total for _ in cut.layers]
    for transition in reversed(cut.transitions):  # the first listed wins where two overlap
        if transition.track >= len(during):
            continue
        lo, hi = math.ceil(transition.start * rate), math.ceil(transition.end * rate)
        for n in range(max(lo, 0), min(hi, total)):
            during[transition.track][n] = transition

    def opaque(e: Entry) -> bool:
        if e.weight != 1 or e.mask:
            return False
        return isinstance(e.item, GeneratorItem) or covers(e.item)

    frames: list[tuple[Entry, ...]] = []
    for n in range(total):
        t = Fraction(n) / rate
        stack: list[Entry] = []
        for index, track in enumerate(cut.layers):
            tr = during[index][n]
            if tr is not None:
                stack += _transition_entries(tr, track, t, rate)
                continue
            current = which[index][n]
            v = _visible(current) if current is not None else None
            if v is not None:
                stack.append(Entry(v, Fraction(1)))
        shown: list[Entry] = []
        for e in reversed(stack):  # from the top: an opaque, covering layer hides the rest
            shown.append(e)
            if opaque(e):
                break
        frames.append(tuple(reversed(shown)))

    def signature(entries: tuple[Entry, ...]) -> tuple[object, ...]:
        if len(entries) == 1 and opaque(entries[0]):
            return ("plain", id(entries[0].item))
        if not entries:
            return ("black",)
        return ("layers", tuple((id(e.item), e.mask) for e in entries))

    runs = []
    start = 0
    for n in range(1, total + 1):
        if n < total and signature(frames[n]) == signature(frames[start]):
            continue
        entries = frames[start]
        sig = signature(entries)
        if sig[0] == "plain":
            runs.append(Run(start, n, entries[0].item))
        elif sig[0] == "black":
            runs.append(Run(start, n, None))
        else:
            runs.append(Run(start, n, None, tuple(frames[start:n])))
        start = n
    return runs
