"""Bronze: every record exactly as read (its JSON text, or an unreadable file's text), kept in a
Delta table per entity at ``<home>/bronze/<entity>``, partitioned by day.

A run replaces its day's partition (``replaceWhere``), so re-running a day never duplicates bronze
rows, and other days are untouched.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

BRONZE_COLUMNS = ("day", "source_file", "position", "raw_record", "read_error", "flow_run_id", "ingested_at")


def bronze_path(home: Path, entity: str) -> str:
    return str(Path(home).resolve() / "bronze" / entity)


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
    home: Path,
    entity: str,
    day: str,
    flow_run_id: str,
    ingested_at: datetime | None = None,
) -> str:
    """Replace ``day``'s partition of the entity's bronze table with ``records``; returns its path."""
    path = bronze_path(home, entity)
    frame = bronze_frame(records, day=day, flow_run_id=flow_run_id, ingested_at=ingested_at or datetime.now(UTC))
    (
        frame.write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", f"day = {_sql_string(day)}")
        .partitionBy("day")
        .save(path)
    )
    return path
