"""The Prefect flows: ``zluri_day_pipeline(day)`` and ``zluri_backfill(days)``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prefect import flow, get_run_logger
from prefect.futures import PrefectFuture
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from zluri_flows import config
from zluri_flows.dag import STAGE_DEPENDENCIES, UPSERT_DEPENDENCIES, stage_task_name
from zluri_flows.tasks import migrate_task, publish_task, stage_task, upsert_task
from zluri_pg import database_url


class PipelineFailed(RuntimeError):
    """One or more tasks of the day failed; the message names them and their errors."""


@contextmanager
def spark_for_run(input_root: str | None = None) -> Iterator[Any]:
    """The run's one SparkSession; a session already active (a backfill's) is reused, not stopped.
    It carries the extra jars the input and bronze roots need (hadoop-aws for s3a://)."""
    from pyspark.sql import SparkSession

    from zluri_staging.spark import build_spark

    active = SparkSession.getActiveSession()
    if active is not None:
        yield active
        return
    spark = build_spark(extra_packages=config.spark_packages(config.input_root(input_root), config.bronze_root()))
    try:
        yield spark
    finally:
        spark.stop()


def _outcome(future: PrefectFuture) -> tuple[str, str | None]:
    state = future.state
    if state.is_completed():
        return "completed", None
    message = state.message or state.name
    return ("not run" if "upstream" in message.lower() else "failed"), message


@flow(name="zluri_day_pipeline", task_runner=ThreadPoolTaskRunner(max_workers=3))
def zluri_day_pipeline(day: str, input_root: str | None = None) -> dict[str, Any]:
    """Stage one feed day with Spark, upsert the core tables, publish metrics and the DQ report."""
    logger = get_run_logger()
    config.validate_day(day)
    root = config.input_root(input_root)
    config.check_day_folder(root, day)
    url = database_url()
    home = str(config.zluri_home())
    bronze = config.bronze_root()
    migrate_task(url)

    futures: dict[str, PrefectFuture] = {}
    with spark_for_run(root) as spark:
        config.check_day_folder(root, day, spark)  # a remote root can only be checked with the session
        for entity, needs in STAGE_DEPENDENCIES.items():
            futures[stage_task_name(entity)] = stage_task.submit(
                spark, entity, day, root, url, home, bronze, wait_for=[futures[stage_task_name(n)] for n in needs])
        for step, (staged, steps) in UPSERT_DEPENDENCIES.items():
            futures[step] = upsert_task.submit(
                step, day, url, wait_for=[futures[stage_task_name(e)] for e in staged] + [futures[s] for s in steps])
        for future in futures.values():
            future.wait()
    report = publish_task(day, str(flow_run.id), url)

    outcomes = {name: _outcome(f) for name, f in futures.items()}
    failed = {name: msg for name, (kind, msg) in outcomes.items() if kind == "failed"}
    not_run = sorted(name for name, (kind, _) in outcomes.items() if kind == "not run")
    if failed:
        lines = [f"{name}: {msg}" for name, msg in failed.items()]
        if not_run:
            lines.append(f"not run because an upstream task failed: {', '.join(not_run)}")
        raise PipelineFailed(f"day {day}: {len(failed)} task(s) failed\n" + "\n".join(lines))
    logger.info("day %s completed; report at %s", day, report)
    return {"day": day, "flow_run_id": str(flow_run.id), "report": report,
            "tasks": {name: f.result() for name, f in futures.items()}}


@flow(name="zluri_backfill")
def zluri_backfill(days: list[str], input_root: str | None = None) -> list[dict[str, Any]]:
    """Run days in the given order as subflows, stopping at the first failure."""
    for day in days:
        config.validate_day(day)
    results = []
    with spark_for_run(input_root):
        for index, day in enumerate(days):
            state = zluri_day_pipeline(day, input_root, return_state=True)
            if not state.is_completed():
                skipped = ", ".join(days[index + 1:]) or "none"
                raise PipelineFailed(f"backfill stopped at {day}: {state.message}\nnot run: {skipped}")
            results.append(state.result())
    return results
