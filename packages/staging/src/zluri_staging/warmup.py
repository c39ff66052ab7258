"""A new session's one-off costs, paid before the first day needs them.

The first staging step of a process pays for more than its records: the executors' Python workers
start, the JVM loads and compiles Delta's writer and the read path, and Great Expectations is
imported and builds its context. ``warm_up`` pays them on a one-record feed in a scratch folder,
so a caller with idle time (the CLI, while Prefect's server starts) can move them off the day.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import uuid
from pathlib import Path

from pyspark.sql import SparkSession

from zluri_staging import bronze, classify, dq, read, rules, transforms

__all__ = ["warm_up"]

_ROLE = {"id": 1, "name": "warm-up", "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}


def warm_up(spark: SparkSession) -> None:
    """Read, classify, write to bronze (two days, the second twice) and check one role, in a scratch
    folder removed afterwards."""
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
        for day in ("warmup", "warmup-next", "warmup-next"):
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
        for on_driver in (True, False):  # both engines: small frames are checked on the driver
            dq.validate("roles", staged, rows=counts.valid, on_driver=on_driver)
