"""Every record of a batch gets a status: valid, duplicate (an older copy of a valid record's key)
or quarantined (a rule failed, with the reason). Pure ``DataFrame -> DataFrame`` steps.

"Latest" is the greatest ``updated_at`` (nulls lose); ties are broken by the later source file and
then the later position in it, so the outcome never depends on how Spark happened to partition
the files. Duplicates are ranked among the rows that passed every rule, so a broken newer copy
never displaces a good one. The rows that lose are counted, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from zluri_staging import rules
from zluri_staging.rules import REASON, Rule

STATUS = "_stage_status"
VALID, DUPLICATE, QUARANTINED = "valid", "duplicate", "quarantined"
RANK = "duplicate_rank"


def latest_first(updated_at: str | None = "updated_at") -> list[Column]:
    """The default order: newest ``updated_at`` first, then the later file and position."""
    order = [F.col(updated_at).desc_nulls_last()] if updated_at else []
    return [*order, F.col("source_file").desc_nulls_last(), F.col("position").desc_nulls_last()]


def classify(
    df: DataFrame, rule_list: Sequence[Rule], keys: Sequence[str], order: Sequence[Column] | None = None
) -> DataFrame:
    """``df`` plus ``reason`` and ``status`` (valid | duplicate | quarantined)."""
    annotated = rules.annotate(df, rule_list)
    window = Window.partitionBy(F.col(REASON).isNull(), *keys).orderBy(*(order or latest_first()))
    ranked = annotated.withColumn(RANK, F.when(F.col(REASON).isNull(), F.row_number().over(window)))
    status = (
        F.when(F.col(REASON).isNotNull(), F.lit(QUARANTINED))
        .when(F.col(RANK) == 1, F.lit(VALID))
        .otherwise(F.lit(DUPLICATE))
    )
    return ranked.withColumn(STATUS, status).drop(RANK)


def valid_rows(classified: DataFrame) -> DataFrame:
    return classified.where(F.col(STATUS) == VALID)


def quarantine_rows(classified: DataFrame, entity: str) -> DataFrame:
    """ops.quarantine rows (entity, source_file, reason, raw_record) of the quarantined records."""
    return classified.where(F.col(STATUS) == QUARANTINED).select(
        F.lit(entity).alias("entity"), "source_file", F.col(REASON).alias("reason"), "raw_record"
    )


@dataclass
class Tally:
    """Counts of one classified frame by status, and quarantine reasons."""

    read: int
    valid: int
    duplicates: int
    quarantined: int
    reasons: dict[str, int]


def tally(classified: DataFrame) -> Tally:
    """One small action on the (cached) classified frame: counts by status and reason."""
    counts = {VALID: 0, DUPLICATE: 0, QUARANTINED: 0}
    reasons: dict[str, int] = {}
    for row in classified.groupBy(STATUS, REASON).count().collect():
        counts[row[STATUS]] += row["count"]
        if row[STATUS] == QUARANTINED:
            reasons[row[REASON]] = row["count"]
    return Tally(
        read=sum(counts.values()),
        valid=counts[VALID],
        duplicates=counts[DUPLICATE],
        quarantined=counts[QUARANTINED],
        reasons=dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
    )
