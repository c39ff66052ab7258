"""Day labels: one scheme per list of days and per database (``ops.day_scheme``)."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from zluri_pg.context import day_scheme, validate_day
from zluri_pg.database import connect

_SCHEME_ERROR = "ZL002"


class DaySchemeError(ValueError):
    """A day label of the other scheme than the rest of the run or the database."""


def check_days(days: Sequence[str]) -> str | None:
    """The one scheme of ``days`` (None for no days); raises on an invalid label or a mix."""
    schemes: dict[str, str] = {}
    for day in days:
        validate_day(day)
        schemes.setdefault(str(day_scheme(day)), day)
    if len(schemes) > 1:
        (first, a), (second, b) = list(schemes.items())[:2]
        raise DaySchemeError(f"days of two label schemes in one run: {a!r} is {first}, {b!r} is {second}")
    return next(iter(schemes), None)


def check_database_scheme(url: str, days: Sequence[str]) -> None:
    """Raise ``DaySchemeError`` unless every day fits the scheme the database holds. A database not
    migrated yet holds none (the flow migrates, then checks again)."""
    check_days(days)
    with connect(url) as conn:
        for day in days:
            try:
                conn.execute("select ops.check_day_scheme(%s)", [day])
            except (psycopg.errors.UndefinedFunction, psycopg.errors.InvalidSchemaName):
                return
            except psycopg.Error as exc:
                if exc.sqlstate == _SCHEME_ERROR and exc.diag.message_primary:
                    raise DaySchemeError(exc.diag.message_primary) from None
                raise
