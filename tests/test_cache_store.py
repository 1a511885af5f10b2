"""The segment cache in an S3-compatible object store, served for real on 127.0.0.1 by moto's server.

Workers (Ray tasks) encode to local scratch and upload; the driver stitches
from the store. The outputs are byte-identical to a render with a folder cache,
and a re-run renders nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from coded import SOURCES, Shot, write_project
from media_check import frame_codes

import farm
from farm.execute.ray_executor import RayExecutor
from farm.output.cache import Cache
from farm.output.store import CacheLocationError, parse_location

CUTS = {
    "a": [Shot("s24", 0, 30), Shot("s25", 10, 25)],
    "b": [Shot("s25", 10, 25), Shot("s2997", 0, 20)],
}
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "farm-test", "AWS_SECRET_ACCESS_KEY": "farm-test-secret"}


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    """A real S3-compatible HTTP server on 127.0.0.1 (moto), and its endpoint URL."""
    server_mod = pytest.importorskip("moto.server")
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture()
def s3_env(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The standard AWS variables pointing at the local server, and a fresh bucket."""
    import boto3

    env = {"AWS_ENDPOINT_URL": s3_server, "AWS_DEFAULT_REGION": "us-east-1", **CREDENTIALS}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    boto3.client("s3").create_bucket(Bucket="farm-cache")
    yield env
    client = boto3.client("s3")
    for page in client.get_paginator("list_objects_v2").paginate(Bucket="farm-cache"):
        for item in page.get("Contents", ()):
            client.delete_object(Bucket="farm-cache", Key=item["Key"])
    client.delete_bucket(Bucket="farm-cache")


def _objects(prefix: str) -> dict[str, int]:
    import boto3

    pages = boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket="farm-cache", Prefix=prefix)
    return {o["Key"]: o["Size"] for page in pages for o in page.get("Contents", ())}


