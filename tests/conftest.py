"""Shared fixtures: coded test media, cut and project writers, one local Ray per run.

Test media is made here: every frame carries its source id and frame number as
large blocks (farm.media.synth), and every source with audio carries its own
tone, so a test can read back from any rendered frame which source frame it
shows, and from any stretch of audio which source it came from.
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

import pytest
from coded import SOURCES

from farm.media.synth import write_clip

#: glibc's ``mallopt`` parameter that fills freed (and fresh) heap memory with a pattern
_M_PERTURB = -6
#: the pattern: a freed int64 or time base then reads as a large negative number
_PERTURB_BYTE = 165


def _poison_freed_memory() -> None:
    """Freed memory filled with a pattern, in this process and in every process a test starts.

    A field read after its owner was freed (a PyAV stream after its file's close) then reads
    garbage every time, not only when another thread happens to reuse the memory: the stitch
    check once failed one CI run in many that way.  ``FARM_TEST_PERTURB=0`` turns it off.
    """
    if os.environ.get("FARM_TEST_PERTURB", "1") == "0" or not sys.platform.startswith("linux"):
        return
    os.environ.setdefault("MALLOC_PERTURB_", str(_PERTURB_BYTE))  # Ray workers, farm subprocesses
    try:
        ctypes.CDLL(None).mallopt(_M_PERTURB, _PERTURB_BYTE)  # this process, from now on
    except (OSError, AttributeError):  # not glibc
        pass


_poison_freed_memory()


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of coded sources, made once per test run."""
    root = tmp_path_factory.mktemp("media-root")
    (root / "media").mkdir()
    for s in SOURCES.values():
        write_clip(
            root / s.file,
            width=s.width,
            height=s.height,
            rate=s.rate,
            frames=s.frames,
            source_id=s.source_id,
            audio_tone_hz=s.tone,
            rotation=s.rotation,
            timestamps=list(s.timestamps) if s.timestamps else None,
            gop=12,
        )
    return root


@pytest.fixture()
def project_dir(media_dir: Path, tmp_path: Path) -> Path:
    """A fresh project folder whose media/ links to the shared coded sources."""
    root = tmp_path / "project"
    (root / "cuts").mkdir(parents=True)
    (root / "media").symlink_to(media_dir / "media", target_is_directory=True)
    return root


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray for the whole run (farm.render reuses a running Ray)."""
    import ray

    # "local": a Ray of our own, even when another one runs on this machine (ray start --head)
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR")
    yield
    ray.shutdown()
