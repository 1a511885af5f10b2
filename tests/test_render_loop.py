"""The render loop without Ray: real renders of small coded media on the in-process executor.

Executors here wrap :class:`InProcessExecutor` to see what the loop hands them
(which units run, which are skipped, when) or to withhold a unit; the loop
itself, the backends, the stitcher and the media are the real ones.
"""

from __future__ import annotations

import io
import threading
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import pytest
from coded import SOURCES, Gap, Shot, expected_frames, write_project
from media_check import frame_codes

import farm
from farm.errors import InternalError, MediaError, MissingInputError
from farm.execute.local import InProcessExecutor
from farm.execute.loop import RenderLoop
from farm.execute.protocol import Executor, ExecutorSession, OnDone, Outcome, SkipQuery, WorkBatch
from farm.media.synth import write_clip
from farm.output.cache import Cache
from farm.output.report import RenderReport
from farm.planning.planner import RenderPlan


class Recording:
    """An in-process executor that records every outcome, and can withhold units (``drop``)."""

    def __init__(self, drop: frozenset[str] = frozenset()) -> None:
        self.inner = InProcessExecutor()
        self.drop = drop
        self.outcomes: list[Outcome] = []
        self._on_done: OnDone | None = None

    @property
    def workers(self) -> int:
        return self.inner.workers

    def __enter__(self) -> Recording:
        self.inner.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.inner.__exit__(exc_type, exc, tb)

    def run(self, batch: WorkBatch, on_done: OnDone, skip: SkipQuery) -> None:
        self._on_done = on_done
        kept = replace(
            batch,
            segments=tuple(j for j in batch.segments if j.key not in self.drop),
            audio=tuple(u for u in batch.audio if u.key not in self.drop),
            looks=tuple(j for j in batch.looks if j.key not in self.drop),
        )
        self.inner.run(kept, self._record, skip)

    def _record(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)
        assert self._on_done is not None
        self._on_done(outcome)

    def ran(self, keys: set[str] | list[str]) -> list[Outcome]:
        return [o for o in self.outcomes if o.key in keys]


def render_plan(
    plan: RenderPlan, project_dir: Path, executor: Executor, log: io.StringIO | None = None
) -> RenderReport:
    loop = RenderLoop(
        plan,
        project_dir / "renders",
        Cache(project_dir / ".farm-cache").ensure(),
        "cpu",
        progress_stream=log or io.StringIO(),
    )
    with ExecutorSession(lambda: executor) as session:
        return loop.run(session)


# ------------------------------------------------------------------ ownership


def test_a_segment_shared_by_two_variants_is_rendered_once_and_reused_by_the_other(
    project_dir: Path,
) -> None:
    cuts = {
        "official": [Shot("s24", 0, 48), Shot("s25", 0, 50)],
        "extended": [Shot("s24", 0, 48), Shot("s25", 0, 50), Shot("s2997", 0, 60)],
    }
    project = write_project(project_dir, cuts, extra="[render]\nsegment_seconds = 1\n")
    plan = farm.plan(project)
    shared = set(plan.variants["official"].keys)
    assert shared <= set(plan.variants["extended"].keys)
    executor = Recording()
    report = render_plan(plan, project_dir, executor)
    off, ext = report.variants["official"], report.variants["extended"]
    assert off.error is None and ext.error is None, (off.error, ext.error)
    rendered = [o.key for o in executor.outcomes if o.kind == "segment" and o.rendered]
    assert sorted(rendered) == sorted(plan.jobs)  # every segment once, shared ones included
    # the first variant to need a shared segment renders it; the other reuses it
    assert off.segments_rendered == off.segments == len(shared) and off.segments_reused == 0
    assert ext.segments_reused == len(shared)
    assert ext.segments_rendered == ext.segments - len(shared)
    for name, items in cuts.items():
        assert frame_codes(Path(str(report.variants[name].output))) == expected_frames(items, Fraction(24))


def test_a_piece_used_twice_in_one_variant_is_rendered_once(project_dir: Path) -> None:
    items = [Shot("s24", 0, 24), Gap(12), Shot("s24", 0, 24)]
    project = write_project(project_dir, {"cut": items})
    plan = farm.plan(project)
    keys = plan.variants["cut"].keys
    assert len(keys) == 3 and keys[0] == keys[2]
    executor = Recording()
    v = render_plan(plan, project_dir, executor).variants["cut"]
    assert v.error is None, v.error
    assert len([o for o in executor.outcomes if o.kind == "segment"]) == 2
    assert (v.segments, v.segments_rendered, v.segments_reused) == (3, 2, 1)
    assert frame_codes(Path(str(v.output))) == expected_frames(items, Fraction(24))


