"""The run context every SQL file sees through ``current_setting('app.*', true)``."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

# Day labels sort naturally (day2 < day10, ISO dates by date) and end up in paths and settings,
# so only a conservative alphabet is accepted.
DAY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
TASK_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


class InvalidRunContext(ValueError):
    """A run context value is malformed."""


def validate_day(day: str) -> str:
    if not isinstance(day, str) or not DAY_PATTERN.match(day):
        raise InvalidRunContext(
            f"invalid day label {day!r}: use letters, digits, '-', '_' or '.' (e.g. day1 or 2026-01-05)"
        )
    return day


@dataclass(frozen=True)
class RunContext:
    flow_run_id: str
    day: str
    task_name: str
    pipeline_name: str = "zluri_day_pipeline"

    def __post_init__(self) -> None:
        try:
            canonical = str(uuid.UUID(self.flow_run_id))
        except (ValueError, TypeError, AttributeError):
            raise InvalidRunContext(f"flow_run_id must be a UUID, got {self.flow_run_id!r}") from None
        object.__setattr__(self, "flow_run_id", canonical)
        validate_day(self.day)
        if not isinstance(self.task_name, str) or not TASK_PATTERN.match(self.task_name):
            raise InvalidRunContext(f"invalid task name {self.task_name!r}")

    def for_task(self, task_name: str) -> RunContext:
        return RunContext(self.flow_run_id, self.day, task_name, self.pipeline_name)

    def settings(self) -> dict[str, str]:
        """The ``app.*`` session settings, set transaction-locally by the runner."""
        return {
            "app.flow_run_id": self.flow_run_id,
            "app.day": self.day,
            "app.task_name": self.task_name,
            "app.pipeline_name": self.pipeline_name,
        }
