"""load.py: COPY from the executors keeps every value exact (hostile text byte for byte, NULL vs
empty, decimals, booleans, timestamps, dates); a load is visible only once committed, a retried
partition or load replaces rather than duplicates, a killed load leaves nothing the upserts read,
and the metrics row is written in the commit's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import psycopg
import pyarrow as pa
import pytest
from pyspark.sql import types as T

from zluri_metrics import MetricsRow
from zluri_pg import RunContext, run_step
from zluri_staging import load
from zluri_staging.schemas import QUARANTINE, STAGING

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


def request(spark, run: str, tables: dict, quarantine_rows: Sequence[tuple] = (), files: Sequence[tuple] = (), **extra):
    """A load request of Spark frames (``tables`` values are rows or frames of the staging table)."""
    frames = {t: v if hasattr(v, "schema") else spark.createDataFrame(v, STAGING[t]) for t, v in tables.items()}
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
        entity="agents",
        tables=frames,
        quarantine=spark.createDataFrame(list(quarantine_rows), QUARANTINE),
        quarantine_entities=["agents"],
        input_files=input_files,
        metrics=metrics_for(run, "day1", f"staging.{first}"),
        **extra,
    )


def roles(*ids: int) -> list[tuple]:
    return [(i, "Agent", None, True, 1, None, None) for i in ids]


def test_hostile_text_survives_copy_from_the_executors_byte_for_byte(spark, db_url):
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
    frame = spark.createDataFrame(rows, STAGING["stg_agents"]).repartition(3)

    copied = load.load(
        db_url,
        request(spark, "run-1", {"stg_agents": frame}, [("agents", "sync-day1/agents/1.json", HOSTILE[3], HOSTILE[6])]),
    )

    with psycopg.connect(db_url) as conn:
        loaded = conn.execute(
            "select agent_id, email, name, job_title, contact_active, deactivated, created_at, updated_at, source_file "
            "from staging.stg_agents where flow_run_id = 'run-1' and day = 'day1' order by agent_id"
        ).fetchall()
        quarantined = conn.execute("select entity, source_file, reason, raw_record from ops.quarantine").fetchall()
        (parts,) = conn.execute("select count(distinct load_part) from staging.stg_agents").fetchall()[0]
    assert copied == {"stg_agents": len(HOSTILE), "ops.quarantine": 1, "stg_input_files": 0}
    assert loaded == [
        (aid, email, name, job, active, deact, created.replace(tzinfo=UTC), None, src)
        for aid, email, name, job, active, deact, created, _, src in rows
    ]
    assert quarantined == [("agents", "sync-day1/agents/1.json", HOSTILE[3], HOSTILE[6])]
    assert parts == 3  # one COPY per partition, from the executors


def test_decimals_dates_timestamps_and_booleans_round_trip(spark, db_url):
    budgets = [
        ("QnVkZ2V0OjE=", "bgt_1", "AP", None, False, date(2025, 4, 23), "NONE", date(1, 1, 1),
         Decimal("1000.000000"), Decimal("99999999999999999999999999999999.999999"), Decimal("0"),
         Decimal("35.95"), None, Decimal("35.95")),
        ("QnVkZ2V0OjI=", None, None, "", True, None, "MONTHLY", date(9999, 12, 31), Decimal("-0.000001"), None,
         Decimal("12.5"), None, None, Decimal("0.1")),
    ]  # fmt: skip
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

    load.load(db_url, request(spark, "run-2", {"stg_budgets": budgets}, small_tables={"stg_fx_rates": fx_rates}))

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
        (stamp,) = conn.execute("select t from t").fetchall()[0]
    assert got == budgets
    assert rates == [("GBP", date(2026, 1, 5), Decimal("1.344398340249"), "ecb")]
    assert stamp == occurred


def test_a_retry_replaces_the_runs_rows_and_writes_one_metrics_row_per_load(spark, db_url):
    files = [("agents", "sync-day1/agents/1.json", "ab" * 32, 2)]
    load.load(db_url, request(spark, "run-3", {"stg_roles": roles(1, 2)}, [("agents", "f", "bad", "{}")], files))
    load.load(db_url, request(spark, "run-4", {"stg_roles": roles(9)}))  # another run is never touched
    load.load(db_url, request(spark, "run-3", {"stg_roles": roles(1, 2, 3)}, [("agents", "f", "bad", "{}")], files))

    with psycopg.connect(db_url) as conn:
        staged = conn.execute("select flow_run_id, role_id from staging.stg_roles order by 1, 2").fetchall()
        quarantine = conn.execute("select flow_run_id, count(*) from ops.quarantine group by 1").fetchall()
        inputs = conn.execute(
            "select flow_run_id, entity, source_file, records from staging.stg_input_files"
        ).fetchall()
        metrics = conn.execute(
            "select flow_run_id, table_name, rows_inserted, status from ops.pipeline_metrics order by id"
        ).fetchall()
        loads = conn.execute("select flow_run_id, entity from ops.staging_loads order by 1").fetchall()
    assert staged == [("run-3", 1), ("run-3", 2), ("run-3", 3), ("run-4", 9)]
    assert quarantine == [("run-3", 1)]
    assert inputs == [("run-3", "agents", "sync-day1/agents/1.json", 2)]
    assert metrics == [
        ("run-3", "staging.stg_roles", 2, "success"),
        ("run-4", "staging.stg_roles", 1, "success"),
        ("run-3", "staging.stg_roles", 3, "success"),
    ]
    assert loads == [("run-3", "agents"), ("run-4", "agents")]


def test_a_committed_load_leaves_planner_statistics_that_know_the_run(spark, db_url, monkeypatch):
    # Stale statistics (no rows of this run) make the checks that select the run's rows plan nested
    # loops; the load analyzes what it committed, when it is big (here: more than 4 rows).
    monkeypatch.setattr(load, "ANALYZE_ROWS", 4)
    load.load(db_url, request(spark, "run-stats", {"stg_roles": roles(1, 2, 3, 4, 5)}))

    with psycopg.connect(db_url) as conn:
        stats = conn.execute(
            "select most_common_vals::text from pg_stats"
            " where schemaname = 'staging' and tablename = 'stg_roles' and attname = 'flow_run_id'"
        ).fetchone()
    assert stats is not None
    assert "run-stats" in stats[0]


def test_only_big_loads_are_analyzed():
    loaded = {"stg_agents": load.ANALYZE_ROWS + 1, "stg_agent_roles": load.ANALYZE_ROWS, "stg_fx_rates": 3}
    assert load.to_analyze(loaded, ["stg_agents", "stg_agent_roles", "stg_fx_rates", "stg_roles"]) == ["stg_agents"]


def test_a_small_table_is_copied_by_one_task(spark, db_url):
    frame = spark.createDataFrame(roles(1, 2, 3, 4, 5, 6), STAGING["stg_roles"]).repartition(3)
    copied = load.load(db_url, request(spark, "run-one-task", {"stg_roles": frame}, expected={"stg_roles": 6}))
    with psycopg.connect(db_url) as conn:
        parts = conn.execute(
            "select count(distinct load_part) from staging.stg_roles where flow_run_id = 'run-one-task'"
        ).fetchall()
    assert (copied["stg_roles"], parts) == (6, [(1,)])


def test_collected_quarantine_rows_are_copied_by_the_commit_byte_for_byte(spark, db_url):
    rows = [("agents", "sync-day1/agents/1.json", "agent_id missing", text) for text in HOSTILE[:7]]
    collected = pa.table({c: [r[i] for r in rows] for i, c in enumerate(load.QUARANTINE_COLUMNS)})
    base = request(spark, "run-driver-q", {"stg_roles": roles(1)}, expected={"ops.quarantine": len(rows)})
    copied = load.copy_tables(db_url, replace(base, quarantine=collected))
    assert "ops.quarantine" not in copied  # no COPY job: the commit copies the collected rows
    with psycopg.connect(db_url) as conn:
        assert conn.execute("select count(*) from ops.quarantine").fetchone() == (0,)

    loaded = load.commit(db_url, replace(base, quarantine=collected).commit(), copied)

    assert loaded["ops.quarantine"] == len(rows)
    with psycopg.connect(db_url) as conn:
        stored = conn.execute(
            "select entity, source_file, reason, raw_record from ops.quarantine where flow_run_id = 'run-driver-q'"
            " and load_id = %s order by id",
            [base.load_id],
        ).fetchall()
    assert stored == rows
    # The expected count is still checked: a commit whose collected rows fall short is refused.
    short = replace(base, quarantine=collected.slice(1), load_id="short")
    with pytest.raises(load.LoadMismatchError, match=r"ops.quarantine: in database 6, copied None, expected 7"):
        load.commit(db_url, short.commit(), load.copy_tables(db_url, short))


def test_a_re_executed_partition_replaces_its_rows(spark, db_url):
    frame = spark.createDataFrame(roles(1, 2, 3, 4), STAGING["stg_roles"]).repartition(2)
    target = load._Target(db_url, "staging.stg_roles", "run-8", "day1", "load-8")

    assert load.copy_partitions(frame, target) == 4
    assert load.copy_partitions(frame, target) == 4  # as a retried task would

    with psycopg.connect(db_url) as conn:
        assert conn.execute("select count(*) from staging.stg_roles").fetchone() == (4,)


def test_a_killed_load_is_never_read_and_the_next_attempt_removes_it(spark, db_url):
    run = "00000000-0000-4000-8000-000000000009"
    ctx = RunContext(run, "day1", "upsert_roles")
    # The executors copied, then the process died before the commit.
    killed = load._Target(db_url, "staging.stg_roles", run, "day1", "killed")
    load.copy_partitions(spark.createDataFrame(roles(66, 67), STAGING["stg_roles"]), killed)

    run_step("015_upsert_roles", ctx, db_url)
    with psycopg.connect(db_url) as conn:
        assert conn.execute("select count(*) from core.roles").fetchone() == (0,)

    load.load(db_url, request(spark, run, {"stg_roles": roles(1)}))
    run_step("015_upsert_roles", ctx, db_url)
    with psycopg.connect(db_url) as conn:
        assert conn.execute("select role_id from staging.stg_roles").fetchall() == [(1,)]
        assert conn.execute("select role_id from core.roles").fetchall() == [(1,)]


def test_a_failed_copy_commits_nothing_and_writes_no_metrics_row(spark, db_url):
    nullable = T.StructType([T.StructField(f.name, f.dataType, True) for f in STAGING["stg_roles"].fields])
    bad = spark.createDataFrame([(None, "Agent", None, True, 1, None, None)], nullable)

    with pytest.raises(Exception, match="role_id"):
        load.load(db_url, request(spark, "run-5", {"stg_roles": bad}))

    with psycopg.connect(db_url) as conn:
        assert conn.execute("select count(*) from ops.pipeline_metrics").fetchone() == (0,)
        assert conn.execute("select count(*) from ops.staging_loads").fetchone() == (0,)


def test_a_load_that_does_not_reconcile_is_not_committed(spark, db_url):
    with pytest.raises(load.LoadMismatchError, match=r"stg_roles: in database 2, copied 2, expected 3"):
        load.load(db_url, request(spark, "run-10", {"stg_roles": roles(1, 2)}, expected={"stg_roles": 3}))

    with psycopg.connect(db_url) as conn:
        assert conn.execute("select count(*) from ops.staging_loads").fetchone() == (0,)
        assert conn.execute("select count(*) from ops.pipeline_metrics").fetchone() == (0,)


def test_reference_ids_are_the_runs_committed_staging_rows_and_core(spark, db_url):
    agents = [(i, None, None, None, None, False, None, None, "f") for i in (1, 3)]
    load.load(db_url, request(spark, "run-6", {"stg_agents": agents}))
    load.copy_partitions(  # copied but never committed: not a known id
        spark.createDataFrame([(5, None, None, None, None, False, None, None, "f")], STAGING["stg_agents"]),
        load._Target(db_url, "staging.stg_agents", "run-6", "day1", "uncommitted"),
    )
    load.load(db_url, request(spark, "run-7", {"stg_agents": [(2, None, None, None, None, False, None, None, "f")]}))

    ids = load.reference_frame(spark, db_url, "agents", "run-6")

    assert sorted(r.id for r in ids.collect()) == [1, 3]
    assert ids.schema.simpleString() == "struct<id:bigint>"
    # The same ids looked up for a few values: 2 is another run's, 5 was never committed.
    assert load.unknown_ids(db_url, "agents", "run-6", [1, 2, 3, 5, None]) == {2, 5}
    assert load.unknown_ids(db_url, "agents", "run-6", []) == set()
    assert load.unknown_ids(db_url, "cards", "run-6", ["c1"]) == {"c1"}  # text ids: none known here


def test_the_advisory_lock_is_held_for_the_block_only(db_url):
    def taken_elsewhere() -> bool:
        with psycopg.connect(db_url, autocommit=True) as other:
            row = other.execute("select pg_try_advisory_lock(hashtextextended('zluri:x', 0))").fetchone()
            return not (row and row[0])  # the other session's lock goes with its connection

    with load.advisory_lock(db_url, "zluri:x"):
        assert taken_elsewhere()
    assert not taken_elsewhere()
