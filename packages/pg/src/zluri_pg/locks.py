"""Advisory locks so two runs that write the same tables never interleave.

A lock waits at most the session's ``lock_timeout``; when it runs out, :class:`LockTimeoutError` (a
``TimeoutError``, so transient and retried) names the table and the run holding it, read from the
holder's ``application_name`` (the runner sets ``zluri <flow_run_id> <task>`` for each step).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

APPLICATION_PREFIX = "zluri "


class LockTimeoutError(TimeoutError):
    """A lock on ``table`` was not granted within the lock timeout; ``holder`` describes who held it."""

    def __init__(self, table: str, holder: str | None, timeout: str | None, *, retried: bool = True) -> None:
        self.table = table
        self.holder = holder
        within = f" within lock_timeout {timeout}" if timeout else ""
        held = f"held by {holder}" if holder else "holder unknown (it may have finished meanwhile)"
        then = "transient, retried with backoff" if retried else "the run stops waiting"
        super().__init__(f"lock on {table} not granted{within}: {held}; {then}")


def lock_key(name: str) -> str:
    return f"zluri:{name}"


def application_name(flow_run_id: str, task_name: str) -> str:
    """What ``pg_stat_activity`` shows for a step's session (Postgres keeps 63 bytes)."""
    return f"{APPLICATION_PREFIX}{flow_run_id} {task_name}"[:63]


def describe_holder(application: str | None, pid: int, state: str | None) -> str:
    if application and application.startswith(APPLICATION_PREFIX):
        parts = application[len(APPLICATION_PREFIX) :].split(" ", 1)
        task = f", task {parts[1]}" if len(parts) > 1 else ""
        return f"flow run {parts[0]}{task} (backend pid {pid}, {state or 'unknown state'})"
    named = f" {application!r}" if application else ""
    return f"session{named} (backend pid {pid}, {state or 'unknown state'}; not a pipeline run)"


_HOLDER = """
select a.application_name, a.pid, a.state
from pg_locks l
join pg_stat_activity a on a.pid = l.pid
where l.locktype = 'advisory' and l.granted and l.objsubid = 1
  and l.database = (select oid from pg_database where datname = current_database())
  and l.classid::bigint = (k.key >> 32) & 4294967295 and l.objid::bigint = k.key & 4294967295
  and a.pid <> pg_backend_pid()
"""


def lock_holder(conn: psycopg.Connection, name: str) -> str | None:
    """Who holds the advisory lock of ``name`` now, if anyone (other than this session)."""
    row = conn.execute(
        f"select h.* from (select hashtextextended(%s, 0) as key) k, lateral ({_HOLDER} limit 1) h",
        [lock_key(name)],
    ).fetchone()
    return describe_holder(*row) if row else None


def advisory_xact_lock(conn: psycopg.Connection, *names: str) -> None:
    """Take transaction-scoped advisory locks on ``names`` (released at commit or rollback).

    Names are locked in sorted order so two writers of overlapping sets cannot deadlock. Each wait is
    bounded by ``lock_timeout``; on timeout the holder is looked up (the failed wait is rolled back to
    a savepoint so the transaction can still ask) and :class:`LockTimeoutError` is raised.
    """
    if not conn.autocommit and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        # Outside a transaction block a savepoint block would commit (and so release) each lock:
        # open the implicit transaction the locks belong to first.
        conn.execute("select")
    for name in sorted(set(names)):
        try:
            with conn.transaction():
                conn.execute("select pg_advisory_xact_lock(hashtextextended(%s, 0))", [lock_key(name)])
        except psycopg.errors.LockNotAvailable as exc:
            timeout = conn.execute("select current_setting('lock_timeout')").fetchone()
            raise LockTimeoutError(name, lock_holder(conn, name), timeout[0] if timeout else None) from exc


UPSERT_PHASE = "upsert phase"


@contextmanager
def upsert_phase(database_url: str, flow_run_id: str, wait_seconds: float) -> Iterator[None]:
    """Hold the one upsert-phase lock for a run's whole set of SQL steps, on a connection of its own
    kept open meanwhile (if the process dies, the server ends the session and the lock with it). Two
    runs' steps then never interleave, so runs at once end as if run one after the other, in the order
    they reach this lock. A wait longer than ``wait_seconds`` raises :class:`LockTimeoutError` naming
    the run holding it."""
    from zluri_pg.database import connect

    key = lock_key(UPSERT_PHASE)
    with connect(database_url, autocommit=True) as conn:
        conn.execute(
            "select set_config('application_name', %s, false), set_config('lock_timeout', %s, false)",
            [application_name(flow_run_id, "upserts"), str(max(1, round(wait_seconds * 1000)))],
        )
        try:
            conn.execute("select pg_advisory_lock(hashtextextended(%s, 0))", [key])
        except psycopg.errors.LockNotAvailable as exc:
            raise LockTimeoutError(
                UPSERT_PHASE, lock_holder(conn, UPSERT_PHASE), f"{wait_seconds:g}s", retried=False
            ) from exc
        try:
            yield
        finally:
            conn.execute("select pg_advisory_unlock(hashtextextended(%s, 0))", [key])


@contextmanager
def advisory_session_lock(conn: psycopg.Connection, name: str) -> Iterator[None]:
    """Hold a session-level advisory lock across several transactions of one connection."""
    key = lock_key(name)
    conn.execute("select pg_advisory_lock(hashtextextended(%s, 0))", [key])
    try:
        yield
    finally:
        conn.execute("select pg_advisory_unlock(hashtextextended(%s, 0))", [key])
