"""The guards and audits of the SQL steps, on staged rows (no Spark): mass-change guard before 010/020
deactivate and delete, one day-label scheme per database, audited FX rates, and the transactions
checksum shortcut that must not skip transactions that waited for a rate."""

from __future__ import annotations

import uuid
from decimal import Decimal

import psycopg
import pytest
from sqlsteps import HELPDESK, SPEND, core_snapshot, load_staging, query

from zluri_flows.dag import GUARD
from zluri_pg import RunContext, SqlFileError, run_step

GUARDED = [GUARD, *HELPDESK]


def helpdesk(agent_ids, groups: dict[int, list[int]] | None = None) -> dict[str, list[dict]]:
    groups = {900: list(agent_ids)} if groups is None else groups
    return {
        "stg_agents": [{"agent_id": a, "updated_at": "2026-01-01T00:00:00Z"} for a in agent_ids],
        "stg_groups": [{"group_id": g, "name": f"G{g}"} for g in groups],
        "stg_group_memberships": [{"group_id": g, "agent_id": a} for g, ids in groups.items() for a in ids],
    }


def run(url, day, tables, steps=GUARDED, **options):
    run_id = str(uuid.uuid4())
    load_staging(url, run_id, day, tables)
    opts = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in options.items()}
    return {s: run_step(s, RunContext(run_id, day, f"t{s[:3]}", options=opts), url) for s in steps}


AGENTS = list(range(1, 26))  # 25 active agents: above the default minimum population of 20


def test_ninety_percent_of_agents_missing_is_refused_until_allowed(db_url):
    run(db_url, "day1", helpdesk(AGENTS))
    before = core_snapshot(db_url)
    with pytest.raises(
        SqlFileError,
        match=r"mass change refused for day day2: agents: would deactivate 23 of 25 "
        r"active agents \(92.0%\), more than the 25.0% threshold",
    ):
        run(db_url, "day2", helpdesk(AGENTS[:2]))
    assert core_snapshot(db_url) == before
    # 010 and 020 refuse on their own too, inside their transaction, before writing.
    for step, what in (("010_upsert_agents", "agents: would deactivate 23"), ("020_upsert_groups", "remove 23 of 25")):
        with pytest.raises(SqlFileError, match=what):
            run(db_url, "day2", helpdesk(AGENTS[:2]), steps=[step])
        assert core_snapshot(db_url) == before
    applied = run(db_url, "day2", helpdesk(AGENTS[:2]), allow_mass_change=True)
    assert applied["005_check_mass_change"]["note"].startswith(
        "mass change allowed (--allow-mass-change): agents: would deactivate 23 of 25 active agents"
    )
    assert "group_memberships: would remove 23 of 25 memberships" in applied["005_check_mass_change"]["note"]
    assert applied["010_upsert_agents"]["note"].startswith("mass change allowed")
    assert query(db_url, "select count(*) as n from core.agents where status = 'active'") == [{"n": 2}]
    assert (
        query(db_url, "select count(*) as n from ops.pipeline_metrics where note like 'mass change allowed%'")[0]["n"]
        == 3
    )  # the guard, 010 and 020


def test_no_valid_agents_or_groups_where_there_were_some_is_refused_at_any_size(db_url):
    run(db_url, "day1", helpdesk([1, 2, 3]))
    before = core_snapshot(db_url)
    with pytest.raises(
        SqlFileError,
        match=r"agents: 0 valid records in this day's input, the newest applied day "
        r"\(day1\) listed 3",
    ):
        run(db_url, "day2", {"stg_groups": [{"group_id": 900, "name": "G900"}]})
    with pytest.raises(
        SqlFileError,
        match=r"admin_groups: 0 valid records in this day's input, the newest applied "
        r"day \(day1\) had 1",
    ):
        run(db_url, "day2", {"stg_agents": helpdesk([1, 2, 3])["stg_agents"]})
    assert core_snapshot(db_url) == before


