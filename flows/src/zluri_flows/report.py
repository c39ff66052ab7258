"""The run's report and Prefect artifacts: the day's metrics table and the run summary.

The report says the run failed whenever a task failed or did not run, naming the entity or step;
the facts come from the tasks' Prefect states and their metrics rows.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from zluri_flows.dag import STAGE_DEPENDENCIES, UPSERT_DEPENDENCIES, stage_task_name
from zluri_metrics import MetricsRow, read_rows
from zluri_pg import connect
from zluri_pg import ops as ops_tables


def _artifact_key(prefix: str, day: str) -> str:
    # Artifact keys allow lowercase letters, digits and dashes only.
    return f"{prefix}-" + re.sub(r"[^a-z0-9-]+", "-", day.lower()).strip("-")


def _summary_markdown(day: str, path: Path, summary: dict[str, Any]) -> str:
    status = "SUCCEEDED" if summary.get("success") else "FAILED"
    lines = [f"# Day {day}: {status}", "", f"Report: `{path / 'index.html'}`", ""]
    for failure in summary.get("failed", []):
        what = failure.get("task") or failure.get("entity")
        error = (failure.get("error") or "").splitlines()[0][:300] if failure.get("error") else ""
        lines.append(
            f"- **failed: {what}**" + (f" (entity {failure['entity']})" if failure.get("entity") else "") + f": {error}"
        )
    if summary.get("not_run"):
        lines.append(f"- not run (upstream failed): {', '.join(summary['not_run'])}")
    lines += [
        "",
        "| entity | status | read | loaded | quarantined | duplicates | expectations failed | warnings |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for entity, e in summary.get("entities", {}).items():
        warnings = "; ".join(e.get("warnings", []))[:300]
        lines.append(
            f"| {entity} | {e.get('status', '')} | {e.get('read', '')} | {e.get('loaded', '')} "
            f"| {e.get('quarantined', '')} | {e.get('duplicates', '')} | {e.get('expectations_failed', '')} "
            f"| {warnings} |"
        )
    return "\n".join(lines)


def _task_facts(outcomes: dict[str, tuple[str, str | None]], rows: list[MetricsRow]) -> list[Any]:
    from zluri_staging.report import TaskFacts

    by_task = {r.task_name: r for r in rows}  # the last row of a task wins (a retry's)
    facts = []
    names = [stage_task_name(e) for e in STAGE_DEPENDENCIES] + list(UPSERT_DEPENDENCIES)
    for name in names:
        if name not in outcomes:
            continue
        kind, message = outcomes[name]
        step = name if name in UPSERT_DEPENDENCIES else None
        row = by_task.get(name.split("_", 1)[1] if step else name)
        outcome = {"completed": "success", "failed": "failure"}.get(kind, "not run")
        facts.append(TaskFacts(
            name=name, outcome=outcome, seconds=row.duration_seconds if row else 0.0,
            error=(row.error_message if row and row.error_message else message) if outcome != "success" else None,
            entity=None if step else name.removeprefix("stage_"), step=step,
            read=row.rows_read if row else 0, inserted=row.rows_inserted if row else 0,
            updated=row.rows_updated if row else 0, deleted=row.rows_deleted if row else 0,
            skipped=row.rows_skipped if row else 0, quarantined=row.rows_quarantined if row else 0,
        ))  # fmt: skip
    return facts


def publish(
    day: str,
    flow_run_id: str,
    database_url: str,
    outcomes: dict[str, tuple[str, str | None]] | None = None,
    *,
    started_at: datetime | None = None,
    input_root: str | None = None,
    reports_dir: Path,
) -> Path:
    """Write the run report and rebuild the history page, then the Prefect artifacts; return the run folder.

    `outcomes` maps each task (``stage_<entity>``, upsert step) to ("completed" | "failed" |
    "not run", message).
    """
    from zluri_staging.report import RunFacts, build_history, write_run_report

    folder = Path(reports_dir) / day / flow_run_id
    folder.mkdir(parents=True, exist_ok=True)
    with connect(database_url) as conn:
        rows = read_rows(conn, flow_run_id=flow_run_id)
        quarantine = ops_tables.quarantine_by_reason(conn, flow_run_id)
        records = ops_tables.quarantine_rows(conn, flow_run_id=flow_run_id, limit=300)
        files = ops_tables.input_files(conn, flow_run_id)
    started = started_at or min((r.started_at for r in rows if r.started_at), default=None)
    facts = RunFacts(
        day=day, flow_run_id=flow_run_id, started_at=started.isoformat() if started else None,
        finished_at=datetime.now(UTC).isoformat(), input_root=input_root,
        tasks=_task_facts(outcomes or {}, rows), input_files=files,
        quarantine=[{**q, "count": int(q["count"])} for q in quarantine],
        quarantine_records=list(reversed(records)),
        cycles_found=sum(int(q["count"]) for q in quarantine if q["reason"].startswith("cycle in group hierarchy")),
    )  # fmt: skip
    summary_path = write_run_report(folder, facts)
    build_history(Path(reports_dir))
    summary = json.loads(Path(summary_path).read_text())
    create_table_artifact(
        key=_artifact_key("metrics", day),
        table=[{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.as_dict().items()} for r in rows],
        description=f"ops.pipeline_metrics rows of flow run {flow_run_id} (day {day})",
    )
    create_markdown_artifact(
        key=_artifact_key("dq", day),
        markdown=_summary_markdown(day, folder, summary),
        description=f"Run summary of day {day}: {summary['status']}",
    )
    return folder
