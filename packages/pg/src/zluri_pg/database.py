"""Which database to use: ``ZLURI_DATABASE_URL``, else the embedded server under ``ZLURI_HOME``."""

from __future__ import annotations

import os
import re

import psycopg

from zluri_pg import embedded

_PASSWORD = re.compile(r"(?P<head>[a-z0-9+.-]+://[^:/@]*:)(?P<password>[^@]*)@", re.IGNORECASE)
_PASSWORD_PARAM = re.compile(r"(?P<head>[?&]password=)[^&]*", re.IGNORECASE)


def database_url() -> str:
    """The URL every component connects to; starts the embedded server if that is the default."""
    configured = os.environ.get("ZLURI_DATABASE_URL")
    if configured:
        return configured
    return embedded.ensure_running().url


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (for logs, metrics and reports)."""
    url = _PASSWORD.sub(lambda m: f"{m.group('head')}***@", url)
    return _PASSWORD_PARAM.sub(lambda m: f"{m.group('head')}***", url)


def connect(url: str | None = None, **kwargs: object) -> psycopg.Connection:
    """A new connection; errors name the (masked) URL so an unreachable database is obvious."""
    target = url or database_url()
    try:
        return psycopg.connect(target, **kwargs)  # type: ignore[arg-type]
    except psycopg.OperationalError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConnectionError(f"cannot connect to {mask_url(target)}: {first_line}") from exc
