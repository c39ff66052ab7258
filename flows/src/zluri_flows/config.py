"""Run settings from the environment (all optional)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from zluri_pg import Timeouts, check_url
from zluri_pg import database_url as _default_database_url
from zluri_pg.context import validate_day
from zluri_pg.paths import zluri_home
from zluri_staging.fs import folder_exists, is_remote, local_path

__all__ = [
    "MissingDayError",
    "bronze_root",
    "check_day_folder",
    "database_url",
    "input_root",
    "is_remote",
    "mass_change_options",
    "report_dir",
    "retention_days",
    "spark_packages",
    "sql_timeouts",
    "validate_day",
    "zluri_home",
]

MAX_SHARE_ENV = "ZLURI_MASS_CHANGE_MAX_SHARE"
MIN_POPULATION_ENV = "ZLURI_MASS_CHANGE_MIN_POPULATION"
# A day may deactivate at most a quarter of the active agents (or remove a quarter of the
# memberships); normal churn is a few percent a day. Below 20 the share is not applied: in a team
# of six, three leaving is a real day, not a broken feed (an input with no valid record still is).
DEFAULT_MAX_SHARE = "0.25"
DEFAULT_MIN_POPULATION = "20"
DEFAULT_RETENTION_DAYS = 30


class SettingError(ValueError):
    """An environment setting has a value that cannot be used."""


def database_url() -> str:
    """``ZLURI_DATABASE_URL`` (e.g. from the worker's environment), else the Prefect Secret block named
    by ``ZLURI_DATABASE_SECRET`` (what the deployments use: the URL is never in their job variables),
    else the embedded server. Checked before use, so a malformed URL fails with a masked message."""
    if os.environ.get("ZLURI_DATABASE_URL"):
        return check_url(os.environ["ZLURI_DATABASE_URL"])
    secret = os.environ.get("ZLURI_DATABASE_SECRET")
    if secret:
        from zluri_flows.secrets import load_database_url

        return check_url(load_database_url(secret))
    return _default_database_url()


def _positive_number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingError(f"{name} must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise SettingError(f"{name} must be positive, got {raw!r}")
    return value


def sql_timeouts() -> Timeouts:
    """Each SQL step's bounds: ``ZLURI_LOCK_TIMEOUT``, ``ZLURI_STATEMENT_TIMEOUT`` and
    ``ZLURI_IDLE_IN_TRANSACTION_TIMEOUT``, and a run's wait for another run's steps,
    ``ZLURI_UPSERT_PHASE_TIMEOUT``, in seconds (defaults and their reasons: ``zluri_pg.timeouts``)."""
    defaults = Timeouts()
    return Timeouts(
        lock_seconds=_positive_number("ZLURI_LOCK_TIMEOUT", defaults.lock_seconds),
        statement_seconds=_positive_number("ZLURI_STATEMENT_TIMEOUT", defaults.statement_seconds),
        idle_in_transaction_seconds=_positive_number(
            "ZLURI_IDLE_IN_TRANSACTION_TIMEOUT", defaults.idle_in_transaction_seconds
        ),
        upsert_phase_seconds=_positive_number("ZLURI_UPSERT_PHASE_TIMEOUT", defaults.upsert_phase_seconds),
    )


def retention_days() -> int:
    """``ZLURI_RETENTION_DAYS`` (default 30): how long staging rows of unfinished days, quarantined raw
    text, old reports and unreferenced bronze files are kept."""
    raw = os.environ.get("ZLURI_RETENTION_DAYS", "").strip()
    if not raw:
        return DEFAULT_RETENTION_DAYS
    if not raw.isdigit():
        raise SettingError(f"ZLURI_RETENTION_DAYS must be a whole number of days (0 or more), got {raw!r}")
    return int(raw)


class MissingDayError(FileNotFoundError):
    """The input root has no folder for the requested day."""


def input_root(explicit: str | None = None) -> str:
    """``--input`` / ``ZLURI_INPUT`` (a local path or a URL Spark can read, e.g. s3a://), default ``./data/sample``."""
    return explicit or os.environ.get("ZLURI_INPUT") or str(Path("data/sample").resolve())


def bronze_root() -> str:
    """``ZLURI_BRONZE_ROOT`` (a folder or a URL such as s3a://bucket/bronze), default ``$ZLURI_HOME/bronze``."""
    return os.environ.get("ZLURI_BRONZE_ROOT") or str(zluri_home() / "bronze")


def spark_packages(*roots: str) -> list[str]:
    """Extra Maven packages the run's session needs for these roots (hadoop-aws for s3a://)."""
    from zluri_staging.spark import packages_for

    return packages_for(roots)


def check_day_folder(root: str, day: str, spark: Any = None) -> None:
    """A clear error for a missing day folder. A local root is checked with the OS; a remote one
    (s3a://...) through the session's Hadoop FileSystem, so only once a session is given."""
    local = local_path(root)
    if local is None and spark is None:
        return
    folder = str(local / f"sync-{day}") if local is not None else f"{root.rstrip('/')}/sync-{day}"
    if not folder_exists(spark, folder):
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
