"""The run context of one task of one flow run: which run, which day, which task. Every layer
that writes for a run takes it (staging, the SQL runner, the metrics writer); SQL files see it
through ``current_setting('app.*', true)``."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

# A day label is ``day<N>`` (no leading zeros: day01 would name the same day as day1) or an ISO
# date; they end up in paths and settings, and they must order without ambiguity.
DAY_N_PATTERN = re.compile(r"^day[1-9][0-9]*$")
ISO_DATE_PATTERN = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
DAY_N, ISO_DATE = "day<N>", "YYYY-MM-DD"
TASK_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
OPTION_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class InvalidRunContext(ValueError):
    """A run context value is malformed."""


def day_scheme(day: str) -> str | None:
    """``day<N>`` or ``YYYY-MM-DD`` for a valid label of that scheme, else None."""
    if not isinstance(day, str):
        return None
    if DAY_N_PATTERN.match(day):
        return DAY_N
    if ISO_DATE_PATTERN.match(day):
        try:
            date.fromisoformat(day)
        except ValueError:
            return None
        return ISO_DATE
    return None


def validate_day(day: str) -> str:
    if day_scheme(day) is None:
        raise InvalidRunContext(
            f"invalid day label {day!r}: use day<N> without leading zeros (day1, day2, ... day10) "
            "or an ISO date YYYY-MM-DD (2026-01-05)"
        )
    return day


@dataclass(frozen=True)
class RunContext:
    flow_run_id: str
    day: str
    task_name: str
    pipeline_name: str = "zluri_day_pipeline"
    # Run options SQL reads as ``app.<name>`` (e.g. allow_mass_change, mass_change_max_share).
    options: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        try:
            canonical = str(uuid.UUID(self.flow_run_id))
        except (ValueError, TypeError, AttributeError):
            raise InvalidRunContext(f"flow_run_id must be a UUID, got {self.flow_run_id!r}") from None
        object.__setattr__(self, "flow_run_id", canonical)
        validate_day(self.day)
        if not isinstance(self.task_name, str) or not TASK_PATTERN.match(self.task_name):
            raise InvalidRunContext(f"invalid task name {self.task_name!r}")
        for name, value in self.options.items():
            if not OPTION_PATTERN.match(name) or not isinstance(value, str):
                raise InvalidRunContext(f"invalid run option {name!r}={value!r}")
        object.__setattr__(self, "options", dict(self.options))

    def for_task(self, task_name: str) -> RunContext:
        return RunContext(self.flow_run_id, self.day, task_name, self.pipeline_name, self.options)

    def settings(self) -> dict[str, str]:
        """The ``app.*`` session settings, set transaction-locally by the runner."""
        return {
            "app.flow_run_id": self.flow_run_id,
            "app.day": self.day,
            "app.task_name": self.task_name,
            "app.pipeline_name": self.pipeline_name,
            **{f"app.{name}": value for name, value in self.options.items()},
        }
