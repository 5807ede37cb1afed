"""Artifact stores: a local directory (``file://``) or an S3-compatible bucket (``s3://``).

Keys are '/'-separated paths relative to the store root. Both stores make a single object write
atomic (a reader sees the old object, the new one, or none), which the bundle format relies on:
a version's ``manifest.json`` is written last and is what makes the version exist. The same holds
for an object streamed with :meth:`ArtifactStore.upload` (a temporary file renamed into place, an
S3 multipart upload completed only at the end), which keeps a large object out of memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from porto.errors import ConfigError, NotFoundError, StoreError

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client


class Upload(ABC):
    """An object being written piece by piece (:meth:`ArtifactStore.upload`)."""

    @abstractmethod
    def write(self, data: bytes) -> int:
        """Append ``data``; return its length."""


class _BufferedUpload(Upload):
    def __init__(self) -> None:
        self.buffer = io.BytesIO()

    def write(self, data: bytes) -> int:
        return self.buffer.write(data)


class ArtifactStore(ABC):
    """Byte objects under string keys."""

    uri: str

    @contextmanager
    def upload(self, key: str, content_type: str | None = None) -> Iterator[Upload]:
        """Write the object at ``key`` in pieces: it appears, whole, when the block ends without
        an exception and not at all otherwise (an object already there stays until then).

        This default keeps the pieces in memory; both stores below stream them instead.
        """
        pending = _BufferedUpload()
        yield pending
        self.put_bytes(key, pending.buffer.getvalue(), content_type)

    @abstractmethod
    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """Store ``data`` under ``key``, replacing any object there."""

    @abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """Return the object at ``key``; NotFoundError if there is none."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether an object is stored at ``key``."""

    @abstractmethod
    def list_keys(self, prefix: str) -> list[str]:
        """Return every key under ``prefix`` (recursive), sorted."""

    @abstractmethod
    def list_children(self, prefix: str) -> list[str]:
        """Return the names directly below ``prefix`` (like ``ls``), sorted."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object at ``key`` if present."""

    def delete_prefix(self, prefix: str) -> int:
        """Remove every object under ``prefix``; return how many were removed."""
        keys = self.list_keys(prefix)
        for key in keys:
            self.delete(key)
        return len(keys)

    def check(self) -> None:  # noqa: B027 - optional hook, a no-op for stores that need none
        """Raise StoreError unless the store can be read (and created if it is new)."""

    def stamp(self, prefix: str) -> str:
        """A short string that changes whenever an object under ``prefix`` is written, replaced
        or removed: what tells a reader that a bundle it refused may have been repaired.

        This default hashes every object; the stores below use one listing (sizes, times and
        ETags) instead of reading the contents.
        """
        digest = hashlib.sha256()
        for key in self.list_keys(prefix):
            digest.update(f"{key}\0{hashlib.sha256(self.get_bytes(key)).hexdigest()}\0".encode())
        return digest.hexdigest()[:32]


def _clean_key(key: str) -> str:
    parts = [p for p in key.strip("/").split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise ConfigError(f"invalid artifact key {key!r}")
    return "/".join(parts)


def _is_temp_file(name: str) -> bool:
    """Whether ``name`` is an in-flight write of FileStore (``.<name>.<random>.tmp``)."""
    return name.startswith(".") and name.endswith(".tmp")


class FileStore(ArtifactStore):
    """A directory on the local file system."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.uri = f"file://{self.root}"

    def _path(self, key: str) -> Path:
        return self.root / _clean_key(key)

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        path = self._path(key)
        tmp: Path | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            tmp = Path(name)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            tmp.replace(path)
        except OSError as exc:
            # A failed write must not leave its half-written temp file behind.
            if tmp is not None:
                tmp.unlink(missing_ok=True)
            raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from exc

    @contextmanager
    def upload(self, key: str, content_type: str | None = None) -> Iterator[Upload]:
        """Stream into a hidden temporary file beside the target, fsync it and rename it into
        place (a crash leaves at most that ``.<name>.<random>.tmp`` file, which listings skip)."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        except OSError as exc:
            raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from exc
        tmp = Path(name)
        try:
            with os.fdopen(fd, "wb") as fh:
                yield _FileUpload(fh, path)
                try:
                    fh.flush()
                    os.fsync(fh.fileno())
                    tmp.replace(path)
                except OSError as exc:
                    raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)

    def get_bytes(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise NotFoundError(f"no artifact at {self.uri}/{_clean_key(key)}") from exc
        except OSError as exc:
            raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list_keys(self, prefix: str) -> list[str]:
        base = self.root / prefix.strip("/") if prefix.strip("/") else self.root
        if not base.is_dir():
            return []
        return sorted(
            p.relative_to(self.root).as_posix()
            for p in base.rglob("*")
            if p.is_file() and not _is_temp_file(p.name)
        )

    def list_children(self, prefix: str) -> list[str]:
        base = self.root / prefix.strip("/") if prefix.strip("/") else self.root
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if not p.name.startswith("."))

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> int:
        count = super().delete_prefix(prefix)
        base = self.root / _clean_key(prefix)
        if base.is_dir():
            shutil.rmtree(base, ignore_errors=True)
        return count

    def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create artifact directory {self.root}: {exc}") from exc
        if not os.access(self.root, os.W_OK):
            raise StoreError(f"artifact directory {self.root} is not writable")

    def stamp(self, prefix: str) -> str:
        """Hash of each file's name, size, inode and modification/change times (no reads)."""
        digest = hashlib.sha256()
        base = self.root / prefix.strip("/") if prefix.strip("/") else self.root
        try:
            paths = sorted(p for p in base.rglob("*") if not _is_temp_file(p.name))
            for path in paths:
                if path.is_file():
                    st = path.stat()
                    rel = path.relative_to(self.root).as_posix()
                    line = f"{rel}\0{st.st_size}\0{st.st_ino}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0"
                    digest.update(line.encode())
        except FileNotFoundError:
            pass  # a file removed while listing: the stamp differs either way
        except OSError as exc:
            raise StoreError(f"cannot list {base}: {exc.strerror or exc}") from exc
        return digest.hexdigest()[:32]


