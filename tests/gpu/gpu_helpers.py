"""Helpers shared by the nvidia backend's tests (a plain module: ``conftest`` names clash across folders)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def load_test_module(name: str, path: Path):  # type: ignore[no-untyped-def]
    """A helper module of the test suite by path (``conftest`` names clash across folders)."""
    key = f"_farm_tests_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


def root_helpers():  # type: ignore[no-untyped-def]
    """tests/coded.py (SOURCES, Shot, Gap, write_project, expected_frames) and tests/media_check.py."""
    return load_test_module("coded", TESTS / "coded.py"), load_test_module(
        "media_check", TESTS / "media_check.py"
    )


def render_variants(project: Path, backend: str, family: str, work: Path) -> dict[str, Path]:
    """Render every variant of ``project`` through the real render loop, in this process (no Ray).

    Planned with the encoder ``family`` asked for (not the one this machine would
    pick), so a test can render the families a GPU offers side by side; looks,
    audio and segments run on :class:`InProcessExecutor`, as ``farm render`` runs
    them on a GPU box without Ray.  A variant's error is raised, as the segment
    call that failed raised it; otherwise returns each variant's finished file.
    """
    import io

    from farm.edit.project import load_project
    from farm.execute.local import InProcessExecutor
    from farm.execute.loop import RenderLoop
    from farm.execute.protocol import ExecutorSession
    from farm.output.cache import Cache
    from farm.planning.planner import plan_project

    tag = f"{backend}-{family}"
    cache = Cache(work / f"cache-{tag}").ensure()
    plan = plan_project(load_project(project), None, cache.root, family=family)
    assert not plan.failed, plan.failed
    loop = RenderLoop(plan, work / f"out-{tag}", cache, backend, progress_stream=io.StringIO())
    with ExecutorSession(InProcessExecutor) as session:
        report = loop.run(session)
    for result in report.variants.values():
        if result.error is not None:
            raise result.error
    for key, job in plan.jobs.items():
        meta = cache.segment_meta(key)
        assert meta is not None and meta["frames"] == job.count and meta["backend"] == backend, meta
        for path, route in meta.get("decode", {}).items():  # the report names every route a segment took
            assert report.decode.get(path) == route, (path, route, report.decode)
    return {name: Path(str(result.output)) for name, result in report.variants.items()}
