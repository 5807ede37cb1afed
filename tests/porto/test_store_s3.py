"""S3Store against a real MinIO: bucket handling, prefixes, bundles and the registry on S3, and
every way the object store can fail (credentials, unreachable, missing bucket, stopped mid-upload)
turning into one clear StoreError."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from harness.minio import MinioServer
from harness.ports import free_port
from porto.bundle import Manifest, read_file, read_manifest, write_bundle
from porto.errors import IntegrityError, NotFoundError, StoreError
from porto.registry import CHAMPION, LATEST, Registry, list_models
from porto.store import ArtifactStore, S3Options, S3Store

pytestmark = pytest.mark.integration

FILES = {"model.cbm": b"model-bytes", "reference.json": b"{}", "plots/roc.png": b"\x89PNG"}


def _client(minio: MinioServer) -> Any:
    """A raw boto3 client, to look at the bucket behind the store's back."""
    return boto3.client(
        "s3",
        endpoint_url=minio.endpoint,
        aws_access_key_id=minio.access_key,
        aws_secret_access_key=minio.secret_key,
        region_name="us-east-1",
    )


def test_bucket_is_created_on_first_write(
    s3_store: S3Store, minio_server: MinioServer, bucket: str
) -> None:
    client = _client(minio_server)
    assert bucket not in [b["Name"] for b in client.list_buckets()["Buckets"]]
    s3_store.put_bytes("k", b"v")
    assert bucket in [b["Name"] for b in client.list_buckets()["Buckets"]]
    assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"


def test_reading_a_bucket_that_does_not_exist_yet_finds_nothing(s3_store: S3Store) -> None:
    """A reader started before any training run sees an empty registry, not an error."""
    assert s3_store.list_keys("models") == []
    assert list_models(s3_store) == []
    assert not s3_store.exists("models/m/v/manifest.json")


