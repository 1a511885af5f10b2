"""farm.toml: the contract's keys, defaults and overrides.

Errors name the key, the value and what is allowed.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from farm.edit.project import load_project
from farm.errors import MissingInputError, ProjectError

BASE = """
[output]
width = 1920
height = 1080
fps = "30000/1001"
codec = "hevc"
quality = 23
preset = "fast"
fit = "fill"

[look]
lut = "looks/show.cube"

[variants.official]
timeline = "cuts/official.otio"

[variants.social]
timeline = "cuts/social.otio"
[variants.social.output]
width = 1080
height = 1920
fps = "25"
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "farm.toml"
    p.write_text(text)
    return p


def test_values_defaults_overrides_and_paths(tmp_path: Path) -> None:
    project = load_project(write(tmp_path, BASE))
    off, social = project.variants["official"], project.variants["social"]
    assert off.output.fps == Fraction(30000, 1001) and off.output.codec == "hevc" and off.output.fit == "fill"
    assert (social.output.width, social.output.height, social.output.fps) == (1080, 1920, Fraction(25))
    assert social.output.quality == 23 and social.output.preset == "fast"  # inherited key by key
    assert off.timeline == (tmp_path / "cuts" / "official.otio").resolve()
    assert off.look.lut == (tmp_path / "looks" / "show.cube").resolve()
    minimal = load_project(write(tmp_path, '[variants.a]\ntimeline = "a.otio"\n'))
    out = minimal.variants["a"].output
    assert (out.width, out.height, out.fps, out.codec, out.quality, out.preset, out.fit) == (
        1920,
        1080,
        Fraction(24),
        "h264",
        20,
        "veryfast",
        "fit",
    )


@pytest.mark.parametrize(
    "snippet,words",
    [
        ("[output]\nwidht = 1920\n", ["unknown key output.widht", "allowed keys", "width"]),
        ("[output]\nwidth = 1921\n", ["output.width = 1921", "even integer"]),
        ('[output]\nfps = "fast"\n', ["output.fps = 'fast'", "30000/1001"]),
        ("[output]\nfps = 23.976\n", ["output.fps = 23.976", "rational"]),
        ('[output]\ncodec = "av1"\n', ["output.codec = 'av1'", "h264 | hevc"]),
        ("[output]\nquality = 80\n", ["output.quality = 80", "0 to 51"]),
        ('[output]\npreset = "turbo"\n', ["output.preset = 'turbo'", "veryfast"]),
        ('[output]\nfit = "zoom"\n', ["output.fit = 'zoom'", "fit | fill | stretch"]),
        ('[look]\ncolour = "warm"\n', ["unknown key look.colour"]),
        ('[variants.a.output]\nfit = "crop"\n', ["variants.a.output.fit = 'crop'"]),
        ("[frobnicate]\nx = 1\n", ["unknown key frobnicate"]),
    ],
)
def test_bad_keys_and_values_are_named(tmp_path: Path, snippet: str, words: list[str]) -> None:
    text = (
        snippet + '\n[variants.a]\ntimeline = "a.otio"\n'
        if "[variants.a" not in snippet
        else ('[variants.a]\ntimeline = "a.otio"\n' + snippet)
    )
    with pytest.raises(ProjectError) as info:
        load_project(write(tmp_path, text))
    message = str(info.value)
    assert str(tmp_path / "farm.toml") in message
    for w in words:
        assert w in message
    assert info.value.exit_code == 65


def test_structural_problems(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="no variants"):
        load_project(write(tmp_path, "[output]\nwidth = 640\n"))
    with pytest.raises(ProjectError, match="has no timeline"):
        load_project(write(tmp_path, "[variants.a]\n"))
    with pytest.raises(ProjectError, match="not valid TOML"):
        load_project(write(tmp_path, "[output\n"))
    with pytest.raises(MissingInputError):
        load_project(tmp_path / "absent.toml")
