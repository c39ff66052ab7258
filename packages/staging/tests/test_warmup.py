"""warm_up: a new session's one-off costs paid on one record, leaving nothing behind."""

from __future__ import annotations

import tempfile

from zluri_staging import bronze, dq
from zluri_staging.warmup import warm_up


def test_warm_up_reads_writes_bronze_and_checks_one_record_then_removes_its_scratch(spark, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    written: list[int] = []
    write = bronze.write_bronze

    def counted(records, **kwargs):
        path = write(records, **kwargs)
        written.append(spark.read.format("delta").load(path).count())
        return path

    monkeypatch.setattr(bronze, "write_bronze", counted)
    warm_up(spark)
    # the one record, in a Delta table, then again as a second day, then that day replaced (not added)
    assert written == [1, 2, 2]
    assert "roles" in dq._STATE["batch_definitions"]  # GX's context is built, on this session
    assert "roles" in dq._STATE["driver_definitions"]  # and its engine for small frames
    assert list(tmp_path.iterdir()) == []


def test_a_run_of_new_tiny_days_warms_up_without_a_replace_or_sparks_checks(spark, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    written: list[str] = []
    write = bronze.write_bronze

    def recorded(records, **kwargs):
        written.append(kwargs["day"])
        return write(records, **kwargs)

    monkeypatch.setattr(bronze, "write_bronze", recorded)
    engines: list[str] = []
    monkeypatch.setattr(dq, "_run_suite", _engines_used(dq._run_suite, engines))
    warm_up(spark, replace=False, on_spark=False)
    assert written == ["warmup", "warmup-next"]  # a new table, then a new day of it: appends only
    assert engines == ["driver", "driver"]  # GX's own row beside the Spark work, then the collected role
    assert list(tmp_path.iterdir()) == []


def _engines_used(run_suite, engines):
    def recorded(suite, spark, data):
        engines.append("driver" if spark is None else "spark")
        return run_suite(suite, spark, data)

    return recorded
