"""Session fixtures shared by every test folder: one Postgres, one SparkSession.

Postgres is the embedded server in a temporary ZLURI_HOME (or ``ZLURI_TEST_DATABASE_URL`` if set,
e.g. a CI service). The schema is migrated once into a template database; each test that asks for
``db_url`` gets a fresh database cloned from it, so tests never see each other's rows.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

# What the edge (zluri_flows.config.apply_process_defaults) sets for a run: the libraries under test
# read these from the environment only.
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
# Records are cut and loaded by Python on the executors: the interpreter running the tests.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

TEMPLATE_DB = "zluri_test_template"


def _with_database(url: str, dbname: str) -> str:
    return psycopg.conninfo.make_conninfo(url, dbname=dbname)


@pytest.fixture(scope="session")
def zluri_home() -> Iterator[Path]:
    # Outside pytest's basetemp: a concurrent pytest session re-tightens that folder to 0700, which
    # would lock the embedded server (running as its own system user when we are root) out of it.
    home = Path(tempfile.mkdtemp(prefix="zluri-test-home-"))
    previous = os.environ.get("ZLURI_HOME")
    os.environ["ZLURI_HOME"] = str(home)
    yield home
    if previous is None:
        os.environ.pop("ZLURI_HOME", None)
    else:
        os.environ["ZLURI_HOME"] = previous
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server_url(zluri_home: Path) -> Iterator[str]:
    """URL of the test server's maintenance database."""
    configured = os.environ.get("ZLURI_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    from zluri_pg import embedded

    server = embedded.ensure_running(zluri_home)
    yield server.url
    embedded.stop(zluri_home)


@pytest.fixture(scope="session")
def template_url(pg_server_url: str) -> str:
    from zluri_pg import migrate

    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f"drop database if exists {TEMPLATE_DB}")
        conn.execute(f"create database {TEMPLATE_DB}")
    url = _with_database(pg_server_url, TEMPLATE_DB)
    migrate(url)
    return url


@pytest.fixture()
def db_url(pg_server_url: str, template_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A freshly migrated database of its own; also exported as ZLURI_DATABASE_URL."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f"create database {name} template {TEMPLATE_DB}")
    url = _with_database(pg_server_url, name)
    monkeypatch.setenv("ZLURI_DATABASE_URL", url)
    yield url
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f"drop database if exists {name} with (force)")


@pytest.fixture(scope="session")
def spark():
    """The one SparkSession of the test run: local[1], UI off, UTC, one shuffle partition. Sized as for
    a large input (2 GiB, the full JIT): unlike a run's short-lived session on a small day, the tests'
    session runs for minutes, and the quick JIT made it slower."""
    from zluri_staging.spark import build_spark

    session = build_spark("local[1]", "zluri-tests", shuffle_partitions=1)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def prefect():
    """One Prefect test server (ephemeral API and database) for every test that runs flows."""
    from prefect.testing.utilities import prefect_test_harness

    # Generous: on a busy machine the ephemeral server can take minutes to answer.
    with prefect_test_harness(server_startup_timeout=600):
        yield


# A password that breaks naive URL handling: '@' and ':' end the userinfo, '%' starts an escape.
SENTINEL_PASSWORD = "Zl-s3ntinel@pw:50%_x"


def _postgres_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not found:
        pytest.fail(
            "no Debian Postgres server (initdb under /usr/lib/postgresql/*/bin): "
            "apt-get install postgresql (.ci/run installs it)"
        )
    return found[-1].parent


@pytest.fixture(scope="session")
def password_pg_url() -> Iterator[str]:
    """A real Postgres server with password (SCRAM) authentication on a free loopback port, whose
    password is SENTINEL_PASSWORD; yields the maintenance database's URL (password percent-encoded)."""
    from urllib.parse import quote

    bin_dir = _postgres_bin()
    root = Path(tempfile.mkdtemp(prefix="zluri-pwpg-"))
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the server as Debian's postgres user
        root.chmod(0o755)
        as_postgres = ["runuser", "-u", "postgres", "--"]
    data, pwfile, log = root / "data", root / "pw", root / "server.log"
    pwfile.write_text(SENTINEL_PASSWORD + "\n")
    if as_postgres:
        shutil.chown(root, "postgres")
        shutil.chown(pwfile, "postgres")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    subprocess.run(
        [
            *as_postgres,
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            "zluri",
            "--pwfile",
            str(pwfile),
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )
    pwfile.unlink()
    subprocess.run(
        [
            *as_postgres,
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(log),
            "-w",
            "-t",
            "60",
            "-o",
            f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://zluri:{quote(SENTINEL_PASSWORD, safe='')}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], capture_output=True
        )
        shutil.rmtree(root, ignore_errors=True)
