"""Writing metrics rows.

A success row is written by the caller inside the transaction that did the work, so it exists only
if the work committed. A failure row is written after the rollback in a transaction of its own.
"""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
from psycopg import sql

from zluri_metrics.context import RunContext
from zluri_metrics.model import COLUMNS, MetricsRow

_INSERT = sql.SQL("insert into ops.pipeline_metrics ({cols}) values ({vals})").format(
    cols=sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS),
    vals=sql.SQL(", ").join(sql.Placeholder() for _ in COLUMNS),
)

# Error messages can be huge (a failing COPY echoes data); the row keeps the start, which names the cause.
MAX_ERROR_CHARS = 4000


def insert_row(conn: psycopg.Connection, row: MetricsRow) -> None:
    """Insert ``row`` in the connection's current transaction."""
    conn.execute(_INSERT, [getattr(row, c) for c in COLUMNS])


def record_failure(
    database_url: str,
    ctx: RunContext,
    *,
    table_name: str,
    error: BaseException | str,
    started_at: datetime,
) -> MetricsRow:
    """Write one failure row of the context's task in its own transaction on a fresh connection and
    return it."""
    finished_at = datetime.now(UTC)
    message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    row = MetricsRow(
        flow_run_id=ctx.flow_run_id,
        task_name=ctx.task_name,
        pipeline_name=ctx.pipeline_name,
        table_name=table_name,
        day=ctx.day,
        status="failure",
        duration_seconds=round((finished_at - started_at).total_seconds(), 3),
        error_message=message.strip()[:MAX_ERROR_CHARS],
        started_at=started_at,
        finished_at=finished_at,
    )
    with psycopg.connect(database_url) as conn:
        insert_row(conn, row)
    return row
