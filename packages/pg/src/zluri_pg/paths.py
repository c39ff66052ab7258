"""Where the pipeline's SQL files live: package data of zluri-pg (``zluri_pg/sql``), found through
``importlib.resources`` whether the package runs from a checkout or from an installed wheel."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def sql_dir() -> Path:
    """The ``sql/`` folder shipped with this package (``migrations/`` and ``upserts/``)."""
    path = Path(str(files("zluri_pg").joinpath("sql")))
    if not (path / "migrations").is_dir():
        raise FileNotFoundError(
            f"no SQL folder with migrations/ at {path}: the zluri-pg install lacks its package data"
        )
    return path
