"""Where the segment cache lives: a POSIX folder, or an S3-compatible object store.

``--cache`` takes a folder (``/mnt/farm-cache``, ``file:///mnt/farm-cache``) or
``s3://bucket/prefix``. Any other URL scheme is refused (exit 2) with the list of
schemes farm serves — never a local folder named ``gs:`` by accident.

The object store is reached with boto3, configured the standard way: the
endpoint from ``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_S3``; MinIO, Ceph,
R2...), credentials from ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``,
``AWS_PROFILE``, an instance role or any other source boto3 reads. Writers
upload a segment under a unique object name and then create its metadata
object with a conditional create (``If-None-Match: *``): the metadata is the
commit point, and of two writers racing on one key exactly one commits.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from farm.errors import BackendUnavailableError, FarmError, OutputError, Where

#: the URL schemes ``--cache`` accepts (a plain path is a POSIX folder)
SCHEMES = ("file", "s3")


class CacheLocationError(FarmError, ValueError):
    """``--cache`` names something farm cannot serve (a URL scheme it does not speak)."""

    exit_code = 2


@dataclass(frozen=True)
class StoredObject:
    """One object of a store listing."""

    name: str  # relative to the store's prefix, "/"-separated
    size: int
    mtime: float  # seconds since the epoch


def parse_location(text: str) -> tuple[str, str]:
    """``(scheme, rest)`` of a ``--cache`` value: ``("file", path)`` or ``("s3", "bucket/prefix")``.

    Raises :class:`CacheLocationError` for any other URL scheme.
    """
    parts = urlsplit(text)
    # a Windows drive letter or a bare path has no "//" after the scheme
    if not parts.scheme or "://" not in text:
        return "file", text
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise CacheLocationError(
                f"a file:// cache must be on this machine, not on host {parts.netloc!r}",
                Where(path=text),
            )
        return "file", parts.path
    if scheme == "s3":
        if not parts.netloc:
            raise CacheLocationError("an s3:// cache needs a bucket: s3://BUCKET/PREFIX", Where(path=text))
        return "s3", f"{parts.netloc}/{parts.path.strip('/')}".rstrip("/")
    raise CacheLocationError(
        f"farm cannot keep a cache at a {scheme}:// URL",
        Where(path=text),
        hint="use a folder every node sees, file:///PATH, or s3://BUCKET/PREFIX "
        "(any S3-compatible store through AWS_ENDPOINT_URL)",
    )


def is_object_store(text: str) -> bool:
    """Whether ``--cache`` names an object store (rather than a folder)."""
    return parse_location(text)[0] != "file"


class S3Store:
    """A bucket and prefix of an S3-compatible object store."""

    scheme = "s3"

    def __init__(self, url: str) -> None:
        _, rest = parse_location(url)
        self.url = url.rstrip("/")
        self.bucket, _, prefix = rest.partition("/")
        self.prefix = f"{prefix}/" if prefix else ""
        self._client: Any = None

    def __getstate__(self) -> dict[str, Any]:  # a client is never pickled: each process makes its own
        return {**self.__dict__, "_client": None}

    @property
    def client(self) -> Any:
        if self._client is None:
            try:
                import boto3
                from botocore.config import Config
            except ImportError:
                raise BackendUnavailableError(
                    f"an object-store cache ({self.url}) needs boto3",
                    hint="pip install 'farm[s3]'",
                ) from None
            config = Config(retries={"max_attempts": 5, "mode": "standard"})
            self._client = boto3.client("s3", config=config)
        return self._client

    def _key(self, name: str) -> str:
        return self.prefix + name

    def _error(self, what: str, name: str, exc: Exception) -> OutputError:
        return OutputError(f"cannot {what} the cache object ({exc})", Where(path=f"{self.url}/{name}"))

    def get_bytes(self, name: str) -> bytes | None:
        """The object's content, or None when there is no such object."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(name))
            data: bytes = response["Body"].read()
        except self.client.exceptions.NoSuchKey:
            return None
        except Exception as exc:
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self._error("read", name, exc) from None
        return data

    def put_file(self, name: str, local: Path) -> None:
        try:
            with local.open("rb") as body:
                self.client.put_object(Bucket=self.bucket, Key=self._key(name), Body=body)
        except Exception as exc:
            raise self._error("write", name, exc) from None

    def put_bytes(self, name: str, data: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(name), Body=data)
        except Exception as exc:
            raise self._error("write", name, exc) from None

    def create(self, name: str, data: bytes) -> bool:
        """Create the object unless it exists (a conditional create); False when it already did."""
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(name), Body=data, IfNoneMatch="*")
        except Exception as exc:
            if _code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                return False
            raise self._error("write", name, exc) from None
        return True

    def download(self, name: str, dest: Path) -> None:
        try:
            self.client.download_file(self.bucket, self._key(name), str(dest))
        except Exception as exc:
            raise self._error("download", name, exc) from None

    def delete(self, name: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(name))
        except Exception as exc:
            raise self._error("delete", name, exc) from None

    def list(self, under: str) -> Iterator[StoredObject]:
        """Every object whose name starts with ``under``."""
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._key(under)
            )
            for page in pages:
                for item in page.get("Contents", ()):
                    yield StoredObject(
                        name=item["Key"][len(self.prefix) :],
                        size=int(item["Size"]),
                        mtime=item["LastModified"].timestamp(),
                    )
        except OutputError:
            raise
        except Exception as exc:
            raise self._error("list", under, exc) from None

    def check(self) -> None:
        """Fail now, clearly, if the bucket cannot be reached (rather than in the middle of a render)."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except FarmError:
            raise
        except Exception as exc:
            endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or "AWS"
            raise OutputError(
                f"cannot reach the cache bucket {self.bucket!r} at {endpoint} ({exc})",
                Where(path=self.url),
                hint="set AWS_ENDPOINT_URL and the AWS_* credential variables, and create the bucket",
            ) from None


class PosixStore:
    """A cache folder seen through the same calls as an object store (for leases, listing, gc)."""

    scheme = "file"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = str(root)

    def get_bytes(self, name: str) -> bytes | None:
        try:
            return (self.root / name).read_bytes()
        except OSError:
            return None

    def put_bytes(self, name: str, data: bytes) -> None:
        from farm.output.atomic import atomic_write

        with atomic_write(self.root / name, keep_suffix=True) as tmp:
            tmp.write_bytes(data)

    def create(self, name: str, data: bytes) -> bool:
        """Create the file unless it exists (``O_EXCL``, atomic on local and NFSv3+ folders)."""
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        return True

    def delete(self, name: str) -> None:
        (self.root / name).unlink(missing_ok=True)

    def list(self, under: str) -> Iterator[StoredObject]:
        base = self.root / under
        if not base.is_dir():
            return
        for dirpath, _, files in os.walk(base):
            for file in files:
                path = Path(dirpath) / file
                try:
                    st = path.stat()
                except OSError:  # removed while listing
                    continue
                yield StoredObject(path.relative_to(self.root).as_posix(), st.st_size, st.st_mtime)


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def open_store(url: str) -> S3Store:
    """The object store ``url`` names (``s3://`` is the one farm speaks)."""
    scheme, _ = parse_location(url)
    if scheme != "s3":
        raise CacheLocationError(f"not an object-store URL: {url}", Where(path=url))
    return S3Store(url)
