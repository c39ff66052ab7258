"""Every upsert compares the columns it updates.

An ``on conflict ... do update set ... where (t.a, t.b) is distinct from (excluded.a, excluded.b)``
writes a row only when a compared column changed, so a column added to ``do update set`` but not to
the comparison silently stops updating (a change in it alone never gets written). Each upsert's
columns are written three times (insert list, ``do update set``, ``is distinct from``); this test
keeps them in agreement. A column updated on purpose without being compared (bookkeeping such as
``last_seen_day``) is named in a comment right above its ``on conflict`` line:

    -- not compared: last_seen_day (presence is bookkeeping, not a change)

No database and no Spark: the files are read as text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from zluri_pg import sql_dir

# Comments and literals are blanked (same length, so offsets stay valid) before parsing.
_MASK = re.compile(r"--[^\n]*|/\*.*?\*/|'(?:[^']|'')*'", re.DOTALL)
_ON_CONFLICT = re.compile(r"\bon\s+conflict\s*\([^)]*\)\s*do\s+update\s+set\b", re.IGNORECASE)
_INSERT = re.compile(r"\binsert\s+into\s+[\w.]+(?:\s+as\s+\w+)?\s*\(([^)]*)\)", re.IGNORECASE)
_NOT_COMPARED = re.compile(r"^\s*--\s*not compared:\s*(?P<names>[^(]*)", re.IGNORECASE)
_DISTINCT = re.compile(r"\bis\s+distinct\s+from\b", re.IGNORECASE)
_ASSIGNMENT = re.compile(r"^\s*(?P<column>\w+)\s*=\s*(?P<value>.*?)\s*$", re.DOTALL)
_COLUMN = re.compile(r"^\s*(?:(?P<qualifier>\w+)\.)?(?P<column>\w+)\s*$")


@dataclass(frozen=True)
class Upsert:
    line: int
    inserted: tuple[str, ...]
    updated: dict[str, str]  # column -> expression
    compared: tuple[tuple[str, str], ...] | None  # (target side, excluded side) pairs; None: no comparison
    not_compared: tuple[str, ...]


def _mask(text: str) -> str:
    return _MASK.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), text)


def _split_top_level(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _clause_end(masked: str, start: int) -> int:
    """Where the do-update clause starting at ``start`` ends: `returning`, `;` or the CTE's `)`."""
    depth = 0
    for i in range(start, len(masked)):
        char = masked[i]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                return i
        elif depth == 0 and (char == ";" or re.match(r"\breturning\b", masked[i : i + 10], re.IGNORECASE)):
            return i
    return len(masked)


def _top_level_keyword(text: str, pattern: re.Pattern[str]) -> re.Match[str] | None:
    for match in pattern.finditer(text):
        before = text[: match.start()]
        if before.count("(") == before.count(")"):
            return match
    return None


def _operand(text: str, from_end: bool) -> str:
    """The parenthesised row (or single column) right before (``from_end``) or after a keyword."""
    text = text.rstrip() if from_end else text.lstrip()
    if not text:
        return ""
    edge = text[-1] if from_end else text[0]
    if edge != (")" if from_end else "("):
        words = text.split()
        return words[-1] if from_end else words[0]
    depth, indexes = 0, range(len(text) - 1, -1, -1) if from_end else range(len(text))
    for i in indexes:
        depth += {"(": 1, ")": -1}[text[i]] if text[i] in "()" else 0
        if depth == 0:
            return text[i + 1 : -1] if from_end else text[1:i]
    raise ValueError(f"unbalanced parentheses in {text!r}")


def parse_upserts(text: str) -> list[Upsert]:
    masked = _mask(text)
    lines = text.splitlines()
    upserts = []
    for match in _ON_CONFLICT.finditer(masked):
        line = masked.count("\n", 0, match.start())
        not_compared: list[str] = []
        above = line - 1
        while above >= 0 and lines[above].strip().startswith("--"):
            note = _NOT_COMPARED.match(lines[above])
            if note:
                not_compared += [n.strip() for n in note["names"].split(",") if n.strip()]
            above -= 1
        inserts = list(_INSERT.finditer(masked, 0, match.start()))
        inserted = tuple(c.strip() for c in inserts[-1].group(1).split(",")) if inserts else ()

        clause = masked[match.end() : _clause_end(masked, match.end())]
        where = _top_level_keyword(clause, re.compile(r"\bwhere\b", re.IGNORECASE))
        set_part, where_part = (clause[: where.start()], clause[where.end() :]) if where else (clause, "")
        updated = {}
        for assignment in _split_top_level(set_part):
            parsed = _ASSIGNMENT.match(assignment)
            if parsed is None:
                raise ValueError(f"line {line + 1}: cannot read the assignment {assignment!r}")
            updated[parsed["column"]] = " ".join(parsed["value"].split())

        compared = None
        distinct = _top_level_keyword(where_part, _DISTINCT)
        if distinct:
            left = _split_top_level(_operand(where_part[: distinct.start()], from_end=True))
            right = _split_top_level(_operand(where_part[distinct.end() :], from_end=False))
            compared = tuple(zip(left, right)) if len(left) == len(right) else (("<rows differ>", "in length"),)
        upserts.append(Upsert(line + 1, inserted, updated, compared, tuple(not_compared)))
    return upserts


