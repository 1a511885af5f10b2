"""``farm plan``: each variant's frames and segments, what the variants share, and what the cache holds.

Nothing is rendered. Against the cache (``--cache``, a folder or ``s3://``),
each variant says how many of its segments and frames are already cached and
how many a render would encode now: what a new variant costs before rendering.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from farm.cli.arguments import cache_location
from farm.cli.table import print_plan_table
from farm.output.cache import Cache
from farm.planning.planner import RenderPlan


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the arguments of ``farm plan`` to ``parser``."""
    parser.add_argument("project", type=Path)
    parser.add_argument("--variant", action="append", dest="variants", metavar="NAME")
    parser.add_argument(
        "--cache",
        type=cache_location,
        default=os.environ.get("FARM_CACHE"),
        metavar="DIR|URL",
        help="the cache (default: .farm-cache/)",
    )
    parser.add_argument(
        "--backend",
        choices=("auto", "cpu", "nvidia"),
        default="auto",
        help="the backend a render would use (its encoder family is part of every key)",
    )
    parser.add_argument(
        "--address",
        help="the Ray cluster a render would join: its nodes decide the backend (and so the keys)",
    )
    parser.add_argument("--json", action="store_true", help="print the plan summary as JSON")
    return parser


def cache_status(the_plan: RenderPlan, cache: Cache) -> dict[str, Any]:
    """Per variant, its distinct segments and frames already cached and still to encode; and in all.

    ``to_encode`` counts each missing key once, however many variants share it.
    """
    cached = {key for key in the_plan.jobs if cache.segment_meta(key) is not None}
    variants: dict[str, Any] = {}
    for name, vp in the_plan.variants.items():
        keys = set(vp.keys)
        have = keys & cached
        variants[name] = {
            "cached_segments": len(have),
            "cached_frames": sum(the_plan.jobs[k].count for k in have),
            "encode_segments": len(keys - have),
            "encode_frames": sum(the_plan.jobs[k].count for k in keys - have),
        }
    missing = set(the_plan.jobs) - cached
    return {
        "cache": cache.location,
        "variants": variants,
        "to_encode": {
            "segments": len(missing),
            "frames": sum(the_plan.jobs[k].count for k in missing),
        },
    }


def _cluster_family(requested: str, address: str) -> str:
    """The encoder family a render joining ``address`` would use (the cluster's nodes decide)."""
    from farm.backends.select import select_for_cluster
    from farm.errors import BackendUnavailableError
    from farm.execute.cluster import cluster_info

    info = cluster_info(address)
    if not info.get("connected"):
        raise BackendUnavailableError(f"cannot ask the Ray cluster at {address}: {info.get('reason')}")
    return select_for_cluster(requested, info["cluster_resources"], f"the cluster at {address}")[1]


def run(args: argparse.Namespace) -> int:
    """Perform ``farm plan``: the summary as a table or JSON; a variant that cannot be planned is an error."""
    from farm.api import open_cache, plan
    from farm.backends.nvidia.pipeline import encode_family  # imports no GPU library
    from farm.backends.select import select_backend
    from farm.edit.project import load_project

    project = load_project(args.project)
    if args.address:
        family = _cluster_family(args.backend, args.address)
    else:
        family = encode_family(select_backend(args.backend)[0])
    cache = open_cache(project, args.cache)
    the_plan = plan(project, args.variants, args.cache, family=family)
    summary = the_plan.summary()
    status = cache_status(the_plan, cache)
    summary["encode_family"] = family
    summary["cache"] = status["cache"]
    summary["to_encode"] = status["to_encode"]
    for name, counts in status["variants"].items():
        summary["variants"][name].update(counts)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_plan_table(summary)
    for err in the_plan.failed.values():
        print(f"farm: error: {err}", file=sys.stderr)
    return max((e.exit_code for e in the_plan.failed.values()), default=0)
