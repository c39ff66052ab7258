"""stage.py end to end: a small hand-written day (made-up ids, shaped like the real feed) staged
into real Postgres for all seven entities: counts reconcile, staging and quarantine rows are the
expected ones, hostile text arrives intact, bronze re-runs replace the day, reports exist, and a
missing folder is an error only for required entities."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from zluri_metrics import RunContext
from zluri_staging import dq, fx, load, read, stage
from zluri_staging.read import MissingEntityError
from zluri_staging.spark import INTERPRETED_CONF
from zluri_staging.stage import DerivedCounts, StagingSettings, stage_entity

DAY = "2026-01-05"
RUN = "11111111-2222-3333-4444-555555555555"
RERUN = "11111111-2222-3333-4444-666666666666"
ORDER = ["roles", "agents", "agent_details", "admin_groups", "budgets", "cards", "transactions"]
HOSTILE = 'O\'Brien "Bob" \\ back; DROP TABLE x;--\nline 2 😀 é'
UTC = UTC

A, B, C, D = 71000000001, 71000000002, 71000000003, 71000000004  # D is only in agent_details
ROLE_ADMIN, ROLE_AGENT, ROLE_GONE = 71000000100, 71000000101, 71000000199
ROOT, CHILD, PHANTOM = 71000000500, 71000000501, 81000000009


def contact(email: str, name: str, active: bool = True) -> dict:
    return {"active": active, "email": email, "job_title": None, "name": name, "language": "en"}


def agent(aid, updated: str, deactivated: bool = False, **extra) -> dict:
    return {
        "available": False,
        "id": aid,
        "created_at": "2022-05-26T08:26:55Z",
        "updated_at": updated,
        "type": "support_agent",
        "deactivated": deactivated,
        "contact": contact(f"{aid}@example.test", f"Agent {aid}"),
        **extra,
    }


def transaction(tid: str, amount: str, exponent: int, code: str, card: str, updated: str, feed: float) -> dict:
    return {
        "id": tid,
        "uuid": f"txr_{tid[-4:]}",
        "transactionType": "AUTHORIZATION",
        "userId": "VXNlcjox",
        "userUuid": "usr_1",
        "userName": "Kevin Felix",
        "rawMerchantName": "SNAP ON",
        "merchantName": HOSTILE,
        "budgetId": "QnVkZ2V0OjE=",
        "budgetUuid": "bgt_1",
        "cardId": card,
        "cardUuid": "crd_1",
        "occurredTime": "2026-01-05T21:07:59.000+00:00",
        "updatedTime": updated,
        "amount": feed,
        "currencyData": {
            "exchangeRate": 1,
            "exponent": exponent,
            "originalCurrencyAmount": amount,
            "originalCurrencyCode": code,
            "symbol": "$",
        },
    }


def ctx(entity: str, day: str = DAY, run: str = RUN) -> RunContext:
    return RunContext(run, day, f"stage_{entity}")


def write(path: Path, data: object | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")


@pytest.fixture()
def feed(tmp_path: Path) -> Path:
    root = tmp_path / "feed"
    day = root / f"sync-{DAY}"
    write(
        day / "roles" / "1.json",
        [
            {
                "id": ROLE_ADMIN,
                "name": "Account Administrator",
                "description": "All of it",
                "default": True,
                "created_at": "2021-08-13T11:50:17Z",
                "updated_at": "2024-01-31T20:10:48Z",
                "agent_type": 1,
            },
            {
                "id": ROLE_AGENT,
                "name": "Agent",
                "description": None,
                "default": False,
                "created_at": "2021-08-13T11:50:17Z",
                "updated_at": "2022-12-25T09:43:29Z",
                "agent_type": 1,
            },
        ],
    )
    hostile = agent(B, "2026-01-04T08:57:30Z")
    hostile["contact"]["name"] = HOSTILE
    write(
        day / "agents" / "1.json",
        [
            agent(A, "2025-01-01T00:00:00Z"),  # an older copy of A, far from the newer one
            hostile,
            agent(C, "2026-01-04T08:57:30Z", deactivated=True),
            {**agent("not-a-number", "2026-01-04T08:57:30Z")},
            agent(A, "2026-01-03T07:58:29Z"),
        ],
    )
    details = day / "agent_details"
    write(details / f"{A}.json", {**agent(A, "2026-01-03T07:58:29Z"), "role_ids": [ROLE_ADMIN, ROLE_AGENT]})
    write(details / f"{D}.json", {**agent(D, "2026-01-02T00:00:00Z"), "role_ids": [ROLE_AGENT, ROLE_GONE]})
    write(details / f"{B}.json", '{"id": 71000000002, "role_ids": [')  # cut off
    write(
        day / "admin_groups" / "1.json",
        [
            {
                "id": ROOT,
                "name": "IT Support",
                "description": "Internal",
                "parent_group_id": None,
                "agent_ids": [A, B, PHANTOM],
                "created_at": "2021-08-13T17:17:00Z",
                "updated_at": "2021-12-13T14:09:44Z",
            },
            {
                "id": CHILD,
                "name": "DevOps",
                "description": None,
                "parent_group_id": ROOT,
                "agent_ids": [D, D],
                "created_at": "2022-02-09T17:14:12Z",
                "updated_at": "2022-02-21T15:31:54Z",
            },
        ],
    )
    write(
        day / "budgets" / "1.json",
        {
            "results": [
                {
                    "id": "QnVkZ2V0OjE=",
                    "uuid": "bgt_1",
                    "name": "AP Vendor Budget",
                    "description": "Misc",
                    "retired": False,
                    "startDate": "2025-04-23",
                    "recurringInterval": "NONE",
                    "currentPeriod": {
                        "startDate": "2025-04-23",
                        "limit": 1000,
                        "overspendBuffer": 500,
                        "assigned": 0,
                        "spent": {"cleared": 35.95, "pending": 0, "total": 35.95},
                    },
                },
                {
                    "id": "QnVkZ2V0OjI=",
                    "uuid": "bgt_2",
                    "name": "Travel",
                    "retired": False,
                    "startDate": "2025-01-01",
                    "recurringInterval": "MONTHLY",
                    "currentPeriod": {"startDate": "2026-01-01", "limit": -5, "spent": {}},
                },
            ]
        },
    )
    write(
        day / "cards" / "1.json",
        {
            "results": [
                {
                    "id": "Q2FyZDox",
                    "uuid": "crd_1",
                    "name": "Vendor card",
                    "userId": "VXNlcjox",
                    "userUuid": "usr_1",
                    "budgetId": "QnVkZ2V0OjE=",
                    "budgetUuid": "bgt_1",
                    "lastFour": "7228",
                    "validThru": "01/32",
                    "status": "ACTIVATED",
                    "type": "VIRTUAL_VENDOR",
                    "currentPeriod": {"limit": 184.18, "spent": 0},
                    "createdTime": "2024-09-23T17:53:44.000+00:00",
                    "updatedTime": "2024-12-05T19:31:42.000+00:00",
                },
            ]
        },
    )
    spend = day / "transactions"
    write(
        spend / "1.json",
        {
            "results": [
                transaction("VHg6MQ==", "4637", 2, "USD", "Q2FyZDox", "2026-01-05T21:17:27.000+00:00", 46.37),
                transaction("VHg6Mg==", "4637", 0, "JPY", "Q2FyZDox", "2026-01-05T21:17:27.000+00:00", 29.61),
                transaction("VHg6Mw==", "NaN", 2, "USD", "Q2FyZDox", "2026-01-05T21:17:27.000+00:00", 0),
            ]
        },
    )
    write(
        spend / "2.json",
        {
            "results": [
                transaction(
                    "VHg6MQ==", "5000", 2, "USD", "Q2FyZDox", "2026-01-05T22:00:00.000+00:00", 50.0
                ),  # later update
                transaction(
                    "VHg6NA==", "100", 2, "USD", "Q2FyZDo5", "2026-01-05T21:17:27.000+00:00", 1.0
                ),  # unknown card
            ]
        },
    )
    write(spend / "3.json", '{"results": [{"id": "VHg6NQ==", "amount": 1')  # cut off mid-transfer
    return root


def _session_conf(spark, conf: dict[str, str], request) -> None:
    """``conf`` set on the session for this test, as it was afterwards."""
    previous = {key: spark.conf.get(key, None) for key in conf}
    for key, value in conf.items():
        spark.conf.set(key, value)

    def restore() -> None:
        for key, value in previous.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)

    request.addfinalizer(restore)


@pytest.mark.parametrize(
    "variant", ["a-partition-per-task", "large-files-spread", "large-one-partition", "interpreted"]
)
def test_a_day_stages_all_entities_into_postgres(
    spark, db_url, feed: Path, tmp_path: Path, monkeypatch, request, variant
):
    spread = variant == "large-files-spread"
    if variant == "interpreted":  # as a tiny day's session runs: Spark's interpreters, no generated code
        _session_conf(spark, INTERPRETED_CONF, request)
        assert spark.range(3).selectExpr("id + 1")._jdf.queryExecution().executedPlan().nodeName() == "Project"
    if spread:  # every file counts as large: its records are spread over partitions of about 256 bytes
        monkeypatch.setattr(read, "LARGE_FILE_BYTES", 16)
        monkeypatch.setattr(read, "PARTITION_BYTES", 256)
    if spread or variant == "large-one-partition":
        # Every frame as a large day's: classified and copied in partitions, derived ids and
        # references joined on Spark; the outcome is the same. Cut by one task, as the files of the
        # one-partition variant are, a large frame is spread by key to be classified.
        monkeypatch.setattr(load, "ONE_TASK_ROWS", 0)
    home = tmp_path / "home"

    driver_rows = 0 if spread else dq.DRIVER_ROWS
    settings = StagingSettings(input_root=str(feed), database_url=db_url, home=home, driver_rows=driver_rows)
    results = {entity: stage_entity(spark, entity, ctx(entity), settings) for entity in ORDER}

    counts = {e: (r.read, r.loaded, r.quarantined, r.duplicates) for e, r in results.items()}
    assert counts == {
        "roles": (2, 2, 0, 0),
        "agents": (5, 3, 1, 1),
        "agent_details": (3, 2, 1, 0),
        "admin_groups": (2, 2, 0, 0),
        "budgets": (2, 1, 1, 0),
        "cards": (1, 1, 0, 0),
        "transactions": (6, 3, 2, 1),
    }
    assert all(r.read == r.loaded + r.quarantined + r.duplicates for r in results.values())
    assert results["agent_details"].derived == {"agent_roles": DerivedCounts("stg_agent_roles", 4, 3, 1, 0)}
    assert results["admin_groups"].derived == {"group_memberships": DerivedCounts("stg_group_memberships", 5, 3, 1, 1)}
    assert results["transactions"].tables["stg_fx_rates"] == 2
    assert any(
        "transactions: 1 of 3 rows name an unknown card_id (e.g. ['Q2FyZDo5'])" == w
        for w in results["transactions"].warnings
    )

    jpy = next(r for r in fx.daily_rates(date(2026, 1, 5), date(2026, 1, 5), ["JPY"]) if r.currency == "JPY")
    assert jpy.usd_per_unit is not None
    with psycopg.connect(db_url) as conn:

        def rows(sql: str) -> list[tuple]:
            return conn.execute(sql).fetchall()

        assert rows(
            "select agent_id, email, name, contact_active, deactivated, updated_at, source_file from staging.stg_agents "
            f"where flow_run_id = '{RUN}' and day = '{DAY}' order by agent_id"
        ) == [
            (
                A,
                f"{A}@example.test",
                f"Agent {A}",
                True,
                False,
                datetime(2026, 1, 3, 7, 58, 29, tzinfo=UTC),
                f"sync-{DAY}/agents/1.json",
            ),
            (
                B,
                f"{B}@example.test",
                HOSTILE,
                True,
                False,
                datetime(2026, 1, 4, 8, 57, 30, tzinfo=UTC),
                f"sync-{DAY}/agents/1.json",
            ),
            (
                C,
                f"{C}@example.test",
                f"Agent {C}",
                True,
                True,
                datetime(2026, 1, 4, 8, 57, 30, tzinfo=UTC),
                f"sync-{DAY}/agents/1.json",
            ),
        ]
        assert rows("select agent_id, source_file from staging.stg_agent_details order by 1") == [
            (A, f"sync-{DAY}/agent_details/{A}.json"),
            (D, f"sync-{DAY}/agent_details/{D}.json"),
        ]
        assert rows("select agent_id, role_id from staging.stg_agent_roles order by 1, 2") == [
            (A, ROLE_ADMIN),
            (A, ROLE_AGENT),
            (D, ROLE_AGENT),
        ]
        assert rows("select group_id, name, parent_group_id from staging.stg_groups order by 1") == [
            (ROOT, "IT Support", None),
            (CHILD, "DevOps", ROOT),
        ]
        assert rows("select group_id, agent_id from staging.stg_group_memberships order by 1, 2") == [
            (ROOT, A),
            (ROOT, B),
            (CHILD, D),
        ]
        assert rows("select budget_id, period_limit, spent_total from staging.stg_budgets") == [
            ("QnVkZ2V0OjE=", Decimal("1000"), Decimal("35.95"))
        ]
        assert rows("select card_id, period_limit, status from staging.stg_cards") == [
            ("Q2FyZDox", Decimal("184.18"), "ACTIVATED")
        ]
        assert rows(
            "select transaction_id, original_amount, original_currency, currency_exponent, amount_usd, fx_rate, "
            "fx_rate_date, fx_source, feed_amount_usd, card_id, merchant_name, source_file "
            'from staging.stg_transactions order by transaction_id collate "C"'
        ) == [
            (
                "VHg6MQ==",
                Decimal("50"),
                "USD",
                2,
                Decimal("50"),
                Decimal("1"),
                date(2026, 1, 5),
                "ecb",
                Decimal("50"),
                "Q2FyZDox",
                HOSTILE,
                f"sync-{DAY}/transactions/2.json",
            ),
            (
                "VHg6Mg==",
                Decimal("4637"),
                "JPY",
                0,
                (Decimal(4637) * jpy.usd_per_unit).quantize(Decimal("0.000001"), ROUND_HALF_UP),
                jpy.usd_per_unit,
                jpy.rate_date,
                "ecb",
                Decimal("29.61"),
                "Q2FyZDox",
                HOSTILE,
                f"sync-{DAY}/transactions/1.json",
            ),
            (
                "VHg6NA==",
                Decimal("1"),
                "USD",
                2,
                Decimal("1"),
                Decimal("1"),
                date(2026, 1, 5),
                "ecb",
                Decimal("1"),
                "Q2FyZDo5",
                HOSTILE,
                f"sync-{DAY}/transactions/2.json",
            ),
        ]
        assert rows("select currency, rate_date, source from staging.stg_fx_rates order by 1") == [
            ("JPY", jpy.rate_date, "ecb"),
            ("USD", date(2026, 1, 5), "ecb"),
        ]
        assert rows(
            'select entity, source_file, reason from ops.quarantine order by entity collate "C", source_file collate "C", reason collate "C"'
        ) == [
            ("agent_details", f"sync-{DAY}/agent_details/{B}.json", "file is not valid JSON"),
            ("agent_roles", f"sync-{DAY}/agent_details/{D}.json", f"agent role names unknown role {ROLE_GONE}"),
            ("agents", f"sync-{DAY}/agents/1.json", "agent_id not an integer"),
            ("budgets", f"sync-{DAY}/budgets/1.json", "period_limit negative"),
            ("group_memberships", f"sync-{DAY}/admin_groups/1.json", f"membership names unknown agent {PHANTOM}"),
            ("transactions", f"sync-{DAY}/transactions/1.json", "original_amount not numeric"),
            ("transactions", f"sync-{DAY}/transactions/3.json", "file is not valid JSON"),
        ]
        assert rows(
            'select entity, count(*), sum(records), count(distinct sha256) from staging.stg_input_files group by entity order by entity collate "C"'
        ) == [
            ("admin_groups", 1, 2, 1),
            ("agent_details", 3, 2, 3),
            ("agents", 1, 5, 1),
            ("budgets", 1, 2, 1),
            ("cards", 1, 1, 1),
            ("roles", 1, 2, 1),
            ("transactions", 3, 5, 3),
        ]
        assert rows(
            "select task_name, table_name, rows_read, rows_inserted, rows_skipped, rows_quarantined "
            "from ops.pipeline_metrics order by id"
        ) == [
            ("stage_roles", "staging.stg_roles", 2, 2, 0, 0),
            ("stage_agents", "staging.stg_agents", 5, 3, 1, 1),
            ("stage_agent_details", "staging.stg_agent_details", 3, 2, 0, 1),
            ("stage_admin_groups", "staging.stg_groups", 2, 2, 0, 0),
            ("stage_budgets", "staging.stg_budgets", 2, 1, 0, 1),
            ("stage_cards", "staging.stg_cards", 1, 1, 0, 0),
            ("stage_transactions", "staging.stg_transactions", 6, 3, 1, 2),
        ]

    report_dir = home / "reports" / DAY / RUN
    for entity, result in results.items():
        assert result.report_path == str(report_dir / "entities" / f"{entity}.json")
        report = json.loads(Path(result.report_path).read_text())
        assert (report["read"], report["loaded"], report["quarantined"], report["duplicates"]) == counts[entity]

    # Bronze holds every record as read; a re-run of the day replaces its partition.
    bronze = spark.read.format("delta").load(str(home / "bronze" / "transactions"))
    assert bronze.where(f"day = '{DAY}'").count() == 6
    stage_entity(spark, "transactions", ctx("transactions", run=RERUN), settings)
    bronze = spark.read.format("delta").load(str(home / "bronze" / "transactions"))
    assert [tuple(r) for r in bronze.groupBy("day", "flow_run_id").count().collect()] == [(DAY, RERUN, 6)]


def test_missing_folders(spark, db_url, tmp_path: Path):
    (tmp_path / "feed" / "sync-day9" / "agents").mkdir(parents=True)

    settings = StagingSettings(input_root=str(tmp_path / "feed"), database_url=db_url, home=tmp_path / "home")
    with pytest.raises(MissingEntityError, match="sync-day9/transactions"):
        stage_entity(spark, "transactions", ctx("transactions", "day9"), settings)
    skipped = stage_entity(spark, "budgets", ctx("budgets", "day9"), settings)

    assert (skipped.read, skipped.loaded, skipped.quarantined, skipped.duplicates, skipped.skipped) == (
        0,
        0,
        0,
        0,
        True,
    )
    assert skipped.warnings == [
        f"budgets: input folder {tmp_path / 'feed'}/sync-day9/budgets is missing; entity skipped"
    ]
    with psycopg.connect(db_url) as conn:
        assert conn.execute("select task_name, rows_read from ops.pipeline_metrics").fetchall() == [
            ("stage_budgets", 0)
        ]


def _roles_feed(root: Path, day: str) -> None:
    folder = root / f"sync-{day}" / "roles"
    folder.mkdir(parents=True)
    roles = [{"id": ROLE_ADMIN + n, "name": f"Role {n}", "created_at": "2022-01-01T00:00:00Z"} for n in range(3)]
    (folder / "1.json").write_text(json.dumps(roles), encoding="utf-8")


def _loads_and_metrics(db_url: str, run: str) -> tuple[int, ...]:
    """The run's staging loads, stg_roles rows and metrics rows."""
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "select (select count(*) from ops.staging_loads where flow_run_id = %(run)s),"
            " (select count(*) from staging.stg_roles where flow_run_id = %(run)s),"
            " (select count(*) from ops.pipeline_metrics where flow_run_id = %(run)s)",
            {"run": run},
        ).fetchall()
    return tuple(rows[0])


