"""porto-postgres (deploy/images/postgres), run by a real Docker engine as the chart runs it:
read-only root filesystem, uid 999, no capabilities. The official image's environment contract
(user, password, database, init scripts once), password authentication over TCP, a clear error
without a password, data kept across restarts, and a fast clean stop on SIGTERM."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from harness.containers import Container, Containers
from harness.docker import DockerEngine
from images.conftest import ServiceImages

pytestmark = [pytest.mark.slow, pytest.mark.integration]

UID = "999:999"
USER, PASSWORD, DATABASE = "porto", "porto-test-password", "portodb"
ENV = {"POSTGRES_USER": USER, "POSTGRES_PASSWORD": PASSWORD, "POSTGRES_DB": DATABASE}
#: Logged once per run of each init script (the entrypoint's own line).
RAN_SQL = "running /docker-entrypoint-initdb.d/01-schema.sql"
RAN_SH = "running /docker-entrypoint-initdb.d/03-seed.sh"
READY = "database system is ready to accept connections"
SHUT_DOWN = "database system is shut down"


def init_scripts(root: Path) -> Path:
    """An initdb.d directory: SQL, gzipped SQL and an executable shell script, each adding a
    row, so the rows say which ran and how often."""
    initdb = root / "initdb.d"
    initdb.mkdir()
    (initdb / "01-schema.sql").write_text(
        "CREATE TABLE seeds (source text);\nINSERT INTO seeds VALUES ('sql');\n"
    )
    (initdb / "02-more.sql.gz").write_bytes(
        gzip.compress(b"INSERT INTO seeds VALUES ('sql.gz');\n")
    )
    script = initdb / "03-seed.sh"
    script.write_text(
        "#!/bin/bash\nset -eu\n"
        'psql -v ON_ERROR_STOP=1 --dbname "$POSTGRES_DB" -c "INSERT INTO seeds VALUES (\'sh\')"\n'
    )
    for path in (initdb, *initdb.iterdir()):
        path.chmod(0o755)
    return initdb


def start_postgres(
    box: Containers, image: str, initdb: Path | None = None, **env: str
) -> Container:
    mounts = (f"type=bind,src={initdb},dst=/docker-entrypoint-initdb.d,readonly",) if initdb else ()
    return box.run(image, user=UID, env={**ENV, **env}, mounts=mounts)


def wait_serving(pg: Container, starts: int = 1) -> None:
    """Wait for the server that listens on TCP: after a first init, the second READY line."""
    pg.wait_log("listening on IPv4 address", count=starts)
    pg.wait_log(READY, count=starts + (1 if "initialisation done" in pg.logs() else 0))


def query(pg: Container, sql: str, *, password: str = PASSWORD) -> list[asyncpg.Record]:
    """Run ``sql`` over TCP with password authentication."""

    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(
            host=pg.ip, port=5432, user=USER, password=password, database=DATABASE, timeout=10
        )
        try:
            return list(await conn.fetch(sql))
        finally:
            await conn.close()

    return asyncio.run(run())


@pytest.fixture(scope="module")
def postgres(
    docker_engine: DockerEngine,
    service_images: ServiceImages,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Container]:
    """One initialised server, PGDATA a subdirectory of its volume as the chart sets it."""
    box = Containers(docker_engine)
    try:
        initdb = init_scripts(tmp_path_factory.mktemp("postgres"))
        pg = start_postgres(
            box, service_images.postgres, initdb, PGDATA="/var/lib/postgresql/data/pgdata"
        )
        wait_serving(pg)
        yield pg
    finally:
        box.close()


def test_creates_the_user_and_database_and_runs_every_init_script(postgres: Container) -> None:
    (row,) = query(postgres, "SELECT current_user, current_database(), version()")
    assert (row[0], row[1]) == (USER, DATABASE)
    assert "PostgreSQL 15." in row[2] and "Debian" in row[2]
    rows = query(postgres, "SELECT source FROM seeds ORDER BY source")
    assert [r["source"] for r in rows] == ["sh", "sql", "sql.gz"]
    (super_,) = query(postgres, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    assert super_["rolsuper"] is True


def test_tcp_needs_the_password_scram(postgres: Container) -> None:
    with pytest.raises(asyncpg.InvalidPasswordError):
        query(postgres, "SELECT 1", password="not-the-password")
    (row,) = query(postgres, f"SELECT rolpassword FROM pg_authid WHERE rolname = '{USER}'")
    assert row["rolpassword"].startswith("SCRAM-SHA-256$")


def test_runs_as_uid_999_writing_only_its_volumes(postgres: Container) -> None:
    config = postgres.inspect()["Config"]
    assert config["User"] == UID
    assert set(config["Volumes"]) == {"/var/lib/postgresql/data", "/var/run/postgresql", "/tmp"}
    assert postgres.exec("id", "-u") == (0, "999\n")
    # The server itself (postmaster.pid's first line), not only `docker exec`'s shell.
    pid_file = "/var/lib/postgresql/data/pgdata/postmaster.pid"
    status, out = postgres.exec("sh", "-c", f'stat -c %u "/proc/$(head -n1 {pid_file})"')
    assert (status, out.strip()) == (0, "999")
    status, out = postgres.exec("touch", "/var/lib/postgresql/probe")
    assert status != 0 and "Read-only file system" in out


def test_a_missing_password_stops_the_first_start_with_a_clear_error(
    service_images: ServiceImages, containers: Containers
) -> None:
    pg = containers.run(service_images.postgres, user=UID, env={"POSTGRES_USER": USER})
    assert pg.wait_exit() != 0
    assert "POSTGRES_PASSWORD is not set" in pg.logs()
    assert "POSTGRES_HOST_AUTH_METHOD=trust" in pg.logs()


def test_a_restart_keeps_the_data_and_runs_no_init_script_again_and_stop_is_clean(
    service_images: ServiceImages, containers: Containers, tmp_path: Path
) -> None:
    pg = start_postgres(containers, service_images.postgres, init_scripts(tmp_path))
    wait_serving(pg)
    query(pg, "INSERT INTO seeds VALUES ('client')")

    containers.engine.docker("restart", pg.id)
    wait_serving(pg, starts=2)
    rows = query(pg, "SELECT source FROM seeds ORDER BY source")
    assert [r["source"] for r in rows] == ["client", "sh", "sql", "sql.gz"]
    logs = pg.logs()
    assert logs.count(RAN_SQL) == 1 and logs.count(RAN_SH) == 1
    assert "holds a database (PostgreSQL 15): no initialisation" in logs

    containers.engine.docker("stop", pg.id)
    assert pg.wait_exit() == 0
    assert pg.logs().rstrip().endswith(SHUT_DOWN), pg.logs()[-2000:]


def test_sigterm_is_a_fast_shutdown_even_with_clients_connected(
    service_images: ServiceImages, containers: Containers
) -> None:
    """PostgreSQL's own SIGTERM waits for every client to leave (a pool never does): the
    entrypoint makes it the fast shutdown Kubernetes' grace period needs."""
    pg = start_postgres(containers, service_images.postgres)
    wait_serving(pg)

    async def hold_a_connection_through_sigterm() -> int:
        conn = await asyncpg.connect(
            host=pg.ip, port=5432, user=USER, password=PASSWORD, database=DATABASE, timeout=10
        )
        try:
            containers.engine.docker("kill", "--signal", "TERM", pg.id)
            return await asyncio.to_thread(pg.wait_exit)
        finally:
            conn.terminate()

    assert asyncio.run(hold_a_connection_through_sigterm()) == 0
    logs = pg.logs()
    assert "received fast shutdown request" in logs
    assert logs.rstrip().endswith(SHUT_DOWN), logs[-2000:]
