"""load.py: COPY through Arrow CSV keeps every value exact (hostile text byte for byte, NULL vs empty,
decimals, booleans, timestamps, dates), a retry replaces the run's rows, and the metrics row is
written in the same transaction."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import psycopg
import pyarrow as pa
import pytest

from zluri_metrics import MetricsRow
from zluri_staging import load
from zluri_staging.schemas import STAGING

HOSTILE = [
    "plain",
    "",  # empty string, not NULL
    None,
    'quote " and \'\' and ""',
    "back\\slash \\N \\\\ \\t",
    "\\.",  # COPY's end-of-data marker, alone
    "line one\n\\.\nline three",  # ... and alone on a line inside a value
    "crlf\r\nand cr\r",
    "comma, semicolon; pipe|tab\t",
    "'); DROP TABLE staging.stg_agents; --",
    "émoji 😀 🇮🇳 日本語 \u2028 \u00a0 ½",
    "  leading and trailing spaces  ",
    "x" * 100_000,
]
UTC = UTC


def metrics_for(run: str, day: str, table: str):
    def build(copied):
        return MetricsRow(
            flow_run_id=run,
            task_name="stage_test",
            pipeline_name="zluri_day_pipeline",
            table_name=table,
            day=day,
            status="success",
            rows_read=copied[table.split(".")[1]],
            rows_inserted=copied[table.split(".")[1]],
        )

    return build


def request(run: str, tables: dict[str, pa.Table], quarantine_rows: list[tuple] = (), files: list[tuple] = ()):
    quarantine = pa.table(
        {name: pa.array([r[i] for r in quarantine_rows], pa.string()) for i, name in enumerate(load.QUARANTINE_COLUMNS)}
    )
    input_files = pa.table(
        {
            "entity": pa.array([f[0] for f in files], pa.string()),
            "source_file": pa.array([f[1] for f in files], pa.string()),
            "sha256": pa.array([f[2] for f in files], pa.string()),
            "records": pa.array([f[3] for f in files], pa.int64()),
        }
    )
    first = next(iter(tables))
    return load.LoadRequest(
        flow_run_id=run,
        day="day1",
        tables=tables,
        quarantine=quarantine,
        quarantine_entities=["agents"],
        input_files=input_files,
        input_files_entity="agents",
        metrics=metrics_for(run, "day1", f"staging.{first}"),
    )


def test_hostile_text_survives_spark_arrow_csv_copy_byte_for_byte(spark, db_url):
    rows = [
        (
            69000000000 + i,
            text,
            text,
            text,
            i % 2 == 0,
            bool(i % 3),
            datetime(2026, 1, 5, 21, 7, 59, i),
            None,
            text or "f",
        )
        for i, text in enumerate(HOSTILE)
    ]
    arrow = spark.createDataFrame(rows, STAGING["stg_agents"]).toArrow()

    copied = load.load(
        db_url,
        request("run-1", {"stg_agents": arrow}, [("agents", "sync-day1/agents/1.json", HOSTILE[3], HOSTILE[6])]),
    )

    with psycopg.connect(db_url) as conn:
        loaded = conn.execute(
            "select agent_id, email, name, job_title, contact_active, deactivated, created_at, updated_at, source_file "
            "from staging.stg_agents where flow_run_id = 'run-1' and day = 'day1' order by agent_id"
        ).fetchall()
        quarantined = conn.execute("select entity, source_file, reason, raw_record from ops.quarantine").fetchall()
    assert copied == {"stg_agents": len(HOSTILE), "ops.quarantine": 1, "stg_input_files": 0}
    assert loaded == [
        (aid, email, name, job, active, deact, created.replace(tzinfo=UTC), None, src)
        for aid, email, name, job, active, deact, created, _, src in rows
    ]
    assert quarantined == [("agents", "sync-day1/agents/1.json", HOSTILE[3], HOSTILE[6])]


def test_decimals_dates_timestamps_and_booleans_round_trip(db_url):
    budgets = pa.table(
        {
            "budget_id": ["QnVkZ2V0OjE=", "QnVkZ2V0OjI="],
            "budget_uuid": ["bgt_1", None],
            "name": ["AP", None],
            "description": [None, ""],
            "retired": [False, True],
            "start_date": pa.array([date(2025, 4, 23), None], pa.date32()),
            "recurring_interval": ["NONE", "MONTHLY"],
            "period_start_date": pa.array([date(1, 1, 1), date(9999, 12, 31)], pa.date32()),
            "period_limit": pa.array([Decimal("1000.000000"), Decimal("-0.000001")], pa.decimal128(38, 6)),
            "period_overspend_buffer": pa.array(
                [Decimal("99999999999999999999999999999999.999999"), None], pa.decimal128(38, 6)
            ),
            "period_assigned": pa.array([Decimal("0"), Decimal("12.5")], pa.decimal128(38, 6)),
            "spent_cleared": pa.array([Decimal("35.95"), None], pa.decimal128(38, 6)),
            "spent_pending": pa.array([None, None], pa.decimal128(38, 6)),
            "spent_total": pa.array([Decimal("35.95"), Decimal("0.1")], pa.decimal128(38, 6)),
        }
    )
    assert budgets.column_names == STAGING["stg_budgets"].fieldNames()
    occurred = datetime(2026, 1, 5, 21, 7, 59, 123456, tzinfo=UTC)
    fx_rates = pa.table(
        {
            "currency": ["GBP"],
            "rate_date": pa.array([date(2026, 1, 5)], pa.date32()),
            "usd_per_unit": pa.array([Decimal("1.344398340249")], pa.decimal128(24, 12)),
            "source": ["ecb"],
        }
    )
    stamps = pa.table({"t": pa.array([occurred], pa.timestamp("us", tz="UTC"))})

    load.load(db_url, request("run-2", {"stg_budgets": budgets, "stg_fx_rates": fx_rates}))

    with psycopg.connect(db_url) as conn:
        got = conn.execute(
            "select budget_id, budget_uuid, name, description, retired, start_date, recurring_interval, "
            "period_start_date, period_limit, period_overspend_buffer, period_assigned, spent_cleared, spent_pending, "
            "spent_total from staging.stg_budgets order by budget_id"
        ).fetchall()
        rates = conn.execute("select currency, rate_date, usd_per_unit, source from staging.stg_fx_rates").fetchall()
        conn.execute("create temporary table t (t timestamptz)")
        with conn.cursor() as cur:
            load.copy_arrow(cur, "t", stamps, {})
        stamp = conn.execute("select t from t").fetchone()[0]
    assert got == [tuple(row.values()) for row in budgets.to_pylist()]
    assert rates == [("GBP", date(2026, 1, 5), Decimal("1.344398340249"), "ecb")]
    assert stamp == occurred


def test_a_retry_replaces_the_runs_rows_and_writes_one_metrics_row_per_load(db_url):
    def roles(*ids: int) -> pa.Table:
        n = len(ids)
        return pa.table(
            {
                "role_id": pa.array(ids, pa.int64()),
                "name": pa.array(["Agent"] * n, pa.string()),
                "description": pa.array([None] * n, pa.string()),
                "is_default": pa.array([True] * n, pa.bool_()),
                "agent_type": pa.array([1] * n, pa.int32()),
                "created_at": pa.array([None] * n, pa.timestamp("us", tz="UTC")),
                "updated_at": pa.array([None] * n, pa.timestamp("us", tz="UTC")),
            }
        )

    files = [("agents", "sync-day1/agents/1.json", "ab" * 32, 2)]
    load.load(db_url, request("run-3", {"stg_roles": roles(1, 2)}, [("agents", "f", "bad", "{}")], files))
    load.load(db_url, request("run-4", {"stg_roles": roles(9)}))  # another run is never touched
    load.load(db_url, request("run-3", {"stg_roles": roles(1, 2, 3)}, [("agents", "f", "bad", "{}")], files))

    with psycopg.connect(db_url) as conn:
        staged = conn.execute("select flow_run_id, role_id from staging.stg_roles order by 1, 2").fetchall()
        quarantine = conn.execute("select flow_run_id, count(*) from ops.quarantine group by 1").fetchall()
        inputs = conn.execute(
            "select flow_run_id, entity, source_file, records from staging.stg_input_files"
        ).fetchall()
        metrics = conn.execute(
            "select flow_run_id, table_name, rows_inserted, status from ops.pipeline_metrics order by id"
        ).fetchall()
    assert staged == [("run-3", 1), ("run-3", 2), ("run-3", 3), ("run-4", 9)]
    assert quarantine == [("run-3", 1)]
    assert inputs == [("run-3", "agents", "sync-day1/agents/1.json", 2)]
    assert metrics == [
        ("run-3", "staging.stg_roles", 2, "success"),
        ("run-4", "staging.stg_roles", 1, "success"),
        ("run-3", "staging.stg_roles", 3, "success"),
    ]


def test_a_failed_copy_rolls_back_everything_including_the_metrics_row(db_url):
    bad = pa.table({"role_id": pa.array([None], pa.int64())})  # role_id is not null

    with pytest.raises(psycopg.errors.NotNullViolation):
        load.load(db_url, request("run-5", {"stg_roles": bad}))

    with psycopg.connect(db_url) as conn:
        assert conn.execute("select count(*) from ops.pipeline_metrics").fetchone() == (0,)


def test_reference_ids_union_the_runs_staging_rows_and_core(db_url):
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "insert into staging.stg_agents (flow_run_id, day, agent_id, deactivated, source_file) values "
            "('run-6', 'day1', 1, false, 'f'), ('run-7', 'day1', 2, false, 'f')"
        )
        conn.execute(
            "insert into staging.stg_agent_details (flow_run_id, day, agent_id, deactivated, source_file) values "
            "('run-6', 'day1', 3, false, 'f'), ('run-6', 'day1', 1, false, 'f')"
        )

    ids = load.reference_ids(db_url, "agents", "run-6")

    assert sorted(ids["id"].to_pylist()) == [1, 3]
    assert ids.schema.field("id").type == pa.int64()
