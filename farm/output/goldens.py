"""Approved renders ("goldens") for ``farm check``, kept per encoder family.

``DIR/<family>/<variant>.mp4`` with ``DIR/<family>/manifest.json``: the farm
and libav* versions, the GPU, and for each variant its encoder settings, file
hash and container facts. Families (``cpu``, ``nvenc``, ``nvdec+cpu``) write
different bitstreams, so each is compared only with its own goldens.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import Any

from farm.errors import OutputError, Where
from farm.output.atomic import atomic_write, write_text_atomic

__all__ = ["Goldens"]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def gpu_name() -> str | None:
    """The first GPU's name, when the capabilities probe finds one."""
    try:
        from farm.backends.capabilities import probe

        gpus = probe().gpus
        return gpus[0].name if gpus else None
    except Exception:  # no driver, no GPU library: the manifest says none
        return None


class Goldens:
    """The goldens of one encoder family under ``root``."""

    def __init__(self, root: Path, family: str) -> None:
        self.root = root
        self.family = family
        self.folder = root / family

    def path(self, variant: str) -> Path:
        return self.folder / f"{variant}.mp4"

    def manifest(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads((self.folder / "manifest.json").read_text())
            return data
        except (OSError, ValueError):
            return {"variants": {}}

    def update(self, variant: str, render: Path, settings: dict[str, Any], facts: dict[str, Any]) -> str:
        """Make ``render`` the golden of ``variant``; say what was replaced."""
        from farm import __version__
        from farm.media.probe import codec_library_versions

        target = self.path(variant)
        manifest = self.manifest()
        old = manifest.get("variants", {}).get(variant)
        digest = _sha256(render)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with atomic_write(target, keep_suffix=True) as tmp:
                shutil.copyfile(render, tmp)
            manifest.update(
                farm=__version__, libraries=codec_library_versions(), family=self.family, gpu=gpu_name()
            )
            manifest.setdefault("variants", {})[variant] = {
                "file": target.name,
                "sha256": digest,
                "encoder": settings,
                "facts": facts,
                "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            write_text_atomic(
                self.folder / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True) + "\n"
            )
        except OSError as exc:
            raise OutputError(
                f"cannot write the golden ({exc.strerror})", Where(variant=variant, path=str(target))
            ) from None
        if old is None:
            return f"{variant}: created golden {target}"
        if old.get("sha256") == digest:
            return f"{variant}: golden {target} unchanged (same bytes)"
        return (
            f"{variant}: replaced golden {target} "
            f"(was {old.get('sha256', '?')[:12]}, {old.get('updated', '?')}; now {digest[:12]})"
        )
