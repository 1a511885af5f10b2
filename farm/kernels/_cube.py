"""The :class:`Lut` value and the ``.cube`` file format.

A look is carried through farm as one immutable :class:`Lut`: a 3D table with
an optional per-channel 1D shaper in front of it. Its :meth:`Lut.digest` goes
into render cache keys, so it hashes exactly what decides the pixels.

``.cube`` dialects understood by :func:`read_cube`:

* Iridas/Adobe: ``LUT_3D_SIZE`` *or* ``LUT_1D_SIZE`` with ``DOMAIN_MIN`` /
  ``DOMAIN_MAX`` (three values each).
* DaVinci Resolve: ``LUT_1D_SIZE`` and ``LUT_3D_SIZE`` in one file, the 1D
  shaper's rows first, with ``LUT_1D_INPUT_RANGE`` / ``LUT_3D_INPUT_RANGE``
  (two values each, the same for all channels).

In every dialect the table rows vary red fastest, then green, then blue.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from farm.errors import MissingInputError, OutputError, ProjectError, Where
from farm.output.atomic import atomic_write

#: sizes accepted by the Adobe cube specification
_MAX_3D_SIZE = 256
_MAX_1D_SIZE = 65536


def _as_triple(value: object, name: str) -> np.ndarray:
    arr = np.array(value, dtype=np.float32).reshape(-1)
    if arr.size == 1:
        arr = np.repeat(arr, 3)
    if arr.shape != (3,):
        raise ValueError(f"{name} must have 3 values (r, g, b), got {arr.size}")
    arr.setflags(write=False)
    return arr


def _frozen(array: np.ndarray) -> np.ndarray:
    out = np.ascontiguousarray(array, dtype=np.float32)
    if out is array:
        out = out.copy()
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class Lut:
    """A colour transform: optional 1D shaper, then a 3D table.

    Applying it to RGB ``x`` (see :func:`farm.kernels.apply_lut`):

    1. if there is a shaper: ``x`` is clamped to ``[shaper_domain_min,
       shaper_domain_max]`` and each channel goes through its own 1D curve
       (linear interpolation over ``M`` evenly spaced samples);
    2. the result is clamped to ``[domain_min, domain_max]`` and looked up in
       ``table3d`` (tetrahedral or trilinear interpolation).

    Arrays are float32 and read-only, so a Lut can be shared between threads
    and used as a cache key through :meth:`digest`.
    """

    #: (N, N, N, 3) float32, indexed ``table3d[r, g, b]`` -> output (r, g, b)
    table3d: np.ndarray
    #: input value that maps to the first table node, per channel
    domain_min: np.ndarray = field(default_factory=lambda: _as_triple(0.0, "domain_min"))
    #: input value that maps to the last table node, per channel
    domain_max: np.ndarray = field(default_factory=lambda: _as_triple(1.0, "domain_max"))
    #: optional (M, 3) float32 per-channel curve applied before the 3D table
    shaper1d: np.ndarray | None = None
    #: domain of the shaper's input, per channel
    shaper_domain_min: np.ndarray = field(default_factory=lambda: _as_triple(0.0, "shaper_domain_min"))
    shaper_domain_max: np.ndarray = field(default_factory=lambda: _as_triple(1.0, "shaper_domain_max"))
    #: free text, written as ``TITLE``; not part of :meth:`digest`
    title: str = ""

    def __post_init__(self) -> None:
        table = _frozen(self.table3d)
        if table.ndim != 4 or table.shape[3] != 3 or len(set(table.shape[:3])) != 1:
            raise ValueError(f"table3d must have shape (N, N, N, 3), got {table.shape}")
        if not 2 <= table.shape[0] <= _MAX_3D_SIZE:
            raise ValueError(f"3D LUT size must be in [2, {_MAX_3D_SIZE}], got {table.shape[0]}")
        object.__setattr__(self, "table3d", table)
        for name in ("domain_min", "domain_max", "shaper_domain_min", "shaper_domain_max"):
            object.__setattr__(self, name, _as_triple(getattr(self, name), name))
        if np.any(self.domain_max <= self.domain_min):
            raise ValueError(f"domain_max {self.domain_max} must exceed domain_min {self.domain_min}")
        if self.shaper1d is not None:
            shaper = _frozen(self.shaper1d)
            if shaper.ndim != 2 or shaper.shape[1] != 3 or not 2 <= shaper.shape[0] <= _MAX_1D_SIZE:
                raise ValueError(
                    f"shaper1d must have shape (M, 3) with 2 <= M <= {_MAX_1D_SIZE}, got {shaper.shape}"
                )
            object.__setattr__(self, "shaper1d", shaper)
            if np.any(self.shaper_domain_max <= self.shaper_domain_min):
                raise ValueError(
                    f"shaper_domain_max {self.shaper_domain_max} must exceed "
                    f"shaper_domain_min {self.shaper_domain_min}"
                )

    @property
    def size(self) -> int:
        """Nodes per axis of the 3D table."""
        return int(self.table3d.shape[0])

    def digest(self) -> str:
        """SHA-256 (hex) of everything that decides the output pixels.

        Stable across processes and platforms (little-endian float32 bytes),
        independent of ``title``. Render cache keys use it.
        """
        h = hashlib.sha256(b"farm.Lut/1\0")
        h.update(np.array(self.table3d.shape, dtype="<i8").tobytes())
        h.update(self.table3d.astype("<f4").tobytes())
        h.update(self.domain_min.astype("<f4").tobytes())
        h.update(self.domain_max.astype("<f4").tobytes())
        if self.shaper1d is not None:
            h.update(b"shaper\0")
            h.update(np.array(self.shaper1d.shape, dtype="<i8").tobytes())
            h.update(self.shaper1d.astype("<f4").tobytes())
            h.update(self.shaper_domain_min.astype("<f4").tobytes())
            h.update(self.shaper_domain_max.astype("<f4").tobytes())
        return h.hexdigest()

    def to_cube_text(self) -> str:
        """The ``.cube`` text for this LUT (see :func:`write_cube`)."""
        return _format_cube(self)


def identity_lut(size: int = 33, domain_min: float = 0.0, domain_max: float = 1.0) -> Lut:
    """The N³ table that maps every input to itself over ``[domain_min, domain_max]``."""
    if not 2 <= size <= _MAX_3D_SIZE:
        raise ValueError(f"LUT size must be in [2, {_MAX_3D_SIZE}], got {size}")
    axis = np.linspace(domain_min, domain_max, size, dtype=np.float64)
    r, g, b = np.meshgrid(axis, axis, axis, indexing="ij")
    return Lut(
        np.stack([r, g, b], axis=-1),
        domain_min=np.full(3, domain_min),
        domain_max=np.full(3, domain_max),
        title="identity",
    )


def lut_grid(lut: Lut) -> np.ndarray:
    """The input colour at every node of ``lut``'s 3D table, (N, N, N, 3) float64."""
    t = np.linspace(0.0, 1.0, lut.size)
    lo = lut.domain_min.astype(np.float64)
    hi = lut.domain_max.astype(np.float64)
    axes = [lo[c] + t * (hi[c] - lo[c]) for c in range(3)]
    r, g, b = np.meshgrid(*axes, indexing="ij")
    return np.stack([r, g, b], axis=-1)


