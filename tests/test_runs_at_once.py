"""Runs at once: the same day twice ends like one run; two different days end as if run one after the
other (older day first: the newest day's state wins per table family); a writer blocked by a held lock
times out, is retried by Prefect and succeeds once the lock is released."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from sqlsteps import HELPDESK, SPEND, core_snapshot, query, run_day
from test_order_and_idempotence import DAY9, DAY10

from zluri_pg import RunContext, Timeouts


def _fresh_database(server_url: str) -> str:
    name = f"ref_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"create database {name} template zluri_test_template")
    return psycopg.conninfo.make_conninfo(server_url, dbname=name)


def _drop(server_url: str, url: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"drop database {psycopg.conninfo.conninfo_to_dict(url)['dbname']} with (force)")


def _without_run_ids(state):
    state = dict(state)
    state["agent_status_history"] = [r[:5] for r in state["agent_status_history"]]
    state["transactions"] = [r[:-1] for r in state["transactions"]]
    return state


def _serial(server_url: str, days: list[tuple[str, dict]]):
    url = _fresh_database(server_url)
    try:
        for label, tables in days:
            run_day(url, label, tables, HELPDESK + SPEND)
        return _without_run_ids(core_snapshot(url))
    finally:
        _drop(server_url, url)


@pytest.mark.parametrize("rounds", [3])
def test_two_different_days_at_once_equal_one_serial_order(db_url, pg_server_url, rounds):
    day_order = _serial(pg_server_url, [("day9", DAY9), ("day10", DAY10)])
    newer_first = _serial(pg_server_url, [("day10", DAY10), ("day9", DAY9)])
    # The two orders differ (bookkeeping such as first_seen_day, and cards whose older day carries
    # the newer updated_at), so a mix of them would show.
    assert day_order != newer_first
    for _ in range(rounds):
        url = _fresh_database(pg_server_url)
        try:
            barrier = threading.Barrier(2)

            def run(day, url=url, barrier=barrier):
                barrier.wait()
                return run_day(url, day[0], day[1], HELPDESK + SPEND, as_one_phase=True)

            with ThreadPoolExecutor(max_workers=2) as pool:
                list(pool.map(run, [("day10", DAY10), ("day9", DAY9)]))
            assert _without_run_ids(core_snapshot(url)) in (day_order, newer_first)
            # Whichever ran first, every sync-derived family ends at the newer day.
            assert {r["day"] for r in query(url, "select day from ops.latest_day")} == {"day10"}
        finally:
            _drop(pg_server_url, url)


def test_without_the_phase_lock_two_days_can_mix(db_url, pg_server_url):
    # Why the flow holds one lock for all its steps: step-level locks alone let the runs alternate,
    # and the result then equals neither serial order (here forced: day9's helpdesk steps, then all
    # of day10, then day9's spend steps).
    day_order = _serial(pg_server_url, [("day9", DAY9), ("day10", DAY10)])
    newer_first = _serial(pg_server_url, [("day10", DAY10), ("day9", DAY9)])
    from zluri_pg import run_step

    day9_run = str(uuid.uuid4())
    run_day(db_url, "day9", DAY9, HELPDESK, run_id=day9_run)
    run_day(db_url, "day10", DAY10, HELPDESK + SPEND)
    for step in SPEND:
        run_step(step, RunContext(day9_run, "day9", f"t{step[:3]}"), db_url)
    assert _without_run_ids(core_snapshot(db_url)) not in (day_order, newer_first)


def test_a_blocked_step_times_out_is_retried_by_prefect_and_succeeds_after_release(db_url, prefect):
    from prefect import flow

    from zluri_flows.tasks import upsert_task
    from zluri_pg.locks import advisory_xact_lock
    from zluri_pg.runner import set_run_context

    holder_run = "11111111-2222-4333-8444-555555555555"
    holder = psycopg.connect(db_url)
    set_run_context(holder, RunContext(holder_run, "day2", "upsert_groups"))
    advisory_xact_lock(holder, "core.groups")
    release = threading.Timer(1.5, holder.commit)

    @flow(name="blocked_step")
    def blocked_step():
        release.start()
        return upsert_task("030_update_group_status", "day1", db_url, timeouts=Timeouts(lock_seconds=1))

    state = blocked_step(return_state=True)
    release.join()
    holder.close()
    assert state.is_completed(), state.message
    rows = query(
        db_url,
        "select status, error_message from ops.pipeline_metrics where task_name = 'update_group_status' order by id",
    )
    # First attempt: a failure row naming the table and the holder; then, after the backoff, success.
    assert rows[0]["status"] == "failure" and rows[-1]["status"] == "success"
    assert (
        "LockTimeoutError: lock on core.groups not granted within lock_timeout 1s: held by flow run "
        f"{holder_run}, task upsert_groups" in rows[0]["error_message"]
    )


def test_the_same_day_twice_at_once_ends_like_one_run(db_url, spark, prefect, tmp_path, monkeypatch):
    # Whole flow runs: both stage the day at once (bronze Delta writes of the same partition race and
    # the loser retries), then their SQL steps run one run after the other (the upsert-phase lock).
    import json

    from sqlsteps import assert_core_matches

    from zluri_feedgen import generate_feed
    from zluri_flows.flow import zluri_day_pipeline

    feed = tmp_path / "feed"
    generate_feed(feed, days=1, agents=20, groups=6, depth=3, transactions=40, seed=9)
    monkeypatch.setenv("ZLURI_HOME", str(tmp_path / "home"))
    barrier = threading.Barrier(2)

    def run(_):
        barrier.wait()
        return zluri_day_pipeline("day1", str(feed), return_state=True)

    with ThreadPoolExecutor(max_workers=2) as pool:
        states = list(pool.map(run, range(2)))
    assert [s.is_completed() for s in states] == [True, True], [s.message for s in states]
    # The end state is the day's truth, and one of the two runs' steps found nothing left to change.
    assert_core_matches(db_url, json.loads((feed / "expected.json").read_text())["final"])
    changes = {
        s.result()["flow_run_id"]: query(
            db_url,
            "select coalesce(sum(rows_inserted + rows_updated + rows_deleted), 0) as n from ops.pipeline_metrics "
            "where flow_run_id = %s and table_name like 'core.%%'",
            [s.result()["flow_run_id"]],
        )[0]["n"]
        for s in states
    }
    assert sorted(changes.values())[0] == 0 < sorted(changes.values())[1]
    bronze = spark.read.format("delta").load(str(tmp_path / "home" / "bronze" / "agents"))
    assert bronze.count() == states[0].result()["tasks"]["stage_agents"]["read"]
    assert bronze.select("flow_run_id").distinct().count() == 1
