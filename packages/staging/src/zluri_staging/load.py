"""Loading a staged entity into Postgres with COPY from the Spark executors, partition by partition,
made visible at once by one small transaction on the driver.

Each executor task streams its partition's rows (Arrow batches, as ``mapInArrow`` hands them over)
to ``COPY ... FROM STDIN (FORMAT csv)`` as CSV that Arrow's C++ writer hands over 1,024 rows at a
time, in a transaction of its own that first removes what an earlier execution of the same
partition wrote, so a retried task replaces rather than duplicates. Every row carries the run
(flow_run_id, day), the load's id and its partition. Every value is quoted and a null is an unquoted
empty field ("all_valid"), which is exactly how Postgres' CSV mode tells NULL from an empty string;
quotes are doubled and nothing else is escaped, so any text arrives byte for byte. Timestamps are
written as UTC with a ``Z`` suffix, decimals with their full scale.

When every partition has reported, ``commit`` runs one transaction on the driver: it removes the
run's rows of earlier attempts, copies the small driver-side tables (input files, rates used, a
staging table of at most 50,000 rows by default, which data quality collected to check on the driver
anyway, and a few quarantined rows of bounded size), checks that the database holds exactly the rows
the executors reported and the caller expected, records the load in ``ops.staging_loads`` and writes
the ``ops.pipeline_metrics`` success row. The upserts read staging rows only through
``ops.committed_loads()``, so a failed or killed load is never read, and the metrics row exists only
if the load committed. Nothing proportional to the input passes through the driver: it sees one
count per partition, and at most a bounded number of rows of a small table or of the quarantine.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql
from pyspark.sql import DataFrame, SparkSession

from zluri_metrics import MetricsRow, insert_row
from zluri_staging.worker import arrow_without_pandas, release_memory

_CSV = pacsv.WriteOptions(include_header=False, quoting_style="all_valid", batch_size=1024)
QUARANTINE_COLUMNS = ("entity", "source_file", "reason", "raw_record")
INPUT_FILE_COLUMNS = ("entity", "source_file", "sha256", "records")
QUARANTINE_TABLE = "ops.quarantine"
_COPIED = "part int, rows long"
# A table of at most this many rows is copied by one task: one connection and transaction instead
# of one per partition of the cached frame.
ONE_TASK_ROWS = 10_000
# The staging tables of a load of more rows than this get fresh planner statistics in its commit.
ANALYZE_ROWS = 1_000
_COPIED_ARROW = pa.schema([("part", pa.int32()), ("rows", pa.int64())])


class LoadMismatchError(RuntimeError):
    """The database does not hold the rows the executors reported or the counts promised."""


def new_load_id() -> str:
    return uuid.uuid4().hex


def _identifier(table: str) -> sql.Composable:
    return sql.SQL(".").join(sql.Identifier(part) for part in table.split("."))


def copy_arrow(
    cur: psycopg.Cursor,
    table: str,
    data: pa.Table | Iterable[pa.RecordBatch],
    constants: Mapping[str, str],
    columns: Sequence[str] | None = None,
) -> int:
    """COPY ``data`` into ``table`` (schema-qualified), with ``constants`` (e.g. flow_run_id, day)
    as leading columns; ``columns`` names the batches' columns when ``data`` is not a table.
    Returns the number of rows written."""
    if isinstance(data, pa.Table):
        columns, batches = data.column_names, data.to_batches()
    else:
        batches = data
    names = [*constants, *(columns or ())]
    statement = sql.SQL("copy {table} ({columns}) from stdin (format csv)").format(
        table=_identifier(table), columns=sql.SQL(", ").join(sql.Identifier(c) for c in names)
    )
    rows = 0
    with cur.copy(statement) as copy:
        writer: pacsv.CSVWriter | None = None
        for batch in batches:
            if batch.num_rows == 0:
                continue
            fixed = [pa.repeat(pa.scalar(value, pa.string()), batch.num_rows) for value in constants.values()]
            full = pa.RecordBatch.from_arrays([*fixed, *batch.columns], names=names)
            if writer is None:  # Arrow hands over the CSV a chunk of rows at a time
                writer = pacsv.CSVWriter(_CopyStream(copy), full.schema, write_options=_CSV)
            writer.write_batch(full)
            rows += batch.num_rows
        if writer is not None:
            writer.close()
    return rows


class _CopyStream:
    """A write-only file over a COPY, as Arrow's CSV writer writes to it."""

    closed = False

    def __init__(self, copy: psycopg.Copy) -> None:
        self._copy = copy

    def write(self, data: bytes) -> int:
        self._copy.write(data)
        return len(data)


