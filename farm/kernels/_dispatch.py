"""Which implementation an array asks for, decided without importing CuPy."""

from __future__ import annotations


def is_cupy(array: object) -> bool:
    """True for a CuPy array: the caller then runs the CUDA twin on its device."""
    return type(array).__module__.startswith("cupy")
