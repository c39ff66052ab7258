"""Connecting to the database the caller names, and keeping its password out of every message.

Which database to use is decided at the edge (the CLI, a flow run's entry) and passed down as a
URL. URLs are checked before any connection (:func:`check_url`), so a malformed one fails with a
masked message instead of the driver's, which quotes the offending text. Masking and redaction err
on the side of hiding.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

import psycopg

MASK = "***"
# Keyword form: password=secret, password = 'it''s \' quoted'.
_KEYWORD_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<value>'(?:[^'\\]|\\.)*'?|[^\s'&]*)", re.IGNORECASE)
_SCHEME = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<rest>.*)$", re.IGNORECASE | re.DOTALL)


class InvalidDatabaseUrl(ValueError):
    """The database URL cannot be used as written; the message never carries its password."""


class AuthenticationFailed(PermissionError):
    """The server refused the credentials: retrying cannot help (unlike a lost connection)."""


_AUTH_FAILED = ("password authentication failed", "no password supplied", "authentication failed for user")


def _userinfo_split(url: str) -> tuple[str, str, str] | None:
    """``(head, password, tail)`` of a URL with a password, splitting at the LAST ``@`` so a password
    holding a raw ``@`` or ``:`` is masked whole (libpq itself would split at the first)."""
    match = _SCHEME.match(url)
    if not match:
        return None
    rest = match.group("rest")
    at = rest.rfind("@")
    if at < 0:
        return None
    userinfo = rest[:at]
    colon = userinfo.find(":")
    if colon < 0:
        return None
    return match.group("scheme") + userinfo[: colon + 1], userinfo[colon + 1 :], rest[at:]


def mask_url(url: str) -> str:
    """The URL (or keyword DSN) with any password replaced by ``***`` (for logs, metrics, reports)."""
    split = _userinfo_split(url)
    if split is not None:
        head, _, tail = split
        url = f"{head}{MASK}{tail}"
    return _KEYWORD_PASSWORD.sub(lambda m: f"{m.group('head')}{MASK}", url)


def secrets_of(url: str) -> list[str]:
    """Every form in which the URL's password could show up in a message: as written,
    percent-decoded or encoded, and as libpq parses it. Longest first (a redaction replaces whole values)."""
    found: set[str] = set()
    split = _userinfo_split(url)
    if split is not None and split[1]:
        found.update({split[1], unquote(split[1])})
    for match in _KEYWORD_PASSWORD.finditer(url):
        value = match.group("value")
        if value:
            found.update({value, value.strip("'"), value.strip("'").replace("\\'", "'").replace("\\\\", "\\")})
    for match in re.finditer(r"[?&]password=([^&]*)", url, re.IGNORECASE):
        if match.group(1):
            found.update({match.group(1), unquote(match.group(1))})
    try:
        parsed = psycopg.conninfo.conninfo_to_dict(url).get("password")
    except psycopg.Error:
        parsed = None
    # A URL with a raw '@' in its password parses to a prefix of it (check_url refuses such URLs);
    # the whole password is already listed and a short prefix would garble every message.
    if parsed and not (split is not None and split[1].startswith(str(parsed)) and split[1] != parsed):
        found.add(str(parsed))
    found |= {quote(s, safe="") for s in found}  # and percent-encoded, as another URL would carry it
    return sorted((s for s in found if s), key=len, reverse=True)


_URL_IN_TEXT = re.compile(r"[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)


def mask_text(text: str) -> str:
    """Free text with every URL in it masked and every ``password=`` value hidden."""
    text = _URL_IN_TEXT.sub(lambda m: mask_url(m.group(0)), text)
    return _KEYWORD_PASSWORD.sub(lambda m: f"{m.group('head')}{MASK}", text)


def redact(text: str, url: str | None) -> str:
    """``text`` with every form of ``url``'s password replaced by ``***``, and any URL in it masked."""
    if url:
        for secret in secrets_of(url):
            text = text.replace(secret, MASK)
    return mask_text(text)


def check_url(url: str) -> str:
    """``url`` if libpq reads it as written; else :class:`InvalidDatabaseUrl`, with the URL masked."""
    split = _userinfo_split(url)
    if split is not None and "@" in split[1]:
        raise InvalidDatabaseUrl(
            f"database URL {mask_url(url)}: the password contains a raw '@'; percent-encode it "
            "('@' -> %40, ':' -> %3A, '%' -> %25, '/' -> %2F)"
        )
    try:
        psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.Error as exc:
        # The driver's message quotes the offending text (often the password itself): say what kind
        # of problem it is, never the text.
        kind = " (bad percent-encoding)" if "percent" in str(exc) else ""
        raise InvalidDatabaseUrl(
            f"database URL {mask_url(url)} is malformed{kind}: percent-encode special characters in the user "
            "and password ('@' -> %40, ':' -> %3A, '%' -> %25, '/' -> %2F)"
        ) from None
    return url


def connect(url: str, **kwargs: object) -> psycopg.Connection:
    """A new connection; errors name the (masked) URL so an unreachable database is obvious."""
    target = check_url(url)
    try:
        return psycopg.connect(target, **kwargs)  # type: ignore[arg-type]
    except psycopg.Error as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        message = f"cannot connect to {mask_url(target)}: {redact(first_line, target)}"
        if getattr(exc, "sqlstate", None) in ("28P01", "28000") or any(s in str(exc) for s in _AUTH_FAILED):
            raise AuthenticationFailed(message) from None
        raise ConnectionError(message) from None