def test_unknown_url_schemes_are_refused_with_the_ones_farm_serves(project_dir: Path) -> None:
    assert parse_location("/x/y") == ("file", "/x/y")
    assert parse_location("file:///x/y") == ("file", "/x/y")
    assert parse_location("s3://bucket/some/prefix/") == ("s3", "bucket/some/prefix")
    for url in ("gs://bucket/x", "az://c/x", "http://host/x", "s3:///nobucket"):
        with pytest.raises(CacheLocationError) as err:
            parse_location(url)
        assert err.value.exit_code == 2
    project = write_project(project_dir, {"a": CUTS["a"]})
    for command in ("render", "plan"):
        done = subprocess.run(
            [sys.executable, "-m", "farm", command, str(project), "--cache", "gs://bucket/x"],
            cwd=project_dir,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 2, done.stderr
        assert "gs://" in done.stderr and "s3://BUCKET/PREFIX" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    assert not (project_dir / "gs:").exists(), "a local folder named after the URL scheme was made"


@pytest.mark.usefixtures("ray_session")
def test_an_s3_cache_renders_what_a_folder_cache_renders(
    project_dir: Path, tmp_path: Path, s3_env: dict[str, str]
) -> None:
    project = write_project(project_dir, CUTS)
    posix = farm.render(project, out=tmp_path / "posix", cache=tmp_path / "posix-cache")
    assert all(v.error is None for v in posix.variants.values())

    url = "s3://farm-cache/shows/demo"
    # the Ray workers started before this test: their credentials come with the tasks
    runner = RayExecutor(workers=2, task_env=CREDENTIALS)
    first = farm.render(project, out=tmp_path / "s3", cache=url, executor=runner)
    for name, v in first.variants.items():
        assert v.error is None, v.error
        written = (tmp_path / "s3" / f"{name}.mp4").read_bytes()
        assert written == (tmp_path / "posix" / f"{name}.mp4").read_bytes()
    # shared segments rendered once: one metadata object per distinct key, the media beside it
    jobs = farm.plan(project).jobs
    metas = {k: s for k, s in _objects("shows/demo/segments/").items() if k.endswith(".json")}
    assert len(metas) == len(jobs)
    media = {k: s for k, s in _objects("shows/demo/segments/").items() if k.endswith(".mp4")}
    assert len(media) == len(jobs)
    cache = Cache.open(url, scratch=tmp_path / "scratch")
    for key in jobs:
        meta = cache.segment_meta(key)
        assert meta is not None and meta["frames"] == jobs[key].count
        assert media[f"shows/demo/{meta['object']}"] == meta["bytes"]
    assert sum(v.segments_rendered for v in first.variants.values()) == len(jobs)
    assert frame_codes(tmp_path / "s3" / "a.mp4")[0] == (SOURCES["s24"].source_id, 0)

    # a re-run into a fresh output folder renders nothing: every segment comes from the store
    again = farm.render(project, out=tmp_path / "s3-again", cache=url, executor=RayExecutor(workers=2))
    for name, v in again.variants.items():
        assert v.error is None, v.error
        assert v.segments_rendered == 0
        assert (tmp_path / "s3-again" / f"{name}.mp4").read_bytes() == (
            tmp_path / "posix" / f"{name}.mp4"
        ).read_bytes()

    # farm cache du and gc on the store: gc frees exactly what du counted
    def cache_cli(*args: str) -> dict:
        done = subprocess.run(
            [sys.executable, "-m", "farm", "cache", *args, "--cache", url, "--json"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    stored = sum(_objects("shows/demo/segments/").values())
    assert cache_cli("du") == {"segments": len(jobs), "bytes": stored}
    gc = cache_cli("gc", "--project", str(project))
    assert gc["removed_segments"] == 0  # the project references every segment
    gc = cache_cli("gc", "--max-size", "0")
    assert gc["removed_segments"] == len(jobs) and gc["freed_bytes"] == stored
    assert _objects("shows/demo/segments/") == {}


def test_the_metadata_object_is_the_commit_point_and_created_once(
    tmp_path: Path, s3_env: dict[str, str]
) -> None:
    key = "ab" + "0" * 62
    caches = [Cache.open("s3://farm-cache/race", scratch=tmp_path / f"w{i}").ensure() for i in range(2)]
    assert caches[0].segment_meta(key) is None
    tmps = []
    for i, cache in enumerate(caches):
        tmp = cache.temp_path(cache.segment_path(key))
        tmp.write_bytes(bytes([i]) * (100 + i))
        tmps.append(tmp)
    won = caches[0].commit_segment(key, tmps[0], {"frames": 3, "writer": 0})
    lost = caches[1].commit_segment(key, tmps[1], {"frames": 3, "writer": 1})
    # the second writer found the key committed: the first entry stands and its own upload is gone
    assert won["writer"] == 0 and lost["writer"] == 0
    objects = _objects("race/segments/")
    assert sorted(objects) == sorted([f"race/{won['object']}", f"race/segments/ab/{key}.json"])
    assert json.loads(caches[1].store.get_bytes(Cache.segment_name(key, "json")))["writer"] == 0
    local = caches[1].local_segment(key)
    assert local.read_bytes() == bytes([0]) * 100
    # a metadata object that is not a JSON object counts as absent
    caches[0].store.put_file(Cache.segment_name("cd" + "1" * 62, "json"), _write(tmp_path / "x", b"[1, 2]"))
    assert caches[0].segment_meta("cd" + "1" * 62) is None


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_an_unreachable_bucket_is_an_error_before_anything_renders(
    project_dir: Path, tmp_path: Path, s3_env: dict[str, str]
) -> None:
    project = write_project(project_dir, {"a": CUTS["a"]})
    done = subprocess.run(
        [sys.executable, "-m", "farm", "render", str(project), "--cache", "s3://no-such-bucket/x", "--quiet"],
        cwd=project_dir,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 73, done.stderr
    assert "no-such-bucket" in done.stderr and "Traceback" not in done.stderr
    assert not (project_dir / "renders" / "a.mp4").exists()