def test_an_up_to_date_output_needs_no_executor_at_all(project_dir: Path) -> None:
    project = write_project(project_dir, {"cut": [Shot("s24", 0, 12)]})
    first = render_plan(farm.plan(project), project_dir, InProcessExecutor()).variants["cut"]
    assert first.error is None and not first.up_to_date

    def no_executor() -> Executor:
        raise AssertionError("an up-to-date render started an executor")

    loop = RenderLoop(
        farm.plan(project),
        project_dir / "renders",
        Cache(project_dir / ".farm-cache"),
        "cpu",
        progress_stream=io.StringIO(),
    )
    with ExecutorSession(no_executor) as session:
        report = loop.run(session, workers=3)
    again = report.variants["cut"]
    assert again.up_to_date and again.error is None and again.output == first.output
    assert (again.segments_rendered, again.segments_reused) == (0, again.segments)
    assert report.workers == 3  # nothing ran: the report keeps the count it was given


# ------------------------------------------------------------------ failures


def test_work_of_a_variant_that_already_failed_is_skipped(project_dir: Path) -> None:
    """A source that breaks after planning fails its variant on the first segment; the rest never run."""
    late = project_dir / "late.mp4"
    late.write_bytes((project_dir / SOURCES["s30"].file).read_bytes())  # s30: no audio to read
    cuts = {
        "good": [Shot("s24", 0, 12)],
        "bad": [Shot("late.mp4", 0, 60, rate=SOURCES["s30"].rate, name="late")],
    }
    project = write_project(project_dir, cuts, extra="[render]\nsegment_seconds = 0.5\n")
    plan = farm.plan(project)
    bad_only = set(plan.variants["bad"].keys) - set(plan.variants["good"].keys)
    assert len(bad_only) >= 3
    late.write_text("no longer a video\n" * 100)
    executor = Recording()
    report = render_plan(plan, project_dir, executor)
    good, bad = report.variants["good"], report.variants["bad"]
    assert good.error is None and frame_codes(Path(str(good.output))) == [(1, i) for i in range(12)]
    assert isinstance(bad.error, MediaError) and bad.error.exit_code == 65
    assert "variant 'bad'" in str(bad.error) and "late.mp4" in str(bad.error)
    # one segment of 'bad' ran and failed; nobody needed the others any more
    ran = executor.ran(bad_only)
    assert len(ran) == 1 and ran[0].error is not None
    cache = Cache(project_dir / ".farm-cache")
    assert all(cache.segment_meta(key) is None for key in bad_only)
    assert bad.output is None and not (project_dir / "renders" / "bad.mp4").exists()
    assert report.exit_code == 65


def test_a_failed_look_fails_its_variants_and_only_them(project_dir: Path) -> None:
    write_clip(project_dir / "ref.mp4", width=320, height=180, rate=24, frames=12, source_id=7)
    cuts = {"graded": [Shot("s24", 0, 24)], "plain": [Shot("s24", 0, 24)]}
    project = write_project(
        project_dir, cuts, extra='[variants.graded.look]\nreference = "ref.mp4"\nmethod = "reinhard"\n'
    )
    plan = farm.plan(project)
    assert len(plan.looks) == 1 and set().union(*plan.look_users.values()) == {"graded"}
    (project_dir / "ref.mp4").unlink()  # gone before the look is baked
    executor = Recording()
    report = render_plan(plan, project_dir, executor)
    graded, plain = report.variants["graded"], report.variants["plain"]
    assert isinstance(graded.error, MissingInputError) and graded.error.exit_code == 66
    assert "variant 'graded'" in str(graded.error) and "ref.mp4" in str(graded.error)
    # the graded segments wait for the look: they never ran
    assert executor.ran(set(plan.variants["graded"].keys)) == []
    assert not (project_dir / "renders" / "graded.mp4").exists()
    assert plain.error is None
    assert frame_codes(Path(str(plain.output))) == expected_frames(cuts["plain"], Fraction(24))