class _FileUpload(Upload):
    def __init__(self, fh: Any, path: Path) -> None:
        self.fh = fh
        self.path = path

    def write(self, data: bytes) -> int:
        try:
            written: int = self.fh.write(data)
        except OSError as exc:
            raise StoreError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
        return written


#: Part size of a streamed S3 upload (S3's minimum is 5 MiB for every part but the last).
S3_PART_BYTES = 16 * 1024 * 1024


class _S3Upload(Upload):
    """Buffers one part at a time; the multipart upload starts with the first full part, so a
    small object is one PUT."""

    def __init__(self, store: S3Store, key: str, content_type: str | None) -> None:
        self.store = store
        self.key = key
        self.content_type = content_type or "application/octet-stream"
        self.buffer = bytearray()
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []

    def write(self, data: bytes) -> int:
        self.buffer += data
        while len(self.buffer) >= S3_PART_BYTES:
            self._send_part(bytes(self.buffer[:S3_PART_BYTES]))
            del self.buffer[:S3_PART_BYTES]
        return len(data)

    def _send_part(self, data: bytes) -> None:
        client = self.store._client
        full = self.store._key(self.key)
        if self.upload_id is None:
            self.upload_id = client.create_multipart_upload(
                Bucket=self.store.bucket, Key=full, ContentType=self.content_type
            )["UploadId"]
        number = len(self.parts) + 1
        answer = client.upload_part(
            Bucket=self.store.bucket,
            Key=full,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=data,
        )
        self.parts.append({"ETag": answer["ETag"], "PartNumber": number})

    def complete(self) -> None:
        if self.upload_id is None:
            self.store._client.put_object(
                Bucket=self.store.bucket,
                Key=self.store._key(self.key),
                Body=bytes(self.buffer),
                ContentType=self.content_type,
            )
            return
        if self.buffer:
            self._send_part(bytes(self.buffer))
            self.buffer.clear()
        self.store._client.complete_multipart_upload(
            Bucket=self.store.bucket,
            Key=self.store._key(self.key),
            UploadId=self.upload_id,
            MultipartUpload={"Parts": self.parts},  # type: ignore[typeddict-item]
        )

    def abort(self) -> None:
        if self.upload_id is not None:
            self.store._client.abort_multipart_upload(
                Bucket=self.store.bucket, Key=self.store._key(self.key), UploadId=self.upload_id
            )


@dataclass
class S3Options:
    """How to reach an S3-compatible service; unset fields fall back to boto3's own lookup
    (``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL``, config files)."""

    endpoint_url: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    region: str = "us-east-1"
    create_bucket: bool = True
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_attempts: int = 3
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> S3Options:
        """Read ``PORTO_S3_ENDPOINT_URL``, ``PORTO_S3_ACCESS_KEY``, ``PORTO_S3_SECRET_KEY``,
        ``PORTO_S3_REGION`` and ``PORTO_S3_CREATE_BUCKET``."""
        env = os.environ
        return cls(
            endpoint_url=env.get("PORTO_S3_ENDPOINT_URL") or None,
            access_key=env.get("PORTO_S3_ACCESS_KEY") or None,
            secret_key=env.get("PORTO_S3_SECRET_KEY") or None,
            region=env.get("PORTO_S3_REGION", "us-east-1"),
            create_bucket=env.get("PORTO_S3_CREATE_BUCKET", "true").lower()
            not in ("0", "false", "no"),
        )


