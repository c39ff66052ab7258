"""The typed shape of one ``ops.pipeline_metrics`` row."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Literal

Status = Literal["success", "failure"]


@dataclass(frozen=True)
class MetricsRow:
    flow_run_id: str
    task_name: str
    pipeline_name: str
    table_name: str
    day: str
    status: Status
    rows_read: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_deleted: int = 0
    rows_skipped: int = 0
    rows_quarantined: int = 0
    duration_seconds: float = 0.0
    error_message: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # Why a successful step did something unusual (a mass change let through, a revised FX rate).
    note: str | None = None

    def __post_init__(self) -> None:
        if self.status not in ("success", "failure"):
            raise ValueError(f"status must be 'success' or 'failure', not {self.status!r}")
        for name in ("rows_read", "rows_inserted", "rows_updated", "rows_deleted", "rows_skipped", "rows_quarantined"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} cannot be negative")

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> MetricsRow:
        """Build from a database row (a column-name mapping); extra columns such as ``id`` are ignored."""
        known = {f.name for f in fields(cls)}
        kept = {k: v for k, v in values.items() if k in known}
        if kept.get("duration_seconds") is not None:
            kept["duration_seconds"] = float(kept["duration_seconds"])
        return cls(**kept)

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in COLUMNS}


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(MetricsRow))