# --------------------------------------------------------------------- writing


def _scalar_range(lo: np.ndarray, hi: np.ndarray, what: str) -> str | None:
    """``"lo hi"`` for a Resolve INPUT_RANGE, None for the default [0, 1]."""
    if np.all(lo == 0.0) and np.all(hi == 1.0):
        return None
    if np.ptp(lo) != 0.0 or np.ptp(hi) != 0.0:
        raise ProjectError(
            f"the {what} domain differs per channel ({lo} .. {hi}), "
            "which the Resolve .cube dialect cannot express",
            hint="bake the LUT into a plain 3D table (farm.kernels.compose) before writing it",
        )
    return f"{_number(lo[0])} {_number(hi[0])}"


def _number(value: np.float32) -> str:
    # the shortest decimal that reads back as the same float32, never in
    # exponent notation (not every .cube reader accepts it)
    return np.format_float_positional(value, unique=True, trim="-")


def _rows(table: np.ndarray) -> str:
    """Table rows, exact: reading the file back gives the same float32 values (and digest)."""
    return "".join(f"{_number(r)} {_number(g)} {_number(b)}\n" for r, g, b in table.astype(np.float32))


def _format_cube(lut: Lut) -> str:
    title = lut.title.replace('"', "'").replace("\n", " ")
    lines = [f'TITLE "{title}"', "# written by farm.kernels"]
    n = lut.size
    if lut.shaper1d is None:
        lines.append(f"LUT_3D_SIZE {n}")
        if not (np.all(lut.domain_min == 0.0) and np.all(lut.domain_max == 1.0)):
            lines.append("DOMAIN_MIN " + " ".join(_number(v) for v in lut.domain_min))
            lines.append("DOMAIN_MAX " + " ".join(_number(v) for v in lut.domain_max))
    else:
        lines.append(f"LUT_1D_SIZE {lut.shaper1d.shape[0]}")
        shaper_range = _scalar_range(lut.shaper_domain_min, lut.shaper_domain_max, "shaper")
        if shaper_range is not None:
            lines.append(f"LUT_1D_INPUT_RANGE {shaper_range}")
        lines.append(f"LUT_3D_SIZE {n}")
        table_range = _scalar_range(lut.domain_min, lut.domain_max, "3D table")
        if table_range is not None:
            lines.append(f"LUT_3D_INPUT_RANGE {table_range}")
    header = "\n".join(lines) + "\n"
    body = ""
    if lut.shaper1d is not None:
        body += _rows(lut.shaper1d)
    # table3d is [r, g, b]; the file wants red fastest, i.e. C order over [b, g, r]
    body += _rows(lut.table3d.transpose(2, 1, 0, 3).reshape(-1, 3))
    return header + body


