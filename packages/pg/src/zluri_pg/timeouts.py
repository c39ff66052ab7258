"""Bounds on every SQL step: how long it may wait for a lock, run, or sit idle inside its transaction.

Defaults, for the scale the pipeline is built for (500k transactions, 100k agents, 20k groups on two
cores, where the slowest step takes well under a minute):

- ``lock_timeout`` 120 s: a second run of the same tables waits for the first run's step instead of
  failing, yet a lock held by a stuck session surfaces within minutes. A timeout is transient: the
  task retries with backoff (three times), so a run gives up after roughly eight minutes of waiting.
- ``statement_timeout`` 1800 s: thirty times the slowest step measured; only a runaway query (a bad
  plan, a hierarchy walk gone wrong) reaches it, and retrying it would not help, so it is not transient.
- ``idle_in_transaction_session_timeout`` 300 s: the runner never idles inside a transaction, so a
  session idle that long belongs to a hung client; the server ends it and its locks go with it.
- ``upsert_phase_seconds`` 1800 s: how long a run waits for another run's whole set of SQL steps
  (``zluri_pg.locks.upsert_phase``); at the largest scale that phase takes a few minutes.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg


@dataclass(frozen=True)
class Timeouts:
    lock_seconds: float = 120.0
    statement_seconds: float = 1800.0
    idle_in_transaction_seconds: float = 300.0
    upsert_phase_seconds: float = 1800.0

    def __post_init__(self) -> None:
        for name in ("lock_seconds", "statement_seconds", "idle_in_transaction_seconds", "upsert_phase_seconds"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")

    def settings(self) -> dict[str, str]:
        """Postgres settings (milliseconds, as text), applied transaction-locally by the runner."""
        return {
            "lock_timeout": _ms(self.lock_seconds),
            "statement_timeout": _ms(self.statement_seconds),
            "idle_in_transaction_session_timeout": _ms(self.idle_in_transaction_seconds),
        }


def _ms(seconds: float) -> str:
    return str(max(1, round(seconds * 1000)))


def set_local_settings(conn: psycopg.Connection, settings: dict[str, str]) -> None:
    """``set_config(name, value, true)`` for each setting, as bound parameters (never formatted into
    SQL): they end with the transaction."""
    placeholders = ", ".join("set_config(%s, %s, true)" for _ in settings)
    conn.execute(f"select {placeholders}", [v for item in settings.items() for v in item])


def set_local_timeouts(conn: psycopg.Connection, timeouts: Timeouts) -> None:
    set_local_settings(conn, timeouts.settings())