def problems(name: str, text: str) -> list[str]:
    """What disagrees between each upsert's column lists (empty when they all agree)."""
    found = []
    for upsert in parse_upserts(text):
        where = f"{name}:{upsert.line}"
        for column, value in upsert.updated.items():
            simple = _COLUMN.match(value)
            if simple and simple["qualifier"] == "excluded" and simple["column"] != column:
                found.append(f"{where}: {column} is set from excluded.{simple['column']}")
            for referenced in re.findall(r"\bexcluded\.(\w+)", value):
                if referenced not in upsert.inserted:
                    found.append(f"{where}: excluded.{referenced} is not an inserted column")
        if upsert.compared is None:
            continue  # no change check (e.g. last write wins by updated_at): nothing can go stale
        compared = set()
        for target, incoming in upsert.compared:
            t, i = _COLUMN.match(target), _COLUMN.match(incoming)
            if not (t and i and i["qualifier"] == "excluded" and t["qualifier"] != "excluded"):
                found.append(
                    f"{where}: cannot pair {target!r} with {incoming!r} (expected alias.column, excluded.column)"
                )
            elif t["column"] != i["column"]:
                found.append(f"{where}: compares {target} with {incoming}")
            else:
                compared.add(i["column"])
        exempt = set(upsert.not_compared)
        for column in sorted(set(upsert.updated) - compared - exempt):
            found.append(f"{where}: {column} is updated but not compared (a change in it alone is never written)")
        for column in sorted(compared - set(upsert.updated)):
            found.append(f"{where}: {column} is compared but not updated (the row is rewritten unchanged)")
        for column in sorted(exempt - (set(upsert.updated) - compared)):
            found.append(f"{where}: 'not compared: {column}' names no column updated without comparison")
    return found


def upsert_files() -> list[Path]:
    return sorted(Path(sql_dir(), "upserts").glob("*.sql"))


def test_every_upsert_compares_exactly_the_columns_it_updates():
    texts = {p.name: p.read_text(encoding="utf-8") for p in upsert_files()}
    checked = [u for text in texts.values() for u in parse_upserts(text) if u.compared is not None]
    # The parser found the upserts it is meant to check (a parser that finds nothing passes vacuously).
    assert len(checked) >= 7, [p.name for p in upsert_files()]
    assert all(len(u.updated) >= 1 and len(u.compared or ()) >= 1 for u in checked)
    assert [problem for name, text in texts.items() for problem in problems(name, text)] == []


def _real(name: str) -> str:
    return Path(sql_dir(), "upserts", name).read_text(encoding="utf-8")


def _broken(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def test_a_column_updated_but_no_longer_compared_is_caught():
    text = _real("050_upsert_budgets.sql")
    broken = _broken(text, "b.spent_pending, b.spent_total", "b.spent_pending")
    broken = _broken(broken, "excluded.spent_pending, excluded.spent_total", "excluded.spent_pending")
    assert problems("050", text) == []
    assert [p.split(": ", 1)[1] for p in problems("050", broken)] == [
        "spent_total is updated but not compared (a change in it alone is never written)"
    ]


def test_a_column_compared_but_not_updated_a_mismatched_pair_and_a_stale_note_are_caught():
    text = _real("060_upsert_cards.sql")
    not_updated = _broken(text, "period_spent = excluded.period_spent,\n", "")
    assert [p.split(": ", 1)[1] for p in problems("060", not_updated)] == [
        "period_spent is compared but not updated (the row is rewritten unchanged)"
    ]
    swapped = _broken(text, "c.last_four, c.valid_thru,", "c.valid_thru, c.last_four,")
    assert sorted(p.split(": ", 1)[1] for p in problems("060", swapped)) == [
        "compares c.last_four with excluded.valid_thru",
        "compares c.valid_thru with excluded.last_four",
        "last_four is updated but not compared (a change in it alone is never written)",
        "valid_thru is updated but not compared (a change in it alone is never written)",
    ]
    stale_note = _broken(text, "-- not compared: last_seen_day", "-- not compared: last_seen_day, card_type")
    assert [p.split(": ", 1)[1] for p in problems("060", stale_note)] == [
        "'not compared: card_type' names no column updated without comparison"
    ]


def test_an_assignment_from_another_column_or_a_column_not_inserted_is_caught():
    text = _real("015_upsert_roles.sql")
    wrong_source = _broken(text, "description = excluded.description", "description = excluded.name")
    assert [p.split(": ", 1)[1] for p in problems("015", wrong_source)] == ["description is set from excluded.name"]
    not_inserted = _broken(
        text,
        "role_id, name, description, is_default, agent_type, created_at, updated_at, first_seen_day",
        "role_id, name, is_default, agent_type, created_at, updated_at, first_seen_day",
    )
    assert "description is set from" not in " ".join(problems("015", not_inserted))
    assert any("excluded.description is not an inserted column" in p for p in problems("015", not_inserted))
