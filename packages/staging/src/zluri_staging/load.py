"""Loading a staged entity into Postgres with COPY, in one transaction.

Rows arrive as Arrow tables (``DataFrame.toArrow()``) and are streamed to
``COPY ... FROM STDIN (FORMAT csv)`` as CSV written by Arrow's C++ writer, batch by batch. Every
value is quoted and a null is an unquoted empty field ("all_valid"), which is exactly how
Postgres' CSV mode tells NULL from an empty string; quotes are doubled and nothing else is
escaped, so any text (backslashes, newlines, quotes, SQL, emoji) arrives byte for byte.
Timestamps are written as UTC with a ``Z`` suffix, decimals with their full scale.

One transaction per entity: delete the run's earlier rows (a retry replaces, never duplicates),
COPY the staging tables, the quarantine rows and the input-file rows, and insert the
``ops.pipeline_metrics`` success row — so the metrics row exists only if the load committed.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql

from zluri_metrics import MetricsRow, insert_row

BATCH_ROWS = 65_536
_CSV = pacsv.WriteOptions(include_header=False, quoting_style="all_valid", batch_size=8192)
QUARANTINE_COLUMNS = ("entity", "source_file", "reason", "raw_record")
INPUT_FILE_COLUMNS = ("entity", "source_file", "sha256", "records")


@dataclass(frozen=True)
class LoadRequest:
    """Everything one entity writes. ``tables`` maps a staging table name (``stg_agents``) to its
    rows (exactly the table's loaded columns, without flow_run_id and day)."""

    flow_run_id: str
    day: str
    tables: Mapping[str, pa.Table]
    quarantine: pa.Table  # entity, source_file, reason, raw_record
    quarantine_entities: Sequence[str]  # entity names whose earlier quarantine rows this run replaces
    input_files: pa.Table | None  # entity, source_file, sha256, records
    input_files_entity: str
    metrics: Callable[[Mapping[str, int]], MetricsRow]  # built from the rows actually copied


def copy_arrow(cur: psycopg.Cursor, table: str, data: pa.Table, constants: Mapping[str, str]) -> int:
    """COPY ``data`` into ``table`` (schema-qualified), with ``constants`` (e.g. flow_run_id, day)
    as leading columns. Returns the number of rows Postgres reports."""
    columns = [*constants, *data.column_names]
    statement = sql.SQL("copy {table} ({columns}) from stdin (format csv)").format(
        table=sql.SQL(".").join(sql.Identifier(part) for part in table.split(".")),
        columns=sql.SQL(", ").join(sql.Identifier(c) for c in columns),
    )
    with cur.copy(statement) as copy:
        for batch in data.to_batches(max_chunksize=BATCH_ROWS):
            if batch.num_rows == 0:
                continue
            fixed = [pa.repeat(pa.scalar(value, pa.string()), batch.num_rows) for value in constants.values()]
            full = pa.RecordBatch.from_arrays([*fixed, *batch.columns], names=columns)
            buffer = io.BytesIO()
            pacsv.write_csv(full, buffer, _CSV)
            copy.write(buffer.getbuffer())
    return cur.rowcount if cur.rowcount >= 0 else data.num_rows


def load(database_url: str, request: LoadRequest) -> dict[str, int]:
    """Replace the run's rows of the request's tables and load them; returns rows per table
    (``ops.quarantine`` and ``staging.stg_input_files`` included)."""
    run = {"flow_run_id": request.flow_run_id, "day": request.day}
    loaded: dict[str, int] = {}
    with psycopg.connect(database_url) as conn, conn.transaction(), conn.cursor() as cur:
        for table in request.tables:
            cur.execute(
                sql.SQL("delete from staging.{} where flow_run_id = %s").format(sql.Identifier(table)),
                [request.flow_run_id],
            )
        cur.execute(
            "delete from ops.quarantine where flow_run_id = %s and entity = any(%s)",
            [request.flow_run_id, list(request.quarantine_entities)],
        )
        cur.execute(
            "delete from staging.stg_input_files where flow_run_id = %s and entity = %s",
            [request.flow_run_id, request.input_files_entity],
        )
        for table, data in request.tables.items():
            loaded[table] = copy_arrow(cur, f"staging.{table}", data, run)
        quarantine = request.quarantine.select(list(QUARANTINE_COLUMNS))
        loaded["ops.quarantine"] = copy_arrow(cur, "ops.quarantine", quarantine, run)
        if request.input_files is not None:
            loaded["stg_input_files"] = copy_arrow(
                cur, "staging.stg_input_files", request.input_files.select(list(INPUT_FILE_COLUMNS)), run
            )
        insert_row(conn, request.metrics(loaded))
    return loaded


# Ids a run's records may name, for cross-entity checks: the run's own staging rows (the flow
# stages the referenced entity first) and, where the core table is the master, what is known already.
REFERENCES: dict[str, tuple[str, pa.DataType]] = {
    "agents": (
        "select agent_id from staging.stg_agents where flow_run_id = %(run)s"
        " union select agent_id from staging.stg_agent_details where flow_run_id = %(run)s",
        pa.int64(),
    ),
    "roles": (
        "select role_id from staging.stg_roles where flow_run_id = %(run)s union select role_id from core.roles",
        pa.int64(),
    ),
    "cards": (
        "select card_id from staging.stg_cards where flow_run_id = %(run)s union select card_id from core.cards",
        pa.string(),
    ),
    "budgets": (
        "select budget_id from staging.stg_budgets where flow_run_id = %(run)s"
        " union select budget_id from core.budgets",
        pa.string(),
    ),
}


def reference_ids(database_url: str, reference: str, flow_run_id: str) -> pa.Table:
    """The known ids of ``reference`` (see ``REFERENCES``) as a one-column Arrow table ``id``."""
    query, dtype = REFERENCES[reference]
    with psycopg.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(query, {"run": flow_run_id})
        ids = [row[0] for row in cur.fetchall()]
    return pa.table({"id": pa.array(ids, dtype)})
