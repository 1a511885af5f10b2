"""``farm check``: render (through the cache) or take existing renders, compare each variant with its golden.

Exit codes: 0 every check holds (or goldens were written with ``--update``),
1 a regression (a check failed, or a variant has no golden), 2 usage, and a
render's own codes (65/66/69/73) when the render itself failed: a broken
input is not a regression.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

from farm.errors import FarmError, MissingInputError, OutputError, Where
from farm.output.junit import Check, VariantChecks

EXIT_REGRESSION = 1
#: facts that must be equal; duration and A/V offset are compared within half a frame / 1 ms
EXACT_FACTS = (
    "frames",
    "rate",
    "width",
    "height",
    "pix_fmt",
    "codec",
    "color_primaries",
    "color_trc",
    "colorspace",
    "color_range",
    "audio_rate",
    "audio_channels",
    "audio_samples",
)
#: the audio's RMS sample difference that still holds (samples are -1..1)
AUDIO_RMS_MAX = 0.01
DEFAULT_MIN = {"psnr": 40.0, "ssim": 0.98, "xpsnr": 40.0, "vmaf": 90.0}


def _metric_list(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in DEFAULT_MIN]
    if bad or not names:
        raise argparse.ArgumentTypeError(
            f"unknown metric {', '.join(bad) or text!r} (psnr, ssim, xpsnr, vmaf)"
        )
    return names


def _thresholds(text: str) -> dict[str, float]:
    out = {}
    for item in text.split(","):
        name, _, value = item.partition("=")
        try:
            if name.strip() not in DEFAULT_MIN:
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected METRIC=VALUE[,...] (psnr, ssim, xpsnr, vmaf), got {item!r}"
            ) from None
    return out


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("project", type=Path, help="the project file (farm.toml)")
    parser.add_argument(
        "--golden", type=Path, required=True, metavar="DIR", help="the goldens (DIR/<family>/)"
    )
    parser.add_argument(
        "--variant",
        action="append",
        dest="variants",
        metavar="NAME",
        help="check only this variant (repeatable)",
    )
    parser.add_argument(
        "--renders", type=Path, metavar="DIR", help="check the renders in DIR instead of rendering"
    )
    parser.add_argument(
        "--out", type=Path, help="where to render (default: renders/ beside the project file)"
    )
    parser.add_argument(
        "--cache", type=Path, help="segment cache (default: .farm-cache/ beside the project file)"
    )
    parser.add_argument("--backend", choices=("auto", "cpu", "nvidia"), default="auto")
    parser.add_argument("--workers", type=int, help="parallel segment workers")
    parser.add_argument(
        "--metric", type=_metric_list, default=["psnr", "ssim"], help="picture metrics (default psnr,ssim)"
    )
    parser.add_argument(
        "--min",
        type=_thresholds,
        default={},
        metavar="M=V,...",
        help="worst-frame thresholds (default psnr=40,ssim=0.98)",
    )
    parser.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML here")
    parser.add_argument(
        "--artifacts", type=Path, metavar="DIR", help="write PNG strips of failing variants here"
    )
    parser.add_argument(
        "--against",
        choices=("cpu", "nvenc", "nvdec+cpu"),
        help="compare with another encoder family's goldens (a GPU render against the CPU's)",
    )
    parser.add_argument(
        "--update", action="store_true", help="write or refresh the goldens from these renders"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    from farm.backends.nvidia.pipeline import encode_family
    from farm.backends.select import select_backend
    from farm.edit.project import load_project
    from farm.output.goldens import Goldens

    if args.update and args.against:
        print(
            "farm check: error: --update writes this backend's own goldens; drop --against", file=sys.stderr
        )
        return 2
    project = load_project(args.project)
    names = list(args.variants or project.variants)
    unknown = [n for n in names if n not in project.variants]
    if unknown:
        print(f"farm check: error: no variant {', '.join(unknown)} in {args.project}", file=sys.stderr)
        return 2
    render_errors: dict[str, FarmError] = {}
    if args.renders is not None:
        backend = select_backend(args.backend)[0]
        renders = {n: args.renders / f"{n}.mp4" for n in names}
    else:
        from farm.api import render

        report = render(
            project,
            variants=names,
            out=args.out,
            cache=args.cache,
            backend=args.backend,
            workers=args.workers,
        )
        backend = report.backend
        renders = {n: Path(v.output) for n, v in report.variants.items() if v.output}
        render_errors = {n: v.error for n, v in report.variants.items() if v.error is not None}
    family = encode_family(backend)
    goldens = Goldens(args.golden, args.against or family)
    for err in render_errors.values():
        print(f"farm: error: {err}", file=sys.stderr)
    if args.update:
        for name, path in renders.items():
            from farm.media.facts import container_facts

            print(
                goldens.update(
                    name, path, encoder_settings(project, name, family), container_facts(str(path))
                )
            )
        return max((e.exit_code for e in render_errors.values()), default=0)
    thresholds = {**{m: DEFAULT_MIN[m] for m in args.metric}, **args.min}
    results = []
    for name in names:
        if name in render_errors:
            err = render_errors[name]
            results.append(VariantChecks(name, [Check("render", "error", str(err))]))
            continue
        try:
            fps = project.variants[name].output.fps
            results.append(check_variant(name, renders[name], goldens, args, thresholds, fps))
        except FarmError as exc:  # a missing or broken file: the variant errs, the others are still checked
            err = exc.with_where(variant=name)
            print(f"farm: error: {err}", file=sys.stderr)
            render_errors[name] = err
            results.append(VariantChecks(name, [Check("render", "error", str(err))]))
    properties = run_properties(backend, family, args.golden, args.against)
    if args.junit:
        from farm.output.junit import write_junit

        try:
            write_junit(args.junit, results, properties)
        except OSError as exc:
            raise OutputError(
                f"cannot write the JUnit file ({exc.strerror})", Where(path=str(args.junit))
            ) from None
    if args.json:
        print(
            json.dumps(
                {"properties": properties, "variants": {r.variant: r.to_json() for r in results}}, indent=2
            )
        )
    else:
        print_results(results)
    if render_errors:
        return max(e.exit_code for e in render_errors.values())
    return EXIT_REGRESSION if any(r.failed for r in results) else 0


def encoder_settings(project: Any, name: str, family: str) -> dict[str, Any]:
    out = project.variants[name].output
    return {
        "family": family,
        "codec": out.codec,
        "quality": out.quality,
        "preset": out.preset,
        "width": out.width,
        "height": out.height,
        "fps": str(out.fps),
    }


def run_properties(backend: str, family: str, golden: Path, against: str | None) -> dict[str, str]:
    from farm import __version__
    from farm.media.probe import codec_library_versions
    from farm.output.goldens import gpu_name

    libs = codec_library_versions()
    props = {
        "backend": backend,
        "family": family,
        "farm": __version__,
        "pyav": libs["av"],
        "golden": str(golden),
    }
    props.update(
        {
            k: ".".join(map(str, v))
            for k, v in libs["libs"].items()
            if k in ("libavcodec", "libavfilter", "libavformat")
        }
    )
    props["gpu"] = gpu_name() or "none"
    return props


def timecode(index: int, fps: Fraction) -> str:
    """``HH:MM:SS:FF`` of output frame ``index`` (frames counted at the rounded-up rate)."""
    per_second = math.ceil(fps)
    seconds = Fraction(index) / fps
    whole = int(seconds)
    ff = index - math.floor(whole * fps) if fps.denominator == 1 else int((seconds - whole) * per_second)
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}:{ff:02d}"


def check_variant(
    name: str,
    render: Path,
    goldens: Any,
    args: argparse.Namespace,
    thresholds: dict[str, float],
    fps: Fraction,
) -> VariantChecks:
    """Every check of one variant against its golden."""
    from farm.media.compare import available_metrics, compare_videos
    from farm.media.facts import audio_difference, container_facts

    result = VariantChecks(name)
    if not render.is_file():
        raise MissingInputError("the render to check does not exist", Where(variant=name, path=str(render)))
    golden = goldens.path(name)
    if not golden.is_file():
        how = f"farm check {args.project} --golden {args.golden} --variant {name} --update"
        if args.against:  # another family's goldens are written by that family's backend
            backend = "cpu" if args.against == "cpu" else "nvidia"
            how += f" --backend {backend}` on a machine that renders {args.against!r}, then retry `"
        result.checks.append(
            Check(
                "golden",
                "fail",
                f"no {goldens.family!r} golden for variant {name!r} at {golden}: create it with `{how}`",
            )
        )
        return result
    t = time.perf_counter()
    have, want = container_facts(str(render)), container_facts(str(golden))
    diffs = [f"{k}: {have.get(k)} (golden {want.get(k)})" for k in EXACT_FACTS if have.get(k) != want.get(k)]
    if abs(have["duration"] - want["duration"]) > 0.5 / float(fps):
        diffs.append(f"duration: {have['duration']} s (golden {want['duration']} s)")
    if (have["av_offset"] is None) != (want["av_offset"] is None) or (
        have["av_offset"] is not None and abs(have["av_offset"] - want["av_offset"]) > 0.001
    ):
        diffs.append(f"av_offset: {have['av_offset']} s (golden {want['av_offset']} s)")
    result.checks.append(
        Check(
            "container",
            "fail" if diffs else "pass",
            "; ".join(diffs),
            time.perf_counter() - t,
            {"facts": have},
        )
    )
    available = available_metrics()
    measured = [m for m in args.metric if m in available]
    t = time.perf_counter()
    cmp = compare_videos(str(render), str(golden), measured) if measured else None
    per_metric = (time.perf_counter() - t) / max(1, len(measured))
    worst_fail: tuple[str, int] | None = None
    for metric in args.metric:
        if metric not in available:
            lib = "libvmaf" if metric == "vmaf" else metric
            result.checks.append(
                Check(metric, "skip", f"{metric}: this build of the FFmpeg libraries has no {lib} filter")
            )
            continue
        assert cmp is not None
        m = cmp.metrics[metric]
        limit = thresholds[metric]
        details = {
            "worst": m.worst,
            "worst_frame": m.worst_frame,
            "mean": round(m.mean, 6),
            "min": limit,
            "frames": m.frames,
        }
        if m.frames == 0:
            result.checks.append(
                Check(metric, "fail", f"{metric}: no frame could be compared", per_metric, details)
            )
        elif m.worst < limit:
            tc = timecode(m.worst_frame, fps)
            msg = (
                f"{metric} {m.worst:.4f} < {limit} at frame {m.worst_frame} ({tc}); "
                f"mean {m.mean:.4f} over {m.frames} frames"
            )
            result.checks.append(Check(metric, "fail", msg, per_metric, details))
            worst_fail = worst_fail or (metric, m.worst_frame)
        else:
            result.checks.append(Check(metric, "pass", "", per_metric, details))
    t = time.perf_counter()
    audio = audio_difference(str(render), str(golden))
    bad = audio["rms"] > AUDIO_RMS_MAX or audio["render_samples"] != audio["golden_samples"]
    msg = (
        (
            f"audio: RMS difference {audio['rms']} (max {AUDIO_RMS_MAX}); {audio['render_samples']} samples "
            f"(golden {audio['golden_samples']})"
        )
        if bad
        else ""
    )
    result.checks.append(Check("audio", "fail" if bad else "pass", msg, time.perf_counter() - t, audio))
    if worst_fail is not None:
        metric, index = worst_fail
        values = {c.name: c.details.get("worst") for c in result.checks if c.name in measured}
        result.worst = {"frame": index, "timecode": timecode(index, fps), "metric": metric, "values": values}
        if args.artifacts:
            result.strip = write_strip(args.artifacts, name, render, golden, index)
    return result


def write_strip(folder: Path, variant: str, render: Path, golden: Path, index: int) -> str | None:
    """golden | render | amplified difference of frame ``index``, as a PNG in ``folder``."""
    from PIL import Image

    from farm.media.compare import difference_strip, frame_at
    from farm.output.atomic import atomic_write

    g, r = frame_at(str(golden), index), frame_at(str(render), index)
    if g is None or r is None:
        return None
    path = folder / f"{variant}-frame{index:06d}.png"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_write(path, keep_suffix=True) as tmp:
            Image.fromarray(difference_strip(g, r)).save(tmp, format="PNG")
    except OSError as exc:
        raise OutputError(
            f"cannot write the strip ({exc.strerror})", Where(variant=variant, path=str(path))
        ) from None
    return str(path)


def print_results(results: list[VariantChecks]) -> None:
    for r in results:
        state = "ok" if not (r.failed or r.errored) else ("ERROR" if r.errored else "FAILED")
        print(f"{r.variant}: {state}")
        for c in r.checks:
            if c.status == "pass":
                worst = c.details.get("worst")
                extra = f" (worst {worst:.4f} >= {c.details['min']})" if isinstance(worst, float) else ""
                print(f"  {c.name}: ok{extra}")
            else:
                print(f"  {c.name}: {c.status.upper()}: {c.message}")
        if r.worst:
            print(f"  worst frame {r.worst['frame']} ({r.worst['timecode']}): {r.worst['values']}")
        if r.strip:
            print(f"  strip: {r.strip}")
