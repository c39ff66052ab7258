"""The Prefect flow end to end on a generated 3-day feed: real Spark, real Postgres, real Prefect."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlsteps import assert_core_matches, core_snapshot, query

from zluri_feedgen import generate_feed
from zluri_flows.dag import STAGE_DEPENDENCIES, UPSERT_DEPENDENCIES
from zluri_pg import sql_dir

DAYS = ["day1", "day2", "day3"]
TASKS = {f"stage_{e}" for e in STAGE_DEPENDENCIES} | {s.split("_", 1)[1] for s in UPSERT_DEPENDENCIES}


@pytest.fixture(scope="module")
def feed(tmp_path_factory):
    root = tmp_path_factory.mktemp("feed")
    generate_feed(root, days=3, agents=40, groups=10, depth=4, transactions=80, seed=11)
    return root, json.loads((root / "expected.json").read_text())


@pytest.fixture()
def backfilled(db_url, spark, prefect, feed):
    from zluri_flows.flow import zluri_backfill

    root, truth = feed
    state = zluri_backfill(DAYS, str(root), return_state=True)
    assert state.is_completed(), state.message
    return root, truth, state.result()


def test_core_tables_match_the_generators_truth(backfilled, db_url):
    _, truth, _ = backfilled
    assert_core_matches(db_url, truth["final"])


def test_quarantine_and_metrics_per_day(backfilled, db_url):
    _, truth, results = backfilled
    for result in results:
        day, run_id = result["day"], result["flow_run_id"]
        rows = query(db_url, "select task_name, status, day from ops.pipeline_metrics where flow_run_id = %s", [run_id])
        assert {r["task_name"] for r in rows} == TASKS
        assert all(r["status"] == "success" and r["day"] == day for r in rows)
        assert len(rows) == len(TASKS)
        malformed = truth["per_day"][day]["malformed_files"]
        expected = {e: sum(reasons.values()) for e, reasons in truth["per_day"][day]["quarantined"].items()}
        expected = {e: n for e, n in expected.items() if n}
        quarantined = query(
            db_url,
            "select entity, source_file, reason from ops.quarantine where flow_run_id = %s "
            "and reason not like 'cycle in group hierarchy%%'",
            [run_id],
        )
        from_files = [
            q
            for q in quarantined
            if any(q["source_file"] and q["source_file"].endswith(m.split("/", 1)[1]) for m in malformed)
        ]
        assert len(from_files) == len(malformed)
        by_entity: dict[str, int] = {}
        for q in quarantined:
            if q not in from_files:
                by_entity[q["entity"]] = by_entity.get(q["entity"], 0) + 1
        assert by_entity == expected
        report = Path(result["report"])
        assert (report / "summary.json").is_file() and (report / "index.html").is_file()


def test_rerunning_a_day_is_a_no_op(backfilled, db_url):
    from zluri_flows.flow import zluri_day_pipeline

    root, _, _ = backfilled
    before = core_snapshot(db_url)
    state = zluri_day_pipeline("day3", str(root), return_state=True)
    assert state.is_completed(), state.message
    after = core_snapshot(db_url)
    assert after == before
    run_id = state.result()["flow_run_id"]
    changed = query(
        db_url,
        "select task_name, rows_inserted, rows_updated, rows_deleted from ops.pipeline_metrics "
        "where flow_run_id = %s and table_name like 'core.%%' "
        "and rows_inserted + rows_updated + rows_deleted > 0",
        [run_id],
    )
    assert changed == []


def test_a_failing_task_fails_the_flow_and_leaves_independent_results(
    db_url, spark, prefect, feed, tmp_path, monkeypatch
):
    from zluri_flows.flow import zluri_day_pipeline

    root, _ = feed
    broken = tmp_path / "sql"
    shutil.copytree(sql_dir(), broken)
    (broken / "upserts" / "040_upsert_transactions.sql").write_text(
        "-- reads: -; writes: core.transactions\nselect 1 / 0;\n"
    )
    monkeypatch.setenv("ZLURI_SQL_DIR", str(broken))

    state = zluri_day_pipeline("day1", str(root), return_state=True)
    assert state.is_failed()
    assert "040_upsert_transactions" in state.message and "division by zero" in state.message
    run_id = str(state.state_details.flow_run_id)
    rows = {
        r["task_name"]: r
        for r in query(
            db_url, "select task_name, status, error_message from ops.pipeline_metrics where flow_run_id = %s", [run_id]
        )
    }
    assert rows["upsert_transactions"]["status"] == "failure"
    assert "division by zero" in rows["upsert_transactions"]["error_message"]
    assert rows["update_group_status"]["status"] == "success"
    assert query(db_url, "select count(*) as n from core.transactions") == [{"n": 0}]
    assert query(db_url, "select count(*) > 0 as some from core.agents") == [{"some": True}]
