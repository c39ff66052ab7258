"""The run report and the history page, from hand-made entity reports and run facts (no Spark)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from zluri_staging import dq
from zluri_staging.report import (
    Anomaly,
    EntityReport,
    RunFacts,
    TaskFacts,
    build_history,
    find_anomalies,
    write_entity_report,
    write_run_report,
)

UNIQUE = dq.ExpectationOutcome("expect_column_values_to_be_unique(agent_id)", "critical", True, 3, 0,
                               unexpected_percent=0.0)  # fmt: skip
BAD_EMAIL = dq.ExpectationOutcome("expect_column_values_to_match_regex(email)", "warning", False, 3, 1,
                                  ["not-an-email"], "have an email that is not an address", unexpected_percent=33.3)  # fmt: skip


def _agents_report() -> EntityReport:
    validation = dq.EntityDQ("agents", 1, 1, [], ["agents: 1 of 3 rows have an email that is not an address"],
                             [UNIQUE, BAD_EMAIL])  # fmt: skip
    return EntityReport("agents", 4, 3, 1, 0, 3, {"invalid agent id": 1}, [], validation)


def _facts(day: str = "day1", run: str = "0f7c2a4e-1111-2222-3333-444455556666", **kw) -> RunFacts:
    defaults: dict[str, Any] = dict(
        started_at="2026-12-01T10:00:00+00:00", finished_at="2026-12-01T10:01:30+00:00", input_root="/feed",
        tasks=[TaskFacts("stage_agents", "success", 2.5, entity="agents", read=4, inserted=3, quarantined=1),
               TaskFacts("010_upsert_agents", "success", 0.4, step="010_upsert_agents", inserted=3, updated=1)],
        input_files=[{"entity": "agents", "source_file": "/feed/sync-day1/agents/1.json", "sha256": "ab" * 32,
                      "records": 4}],
        quarantine=[{"entity": "agents", "reason": "invalid agent id", "count": 1,
                     "samples": [{"source_file": "1.json", "raw_record": '{"id": "x<y>"}'}]}],
        quarantine_records=[{"entity": "agents", "reason": "invalid agent id", "source_file": "1.json",
                             "raw_record": '{"id": "x<y>"}'}],
    )  # fmt: skip
    defaults.update(kw)
    return RunFacts(day=day, flow_run_id=run, **defaults)


def test_a_clean_run_page_shows_counts_warnings_quarantine_expectations_and_steps(tmp_path):
    write_entity_report(tmp_path, _agents_report())
    summary = json.loads(write_run_report(tmp_path, _facts()).read_text())
    assert (summary["day"], summary["success"], summary["status"], summary["duration_seconds"]) == (
        "day1", True, "succeeded", 90.0)  # fmt: skip
    assert summary["steps"] == {
        "010_upsert_agents": {
            "inserted": 3,
            "updated": 1,
            "deleted": 0,
            "skipped": 0,
            "quarantined": 0,
            "outcome": "success",
            "seconds": 0.4,
        }
    }
    agents = summary["entities"]["agents"]
    assert (agents["status"], agents["read"], agents["loaded"], agents["reconciled"]) == ("warned", 4, 3, True)
    assert [x["observed"] for x in agents["expectations"]] == [
        "0 of 3 rows unexpected (0.0%)", "1 of 3 rows unexpected (33.3%)"]  # fmt: skip

    page = (tmp_path / "index.html").read_text()
    for text in (
        "Day day1",
        "SUCCEEDED",
        "0f7c2a4e-1111-2222-3333-444455556666",
        "1 of 3 rows have an email",
        "invalid agent id",
        "{&quot;id&quot;: &quot;x&lt;y&gt;&quot;}",
        "010_upsert_agents",
        "0 of 3 rows unexpected (0.0%)",
        'href="quarantine.html"',
        "/feed/sync-day1/agents/1.json",
    ):
        assert text in page, text
    # A warning that starts with its entity's name is listed under that name once.
    assert "<li><b>agents</b>: 1 of 3 rows have an email that is not an address</li>" in page
    assert "<script" not in page and not re.search(r"(src|href)=\"(https?:)?//", page)
    assert "x&lt;y&gt;" in (tmp_path / "quarantine.html").read_text()


def test_a_task_that_failed_before_its_report_fails_the_run_and_is_named(tmp_path):
    write_entity_report(tmp_path, _agents_report())
    facts = _facts(tasks=[
        TaskFacts("stage_agents", "success", 2.5, entity="agents"),
        TaskFacts("stage_cards", "failure", 1.0, entity="cards", error="CheckViolation: cards_rejected"),
        TaskFacts("060_upsert_cards", "not run", step="060_upsert_cards"),
    ])  # fmt: skip
    summary = json.loads(write_run_report(tmp_path, facts).read_text())
    assert (summary["success"], summary["status"]) == (False, "failed")
    assert summary["failed"] == [
        {"task": "stage_cards", "entity": "cards", "step": None, "error": "CheckViolation: cards_rejected"}]  # fmt: skip
    assert summary["not_run"] == ["060_upsert_cards"]
    assert (summary["entities"]["cards"]["status"], summary["entities"]["cards"]["error"]) == (
        "failed", "CheckViolation: cards_rejected")  # fmt: skip
    page = (tmp_path / "index.html").read_text()
    assert "The run failed." in page and "cards_rejected" in page and "FAILED" in page


def test_a_critical_expectation_fails_the_run_even_if_every_task_succeeded(tmp_path):
    failing = dq.EntityDQ("cards", 0, 1, [("expect_column_values_to_be_unique(card_id)", ["c1"])], [])
    write_entity_report(tmp_path, EntityReport("cards", 2, 2, 0, 0, 0, dq=failing))
    summary = json.loads(write_run_report(tmp_path, _facts(tasks=[])).read_text())
    assert summary["success"] is False
    assert [f["entity"] for f in summary["failed"]] == ["cards"]


def _write_day(root: Path, day: str, loaded: int, quarantined: int = 0, status: str = "succeeded") -> None:
    summary = {
        "day": day, "flow_run_id": f"run-{day}", "status": status, "success": status == "succeeded",
        "started_at": f"2026-12-01T10:{int(day[3:]):02d}:00+00:00", "duration_seconds": 60.0, "failed": [],
        "totals": {"read": loaded + quarantined, "loaded": loaded, "quarantined": quarantined, "warnings": 0},
        "tasks": [{"name": "stage_cards", "outcome": "success", "seconds": 3.0, "entity": "cards"}],
        "entities": {"cards": {"read": loaded + quarantined, "loaded": loaded, "quarantined": quarantined,
                               "status": "passed"}},
    }  # fmt: skip
    folder = root / day / f"run-{day}"
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps(summary))


def test_history_flags_a_day_that_departs_from_its_trailing_days(tmp_path):
    for n, loaded in enumerate([100, 104, 98, 101, 30, 99], start=1):
        _write_day(tmp_path, f"day{n}", loaded, quarantined=40 if n == 6 else 1)
    page = build_history(tmp_path).read_text()
    assert "day5</b>: cards: loaded 30 rows, trailing median 100" in page
    assert "day6</b>: cards: quarantine rate 28.8%" in page
    assert page.count("<svg") == 3  # rows per entity, quarantine rate, task durations
    assert 'href="day6/run-day6/index.html"' in page
    assert "<script" not in page and "http://" not in page and "https://" not in page


def test_anomalies_need_enough_trailing_days():
    per_day = [{"day": f"day{n}", "entities": {"cards": {"read": r, "loaded": r, "quarantined": 0}}}
               for n, r in enumerate([100, 100, 5], start=1)]  # fmt: skip
    assert find_anomalies(per_day) == []
    per_day.insert(2, {"day": "day2b", "entities": {"cards": {"read": 100, "loaded": 100, "quarantined": 0}}})
    assert find_anomalies(per_day) == [Anomaly("day3", "cards", "loaded", 5, 100)]
