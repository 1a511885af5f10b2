"""Argument types shared by the commands: each rejects a bad value with what is allowed (exit 2)."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def positive_int(text: str) -> int:
    """A whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return value


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """A parser of whole numbers in ``[low, high]``."""

    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be in [{low}, {high}], got {text}")
        return value

    return parse


def strength(text: str) -> float:
    """A look strength: 0 keeps the source, 1 matches fully."""
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"strength must be in [0, 1], got {text}")
    return value


def cache_location(text: str) -> str:
    """A ``--cache`` value: a folder, ``file://`` or ``s3://`` URL; another URL scheme is a usage error."""
    from farm.output.store import CacheLocationError, parse_location

    try:
        parse_location(text)
    except CacheLocationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text
