"""``farm render``: render variants of a project to MP4 files, print what was done."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

from farm.cli.arguments import cache_location, positive_int
from farm.cli.table import print_table
from farm.errors import OutputError, Where
from farm.output.atomic import write_text_atomic


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the arguments of ``farm render`` to ``parser``."""
    parser.add_argument("project", type=Path, help="the project file (farm.toml)")
    parser.add_argument(
        "--variant",
        action="append",
        dest="variants",
        metavar="NAME",
        help="render only this variant (repeatable; default: all)",
    )
    parser.add_argument("--out", type=Path, help="output folder (default: renders/ beside the project file)")
    parser.add_argument(
        "--cache",
        type=cache_location,
        default=os.environ.get("FARM_CACHE"),
        metavar="DIR|URL",
        help="segment cache: a folder every node sees (default: .farm-cache/ beside the project file) "
        "or s3://BUCKET/PREFIX",
    )
    parser.add_argument(
        "--backend",
        choices=("auto", "cpu", "nvidia"),
        default="auto",
        help="auto picks nvidia when a usable GPU is found, else cpu, and says why",
    )
    parser.add_argument("--workers", type=positive_int, help="parallel segment workers (default: CPU cores)")
    parser.add_argument(
        "--address", help="join a running Ray cluster at this address (default: start a local Ray)"
    )
    parser.add_argument("--report", type=Path, metavar="FILE", help="write a JSON report of the render here")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.add_argument(
        "--metrics-port",
        type=positive_int,
        metavar="PORT",
        help="serve the driver's Prometheus metrics on --metrics-addr:PORT while rendering",
    )
    parser.add_argument(
        "--metrics-addr",
        default="127.0.0.1",
        metavar="HOST",
        help="the address --metrics-port binds (default 127.0.0.1; 0.0.0.0 for every interface)",
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="each worker decodes what it encoded, records PSNR/SSIM against the frames it fed the encoder",
    )
    parser.add_argument(
        "--min-psnr",
        type=float,
        metavar="DB",
        help="with --verify: fail (exit 1) a variant whose worst verified segment is below DB",
    )
    parser.add_argument(
        "--metrics-file",
        type=Path,
        metavar="FILE",
        help="write Prometheus metrics (text format) here when done",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Perform ``farm render``: errors on stderr, the table on stdout, the JSON report if asked."""
    from farm.api import render
    from farm.output.metrics import RenderMetrics

    if args.min_psnr is not None and not args.verify:
        print("farm render: error: --min-psnr needs --verify", file=sys.stderr)
        return 2
    meter = RenderMetrics()
    if args.metrics_port:
        meter.serve(args.metrics_port, args.metrics_addr)
    executor = None
    if args.verify:
        from farm.backends.select import select_backend
        from farm.execute.ray_executor import RayExecutor

        os.environ["FARM_VERIFY"] = "1"  # workers started from here inherit it; a running Ray gets task_env
        backend = select_backend(args.backend)[0]
        executor = RayExecutor(args.workers, args.address, task_env={"FARM_VERIFY": "1"}, backend=backend)
    with contextlib.ExitStack() as stack:
        silent = stack.enter_context(open(os.devnull, "w")) if args.quiet else None
        report = render(
            args.project,
            variants=args.variants,
            out=args.out,
            cache=args.cache,
            backend=args.backend,
            workers=args.workers,
            address=args.address,
            progress_stream=silent,
            metrics=meter,
            executor=executor,
        )
    status = report.exit_code
    if args.verify:
        from farm.cli.verify import attach_verification

        status = max(status, attach_verification(report, args))
    if args.metrics_file:
        try:
            meter.write(args.metrics_file)
        except OSError as exc:
            raise OutputError(
                f"cannot write metrics ({exc.strerror})", Where(path=str(args.metrics_file))
            ) from None
    for v in report.variants.values():
        if v.error is not None:
            print(f"farm: error: {v.error}", file=sys.stderr)
    print_table(report)
    if args.report:
        try:
            write_text_atomic(args.report, json.dumps(report.to_json(), indent=2) + "\n")
        except OSError as exc:
            raise OutputError(
                f"cannot write the report ({exc.strerror})", Where(path=str(args.report))
            ) from None
    return status
