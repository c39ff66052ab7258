"""Postgres access for the day pipeline: connections, the embedded server, the run context, the SQL
runner, migrations and advisory locks. The SQL files ship with the package (``sql_dir()``)."""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

from zluri_pg.context import RunContext
from zluri_pg.database import (
    AuthenticationFailed,
    InvalidDatabaseUrl,
    check_url,
    connect,
    mask_text,
    mask_url,
    redact,
)
from zluri_pg.days import DaySchemeError, check_database_scheme, check_days
from zluri_pg.locks import LockTimeoutError, advisory_xact_lock, upsert_phase
from zluri_pg.migrations import migrate
from zluri_pg.paths import sql_dir
from zluri_pg.runner import SqlFileError, run_sql_file
from zluri_pg.steps import run_step, step_path
from zluri_pg.timeouts import Timeouts

__all__ = [
    "DaySchemeError",
    "AuthenticationFailed",
    "InvalidDatabaseUrl",
    "LockTimeoutError",
    "RunContext",
    "SqlFileError",
    "Timeouts",
    "advisory_xact_lock",
    "check_database_scheme",
    "check_days",
    "check_url",
    "connect",
    "mask_text",
    "mask_url",
    "redact",
    "migrate",
    "run_sql_file",
    "run_step",
    "sql_dir",
    "step_path",
    "upsert_phase",
]
try:
    __version__ = _version("zluri-pg")
except PackageNotFoundError:  # run from sources without an install (Pants' sandbox)
    __version__ = "0+unknown"
