"""Looks in renders: one baked LUT per source clip, analysed once, cached, keyed.

A variant's ``[look]`` may name a ``reference`` (a clip or still) to match every
source to, with ``method`` and ``strength``, and a creative ``lut`` applied after
the match.  For each source the match is analysed once (a Ray task), composed
with the creative LUT and baked into one plain 3D ``.cube`` in the cache, which
both backends apply (libavfilter's ``lut3d`` on the CPU, the CuPy kernel on the
GPU).  The look's key — a hash of everything that decides the LUT — joins each
segment's key, so changing the reference, method or strength re-renders exactly
the affected segments.  One LUT per clip and constant over it: nothing flickers.
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from farm.edit.project import LookSpec, OutputSpec
from farm.errors import FarmError, MediaError, MissingInputError, ProjectError, Where
from farm.look.chain import (
    SHAPER_KINDS,
    SHAPER_SIZE,
    InputTransform,
    bake_chain,
    resolve_input,
    sdr_input,
    to_display,
    to_working,
)
from farm.look.lutfiles import split_lut_paths
from farm.look.output import OutputTransform, encode_output, look_on_hdr, output_transform
from farm.planning.keys import content_key, file_digest
from farm.planning.units import LookJob

if TYPE_CHECKING:
    from farm.media.probe import SourceInfo

#: the working space's own transform: nothing to do
_SDR = InputTransform("sdr")
#: bump when the chain's maths change (the tone map, the shaper's design)
CHAIN_VERSION = 1

#: nodes per axis of baked looks
LOOK_SIZE = 33
#: frames sampled across a source or reference for the statistics
LOOK_FRAMES = 8


def _plain_cube(path: Path, where: Where) -> bool:
    """Whether a creative .cube can go to lut3d as it is (no shaper, [0, 1] domain).

    Read once per file version: a cut's clips share their variant's look.
    """
    try:
        st = path.stat()
        return _plain_cube_of(str(path), st.st_mtime_ns, st.st_size)
    except FarmError as exc:
        raise exc.with_where(variant=where.variant) from None
    except (OSError, ValueError) as exc:
        raise ProjectError(f"cannot read the look LUT ({exc})", where) from None


@functools.lru_cache(maxsize=64)
def _plain_cube_of(path: str, mtime_ns: int, size: int) -> bool:
    from farm.kernels import read_cube

    lut = read_cube(Path(path))
    return lut.shaper1d is None and bool(np.all(lut.domain_min == 0) and np.all(lut.domain_max == 1))


def _reference_input(look: LookSpec, cache_root: Path | None) -> InputTransform:
    """The reference's own input transform (a still, or a clip farm cannot probe, is SDR)."""
    from farm.media.probe import probe

    assert look.reference is not None
    try:
        info = probe(look.reference, cache_root)
    except FarmError:
        return sdr_input(look.colour)
    if info.frames <= 1 and info.transfer == "":
        return sdr_input(look.colour)
    return resolve_input(info, look.colour, Where(path=str(look.reference)))


def plan_look(
    look: LookSpec,
    variant: str,
    source_path: str,
    source_identity: str,
    cache_root: Path | None,
    info: SourceInfo | None = None,
    output: OutputSpec | None = None,
) -> tuple[str | None, str | None, LookJob | None]:
    """The LUT a clip of ``source_path`` gets in ``variant``: ``(path, key, job or None)``.

    ``info`` (the source's probe) decides its input transform (farm.look.chain);
    without it the source is taken as BT.709 SDR.  ``output`` (the variant's)
    decides the output transform (farm.look.output; BT.709 SDR without it).
    ``(None, None, None)`` when the variant has no look and the source is in
    the output's space already; a plain creative .cube is used as it is;
    anything else is a :class:`LookJob` to run before the segments.
    """
    where_src = Where(variant=variant, path=source_path)
    try:
        source_t = resolve_input(info, look.colour, where_src) if info is not None else sdr_input(look.colour)
        out_t = output_transform(output, look.colour)
        if not out_t.is_identity and look.colour.rendering == "aces":
            from farm.look.aces import check_rendering

            check_rendering(look.colour.config, where_src, out_t.kind, out_t.peak_nits)
    except FarmError as exc:
        raise exc.with_where(variant=variant) from None
    plain = source_t.is_identity and out_t.is_identity  # the chain around the look does nothing
    if look.lut is None and look.reference is None and look.ocio_look is None and plain:
        return None, None, None
    creative_hash = None
    if look.lut is not None:
        where = Where(variant=variant, path=str(look.lut))
        if not look.lut.is_file():
            raise MissingInputError("look LUT not found", where, hint="check [look] lut in farm.toml")
        creative_hash = file_digest(str(look.lut))
        if look.reference is None and look.ocio_look is None and plain and _plain_cube(look.lut, where):
            return str(look.lut), creative_hash, None
    reference_id = None
    if look.reference is not None:
        if not look.reference.is_file():
            raise MissingInputError(
                "look reference not found",
                Where(variant=variant, path=str(look.reference)),
                hint="check [look] reference in farm.toml",
            )
        reference_id = file_digest(str(look.reference))
    reference_t = _reference_input(look, cache_root) if look.reference is not None else sdr_input(look.colour)
    ocio_look, ocio_key = _ocio_look(look, variant)
    colour = ""
    chain_key: dict[str, Any] | None = None
    if not (source_t.is_identity and reference_t.is_identity and out_t.is_identity):
        parts = {"source": source_t.to_json(), "reference": reference_t.to_json()}
        chain_key = {
            "v": CHAIN_VERSION,
            "source": source_t.key_parts(),
            "reference": reference_t.key_parts(),
            "shaper": SHAPER_SIZE if source_t.kind in SHAPER_KINDS else 0,
        }
        if not out_t.is_identity:  # (an SDR output's looks keep the keys they had)
            parts["output"] = out_t.to_json()
            chain_key["output"] = out_t.key_parts()
        colour = json.dumps(parts)
    key = content_key(
        "look",
        source=source_identity if look.reference is not None else None,
        reference=reference_id,
        method=look.method if look.reference is not None else None,
        strength=look.strength if look.reference is not None else None,
        creative=creative_hash,
        size=LOOK_SIZE,
        frames=LOOK_FRAMES,
        **({"chain": chain_key} if chain_key is not None else {}),
        **({"ocio_look": ocio_key} if ocio_key is not None else {}),
    )
    cube = (cache_root or Path(".")) / "looks" / f"{key}.cube"
    job = LookJob(
        key=key,
        source=source_path if look.reference is not None else None,
        reference=str(look.reference) if look.reference is not None else None,
        method=look.method,
        strength=look.strength,
        creative=str(look.lut) if look.lut is not None else None,
        cube_path=str(cube),
        colour=colour,
        ocio_look=ocio_look,
    )
    return str(cube), key, job


