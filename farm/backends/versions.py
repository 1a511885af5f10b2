"""The version guard: a worker refuses to write under a key whose codec library versions it lacks.

Segment keys carry the codec library versions of the driver that planned them
(:func:`farm.media.probe.codec_library_versions`: PyAV and libavcodec,
libavformat, libavutil, libswscale...; libx264/libx265 are linked into them).
A worker with other versions would write different bytes under a key that
claims otherwise, so it refuses with the difference. The error is exit 69, a
system reason: on a cluster the failure budget moves the segment to other nodes.
"""

from __future__ import annotations

import os
from typing import Any

from farm.errors import BackendUnavailableError
from farm.media.probe import codec_library_versions


def _flat(versions: dict[str, Any]) -> dict[str, str]:
    flat = {"av": str(versions.get("av"))}
    for name, version in (versions.get("libs") or {}).items():
        flat[name] = ".".join(str(v) for v in version) if isinstance(version, (list, tuple)) else str(version)
    return flat


def version_mismatch(claimed: dict[str, Any], here: dict[str, Any] | None = None) -> list[str]:
    """What differs between the versions a key claims and this process's (empty: they match)."""
    have = _flat(codec_library_versions() if here is None else here)
    want = _flat(claimed)
    return [
        f"{name}: the key claims {want.get(name, 'none')}, this worker has {have.get(name, 'none')}"
        for name in sorted(set(want) | set(have))
        if want.get(name) != have.get(name)
    ]


def check_versions(claimed: dict[str, Any]) -> None:
    """Refuse (exit 69) when this worker's codec libraries are not the ones the keys claim."""
    differ = version_mismatch(claimed)
    if differ:
        raise BackendUnavailableError(
            f"worker on {os.uname().nodename} has other codec libraries than the driver: "
            + "; ".join(differ),
            hint="install the same farm image (PyAV wheel) on every node",
        )