def test_a_failed_bronze_write_loads_nothing(spark, db_url, tmp_path: Path):
    """A bronze write that fails fails the step before its load is committed: no load, no staging
    rows (the rows copied meanwhile are removed) and no success row."""
    run = "11111111-2222-3333-4444-777777777777"
    _roles_feed(tmp_path / "feed", DAY)
    taken = tmp_path / "taken"
    taken.write_text("a file where the bronze folder would be", encoding="utf-8")
    settings = StagingSettings(
        input_root=str(tmp_path / "feed"), database_url=db_url, home=tmp_path / "home", bronze_root=str(taken / "b")
    )
    with pytest.raises(Exception, match="taken"):
        stage_entity(spark, "roles", ctx("roles", run=run), settings)
    assert _loads_and_metrics(db_url, run) == (0, 0, 0)


def test_a_failed_step_still_writes_bronze(spark, db_url, tmp_path: Path, monkeypatch):
    """A step that fails after its bronze write (here: in data quality) leaves bronze holding the
    day as read, and nothing loaded."""
    run = "11111111-2222-3333-4444-888888888888"
    _roles_feed(tmp_path / "feed", DAY)

    def failing(*_args, **_kwargs):
        raise RuntimeError("data quality failed")

    monkeypatch.setattr(stage, "_check_quality", failing)
    settings = StagingSettings(input_root=str(tmp_path / "feed"), database_url=db_url, home=tmp_path / "home")
    with pytest.raises(RuntimeError, match="data quality failed"):
        stage_entity(spark, "roles", ctx("roles", run=run), settings)
    bronze = spark.read.format("delta").load(str(tmp_path / "home" / "bronze" / "roles"))
    assert [tuple(r) for r in bronze.groupBy("day", "flow_run_id").count().collect()] == [(DAY, run, 3)]
    assert _loads_and_metrics(db_url, run) == (0, 0, 0)


