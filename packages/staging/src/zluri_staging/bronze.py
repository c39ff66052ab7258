"""Bronze: every record exactly as read (its JSON text, or an unreadable file's text), kept in a
Delta table per entity at ``<root>/<entity>``, partitioned by day. The root is a local folder
(default ``<home>/bronze``) or any URL Spark writes to (``s3a://bucket/bronze``, ``hdfs://...``):
on a cluster the executors write the table, so it must be storage they all reach.

A run replaces its day's partition (``replaceWhere``), so re-running a day never duplicates bronze
rows, and other days are untouched. Two runs writing the same table at once conflict in Delta's
optimistic commit (a concurrent append or delete, or two first writers of an empty folder): the
loser retries its whole write with backoff, and since each write replaces the day, the table ends
as if the writes had run one after the other.

A day the table has never held is appended instead, when the caller holds a lock that every writer
of that day takes (``day_lock``): finding the files a replace removes needs the state of the
table's files, which Delta computes from its log in a Spark job (0.6-2 s, the longest part of a
small day's write), while an append needs only the log's last checksum. Under the lock the day's
folder is looked for: none means no file of the day (each day's files are written under
``day=<day>/``), so there is nothing to replace and no other writer can add one meanwhile.

Delta writes a checkpoint of a table's log (its state as one Parquet file) every
``CHECKPOINT_INTERVAL`` commits, inside the commit that reaches it. Bronze tables take one commit per
entity and day, so a checkpoint every 100th rather than Delta's default every 10th.

Retention: :func:`vacuum_bronze` deletes files no version younger than the retention needs, and
brings a table created before the interval was set to it.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlparse

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from zluri_staging.fs import folder_exists, local_path
from zluri_staging.transforms import sql_string

log = logging.getLogger(__name__)

T = TypeVar("T")

WRITE_ATTEMPTS = 6
BACKOFF_SECONDS = 0.5

# Delta's default is 10. A checkpoint took 1.9-2.5 s of a small day's 0.2-0.3 s append on a warm
# session (measured over 32 new days of one table), so every tenth day of every entity paid it. A
# checkpoint every 100th commit leaves a re-run's replay of the log up to 99 small commits to read:
# 1.0-1.3 s instead of 0.8, ahead of the write while the records are read (``prepare_write``). An
# append needs only the log's last checksum, so its time does not grow with them (0.22-0.26 s from
# the first to the 99th).
CHECKPOINT_INTERVAL = 100
CHECKPOINT_PROPERTY = "delta.checkpointInterval"

BRONZE_COLUMNS = ("day", "source_file", "position", "raw_record", "read_error", "flow_run_id", "ingested_at")


def default_root(home: Path | str) -> str:
    """``<home>/bronze``: the root when none is configured."""
    return str(Path(home).resolve() / "bronze")


def bronze_path(root: Path | str, entity: str) -> str:
    """The entity's table under ``root``: a URL stays a URL, a local folder becomes absolute."""
    text = str(root)
    scheme = urlparse(text).scheme
    if len(scheme) > 1 and scheme != "file":
        return f"{text.rstrip('/')}/{entity}"
    return str(Path(text.removeprefix("file://")).resolve() / entity)


def bronze_frame(records: DataFrame, *, day: str, flow_run_id: str, ingested_at: datetime) -> DataFrame:
    """The bronze rows of ``read.records`` output. Pure."""
    return records.select(
        F.lit(day).alias("day"),
        "source_file",
        "position",
        "raw_record",
        "read_error",
        F.lit(flow_run_id).alias("flow_run_id"),
        F.lit(ingested_at).cast("timestamp").alias("ingested_at"),
    )


