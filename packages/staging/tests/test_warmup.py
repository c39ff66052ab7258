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