# -- the executors' side --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    database_url: str
    table: str
    flow_run_id: str
    day: str
    load_id: str


def _copy_partition(target: _Target) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        arrow_without_pandas()

        part = cast(TaskContext, TaskContext.get()).partitionId()  # set in every Spark task
        first = next((b for b in batches if b.num_rows), None)
        rows = 0
        if first is not None:
            constants = {
                "flow_run_id": target.flow_run_id,
                "day": target.day,
                "load_id": target.load_id,
                "load_part": str(part),
            }
            with psycopg.connect(target.database_url) as conn, conn.transaction(), conn.cursor() as cur:
                # A re-executed partition (task retry) waits for, then replaces, an earlier execution.
                cur.execute("select pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"{target.load_id}:{part}"])
                cur.execute(
                    sql.SQL("delete from {} where flow_run_id = %s and load_id = %s and load_part = %s").format(
                        _identifier(target.table)
                    ),
                    [target.flow_run_id, target.load_id, part],
                )
                rows = copy_arrow(cur, target.table, _chain(first, batches), constants, first.schema.names)
        release_memory()
        yield pa.RecordBatch.from_pydict({"part": [part], "rows": [rows]}, schema=_COPIED_ARROW)

    return run


def _chain(first: pa.RecordBatch, rest: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    yield first
    yield from rest


def copy_partitions(frame: DataFrame, target: _Target) -> int:
    """COPY ``frame`` (exactly the table's loaded columns) from the executors; rows written."""
    reports = frame.mapInArrow(_copy_partition(target), _COPIED).collect()
    return sum(r["rows"] for r in reports)


# -- the driver's side ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Commit:
    """What the driver's one transaction makes the run's visible load of an entity: the staging
    tables by name (their rows are already copied, or there are none), the small tables the driver
    copies itself (a few rows: rates used, small tables), the input files, and the metrics row.
    ``expected`` holds the rows each table must end up with, counted independently of the copy."""

    flow_run_id: str
    day: str
    entity: str
    tables: Sequence[str]  # staging table names (``stg_agents``)
    quarantine_entities: Sequence[str]  # entity names whose earlier quarantine rows this run replaces
    input_files: pa.Table | None  # entity, source_file, sha256, records
    metrics: Callable[[Mapping[str, int]], MetricsRow]  # built from the rows actually loaded
    expected: Mapping[str, int] = field(default_factory=dict)
    small_tables: Mapping[str, pa.Table] = field(default_factory=dict)
    load_id: str = field(default_factory=new_load_id)
    quarantine_rows: pa.Table | None = None  # quarantine rows the driver copies (a few, collected)


@dataclass(frozen=True)
class LoadRequest:
    """Everything one entity writes. ``tables`` maps a staging table name (``stg_agents``) to its rows
    (exactly the table's loaded columns, without the run and load columns), copied from the
    executors; ``small_tables`` are copied by the driver in the commit (a few rows: rates used, and
    a small table data quality collected), and so is ``quarantine`` when it is collected already.
    ``expected`` holds the rows each table must end up with, counted independently of the copy."""

    flow_run_id: str
    day: str
    entity: str
    tables: Mapping[str, DataFrame]
    quarantine: DataFrame | pa.Table  # entity, source_file, reason, raw_record
    quarantine_entities: Sequence[str]  # entity names whose earlier quarantine rows this run replaces
    input_files: pa.Table | None  # entity, source_file, sha256, records
    metrics: Callable[[Mapping[str, int]], MetricsRow]  # built from the rows actually loaded
    expected: Mapping[str, int] = field(default_factory=dict)
    small_tables: Mapping[str, pa.Table] = field(default_factory=dict)
    load_id: str = field(default_factory=new_load_id)

    def commit(self) -> Commit:
        return Commit(
            flow_run_id=self.flow_run_id,
            day=self.day,
            entity=self.entity,
            tables=list(self.tables),
            quarantine_entities=self.quarantine_entities,
            input_files=self.input_files,
            metrics=self.metrics,
            expected=self.expected,
            small_tables=self.small_tables,
            load_id=self.load_id,
            quarantine_rows=self.quarantine if isinstance(self.quarantine, pa.Table) else None,
        )


def load(database_url: str, request: LoadRequest) -> dict[str, int]:
    """Copy the request's rows from the executors, then commit the load; returns rows per table
    (``ops.quarantine`` and ``stg_input_files`` included)."""
    return commit(database_url, request.commit(), copy_tables(database_url, request))


def copy_tables(database_url: str, request: LoadRequest) -> dict[str, int]:
    """COPY the request's tables and quarantine rows from the executors, uncommitted: nothing reads
    them until ``commit`` records the load. Returns rows copied per table."""
    copied: dict[str, int] = {}
    frames = {f"staging.{table}": frame for table, frame in request.tables.items()}
    if isinstance(request.quarantine, DataFrame):  # else the commit copies the collected rows
        frames[QUARANTINE_TABLE] = request.quarantine.select(*QUARANTINE_COLUMNS)
    for name, frame in frames.items():
        key = name.removeprefix("staging.")
        # A table known to get no rows costs no Spark job (the commit still checks it holds none).
        rows = request.expected.get(key)
        if rows == 0:
            copied[key] = 0
            continue
        if rows is not None and rows <= ONE_TASK_ROWS:
            frame = frame.coalesce(1)
        copied[key] = copy_partitions(frame, _target(database_url, request, name))
    return copied


def discard(database_url: str, request: LoadRequest) -> None:
    """Remove what ``copy_tables`` wrote for a load that will not be committed. Not needed for
    correctness (nothing reads an uncommitted load, and the run's next commit of the entity removes
    it), but a load given up leaves no rows behind."""
    with psycopg.connect(database_url) as conn, conn.transaction(), conn.cursor() as cur:
        for table in [*(f"staging.{t}" for t in request.tables), QUARANTINE_TABLE]:
            cur.execute(
                sql.SQL("delete from {} where flow_run_id = %s and load_id = %s").format(_identifier(table)),
                [request.flow_run_id, request.load_id],
            )


def _target(database_url: str, request: LoadRequest, table: str) -> _Target:
    return _Target(database_url, table, request.flow_run_id, request.day, request.load_id)


def commit(database_url: str, request: Commit, copied: Mapping[str, int]) -> dict[str, int]:
    """Make the load the run's one visible load of its tables, in one transaction (see module doc).
    A table without copied rows (an optional entity skipped) is left with none of the run's rows."""
    run, load_id = request.flow_run_id, request.load_id
    constants = {"flow_run_id": run, "day": request.day, "load_id": load_id}
    loaded: dict[str, int] = {}
    with psycopg.connect(database_url) as conn, conn.transaction(), conn.cursor() as cur:
        for table in [*request.tables, *request.small_tables]:
            cur.execute(
                sql.SQL("delete from staging.{} where flow_run_id = %s and load_id is distinct from %s").format(
                    sql.Identifier(table)
                ),
                [run, load_id],
            )
        cur.execute(
            "delete from ops.quarantine where flow_run_id = %s and entity = any(%s) and load_id is not null"
            " and load_id <> %s",
            [run, list(request.quarantine_entities), load_id],
        )
        if request.quarantine_rows is not None:
            copy_arrow(cur, QUARANTINE_TABLE, request.quarantine_rows.select(list(QUARANTINE_COLUMNS)), constants)
        for table in [*request.tables, QUARANTINE_TABLE]:
            name = table if "." in table else f"staging.{table}"
            cur.execute(
                sql.SQL("select count(*) from {} where flow_run_id = %s and load_id = %s").format(_identifier(name)),
                [run, load_id],
            )
            loaded[table] = cast(tuple[int], cur.fetchone())[0]  # count(*) returns one row
        for table, rows in request.small_tables.items():
            loaded[table] = copy_arrow(cur, f"staging.{table}", rows, constants)
        cur.execute("delete from staging.stg_input_files where flow_run_id = %s and entity = %s", [run, request.entity])
        if request.input_files is not None:
            loaded["stg_input_files"] = copy_arrow(
                cur, "staging.stg_input_files", request.input_files.select(list(INPUT_FILE_COLUMNS)), constants
            )
        _check(request.entity, loaded, copied, request.expected)
        cur.execute(
            "insert into ops.staging_loads (flow_run_id, entity, load_id, day, rows) values (%s, %s, %s, %s, %s)"
            " on conflict (flow_run_id, entity) do update set load_id = excluded.load_id, day = excluded.day,"
            " rows = excluded.rows, committed_at = now()",
            [run, request.entity, load_id, request.day, json.dumps(loaded, sort_keys=True)],
        )
        _analyze(cur, to_analyze(loaded, [*request.tables, *request.small_tables]))
        insert_row(conn, request.metrics(loaded))
    return loaded


def to_analyze(loaded: Mapping[str, int], tables: Iterable[str]) -> list[str]:
    """The tables among ``tables`` whose load wrote more than ``ANALYZE_ROWS`` rows."""
    return [table for table in tables if loaded.get(table, 0) > ANALYZE_ROWS]


def _analyze(cur: psycopg.Cursor, tables: Iterable[str]) -> None:
    """Fresh planner statistics for the staging tables of the load, in its commit. The checks and
    upserts that follow select the run's rows by ``flow_run_id``: with statistics from before this
    load the planner takes them for a handful of rows and picks nested loops (an M day two's
    mass-change check took 8 s instead of 0.1 s whenever autovacuum had not analyzed the table
    yet). Analyzed here, their plans no longer depend on autovacuum's timing. Only big loads are
    analyzed (``to_analyze``): a nested loop over a few hundred rows is no slower than any other
    plan, and analyzing a staging table that holds earlier days costs 0.05-0.2 s whatever the load."""
    for table in tables:
        cur.execute(sql.SQL("analyze staging.{}").format(sql.Identifier(table)))


def _check(entity: str, loaded: Mapping[str, int], copied: Mapping[str, int], expected: Mapping[str, int]) -> None:
    wrong = {
        table: (loaded.get(table), copied.get(table), expected.get(table))
        for table in {*copied, *expected}
        if loaded.get(table) != copied.get(table, loaded.get(table))
        or loaded.get(table) != expected.get(table, loaded.get(table))
    }
    if wrong:
        details = "; ".join(f"{t}: in database {d}, copied {c}, expected {e}" for t, (d, c, e) in sorted(wrong.items()))
        raise LoadMismatchError(f"{entity}: load does not reconcile: {details}")


# Ids a run's records may name, for cross-entity checks: the run's own committed staging rows (the
# flow stages the referenced entity first) and, where the core table is the master, what is known.
_RUN = "flow_run_id = %(run)s and load_id in (select load_id from ops.staging_loads where flow_run_id = %(run)s)"
REFERENCES: dict[str, tuple[str, pa.DataType]] = {
    "agents": (
        f"select agent_id from staging.stg_agents where {_RUN}"
        f" union select agent_id from staging.stg_agent_details where {_RUN}",
        pa.int64(),
    ),
    "roles": (f"select role_id from staging.stg_roles where {_RUN} union select role_id from core.roles", pa.int64()),
    "cards": (f"select card_id from staging.stg_cards where {_RUN} union select card_id from core.cards", pa.string()),
    "budgets": (
        f"select budget_id from staging.stg_budgets where {_RUN} union select budget_id from core.budgets",
        pa.string(),
    ),
}
_ID_BATCH = 65_536


def _read_ids(database_url: str, reference: str, flow_run_id: str) -> Iterator[pa.RecordBatch]:
    query, dtype = REFERENCES[reference]
    schema = pa.schema([("id", dtype)])
    with psycopg.connect(database_url) as conn, conn.cursor(name="reference_ids") as cur:
        cur.execute(query, {"run": flow_run_id})
        while rows := cur.fetchmany(_ID_BATCH):
            yield pa.RecordBatch.from_arrays([pa.array([r[0] for r in rows], dtype)], schema=schema)


def unknown_ids(database_url: str, reference: str, flow_run_id: str, values: Iterable[Any]) -> set[Any]:
    """Those of ``values`` that are not ids ``reference`` names in the run: one query, with the values
    sent along (the few distinct values of a frame checked on the driver)."""
    given = sorted({v for v in values if v is not None})
    if not given:
        return set()
    query, dtype = REFERENCES[reference]
    array = sql.SQL("bigint[]" if dtype == pa.int64() else "text[]")
    statement = sql.SQL("select id from unnest(%(given)s::{}) as given(id) except select id from ({}) as known(id)")
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(statement.format(array, sql.SQL(query)), {"given": given, "run": flow_run_id}).fetchall()
    return {row[0] for row in rows}


def reference_frame(spark: SparkSession, database_url: str, reference: str, flow_run_id: str) -> DataFrame:
    """The same ids as a Spark frame read by an executor, so they never pass through the driver."""
    _, dtype = REFERENCES[reference]
    spark_type = "bigint" if dtype == pa.int64() else "string"

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        arrow_without_pandas()
        for _ in batches:
            pass
        yield from _read_ids(database_url, reference, flow_run_id)

    return spark.range(1, numPartitions=1).mapInArrow(run, f"id {spark_type}")


@contextmanager
def advisory_lock(database_url: str, name: str) -> Iterator[None]:
    """Hold Postgres' session advisory lock on ``name`` for the block, on a connection of its own
    (closing it releases the lock, as the server does if the process dies). Waits for a holder."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(hashtextextended(%s, 0))", [name])
        try:
            yield
        finally:
            conn.execute("select pg_advisory_unlock(hashtextextended(%s, 0))", [name])
