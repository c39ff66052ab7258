"""Re-runs are no-ops; an older day run after a newer one changes nothing the newer day wrote."""

import uuid
from concurrent.futures import ThreadPoolExecutor

from sqlsteps import HELPDESK, SPEND, core_snapshot, query, run_day


def feed(listed, groups, members, roles, txns):
    return {
        "stg_agents": [{"agent_id": a, "updated_at": "2026-01-01T00:00:00Z"} for a in listed],
        "stg_agent_details": [{"agent_id": a, "updated_at": "2026-01-01T00:00:00Z"} for a in (1, 2, 3)],
        "stg_roles": [{"role_id": r} for r in (10, 11)],
        "stg_agent_roles": [{"agent_id": a, "role_id": r} for a, r in roles],
        "stg_groups": [{"group_id": g, "parent_group_id": p} for g, p in groups.items()],
        "stg_group_memberships": [{"group_id": g, "agent_id": a} for g, a in members],
        "stg_budgets": [{"budget_id": "b1", "name": f"budget {len(listed)}"}],
        "stg_cards": [
            {
                "card_id": "c1",
                "status": "ACTIVATED" if len(listed) > 1 else "FROZEN",
                "updated_at": f"2026-01-0{len(listed)}T00:00:00Z",
            }
        ],
        "stg_transactions": [{"transaction_id": t, "updated_at": u, "original_amount": a} for t, u, a in txns],
        "stg_input_files": [{"entity": "transactions", "source_file": "t.json", "sha256": str(txns)}],
    }


DAY9 = feed(
    [1, 2, 3], {10: None, 11: 10}, [(10, 1), (11, 2)], [(1, 10), (2, 11)], [("t1", "2026-01-05T10:00:00Z", "1.00")]
)
DAY10 = feed([1], {10: None, 11: None}, [(11, 1)], [(1, 11)], [("t1", "2026-01-06T10:00:00Z", "2.00")])


def test_rerunning_a_day_changes_nothing_and_reports_zero(db_url):
    run_day(db_url, "day9", DAY9, HELPDESK + SPEND)
    before = core_snapshot(db_url)
    metrics = run_day(db_url, "day9", DAY9, HELPDESK + SPEND)
    assert core_snapshot(db_url) == before
    for step, m in metrics.items():
        assert (step, m["rows_inserted"], m["rows_updated"], m["rows_deleted"]) == (step, 0, 0, 0)


def test_day10_then_day9_leaves_day10_state(db_url):
    run_day(db_url, "day10", DAY10, HELPDESK + SPEND)
    after_day10 = core_snapshot(db_url)
    metrics = run_day(db_url, "day9", DAY9, HELPDESK + SPEND)
    after = core_snapshot(db_url)
    # Only day9's own status history rows are added; every other core row is day10's.
    added_history = [r for r in after.pop("agent_status_history") if r[1] == "day9"]
    after_day10.pop("agent_status_history")
    assert after == after_day10
    assert {(r[0], r[2]) for r in added_history} == {(1, "active"), (2, "active"), (3, "active")}
    assert metrics["010_upsert_agents"]["rows_skipped"] == 3
    assert query(db_url, "select day from ops.latest_day where family = 'core.agents'") == [{"day": "day10"}]


def test_two_runs_of_the_same_day_at_once_end_like_one(db_url, pg_server_url):
    import psycopg

    def reference_state():
        name = f"ref_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(f"create database {name} template zluri_test_template")
        url = psycopg.conninfo.make_conninfo(pg_server_url, dbname=name)
        run_day(url, "day9", DAY9, HELPDESK + SPEND)
        state = core_snapshot(url)
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(f"drop database {name} with (force)")
        return state

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda _: run_day(db_url, "day9", DAY9, HELPDESK + SPEND), range(2)))

    def without_run_ids(state):
        state = dict(state)
        state["agent_status_history"] = [r[:5] for r in state["agent_status_history"]]
        state["transactions"] = [r[:-1] for r in state["transactions"]]
        return state

    assert without_run_ids(core_snapshot(db_url)) == without_run_ids(reference_state())


def test_every_step_writes_exactly_one_metrics_row_per_run(db_url):
    run_id = str(uuid.uuid4())
    run_day(db_url, "day9", DAY9, HELPDESK + SPEND, run_id=run_id)
    rows = query(
        db_url, "select task_name, status from ops.pipeline_metrics where flow_run_id = %s order by id", [run_id]
    )
    assert rows == [{"task_name": f"t{s[:3]}", "status": "success"} for s in HELPDESK + SPEND]
