"""Reading the ops tables for people: rejected records, a run's findings, the pipeline's state.

Every function takes an open connection and returns plain dicts (JSON-ready apart from
timestamps), so the CLI, the run report and tests share one query each.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

# Quarantine rows written by the group status step, not by staging: the cycles it found.
CYCLE_REASON = "cycle in group hierarchy%"


class AmbiguousRunId(ValueError):
    """A flow run id prefix that matches no run, or more than one."""


def _rows(conn: psycopg.Connection, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params or {})
        return list(cur.fetchall())


def resolve_flow_run(conn: psycopg.Connection, prefix: str) -> str:
    """The full flow run id that starts with `prefix` (the 8 characters tables print are enough)."""
    found = _rows(
        conn,
        "select distinct flow_run_id from ops.pipeline_metrics where flow_run_id like %(p)s || '%%' limit 2",
        {"p": prefix.replace("%", r"\%").replace("_", r"\_")},
    )
    if len(found) == 1:
        return str(found[0]["flow_run_id"])
    if not found:
        raise AmbiguousRunId(f"no flow run id starts with {prefix!r}")
    raise AmbiguousRunId(f"more than one flow run id starts with {prefix!r}; give more characters")


def quarantine_rows(
    conn: psycopg.Connection,
    *,
    day: str | None = None,
    entity: str | None = None,
    reason: str | None = None,
    flow_run_id: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Rejected records, newest first; `reason` matches any part of the reason, case-insensitively."""
    return _rows(
        conn,
        """
        select id, flow_run_id, day, entity, source_file, reason, raw_record, quarantined_at
        from ops.quarantine_committed
        where (%(day)s::text is null or day = %(day)s)
          and (%(entity)s::text is null or entity = %(entity)s)
          and (%(reason)s::text is null or reason ilike '%%' || %(reason)s || '%%')
          and (%(run)s::text is null or flow_run_id = %(run)s)
        order by id desc
        limit %(limit)s
        """,
        {"day": day, "entity": entity, "reason": reason, "run": flow_run_id, "limit": limit},
    )


def quarantine_by_reason(conn: psycopg.Connection, flow_run_id: str, samples: int = 3) -> list[dict[str, Any]]:
    """Per entity and reason of one run: the count and the first `samples` records."""
    return _rows(
        conn,
        """
        with ranked as (
            select entity, reason, source_file, raw_record,
                   row_number() over (partition by entity, reason order by id) as n,
                   count(*) over (partition by entity, reason) as total
            from ops.quarantine_committed
            where flow_run_id = %(run)s
        )
        select entity, reason, max(total) as count,
               coalesce(jsonb_agg(jsonb_build_object('source_file', source_file, 'raw_record', left(raw_record, 400))
                                  order by n) filter (where n <= %(samples)s), '[]'::jsonb) as samples
        from ranked
        group by entity, reason
        order by entity, count desc, reason
        """,
        {"run": flow_run_id, "samples": samples},
    )


def input_files(conn: psycopg.Connection, flow_run_id: str) -> list[dict[str, Any]]:
    """The input files a run staged, with their checksum and record count."""
    return _rows(
        conn,
        """
        select entity, source_file, sha256, records from staging.stg_input_files
        where flow_run_id = %(run)s order by entity, source_file
        """,
        {"run": flow_run_id},
    )


def pipeline_status(conn: psycopg.Connection) -> dict[str, Any]:
    """Newest applied day per table family, the last run of each day, and rejected records per reason."""
    families = _rows(conn, "select family, day, flow_run_id, updated_at from ops.latest_day order by family")
    runs = _rows(
        conn,
        """
        with per_run as (
            select day, flow_run_id, min(started_at) as started_at, max(finished_at) as finished_at,
                   count(*) filter (where status = 'failure') as failed_tasks, count(*) as tasks,
                   string_agg(task_name, ', ' order by task_name) filter (where status = 'failure') as failed
            from ops.pipeline_metrics group by day, flow_run_id
        ), ranked as (
            select *, row_number() over (partition by day order by finished_at desc nulls last) as n,
                   count(*) over (partition by day) as runs
            from per_run
        )
        select day, flow_run_id, started_at, finished_at, tasks, failed_tasks, failed, runs,
               case when failed_tasks > 0 then 'failed' else 'succeeded' end as outcome
        from ranked where n = 1
        order by ops.day_key(day)
        """,
    )
    awaiting = _rows(
        conn,
        """
        select entity, reason, count(*) as count, (array_agg(day order by ops.day_key(day) desc))[1] as newest_day
        from ops.quarantine_committed group by entity, reason order by count desc, entity, reason
        """,
    )
    return {"families": families, "runs": runs, "quarantine": awaiting}
