"""plans.py: the transactions' warnings sample the ids they name in one query, per warning."""

from __future__ import annotations

from pyspark.sql import functions as F

from zluri_staging import plans


def test_ids_of_several_warnings_are_sampled_at_once_first_distinct_values_each(spark):
    rows = [(f"t{n:02d}", "c9" if n % 2 else "c1", n < 25) for n in range(30)]
    frame = spark.createDataFrame(rows, "transaction_id string, card_id string, late boolean")
    samples = plans._first_ids(
        frame,
        [
            (F.col("late"), "transaction_id"),  # 25 rows: the first 21 distinct, in order
            (F.col("transaction_id") >= F.lit("t26"), "card_id"),  # 4 rows, 2 distinct ids
            (F.col("transaction_id") == F.lit("none"), "card_id"),  # no row
        ],
    )
    assert samples == [[f"t{n:02d}" for n in range(21)], ["c1", "c9"], []]
    assert plans._listed(samples[0]) == ", ".join(f"t{n:02d}" for n in range(20)) + " ..."
    assert plans._first_ids(frame, []) == []
