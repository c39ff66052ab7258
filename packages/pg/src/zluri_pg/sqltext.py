"""Reading SQL files: header contract and the transaction-control guard."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Literal text, comments and dollar-quoted bodies are blanked before looking at statement keywords,
# so a string such as 'commit' or a word in a comment never trips the guard.
_MASKABLE = re.compile(
    r"""
    (?P<dollar>\$(?P<tag>[A-Za-z_][A-Za-z_0-9]*)?\$.*?\$(?P=tag)?\$)
    | (?P<line>--[^\n]*)
    | (?P<block>/\*.*?\*/)
    | (?P<string>[EeBbXxUu]?'(?:[^']|'')*')
    | (?P<ident>"(?:[^"]|"")*")
    """,
    re.VERBOSE | re.DOTALL,
)
_TRANSACTION_CONTROL = {"begin", "commit", "rollback", "start", "end", "abort", "savepoint", "release", "prepare"}
_HEADER = re.compile(r"^--\s*reads:\s*(?P<reads>[^;]*);\s*writes:\s*(?P<writes>.+)$", re.IGNORECASE)


class TransactionControlError(ValueError):
    """A SQL file tries to control the transaction the runner owns."""


@dataclass(frozen=True)
class Header:
    reads: tuple[str, ...]
    writes: tuple[str, ...]


def strip_literals(text: str) -> str:
    return _MASKABLE.sub(" ", text)


def statement_keywords(text: str) -> list[str]:
    """The first keyword of every statement in ``text`` (lowercase)."""
    keywords = []
    for statement in strip_literals(text).split(";"):
        words = statement.split()
        if words:
            keywords.append(words[0].lower())
    return keywords


def refuse_transaction_control(text: str, name: str) -> None:
    found = sorted({k for k in statement_keywords(text) if k in _TRANSACTION_CONTROL})
    if found:
        raise TransactionControlError(
            f"{name} contains transaction control ({', '.join(k.upper() for k in found)}); "
            "SQL files run inside the runner's single transaction and must not begin, commit or roll back"
        )


def parse_header(text: str, name: str) -> Header:
    """The first line: ``-- reads: a, b; writes: c, d`` (what the file reads and writes)."""
    first = text.lstrip().splitlines()[0] if text.strip() else ""
    match = _HEADER.match(first.strip())
    if not match:
        raise ValueError(f"{name} must start with a header line '-- reads: ...; writes: ...'")

    def names(part: str) -> tuple[str, ...]:
        return tuple(n.strip() for n in part.split(",") if n.strip() and n.strip() != "-")

    return Header(reads=names(match.group("reads")), writes=names(match.group("writes")))