def _ocio_look(look: LookSpec, variant: str) -> tuple[str, dict[str, Any] | None]:
    """The OCIO look as the job's JSON and its key parts (config identity, look name); ("", None) without."""
    if look.ocio_look is None:
        return "", None
    from farm.look.ocio import check_look, config_identity

    config = look.ocio_config or look.colour.config
    where = Where(variant=variant, path=config)
    try:
        check_look(config, look.ocio_look, where)
    except FarmError as exc:
        raise exc.with_where(variant=variant) from None
    parts = {"config": config, "look": look.ocio_look}
    return json.dumps(parts, sort_keys=True), {**config_identity(config), "look": look.ocio_look}


def bake_look(job: LookJob) -> dict[str, Any]:
    """Analyse and write one look (idempotent: a finished look is not redone).

    The chain is ``creative(match(input_transform(rgb)))``: the match is analysed
    on the source's and the reference's frames *after* their input transforms,
    so an HLG clip is matched on what it looks like, not on its code values.
    """
    from farm.kernels import apply_lut, read_cube, write_cube
    from farm.look.analyse import analyse_look, mean_colour_delta_e
    from farm.media.frames import sample_frames

    out = Path(job.cube_path)
    if out.is_file():
        return {"key": job.key, "rendered": False}
    t0 = time.perf_counter()
    result: dict[str, Any] = {"key": job.key, "rendered": True}
    parts = json.loads(job.colour) if job.colour else {}
    source_t = InputTransform.from_json(parts["source"]) if parts else _SDR
    reference_t = InputTransform.from_json(parts["reference"]) if parts else _SDR
    out_t = OutputTransform.from_json(parts["output"]) if "output" in parts else OutputTransform()
    stages: list[Any] = []  # Luts, or callables (an OCIO look)
    if job.source is not None and job.reference is not None:
        try:
            source = [to_working(source_t, f) for f in sample_frames(job.source, LOOK_FRAMES)]
            reference = [to_working(reference_t, f) for f in sample_frames(job.reference, LOOK_FRAMES)]
        except FarmError:
            raise
        except (OSError, ValueError) as exc:
            raise MediaError(f"cannot sample frames for the look ({exc})", Where(path=job.source)) from None
        source = [f.astype(np.float32) for f in source]
        reference = [f.astype(np.float32) for f in reference]
        stages.append(analyse_look(source, reference, job.method, job.strength, LOOK_SIZE))
        result["delta_e_before"] = mean_colour_delta_e(source, reference)
    if job.creative is not None:
        stages.append(read_cube(job.creative))
    if job.ocio_look:
        from farm.look.ocio import apply_look

        spec = json.loads(job.ocio_look)
        stages.append(lambda rgb: apply_look(spec["config"], spec["look"], rgb))

    def then(rgb: np.ndarray) -> np.ndarray:
        for stage in stages:
            rgb = (stage(rgb) if callable(stage) else apply_lut(rgb, stage)).astype(np.float64)
        return rgb

    shaper = SHAPER_SIZE if source_t.kind in SHAPER_KINDS else 0
    if out_t.is_identity:
        lut = bake_chain(lambda rgb: to_working(source_t, rgb), then, LOOK_SIZE, shaper)
    else:  # an HDR output: the source's display light, the look on its colour, PQ or HLG
        lut = bake_chain(
            lambda rgb: to_display(source_t, rgb, out_t.peak_nits, out_t.kind),
            lambda rel: encode_output(out_t, look_on_hdr(then, rel)),
            LOOK_SIZE,
            shaper,
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    if lut.shaper1d is not None:
        write_split_luts(lut, out)
    write_cube(lut, out)  # atomic, and last: a reader never sees half a look
    result["seconds"] = time.perf_counter() - t0
    return result


def write_split_luts(lut: Any, cube: Path) -> None:
    """The shaper as a 1D .cube and the table as a plain 3D .cube, for FFmpeg's lut1d and lut3d."""
    from farm.kernels import Lut, write_cube
    from farm.output.atomic import write_text_atomic

    shaper_path, table_path = split_lut_paths(cube)
    rows = "\n".join(f"{r:.7g} {g:.7g} {b:.7g}" for r, g, b in lut.shaper1d.astype(np.float64))
    write_text_atomic(shaper_path, f"LUT_1D_SIZE {lut.shaper1d.shape[0]}\n{rows}\n")
    write_cube(Lut(lut.table3d), table_path)
