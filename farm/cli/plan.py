"""``farm plan``: each variant's frames and segments, and what the variants share (nothing rendered)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from farm.cli.arguments import cache_location
from farm.cli.table import print_plan_table

HELP = "show each variant's frames and segments, and what they share"


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the arguments of ``farm plan`` to ``parser``."""
    parser.add_argument("project", type=Path)
    parser.add_argument("--variant", action="append", dest="variants", metavar="NAME")
    parser.add_argument(
        "--cache", type=cache_location, metavar="DIR|URL", help="the cache (default: .farm-cache/)"
    )
    parser.add_argument("--json", action="store_true", help="print the plan summary as JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    """Perform ``farm plan``: the summary as a table or JSON; a variant that cannot be planned is an error."""
    from farm.api import plan

    the_plan = plan(args.project, args.variants, args.cache)
    summary = the_plan.summary()
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_plan_table(summary)
    for err in the_plan.failed.values():
        print(f"farm: error: {err}", file=sys.stderr)
    return max((e.exit_code for e in the_plan.failed.values()), default=0)
