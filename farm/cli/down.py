"""``farm down``: stop the local Ray that ``farm up`` started."""

from __future__ import annotations

import argparse


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``farm down`` takes no arguments."""
    return parser


def run(args: argparse.Namespace) -> int:
    """Stop the recorded Ray and wait for it to go."""
    from farm.execute.local_ray import down

    record = down()
    if record is None:
        print("farm: no local Ray from farm up was running")
    else:
        print(f"farm: stopped the local Ray at {record['address']}")
    return 0