def test_a_step_leaves_nothing_cached(spark, db_url, tmp_path: Path):
    """A step leaves nothing cached: not the read records, which the bronze write still reads after
    classification, nor any frame classification, derived tables or data quality cached."""
    _roles_feed(tmp_path / "feed", DAY)
    settings = StagingSettings(input_root=str(tmp_path / "feed"), database_url=db_url, home=tmp_path / "home")
    cached = spark.sparkContext._jsc.getPersistentRDDs()
    before = set(cached.keySet())
    result = stage_entity(spark, "roles", ctx("roles", run="11111111-2222-3333-4444-999999999999"), settings)
    assert (result.read, result.loaded) == (3, 3)
    assert set(spark.sparkContext._jsc.getPersistentRDDs().keySet()) - before == set()


def test_a_steps_jobs_share_the_executors_fairly_in_a_pool_of_its_entity(spark, db_url, tmp_path: Path):
    """Entities staged at once take turns at the executors: each step's jobs run in a fair-scheduling
    pool named after its entity (the bronze write's, from a thread of its own, in the default pool),
    and the thread is left without one."""
    _roles_feed(tmp_path / "feed", DAY)
    settings = StagingSettings(input_root=str(tmp_path / "feed"), database_url=db_url, home=tmp_path / "home")
    store = spark.sparkContext._jsc.sc().statusStore()

    def jobs() -> dict[int, Any]:
        listed, found = store.jobsList(None).iterator(), {}
        while listed.hasNext():
            job = listed.next()
            found[job.jobId()] = job
        return found

    def pool(stage_id: int) -> str | None:
        try:
            return store.lastStageAttempt(stage_id).schedulingPool()
        except Exception:  # noqa: BLE001 - a stage skipped (its output reused) never ran
            return None

    before = set(jobs())
    stage_entity(spark, "roles", ctx("roles", run="11111111-2222-3333-4444-aaaaaaaaaaaa"), settings)
    new = [job for job_id, job in jobs().items() if job_id not in before]
    used = {pool(s) for job in new for s in _ints(job.stageIds())} - {None}
    assert spark.conf.get("spark.scheduler.mode") == "FAIR"
    assert "roles" in used and used <= {"roles", "default"}
    assert spark.sparkContext.getLocalProperty(stage.SCHEDULER_POOL) is None


