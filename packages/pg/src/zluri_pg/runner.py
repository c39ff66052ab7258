"""``run_sql_file``: one SQL file, one transaction, the run context set in the session."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from zluri_metrics import record_failure
from zluri_pg.context import RunContext
from zluri_pg.database import check_url, connect, mask_url, redact
from zluri_pg.locks import advisory_xact_lock, application_name
from zluri_pg.sqltext import parse_header, refuse_transaction_control
from zluri_pg.timeouts import Timeouts, set_local_settings, set_local_timeouts

log = logging.getLogger(__name__)


class SqlFileError(RuntimeError):
    """A SQL file failed; its work was rolled back and a failure metrics row was written."""

    def __init__(self, path: Path, cause: BaseException) -> None:
        self.path = path
        self.cause = cause
        super().__init__(f"{path.name} failed: {type(cause).__name__}: {str(cause).strip()}")


def set_run_context(conn: psycopg.Connection, ctx: RunContext) -> None:
    """Transaction-local settings, passed as bound parameters (never formatted into SQL). The session's
    ``application_name`` names the run and task, so a blocked writer can say who holds its lock."""
    set_local_settings(conn, {**ctx.settings(), "application_name": application_name(ctx.flow_run_id, ctx.task_name)})


def run_sql_file(
    path: str | Path, ctx: RunContext, database_url: str, timeouts: Timeouts | None = None
) -> dict[str, Any]:
    """Run the whole file in one transaction and return the last row it reported.

    The transaction's lock, statement and idle timeouts are set first (:class:`Timeouts`), then the
    header's ``writes:`` tables are advisory-locked so concurrent runs serialize. On any error the
    transaction rolls back, a failure metrics row is written in a transaction of its own, and
    :class:`SqlFileError` is raised (a lock timeout names the table and the run holding it).
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    refuse_transaction_control(text, path.name)
    header = parse_header(text, path.name)
    url = check_url(database_url)
    started_at = datetime.now(UTC)
    try:
        with connect(url) as conn:
            with conn.transaction():
                set_local_timeouts(conn, timeouts or Timeouts())
                set_run_context(conn, ctx)
                advisory_xact_lock(conn, *header.writes)
                reported = _execute_all(conn, text)
    except Exception as exc:
        log.error("%s failed for day %s: %s", path.name, ctx.day, redact(str(exc), url))
        record_failure(
            url,
            ctx,
            table_name=", ".join(header.writes),
            error=redact(f"{path.name}: {type(exc).__name__}: {str(exc).strip()}", url),
            started_at=started_at,
        )
        raise SqlFileError(path, exc) from exc
    log.info("%s committed for day %s on %s", path.name, ctx.day, mask_url(url))
    return reported


def _execute_all(conn: psycopg.Connection, text: str) -> dict[str, Any]:
    """Execute every statement (simple query protocol) and keep the last result row."""
    last: dict[str, Any] = {}
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(text.encode("utf-8"), prepare=False)
        while True:
            if cur.description is not None:
                rows = cur.fetchall()
                if rows:
                    last = dict(rows[-1])
            if not cur.nextset():
                break
    return last
