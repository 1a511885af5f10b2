"""farm: a distributed, GPU-accelerated render farm for variant cuts.

The public verbs are re-exported lazily so that ``import farm`` stays cheap and
never imports Ray, CuPy or PyNvVideoCodec.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["__version__", "load_project", "plan", "render"]

if TYPE_CHECKING:  # pragma: no cover
    from farm.api import plan, render
    from farm.edit.project import load_project


def __getattr__(name: str) -> Any:
    if name in ("plan", "render"):
        from farm import api

        return getattr(api, name)
    if name == "load_project":
        from farm.edit.project import load_project

        return load_project
    raise AttributeError(f"module 'farm' has no attribute {name!r}")
