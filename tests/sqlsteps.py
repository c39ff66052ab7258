"""Helpers for SQL scenario tests: load staging rows for a run, run upsert steps, read core state."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from psycopg.rows import dict_row

from zluri_pg import RunContext, run_step

HELPDESK = [
    "010_upsert_agents",
    "015_upsert_roles",
    "017_upsert_agent_roles",
    "020_upsert_groups",
    "030_update_group_status",
]
SPEND = ["035_upsert_fx_rates", "040_upsert_transactions", "050_upsert_budgets", "060_upsert_cards"]

_DEFAULTS: dict[str, dict[str, Any]] = {
    "stg_agents": {"deactivated": False, "source_file": "agents/1.json"},
    "stg_agent_details": {"deactivated": False, "source_file": "agent_details/x.json"},
    "stg_transactions": {
        "transaction_type": "AUTHORIZATION",
        "original_currency": "USD",
        "currency_exponent": 2,
        "fx_rate": 1,
        "fx_rate_date": "2026-01-05",
        "fx_source": "ecb",
        "source_file": "transactions/1.json",
        "occurred_at": "2026-01-05T10:00:00Z",
    },
    "stg_input_files": {"records": 1},
}


def load_staging(url: str, run_id: str, day: str, tables: dict[str, list[dict[str, Any]]]) -> None:
    """Insert staging rows as one committed load per table (what the upserts read)."""
    with psycopg.connect(url) as conn:
        for table, rows in tables.items():
            load_id = f"{run_id}:{table}"
            conn.execute(
                "insert into ops.staging_loads (flow_run_id, entity, load_id, day, rows) values (%s, %s, %s, %s, '{}')"
                " on conflict (flow_run_id, entity) do nothing",
                [run_id, table, load_id, day],
            )
            for row in rows:
                values = {**_DEFAULTS.get(table, {}), **row, "flow_run_id": run_id, "day": day, "load_id": load_id}
                if table == "stg_transactions":
                    values.setdefault("amount_usd", values["original_amount"])
                cols = list(values)
                conn.execute(
                    f"insert into staging.{table} ({', '.join(cols)}) values ({', '.join(['%s'] * len(cols))})",
                    [values[c] for c in cols],
                )


def run_day(
    url: str,
    day: str,
    tables: dict[str, list[dict[str, Any]]],
    steps: list[str] | None = None,
    run_id: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Stage ``tables`` under a new flow run id and run ``steps`` in order; returns each step's metrics row."""
    run_id = run_id or str(uuid.uuid4())
    load_staging(url, run_id, day, tables)
    return {step: run_step(step, RunContext(run_id, day, f"t{step[:3]}"), url) for step in (steps or HELPDESK)}


def query(url: str, sql: str, params: Any = None) -> list[dict[str, Any]]:
    with psycopg.connect(url) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def statuses(url: str, table: str, key: str) -> dict[int, str]:
    return {r[key]: r["status"] for r in query(url, f"select {key}, status from core.{table}")}


def core_snapshot(url: str) -> dict[str, list[tuple]]:
    """Every core table's rows in key order, minus bookkeeping timestamps (for 'changed nothing' checks)."""
    snapshot = {}
    with psycopg.connect(url) as conn:
        for table in [
            "agents",
            "agent_status_history",
            "roles",
            "agent_roles",
            "groups",
            "group_memberships",
            "budgets",
            "cards",
            "transactions",
            "fx_rates",
        ]:
            cols = [
                r[0]
                for r in conn.execute(
                    "select column_name from information_schema.columns where table_schema='core' and table_name=%s "
                    "and column_name not in ('recorded_at') order by ordinal_position",
                    [table],
                )
            ]
            snapshot[table] = conn.execute(f"select {', '.join(cols)} from core.{table} order by 1, 2").fetchall()
    return snapshot
