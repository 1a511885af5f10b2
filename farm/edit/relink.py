"""Relinking: finding a clip's media when the cut does not say where it is.

EDLs carry reel and clip names, not paths; FCP7 XML and AAF carry paths from
the machine they were cut on.  With ``media_search`` folders in ``farm.toml``,
a clip whose media is not where the cut says is looked up, by these names in
this order, each compared without regard to case:

1. the file name of the path the cut gives (``file:///Volumes/X/A001.mov`` → ``A001.mov``);
2. the file an EDL's ``* SOURCE FILE:`` comment names (as a file name, then as a name
   without extension);
3. the clip's name, as a file name, then as a name without extension;
4. the reel name (EDL), as a name without extension.

The first rule that finds exactly one file wins.  When a rule finds several
(the same clip name in two folders: a camera original and an editor's render,
two cards), the one whose start timecode and duration cover the source times
the clip uses is taken, as a conform does; if not exactly one does, it is an
error listing them (never a guess).  Nothing found is an error listing what was
tried.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from farm.errors import CutError, MissingInputError, Where

#: what counts as media when the search folders are indexed
MEDIA_SUFFIXES = frozenset(
    ".mov .mp4 .m4v .mxf .mkv .avi .webm .mts .m2ts .ts .mpg .mpeg .y4m "
    ".wav .aif .aiff .mp3 .m4a .aac .flac .ogg "
    ".png .jpg .jpeg .tif .tiff .exr .dpx .bmp .webp".split()
)


@dataclass
class MediaIndex:
    """Every media file under the search folders, by lower-case file name and by stem."""

    folders: tuple[Path, ...]
    by_name: dict[str, list[Path]] = field(default_factory=dict)
    by_stem: dict[str, list[Path]] = field(default_factory=dict)
    built: bool = False

    def build(self) -> None:
        if self.built:
            return
        for folder in self.folders:
            for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in sorted(filenames):
                    p = Path(dirpath) / name
                    if p.suffix.lower() not in MEDIA_SUFFIXES or name.startswith("."):
                        continue
                    self.by_name.setdefault(name.lower(), []).append(p)
                    self.by_stem.setdefault(p.stem.lower(), []).append(p)
        self.built = True

    def find(
        self,
        rules: Iterable[tuple[str, str]],
        where: Where,
        span: tuple[Fraction, Fraction] | None = None,
    ) -> Path:
        """The one file the first successful rule finds; ``rules`` are (kind, name) pairs.

        ``kind`` is ``name`` (a file name) or ``stem`` (a name without extension).
        ``span`` (source seconds, in the timecode the cut uses: first, end) chooses
        among several files of one name: the one whose timecode covers it.
        """
        self.build()
        tried: list[str] = []
        for kind, wanted in rules:
            if not wanted:
                continue
            table = self.by_name if kind == "name" else self.by_stem
            found = table.get(wanted.strip().lower(), [])
            tried.append(f"{'file name' if kind == 'name' else 'name'} {wanted.strip()!r}")
            if len(found) == 1:
                return found[0]
            if len(found) > 1 and span is not None:
                covering = [p for p in found if _covers(p, span, where)]
                if len(covering) == 1:
                    return covering[0]
            if len(found) > 1:
                raise CutError(
                    f"ambiguous media: {len(found)} files match {tried[-1]}: "
                    + ", ".join(str(p) for p in found)
                    + (
                        ""
                        if span is None
                        else f" (none alone covers source {float(span[0]):.3f}s-{float(span[1]):.3f}s)"
                    ),
                    where,
                    hint="keep one of them under media_search, or give the clip a path in the cut",
                )
        folders = ", ".join(str(f) for f in self.folders) or "(no media_search folders)"
        raise MissingInputError(
            "media not found: looked for " + (", ".join(tried) or "nothing (the clip names no media)"),
            where,
            hint=f"put the media under one of the media_search folders in farm.toml: {folders}",
        )


def _covers(path: Path, span: tuple[Fraction, Fraction], where: Where) -> bool:
    from farm.media.streams import media_extent

    start, duration = media_extent(path, where)
    return start <= span[0] and span[1] <= start + duration


def rules_for(url: str | None, clip_name: str, metadata: dict[str, object]) -> list[tuple[str, str]]:
    """The names to look for, in order, for one clip (see the module's docstring)."""
    import urllib.parse

    rules: list[tuple[str, str]] = []
    if url:
        raw = urllib.parse.unquote(urllib.parse.urlparse(url).path or url)
        base = raw.replace("\\", "/").rsplit("/", 1)[-1]
        if base:
            rules.append(("name", base))
    cmx = metadata.get("cmx_3600")
    comments: list[str] = []
    reel = None
    if cmx is not None and hasattr(cmx, "get"):  # a dict, or OTIO's AnyDictionary
        comments = [str(c) for c in cmx.get("comments", []) or []]
        reel = cmx.get("reel")
    for comment in comments:
        if comment.upper().startswith("SOURCE FILE:"):
            source_file = comment.split(":", 1)[1].strip()
            rules += [("name", source_file), ("stem", source_file)]
    if clip_name:
        rules += [("name", clip_name), ("stem", clip_name)]
    if isinstance(reel, str) and reel:
        rules.append(("stem", reel))
    return rules
