"""Run settings from the environment (all optional)."""

from __future__ import annotations

import os
from pathlib import Path

from zluri_pg.context import validate_day
from zluri_pg.paths import zluri_home

__all__ = ["MissingDayError", "input_root", "report_dir", "validate_day", "zluri_home"]


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
