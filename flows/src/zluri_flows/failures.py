"""What counts as transient, and the failure metrics row of a task that is not a SQL file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import psycopg

from zluri_metrics import record_failure
from zluri_pg import RunContext, SqlFileError, redact

_TRANSIENT = (
    psycopg.OperationalError,  # lost connection, server restart
    psycopg.errors.LockNotAvailable,
    psycopg.errors.SerializationFailure,
    psycopg.errors.DeadlockDetected,
    ConnectionError,
    TimeoutError,
)


def is_transient(exc: BaseException) -> bool:
    """True when retrying may succeed; data errors (bad SQL, constraint violations, bad input) are not."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, _TRANSIENT) and not isinstance(seen, psycopg.errors.QueryCanceled):
            return True
        seen = seen.cause if isinstance(seen, SqlFileError) else seen.__cause__
    return False


@contextmanager
def failure_recorded(ctx: RunContext, table_name: str, database_url: str) -> Iterator[None]:
    """Write a failure metrics row (own transaction) if the body raises, then re-raise."""
    started_at = datetime.now(UTC)
    try:
        yield
    except Exception as exc:
        record_failure(
            database_url,
            ctx,
            table_name=table_name,
            error=redact(f"{type(exc).__name__}: {exc}", database_url),
            started_at=started_at,
        )
        raise