def test_a_variant_whose_work_never_ran_never_completes(project_dir: Path) -> None:
    cuts = {"a": [Shot("s24", 0, 12)], "b": [Shot("s25", 0, 12)]}
    plan = farm.plan(write_project(project_dir, cuts))
    withheld = plan.variants["a"].audio.key  # an executor that loses a unit without a word
    report = render_plan(plan, project_dir, Recording(drop=frozenset({withheld})))
    a, b = report.variants["a"], report.variants["b"]
    assert isinstance(a.error, InternalError) and a.error.exit_code == 70
    assert "never completed" in str(a.error) and "variant 'a'" in str(a.error)
    assert a.output is None and not (project_dir / "renders" / "a.mp4").exists()
    assert b.error is None and frame_codes(Path(str(b.output))) == [(2, i) for i in range(12)]
    assert report.exit_code == 70


# ------------------------------------------------------------------ stitching as variants land


class Announcing(io.StringIO):
    """A progress stream that raises a flag when a given line appears (from any thread)."""

    def __init__(self, needle: str) -> None:
        super().__init__()
        self.needle = needle
        self.seen = threading.Event()
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            if self.needle in text:
                self.seen.set()
            return super().write(text)


class HoldingBack(Recording):
    """Runs every unit but one; that one only once ``release`` is set (or a minute has passed)."""

    def __init__(self, held: str, release: threading.Event, watch: Path) -> None:
        super().__init__()
        self.held, self.release, self.watch = held, release, watch
        self.released_in_time = False
        self.watched_file_existed = False

    def run(self, batch: WorkBatch, on_done: OnDone, skip: SkipQuery) -> None:
        held = tuple(j for j in batch.segments if j.key == self.held)
        assert held, "the unit to hold back is not in the batch"
        super().run(
            replace(batch, segments=tuple(j for j in batch.segments if j.key != self.held)), on_done, skip
        )
        self.released_in_time = self.release.wait(timeout=60)
        self.watched_file_existed = self.watch.is_file()
        super().run(replace(batch, segments=held, audio=(), looks=()), on_done, skip)


def test_each_variant_is_stitched_as_its_last_piece_lands(project_dir: Path) -> None:
    cuts = {"a": [Shot("s24", 0, 24)], "b": [Shot("s25", 0, 50), Shot("s2997", 0, 60)]}
    project = write_project(project_dir, cuts, extra="[render]\nsegment_seconds = 1\n")
    plan = farm.plan(project)
    last_of_b = sorted(set(plan.variants["b"].keys) - set(plan.variants["a"].keys))[0]
    a_out = project_dir / "renders" / "a.mp4"
    log = Announcing(f"a: {a_out} written")
    executor = HoldingBack(last_of_b, log.seen, a_out)
    report = render_plan(plan, project_dir, executor, log)
    # 'a' was written while the last unit of 'b' had not run yet
    assert executor.released_in_time, "variant 'a' was not stitched before the render's last unit"
    assert executor.watched_file_existed
    assert executor.outcomes[-1].key == last_of_b
    for name, items in cuts.items():
        v = report.variants[name]
        assert v.error is None, v.error
        assert frame_codes(Path(str(v.output))) == expected_frames(items, Fraction(24))


# ------------------------------------------------------------------ the GPU tests' helper, on the CPU


@pytest.mark.parametrize("out_fps", ["24", "30000/1001"])
def test_the_gpu_tests_render_helper_is_frame_exact_on_the_cpu(
    project_dir: Path, tmp_path: Path, out_fps
) -> None:
    """tests/gpu renders through ``gpu_helpers.render_variants``; here it runs on the CPU backend."""
    from farm.edit.timing import parse_rate

    gpu_helpers = _gpu_helpers()
    items = [Shot("s24", 5, 30), Gap(7), Shot("s25", 10, 33), Shot("s2997", 3, 40), Shot("s30", 0, 20)]
    project = write_project(
        project_dir, {"cut": items, "short": [Shot("rot", 4, 20)]}, output={"fps": out_fps}
    )
    outputs = gpu_helpers.render_variants(project, "cpu", "cpu", tmp_path)
    assert frame_codes(outputs["cut"]) == expected_frames(items, parse_rate(out_fps))
    assert frame_codes(outputs["short"]) == expected_frames([Shot("rot", 4, 20)], parse_rate(out_fps))


def _gpu_helpers():  # type: ignore[no-untyped-def]
    import importlib.util
    import sys

    if "gpu_helpers" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "gpu_helpers", Path(__file__).parent / "gpu" / "gpu_helpers.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["gpu_helpers"] = module
        spec.loader.exec_module(module)
    return sys.modules["gpu_helpers"]
