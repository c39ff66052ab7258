from zluri_metrics.model import MetricsRow
from zluri_metrics.render import render_table


def test_renders_aligned_table_with_first_error_line():
    rows = [
        MetricsRow(
            "0f7c2a4e-run",
            "upsert_agents",
            "p",
            "core.agents",
            "day1",
            status="success",
            rows_inserted=12,
            rows_updated=3,
            duration_seconds=0.5,
        ),
        MetricsRow(
            "0f7c2a4e-run",
            "upsert_groups",
            "p",
            "core.groups",
            "day1",
            status="failure",
            error_message="boom\nsecond line",
            duration_seconds=1.25,
        ),
    ]
    assert render_table(rows).splitlines() == [
        "day   task           status   read  ins  upd  del  skip  quar  secs  run       error",
        "----  -------------  -------  ----  ---  ---  ---  ----  ----  ----  --------  -----",
        "day1  upsert_agents  success     0   12    3    0     0     0  0.50  0f7c2a4e",
        "day1  upsert_groups  failure     0    0    0    0     0     0  1.25  0f7c2a4e  boom",
    ]


def test_long_errors_are_cut_so_every_line_fits_100_columns():
    rows = [
        MetricsRow(
            "0f7c2a4e-run",
            "stage_agent_details",
            "p",
            "staging.stg_agent_details",
            "2026-11-30",
            status="failure",
            rows_read=123456,
            error_message="CheckViolation: " + "x" * 300,
            duration_seconds=1234.5,
        ),
    ]
    lines = render_table(rows).splitlines()
    assert max(len(line) for line in lines) == 100
    assert lines[2].split()[-1].startswith("CheckViolation:")


def test_empty():
    assert render_table([]) == "no metrics rows"


def test_a_success_rows_note_shows_where_errors_do():
    note = "allowed: 18 of 20"
    row = MetricsRow("0f7c2a4e-run", "upsert_agents", "p", "core.agents", "day2", status="success", note=note)
    assert render_table([row]).splitlines()[2].endswith(f"0f7c2a4e  {note}")