def write_cube(lut: Lut, path: str | os.PathLike[str]) -> None:
    """Write ``lut`` as a ``.cube`` file, atomically (temporary name, then rename).

    A plain 3D LUT is written in the Iridas/Adobe form (``DOMAIN_MIN/MAX`` only
    when not [0, 1]) that Resolve, FFmpeg's ``lut3d`` and OpenColorIO all read.
    A LUT with a shaper is written in the Resolve 1D + 3D form.
    """
    path = Path(path)
    text = _format_cube(lut)
    try:
        with atomic_write(path, make_parents=False) as tmp:
            tmp.write_text(text, encoding="ascii")
    except OSError as exc:
        raise OutputError(f"cannot write LUT: {exc.strerror or exc}", Where(path=str(path))) from exc


# --------------------------------------------------------------------- reading

_NUMBER_START = re.compile(r"[-+.0-9]")


def _bad(path: Path, lineno: int | None, message: str) -> ProjectError:
    where = f"line {lineno}: " if lineno is not None else ""
    return ProjectError(
        f"malformed .cube: {where}{message}",
        Where(path=str(path)),
        hint="check the file against the .cube format",
    )


def _floats(path: Path, lineno: int, tokens: list[str], count: int, keyword: str) -> list[float]:
    if len(tokens) != count:
        raise _bad(path, lineno, f"{keyword} needs {count} numbers, got {len(tokens)}")
    try:
        return [float(t) for t in tokens]
    except ValueError:
        raise _bad(
            path, lineno, f"{keyword} has a value that is not a number: {' '.join(tokens)!r}"
        ) from None


def _size(path: Path, lineno: int, tokens: list[str], keyword: str, limit: int) -> int:
    if len(tokens) != 1 or not tokens[0].isdigit():
        raise _bad(path, lineno, f"{keyword} needs one positive integer, got {' '.join(tokens)!r}")
    value = int(tokens[0])
    if not 2 <= value <= limit:
        raise _bad(path, lineno, f"{keyword} {value} is outside [2, {limit}]")
    return value


