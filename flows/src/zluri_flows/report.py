"""The run's report and Prefect artifacts: the day's metrics table and the DQ summary."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from zluri_flows.config import report_dir
from zluri_metrics import read_rows
from zluri_pg import connect


def _artifact_key(prefix: str, day: str) -> str:
    # Artifact keys allow lowercase letters, digits and dashes only.
    return f"{prefix}-" + re.sub(r"[^a-z0-9-]+", "-", day.lower()).strip("-")


def _summary_markdown(day: str, path: Path, summary: dict[str, Any]) -> str:
    lines = [f"# Data quality, day {day}", "", f"Report: `{path / 'index.html'}`", "",
             "| entity | read | loaded | quarantined | duplicates | expectations failed | warnings |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for entity, e in summary.get("entities", {}).items():
        warnings = "; ".join(e.get("warnings", []))[:300]
        failed = e.get("expectations_failed", e.get("dq", {}).get("expectations_failed", ""))
        lines.append(f"| {entity} | {e.get('read', '')} | {e.get('loaded', '')} | {e.get('quarantined', '')} "
                     f"| {e.get('duplicates', '')} | {failed} | {warnings} |")
    return "\n".join(lines)


def publish(day: str, flow_run_id: str, database_url: str) -> Path:
    from zluri_staging.dq import write_report

    folder = report_dir(day, flow_run_id)
    folder.mkdir(parents=True, exist_ok=True)
    summary_path = write_report(folder)
    summary = json.loads(Path(summary_path).read_text()) if Path(summary_path).is_file() else {}
    with connect(database_url) as conn:
        rows = read_rows(conn, flow_run_id=flow_run_id)
    create_table_artifact(
        key=_artifact_key("metrics", day),
        table=[{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.as_dict().items()} for r in rows],
        description=f"ops.pipeline_metrics rows of flow run {flow_run_id} (day {day})",
    )
    create_markdown_artifact(key=_artifact_key("dq", day), markdown=_summary_markdown(day, folder, summary),
                             description=f"Data-quality summary of day {day}")
    return folder
