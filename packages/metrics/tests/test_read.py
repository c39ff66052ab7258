import psycopg

from zluri_metrics.model import MetricsRow
from zluri_metrics.read import read_rows
from zluri_metrics.record import insert_row


def test_filters_by_day_and_flow_run_in_write_order(db_url):
    rows = [
        MetricsRow("run-1", "a", "p", "core.a", "day1", status="success"),
        MetricsRow("run-2", "b", "p", "core.b", "day2", status="success"),
        MetricsRow("run-2", "c", "p", "core.c", "day2", status="success"),
    ]
    with psycopg.connect(db_url) as conn:
        for r in rows:
            insert_row(conn, r)
        conn.commit()
        assert read_rows(conn) == rows
        assert read_rows(conn, day="day2") == rows[1:]
        assert read_rows(conn, flow_run_id="run-1") == rows[:1]
        assert read_rows(conn, day="day1", flow_run_id="run-2") == []
