"""Helpers for SQL scenario tests: load staging rows for a run, run upsert steps, read core state."""

from __future__ import annotations

import uuid
from contextlib import nullcontext
from typing import Any

import psycopg
from psycopg.rows import dict_row

from zluri_flows.dag import HELPDESK_ENTITIES, SPEND_ENTITIES, feed_steps
from zluri_pg import RunContext, Timeouts, run_step, upsert_phase

# The upsert steps of each feed in run order, from the flow's task graph (the one place it is written).
HELPDESK = feed_steps(HELPDESK_ENTITIES)
SPEND = feed_steps(SPEND_ENTITIES)

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
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        for table, rows in tables.items():
            load_id = f"{run_id}:{table}"
            cur.execute(
                "insert into ops.staging_loads (flow_run_id, entity, load_id, day, rows) values (%s, %s, %s, %s, '{}')"
                " on conflict (flow_run_id, entity) do nothing",
                [run_id, table, load_id, day],
            )
            by_columns: dict[tuple[str, ...], list[list[Any]]] = {}
            for row in rows:
                values = {**_DEFAULTS.get(table, {}), **row, "flow_run_id": run_id, "day": day, "load_id": load_id}
                if table == "stg_transactions":
                    values.setdefault("amount_usd", values["original_amount"])
                by_columns.setdefault(tuple(values), []).append(list(values.values()))
            for cols, params in by_columns.items():
                cur.executemany(
                    f"insert into staging.{table} ({', '.join(cols)}) values ({', '.join(['%s'] * len(cols))})", params
                )


def run_day(
    url: str,
    day: str,
    tables: dict[str, list[dict[str, Any]]],
    steps: list[str] | None = None,
    run_id: str | None = None,
    timeouts: Timeouts | None = None,
    as_one_phase: bool = False,
) -> dict[str, dict[str, Any]]:
    """Stage ``tables`` under a new flow run id and run ``steps`` in order; returns each step's metrics row.
    ``as_one_phase``: all steps under the upsert-phase lock, as the flow runs them."""
    run_id = run_id or str(uuid.uuid4())
    load_staging(url, run_id, day, tables)
    with upsert_phase(url, run_id, 60) if as_one_phase else nullcontext():
        return {
            step: run_step(step, RunContext(run_id, day, f"t{step[:3]}"), url, timeouts) for step in (steps or HELPDESK)
        }


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


def assert_core_matches(db_url: str, final: dict[str, Any]) -> None:
    """Core tables equal the generator's expected end state (``expected.json``'s ``final``)."""
    from decimal import Decimal

    agents = {
        str(r["agent_id"]): {"status": r["status"], "deactivated": r["deactivated"]}
        for r in query(db_url, "select agent_id, status, deactivated from core.agents")
    }
    assert agents == final["agents"]
    history = {}
    for r in query(db_url, "select day, agent_id, status from core.agent_status_history"):
        history.setdefault(r["day"], {})[str(r["agent_id"])] = r["status"]
    assert history == final["agent_status_by_day"]
    groups = {
        str(r["group_id"]): {"status": r["status"], "parent_group_id": r["parent_group_id"]}
        for r in query(db_url, "select group_id, status, parent_group_id from core.groups")
    }
    assert groups == final["groups"]
    assert [
        [r["group_id"], r["agent_id"]]
        for r in query(db_url, "select group_id, agent_id from core.group_memberships order by 1, 2")
    ] == final["memberships"]
    assert [
        [r["agent_id"], r["role_id"]]
        for r in query(db_url, "select agent_id, role_id from core.agent_roles order by 1, 2")
    ] == final["agent_roles"]
    transactions = {
        r["transaction_id"]: {
            "updated_at": r["updated_at"].isoformat(),
            "original_amount": r["original_amount"].normalize(),
            "original_currency": r["original_currency"],
            "transaction_type": r["transaction_type"],
        }
        for r in query(db_url, "select * from core.transactions")
    }
    expected = {
        tid: {
            "updated_at": t["updated_at"],
            "original_amount": Decimal(t["original_amount"]).normalize(),
            "original_currency": t["original_currency"],
            "transaction_type": t["transaction_type"],
        }
        for tid, t in final["transactions"].items()
    }
    assert transactions == expected
