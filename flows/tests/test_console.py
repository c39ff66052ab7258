"""The run's console lines and verdict, fed the records the task hooks log."""

from __future__ import annotations

import io
import logging
import re

from zluri_flows.console import PROGRESS_LOGGER, ProgressConsole, verdict


def _record(task: str, outcome: str, seconds: float = 0.0, error: str = "") -> logging.LogRecord:
    record = logging.LogRecord(PROGRESS_LOGGER, logging.INFO, __file__, 1, "%s", (task,), None)
    record.__dict__.update(zluri_day="day1", zluri_task=task, zluri_outcome=outcome, zluri_seconds=seconds,
                           zluri_error=error)  # fmt: skip
    return record


def test_plain_lines_when_not_a_terminal_one_per_finished_task():
    out = io.StringIO()
    console = ProgressConsole(out, live=False)
    console.emit(_record("stage_cards", "running"))
    console.emit(_record("stage_cards", "success", 2.345))
    console.emit(_record("060_upsert_cards", "failure", 0.5, "CheckViolation: cards_rejected\nDETAIL: ..."))
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert re.fullmatch(r"\d\d:\d\d:\d\d  day1\s+stage_cards\s+OK\s+2\.3s", lines[0])
    assert re.fullmatch(r"\d\d:\d\d:\d\d  day1\s+060_upsert_cards\s+FAILED\s+0\.5s  CheckViolation: cards_rejected",
                        lines[1])  # fmt: skip
    assert all(len(line) <= 100 for line in lines[:1])


def test_a_terminal_gets_a_status_line_that_is_cleared_before_each_task_line():
    out = io.StringIO()
    console = ProgressConsole(out, live=True)
    console.emit(_record("stage_transactions", "running"))
    assert "running: stage_transactions" in out.getvalue()
    console.emit(_record("stage_transactions", "success", 1.0))
    console.close()
    text = out.getvalue()
    assert "stage_transactions" in text.split("\n")[0] and "OK" in text
    assert text.endswith("\r")  # the status line is wiped on close, the task lines stay


def test_verdict_counts_tasks_and_quarantined_records_dbt_style():
    summary = {
        "totals": {"quarantined": 7},
        "entities": {"cards": {"warnings": ["cards: 2 rows have an unknown card status"]}, "agents": {"warnings": []}},
        "tasks": [
            {"name": "stage_cards", "entity": "cards", "outcome": "success"},
            {"name": "stage_agents", "entity": "agents", "outcome": "success"},
            {"name": "010_upsert_agents", "step": "010_upsert_agents", "outcome": "failure"},
            {"name": "030_update_group_status", "step": "030_update_group_status", "outcome": "not run"},
        ],
    }
    assert verdict([summary, summary]) == "Done. PASS=2 WARN=2 ERROR=2 SKIP=2 TOTAL=8 QUARANTINED=14"
