"""Append-only migrations: ``V###__name.sql`` applied in order, each in its own transaction."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from zluri_pg.database import connect
from zluri_pg.locks import advisory_session_lock
from zluri_pg.paths import sql_dir
from zluri_pg.sqltext import refuse_transaction_control

log = logging.getLogger(__name__)

_NAME = re.compile(r"^V(?P<version>\d{3,})__(?P<name>[a-z0-9_]+)\.sql$")

_BOOTSTRAP = """
create schema if not exists ops;
create table if not exists ops.schema_migrations (
    version integer primary key,
    name text not null,
    checksum text not null,
    applied_at timestamptz not null default now()
);
"""


class MigrationError(RuntimeError):
    """Migrations are inconsistent with the database (changed file, bad name, failed DDL)."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path
    checksum: str


def discover(directory: Path) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"migration file {path.name} is not named V###__name.sql")
        found.append(
            Migration(
                version=int(match.group("version")),
                name=match.group("name"),
                path=path,
                checksum=hashlib.sha256(path.read_bytes()).hexdigest(),
            )
        )
    versions = [m.version for m in found]
    if len(versions) != len(set(versions)):
        raise MigrationError(f"duplicate migration versions in {directory}")
    return sorted(found, key=lambda m: m.version)


def migrate(url: str, directory: Path | None = None) -> list[Migration]:
    """Apply pending migrations (default: the ones shipped with this package); returns those
    applied (none on a re-run)."""
    directory = directory or sql_dir() / "migrations"
    pending_all = discover(directory)
    applied: list[Migration] = []
    with connect(url, autocommit=True) as conn:
        # Concurrent migrators (two CLI calls, parallel test sessions) wait for each other.
        with advisory_session_lock(conn, "ops.schema_migrations"):
            conn.execute(_BOOTSTRAP)
            rows = conn.execute("select version, checksum from ops.schema_migrations").fetchall()
            recorded: dict[int, str] = dict(rows)
            for migration in pending_all:
                if migration.version in recorded:
                    if recorded[migration.version] != migration.checksum:
                        raise MigrationError(
                            f"migration {migration.path.name} changed after it was applied "
                            "(migrations are append-only: add a new V### file instead)"
                        )
                    continue
                _apply(conn, migration)
                applied.append(migration)
    return applied


def _apply(conn: psycopg.Connection, migration: Migration) -> None:
    text = migration.path.read_text(encoding="utf-8")
    refuse_transaction_control(text, migration.path.name)
    try:
        with conn.transaction():
            conn.execute(text.encode("utf-8"), prepare=False)
            conn.execute(
                "insert into ops.schema_migrations (version, name, checksum) values (%s, %s, %s)",
                [migration.version, migration.name, migration.checksum],
            )
    except Exception as exc:
        raise MigrationError(f"migration {migration.path.name} failed: {exc}") from exc
    log.info("applied migration %s", migration.path.name)
