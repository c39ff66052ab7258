"""Run settings from the environment (all optional)."""

from __future__ import annotations

import os
from pathlib import Path

from zluri_pg import Timeouts, check_url
from zluri_pg import database_url as _default_database_url
from zluri_pg.context import validate_day
from zluri_pg.paths import zluri_home

__all__ = ["MissingDayError", "database_url", "input_root", "report_dir", "retention_days", "sql_timeouts",
           "validate_day", "zluri_home"]

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
        idle_in_transaction_seconds=_positive_number("ZLURI_IDLE_IN_TRANSACTION_TIMEOUT",
                                                     defaults.idle_in_transaction_seconds),
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


def check_day_folder(root: str, day: str) -> None:
    """A clear error for a missing day folder (only checkable for local paths)."""
    if "://" in root and not root.startswith("file://"):
        return
    folder = Path(root.removeprefix("file://")) / f"sync-{day}"
    if not folder.is_dir():
        raise MissingDayError(f"no input folder for day {day!r}: {folder} does not exist")


def report_dir(day: str, flow_run_id: str) -> Path:
    return zluri_home() / "reports" / day / flow_run_id