def write_bronze(
    records: DataFrame,
    *,
    root: Path | str,
    entity: str,
    day: str,
    flow_run_id: str,
    ingested_at: datetime | None = None,
    day_lock: Callable[[], AbstractContextManager[object]] | None = None,
) -> str:
    """Replace ``day``'s partition of the entity's bronze table under ``root`` with ``records``;
    returns the table's path. With ``day_lock`` (a lock every writer of this table's day holds while
    it writes), a day the table has no folder for is appended, without Delta's replay of the log."""
    path = bronze_path(root, entity)
    frame = bronze_frame(records, day=day, flow_run_id=flow_run_id, ingested_at=ingested_at or datetime.now(UTC))

    def write() -> None:
        with day_lock() if day_lock is not None else nullcontext():
            new_day = day_lock is not None and not day_written(records.sparkSession, root=root, entity=entity, day=day)
            # Set when the write creates the table; an existing table keeps its own.
            writer = frame.write.format("delta").partitionBy("day").option(CHECKPOINT_PROPERTY, CHECKPOINT_INTERVAL)
            if new_day:
                writer = writer.mode("append")
            else:
                writer = writer.mode("overwrite").option("replaceWhere", f"day = {sql_string(day)}")
            writer.save(path)

    retry_concurrent(write, what=f"bronze write of {entity} day {day}")
    return path


def lock_name(root: Path | str, entity: str, day: str) -> str:
    """The name of the lock every writer of the entity's table's ``day`` holds (``day_lock``)."""
    return f"zluri:bronze {bronze_path(root, entity)} {day}"


