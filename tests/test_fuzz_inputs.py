"""Fuzzing what users hand farm: mutated .otio JSON, mutated farm.toml, mutated media bytes.

Every case must end, within a time bound, in a clean outcome: a plan, or a
:class:`farm.errors.FarmError` with exit 2/65/66/69/73 — never another exception,
never a crash.  CI runs a small, derandomised share (``FARM_FUZZ_EXAMPLES`` sets
how many examples each test draws; default 100); a long local run:
``FARM_FUZZ_EXAMPLES=2000 python3 -m pytest -q tests/test_fuzz_inputs.py``.
Cut files are read through farm's own subprocess reader, so a crash in OTIO
shows as a failure here instead of taking pytest down.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import pytest
from coded import SOURCES, Shot, expected_frames, write_cut
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from media_check import frame_codes

import farm
from farm.edit.project import parse_project
from farm.errors import FarmError

EXAMPLES = int(os.environ.get("FARM_FUZZ_EXAMPLES", "100"))
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
CLEAN_EXITS = {2, 65, 66, 69, 73}
#: seconds a case may take: reading a cut or a project in-process, and rendering a tiny variant
CASE_BOUND_MS = 5000
RENDER_BOUND = 300


def _clean(exc: FarmError) -> None:
    assert exc.exit_code in CLEAN_EXITS, exc
    assert "Traceback" not in str(exc)


# ------------------------------------------------------------------ .otio JSON

ODD_NUMBERS = st.sampled_from(
    [0, -1, -24.0, 1e-9, 1e308, -1e308, math.inf, -math.inf, math.nan, 2**63, 0.5, 29.97, "24", None, True]
)
ODD_STRINGS = st.sampled_from(
    ["", "\u0000", "a\u0000b", "ünïcødé", "../../etc/passwd", "file://x/y", "x" * 300]
)
SCHEMAS = st.sampled_from(
    ["Timeline.1", "Stack.1", "Track.1", "Clip.2", "Gap.1", "Transition.1", "Nope.9", ""]
)


def _paths(value: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [here]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*here, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*here, i))
    return out


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        value = value[p]
    return value


@st.composite
def mutated_cut(draw: st.DrawFn, base: dict[str, Any]) -> str:
    data = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(data) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _get(data, path[:-1]), path[-1]
        old = parent[key]
        action = draw(st.sampled_from(["number", "string", "delete", "schema", "deep", "null", "type"]))
        if action == "number" and isinstance(old, (int, float)):
            parent[key] = draw(ODD_NUMBERS)
        elif action == "string" and isinstance(old, str):
            parent[key] = draw(ODD_STRINGS)
        elif action == "delete" and isinstance(parent, dict):
            del parent[key]
        elif action == "schema" and isinstance(old, dict) and "OTIO_SCHEMA" in old:
            old["OTIO_SCHEMA"] = draw(SCHEMAS)
        elif action == "deep":
            depth = draw(st.sampled_from([50, 300, 5000]))
            parent[key] = (
                json.loads("[" * min(depth, 900) + "]" * min(depth, 900)) if depth < 900 else "@DEEP@"
            )
        elif action == "null":
            parent[key] = None
        else:
            parent[key] = draw(st.sampled_from([[], {}, 7, "x"]))
    text = json.dumps(data, allow_nan=True)
    return text.replace('"@DEEP@"', "[" * 5000 + "]" * 5000)


@pytest.fixture(scope="module")
def cut_base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("fuzz-cut")
    path = write_cut(root / "base.otio", [Shot("s24", 0, 12, name="one"), Shot("s25", 5, 10, name="two")])
    return root, json.loads(path.read_text())


def test_fuzz_otio(cut_base: tuple[Path, dict[str, Any]]) -> None:
    from farm.edit.read_cut import load_cut_isolated

    root, base = cut_base

    # each case starts a reader process (~0.2 s, more on a busy machine): a fifth of the examples
    @settings(FUZZ, max_examples=max(10, EXAMPLES // 5), deadline=2 * CASE_BOUND_MS)
    @given(mutated_cut(base))
    def case(text: str) -> None:
        path = root / "case.otio"
        path.write_text(text)
        try:
            load_cut_isolated("v", path, root)
        except FarmError as exc:
            _clean(exc)

    case()


# ------------------------------------------------------------------ farm.toml

TOML_VALUES = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.booleans(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
BASE_TOML: dict[str, Any] = {
    "output": {"width": 320, "height": 180, "fps": "24", "codec": "h264", "quality": 20},
    "look": {"method": "mkl", "strength": 1.0},
    "render": {"segment_seconds": 2},
    "media_roots": ["media"],
    "variants": {"a": {"timeline": "cuts/a.otio", "output": {"fit": "fill"}}},
}


@st.composite
def mutated_project(draw: st.DrawFn) -> dict[str, Any]:
    data = json.loads(json.dumps(BASE_TOML))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from([p for p in _paths(data) if p]))
        parent, key = _get(data, path[:-1]), path[-1]
        if draw(st.booleans()) and isinstance(parent, dict):
            new_key = draw(st.sampled_from([key, "\u0000", "a b", "x" * 80, "-rf", "é", "extra"]))
            value = parent.pop(key)
            parent[new_key] = value
        else:
            parent[key] = draw(TOML_VALUES)
    return data


@settings(FUZZ, deadline=CASE_BOUND_MS)
@given(mutated_project())
def test_fuzz_project(raw: dict[str, Any]) -> None:
    try:
        parse_project(raw, Path("/tmp/fuzz/farm.toml"))
    except FarmError as exc:
        _clean(exc)


@settings(FUZZ, max_examples=max(10, EXAMPLES // 2), deadline=CASE_BOUND_MS)
@given(depth=st.integers(1, 5000), opener=st.sampled_from(["[", "{a=", "[[", "x = ["]))
def test_fuzz_project_nesting(depth: int, opener: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    from farm.edit.project import load_project

    closer = {"[": "]", "{a=": "}", "[[": "]]", "x = [": "]"}[opener]
    path = tmp_path_factory.mktemp("toml") / "farm.toml"
    path.write_text("x = " + opener * depth + "1" + closer * depth + "\n")
    try:
        load_project(path)
    except FarmError as exc:
        _clean(exc)


# ------------------------------------------------------------------ media bytes


def _moved_moov(data: bytes) -> bytes:
    """The same atoms with ``moov`` moved to the end (or the start): a valid-looking reshuffle."""
    atoms, i = [], 0
    while i + 8 <= len(data):
        size = int.from_bytes(data[i : i + 4], "big")
        if size < 8 or i + size > len(data):
            break
        atoms.append(data[i : i + size])
        i += size
    moov = [a for a in atoms if a[4:8] == b"moov"]
    rest = [a for a in atoms if a[4:8] != b"moov"]
    return b"".join(rest + moov) if atoms and atoms[-1][4:8] != b"moov" else b"".join(moov + rest)


@st.composite
def mutated_media(draw: st.DrawFn, data: bytes) -> bytes:
    kind = draw(st.sampled_from(["flip", "truncate", "zero", "moov"]))
    buf = bytearray(data)
    if kind == "flip":
        for _ in range(draw(st.integers(1, 32))):
            i = draw(st.integers(0, len(buf) - 1))
            buf[i] ^= 1 << draw(st.integers(0, 7))
    elif kind == "truncate":
        buf = buf[: draw(st.integers(0, len(buf) - 1))]
    elif kind == "zero":
        start = draw(st.integers(0, len(buf) - 1))
        size = draw(st.sampled_from([16, 512, 4096, 65536]))
        buf[start : start + size] = bytes(len(buf[start : start + size]))
    else:
        buf = bytearray(_moved_moov(bytes(buf)))
    return bytes(buf)


def test_fuzz_media_probe(media_dir: Path, tmp_path: Path) -> None:
    """Probing mutated media, in a child process per batch (FFmpeg is C): clean or correct."""
    data = (media_dir / SOURCES["s24"].file).read_bytes()
    cases: list[bytes] = []

    @settings(FUZZ, max_examples=max(10, EXAMPLES))
    @given(mutated_media(data))
    def collect(blob: bytes) -> None:
        cases.append(blob)

    collect()
    for i, blob in enumerate(cases):
        (tmp_path / f"m{i}.mp4").write_bytes(blob)
    script = (
        "import sys; from pathlib import Path\n"
        "from farm.media.probe import probe\nfrom farm.errors import FarmError\n"
        "for p in sys.argv[1:]:\n"
        "    try:\n        info = probe(Path(p))\n        print(p, 0, info.frames)\n"
        "    except FarmError as e:\n        print(p, e.exit_code, '-')\n"
    )
    repo = str(Path(__file__).resolve().parents[1])
    proc = subprocess.run(
        [sys.executable, "-c", script, *(str(tmp_path / f"m{i}.mp4") for i in range(len(cases)))],
        capture_output=True,
        text=True,
        timeout=30 + 5 * len(cases),
        env={**os.environ, "PYTHONPATH": repo},
    )
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    codes = [int(line.split()[1]) for line in proc.stdout.splitlines()]
    assert len(codes) == len(cases)
    assert set(codes) <= {0} | CLEAN_EXITS


@pytest.mark.usefixtures("ray_session")
@pytest.mark.parametrize("kind", ["flip", "zero", "moov"])
def test_fuzz_media_render(kind: str, project_dir: Path, tmp_path: Path) -> None:
    """A few full renders of mutated sources (expensive): exit 0 with a fully decoding output, or clean."""
    import random

    from coded import write_project

    rng = random.Random(kind)
    data = bytearray((project_dir / SOURCES["s25"].file).read_bytes())
    if kind == "flip":
        for _ in range(16):
            data[rng.randrange(len(data) // 4, len(data))] ^= 0x55
    elif kind == "zero":
        start = rng.randrange(len(data) // 3, len(data) - 4096)
        data[start : start + 4096] = bytes(4096)
    else:  # a valid file with its moov atom moved to the end (remuxed, offsets rewritten)
        src = project_dir / SOURCES["s25"].file
        moved = tmp_path / "moved.mp4"
        with av.open(str(src)) as i, av.open(str(moved), "w") as o:  # MP4's muxer writes moov last
            streams = {s.index: o.add_stream_from_template(s) for s in i.streams}
            for packet in i.demux():
                if packet.dts is not None:
                    packet.stream = streams[packet.stream_index]
                    o.mux(packet)
        data = bytearray(moved.read_bytes())
        assert data.index(b"moov") > data.index(b"mdat")
    (project_dir / "mut.mp4").write_bytes(bytes(data))
    project = write_project(project_dir, {"m": [Shot("mut.mp4", 0, 40, rate=SOURCES["s25"].rate)]})
    out = tmp_path / "out"
    with ThreadPoolExecutor(1) as pool:  # the time bound: a hung render fails the test
        report = pool.submit(farm.render, project, out=out, workers=2).result(timeout=RENDER_BOUND)
    v = report.variants["m"]
    print(kind, "->", report.exit_code, v.error)
    if kind == "moov":
        assert v.error is None, v.error
        assert frame_codes(out / "m.mp4") == expected_frames([Shot("s25", 0, 40)], Fraction(24))
    elif v.error is None:
        with av.open(str(out / "m.mp4")) as c:
            assert sum(1 for _ in c.decode(video=0)) == 39  # ceil(40 / 25 * 24): every frame decodes
    else:
        _clean(v.error)
        assert not (out / "m.mp4").exists()
