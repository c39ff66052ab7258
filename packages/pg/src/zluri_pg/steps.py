"""Upsert steps by name: one SQL file each under ``sql/upserts/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zluri_pg.context import RunContext
from zluri_pg.paths import sql_dir
from zluri_pg.runner import run_sql_file
from zluri_pg.timeouts import Timeouts


def step_path(step: str, directory: Path | None = None) -> Path:
    """``<directory>/upserts/<step>.sql`` (default: the SQL shipped with this package); a clear error
    names the known steps if it does not exist."""
    folder = (directory or sql_dir()) / "upserts"
    path = folder / f"{step}.sql"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in folder.glob("*.sql")))
        raise FileNotFoundError(f"no upsert step {step!r} in {folder} (known: {known})")
    return path


def run_step(
    step: str,
    ctx: RunContext,
    database_url: str,
    timeouts: Timeouts | None = None,
    directory: Path | None = None,
) -> dict[str, Any]:
    """Run one upsert step in its own transaction (bounded by ``timeouts``) and return its metrics row;
    ``directory`` replaces the packaged SQL folder (a folder holding ``upserts/``)."""
    return run_sql_file(step_path(step, directory), ctx, database_url, timeouts)
