"""retention.py: which staging rows and quarantined raw text go, and that a dry run removes nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg

from zluri_pg.retention import prune_database, space_held
from zluri_pg.runs import finish_run, start_run

NOW = datetime.now(UTC)


def _run(url: str, day: str, status: str | None, started_days_ago: float = 0) -> str:
    run = str(uuid.uuid4())
    with psycopg.connect(url) as conn:
        conn.execute(
            "insert into staging.stg_roles (flow_run_id, day, role_id) values (%s, %s, 1), (%s, %s, 2)",
            [run, day, run, day],
        )
        conn.execute(
            "insert into ops.quarantine (flow_run_id, day, entity, reason, raw_record, quarantined_at) "
            "values (%s, %s, 'roles', 'bad id', '{\"id\": \"x\"}', now() - %s * interval '1 day')",
            [run, day, started_days_ago],
        )
    if status is not None:
        start_run(url, run, day)
        if status != "running":
            finish_run(url, run, succeeded=status == "success")
        with psycopg.connect(url) as conn:
            conn.execute(
                "update ops.day_runs set started_at = now() - %s * interval '1 day', "
                "finished_at = case when finished_at is null then null else now() - %s * interval '1 day' end "
                "where flow_run_id = %s",
                [started_days_ago, started_days_ago, run],
            )
    return run


def _staged_runs(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute("select distinct flow_run_id from staging.stg_roles")}


def test_only_the_newest_successful_run_of_a_day_keeps_its_staging_rows(db_url):
    first = _run(db_url, "day1", "success", 0.3)
    failed = _run(db_url, "day1", "failure", 0.2)
    last = _run(db_url, "day1", "success", 0.1)
    failed_day2 = _run(db_url, "day2", "failure", 0.1)
    running_day2 = _run(db_url, "day2", "running", 0.05)
    by_hand = _run(db_url, "day3", None)

    dry = prune_database(db_url, 30, dry_run=True)
    assert _staged_runs(db_url) == {first, failed, last, failed_day2, running_day2, by_hand}
    runs = next(p for p in dry if p.name == "finished runs")
    assert runs.items == 2 and set(runs.details) == {
        f"run {first} (day day1, success)",
        f"run {failed} (day day1, failure)",
    }
    roles = next(p for p in dry if p.name == "staging.stg_roles")
    assert (roles.items, roles.held_bytes > 0) == (4, True)

    prune_database(db_url, 30, dry_run=False)
    # day1 succeeded last: earlier runs go. day2's failed run stays (for debugging) until day2 succeeds
    # or it ages out; a running run and rows loaded by hand are never touched while young.
    assert _staged_runs(db_url) == {last, failed_day2, running_day2, by_hand}


def test_runs_older_than_the_retention_go_whatever_their_outcome_but_never_a_young_running_one(db_url):
    old_failure = _run(db_url, "day1", "failure", 3)
    old_success = _run(db_url, "day2", "success", 3)
    crashed = _run(db_url, "day3", "running", 3)
    young_running = _run(db_url, "day4", "running", 0.01)
    young_failure = _run(db_url, "day5", "failure", 0.5)

    prune_database(db_url, 2, dry_run=False)
    assert _staged_runs(db_url) == {young_running, young_failure}
    assert {old_failure, old_success, crashed}.isdisjoint(_staged_runs(db_url))
    # keep-days 0: every finished run's rows go, still not a running one younger than a day.
    prune_database(db_url, 0, dry_run=False)
    assert _staged_runs(db_url) == {young_running}


def test_quarantine_keeps_reasons_and_counts_but_drops_raw_text_after_the_retention(db_url):
    _run(db_url, "day1", "success", 10)
    _run(db_url, "day2", "success", 1)
    pruned = prune_database(db_url, 5, dry_run=True)
    raw = next(p for p in pruned if p.area == "quarantine")
    assert (raw.items, raw.freed_bytes) == (1, len('{"id": "x"}'))

    prune_database(db_url, 5, dry_run=False)
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("select day, reason, raw_record from ops.quarantine order by day").fetchall()
    assert rows == [("day1", "bad id", None), ("day2", "bad id", '{"id": "x"}')]


def test_space_held_names_every_staging_table_and_the_quarantine(db_url):
    held = space_held(db_url)
    names = {p.name for p in held}
    assert {"staging.stg_agents", "staging.stg_transactions", "staging.stg_input_files", "ops.quarantine"} <= names
    assert all(p.held_bytes > 0 and p.items == 0 for p in held)
