"""Where the pipeline's SQL files and working folder live."""

from __future__ import annotations

import os
from pathlib import Path


def zluri_home() -> Path:
    """``ZLURI_HOME`` (default ``./.zluri``): embedded database, reports, bronze tables."""
    return Path(os.environ.get("ZLURI_HOME", ".zluri")).resolve()


def sql_dir() -> Path:
    """``ZLURI_SQL_DIR`` if set, else the ``sql/`` folder of the checkout this package runs from."""
    configured = os.environ.get("ZLURI_SQL_DIR")
    if configured:
        path = Path(configured)
    else:
        # Editable installs and the test suite run from a checkout: walk up to the folder holding sql/.
        path = next(
            (p / "sql" for p in Path(__file__).resolve().parents if (p / "sql" / "migrations").is_dir()),
            Path("sql").resolve(),
        )
    if not (path / "migrations").is_dir():
        raise FileNotFoundError(f"no SQL folder with migrations/ at {path}; set ZLURI_SQL_DIR")
    return path
