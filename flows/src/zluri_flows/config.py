"""The run's settings: one frozen ``Settings`` built from the environment at the edge (the CLI, a
flow run's entry) and passed down. Nothing below this module reads the environment.

Every variable is optional; a value that cannot be used fails here, naming the variable, rather
than a step that silently does the wrong thing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zluri_flows.environment import apply_process_defaults
from zluri_pg import Timeouts, check_url
from zluri_pg.context import validate_day
from zluri_staging.dq import DRIVER_ROWS
from zluri_staging.fs import folder_exists, is_remote, local_path
from zluri_staging.fx import DEFAULT_MAX_STALENESS_DAYS, FxSettings
from zluri_staging.read import day_input_bytes
from zluri_staging.spark import JIT_OPTIONS, SparkSettings, sized_for

if TYPE_CHECKING:
    from zluri_staging.stage import StagingSettings

__all__ = [
    "MissingDayError",
    "SettingError",
    "Settings",
    "apply_process_defaults",
    "check_day_folder",
    "database_url",
    "fx_settings",
    "is_remote",
    "spark_packages",
    "spark_for_days",
    "spark_settings",
    "sql_timeouts",
    "validate_day",
]

MAX_SHARE_ENV = "ZLURI_MASS_CHANGE_MAX_SHARE"
MIN_POPULATION_ENV = "ZLURI_MASS_CHANGE_MIN_POPULATION"
OVERRIDE_FILE_ENV = "ZLURI_FX_RATES_FILE"
MAX_STALENESS_ENV = "ZLURI_FX_MAX_STALENESS_DAYS"
SOURCE_URL_ENV = "ZLURI_FX_SOURCE_URL"
# A day may deactivate at most a quarter of the active agents (or remove a quarter of the
# memberships); normal churn is a few percent a day. Below 20 the share is not applied: in a team
# of six, three leaving is a real day, not a broken feed (an input with no valid record still is).
DEFAULT_MAX_SHARE = "0.25"
DEFAULT_MIN_POPULATION = "20"
DEFAULT_RETENTION_DAYS = 30


class SettingError(ValueError):
    """An environment setting has a value that cannot be used."""


class MissingDayError(FileNotFoundError):
    """The input root has no folder for the requested day."""


@dataclass(frozen=True)
class Settings:
    """Everything a run takes from its environment, read once."""

    home: Path  # ZLURI_HOME (default ./.zluri): embedded database, reports, bronze tables, jars
    input_root: str  # ZLURI_INPUT (default ./data/sample): holds sync-<day>/
    bronze_root: str  # ZLURI_BRONZE_ROOT (default <home>/bronze)
    database_url: str | None = field(default=None, repr=False)  # ZLURI_DATABASE_URL
    database_secret: str | None = None  # ZLURI_DATABASE_SECRET: a Prefect Secret block holding the URL
    sql_dir: Path | None = None  # ZLURI_SQL_DIR: replaces the SQL files shipped with zluri-pg
    retention_days: int = DEFAULT_RETENTION_DAYS
    driver_rows: int = DRIVER_ROWS  # ZLURI_DRIVER_ROWS
    timeouts: Timeouts = field(default_factory=Timeouts)
    mass_change_max_share: float = float(DEFAULT_MAX_SHARE)
    mass_change_min_population: int = int(DEFAULT_MIN_POPULATION)
    fx: FxSettings = field(default_factory=FxSettings)
    fx_source_url: str | None = None  # ZLURI_FX_SOURCE_URL (zluri fx update)
    spark: SparkSettings = field(default_factory=SparkSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        home = Path(env.get("ZLURI_HOME", "") or ".zluri").resolve()
        share, population = _mass_change_limits(env)
        return cls(
            home=home,
            input_root=env.get("ZLURI_INPUT") or str(Path("data/sample").resolve()),
            bronze_root=env.get("ZLURI_BRONZE_ROOT") or str(home / "bronze"),
            database_url=env.get("ZLURI_DATABASE_URL") or None,
            database_secret=env.get("ZLURI_DATABASE_SECRET") or None,
            sql_dir=Path(env["ZLURI_SQL_DIR"]) if env.get("ZLURI_SQL_DIR") else None,
            retention_days=_retention_days(env),
            driver_rows=_driver_rows(env),
            timeouts=sql_timeouts(env),
            mass_change_max_share=share,
            mass_change_min_population=population,
            fx=fx_settings(env),
            fx_source_url=env.get(SOURCE_URL_ENV, "").strip() or None,
            spark=spark_settings(env),
        )

    @property
    def jars_dir(self) -> Path:
        return self.home / "jars"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def migrations_dir(self) -> Path | None:
        """``<ZLURI_SQL_DIR>/migrations``, or None for the migrations shipped with zluri-pg."""
        return self.sql_dir / "migrations" if self.sql_dir else None

    def input(self, explicit: str | None = None) -> str:
        """``--input`` if given, else ``ZLURI_INPUT`` (a local path or a URL Spark can read, e.g. s3a://)."""
        return explicit or self.input_root

    def report_dir(self, day: str, flow_run_id: str) -> Path:
        return self.reports_dir / day / flow_run_id

    def staging(self, database_url: str, input_root: str) -> StagingSettings:
        """What staging needs of the run's settings."""
        from zluri_staging.stage import StagingSettings

        return StagingSettings(
            input_root=input_root,
            database_url=database_url,
            home=self.home,
            bronze_root=self.bronze_root,
            fx=self.fx,
            driver_rows=self.driver_rows,
        )

    def mass_change_options(self, allow: bool) -> dict[str, str]:
        """The guard's run options (``app.*`` settings of every SQL step) from the flag and the limits."""
        return {
            "allow_mass_change": "true" if allow else "false",
            "mass_change_max_share": repr(self.mass_change_max_share),
            "mass_change_min_population": str(self.mass_change_min_population),
        }


def database_url(settings: Settings) -> str:
    """``ZLURI_DATABASE_URL`` (e.g. from the worker's environment), else the Prefect Secret block named
    by ``ZLURI_DATABASE_SECRET`` (what the deployments use: the URL is never in their job variables),
    else the embedded server under the home folder, started if it is not running. Checked before
    use, so a malformed URL fails with a masked message."""
    if settings.database_url:
        return check_url(settings.database_url)
    if settings.database_secret:
        from zluri_flows.secrets import load_database_url

        return check_url(load_database_url(settings.database_secret))
    from zluri_pg import embedded

    return embedded.ensure_running(settings.home).url


def _positive_number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingError(f"{name} must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise SettingError(f"{name} must be positive, got {raw!r}")
    return value


def sql_timeouts(environ: Mapping[str, str] | None = None) -> Timeouts:
    """Each SQL step's bounds: ``ZLURI_LOCK_TIMEOUT``, ``ZLURI_STATEMENT_TIMEOUT`` and
    ``ZLURI_IDLE_IN_TRANSACTION_TIMEOUT``, and a run's wait for another run's steps,
    ``ZLURI_UPSERT_PHASE_TIMEOUT``, in seconds (defaults and their reasons: ``zluri_pg.timeouts``)."""
    env = os.environ if environ is None else environ
    defaults = Timeouts()
    return Timeouts(
        lock_seconds=_positive_number(env, "ZLURI_LOCK_TIMEOUT", defaults.lock_seconds),
        statement_seconds=_positive_number(env, "ZLURI_STATEMENT_TIMEOUT", defaults.statement_seconds),
        idle_in_transaction_seconds=_positive_number(
            env, "ZLURI_IDLE_IN_TRANSACTION_TIMEOUT", defaults.idle_in_transaction_seconds
        ),
        upsert_phase_seconds=_positive_number(env, "ZLURI_UPSERT_PHASE_TIMEOUT", defaults.upsert_phase_seconds),
    )


def _whole_number(env: Mapping[str, str], name: str, unit: str) -> int | None:
    """``name``'s value as a whole number of ``unit`` (0 or more), or None when it is not set."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise SettingError(f"{name} must be a whole number of {unit} (0 or more), got {raw!r}")
    return int(raw)


def _retention_days(env: Mapping[str, str]) -> int:
    """``ZLURI_RETENTION_DAYS`` (default 30): how long staging rows of unfinished days, quarantined raw
    text, old reports and unreferenced bronze files are kept."""
    days = _whole_number(env, "ZLURI_RETENTION_DAYS", "days")
    return DEFAULT_RETENTION_DAYS if days is None else days


def _driver_rows(env: Mapping[str, str]) -> int:
    """``ZLURI_DRIVER_ROWS``: a staging table of at most this many rows is checked and copied by the
    driver rather than by the executors (default: staging's 50,000; 0: only empty ones)."""
    rows = _whole_number(env, "ZLURI_DRIVER_ROWS", "rows")
    return DRIVER_ROWS if rows is None else rows


def _mass_change_limits(env: Mapping[str, str]) -> tuple[float, int]:
    """The guard's limits; a bad value is an error here rather than a guard that silently never trips."""
    share = env.get(MAX_SHARE_ENV, "").strip() or DEFAULT_MAX_SHARE
    population = env.get(MIN_POPULATION_ENV, "").strip() or DEFAULT_MIN_POPULATION
    try:
        share_value = float(share)
    except ValueError:
        share_value = -1.0
    if not 0 < share_value <= 1:
        raise SettingError(f"{MAX_SHARE_ENV} must be a share in (0, 1], got {share!r}")
    if not population.isdigit():
        raise SettingError(f"{MIN_POPULATION_ENV} must be a whole number, got {population!r}")
    return share_value, int(population)


def fx_settings(environ: Mapping[str, str] | None = None) -> FxSettings:
    """``ZLURI_FX_RATES_FILE``, ``ZLURI_FX_MAX_STALENESS_DAYS`` and ``ZLURI_HOME`` (default
    ``./.zluri``); a misconfiguration fails here, loudly, rather than silently converting with the
    wrong rates."""
    env = os.environ if environ is None else environ
    home = Path(env.get("ZLURI_HOME", "") or ".zluri").resolve()
    raw_file = env.get(OVERRIDE_FILE_ENV, "").strip()
    override_file = Path(raw_file) if raw_file else None
    if override_file is not None and not override_file.is_file():
        raise FileNotFoundError(f"{OVERRIDE_FILE_ENV} names {override_file}, which is not a file")
    raw_days = env.get(MAX_STALENESS_ENV, "").strip()
    try:
        days = int(raw_days) if raw_days else DEFAULT_MAX_STALENESS_DAYS
    except ValueError:
        raise ValueError(f"{MAX_STALENESS_ENV} must be a whole number of days, got {raw_days!r}") from None
    if days < 0:
        raise ValueError(f"{MAX_STALENESS_ENV} must not be negative, got {days}")
    return FxSettings(override_file=override_file, max_staleness_days=days, home=home)


_BOOLEANS = {"true": True, "false": False}


def spark_settings(environ: Mapping[str, str] | None = None) -> SparkSettings:
    """``ZLURI_SPARK_MASTER`` (default ``local[*]``), ``ZLURI_SHUFFLE_PARTITIONS`` (default: a handful
    per local core, 64 on a cluster), ``ZLURI_SPARK_UI``, ``ZLURI_SPARK_DRIVER_MEMORY`` and
    ``ZLURI_SPARK_JIT`` (``quick`` or ``full``), ``ZLURI_SPARK_CODEGEN`` (``true``: Spark generates
    code, ``false``: it interprets; these three default to a choice sized to the day's input, see
    ``spark_for_days``) and ``ZLURI_SPARK_LOG_LEVEL`` (default ERROR)."""
    env = os.environ if environ is None else environ
    defaults = SparkSettings()
    partitions = int(env.get("ZLURI_SHUFFLE_PARTITIONS", "0"))
    jit = env.get("ZLURI_SPARK_JIT", "").strip().lower() or None
    if jit is not None and jit not in JIT_OPTIONS:
        raise SettingError(f"ZLURI_SPARK_JIT must be one of {', '.join(sorted(JIT_OPTIONS))}, got {jit!r}")
    codegen = env.get("ZLURI_SPARK_CODEGEN", "").strip().lower() or None
    if codegen is not None and codegen not in _BOOLEANS:
        raise SettingError(f"ZLURI_SPARK_CODEGEN must be true or false, got {codegen!r}")
    return SparkSettings(
        master=env.get("ZLURI_SPARK_MASTER", defaults.master),
        shuffle_partitions=partitions or None,
        ui_enabled=env.get("ZLURI_SPARK_UI", defaults.ui_enabled),
        driver_memory=env.get("ZLURI_SPARK_DRIVER_MEMORY", "").strip() or None,
        jit=jit,
        codegen=None if codegen is None else _BOOLEANS[codegen],
        log_level=env.get("ZLURI_SPARK_LOG_LEVEL", defaults.log_level),
    )


def spark_for_days(spark: SparkSettings, input_root: str, days: Sequence[str]) -> SparkSettings:
    """``spark`` with what it leaves open sized to the largest of ``days`` under ``input_root`` and
    to how many they are; a day whose size cannot be known before Spark starts (a remote root), or no
    day at all, counts as large."""
    return sized_for(spark, largest_day_bytes(input_root, days), len(days))


def largest_day_bytes(input_root: str, days: Sequence[str]) -> int | None:
    """The input bytes of the largest of ``days``; None if any is unknown (a remote root) or none
    is given."""
    sizes = [day_input_bytes(input_root, day) for day in days]
    return None if not sizes or None in sizes else max(s for s in sizes if s is not None)


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
