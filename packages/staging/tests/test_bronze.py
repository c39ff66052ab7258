"""bronze.py: raw records to Delta, partitioned by day; a re-run replaces only its day."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from chispa import assert_df_equality

from zluri_staging.bronze import (
    CHECKPOINT_INTERVAL,
    CHECKPOINT_PROPERTY,
    bronze_frame,
    bronze_path,
    day_written,
    default_root,
    lock_name,
    prepare_write,
    table_properties,
    write_bronze,
)

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


def _descriptions_of_jobs_run_by(spark, action: Callable[[], Any]) -> list[str]:
    store = spark.sparkContext._jsc.sc().statusStore()

    def jobs() -> dict[int, str]:
        listed, found = store.jobsList(None).iterator(), {}
        while listed.hasNext():
            job = listed.next()
            found[job.jobId()] = str(job.description())
        return found

    before = jobs()
    action()
    return [d for j, d in jobs().items() if j not in before]


def test_prepare_write_replays_the_log_so_the_write_need_not(spark, tmp_path: Path):
    root = tmp_path / "bronze"
    prepare_write(spark, root=root, entity="roles", day="day1")  # no table yet: nothing to replay, nothing created
    assert not root.exists()
    (root / "cards").mkdir(parents=True)
    (root / "cards" / "x.json").write_text("{}", encoding="utf-8")
    prepare_write(spark, root=root, entity="cards", day="day1")  # not a Delta table: left for a write to meet

    frame = spark.createDataFrame([("sync-day1/roles/1.json", 0, '{"id":1}', None)], RECORDS)

    def write(day: str) -> Callable[[], str]:
        return lambda: write_bronze(frame, root=root, entity="roles", day=day, flow_run_id=f"run-{day}")

    for day in ("day1", "day2", "day3"):
        write(day)()
    # A replace replays the table's log itself (Delta's "Compute snapshot" job) ...
    assert any("Compute snapshot" in d for d in _descriptions_of_jobs_run_by(spark, write("day2")))
    # ... unless prepare_write did it ahead of the write.
    prepare_write(spark, root=root, entity="roles", day="day3")
    prepared = _descriptions_of_jobs_run_by(spark, write("day3"))
    assert prepared and not any("Compute snapshot" in d for d in prepared)
    days = spark.read.format("delta").load(bronze_path(root, "roles")).groupBy("day").count().collect()
    assert sorted((r["day"], r["count"]) for r in days) == [("day1", 1), ("day2", 1), ("day3", 1)]
    # A day without a folder has nothing to replace: no replay ahead of its write.
    replays = _descriptions_of_jobs_run_by(spark, lambda: prepare_write(spark, root=root, entity="roles", day="day4"))
    assert not any("Compute snapshot" in d for d in replays)


def test_a_new_day_is_appended_under_the_day_lock_without_the_logs_replay(spark, tmp_path: Path):
    root = tmp_path / "bronze"
    held: list[str] = []

    @contextmanager
    def day_lock() -> Iterator[None]:
        held.append("taken")
        yield
        held.append("released")

    def write(day: str, record: str) -> Callable[[], str]:
        frame = spark.createDataFrame([("sync/roles/1.json", 0, record, None)], RECORDS)
        return lambda: write_bronze(frame, root=root, entity="roles", day=day, flow_run_id="run", day_lock=day_lock)

    write("day1", '{"id":1}')()  # creates the table
    assert held == ["taken", "released"] and day_written(spark, root=root, entity="roles", day="day1")
    assert not day_written(spark, root=root, entity="roles", day="day2")
    for day in ("day2", "day3"):
        jobs = _descriptions_of_jobs_run_by(spark, write(day, '{"id":1}'))
        assert jobs and not any("Compute snapshot" in d for d in jobs)
    # A day the table holds is replaced, not appended to, under the lock as well.
    write("day2", '{"id":2}')()
    rows = spark.read.format("delta").load(bronze_path(root, "roles")).select("day", "raw_record").collect()
    assert sorted((r["day"], r["raw_record"]) for r in rows) == [
        ("day1", '{"id":1}'),
        ("day2", '{"id":2}'),
        ("day3", '{"id":1}'),
    ]
    assert held == ["taken", "released"] * 4
    # Escaped as Spark names the folder.
    write("2026-01-05 a/b", '{"id":1}')()
    assert day_written(spark, root=root, entity="roles", day="2026-01-05 a/b")


def test_bronze_root_is_a_local_folder_or_a_url(tmp_path: Path):
    assert default_root(tmp_path) == str(tmp_path.resolve() / "bronze")
    assert bronze_path(default_root(tmp_path), "cards") == str(tmp_path.resolve() / "bronze" / "cards")
    assert bronze_path(f"file://{tmp_path}/b", "cards") == str(tmp_path.resolve() / "b" / "cards")
    assert bronze_path("s3a://lake/zluri/bronze/", "cards") == "s3a://lake/zluri/bronze/cards"
    assert bronze_path("hdfs://nn:8020/bronze", "cards") == "hdfs://nn:8020/bronze/cards"


def test_concurrent_writes_of_the_same_day_all_succeed_and_end_as_one(spark, tmp_path: Path):
    # Several runs write the same day's partition at once (and the first ones race to create the
    # table): each loser of Delta's optimistic commit retries, so none fails and one write's rows remain.
    from concurrent.futures import ThreadPoolExecutor

    at = datetime(2026, 1, 6, 12, 0, 0)
    frames = {
        f"run-{i}": spark.createDataFrame([("sync-day1/roles/1.json", 0, f'{{"id":{i}}}', None)], RECORDS)
        for i in range(4)
    }

    def write(run: str) -> str:
        return write_bronze(
            frames[run], root=tmp_path / "bronze", entity="roles", day="day1", flow_run_id=run, ingested_at=at
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        paths = list(pool.map(write, frames))
    rows = spark.read.format("delta").load(paths[0]).collect()
    assert len(rows) == 1 and rows[0]["raw_record"] == f'{{"id":{rows[0]["flow_run_id"][-1]}}}'


def test_concurrent_first_writes_of_a_day_under_the_postgres_lock_end_as_one(spark, tmp_path: Path, pg_server_url):
    # The day's first writers see no folder only one at a time: the first appends, the others replace.
    from concurrent.futures import ThreadPoolExecutor

    from zluri_staging.load import advisory_lock

    root = tmp_path / "bronze"
    frames = {
        f"run-{i}": spark.createDataFrame([("sync-day1/roles/1.json", 0, f'{{"id":{i}}}', None)], RECORDS)
        for i in range(4)
    }
    lock = partial(advisory_lock, pg_server_url, lock_name(root, "roles", "day1"))

    def write(run: str) -> str:
        return write_bronze(frames[run], root=root, entity="roles", day="day1", flow_run_id=run, day_lock=lock)

    with ThreadPoolExecutor(max_workers=4) as pool:
        paths = list(pool.map(write, frames))
    rows = spark.read.format("delta").load(paths[0]).collect()
    assert len(rows) == 1 and rows[0]["raw_record"] == f'{{"id":{rows[0]["flow_run_id"][-1]}}}'


def test_retry_concurrent_retries_only_delta_conflicts(spark):
    import pytest
    from delta.exceptions import ConcurrentAppendException

    from zluri_staging.bronze import retry_concurrent

    calls: list[int] = []
    slept: list[float] = []

    def conflict_once():
        calls.append(1)
        if len(calls) == 1:
            raise ConcurrentAppendException("Files were added to partition [day=day1] by a concurrent update")
        return "written"

    assert retry_concurrent(conflict_once, what="test", sleep=slept.append) == "written"
    assert len(calls) == 2 and len(slept) == 1 and 0.5 <= slept[0] <= 1.0

    def always_conflict():
        raise ConcurrentAppendException("again")

    with pytest.raises(ConcurrentAppendException):
        retry_concurrent(always_conflict, what="test", attempts=3, sleep=slept.append)
    with pytest.raises(ValueError):
        retry_concurrent(lambda: (_ for _ in ()).throw(ValueError("not a conflict")), what="test", sleep=slept.append)
    assert len(slept) == 3  # two for the three-attempt run, none for the error that is not a conflict


def test_vacuum_removes_files_no_version_needs_and_keeps_the_table_readable(spark, tmp_path: Path):
    from zluri_staging.bronze import vacuum_bronze

    at = datetime(2026, 1, 6, 12, 0, 0)
    for run in ("run-1", "run-2", "run-3"):
        rows = spark.createDataFrame([("sync-day1/roles/1.json", 0, f'{{"run":"{run}"}}', None)], RECORDS)
        write_bronze(rows, root=tmp_path / "bronze", entity="roles", day="day1", flow_run_id=run, ingested_at=at)
    root = str(tmp_path / "bronze")
    assert len(list((tmp_path / "bronze" / "roles").rglob("*.parquet"))) == 3

    (dry,) = vacuum_bronze(spark, root, retention_hours=0, dry_run=True)
    assert dry.files == 2 and 0 < dry.freed_bytes < dry.held_bytes  # the two overwritten writes
    (kept,) = vacuum_bronze(spark, root, retention_hours=24, dry_run=False)
    assert kept.files == 0  # both are younger than a day
    (done,) = vacuum_bronze(spark, root, retention_hours=0, dry_run=False)
    assert done.files == 2
    (after,) = vacuum_bronze(spark, root, retention_hours=0, dry_run=True)
    assert after.files == 0
    assert len(list((tmp_path / "bronze" / "roles").rglob("*.parquet"))) == 1
    assert [
        r["raw_record"] for r in spark.read.format("delta").load(bronze_path(tmp_path / "bronze", "roles")).collect()
    ] == ['{"run":"run-3"}']
    assert spark.conf.get("spark.databricks.delta.retentionDurationCheck.enabled") == "true"


def _checkpoint_interval(spark, table: str) -> str | None:
    return table_properties(spark, table).get(CHECKPOINT_PROPERTY)


def _property_changes(spark, table: str) -> int:
    history = spark.sql(f"describe history delta.`{table}`").select("operation").collect()
    return [r["operation"] for r in history].count("SET TBLPROPERTIES")


def test_a_new_table_checkpoints_its_log_every_hundredth_commit_and_vacuum_aligns_an_older_one(spark, tmp_path: Path):
    from zluri_staging.bronze import vacuum_bronze

    root = tmp_path / "bronze"
    frame = spark.createDataFrame([("sync/roles/1.json", 0, '{"id":1}', None)], RECORDS)
    for n in range(11):  # Delta's default would write a checkpoint in the tenth commit (version 10)
        write_bronze(frame, root=root, entity="roles", day=f"day{n}", flow_run_id="run", day_lock=nullcontext)
    table = bronze_path(root, "roles")
    assert _checkpoint_interval(spark, table) == str(CHECKPOINT_INTERVAL) == "100"
    log_folder = Path(table) / "_delta_log"
    assert len(list(log_folder.glob("*.json"))) == 11 and not list(log_folder.glob("*checkpoint*"))
    assert spark.read.format("delta").load(table).count() == 11

    # A table an earlier release created has no interval of its own (Delta's 10): a write leaves it
    # so, and a dry run, and a vacuum with nothing old enough to look at; a vacuum sets it, once.
    older = bronze_path(root, "cards")
    at = datetime(2026, 1, 6, 12, 0, 0)
    bronze_frame(frame, day="day1", flow_run_id="run", ingested_at=at).write.format("delta").partitionBy("day").save(
        older
    )
    write_bronze(frame, root=root, entity="cards", day="day2", flow_run_id="run", day_lock=nullcontext)
    vacuum_bronze(spark, str(root), retention_hours=0, dry_run=True)
    vacuum_bronze(spark, str(root), retention_hours=24, dry_run=False)  # its files are minutes old
    assert _checkpoint_interval(spark, older) is None
    vacuum_bronze(spark, str(root), retention_hours=0, dry_run=False)
    assert _checkpoint_interval(spark, older) == "100"
    assert _property_changes(spark, older) == 1
    vacuum_bronze(spark, str(root), retention_hours=0, dry_run=False)
    assert _property_changes(spark, older) == 1
    assert spark.read.format("delta").load(older).count() == 2
