"""dedupe.py: one row per key, the latest updated_at wins, ties broken by file then position."""

from __future__ import annotations

from datetime import datetime

from chispa import assert_df_equality
from pyspark.sql import functions as F

from zluri_staging.dedupe import keep_latest, latest_first, rank_versions

SCHEMA = "transaction_id string, updated_at timestamp, source_file string, position int, amount int"


def test_keep_latest_keeps_the_newest_version_and_returns_the_rest(spark):
    t = datetime.fromisoformat
    frame = spark.createDataFrame(
        [
            ("a", t("2026-01-05 21:17:27"), "sync-d/transactions/1.json", 0, 1),
            ("a", t("2026-01-05 21:20:00"), "sync-d/transactions/1.json", 9, 2),  # newest: wins wherever it is
            ("a", None, "sync-d/transactions/2.json", 0, 3),  # no time loses to any time
            ("b", t("2026-01-05 10:00:00"), "sync-d/transactions/1.json", 1, 4),
            ("b", t("2026-01-05 10:00:00"), "sync-d/transactions/2.json", 5, 5),  # tie: the later file wins
            ("c", t("2026-01-05 10:00:00"), "sync-d/transactions/1.json", 2, 6),
            ("c", t("2026-01-05 10:00:00"), "sync-d/transactions/1.json", 3, 7),  # tie in one file: later position
            ("d", None, "sync-d/transactions/1.json", 4, 8),
        ],
        SCHEMA,
    )

    kept, duplicates = keep_latest(frame, ["transaction_id"])

    assert_df_equality(
        kept.select("transaction_id", "amount"),
        spark.createDataFrame([("a", 2), ("b", 5), ("c", 7), ("d", 8)], "transaction_id string, amount int"),
        ignore_nullable=True,
        ignore_row_order=True,
    )
    assert_df_equality(
        duplicates.select("transaction_id", "amount"),
        spark.createDataFrame([("a", 1), ("a", 3), ("b", 4), ("c", 6)], "transaction_id string, amount int"),
        ignore_nullable=True,
        ignore_row_order=True,
    )


def test_rank_versions_without_updated_at_uses_file_order_and_compound_keys(spark):
    frame = spark.createDataFrame(
        [("g1", 1, "f1", 0), ("g1", 1, "f1", 3), ("g1", 2, "f1", 0), ("g2", 1, "f2", 0)],
        "group_id string, agent_id int, source_file string, position int",
    )

    ranked = rank_versions(frame, ["group_id", "agent_id"], latest_first(None))

    assert_df_equality(
        ranked.orderBy("group_id", "agent_id", F.col("position").desc()),
        spark.createDataFrame(
            [("g1", 1, "f1", 3, 1), ("g1", 1, "f1", 0, 2), ("g1", 2, "f1", 0, 1), ("g2", 1, "f2", 0, 1)],
            "group_id string, agent_id int, source_file string, position int, duplicate_rank int",
        ),
        ignore_nullable=True,
    )
