"""The version guard: a worker whose codec libraries differ from the keys' claim refuses to render."""

from __future__ import annotations

from pathlib import Path

import pytest
from coded import Shot, write_project

import farm
from farm.backends.versions import version_mismatch
from farm.execute.ray_executor import RayExecutor
from farm.media.probe import codec_library_versions


def _claim_with(lib: str, version: list[int]) -> dict:
    here = codec_library_versions()
    return {**here, "libs": {**here["libs"], lib: version}}


def test_versions_match_themselves_and_name_what_differs() -> None:
    here = codec_library_versions()
    assert version_mismatch(here) == []
    differ = version_mismatch(_claim_with("libavcodec", [1, 2, 3]), here)
    assert len(differ) == 1 and differ[0].startswith("libavcodec: the key claims 1.2.3, this worker has ")


@pytest.mark.usefixtures("ray_session")
def test_a_worker_refuses_keys_that_claim_other_libraries(project_dir: Path, tmp_path: Path) -> None:
    project = write_project(project_dir, {"cut": [Shot("s24", 0, 12)]})
    runner = RayExecutor(workers=2, versions=_claim_with("libavcodec", [1, 2, 3]))
    report = farm.render(project, cache=tmp_path / "cache", executor=runner)
    err = report.variants["cut"].error
    assert err is not None and err.exit_code == 69
    assert "other codec libraries" in str(err) and "libavcodec: the key claims 1.2.3" in str(err)
    assert not (project_dir / "renders" / "cut.mp4").exists()
    assert not list((tmp_path / "cache" / "segments").rglob("*.json")), "a segment was written anyway"
