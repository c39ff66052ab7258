"""Within-batch de-duplication: one row per key, the latest version wins.

"Latest" is the greatest ``updated_at`` (nulls lose); ties are broken by the later source file and
then the later position in it, so the outcome never depends on how Spark happened to partition
the files. The rows that lose are counted, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

RANK = "duplicate_rank"


def latest_first(updated_at: str | None = "updated_at") -> list[Column]:
    """The default order: newest ``updated_at`` first, then the later file and position."""
    order = [F.col(updated_at).desc_nulls_last()] if updated_at else []
    return [*order, F.col("source_file").desc_nulls_last(), F.col("position").desc_nulls_last()]


def rank_versions(df: DataFrame, keys: Sequence[str], order: Sequence[Column] | None = None) -> DataFrame:
    """``df`` plus ``duplicate_rank``: 1 for the version of each key that is kept, 2.. for the
    duplicates it replaces."""
    window = Window.partitionBy(*keys).orderBy(*(order if order is not None else latest_first()))
    return df.withColumn(RANK, F.row_number().over(window))


def keep_latest(
    df: DataFrame, keys: Sequence[str], order: Sequence[Column] | None = None
) -> tuple[DataFrame, DataFrame]:
    """(kept rows, duplicate rows), both with ``df``'s columns."""
    ranked = rank_versions(df, keys, order)
    return (
        ranked.where(F.col(RANK) == 1).drop(RANK),
        ranked.where(F.col(RANK) > 1).drop(RANK),
    )
