"""Bronze: every record exactly as read (its JSON text, or an unreadable file's text), kept in a
Delta table per entity at ``<root>/<entity>``, partitioned by day. The root is a local folder
(default ``<home>/bronze``) or any URL Spark writes to (``s3a://bucket/bronze``, ``hdfs://...``):
on a cluster the executors write the table, so it must be storage they all reach.

A run replaces its day's partition (``replaceWhere``), so re-running a day never duplicates bronze
rows, and other days are untouched.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

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


def _sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def write_bronze(
    records: DataFrame,
    *,
    root: Path | str,
    entity: str,
    day: str,
    flow_run_id: str,
    ingested_at: datetime | None = None,
) -> str:
    """Replace ``day``'s partition of the entity's bronze table under ``root`` with ``records``;
    returns the table's path."""
    path = bronze_path(root, entity)
    frame = bronze_frame(records, day=day, flow_run_id=flow_run_id, ingested_at=ingested_at or datetime.now(UTC))
    (
        frame.write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", f"day = {_sql_string(day)}")
        .partitionBy("day")
        .save(path)
    )
    return path
