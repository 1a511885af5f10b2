"""Where a baked look's files live: the ``.cube`` and, for a shaper LUT, its two halves for FFmpeg.

Kept apart from :mod:`farm.look.bake` so that a render worker finds the files
without importing the baking code.
"""

from __future__ import annotations

from pathlib import Path


def split_lut_paths(cube: str | Path) -> tuple[Path, Path]:
    """Where a shaper LUT's two halves live for FFmpeg (``lut1d`` then ``lut3d``): beside the .cube."""
    p = Path(cube)
    return p.with_suffix(".shaper.cube"), p.with_suffix(".table.cube")
