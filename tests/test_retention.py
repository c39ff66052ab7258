"""Retention end to end: one day run three times, each run pruning after it succeeds, then `zluri prune`."""

from __future__ import annotations

import os
import time

import pytest
from sqlsteps import query
from typer.testing import CliRunner

from zluri_feedgen import generate_feed


@pytest.fixture()
def three_runs(db_url, spark, prefect, tmp_path, monkeypatch):
    from zluri_flows.flow import zluri_day_pipeline

    feed = tmp_path / "feed"
    generate_feed(feed, days=1, agents=20, groups=6, depth=3, transactions=40, seed=3)
    home = tmp_path / "home"
    monkeypatch.setenv("ZLURI_HOME", str(home))
    monkeypatch.delenv("ZLURI_RETENTION_DAYS", raising=False)
    runs = []
    for _ in range(3):
        state = zluri_day_pipeline("day1", str(feed), return_state=True)
        assert state.is_completed(), state.message
        runs.append(state.result())
    return home, runs


def _staged_runs(url):
    tables = [
        r["table_name"]
        for r in query(
            url,
            "select table_name from information_schema.columns where "
            "table_schema = 'staging' and column_name = 'flow_run_id'",
        )
    ]
    return {t: {r["flow_run_id"] for r in query(url, f"select distinct flow_run_id from staging.{t}")} for t in tables}


def _age(path, days):
    stamp = time.time() - days * 86400
    for p in [path, *path.rglob("*")]:
        os.utime(p, (stamp, stamp))


def test_one_day_three_times_then_prune(three_runs, db_url, spark):
    from zluri_flows.cli import app

    home, runs = three_runs
    last = runs[-1]["flow_run_id"]
    # The prune after each successful run removed the earlier runs' staging rows.
    staged = _staged_runs(db_url)
    assert set().union(*staged.values()) == {last}
    assert staged["stg_agents"] == {last}
    assert query(db_url, "select status, count(*) as n from ops.day_runs group by 1") == [{"status": "success", "n": 3}]

    # Quarantine rows of the first two runs are 40 days old; their reports too (the newest of the day
    # as well, so it is kept only because it is the newest).
    with_raw = query(db_url, "select count(*) as n from ops.quarantine where raw_record is not null")[0]["n"]
    assert with_raw > 0
    old_runs = [r["flow_run_id"] for r in runs[:2]]
    query(
        db_url,
        "update ops.quarantine set quarantined_at = now() - interval '40 days' where flow_run_id = any(%s) returning 1",
        [old_runs],
    )
    reasons_before = query(db_url, "select flow_run_id, entity, reason from ops.quarantine order by id")
    reports = [home / "reports" / "day1" / r["flow_run_id"] for r in runs]
    for days, report in zip((42, 41, 40), reports):
        _age(report, days)

    runner = CliRunner()
    dry = runner.invoke(app, ["prune", "--keep-days", "30", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"would remove: {reports[0]}" in dry.output and f"would remove: {reports[1]}" in dry.output
    assert str(reports[2]) not in dry.output
    assert "dry run: nothing removed; keep 30 day(s)" in dry.output
    assert all(r.is_dir() for r in reports)
    assert query(db_url, "select count(*) as n from ops.quarantine where raw_record is not null")[0]["n"] == with_raw

    done = runner.invoke(app, ["prune", "--keep-days", "30"])
    assert done.exit_code == 0, done.output
    assert "removed" in done.output and "bronze" in done.output
    # Raw text older than 30 days is gone, every row with its reason remains.
    assert query(db_url, "select flow_run_id, entity, reason from ops.quarantine order by id") == reasons_before
    assert query(db_url, "select distinct flow_run_id from ops.quarantine where raw_record is not null") == [
        {"flow_run_id": last}
    ]
    # The newest report of the day stays, older ones go; the bronze partition of the day is intact.
    assert [r.is_dir() for r in reports] == [False, False, True]
    assert (reports[2] / "summary.json").is_file()
    bronze = spark.read.format("delta").load(str(home / "bronze" / "agents")).where("day = 'day1'")
    assert {r["flow_run_id"] for r in bronze.select("flow_run_id").distinct().collect()} == {last}
    assert bronze.count() == runs[-1]["tasks"]["stage_agents"]["read"]
    assert _staged_runs(db_url)["stg_agents"] == {last}
