"""classify.py: every record gets a status (valid, duplicate, quarantined) and its reason; the latest
version of a key wins (updated_at, then the later file, then the later position), duplicates are
ranked only among the rows that passed every rule, and the quarantine rows and counts are read from
the classified frame."""

from __future__ import annotations

from datetime import datetime

from chispa import assert_df_equality
from pyspark.sql import functions as F

from zluri_staging.classify import (
    DUPLICATE,
    STATUS,
    VALID,
    Tally,
    classify,
    latest_first,
    quarantine_rows,
    tally,
)
from zluri_staging.rules import Rule

SCHEMA = "transaction_id string, updated_at timestamp, source_file string, position int, amount int"
t = datetime.fromisoformat


def test_the_latest_version_of_each_key_is_valid_and_the_others_are_duplicates(spark):
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

    classified = classify(frame, [], ["transaction_id"])

    assert_df_equality(
        classified.where(F.col(STATUS) == VALID).select("transaction_id", "amount"),
        spark.createDataFrame([("a", 2), ("b", 5), ("c", 7), ("d", 8)], "transaction_id string, amount int"),
        ignore_nullable=True,
        ignore_row_order=True,
    )
    assert_df_equality(
        classified.where(F.col(STATUS) == DUPLICATE).select("transaction_id", "amount"),
        spark.createDataFrame([("a", 1), ("a", 3), ("b", 4), ("c", 6)], "transaction_id string, amount int"),
        ignore_nullable=True,
        ignore_row_order=True,
    )


def test_without_updated_at_the_file_order_decides_and_keys_may_be_compound(spark):
    frame = spark.createDataFrame(
        [("g1", 1, "f1", 0), ("g1", 1, "f1", 3), ("g1", 2, "f1", 0), ("g2", 1, "f2", 0)],
        "group_id string, agent_id int, source_file string, position int",
    )

    classified = classify(frame, [], ["group_id", "agent_id"], latest_first(None))

    assert_df_equality(
        classified,
        spark.createDataFrame(
            [
                ("g1", 1, "f1", 0, None, DUPLICATE),
                ("g1", 1, "f1", 3, None, VALID),
                ("g1", 2, "f1", 0, None, VALID),
                ("g2", 1, "f2", 0, None, VALID),
            ],
            f"group_id string, agent_id int, source_file string, position int, reason string, {STATUS} string",
        ),
        ignore_nullable=True,
        ignore_row_order=True,
    )


def rules() -> list[Rule]:  # Columns need a running Spark
    return [
        Rule("transaction_id_present", "transaction_id missing", F.col("transaction_id").isNotNull()),
        Rule("amount_positive", "amount not positive", F.col("amount") > 0),
    ]


ROWS = [
    ("a", t("2026-01-05 10:00:00"), "f1", 0, 1, "r0"),
    ("a", t("2026-01-05 11:00:00"), "f1", 1, -1, "r1"),  # newer but broken: never displaces the good copy
    ("b", t("2026-01-05 10:00:00"), "f1", 2, 5, "r2"),
    ("b", t("2026-01-05 12:00:00"), "f2", 0, 6, "r3"),
    (None, t("2026-01-05 10:00:00"), "f2", 1, 7, "r4"),
    (None, t("2026-01-05 10:00:00"), "f2", 2, -2, "r5"),
]
ROW_SCHEMA = f"{SCHEMA}, raw_record string"


def test_classify_gives_every_record_its_status_and_reason(spark):
    classified = classify(spark.createDataFrame(ROWS, ROW_SCHEMA), rules(), ["transaction_id"])

    assert_df_equality(
        classified,
        spark.createDataFrame(
            [
                (*ROWS[0], None, "valid"),
                (*ROWS[1], "amount not positive", "quarantined"),
                (*ROWS[2], None, "duplicate"),
                (*ROWS[3], None, "valid"),
                (*ROWS[4], "transaction_id missing", "quarantined"),
                (*ROWS[5], "transaction_id missing; amount not positive", "quarantined"),
            ],
            f"{ROW_SCHEMA}, reason string, {STATUS} string",
        ),
        ignore_nullable=True,
        ignore_row_order=True,
    )


