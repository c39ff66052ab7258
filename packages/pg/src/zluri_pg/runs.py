"""``ops.day_runs``: each flow run of a day, from start to its outcome (what retention reads)."""

from __future__ import annotations

from zluri_pg.database import connect


def start_run(database_url: str, flow_run_id: str, day: str) -> None:
    with connect(database_url) as conn:
        conn.execute(
            "insert into ops.day_runs (flow_run_id, day, status) values (%s, %s, 'running') "
            "on conflict (flow_run_id) do update set status = 'running', started_at = now(), finished_at = null",
            [flow_run_id, day],
        )


def finish_run(database_url: str, flow_run_id: str, succeeded: bool) -> None:
    with connect(database_url) as conn:
        conn.execute(
            "update ops.day_runs set status = %s, finished_at = now() where flow_run_id = %s",
            ["success" if succeeded else "failure", flow_run_id],
        )
