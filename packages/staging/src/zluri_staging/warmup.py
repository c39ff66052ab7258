"""A new session's one-off costs, paid before the first day needs them.

The first staging step of a process pays for more than its records: the executors' Python workers
start, the JVM loads and compiles Delta's writer and the read path, and Great Expectations is
imported and builds its context. ``warm_up`` pays them on a one-record feed in a scratch folder,
so a caller with idle time (the CLI, while Prefect's server starts) can move them off the day. GX's
part is Python's work and the rest mostly the JVM's, so the two run side by side.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import threading
import uuid
from pathlib import Path

from pyspark.sql import SparkSession

from zluri_staging import bronze, classify, dq, read, rules, transforms

__all__ = ["warm_up"]

_ROLE = {"id": 1, "name": "warm-up", "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}


def warm_up(spark: SparkSession, *, replace: bool = True, on_spark: bool = True) -> None:
    """Read, classify, write to bronze (a new table, then a new day of it) and check one role, in a
    scratch folder removed afterwards, while GX's driver engine checks a row of its own beside them.
    ``replace``: that second day replaced too, as a re-run replaces a day (about 2.8 s; a run of new
    days never does). ``on_spark``: the role checked on Spark's engine too, as tables of more than
    ``dq.DRIVER_ROWS`` rows are (about 0.7 s)."""
    checks = threading.Thread(target=dq.warm_up, name="zluri-warm-up-checks", daemon=True)
    checks.start()
    try:
        _stage_one_role(spark, replace=replace, on_spark=on_spark)
    finally:
        checks.join()


def _stage_one_role(spark: SparkSession, *, replace: bool, on_spark: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="zluri-warm-up-") as scratch:
        root = Path(scratch)
        folder = root / "sync-warmup" / "roles"
        folder.mkdir(parents=True)
        (folder / "1.json").write_text(json.dumps([_ROLE]), encoding="utf-8")
        entity = read.read_entity(spark, "roles", day="warmup", input_root=str(root))
        if entity is None:
            return
        records = read.records(entity.parsed)
        # A new table, a new day of it (appended: no other writer reaches the scratch folder), then
        # that day replaced after its log's replay, as a re-run does: each path's first time in a
        # JVM cost about 1.5 s more.
        bronze_root = str(root / "bronze")
        for day in ("warmup", "warmup-next", "warmup-next")[: 3 if replace else 2]:
            bronze.prepare_write(spark, root=bronze_root, entity="roles", day=day)
            bronze.write_bronze(
                records,
                root=bronze_root,
                entity="roles",
                day=day,
                flow_run_id=str(uuid.uuid4()),
                day_lock=contextlib.nullcontext,
            )
        classified = classify.classify(records.transform(transforms.roles), rules.role_rules(), ("role_id",))
        counts = classify.tally(classified)
        staged = transforms.staging_frame(classify.valid_rows(classified), "stg_roles")
        # A small frame is collected and checked on the driver (its engine warmed up beside this), a
        # larger one on Spark.
        dq.validate("roles", staged, rows=counts.valid, collected=staged.toArrow())
        if on_spark:
            dq.validate("roles", staged, rows=counts.valid, on_driver=False)