def _ints(seq: Any) -> list[int]:
    """A Scala sequence of ints, through Py4J."""
    items, found = seq.iterator(), []
    while items.hasNext():
        found.append(items.next())
    return found


def test_a_bronze_failure_behind_another_failure_is_logged(spark, db_url, tmp_path: Path, monkeypatch, caplog):
    """The step raises its own error (here: data quality's); a bronze write that failed meanwhile is
    logged with its entity, not lost."""
    run = "11111111-2222-3333-4444-aaaaaaaaaaaa"
    _roles_feed(tmp_path / "feed", DAY)
    taken = tmp_path / "taken"
    taken.write_text("a file where the bronze folder would be", encoding="utf-8")

    def failing(*_args, **_kwargs):
        raise RuntimeError("data quality failed")

    monkeypatch.setattr(stage, "_check_quality", failing)
    settings = StagingSettings(
        input_root=str(tmp_path / "feed"), database_url=db_url, home=tmp_path / "home", bronze_root=str(taken / "b")
    )
    with caplog.at_level("ERROR", logger="zluri_staging.stage"), pytest.raises(RuntimeError, match="data quality"):
        stage_entity(spark, "roles", ctx("roles", run=run), settings)
    logged = [r.getMessage() for r in caplog.records if r.name == "zluri_staging.stage"]
    assert len(logged) == 1 and logged[0].startswith("roles: the bronze write failed as well: ")
    assert "taken" in logged[0]
    assert _loads_and_metrics(db_url, run) == (0, 0, 0)