def test_quarantine_rows_and_the_tally_come_from_the_classified_frame(spark):
    classified = classify(spark.createDataFrame(ROWS, ROW_SCHEMA), rules(), ["transaction_id"])

    assert_df_equality(
        quarantine_rows(classified, "transactions"),
        spark.createDataFrame(
            [
                ("transactions", "f1", "amount not positive", "r1"),
                ("transactions", "f2", "transaction_id missing", "r4"),
                ("transactions", "f2", "transaction_id missing; amount not positive", "r5"),
            ],
            "entity string, source_file string, reason string, raw_record string",
        ),
        ignore_nullable=True,
        ignore_row_order=True,
    )
    assert tally(classified) == Tally(
        read=6,
        valid=2,
        duplicates=1,
        quarantined=3,
        reasons={
            "amount not positive": 1,
            "transaction_id missing": 1,
            "transaction_id missing; amount not positive": 1,
        },
        quarantined_bytes=len("r1") + len("r4") + len("r5"),  # the quarantined rows' raw text only
    )


def test_the_tally_sums_the_utf8_bytes_of_the_quarantined_raw_text(spark):
    rows = [(*row[:5], text) for row, text in zip(ROWS, ["ok", "½ é", "dup", "x", None, "日本"], strict=True)]
    classified = classify(spark.createDataFrame(rows, ROW_SCHEMA), rules(), ["transaction_id"])
    # quarantined: "½ é" (2 + 1 + 2 bytes), a null text (nothing), "日本" (3 + 3)
    assert tally(classified).quarantined_bytes == 5 + 6
    # A frame without raw text has none to count.
    assert tally(classified.drop("raw_record")).quarantined_bytes == 0


def test_the_tally_lists_distinct_values_of_the_valid_rows_in_its_own_pass(spark):
    classified = classify(spark.createDataFrame(ROWS, ROW_SCHEMA), rules(), ["transaction_id"])
    listed = {
        "amounts": {"amount": F.col("amount"), "file": F.col("source_file")},
        "big": {"amount": F.when(F.col("amount") > 5, F.col("amount"))},  # a row of nulls lists nothing
        "files": {"file": F.col("source_file")},  # distinct: f1 is listed once
    }

    counts = tally(classified, listed)

    # The duplicate (5) and the quarantined rows (-1, 7, -2) are not listed; the counts are unchanged.
    assert counts.listed["amounts"].sort_by("amount").to_pylist() == [
        {"amount": 1, "file": "f1"},
        {"amount": 6, "file": "f2"},
    ]
    assert counts.listed["big"].to_pylist() == [{"amount": 6}]
    assert sorted(counts.listed["files"]["file"].to_pylist()) == ["f1", "f2"]
    assert (counts.read, counts.valid, counts.duplicates, counts.quarantined) == (6, 2, 1, 3)
    assert counts.reasons == tally(classified).reasons


def test_the_tally_gathers_the_elements_the_valid_rows_arrays_hold_in_its_own_pass(spark):
    classified = classify(spark.createDataFrame(ROWS, ROW_SCHEMA), rules(), ["transaction_id"])
    gathered = {
        "around": F.array(F.col("amount") - 1, F.col("amount"), F.lit(None).cast("int")),  # nulls are left out
        "files": F.array(F.col("source_file")),
        "none": F.when(F.col("amount") > 100, F.array(F.col("amount"))),  # no valid row lists any
    }

    counts = tally(classified, gathered=gathered)

    # Only the valid rows (amounts 1 and 6) count; the duplicate (5) and the quarantined rows do not.
    assert counts.gathered == {"around": [0, 1, 5, 6], "files": ["f1", "f2"], "none": []}
    plain = tally(classified)
    assert (counts.read, counts.valid, counts.duplicates, counts.quarantined) == (6, 2, 1, 3)
    assert counts.reasons == plain.reasons and plain.gathered == {}