def test_prefix_scopes_keys_within_the_bucket(
    minio_server: MinioServer, s3_options: S3Options, bucket: str
) -> None:
    team_a = S3Store(bucket, "/teams/a/", s3_options)
    team_b = S3Store(bucket, "teams/b", s3_options)
    team_a.put_bytes("models/m/x", b"a")
    team_b.put_bytes("models/m/x", b"b")
    assert team_a.uri == f"s3://{bucket}/teams/a"
    assert team_a.get_bytes("models/m/x") == b"a"
    assert team_a.list_keys("") == ["models/m/x"]
    assert team_a.list_children("models") == ["m"]
    keys = [o["Key"] for o in _client(minio_server).list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(keys) == ["teams/a/models/m/x", "teams/b/models/m/x"]


def test_objects_carry_their_content_type(
    s3_store: S3Store,
    minio_server: MinioServer,
    bucket: str,
    make_manifest: Callable[..., Manifest],
) -> None:
    write_bundle(s3_store, make_manifest("v1"), FILES)
    client = _client(minio_server)
    head = client.head_object(Bucket=bucket, Key="models/porto/v1/manifest.json")
    assert head["ContentType"] == "application/json"
    head = client.head_object(Bucket=bucket, Key="models/porto/v1/plots/roc.png")
    assert head["ContentType"] == "image/png"


def test_bundle_and_registry_round_trip(
    s3_store: S3Store, make_manifest: Callable[..., Manifest]
) -> None:
    registry = Registry(s3_store, "porto")
    first = write_bundle(s3_store, make_manifest("20260101-000000-aaaa"), FILES)
    assert registry.register(first) is True
    second = write_bundle(s3_store, make_manifest("20260102-000000-bbbb"), FILES)
    assert registry.register(second) is False
    assert registry.versions() == [first.version, second.version]
    assert registry.aliases() == {CHAMPION: first.version, LATEST: second.version}
    assert list_models(s3_store) == ["porto"]

    champion = registry.get(CHAMPION)
    assert champion == first
    assert read_file(s3_store, champion, "plots/roc.png") == FILES["plots/roc.png"]

    assert registry.promote(LATEST) == second.version
    registry.delete(first.version)
    assert registry.versions() == [second.version]
    assert s3_store.list_keys(f"models/porto/{first.version}") == []


def test_tampered_object_on_s3_is_an_integrity_error(
    s3_store: S3Store,
    minio_server: MinioServer,
    bucket: str,
    make_manifest: Callable[..., Manifest],
) -> None:
    manifest = write_bundle(s3_store, make_manifest("v1"), FILES)
    _client(minio_server).put_object(
        Bucket=bucket, Key="models/porto/v1/model.cbm", Body=b"evil-bytes!"
    )
    with pytest.raises(IntegrityError, match="checksum mismatch"):
        read_file(s3_store, manifest, "model.cbm")


@pytest.mark.parametrize("field", ["secret_key", "access_key"])
def test_bad_credentials_are_named(s3_options: S3Options, bucket: str, field: str) -> None:
    opts = dataclasses.replace(s3_options)
    setattr(opts, field, "not-the-right-one")
    store = S3Store(bucket, "", opts)
    operations: list[Callable[[], object]] = [
        store.check,
        lambda: store.put_bytes("k", b"1"),
        lambda: store.get_bytes("k"),
        lambda: store.exists("k"),
        lambda: store.list_keys(""),
        lambda: Registry(store, "porto").versions(),
    ]
    for operation in operations:
        with pytest.raises(StoreError, match="credentials"):
            operation()


def test_unreachable_endpoint_is_a_store_error(s3_options: S3Options, bucket: str) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    store = S3Store(bucket, "", dataclasses.replace(s3_options, endpoint_url=closed))
    for operation in (store.check, lambda: store.get_bytes("k"), lambda: store.list_keys("")):
        with pytest.raises(StoreError, match=f"cannot reach S3 endpoint {closed}"):
            operation()
    with pytest.raises(StoreError, match="cannot reach"):
        Registry(store, "porto").resolve(CHAMPION)


def test_missing_bucket_is_an_error_when_creation_is_off(
    s3_options: S3Options, bucket: str, make_manifest: Callable[..., Manifest]
) -> None:
    store = S3Store(bucket, "", dataclasses.replace(s3_options, create_bucket=False))
    with pytest.raises(StoreError, match=f"bucket '{bucket}' does not exist"):
        store.check()
    with pytest.raises(StoreError, match="does not exist"):
        store.put_bytes("k", b"1")
    with pytest.raises(StoreError, match="does not exist"):
        store.get_bytes("k")
    with pytest.raises(StoreError, match="does not exist"):
        write_bundle(store, make_manifest("v1"), FILES)
    # A misconfigured bucket must not look like an empty registry.
    with pytest.raises(StoreError, match="does not exist"):
        Registry(store, "porto").versions()


class StopAfterPuts(ArtifactStore):
    """Delegates to a store and stops MinIO right after the n-th successful put."""

    def __init__(self, inner: ArtifactStore, minio: MinioServer, after: int) -> None:
        self.inner, self.minio, self.after = inner, minio, after
        self.uri = inner.uri
        self.puts = 0

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        self.inner.put_bytes(key, data, content_type)
        self.puts += 1
        if self.puts == self.after:
            self.minio.stop()

    def get_bytes(self, key: str) -> bytes:
        return self.inner.get_bytes(key)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def list_keys(self, prefix: str) -> list[str]:
        return self.inner.list_keys(prefix)

    def list_children(self, prefix: str) -> list[str]:
        return self.inner.list_children(prefix)

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def check(self) -> None:
        self.inner.check()


def test_minio_stopped_mid_upload_leaves_no_visible_version(
    s3_store: S3Store, minio_server: MinioServer, make_manifest: Callable[..., Manifest]
) -> None:
    registry = Registry(s3_store, "porto")
    published = write_bundle(s3_store, make_manifest("v0"), FILES)
    registry.register(published)
    flaky = StopAfterPuts(s3_store, minio_server, after=2)
    try:
        with pytest.raises(StoreError, match="cannot reach"):
            write_bundle(flaky, make_manifest("v1"), FILES)
        assert flaky.puts == 2
    finally:
        minio_server.start()
    # The two uploaded files are still there (cleanup could not reach MinIO either) ...
    assert len(s3_store.list_keys("models/porto/v1")) == 2
    # ... but without a manifest the version does not exist for any reader.
    assert registry.versions() == [published.version]
    assert registry.resolve(LATEST) == published.version
    with pytest.raises(NotFoundError):
        read_manifest(s3_store, "porto", "v1")
    with pytest.raises(NotFoundError):
        registry.resolve("v1")
    # The same version can be uploaded again once MinIO is back.
    again = write_bundle(s3_store, make_manifest("v1"), FILES)
    assert registry.versions() == ["v0", "v1"]
    assert read_file(s3_store, again, "model.cbm") == FILES["model.cbm"]


def test_the_same_client_works_again_after_a_restart(
    s3_store: S3Store, minio_server: MinioServer
) -> None:
    """The inference service keeps its store across an object-store outage."""
    s3_store.put_bytes("k", b"before")
    minio_server.stop()
    try:
        with pytest.raises(StoreError, match="cannot reach"):
            s3_store.get_bytes("k")
    finally:
        minio_server.start()
    assert s3_store.get_bytes("k") == b"before"


def test_options_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTO_S3_ENDPOINT_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("PORTO_S3_ACCESS_KEY", "ak")
    monkeypatch.setenv("PORTO_S3_SECRET_KEY", "sk")
    monkeypatch.setenv("PORTO_S3_REGION", "eu-west-1")
    monkeypatch.setenv("PORTO_S3_CREATE_BUCKET", "false")
    opts = S3Options.from_env()
    assert (opts.endpoint_url, opts.access_key, opts.secret_key) == (
        "http://127.0.0.1:9000",
        "ak",
        "sk",
    )
    assert (opts.region, opts.create_bucket) == ("eu-west-1", False)
    monkeypatch.setenv("PORTO_S3_CREATE_BUCKET", "yes")
    monkeypatch.setenv("PORTO_S3_ENDPOINT_URL", "")
    opts = S3Options.from_env()
    assert opts.create_bucket is True
    assert opts.endpoint_url is None


def test_a_failed_multipart_upload_is_aborted(s3_store: S3Store) -> None:
    """A streamed upload that fails after its first 16 MiB part leaves no object and no
    incomplete upload holding parts in the bucket."""
    from porto.store import S3_PART_BYTES

    with pytest.raises(RuntimeError, match="killed"), s3_store.upload("day/part.bin") as up:
        up.write(b"x" * (S3_PART_BYTES + 1))
        raise RuntimeError("killed")
    assert not s3_store.exists("day/part.bin")
    uploads = s3_store._client.list_multipart_uploads(Bucket=s3_store.bucket)
    assert uploads.get("Uploads", []) == []