def test_small_populations_and_normal_churn_pass(db_url):
    # The bundled sample's shape: 3 of 6 agents go inactive on day 2.
    run(db_url, "day1", helpdesk([1, 2, 3, 4, 5, 6]))
    metrics = run(db_url, "day2", helpdesk([1, 2, 3]))
    assert metrics["005_check_mass_change"]["note"] is None
    assert query(db_url, "select count(*) as n from core.agents where status = 'inactive'") == [{"n": 3}]
    # 25 agents, 5 leave (20%): under the threshold.
    run(db_url, "day3", helpdesk(AGENTS))
    run(db_url, "day4", helpdesk(AGENTS[5:]))
    assert query(db_url, "select count(*) as n from core.agents where status = 'active'") == [{"n": 20}]


def test_the_threshold_is_configurable(db_url):
    run(db_url, "day1", helpdesk(AGENTS))
    with pytest.raises(SqlFileError, match=r"would deactivate 5 of 25 active agents \(20.0%\), more than the 10.0%"):
        run(db_url, "day2", helpdesk(AGENTS[5:]), mass_change_max_share=0.1)
    run(db_url, "day2", helpdesk(AGENTS[:2]), mass_change_min_population=26)


def test_an_older_day_is_never_refused(db_url):
    run(db_url, "day1", helpdesk(AGENTS))
    run(db_url, "day3", helpdesk(AGENTS))
    before = core_snapshot(db_url)
    run(db_url, "day2", helpdesk(AGENTS[:2]))  # older: writes no sync-derived state
    after = core_snapshot(db_url)
    assert {k: v for k, v in after.items() if k != "agent_status_history"} == {
        k: v for k, v in before.items() if k != "agent_status_history"
    }


def test_a_label_of_the_other_scheme_is_refused_and_core_is_unchanged(db_url):
    run(db_url, "2026-01-05", helpdesk([1, 2, 3]))
    assert query(db_url, "select scheme, first_day from ops.day_scheme") == [
        {"scheme": "YYYY-MM-DD", "first_day": "2026-01-05"}
    ]
    before = core_snapshot(db_url)
    for steps in (["005_check_mass_change"], ["010_upsert_agents"], SPEND):
        with pytest.raises(
            SqlFileError,
            match=r"day label 'day1' is of the day<N> scheme, but this database holds "
            r"YYYY-MM-DD labels \(first day '2026-01-05'\)",
        ):
            run(db_url, "day1", helpdesk([1, 2, 3]), steps=steps)
    assert core_snapshot(db_url) == before
    run(db_url, "2026-01-06", helpdesk([1, 2, 3]))


def test_day_label_check_in_sql_matches_the_python_one(db_url):
    with psycopg.connect(db_url) as conn:
        got = {
            d: conn.execute("select ops.day_label_scheme(%s)", [d]).fetchone()[0]
            for d in ["day1", "day10", "day01", "day0", "2026-01-05", "2026-02-30", "2026-1-5", "Day1", "d1"]
        }
    assert got == {
        "day1": "day<N>",
        "day10": "day<N>",
        "day01": None,
        "day0": None,
        "2026-01-05": "YYYY-MM-DD",
        "2026-02-30": None,
        "2026-1-5": None,
        "Day1": None,
        "d1": None,
    }


def txn(tid: str, amount: str, rate: str) -> dict:
    return {
        "transaction_id": tid,
        "updated_at": "2026-11-20T10:00:00Z",
        "occurred_at": "2026-11-20T10:00:00Z",
        "original_amount": amount,
        "original_currency": "EUR",
        "fx_rate": rate,
        "fx_rate_date": "2026-11-20",
        "amount_usd": str(round(float(amount) * float(rate), 6)),
    }


def test_a_rerun_of_the_same_files_loads_transactions_once_their_rate_arrived(db_url):
    files = [{"entity": "transactions", "source_file": "transactions/1.json", "sha256": "abc", "records": 2}]
    rate = [{"currency": "USD", "rate_date": "2026-11-20", "usd_per_unit": "1", "source": "ecb"}]
    first = {
        "stg_transactions": [{**txn("t1", "10.00", "1"), "original_currency": "USD"}],
        "stg_input_files": files,
        "stg_fx_rates": rate,
    }
    run(db_url, "day1", first, steps=SPEND)
    # The same run again: the shortcut still applies.
    assert run(db_url, "day1", first, steps=SPEND)["040_upsert_transactions"]["rows_skipped"] == 1
    # The same files once EUR's rate is published: t2 is staged now and must be loaded.
    eur = {"currency": "EUR", "rate_date": "2026-11-20", "usd_per_unit": "1.15", "source": "ecb"}
    second = {
        **first,
        "stg_transactions": [*first["stg_transactions"], txn("t2", "4.63", "1.15")],
        "stg_fx_rates": [*rate, eur],
    }
    m = run(db_url, "day1", second, steps=SPEND)["040_upsert_transactions"]
    assert (m["rows_inserted"], m["rows_skipped"]) == (1, 1)
    assert query(db_url, "select transaction_id, fx_rate from core.transactions order by 1") == [
        {"transaction_id": "t1", "fx_rate": Decimal("1")},
        {"transaction_id": "t2", "fx_rate": Decimal("1.15")},
    ]


