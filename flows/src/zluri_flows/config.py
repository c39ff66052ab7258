"""Run settings from the environment (all optional)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from zluri_pg.context import validate_day
from zluri_pg.paths import zluri_home
from zluri_staging.fs import folder_exists, is_remote, local_path

__all__ = [
    "MissingDayError",
    "bronze_root",
    "check_day_folder",
    "input_root",
    "is_remote",
    "report_dir",
    "spark_packages",
    "validate_day",
    "zluri_home",
]


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
