"""Run settings from the environment (all optional)."""

from __future__ import annotations

import os
from pathlib import Path

from zluri_pg.context import validate_day
from zluri_pg.paths import zluri_home

__all__ = ["MissingDayError", "input_root", "mass_change_options", "report_dir", "validate_day", "zluri_home"]

MAX_SHARE_ENV = "ZLURI_MASS_CHANGE_MAX_SHARE"
MIN_POPULATION_ENV = "ZLURI_MASS_CHANGE_MIN_POPULATION"
# A day may deactivate at most a quarter of the active agents (or remove a quarter of the
# memberships); normal churn is a few percent a day. Below 20 the share is not applied: in a team
# of six, three leaving is a real day, not a broken feed (an input with no valid record still is).
DEFAULT_MAX_SHARE = "0.25"
DEFAULT_MIN_POPULATION = "20"


class MissingDayError(FileNotFoundError):
    """The input root has no folder for the requested day."""


def input_root(explicit: str | None = None) -> str:
    """``--input`` / ``ZLURI_INPUT`` (a local path or a URL Spark can read, e.g. s3a://), default ``./data/sample``."""
    return explicit or os.environ.get("ZLURI_INPUT") or str(Path("data/sample").resolve())


def check_day_folder(root: str, day: str) -> None:
    """A clear error for a missing day folder (only checkable for local paths)."""
    if "://" in root and not root.startswith("file://"):
        return
    folder = Path(root.removeprefix("file://")) / f"sync-{day}"
    if not folder.is_dir():
        raise MissingDayError(f"no input folder for day {day!r}: {folder} does not exist")


def report_dir(day: str, flow_run_id: str) -> Path:
    return zluri_home() / "reports" / day / flow_run_id


def mass_change_options(allow: bool, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The guard's run options (``app.*`` settings of every SQL step) from the flag and the
    environment; a bad value is an error here rather than a guard that silently never trips."""
    env = os.environ if environ is None else environ
    share = env.get(MAX_SHARE_ENV, "").strip() or DEFAULT_MAX_SHARE
    population = env.get(MIN_POPULATION_ENV, "").strip() or DEFAULT_MIN_POPULATION
    try:
        share_value = float(share)
    except ValueError:
        share_value = -1.0
    if not 0 < share_value <= 1:
        raise ValueError(f"{MAX_SHARE_ENV} must be a share in (0, 1], got {share!r}")
    if not population.isdigit():
        raise ValueError(f"{MIN_POPULATION_ENV} must be a whole number, got {population!r}")
    return {
        "allow_mass_change": "true" if allow else "false",
        "mass_change_max_share": repr(share_value),
        "mass_change_min_population": str(int(population)),
    }
