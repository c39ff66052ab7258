"""Advisory locks so two runs that write the same tables never interleave."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg


def advisory_xact_lock(conn: psycopg.Connection, *names: str) -> None:
    """Take transaction-scoped advisory locks on ``names`` (released at commit or rollback).

    Names are locked in sorted order so two writers of overlapping sets cannot deadlock.
    """
    for name in sorted(set(names)):
        conn.execute("select pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"zluri:{name}"])


@contextmanager
def advisory_session_lock(conn: psycopg.Connection, name: str) -> Iterator[None]:
    """Hold a session-level advisory lock across several transactions of one connection."""
    key = f"zluri:{name}"
    conn.execute("select pg_advisory_lock(hashtextextended(%s, 0))", [key])
    try:
        yield
    finally:
        conn.execute("select pg_advisory_unlock(hashtextextended(%s, 0))", [key])
