"""Reading a cut file through OpenTimelineIO's adapters, whatever format it is in.

``.otio`` is read natively; the ``opentimelineio-plugins`` adapters add CMX 3600
EDL, Final Cut Pro 7 XML, AAF, ALE and others.  What each format needs is
decided here:

* an EDL carries no frame rate, so it is read at the rate given (the variant's
  ``timeline_rate``, else its output rate).  One the adapter refuses (record
  timecodes that overlap, or disagree with their source durations: common in
  real EDLs) is placed by its record timecodes as an assembly list
  (``edl_assembly.py``), and a warning says what that decided; one it reads is
  read that way too when the two differ (``M2`` speeds the adapter drops);
* ``.fcpxml`` (Final Cut Pro X) has no adapter on PyPI: it is refused with how
  to convert it;
* a file holding several timelines (a library, a bin) needs one chosen by name
  (the variant's ``timeline_name``); without one it is refused with the names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from farm.errors import CutError, Where

if TYPE_CHECKING:
    import opentimelineio as otio

#: suffixes read with a frame rate argument (formats that do not carry one)
_RATE_SUFFIXES = (".edl",)

_FCPX_HINT = (
    "Final Cut Pro X libraries (.fcpxml, .fcpxmld) need an adapter that is not on PyPI: "
    "export the project from Final Cut Pro as FCP7 XML (.xml, e.g. with XtoCC) or convert it "
    "to .otio with the otio-fcpx-xml-adapter (pip install from its repository, then "
    "otioconvert -i cut.fcpxml -o cut.otio)"
)


@dataclass(frozen=True)
class ReadTimeline:
    """A timeline read from a file, and what reading it had to repair."""

    timeline: otio.schema.Timeline
    warnings: tuple[str, ...]


def _newer_schema_error(exc: Exception, where: Where) -> CutError:
    import opentimelineio as otio

    return CutError(
        f"the file was written by a newer OpenTimelineIO than the one installed ({otio.__version__}): {exc}",
        where,
        hint="upgrade opentimelineio, or write the file again with a schema downgrade "
        "(otioconvert --downgrade)",
    )


def read_timeline(
    path: Path,
    rate: Fraction,
    variant: str,
    name: str | None = None,
) -> ReadTimeline:
    """Read the one timeline of ``path`` a variant renders.

    ``rate`` is used for formats without a rate of their own (EDL); ``name``
    picks a timeline from a file that holds several.  Errors are :class:`CutError`
    (exit 65) naming the variant and the file.
    """
    import opentimelineio as otio

    where = Where(variant=variant, path=str(path))
    suffix = path.suffix.lower()
    if suffix in (".fcpxml", ".fcpxmld"):
        raise CutError("Final Cut Pro X files cannot be read", where, hint=_FCPX_HINT)
    warnings: list[str] = []
    kwargs: dict[str, Any] = {}
    if suffix in _RATE_SUFFIXES:
        kwargs["rate"] = float(rate)
    try:
        result = otio.adapters.read_from_file(str(path), **kwargs)
    except otio.exceptions.UnsupportedSchemaError as exc:
        raise _newer_schema_error(exc, where) from None
    except otio.exceptions.NoKnownAdapterForExtensionError:
        raise CutError(
            f"no installed OpenTimelineIO adapter reads {suffix or 'files without a suffix'}",
            where,
            hint="installed adapters: " + ", ".join(sorted(otio.adapters.available_adapter_names())),
        ) from None
    except Exception as exc:  # adapters raise many types (parse, schema, value errors)
        if suffix in _RATE_SUFFIXES and ("match" in str(exc) or "Overlapping" in str(exc)):
            result, note = _read_assembled_edl(path, rate, where, exc)
            warnings.append(f"variant {variant!r}: {path.name}: {note}")
        else:
            raise CutError(f"cannot read timeline: {exc}", where) from None
    else:
        if suffix in _RATE_SUFFIXES:  # read fine: the adapter may still have dropped M2 speeds
            assembled, note = _read_assembled_edl(path, rate, where, None)
            if note:  # the readings differ: the list's own
                result = assembled
                warnings.append(f"variant {variant!r}: {path.name}: {note}")
    timeline = _choose(result, name, where)
    return ReadTimeline(timeline=timeline, warnings=tuple(warnings))


def _read_assembled_edl(
    path: Path, rate: Fraction, where: Where, first: Exception | None
) -> tuple[Any, str | None]:
    """An EDL placed by its record timecodes (``edl_assembly``), and what that decided (None: what
    the adapter reads, ``first`` being None when it read the file without complaint)."""
    from farm.edit.edl_assembly import assemble

    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    try:
        placed = assemble(text, float(rate), path.stem)
    except Exception as exc:  # the adapter's parse errors, per event
        why = f"{first} (and event by event: {exc})" if first is not None else str(exc)
        raise CutError(f"cannot read timeline: {why}", where) from None
    if placed is None:
        if first is None:
            import opentimelineio as otio

            return otio.adapters.read_from_file(str(path), rate=float(rate)), None
        raise CutError(f"cannot read timeline: {first}", where)
    notes = []
    if first is not None:
        notes.append(
            f"the adapter refuses the list as it is ({first}); it was placed by its record timecodes "
            f"as an assembly list: {placed.covered} events are recorded over by later ones "
            f"({placed.hidden} of them entirely), {placed.mismatched} events play from their source in "
            "point for their record duration, which differs from their source duration"
        )
    if placed.motion_added:
        notes.append(
            f"{placed.motion_added} events play at their M2 speed although their source and record "
            "durations agree (the adapter drops those speeds)"
        )
    if placed.dropped_transitions:
        notes.append(f"{placed.dropped_transitions} transitions whose start was recorded over are cuts")
    return placed.timeline, "; ".join(notes) or None


def timeline_names(result: Any) -> list[str]:
    """The names of every timeline in what an adapter returned (a timeline or a collection)."""
    import opentimelineio as otio

    if isinstance(result, otio.schema.Timeline):
        return [result.name]
    if isinstance(result, otio.schema.SerializableCollection):
        return [t.name for t in result.find_children(descended_from_type=otio.schema.Timeline)]
    return []


def _choose(result: Any, name: str | None, where: Where) -> otio.schema.Timeline:
    import opentimelineio as otio

    if isinstance(result, otio.schema.Timeline):
        if name is not None and result.name != name:
            raise CutError(
                f"the file holds one timeline, {result.name!r}, not {name!r}",
                where,
                hint=f'set timeline_name = "{result.name}" or remove timeline_name',
            )
        return result
    if not isinstance(result, otio.schema.SerializableCollection):
        raise CutError(f"expected a Timeline, found {type(result).__name__}", where)
    found: Sequence[otio.schema.Timeline] = list(
        result.find_children(descended_from_type=otio.schema.Timeline)
    )
    names = [t.name for t in found]
    if not found:
        raise CutError("the file holds no timeline", where)
    if name is None:
        if len(found) == 1:
            return found[0]
        raise CutError(
            f"the file holds {len(found)} timelines: " + ", ".join(repr(n) for n in names),
            where,
            hint="choose one with timeline_name = NAME in the variant's table in farm.toml",
        )
    chosen = [t for t in found if t.name == name]
    if len(chosen) != 1:
        what = "no timeline" if not chosen else f"{len(chosen)} timelines"
        raise CutError(
            f"the file holds {what} named {name!r}; its timelines: " + ", ".join(repr(n) for n in names),
            where,
            hint="set timeline_name to one of these names",
        )
    return chosen[0]
