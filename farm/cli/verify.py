"""``farm render --verify``: each segment's verification in the report; ``--min-psnr`` fails a variant.

Workers record, for every segment they encode with ``FARM_VERIFY=1``, the worst
PSNR and SSIM of what they wrote against the frames they fed the encoder (see
:func:`farm.media.compare.verify_encoded`); it is kept in the segment's cache
metadata. A segment taken from the cache keeps the verification it was
rendered with, or has none (``unverified``).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from farm.output.report import RenderReport

#: exit status of a render whose verified quality is below ``--min-psnr``
EXIT_BELOW_MIN_PSNR = 1


def attach_verification(report: RenderReport, args: argparse.Namespace) -> int:
    """Fill each written variant's ``verify``; return 1 when one is below ``--min-psnr``, else 0."""
    from farm.api import default_paths
    from farm.backends.nvidia.pipeline import encode_family
    from farm.edit.project import load_project
    from farm.output.cache import Cache
    from farm.planning.planner import plan_project

    project = load_project(args.project)
    _, cache_dir = default_paths(project, None, args.cache)
    cache = Cache(cache_dir)
    plan = plan_project(project, args.variants, cache.root, family=encode_family(report.backend))
    status = 0
    for name, result in report.variants.items():
        vp = plan.variants.get(name)
        if result.error is not None or vp is None:
            continue
        segments: list[dict[str, Any]] = []
        unverified = 0
        for key in dict.fromkeys(vp.keys):  # a segment used twice is verified once
            meta = cache.segment_meta(key) or {}
            v = meta.get("verify")
            if not isinstance(v, dict):
                unverified += 1
                continue
            segments.append({"key": key[:16], "label": meta.get("label", ""), **v})
        summary: dict[str, Any] = {"segments": segments, "unverified": unverified}
        if segments:
            worst = min(segments, key=lambda s: s["psnr_min"])
            summary["psnr_min"] = worst["psnr_min"]
            summary["ssim_min"] = min(s["ssim_min"] for s in segments)
            mismatched = [s for s in segments if s["frames"] != s["fed"]]
            if mismatched:
                summary["frame_count_mismatch"] = [s["key"] for s in mismatched]
        result.verify = summary
        if unverified:
            result.warnings.append(
                f"{unverified} segment(s) not verified: taken from the cache rendered without --verify, "
                "or written by an encoder path that does not verify yet (NVENC)"
            )
        limit = args.min_psnr
        if limit is not None and segments and summary["psnr_min"] < limit:
            print(
                f"farm: error: variant {name!r}: verified PSNR {summary['psnr_min']:.2f} dB "
                f"(segment {worst['key']}, {worst['label']}, frame {worst['psnr_min_frame']}) "
                f"is below --min-psnr {limit}",
                file=sys.stderr,
            )
            status = EXIT_BELOW_MIN_PSNR
    return status
