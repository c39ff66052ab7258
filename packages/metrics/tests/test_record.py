from datetime import UTC, datetime

import psycopg

from zluri_metrics.context import RunContext
from zluri_metrics.model import MetricsRow
from zluri_metrics.read import read_rows
from zluri_metrics.record import MAX_ERROR_CHARS, insert_row, record_failure

RUN_B = "0b0b0b0b-0000-4000-8000-00000000000b"


def test_success_row_is_gone_when_its_transaction_rolls_back(db_url):
    row = MetricsRow("run-a", "t", "p", "core.agents", "day1", status="success", rows_inserted=3)
    with psycopg.connect(db_url) as conn:
        conn.execute("select 1")
        insert_row(conn, row)
        conn.rollback()
        assert read_rows(conn) == []
        insert_row(conn, row)
        conn.commit()
        assert read_rows(conn) == [row]


def test_failure_row_is_written_in_its_own_transaction_with_the_message(db_url):
    started = datetime(2026, 1, 5, tzinfo=UTC)
    written = record_failure(
        db_url,
        RunContext(RUN_B, "day2", "upsert_agents", pipeline_name="p"),
        table_name="core.agents",
        error=RuntimeError("x" * (MAX_ERROR_CHARS + 50)),
        started_at=started,
    )
    with psycopg.connect(db_url) as conn:
        (back,) = read_rows(conn, flow_run_id=RUN_B)
    assert back.status == "failure"
    assert back.error_message == ("RuntimeError: " + "x" * MAX_ERROR_CHARS)[:MAX_ERROR_CHARS]
    assert back == written
