"""The ``farm`` command line: render, plan, demo, look.

Every :class:`farm.errors.FarmError` becomes one message and its exit code
(65 bad cut or media, 66 missing input, 69 backend unavailable, 70 internal,
73 cannot write output); argparse's usage errors exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from farm import __version__
from farm.errors import FarmError, OutputError, Where


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="farm", description="Render every variant cut of a film, fast.")
    parser.add_argument("--version", action="version", version=f"farm {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("render", help="render variants of a project to MP4 files")
    r.add_argument("project", type=Path, help="the project file (farm.toml)")
    r.add_argument(
        "--variant",
        action="append",
        dest="variants",
        metavar="NAME",
        help="render only this variant (repeatable; default: all)",
    )
    r.add_argument("--out", type=Path, help="output folder (default: renders/ beside the project file)")
    r.add_argument(
        "--cache", type=Path, help="segment cache folder (default: .farm-cache/ beside the project file)"
    )
    r.add_argument(
        "--backend",
        choices=("auto", "cpu", "nvidia"),
        default="auto",
        help="auto picks nvidia when a usable GPU is found, else cpu, and says why",
    )
    r.add_argument("--workers", type=_positive_int, help="parallel segment workers (default: CPU cores)")
    r.add_argument(
        "--address", help="join a running Ray cluster at this address (default: start a local Ray)"
    )
    r.add_argument("--report", type=Path, metavar="FILE", help="write a JSON report of the render here")
    r.add_argument("--quiet", action="store_true", help="no progress output")
    r.add_argument(
        "--metrics-port",
        type=_positive_int,
        metavar="PORT",
        help="serve Prometheus metrics on 127.0.0.1:PORT while rendering",
    )
    r.add_argument(
        "--metrics-file",
        type=Path,
        metavar="FILE",
        help="write Prometheus metrics (text format) here when done",
    )

    p = sub.add_parser("plan", help="show each variant's frames and segments, and what they share")
    p.add_argument("project", type=Path)
    p.add_argument("--variant", action="append", dest="variants", metavar="NAME")
    p.add_argument("--cache", type=Path, help="where probes are cached (default: .farm-cache/)")
    p.add_argument("--json", action="store_true", help="print the plan summary as JSON")

    d = sub.add_parser("demo", help='write the "In a City" demo project and render it')
    d.add_argument(
        "--out", type=Path, default=Path("farm-demo"), help="folder for the demo (default: ./farm-demo)"
    )
    d.add_argument("--workers", type=_positive_int)
    d.add_argument("--no-render", action="store_true", help="only write the project and its media")

    from farm.cli import doctor
    from farm.look import analyse as look

    dr = sub.add_parser("doctor", help="GPUs, NVDEC/NVENC, backend choice and Ray resources of this machine")
    doctor.configure_parser(dr)

    lk = sub.add_parser("look", help="match a clip's colour to a reference and write the look as a .cube")
    look.configure_parser(lk)
    return parser


def _write_json_atomic(path: Path, data: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"cannot write the report ({exc.strerror})", Where(path=str(path))) from None


def print_table(report, stream=sys.stdout) -> None:  # type: ignore[no-untyped-def]
    rows = [("variant", "frames", "rendered", "reused", "seconds", "output")]
    for name, v in report.variants.items():
        out = v.output or f"FAILED (exit {v.error.exit_code})" if v.error else (v.output or "")
        rows.append(
            (name, str(v.frames), str(v.segments_rendered), str(v.segments_reused), f"{v.seconds:.1f}", out)
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        stream.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() + "\n")
    stream.write(f"backend: {report.backend} ({report.backend_reason}); {report.seconds:.1f}s in all\n")


def cmd_render(args: argparse.Namespace) -> int:
    from farm.api import render
    from farm.output.metrics import RenderMetrics

    meter = RenderMetrics()
    if args.metrics_port:
        meter.serve(args.metrics_port)
    report = render(
        args.project,
        variants=args.variants,
        out=args.out,
        cache=args.cache,
        backend=args.backend,
        workers=args.workers,
        address=args.address,
        progress_stream=open(os.devnull, "w") if args.quiet else None,  # noqa: SIM115
        metrics=meter,
    )
    if args.metrics_file:
        try:
            meter.write(args.metrics_file)
        except OSError as exc:
            raise OutputError(
                f"cannot write metrics ({exc.strerror})", Where(path=str(args.metrics_file))
            ) from None
    for name, v in report.variants.items():
        if v.error is not None:
            print(f"farm: error: {v.error}", file=sys.stderr)
    print_table(report)
    if args.report:
        _write_json_atomic(args.report, report.to_json())
    return report.exit_code


def cmd_plan(args: argparse.Namespace) -> int:
    from farm.api import plan

    the_plan = plan(args.project, args.variants, args.cache)
    summary = the_plan.summary()
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        rows = [("variant", "frames", "seconds", "segments", "shared")]
        for name, v in summary["variants"].items():
            rows.append(
                (name, str(v["frames"]), f"{v['duration_seconds']:.2f}", str(v["segments"]), str(v["shared"]))
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for row in rows:
            print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        print(f"unique segments: {summary['unique_segments']} ({summary['unique_frames']} frames to render)")
    for name, err in the_plan.failed.items():
        print(f"farm: error: {err}", file=sys.stderr)
    return max((e.exit_code for e in the_plan.failed.values()), default=0)


def cmd_demo(args: argparse.Namespace) -> int:
    from farm.cli.demo import run_demo

    return run_demo(args.out, workers=args.workers, render_it=not args.no_render)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "render":
            return cmd_render(args)
        if args.command == "plan":
            return cmd_plan(args)
        if args.command == "demo":
            return cmd_demo(args)
        if args.command == "doctor":
            from farm.cli import doctor

            return doctor.run(args)
        if args.command == "look":
            from farm.look import analyse as look

            return look.run(args)
        parser.error(f"unknown command {args.command}")
    except FarmError as exc:
        print(f"farm: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(
            "farm: interrupted; finished segments stay in the cache and are reused next time", file=sys.stderr
        )
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
