"""Every record of a batch gets a status: valid, duplicate (an older copy of a valid record's key)
or quarantined (a rule failed, with the reason). Pure ``DataFrame -> DataFrame`` steps.

"Latest" is the greatest ``updated_at`` (nulls lose); ties are broken by the later source file and
then the later position in it, so the outcome never depends on how Spark happened to partition
the files. Duplicates are ranked among the rows that passed every rule, so a broken newer copy
never displaces a good one. The rows that lose are counted, never silently dropped.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from zluri_staging import rules
from zluri_staging.rules import REASON, Rule

STATUS = "_stage_status"
VALID, DUPLICATE, QUARANTINED = "valid", "duplicate", "quarantined"


def latest_first(updated_at: str | None = "updated_at") -> list[Column]:
    """The default order: newest ``updated_at`` first, then the later file and position."""
    order = [F.col(updated_at).desc_nulls_last()] if updated_at else []
    return [*order, F.col("source_file").desc_nulls_last(), F.col("position").desc_nulls_last()]


def classify(
    df: DataFrame, rule_list: Sequence[Rule] | Column, keys: Sequence[str], order: Sequence[Column] | None = None
) -> DataFrame:
    """``df`` plus ``reason`` and ``status`` (valid | duplicate | quarantined). ``rule_list``: the
    rules, or their reasons column (``rules.reasons_of``)."""
    annotated = rules.annotate(df, rule_list)
    # Rows that passed every rule are ranked among themselves (the window's partitions split them).
    window = Window.partitionBy(F.col(REASON).isNull(), *keys).orderBy(*(order or latest_first()))
    status = (
        F.when(F.col(REASON).isNotNull(), F.lit(QUARANTINED))
        .when(F.row_number().over(window) == 1, F.lit(VALID))
        .otherwise(F.lit(DUPLICATE))
    )
    return annotated.withColumn(STATUS, status)


def valid_rows(classified: DataFrame) -> DataFrame:
    return classified.where(F.col(STATUS) == VALID)


def quarantine_rows(classified: DataFrame, entity: str) -> DataFrame:
    """ops.quarantine rows (entity, source_file, reason, raw_record) of the quarantined records."""
    return classified.where(F.col(STATUS) == QUARANTINED).select(
        F.lit(entity).alias("entity"), "source_file", F.col(REASON).alias("reason"), "raw_record"
    )


@dataclass
class Tally:
    """Counts of one classified frame by status, and quarantine reasons; ``listed``: per table asked
    of ``tally``, the distinct values its columns take among the valid rows."""

    read: int
    valid: int
    duplicates: int
    quarantined: int
    reasons: dict[str, int]
    listed: dict[str, pa.Table] = field(default_factory=dict)
    gathered: dict[str, list[Any]] = field(default_factory=dict)
    quarantined_bytes: int = 0  # of the quarantined rows' raw_record (UTF-8)


def tally(
    classified: DataFrame,
    listed: Mapping[str, Mapping[str, Column]] | None = None,
    gathered: Mapping[str, Column] | None = None,
) -> Tally:
    """One small action on the (cached) classified frame: counts by status and reason and, in the
    same pass, the distinct values of each ``listed`` table's columns (name -> Column) among the
    valid rows; a row whose columns are all null lists nothing (the rates used, without a query of
    their own). ``gathered``: per name, the distinct non-null elements an array Column holds among
    the valid rows (the ids a small entity's rows name). A frame with ``raw_record`` also has the
    bytes of its quarantined rows' text summed, so a caller knows what collecting them would take."""
    tables = {table: dict(columns) for table, columns in (listed or {}).items()}
    keys = {t: [f"_listed_{n}_{i}" for i in range(len(columns))] for n, (t, columns) in enumerate(tables.items())}
    arrays = {name: f"_gathered_{n}" for n, name in enumerate(gathered or {})}
    valid = F.col(STATUS) == VALID
    listing = [F.when(valid, column).alias(key) for t in tables for column, key in zip(tables[t].values(), keys[t])]
    gathering = [
        F.array_distinct(F.flatten(F.collect_list(F.when(valid, column)))).alias(arrays[name])
        for name, column in (gathered or {}).items()
    ]
    sizes = []
    if "raw_record" in classified.columns:
        quarantined_text = F.when(F.col(STATUS) == QUARANTINED, F.col("raw_record"))
        sizes = [F.sum(F.octet_length(quarantined_text)).alias("_quarantined_bytes")]
    groups = (
        classified.groupBy(STATUS, REASON, *listing).agg(F.count(F.lit(1)).alias("count"), *gathering, *sizes).toArrow()
    )
    counts = {VALID: 0, DUPLICATE: 0, QUARANTINED: 0}
    reasons: dict[str, int] = {}
    for status, reason, count in zip(*(groups[c].to_pylist() for c in (STATUS, REASON, "count")), strict=True):
        counts[status] += count
        if status == QUARANTINED:
            reasons[reason] = reasons.get(reason, 0) + count
    return Tally(
        read=sum(counts.values()),
        valid=counts[VALID],
        duplicates=counts[DUPLICATE],
        quarantined=counts[QUARANTINED],
        reasons=dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        listed={table: _distinct(groups, keys[table], list(columns)) for table, columns in tables.items()},
        gathered={name: _elements(groups[key]) for name, key in arrays.items()},
        quarantined_bytes=(pc.sum(groups["_quarantined_bytes"]).as_py() or 0) if sizes else 0,
    )


def _elements(lists: pa.ChunkedArray) -> list[Any]:
    """The distinct non-null elements of a column of lists, sorted."""
    return sorted({v for v in pc.list_flatten(lists).to_pylist() if v is not None})


def _distinct(groups: pa.Table, keys: list[str], names: list[str]) -> pa.Table:
    """The distinct rows of ``groups``' ``keys`` (renamed ``names``) that are not all null."""
    rows = groups.select(keys).rename_columns(names)
    rows = rows.filter(functools.reduce(pc.or_, [pc.is_valid(rows[name]) for name in names]))
    return rows.group_by(names, use_threads=False).aggregate([]).select(names)
