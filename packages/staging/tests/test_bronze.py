"""bronze.py: raw records to Delta, partitioned by day; a re-run replaces only its day."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from chispa import assert_df_equality

from zluri_staging.bronze import bronze_path, default_root, write_bronze

RECORDS = "source_file string, position int, raw_record string, read_error string"


def test_rerun_replaces_the_days_partition_and_keeps_other_days(spark, tmp_path: Path):
    first = spark.createDataFrame(
        [("sync-day1/roles/1.json", 0, '{"id":1}', None), ("sync-day1/roles/1.json", 1, '{"id":2}', None)], RECORDS
    )
    rerun = spark.createDataFrame(
        [
            ("sync-day1/roles/1.json", 0, '{"id":1,"name":"new"}', None),
            ("sync-day1/roles/2.json", None, "[{", "file is not valid JSON"),
        ],
        RECORDS,
    )
    other_day = spark.createDataFrame([("sync-day2/roles/1.json", 0, '{"id":3}', None)], RECORDS)
    at = datetime(2026, 1, 6, 12, 0, 0)

    write_bronze(first, root=tmp_path / "bronze", entity="roles", day="day1", flow_run_id="run-1", ingested_at=at)
    write_bronze(other_day, root=tmp_path / "bronze", entity="roles", day="day2", flow_run_id="run-2", ingested_at=at)
    path = write_bronze(
        rerun, root=tmp_path / "bronze", entity="roles", day="day1", flow_run_id="run-3", ingested_at=at
    )

    assert path == bronze_path(tmp_path / "bronze", "roles") == str(tmp_path.resolve() / "bronze" / "roles")
    assert_df_equality(
        spark.read.format("delta").load(path),
        spark.createDataFrame(
            [
                ("sync-day1/roles/1.json", 0, '{"id":1,"name":"new"}', None, "run-3", at, "day1"),
                ("sync-day1/roles/2.json", None, "[{", "file is not valid JSON", "run-3", at, "day1"),
                ("sync-day2/roles/1.json", 0, '{"id":3}', None, "run-2", at, "day2"),
            ],
            "source_file string, position int, raw_record string, read_error string, flow_run_id string, "
            "ingested_at timestamp, day string",
        ),
        ignore_nullable=True,
        ignore_row_order=True,
        ignore_column_order=True,
    )


def test_bronze_root_is_a_local_folder_or_a_url(tmp_path: Path):
    assert default_root(tmp_path) == str(tmp_path.resolve() / "bronze")
    assert bronze_path(default_root(tmp_path), "cards") == str(tmp_path.resolve() / "bronze" / "cards")
    assert bronze_path(f"file://{tmp_path}/b", "cards") == str(tmp_path.resolve() / "b" / "cards")
    assert bronze_path("s3a://lake/zluri/bronze/", "cards") == "s3a://lake/zluri/bronze/cards"
    assert bronze_path("hdfs://nn:8020/bronze", "cards") == "hdfs://nn:8020/bronze/cards"