def day_written(spark: SparkSession, *, root: Path | str, entity: str, day: str) -> bool:
    """Whether the entity's table has a folder for ``day`` (local or any file system Spark reaches):
    it may hold files of that day. A folder a vacuum left empty counts too."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None, "the session has no JVM gateway"
    name = jvm.org.apache.spark.sql.catalyst.catalog.ExternalCatalogUtils.escapePathName(day)  # as Spark names it
    return folder_exists(spark, f"{bronze_path(root, entity)}/day={name}")


def prepare_write(spark: SparkSession, *, root: Path | str, entity: str, day: str) -> None:
    """Have Delta replay the log of the entity's table (the state of its files) ahead of
    ``write_bronze`` replacing ``day``: the longest part of replacing a small day (about 0.65 s of
    1.05 s), and here it can run while the records are read. A write that follows finds the state
    computed, unless a commit came in between (it then replays that one). Nothing to do for a table
    not created yet, or a day it has no folder for (appended without the state); an error is left
    for the write to meet and report."""
    from delta.tables import DeltaTable

    path = bronze_path(root, entity)
    try:
        if day_written(spark, root=root, entity=entity, day=day) and DeltaTable.isDeltaTable(spark, path):
            DeltaTable.forPath(spark, path).detail().collect()  # its file count needs the state
    except Exception as exc:  # noqa: BLE001 - only a head start: the write reports what is wrong
        log.debug("bronze of %s: the log was not replayed ahead of the write: %s", entity, exc)


def table_properties(spark: SparkSession, table: str) -> dict[str, str]:
    """The Delta table's properties (from its log's metadata; no replay of its files)."""
    return {row["key"]: row["value"] for row in spark.sql(f"show tblproperties delta.`{table}`").collect()}


def align_checkpoint_interval(spark: SparkSession, table: str) -> None:
    """Give a table created before bronze set its checkpoint interval (Delta's default then applies)
    ``CHECKPOINT_INTERVAL``: one metadata commit, which any writer of the table meets as a conflict
    and retries (as this does)."""
    if table_properties(spark, table).get(CHECKPOINT_PROPERTY) == str(CHECKPOINT_INTERVAL):
        return

    def alter() -> None:
        spark.sql(f"alter table delta.`{table}` set tblproperties ('{CHECKPOINT_PROPERTY}' = '{CHECKPOINT_INTERVAL}')")

    retry_concurrent(alter, what=f"checkpoint interval of {table}")
    log.info("bronze table %s: a checkpoint of its log every %d commits", table, CHECKPOINT_INTERVAL)


def _concurrent_modification() -> tuple[type[BaseException], ...]:
    # Imported late: the module installs Delta's exception conversion on the running SparkContext.
    # The classes do not share a base (each is its own PySparkException subclass): name them all.
    import delta.exceptions as conflicts

    return tuple(getattr(conflicts, name) for name in conflicts.__all__)


def retry_concurrent(
    action: Callable[[], T],
    *,
    what: str,
    attempts: int = WRITE_ATTEMPTS,
    backoff_seconds: float = BACKOFF_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``action``, retrying Delta's concurrent-modification conflicts with jittered exponential
    backoff; any other error, or the last conflict, is raised."""
    conflicts = _concurrent_modification()
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except conflicts as exc:
            if attempt == attempts:
                raise
            delay = backoff_seconds * 2 ** (attempt - 1) * (1 + random.random())
            log.warning(
                "%s lost a concurrent commit (%s); retry %d of %d in %.1fs",
                what,
                type(exc).__name__,
                attempt,
                attempts - 1,
                delay,
            )
            sleep(delay)
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Vacuumed:
    table: str
    held_bytes: int
    files: int  # files deleted (or, in a dry run, that would be)
    freed_bytes: int


def _bytes(paths: list[str]) -> int:
    total = 0
    for path in paths:
        local = local_path(path)
        if local is not None and local.is_file():
            total += local.stat().st_size
    return total


def bronze_tables(bronze_root: str) -> list[str]:
    """The Delta tables under a local bronze root (a folder with a ``_delta_log``)."""
    root = local_path(bronze_root)
    if root is None or not root.is_dir():
        return []
    return sorted(str(p.parent) for p in root.glob("*/_delta_log"))


def _all_younger_than(table: str, hours: float) -> bool:
    local = local_path(table)
    if local is None:
        return False
    cutoff = time.time() - hours * 3600
    return all(f.stat().st_mtime > cutoff for f in local.rglob("*") if f.is_file() and "_delta_log" not in f.parts)


def folder_bytes(path: str) -> int:
    local = local_path(path)
    if local is None or not local.exists():
        return 0
    return sum(f.stat().st_size for f in local.rglob("*") if f.is_file())


def vacuum_bronze(spark: SparkSession, bronze_root: str, *, retention_hours: float, dry_run: bool) -> list[Vacuumed]:
    """Vacuum every bronze table under ``bronze_root``: delete data files that no table version
    written within ``retention_hours`` still needs; unless ``dry_run``, a table it vacuums that an
    earlier release created also gets ``CHECKPOINT_INTERVAL``. Below Delta's 7-day safety floor its check is
    lifted for this call (the caller keeps at least an hour, so a concurrent writer's files, written
    minutes ago and not yet committed, are never taken)."""
    # Lifted for these calls only: Delta's 7-day floor, and its file listing spread over 10,000 tasks
    # (parallel partition discovery), which on a local master costs minutes for a few files.
    overrides = {
        "spark.databricks.delta.retentionDurationCheck.enabled": "false",
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": str(max(1, spark.sparkContext.defaultParallelism)),
    }
    previous = {key: spark.conf.get(key, None) for key in overrides}
    for key, value in overrides.items():
        spark.conf.set(key, value)
    result = []
    try:
        for table in bronze_tables(bronze_root):
            held = folder_bytes(table)
            if _all_younger_than(table, retention_hours):
                # Vacuum takes only files older than the retention (a removed file's tombstone is younger
                # than the file): nothing can go, so no Spark job is spent on it.
                result.append(Vacuumed(table, held, 0, 0))
                continue
            if not dry_run:
                # Looked at only beside a vacuum (0.04-0.07 s a table), not on every day's prune: a
                # table an earlier release wrote is aligned once it holds a file older than the retention.
                align_checkpoint_interval(spark, table)
            statement = f"vacuum delta.`{table}` retain {float(retention_hours)} hours dry run"
            going = [row[0] for row in spark.sql(statement).collect()]
            freed = _bytes(going)
            if going and not dry_run:
                from delta.tables import DeltaTable

                def vacuum(path: str = table) -> None:
                    DeltaTable.forPath(spark, path).vacuum(float(retention_hours))

                retry_concurrent(vacuum, what=f"vacuum of {table}")
            result.append(Vacuumed(table, held, len(going), freed))
    finally:
        for key, old in previous.items():
            if old is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, old)
    return result
