"""``farm up``: start one local Ray that later renders join, so no render pays Ray's start-up."""

from __future__ import annotations

import argparse
import sys
import time

from farm.cli.arguments import positive_int


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the arguments of ``farm up`` to ``parser``."""
    parser.add_argument("--workers", type=positive_int, help="CPU workers it offers (default: CPU cores)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Start the local Ray (or find the running one), start its warm workers, and say where it is."""
    from farm.execute.local_ray import state_path, up
    from farm.execute.warm_workers import prewarm

    t0 = time.perf_counter()
    record, started = up(args.workers)
    what = f"started in {time.perf_counter() - t0:.1f} s" if started else "already running"
    t1 = time.perf_counter()
    try:
        ready = f"{prewarm(record['address'], int(record['workers']))} warm"
    except Exception as exc:  # the head runs: renders still join it, and start workers themselves
        first = (str(exc).strip().splitlines() or [""])[0]
        why = f"{type(exc).__name__}: {first}"
        print(f"farm: warning: the warm workers did not start ({why})", file=sys.stderr)
        ready = "none warm"
    print(
        f"farm: local Ray {what} at {record['address']} with {record['workers']} workers "
        f"({ready}, {time.perf_counter() - t1:.1f} s; process {record['pid']}, recorded in "
        f"{state_path()}); `farm render` joins it, `farm down` stops it"
    )
    return 0
