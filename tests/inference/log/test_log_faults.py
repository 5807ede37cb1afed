"""The prediction log's fault suite, with real servers: gunicorn (two workers) under steady load
while its PostgreSQL is killed (SIGKILL, every process), restarted, or runs out of disk. Each
scenario reports requests failed and rows lost (accepted but never in the table); the goal, with
the outage shorter than the queue's capacity, is 0 and 0."""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from harness.ports import wait_until
from harness.postgres import PostgresServer
from harness.process import is_root
from harness.timing import DEADLINE
from inference.figures import record
from inference.load import Load
from inference.pg import count, reset, sql
from inference.servers import running_server, total
from porto_inference.server import ServerProcess

pytestmark = pytest.mark.integration

#: Enough to see a problem and its recovery without the rows outgrowing the queue.
DURING = 60


@pytest.fixture
def server(home: Path, postgres_server: PostgresServer, tmp_path: Path) -> Iterator[ServerProcess]:
    reset(postgres_server.dsn)
    with running_server(
        home,
        tmp_path,
        database_url=postgres_server.dsn,
        metrics_dir=tmp_path / "metrics",
        log_retry_max_s=0.5,
        db_connect_timeout_s=1,
    ) as running:
        yield running
    if not postgres_server.running:
        postgres_server.start()
    reset(postgres_server.dsn)


def _databases(url: str) -> list[dict[str, Any]]:
    """What /ready says of the database, from as many workers as answer a few calls."""
    seen = []
    for _ in range(4):
        with httpx.Client(timeout=10, headers={"Connection": "close"}) as client:
            seen.append(client.get(url + "/ready").json()["database"])
    return seen


def _down(url: str, words: str = "") -> bool:
    return any(
        d["state"] == "down" and words in (d["error"] or "").lower() for d in _databases(url)
    )


def _settle(load: Load, server: ServerProcess, url: str, scenario: str) -> None:
    """Stop the load, wait until every accepted row is in the table, record the figures."""
    load.stop()
    accepted = sum(1 for o in load.outcomes if o.status == 200)
    failed = len(load.outcomes) - accepted
    wait_until(lambda: count(url) >= accepted, DEADLINE, "every accepted row in PostgreSQL")
    text = httpx.get(server.url + "/metrics").text
    lost = accepted - count(url)
    record(
        scenario,
        requests=len(load.outcomes),
        failed=failed,
        rows_lost=lost,
        dropped=int(total(text, "prediction_log_dropped_total")),
    )
    assert failed == 0, load.failed()[:3]
    assert lost == 0
    assert total(text, "prediction_log_dropped_total") == 0
    assert total(text, "prediction_log_queue_depth") == 0
    assert all(d["state"] == "up" for d in _databases(server.url))


def _kill_everything(postgres: PostgresServer) -> None:
    """SIGKILL the postmaster and every backend at once, as the OOM killer or a node loss would
    (no shutdown, no checkpoint; recovery runs on the next start)."""
    assert postgres._proc is not None
    master = psutil.Process(postgres._proc.pid)
    for proc in [master, *master.children(recursive=True)]:
        proc.send_signal(signal.SIGKILL)
    psutil.wait_procs([master], timeout=30)
    postgres.stop()  # forget the dead process; the port is closed


@pytest.mark.parametrize("how", ["killed", "restarted"])
def test_postgres_outage_under_load(
    how: str,
    server: ServerProcess,
    postgres_server: PostgresServer,
    records: list[dict[str, Any]],
) -> None:
    url = postgres_server.dsn
    with Load(server.url, records) as load:
        load.more(20, "requests before the outage")
        if how == "killed":
            _kill_everything(postgres_server)
        else:
            postgres_server.stop(mode="fast")
        wait_until(lambda: _down(server.url), DEADLINE, "/ready to report the database down")
        load.more(DURING, "requests while PostgreSQL is down")
        postgres_server.start()
        load.more(20, "requests after the restart")
        _settle(load, server, url, f"PostgreSQL {how} under load")


@pytest.fixture
def tiny_tablespace(postgres_server: PostgresServer) -> Iterator[Path]:
    """A 1 MiB tmpfs the server can write, as tablespace ``porto_tiny`` (root only: mount).
    It lives beside the cluster, on a path the server's account can reach."""
    if not is_root():
        pytest.skip("needs root (mounts a tmpfs for a tablespace that can fill up)")
    where = postgres_server.root / "tiny-tablespace"
    where.mkdir(exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(where)], check=True
    )
    try:
        if postgres_server.os_user is not None:
            shutil.chown(where, postgres_server.os_user, postgres_server.os_user)
        sql(postgres_server.dsn, f"CREATE TABLESPACE porto_tiny LOCATION '{where}'")
        yield where
    finally:
        reset(postgres_server.dsn)
        sql(postgres_server.dsn, "DROP TABLESPACE IF EXISTS porto_tiny")
        subprocess.run(["umount", "-l", str(where)], check=False)
        where.rmdir()


#: Every partition of the log onto the tiny tablespace (the parent holds no rows of its own).
MOVE_PARTITIONS_SQL = """
DO $$
DECLARE part regclass;
BEGIN
    FOR part IN
        SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'prediction_log'::regclass
    LOOP
        EXECUTE format('ALTER TABLE %s SET TABLESPACE porto_tiny', part);
    END LOOP;
END
$$
"""


def test_full_disk_under_load(
    server: ServerProcess,
    postgres_server: PostgresServer,
    records: list[dict[str, Any]],
    tiny_tablespace: Path,
) -> None:
    """The log's table fills its disk: requests go on, rows wait in the queue, /ready names the
    problem; once there is room again every row arrives."""
    url = postgres_server.dsn
    with Load(server.url, records) as load:
        load.more(5, "the service to create its tables")
        wait_until(lambda: count(url) > 0, DEADLINE, "the first rows written")
        sql(url, MOVE_PARTITIONS_SQL)
        wait_until(lambda: _down(server.url, "space"), DEADLINE, "/ready to report the full disk")
        load.more(DURING, "requests while the disk is full")
        subprocess.run(["mount", "-o", "remount,size=64m", str(tiny_tablespace)], check=True)
        load.more(20, "requests after the disk has room")
        _settle(load, server, url, "PostgreSQL disk full under load")
