"""Reading metrics rows back."""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row

from zluri_metrics.model import MetricsRow


def read_rows(conn: psycopg.Connection, *, day: str | None = None, flow_run_id: str | None = None) -> list[MetricsRow]:
    """Rows in the order they were written, optionally only one day's or one flow run's."""
    query = """
        select * from ops.pipeline_metrics
        where (%(day)s::text is null or day = %(day)s)
          and (%(run)s::text is null or flow_run_id = %(run)s)
        order by id
    """
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, {"day": day, "run": flow_run_id})
        return [MetricsRow.from_mapping(r) for r in cur.fetchall()]
