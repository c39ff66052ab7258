"""Upsert steps by name: one SQL file each under ``sql/upserts/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zluri_pg.context import RunContext
from zluri_pg.paths import sql_dir
from zluri_pg.runner import run_sql_file
from zluri_pg.timeouts import Timeouts


def step_path(step: str) -> Path:
    """``sql/upserts/<step>.sql``; a clear error names the known steps if it does not exist."""
    folder = sql_dir() / "upserts"
    path = folder / f"{step}.sql"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in folder.glob("*.sql")))
        raise FileNotFoundError(f"no upsert step {step!r} in {folder} (known: {known})")
    return path


def run_step(
    step: str, ctx: RunContext, database_url: str | None = None, timeouts: Timeouts | None = None
) -> dict[str, Any]:
    """Run one upsert step in its own transaction (bounded by ``timeouts``) and return its metrics row."""
    return run_sql_file(step_path(step), ctx, database_url, timeouts)
