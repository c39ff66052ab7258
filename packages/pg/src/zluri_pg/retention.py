"""Retention in the database: staging rows of finished runs, and quarantined raw text after N days.

- Staging rows of a finished run go once a newer run of the same day has succeeded: the newest
  successful run of each day keeps its rows (to re-run or inspect its steps) until they age out,
  and a failed run's rows stay, for debugging, until the day succeeds again or they age out.
- Rows of any finished run older than the cutoff go; so do rows of a run still marked running
  (a crash) once it is older than the cutoff and at least a day old, so a run in progress is
  never touched. Runs not in ``ops.day_runs`` (loaded by hand) age by their newest metrics row.
- ``ops.quarantine`` keeps every row (entity, file, reason: the counts) but drops ``raw_record``
  once it is older than the cutoff.

One transaction; a dry run counts the same rows and rolls back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql

from zluri_pg.database import connect
from zluri_pg.timeouts import Timeouts, set_local_timeouts


@dataclass(frozen=True)
class Pruned:
    """One thing retention looked at: how much it holds now and how much goes (or would go)."""

    area: str
    name: str
    held_bytes: int
    items: int  # rows or files removed (or that would be)
    freed_bytes: int  # estimated bytes those items take
    details: tuple[str, ...] = field(default=(), compare=False)  # what goes, named (runs, folders)


_PRUNABLE_RUNS = """
create temp table prunable_runs on commit drop as
select r.flow_run_id
from ops.day_runs r
where (r.status <> 'running'
       and (r.started_at < %(cutoff)s
            or exists (select 1 from ops.day_runs s
                       where s.day = r.day and s.status = 'success' and s.started_at > r.started_at)))
   or (r.status = 'running' and r.started_at < least(%(cutoff)s, now() - interval '1 day'))
union
select m.flow_run_id
from ops.pipeline_metrics m
where not exists (select 1 from ops.day_runs r where r.flow_run_id = m.flow_run_id)
group by m.flow_run_id
having max(coalesce(m.finished_at, m.started_at)) < least(%(cutoff)s, now() - interval '1 day')
"""


def staging_tables(conn: psycopg.Connection) -> list[str]:
    """Every staging table whose rows are tagged with a flow run."""
    rows = conn.execute(
        "select table_name from information_schema.columns "
        "where table_schema = 'staging' and column_name = 'flow_run_id' order by table_name"
    ).fetchall()
    return [r[0] for r in rows]


# Rows of a prunable run; and rows a load copied but never committed (a failed or killed attempt),
# once their run has finished: no upsert or report reads them, and no load of a finished run is in flight.
_GOING_RUNS = sql.SQL("flow_run_id in (select flow_run_id from prunable_runs)")
_UNCOMMITTED = sql.SQL(
    "load_id not in (select l.load_id from ops.staging_loads l)"
    " and flow_run_id in (select flow_run_id from ops.day_runs where status <> 'running')"
)
_GOING = sql.SQL("{} or (load_id is not null and {})").format(_GOING_RUNS, _UNCOMMITTED)


def load_tagged_tables(conn: psycopg.Connection) -> set[str]:
    """Staging tables whose rows carry the load that copied them."""
    rows = conn.execute(
        "select table_name from information_schema.columns where table_schema = 'staging' and column_name = 'load_id'"
    ).fetchall()
    return {r[0] for r in rows}


def _one(cursor: psycopg.Cursor) -> tuple:
    row = cursor.fetchone()
    assert row is not None  # aggregates always return a row
    return tuple(row)


def _table_bytes(conn: psycopg.Connection, qualified: str) -> int:
    return int(_one(conn.execute("select pg_total_relation_size(%s::regclass)", [qualified]))[0])


def space_held(database_url: str) -> list[Pruned]:
    """What the pruned areas hold now (nothing removed): for ``zluri status`` and the prune output."""
    with connect(database_url) as conn:
        held = [
            Pruned("staging", f"staging.{t}", _table_bytes(conn, f"staging.{t}"), 0, 0) for t in staging_tables(conn)
        ]
        held.append(Pruned("quarantine", "ops.quarantine", _table_bytes(conn, "ops.quarantine"), 0, 0))
    return held


def prune_database(
    database_url: str, keep_days: int, *, dry_run: bool, now: datetime | None = None, timeouts: Timeouts | None = None
) -> list[Pruned]:
    """Remove (or with ``dry_run`` only count) what retention lets go; see the module docstring."""
    if keep_days < 0:
        raise ValueError(f"keep_days must be 0 or more, got {keep_days}")
    cutoff = (now or datetime.now(UTC)) - timedelta(days=keep_days)
    result: list[Pruned] = []
    with connect(database_url) as conn:
        with conn.transaction(force_rollback=dry_run):
            set_local_timeouts(conn, timeouts or Timeouts())
            conn.execute(_PRUNABLE_RUNS, {"cutoff": cutoff})
            runs = conn.execute(
                "select p.flow_run_id, coalesce(r.day, '?'), coalesce(r.status, 'not recorded') from prunable_runs p "
                "left join ops.day_runs r using (flow_run_id) order by r.started_at nulls first, p.flow_run_id"
            ).fetchall()
            result.append(
                Pruned(
                    "staging",
                    "finished runs",
                    0,
                    len(runs),
                    0,
                    tuple(f"run {run} (day {day}, {status})" for run, day, status in runs),
                )
            )
            loaded = load_tagged_tables(conn)
            for table in staging_tables(conn):
                target = sql.Identifier("staging", table)
                held = _table_bytes(conn, f"staging.{table}")
                going_rows = _GOING if table in loaded else _GOING_RUNS
                total, going = _one(
                    conn.execute(
                        sql.SQL("select count(*), count(*) filter (where {}) from {}").format(going_rows, target)
                    )
                )
                if going and not dry_run:
                    conn.execute(sql.SQL("delete from {} where {}").format(target, going_rows))
                freed = round(held * going / total) if total else 0
                result.append(Pruned("staging", f"staging.{table}", held, int(going), freed))
            held = _table_bytes(conn, "ops.quarantine")
            rows, raw_bytes = _one(
                conn.execute(
                    "select count(*), coalesce(sum(octet_length(raw_record)), 0) from ops.quarantine "
                    "where raw_record is not null and quarantined_at < %s",
                    [cutoff],
                )
            )
            if rows and not dry_run:
                conn.execute(
                    "update ops.quarantine set raw_record = null where raw_record is not null and quarantined_at < %s",
                    [cutoff],
                )
            result.append(Pruned("quarantine", "ops.quarantine raw_record", held, int(rows), int(raw_bytes)))
            stray = sql.SQL("from ops.quarantine where load_id is not null and {}").format(_UNCOMMITTED)
            (uncommitted,) = _one(conn.execute(sql.SQL("select count(*) {}").format(stray)))
            if uncommitted and not dry_run:
                conn.execute(sql.SQL("delete {}").format(stray))
            result.append(Pruned("quarantine", "ops.quarantine rows of uncommitted loads", held, int(uncommitted), 0))
    return result
