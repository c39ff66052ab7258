"""Thin Prefect tasks: build the run context, call one package function, return counts."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect.tasks import exponential_backoff

from zluri_flows.console import task_hook
from zluri_flows.dag import stage_task_name
from zluri_flows.failures import failure_recorded, is_transient
from zluri_pg import RunContext, Timeouts, migrate, run_step
from zluri_staging.fx import awaiting_summary
from zluri_staging.stage import stage_entity

if TYPE_CHECKING:
    from zluri_staging.stage import StagingSettings


def _context(day: str, task_name: str, options: dict[str, str] | None = None) -> RunContext:
    return RunContext(flow_run_id=str(flow_run.id), day=day, task_name=task_name, options=options or {})


def _retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    try:
        state.result()
    except BaseException as exc:  # noqa: BLE001 - the state holds whatever the task raised
        return is_transient(exc)
    return False


# Transient failures (lost connection, lock timeout, serialization) retry with backoff; data errors do not.
# One console line per task (zluri_flows.console) instead of Prefect's unnamed state lines.
HOOKS: dict[str, Any] = {
    "on_running": [task_hook("running")],
    "on_completion": [task_hook("success")],
    "on_failure": [task_hook("failure")],
}

RETRYING: dict[str, Any] = {
    "retries": 3,
    "retry_delay_seconds": exponential_backoff(backoff_factor=2),
    "retry_jitter_factor": 0.5,
    "retry_condition_fn": _retry_transient,
    "cache_policy": NO_CACHE,
}


@task(name="migrate", task_run_name="migrate", **RETRYING, **HOOKS)
def migrate_task(database_url: str, migrations_dir: Path | None = None) -> list[str]:
    applied = [m.path.name for m in migrate(database_url, migrations_dir)]
    get_run_logger().info("migrations applied: %s", ", ".join(applied) or "none (up to date)")
    return applied


@task(name="stage", task_run_name="stage_{entity}", **RETRYING, **HOOKS)
def stage_task(spark: Any, entity: str, day: str, staging: StagingSettings) -> dict[str, Any]:
    ctx = _context(day, stage_task_name(entity))
    with failure_recorded(ctx, f"staging.stg_{entity}", staging.database_url):
        result = stage_entity(spark, entity, ctx, staging)
    get_run_logger().info(
        "staged %s: read %s, loaded %s, quarantined %s, duplicates %s",
        entity,
        result.read,
        result.loaded,
        result.quarantined,
        result.duplicates,
    )
    awaiting, newest = awaiting_summary(result.quarantine_reasons)
    if awaiting:
        warning = (
            f"{awaiting} transactions await an FX rate (newest rate {newest}); kept as retriable: "
            "zluri fx update, then zluri reprocess --reason fx"
        )
        get_run_logger().warning("%s", warning)
        result.warnings.append(warning)
    return asdict(result)


@task(name="upsert", task_run_name="{step}", **RETRYING, **HOOKS)
def upsert_task(
    step: str,
    day: str,
    database_url: str,
    options: dict[str, str] | None = None,
    timeouts: Timeouts | None = None,
    sql_dir: Path | None = None,
) -> dict[str, Any]:
    row = run_step(step, _context(day, step.split("_", 1)[1], options), database_url, timeouts, sql_dir)
    get_run_logger().info(
        "%s: inserted %s, updated %s, deleted %s, skipped %s, quarantined %s",
        step,
        row["rows_inserted"],
        row["rows_updated"],
        row["rows_deleted"],
        row["rows_skipped"],
        row["rows_quarantined"],
    )
    if row.get("note"):
        get_run_logger().warning("%s: %s", step, row["note"])
    return {k: (str(v) if not isinstance(v, (int, float, str, type(None))) else v) for k, v in row.items()}


@task(name="prune", task_run_name="prune", **RETRYING, **HOOKS)
def prune_task(database_url: str, home: str, bronze_root: str, keep_days: int, spark: Any) -> dict[str, Any]:
    """Retention after a successful day (``ZLURI_RETENTION_DAYS``): see ``zluri_flows.retention``."""
    from zluri_flows.retention import human_bytes, prune

    report = prune(database_url, Path(home), bronze_root, keep_days, dry_run=False, spark=spark)
    get_run_logger().info(
        "prune (keep %s days): removed %s of %s held",
        keep_days,
        human_bytes(report.freed_bytes),
        human_bytes(report.held_bytes),
    )
    return report.as_dict()


@task(name="publish_report", task_run_name="publish_report", cache_policy=NO_CACHE, **HOOKS)
def publish_task(
    day: str,
    flow_run_id: str,
    database_url: str,
    outcomes: dict[str, tuple[str, str | None]],
    started_at: datetime,
    input_root: str,
    reports_dir: Path,
) -> str:
    """The run report (summary.json, run page), the history page and the run's Prefect artifacts."""
    from zluri_flows.report import publish

    folder = publish(
        day, flow_run_id, database_url, outcomes, started_at=started_at, input_root=input_root, reports_dir=reports_dir
    )
    return str(folder)
