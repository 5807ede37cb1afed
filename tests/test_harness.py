"""The harness itself: servers answer on loopback with the advertised credentials, survive a
stop/start on the same port with their data, and missing binaries fail loudly."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
from harness import ports, timing
from harness.minio import MinioServer
from harness.ports import LOOPBACK, free_port, port_open, wait_for_http
from harness.postgres import PostgresServer
from harness.process import await_child
from harness.server import START_ATTEMPTS, LoopbackServer
from harness.tools import MissingToolError, pinned_tools, tool_path
from porto.child_process import ChildServer, spawn


def _psql(
    server: PostgresServer, sql: str, dsn: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(server.bin_dir / "psql"), dsn or server.dsn, "-Atc", sql],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={"PATH": "/usr/bin:/bin"},  # no PGPASSWORD: the DSN alone must authenticate
    )


def test_free_port_is_free() -> None:
    port = free_port()
    assert 1024 <= port < 65536
    assert not port_open(port)


def test_wait_for_http_times_out_on_a_closed_port() -> None:
    """It gives up, saying what it awaited and for how long. (No wall-clock bound on how fast:
    that would be a timing assertion, which fails on a busy machine; a wait that never gave up
    would hang here until pytest-timeout fails the test.)"""
    url = f"http://{LOOPBACK}:{free_port()}/"
    with pytest.raises(TimeoutError, match=f"^{re.escape(f'GET {url}')}: not ready after 0s$"):
        wait_for_http(url, timeout=0.3)


def test_wait_until_with_progress_bounds_silence_not_the_total(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With ``progress`` the timeout restarts at every change: a long wait that keeps moving
    succeeds, one that stalls fails. (A fake clock, one second a reading: no real time.)"""
    clock = itertools.count()
    monkeypatch.setattr(ports, "time", SimpleNamespace(monotonic=lambda: next(clock), sleep=id))
    polls = itertools.count()
    steps = itertools.count()
    ports.wait_until(lambda: next(polls) == 20, 3, "poll 20", progress=lambda: next(steps))
    polls = itertools.count()
    with pytest.raises(TimeoutError, match=r"^stalled: not ready after 3s without progress$"):
        ports.wait_until(lambda: next(polls) == 20, 3, "stalled", progress=lambda: 0)


class _Flaky(LoopbackServer):
    """A server whose every start fails the way ``failure`` says; counts the attempts."""

    def __init__(self, root: Path, failure: Exception) -> None:
        super().__init__(root, "porto-flaky-")
        self.failure, self.attempts = failure, 0

    def _start_once(self, timeout: float) -> None:
        self.attempts += 1

        def wait() -> None:
            raise self.failure

        self._await_ready("flaky", wait, self.root / "flaky.log")


def test_a_start_that_exits_is_retried_one_that_times_out_is_not(tmp_path: Path) -> None:
    exited = _Flaky(tmp_path, RuntimeError("flaky: the server process exited"))
    with pytest.raises(RuntimeError, match="flaky did not start: flaky: the server process"):
        exited.start()
    assert exited.attempts == START_ATTEMPTS  # each on another port: the port may have been taken
    hung = _Flaky(tmp_path, TimeoutError("flaky: not ready after 180s"))
    with pytest.raises(RuntimeError, match="flaky did not start: flaky: not ready after 180s"):
        hung.start()
    assert hung.attempts == 1


def test_an_api_or_ui_that_does_not_get_ready_says_why(tmp_path: Path) -> None:
    """await_child's error names what it awaited and carries the process's log tail."""
    log = tmp_path / "server.log"
    script = "print('boom: PORTO_INFERENCE_WORKERS must be >= 1', flush=True); raise SystemExit(3)"
    process = spawn([sys.executable, "-c", script], env=os.environ, log_file=log)
    server = ChildServer(process, f"http://{LOOPBACK}:{free_port()}")
    with pytest.raises(RuntimeError) as failed:
        await_child(server, log)
    message = str(failed.value)
    assert message.startswith("the server did not get ready: the server exited with code 3\n")
    assert "boom: PORTO_INFERENCE_WORKERS must be >= 1" in message


