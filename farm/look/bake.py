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

import time
from pathlib import Path
from typing import Any

import numpy as np

from farm.edit.project import LookSpec
from farm.errors import FarmError, MediaError, MissingInputError, ProjectError, Where
from farm.planning.keys import content_key, file_digest
from farm.planning.units import LookJob

#: nodes per axis of baked looks
LOOK_SIZE = 33
#: frames sampled across a source or reference for the statistics
LOOK_FRAMES = 8


def _plain_cube(path: Path, where: Where) -> bool:
    """Whether a creative .cube can go to lut3d as it is (no shaper, [0, 1] domain)."""
    from farm.kernels import read_cube

    try:
        lut = read_cube(path)
    except FarmError as exc:
        raise exc.with_where(variant=where.variant) from None
    except (OSError, ValueError) as exc:
        raise ProjectError(f"cannot read the look LUT ({exc})", where) from None
    return lut.shaper1d is None and bool(np.all(lut.domain_min == 0) and np.all(lut.domain_max == 1))


def plan_look(
    look: LookSpec, variant: str, source_path: str, source_identity: str, cache_root: Path | None
) -> tuple[str | None, str | None, LookJob | None]:
    """The LUT a clip of ``source_path`` gets in ``variant``: ``(path, key, job or None)``.

    ``(None, None, None)`` when the variant has no look; a plain creative .cube is
    used as it is; anything else is a :class:`LookJob` to run before the segments.
    """
    if look.lut is None and look.reference is None:
        return None, None, None
    creative_hash = None
    if look.lut is not None:
        where = Where(variant=variant, path=str(look.lut))
        if not look.lut.is_file():
            raise MissingInputError("look LUT not found", where, hint="check [look] lut in farm.toml")
        creative_hash = file_digest(str(look.lut))
        if look.reference is None and _plain_cube(look.lut, where):
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
    key = content_key(
        "look",
        source=source_identity if look.reference is not None else None,
        reference=reference_id,
        method=look.method if look.reference is not None else None,
        strength=look.strength if look.reference is not None else None,
        creative=creative_hash,
        size=LOOK_SIZE,
        frames=LOOK_FRAMES,
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
    )
    return str(cube), key, job


def bake_look(job: LookJob) -> dict[str, Any]:
    """Analyse and write one look (idempotent: a finished look is not redone)."""
    from farm.kernels import compose, identity_lut, read_cube, write_cube
    from farm.look.analyse import analyse_look, mean_colour_delta_e
    from farm.media.frames import sample_frames

    out = Path(job.cube_path)
    if out.is_file():
        return {"key": job.key, "rendered": False}
    t0 = time.perf_counter()
    result: dict[str, Any] = {"key": job.key, "rendered": True}
    if job.source is not None and job.reference is not None:
        try:
            source = sample_frames(job.source, LOOK_FRAMES)
            reference = sample_frames(job.reference, LOOK_FRAMES)
        except FarmError:
            raise
        except (OSError, ValueError) as exc:
            raise MediaError(f"cannot sample frames for the look ({exc})", Where(path=job.source)) from None
        lut = analyse_look(source, reference, job.method, job.strength, LOOK_SIZE)
        result["delta_e_before"] = mean_colour_delta_e(source, reference)
    else:
        lut = identity_lut(LOOK_SIZE)
    if job.creative is not None:
        lut = compose(lut, read_cube(job.creative), size=LOOK_SIZE)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_cube(lut, out)  # atomic: a reader never sees half a look
    result["seconds"] = time.perf_counter() - t0
    return result