def read_cube(path: str | os.PathLike[str]) -> Lut:
    """Read any ``.cube`` (Iridas/Adobe or Resolve dialect) into a :class:`Lut`.

    A 1D-only file becomes a shaper followed by a 2³ identity table spanning
    the shaper's output range, which is exact under either interpolation.
    ``DOMAIN_MIN/MAX`` apply to the first stage of the file (the 1D table when
    there is one, else the 3D table); ``LUT_1D_INPUT_RANGE`` and
    ``LUT_3D_INPUT_RANGE`` apply to their own stage.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise MissingInputError("LUT file does not exist", Where(path=str(path))) from None
    except OSError as exc:
        raise MissingInputError(
            f"cannot read LUT file: {exc.strerror or exc}", Where(path=str(path))
        ) from exc

    title = ""
    size1d = size3d = None
    domain: dict[str, list[float]] = {}
    data_lines: list[tuple[int, str]] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if _NUMBER_START.match(line):
            data_lines.append((lineno, line))
            continue
        if data_lines:
            raise _bad(path, lineno, f"keyword after the table data: {line.split()[0]!r}")
        keyword, *tokens = line.split()
        keyword = keyword.upper()
        if keyword == "TITLE":
            title = line[len("TITLE") :].strip().strip('"')
        elif keyword == "LUT_1D_SIZE":
            size1d = _size(path, lineno, tokens, keyword, _MAX_1D_SIZE)
        elif keyword == "LUT_3D_SIZE":
            size3d = _size(path, lineno, tokens, keyword, _MAX_3D_SIZE)
        elif keyword in ("DOMAIN_MIN", "DOMAIN_MAX"):
            domain[keyword] = _floats(path, lineno, tokens, 3, keyword)
        elif keyword in ("LUT_1D_INPUT_RANGE", "LUT_3D_INPUT_RANGE"):
            domain[keyword] = _floats(path, lineno, tokens, 2, keyword)
        # other keywords (LUT_IN_VIDEO_RANGE, vendor extensions) do not change the maths

    if size1d is None and size3d is None:
        raise _bad(path, None, "neither LUT_1D_SIZE nor LUT_3D_SIZE is given")
    expected = (size1d or 0) + (size3d or 0) ** 3
    if len(data_lines) != expected:
        raise _bad(
            path,
            data_lines[-1][0] if data_lines else None,
            f"expected {expected} table rows, found {len(data_lines)}",
        )
    values = _parse_rows(path, data_lines)

    def stage_domain(range_key: str, first_stage: bool) -> tuple[list[float], list[float]]:
        if range_key in domain:
            start, stop = domain[range_key]
            return [start] * 3, [stop] * 3
        if first_stage:
            return domain.get("DOMAIN_MIN", [0.0] * 3), domain.get("DOMAIN_MAX", [1.0] * 3)
        return [0.0] * 3, [1.0] * 3

    shaper = None
    shaper_lo, shaper_hi = [0.0] * 3, [1.0] * 3
    if size1d is not None:
        shaper = values[:size1d]
        shaper_lo, shaper_hi = stage_domain("LUT_1D_INPUT_RANGE", first_stage=True)
    if size3d is not None:
        rows = values[(size1d or 0) :]
        table = rows.reshape(size3d, size3d, size3d, 3).transpose(2, 1, 0, 3)
        lo, hi = stage_domain("LUT_3D_INPUT_RANGE", first_stage=size1d is None)
    else:
        assert shaper is not None
        low, high = float(shaper.min()), float(shaper.max())
        if high <= low:
            high = low + 1.0
        lo, hi = [low] * 3, [high] * 3
        table = identity_lut(2, low, high).table3d
    try:
        return Lut(
            table,
            domain_min=np.array(lo),
            domain_max=np.array(hi),
            shaper1d=shaper,
            shaper_domain_min=np.array(shaper_lo),
            shaper_domain_max=np.array(shaper_hi),
            title=title,
        )
    except ValueError as exc:
        raise _bad(path, None, str(exc)) from None


def _parse_rows(path: Path, data_lines: list[tuple[int, str]]) -> np.ndarray:
    """Table rows as (K, 3) float32; on error, name the first bad line."""
    try:
        flat = np.array(" ".join(line for _, line in data_lines).split(), dtype=np.float64)
        if flat.size == 3 * len(data_lines) and np.all(np.isfinite(flat)):
            return flat.reshape(-1, 3).astype(np.float32)
    except ValueError:
        pass
    for lineno, line in data_lines:
        tokens = line.split()
        if len(tokens) != 3:
            raise _bad(path, lineno, f"a table row needs 3 numbers, got {len(tokens)}: {line!r}")
        try:
            numbers = [float(t) for t in tokens]
        except ValueError:
            raise _bad(path, lineno, f"a table row has a value that is not a number: {line!r}") from None
        if not all(np.isfinite(numbers)):
            raise _bad(path, lineno, f"a table row is not finite: {line!r}")
    raise _bad(path, None, "table rows could not be parsed")  # pragma: no cover - unreachable