class S3Store(ArtifactStore):
    """A bucket (and optional key prefix) on an S3-compatible service such as MinIO."""

    def __init__(self, bucket: str, prefix: str = "", options: S3Options | None = None) -> None:
        import boto3
        from botocore.config import Config

        self.options = options or S3Options.from_env()
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.uri = f"s3://{bucket}/{self.prefix}".rstrip("/")
        opts = self.options
        self._client: S3Client = boto3.client(
            "s3",
            endpoint_url=opts.endpoint_url,
            aws_access_key_id=opts.access_key,
            aws_secret_access_key=opts.secret_key,
            region_name=opts.region,
            config=Config(
                connect_timeout=opts.connect_timeout,
                read_timeout=opts.read_timeout,
                retries={"max_attempts": opts.max_attempts, "mode": "standard"},
                s3={"addressing_style": "path"},
                signature_version="s3v4",
            ),
        )
        self._checked = False

    def _key(self, key: str) -> str:
        key = _clean_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _prefix(self, prefix: str) -> str:
        p = prefix.strip("/")
        full = f"{self.prefix}/{p}" if self.prefix and p else (self.prefix or p)
        return f"{full}/" if full else ""

    def _where(self) -> str:
        return f"{self.uri} at {self.options.endpoint_url or 'the default AWS endpoint'}"

    def _error(self, exc: Exception, action: str) -> StoreError | NotFoundError:
        """Turn a boto error into one clear line."""
        from botocore.exceptions import (
            ClientError,
            EndpointConnectionError,
            NoCredentialsError,
        )

        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchKey", "404", "NotFound"):
                return NotFoundError(f"no artifact for {action} in {self.uri}")
            if code == "NoSuchBucket":
                return StoreError(f"bucket {self.bucket!r} does not exist ({self._where()})")
            if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken"):
                return StoreError(f"S3 rejected the credentials ({code}) for {self._where()}")
            if code in ("AccessDenied", "403", "Forbidden"):
                # HEAD answers carry no error code, so a bad key looks like any other 403.
                return StoreError(
                    f"access denied to {action} in {self._where()}: check the credentials and "
                    "the bucket policy"
                )
            return StoreError(f"S3 error {code} while trying to {action} in {self._where()}")
        if isinstance(exc, NoCredentialsError):
            return StoreError(
                f"no S3 credentials for {self._where()}: set PORTO_S3_ACCESS_KEY and "
                "PORTO_S3_SECRET_KEY (or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)"
            )
        if isinstance(exc, EndpointConnectionError):
            return StoreError(f"cannot reach S3 endpoint {self.options.endpoint_url or 'AWS'}")
        return StoreError(f"S3 failure while trying to {action} in {self._where()}: {exc}")

    def check(self) -> None:
        """Make sure the bucket exists, creating it when allowed; raise one clear StoreError."""
        from botocore.exceptions import BotoCoreError, ClientError

        if self._checked:
            return
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code not in ("404", "NoSuchBucket", "NotFound"):
                if code in ("403", "Forbidden", "AccessDenied"):
                    raise StoreError(
                        f"access denied to bucket {self.bucket!r} ({self._where()}): "
                        "check the credentials and the bucket policy"
                    ) from exc
                raise self._error(exc, "open the bucket") from exc
            if not self.options.create_bucket:
                raise StoreError(
                    f"bucket {self.bucket!r} does not exist ({self._where()})"
                ) from exc
            try:
                self._client.create_bucket(Bucket=self.bucket)
            except ClientError as cexc:
                ccode = str(cexc.response.get("Error", {}).get("Code", ""))
                if ccode in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    pass
                else:
                    raise StoreError(
                        f"bucket {self.bucket!r} is missing and could not be created ({ccode}) "
                        f"at {self.options.endpoint_url or 'AWS'}"
                    ) from cexc
            except BotoCoreError as cexc:
                raise self._error(cexc, "create the bucket") from cexc
        except BotoCoreError as exc:
            raise self._error(exc, "open the bucket") from exc
        self._checked = True

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        self.check()
        try:
            self._client.put_object(
                Bucket=self.bucket,
                Key=self._key(key),
                Body=data,
                ContentType=content_type or "application/octet-stream",
            )
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, f"write {key}") from exc

    @contextmanager
    def upload(self, key: str, content_type: str | None = None) -> Iterator[Upload]:
        """Stream as a multipart upload in parts of :data:`S3_PART_BYTES`, completed at the end
        (S3 shows the object only then) and aborted on any failure. A process killed mid-way
        leaves an invisible incomplete upload: a bucket lifecycle rule
        (AbortIncompleteMultipartUpload) reclaims its parts."""
        from botocore.exceptions import BotoCoreError, ClientError

        self.check()
        pending = _S3Upload(self, key, content_type)
        try:
            yield pending
            pending.complete()
        except (BotoCoreError, ClientError) as exc:
            self._abort_quietly(pending)
            raise self._error(exc, f"write {key}") from exc
        except BaseException:
            self._abort_quietly(pending)
            raise

    def _abort_quietly(self, pending: _S3Upload) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        # The endpoint may be gone: then a lifecycle rule reclaims the parts.
        with contextlib.suppress(BotoCoreError, ClientError):
            pending.abort()

    def get_bytes(self, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            obj = self._client.get_object(Bucket=self.bucket, Key=self._key(key))
            return obj["Body"].read()
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, f"read {key}") from exc

    def exists(self, key: str) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except ClientError as exc:
            err = self._error(exc, f"look up {key}")
            if isinstance(err, NotFoundError):
                return False
            raise err from exc
        except BotoCoreError as exc:
            raise self._error(exc, f"look up {key}") from exc

    def _list(self, prefix: str, delimiter: str | None) -> tuple[list[str], list[str]]:
        from botocore.exceptions import BotoCoreError, ClientError

        keys: list[str] = []
        dirs: list[str] = []
        full = self._prefix(prefix)
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": full}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        try:
            for page in self._client.get_paginator("list_objects_v2").paginate(**kwargs):
                keys.extend(o["Key"] for o in page.get("Contents", []))
                dirs.extend(p["Prefix"] for p in page.get("CommonPrefixes", []))
        except ClientError as exc:
            err = self._error(exc, f"list {prefix or '/'}")
            if "does not exist" in err.message and self.options.create_bucket:
                # A bucket that the first write will create holds nothing yet.
                return [], []
            raise err from exc
        except BotoCoreError as exc:
            raise self._error(exc, f"list {prefix or '/'}") from exc
        strip = len(self._prefix(""))
        return [k[strip:] for k in keys], [d[len(full) :].rstrip("/") for d in dirs]

    def list_keys(self, prefix: str) -> list[str]:
        return sorted(self._list(prefix, None)[0])

    def stamp(self, prefix: str) -> str:
        """Hash of each object's key, size, ETag and modification time: one listing."""
        from botocore.exceptions import BotoCoreError, ClientError

        digest = hashlib.sha256()
        rows: list[str] = []
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._prefix(prefix)
            )
            for page in pages:
                for obj in page.get("Contents", []):
                    modified = obj.get("LastModified")
                    when = modified.isoformat() if modified is not None else ""
                    rows.append(f"{obj['Key']}\0{obj.get('Size')}\0{obj.get('ETag')}\0{when}\0")
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, f"list {prefix or '/'}") from exc
        for row in sorted(rows):
            digest.update(row.encode())
        return digest.hexdigest()[:32]

    def list_children(self, prefix: str) -> list[str]:
        keys, dirs = self._list(prefix, "/")
        strip = len(prefix.strip("/")) + 1 if prefix.strip("/") else 0
        return sorted({*dirs, *(k[strip:] for k in keys)})

    def delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, f"delete {key}") from exc


def open_store(uri: str, options: S3Options | None = None) -> ArtifactStore:
    """Return the store for ``uri``: ``s3://bucket[/prefix]``, ``file:///dir`` or a plain path."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ConfigError(f"S3 URI {uri!r} names no bucket")
        return S3Store(parsed.netloc, parsed.path, options)
    if parsed.scheme == "file":
        return FileStore(parsed.path)
    if parsed.scheme in ("",) or (len(parsed.scheme) == 1 and os.name == "nt"):
        return FileStore(uri)
    raise ConfigError(f"unsupported artifact store URI {uri!r} (use file:// or s3://)")


def split_s3_uri(uri: str) -> tuple[str, str]:
    """Return (bucket, key) of ``s3://bucket/key``."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc or not parsed.path.strip("/"):
        raise ConfigError(f"expected s3://bucket/key, got {uri!r}")
    return parsed.netloc, parsed.path.lstrip("/")
