"""``farm doctor``: what this machine (or cluster) offers farm, as text or JSON."""

from __future__ import annotations

from farm.backends.doctor import configure_parser, render_text, run

__all__ = ["configure_parser", "render_text", "run"]
