"""The Prefect flows: ``zluri_day_pipeline(day)`` and ``zluri_backfill(days)``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.futures import PrefectFuture
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from zluri_flows import config
from zluri_flows.console import progress_log
from zluri_flows.dag import STAGE_DEPENDENCIES, UPSERT_DEPENDENCIES, stage_task_name
from zluri_flows.tasks import migrate_task, publish_task, stage_task, upsert_task
from zluri_pg import check_database_scheme, check_days, database_url


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
    packages = config.spark_packages(config.input_root(input_root), config.bronze_root())
    spark = build_spark(jars_dir=config.zluri_home() / "jars", extra_packages=packages)
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
def zluri_day_pipeline(day: str, input_root: str | None = None, allow_mass_change: bool = False) -> dict[str, Any]:
    """Stage one feed day with Spark, upsert the core tables, publish metrics and the DQ report.
    ``allow_mass_change`` lets through a day the guard would refuse (see 005_check_mass_change)."""
    logger = get_run_logger()
    config.validate_day(day)
    options = config.mass_change_options(allow_mass_change)
    root = config.input_root(input_root)
    config.check_day_folder(root, day)
    url = database_url()
    home = str(config.zluri_home())
    started_at = datetime.now(UTC)
    progress_log.info("day %s: run %s started (input %s)", day, str(flow_run.id)[:8], root)
    bronze = config.bronze_root()
    migrate_task(url)
    check_database_scheme(url, [day])

    futures: dict[str, PrefectFuture] = {}
    with spark_for_run(root) as spark:
        config.check_day_folder(root, day, spark)  # a remote root can only be checked with the session
        for entity, needs in STAGE_DEPENDENCIES.items():
            futures[stage_task_name(entity)] = stage_task.submit(
                spark, entity, day, root, url, home, bronze, wait_for=[futures[stage_task_name(n)] for n in needs]
            )
        for step, (staged, steps) in UPSERT_DEPENDENCIES.items():
            needs = [futures[stage_task_name(e)] for e in staged] + [futures[s] for s in steps]
            futures[step] = upsert_task.submit(step, day, url, options, wait_for=needs)
        for future in futures.values():
            future.wait()
    outcomes = {name: _outcome(f) for name, f in futures.items()}
    # The report is written whatever happened, and says the run failed if any task did.
    report = publish_task(day, str(flow_run.id), url, outcomes, started_at, root)

    failed = {name: msg for name, (kind, msg) in outcomes.items() if kind == "failed"}
    not_run = sorted(name for name, (kind, _) in outcomes.items() if kind == "not run")
    if failed:
        lines = [f"{name}: {msg}" for name, msg in failed.items()]
        if not_run:
            lines.append(f"not run because an upstream task failed: {', '.join(not_run)}")
        raise PipelineFailed(f"day {day}: {len(failed)} task(s) failed\n" + "\n".join(lines))
    logger.info("day %s completed; report at %s", day, report)
    return {
        "day": day,
        "flow_run_id": str(flow_run.id),
        "report": report,
        "tasks": {name: f.result() for name, f in futures.items()},
    }


@flow(name="zluri_backfill")
def zluri_backfill(
    days: list[str], input_root: str | None = None, allow_mass_change: bool = False
) -> list[dict[str, Any]]:
    """Run days in the given order as subflows, stopping at the first failure."""
    check_days(days)
    config.mass_change_options(allow_mass_change)
    results = []
    with spark_for_run(input_root):
        for index, day in enumerate(days):
            state = zluri_day_pipeline(day, input_root, allow_mass_change, return_state=True)
            if not state.is_completed():
                skipped = ", ".join(days[index + 1 :]) or "none"
                raise PipelineFailed(f"backfill stopped at {day}: {state.message}\nnot run: {skipped}")
            results.append(state.result())
    return results
