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

import random
import re
import shutil
from dataclasses import asdict
from datetime import date, timedelta
from pathlib import Path

from zluri_feedgen.helpdesk import Helpdesk, group_id
from zluri_feedgen.mess import Mess
from zluri_feedgen.spend import UNKNOWN_CURRENCY, Spend
from zluri_feedgen.truth import TransactionTruth, write_truth


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
    spend = Spend(seed, days, transactions, tuple(currencies), mess, dates)  # validates rates first
    desk = Helpdesk(random.Random(seed), seed, agents, groups, depth, mess, start_date)
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
        write_truth(out_dir / "expected.json", truth, truth_entries)
    finally:
        truth_entries.unlink(missing_ok=True)
    return truth
