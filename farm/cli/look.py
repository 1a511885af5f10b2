"""``farm look``: match a clip's colour to a reference and save the look as a ``.cube``."""

from __future__ import annotations

import argparse

from farm.cli.arguments import bounded_int, strength
from farm.edit.project import LOOK_METHODS


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the arguments of ``farm look`` to ``parser``."""
    parser.add_argument("source", help="image or video clip whose colour is to be matched")
    parser.add_argument("--reference", required=True, help="image or video clip with the look to match")
    parser.add_argument("--method", choices=LOOK_METHODS, default="mkl", help="transfer (default: mkl)")
    parser.add_argument(
        "--strength", type=strength, default=1.0, help="0 keeps the source, 1 matches fully (default: 1)"
    )
    parser.add_argument(
        "--size", type=bounded_int(2, 256), default=33, help="nodes per axis of the 3D LUT (default: 33)"
    )
    parser.add_argument(
        "--frames", type=bounded_int(1, 1000), default=8, help="frames sampled from each clip (default: 8)"
    )
    parser.add_argument("--out", required=True, help="where to write the .cube")
    parser.add_argument("--preview", help="write a PNG strip: source / matched / reference with their ΔE2000")
    return parser


def run(args: argparse.Namespace) -> int:
    """Perform ``farm look``: analyse, write the .cube (and preview), print a summary."""
    import numpy as np

    from farm.kernels import apply_lut, write_cube
    from farm.look.analyse import analyse_look, mean_colour_delta_e, pairs, pixel_delta_e
    from farm.media.frames import sample_frames

    if not 0.0 <= args.strength <= 1.0:
        raise ValueError(f"--strength must be in [0, 1], got {args.strength}")
    if not 2 <= args.size <= 256:
        raise ValueError(f"--size must be in [2, 256], got {args.size}")
    source = sample_frames(args.source, args.frames)
    reference = sample_frames(args.reference, args.frames)
    lut = analyse_look(source, reference, args.method, args.strength, args.size)
    write_cube(lut, args.out)
    matched = [np.clip(apply_lut(frame, lut), 0.0, 1.0) for frame in source]

    pairs_before = pairs(source, reference)
    pairs_after = pairs(matched, reference)
    print(f"method {args.method}, strength {args.strength:g}, {args.size}^3 LUT written to {args.out}")
    print(f"frames: {len(source)} source, {len(reference)} reference")
    print(
        "mean colour dE2000 to the reference: "
        f"{mean_colour_delta_e(source, reference):.2f} before, "
        f"{mean_colour_delta_e(matched, reference):.2f} after"
    )
    before = np.mean([pixel_delta_e(a, b) for a, b in pairs_before])
    after = np.mean([pixel_delta_e(a, b) for a, b in pairs_after])
    print(f"per-pixel mean dE2000 (same-scene measure): {before:.2f} before, {after:.2f} after")
    if args.preview:
        from farm.look.preview import write_preview

        write_preview(args.preview, source, matched, reference)
        print(f"preview written to {args.preview}")
    return 0
