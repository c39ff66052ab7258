"""The Prefect flows: ``zluri_day_pipeline(day)`` and ``zluri_backfill(days)``.

A flow run's entry is an edge of the pipeline (a deployment starts there): it builds the run's
``Settings`` from the environment once and passes what each task needs down."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.futures import PrefectFuture
from prefect.runtime import flow_run
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from zluri_flows import config
from zluri_flows.console import progress_log
from zluri_flows.dag import STAGE_DEPENDENCIES, UPSERT_DEPENDENCIES, stage_task_name
from zluri_flows.session import spark_for_run
from zluri_flows.tasks import migrate_task, prune_task, publish_task, stage_task, upsert_task
from zluri_pg import check_database_scheme, check_days, upsert_phase
from zluri_pg.runs import finish_run, start_run


class PipelineFailed(RuntimeError):
    """One or more tasks of the day failed; the message names them and their errors."""


def _give_back_heap(spark: Any, logger: Any) -> None:
    """The staging is done: the driver's heap shrinks to what is live while the upserts run (an L
    day's JVM held 1.8 GiB through them otherwise). A JVM that cannot is left as it is."""
    from zluri_staging.spark import give_back_heap

    try:
        before, after = give_back_heap(spark)
    except Exception as exc:  # noqa: BLE001 - only memory is at stake, never the day
        logger.warning("the driver's heap was not shrunk after staging: %s", exc)
        return
    logger.debug("driver heap after staging: %d MiB committed, %d MiB before", after >> 20, before >> 20)


def _outcome(future: PrefectFuture) -> tuple[str, str | None]:
    state = future.state
    if state.is_completed():
        return "completed", None
    message = state.message or state.name or state.type.value
    return ("not run" if "upstream" in message.lower() else "failed"), message


# Stage tasks run three at a time (typed as the base class: the flow decorator takes any runner).
_TASK_RUNNER: TaskRunner[Any] = ThreadPoolTaskRunner(max_workers=3)


@flow(name="zluri_day_pipeline", task_runner=_TASK_RUNNER)
def zluri_day_pipeline(day: str, input_root: str | None = None, allow_mass_change: bool = False) -> dict[str, Any]:
    """Stage one feed day with Spark, upsert the core tables, publish metrics and the DQ report.
    ``allow_mass_change`` lets through a day the guard would refuse (see 005_check_mass_change)."""
    logger = get_run_logger()
    config.validate_day(day)
    settings = config.Settings.from_env()
    options = settings.mass_change_options(allow_mass_change)
    root = settings.input(input_root)
    config.check_day_folder(root, day)
    url = config.database_url(settings)
    started_at = datetime.now(UTC)
    progress_log.info("day %s: run %s started (input %s)", day, str(flow_run.id)[:8], root)
    run_id = str(flow_run.id)
    migrate_task(url, settings.migrations_dir)
    check_database_scheme(url, [day])
    start_run(url, run_id, day)

    futures: dict[str, PrefectFuture] = {}
    with spark_for_run(settings, root, [day]) as spark:
        try:
            config.check_day_folder(root, day, spark)  # a remote root can only be checked with the session
            staging = settings.staging(url, root)
            for entity, needs in STAGE_DEPENDENCIES.items():
                futures[stage_task_name(entity)] = stage_task.submit(
                    spark,
                    entity,
                    day,
                    staging,
                    wait_for=[futures[stage_task_name(n)] for n in needs],
                    return_state=False,
                )
            for future in list(futures.values()):
                future.wait()
            _give_back_heap(spark, logger)
            # All SQL steps of the run under one lock: another run's steps never interleave with them.
            timeouts = settings.timeouts
            with upsert_phase(url, run_id, timeouts.upsert_phase_seconds):
                for step, (staged, steps) in UPSERT_DEPENDENCIES.items():
                    upstream = [futures[stage_task_name(e)] for e in staged] + [futures[s] for s in steps]
                    futures[step] = upsert_task.submit(
                        step, day, url, options, timeouts, settings.sql_dir, wait_for=upstream, return_state=False
                    )
                for future in futures.values():
                    future.wait()
            outcomes = {name: _outcome(f) for name, f in futures.items()}
            # The report is written whatever happened, and says the run failed if any task did.
            report = publish_task(day, run_id, url, outcomes, started_at, root, settings.reports_dir)

            failed = {name: msg for name, (kind, msg) in outcomes.items() if kind == "failed"}
            not_run = sorted(name for name, (kind, _) in outcomes.items() if kind == "not run")
            if failed:
                lines = [f"{name}: {msg}" for name, msg in failed.items()]
                if not_run:
                    lines.append(f"not run because an upstream task failed: {', '.join(not_run)}")
                raise PipelineFailed(f"day {day}: {len(failed)} task(s) failed\n" + "\n".join(lines))
            finish_run(url, run_id, succeeded=True)
        except BaseException:
            try:
                finish_run(url, run_id, succeeded=False)
            except Exception as exc:  # noqa: BLE001 - the run's own error is the one to report
                logger.warning("could not record the failed run in ops.day_runs: %s", exc)
            raise
        # The day is done: what earlier runs left behind and what has aged out can go.
        prune_task(url, str(settings.home), settings.bronze_root, settings.retention_days, spark)
    logger.info("day %s completed; report at %s", day, report)
    return {
        "day": day,
        "flow_run_id": run_id,
        "report": report,
        "tasks": {name: f.result() for name, f in futures.items()},
    }


@flow(name="zluri_backfill")
def zluri_backfill(
    days: list[str], input_root: str | None = None, allow_mass_change: bool = False
) -> list[dict[str, Any]]:
    """Run days in the given order as subflows, stopping at the first failure."""
    check_days(days)
    settings = config.Settings.from_env()
    results = []
    with spark_for_run(settings, input_root, days):
        for index, day in enumerate(days):
            state = zluri_day_pipeline(day, input_root, allow_mass_change, return_state=True)
            if not state.is_completed():
                skipped = ", ".join(days[index + 1 :]) or "none"
                raise PipelineFailed(f"backfill stopped at {day}: {state.message}\nnot run: {skipped}")
            results.append(state.result())
    return results