def test_a_stored_rate_is_revised_only_with_a_note_and_the_old_value_kept(db_url):
    eur = {"currency": "EUR", "rate_date": "2026-01-05", "usd_per_unit": "1.1", "source": "override"}
    first = run(db_url, "day1", {"stg_fx_rates": [eur]}, steps=["035_upsert_fx_rates"])
    assert first["035_upsert_fx_rates"]["note"] is None
    revised = run(db_url, "day2", {"stg_fx_rates": [{**eur, "usd_per_unit": "1.2"}]}, steps=["035_upsert_fx_rates"])
    assert revised["035_upsert_fx_rates"]["note"] == (
        "1 stored rate(s) revised, old values kept in core.fx_rate_revisions: EUR 2026-01-05 override 1.1 -> 1.2"
    )
    assert query(db_url, "select currency, old_usd_per_unit, new_usd_per_unit, day from core.fx_rate_revisions") == [
        {"currency": "EUR", "old_usd_per_unit": Decimal("1.1"), "new_usd_per_unit": Decimal("1.2"), "day": "day2"}
    ]
    same = run(db_url, "day3", {"stg_fx_rates": [{**eur, "usd_per_unit": "1.2"}]}, steps=["035_upsert_fx_rates"])
    assert same["035_upsert_fx_rates"]["note"] is None


def test_awaiting_rate_quarantine_rows_are_retriable_and_name_their_days(db_url):
    run_a, run_b = str(uuid.uuid4()), str(uuid.uuid4())
    with psycopg.connect(db_url) as conn:
        for run_id, day, reason in [
            (run_a, "day1", "awaiting FX rate: EUR on 2026-11-20 (newest rate 2026-10-30)"),
            (run_a, "day1", "awaiting FX rate: EUR on 2026-11-20 (newest rate 2026-10-30); transaction_id missing"),
            (run_a, "day1", "no FX rate for RUB on 2026-11-20"),
            (run_b, "day2", "awaiting FX rate: GBP on 2026-11-21 (newest rate 2026-10-30)"),
        ]:
            conn.execute(
                "insert into ops.quarantine (flow_run_id, day, entity, reason) values (%s, %s, 'transactions', %s)",
                [run_id, day, reason],
            )
            conn.execute(
                "insert into ops.pipeline_metrics (flow_run_id, task_name, pipeline_name, table_name, day, status,"
                " finished_at) values (%s, 'stage_transactions', 'p', 'staging.stg_transactions', %s, 'success',"
                " now())",
                [run_id, day],
            )
    assert [r["retriable"] for r in query(db_url, "select retriable from ops.quarantine order by id")] == [
        True,
        False,
        False,
        True,
    ]
    assert query(db_url, "select day, transactions, newest_rate_date from ops.fx_awaiting_days order by day") == [
        {"day": "day1", "transactions": 1, "newest_rate_date": "2026-10-30"},
        {"day": "day2", "transactions": 1, "newest_rate_date": "2026-10-30"},
    ]
    # day2 re-run after the rates arrived: its newest staging run parks nothing, so it drops out.
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "insert into ops.pipeline_metrics (flow_run_id, task_name, pipeline_name, table_name, day, status,"
            " finished_at) values (%s, 'stage_transactions', 'p', 'staging.stg_transactions', 'day2', 'success',"
            " now() + interval '1 second')",
            [str(uuid.uuid4())],
        )
    assert [r["day"] for r in query(db_url, "select day from ops.fx_awaiting_days")] == ["day1"]