def test_slow_machine_factor_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for raw, factor in (("2.5", 2.5), ("", 1.0)):
        monkeypatch.setenv(timing.SLOW_MACHINE_ENV, raw)
        assert timing._slow_machine() == factor
    for raw in ("soon", "0"):
        monkeypatch.setenv(timing.SLOW_MACHINE_ENV, raw)
        with pytest.raises(ValueError, match=f"^PORTO_TEST_SLOW_MACHINE must be .*'{raw}'$"):
            timing._slow_machine()


def test_wait_for_http_gives_up_when_the_server_died() -> None:
    with pytest.raises(RuntimeError, match="exited"):
        wait_for_http(f"http://{LOOPBACK}:{free_port()}/", timeout=30, alive=lambda: False)


def test_pins_are_read_from_tools_script() -> None:
    pins = pinned_tools()
    assert pins["minio"].startswith("minio-")
    assert all(out.startswith(f"{name}-") for name, out in pins.items())


def test_missing_binary_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTO_CACHE", str(tmp_path))
    with pytest.raises(MissingToolError, match="make tools"):
        tool_path("minio")
    with pytest.raises(MissingToolError, match="not pinned"):
        tool_path("no-such-tool")


@pytest.mark.integration
def test_minio_serves_s3_with_its_credentials(minio_server: MinioServer) -> None:
    assert minio_server.endpoint.startswith(f"http://{LOOPBACK}:")
    assert minio_server.ready()
    client = boto3.client(
        "s3",
        endpoint_url=minio_server.endpoint,
        aws_access_key_id=minio_server.access_key,
        aws_secret_access_key=minio_server.secret_key,
        region_name="us-east-1",
    )
    client.create_bucket(Bucket="harness-check")
    client.put_object(Bucket="harness-check", Key="k", Body=b"v")
    assert client.get_object(Bucket="harness-check", Key="k")["Body"].read() == b"v"


@pytest.mark.integration
@pytest.mark.parametrize("kill", [False, True])
def test_minio_restarts_on_the_same_port_with_its_data(
    minio_server: MinioServer, kill: bool
) -> None:
    client = boto3.client(
        "s3",
        endpoint_url=minio_server.endpoint,
        aws_access_key_id=minio_server.access_key,
        aws_secret_access_key=minio_server.secret_key,
        region_name="us-east-1",
    )
    bucket = f"restart-{int(kill)}"
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="k", Body=b"kept")
    port = minio_server.port
    minio_server.stop(kill=kill)
    try:
        assert not minio_server.running
        assert not port_open(port)
        assert not minio_server.ready()
    finally:
        minio_server.start()
    assert minio_server.port == port
    assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"kept"


@pytest.mark.integration
def test_postgres_dsn_authenticates_over_tcp(postgres_server: PostgresServer) -> None:
    result = _psql(postgres_server, "select current_user, current_database(), inet_server_addr()")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"porto|porto|{LOOPBACK}"
    wrong = postgres_server.dsn.replace(postgres_server.password, "wrong-password")
    refused = _psql(postgres_server, "select 1", dsn=wrong)
    assert refused.returncode != 0
    assert "password authentication failed" in refused.stderr


@pytest.mark.integration
def test_postgres_runs_unprivileged(postgres_server: PostgresServer) -> None:
    owner = (postgres_server.data_dir / "PG_VERSION").stat().st_uid
    if os.geteuid() == 0:
        assert owner != 0
    assert _psql(postgres_server, "show port").stdout.strip() == str(postgres_server.port)


@pytest.mark.integration
@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_postgres_restarts_on_the_same_port_with_its_data(
    postgres_server: PostgresServer, mode: str
) -> None:
    table = f"kept_{mode}"
    created = _psql(
        postgres_server, f"create table {table} (v int); insert into {table} values (7)"
    )
    assert created.returncode == 0, created.stderr
    port = postgres_server.port
    postgres_server.stop(mode=mode)
    try:
        assert not port_open(port)
        assert _psql(postgres_server, "select 1").returncode != 0
    finally:
        postgres_server.start()
    assert postgres_server.port == port
    assert _psql(postgres_server, f"select v from {table}").stdout.strip() == "7"
