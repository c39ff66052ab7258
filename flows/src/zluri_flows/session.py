"""The run's one SparkSession: started (and warmed up) early by the CLI, shared by a process's runs,
and stopped when the last of them ends. Prefect-free, so the CLI starts the JVM before it imports the
flows."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from zluri_flows import config

_spark_lock = threading.Lock()
_spark_owned: dict[str, Any] = {"session": None, "users": 0}


@contextmanager
def spark_for_run(settings: config.Settings, input_root: str | None = None, days: Sequence[str] = ()) -> Iterator[Any]:
    """The run's one SparkSession. A session already running in this process (a backfill's, the
    tests', or that of a run started at the same time in another thread) is reused; one started here
    is stopped when the last run using it ends, never under another run's feet. It carries the extra
    jars the input and bronze roots need (hadoop-aws for s3a://), and a heap, JIT and code generation
    sized to the largest of ``days`` (``config.largest_day_bytes``)."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    with _spark_lock:
        external = None
        if _spark_owned["session"] is None:
            external = SparkSession.getActiveSession()
            if external is None and SparkContext._active_spark_context is not None:
                external = SparkSession.builder.getOrCreate()  # started by another thread
            if external is None:
                root = settings.input(input_root)
                _spark_owned["session"] = _build(settings, root, days, config.largest_day_bytes(root, days))
        if external is None:
            _spark_owned["users"] += 1
            session = _spark_owned["session"]
    if external is not None:
        yield external
        return
    try:
        yield session
    finally:
        with _spark_lock:
            _spark_owned["users"] -= 1
            if _spark_owned["users"] == 0:
                _spark_owned["session"] = None
                session.stop()


def _build(settings: config.Settings, root: str, days: Sequence[str], largest: int | None) -> Any:
    """The session of a run of ``days`` under ``root``, the largest of them ``largest`` bytes."""
    from zluri_staging.spark import build_spark, sized_for

    config.apply_process_defaults()
    packages = config.spark_packages(root, settings.bronze_root)
    sized = sized_for(settings.spark, largest, len(days))
    return build_spark(settings=sized, jars_dir=settings.jars_dir, extra_packages=packages)


def start_spark_early(
    settings: config.Settings, input_root: str | None = None, days: Sequence[str] = ()
) -> threading.Thread:
    """Start the session the next run will own in the background, then pay its one-off costs
    (``warm_up_for_run``): the CLI calls this first, so they are paid while it imports the flows,
    checks the database and starts Prefect. ``spark_for_run`` waits for both rather than starting
    another session; if it fails to start, ``spark_for_run`` tries again and reports the error. A
    run whose day folder is missing gets no warm-up: the CLI reports it at once.

    The run waits for the warm-up too: on the reference feed the first steps run beside it took
    8.7-11 s each (roles, agents) and the two days 43.0-47.7 s; after it, 1.0-3.4 s and 46.6-47.3 s,
    at a lower peak (1.50-1.67 GiB against 1.61-1.67)."""

    def start() -> None:
        from pyspark import SparkContext

        with _spark_lock:
            # A session this process already runs (the tests', another run's) is the one to use.
            if _spark_owned["session"] is not None or SparkContext._active_spark_context is not None:
                return
            root = settings.input(input_root)
            try:
                largest = config.largest_day_bytes(root, days)  # listed once, for the session and warm-up
                session = _spark_owned["session"] = _build(settings, root, days, largest)
            except Exception:  # spark_for_run starts it again and raises the error
                logging.getLogger(__name__).debug("early Spark start failed", exc_info=True)
                return
            try:
                if not _days_found(session, root, days):
                    return  # the CLI reports a usage error at once, without waiting for a warm-up
                warm_up_for_run(session, settings.bronze_root, days, largest)
            except Exception:  # only time is at stake; the run meets any real problem itself
                logging.getLogger(__name__).debug("Spark warm-up failed", exc_info=True)

    thread = threading.Thread(target=start, name="spark-early-start", daemon=True)
    thread.start()
    return thread


def _days_found(spark: Any, input_root: str, days: Sequence[str]) -> bool:
    """Whether every day's folder is there (a remote root can only be looked at with the session)."""
    try:
        for day in days:
            config.check_day_folder(input_root, day, spark)
    except FileNotFoundError:
        return False
    return True


def warm_up_for_run(spark: Any, bronze_root: str, days: Sequence[str], largest: int | None) -> None:
    """``warm_up`` on the paths a run of ``days`` takes: a bronze day replaced only if one of them
    is in bronze already (a re-run; a new day is appended), and checks on Spark's engine only if the
    largest day (``largest`` bytes, None: unknown) is more than tiny (a tiny day's tables are checked
    on the driver)."""
    from zluri_staging import bronze
    from zluri_staging.schemas import ENTITIES
    from zluri_staging.spark import TINY_DAY_BYTES
    from zluri_staging.warmup import warm_up

    # On an object store the lookups would cost more than the warm-up they may save.
    rewrites = config.is_remote(bronze_root) or any(
        bronze.day_written(spark, root=bronze_root, entity=entity, day=day) for day in days for entity in ENTITIES
    )
    warm_up(spark, replace=rewrites, on_spark=largest is None or largest > TINY_DAY_BYTES)
