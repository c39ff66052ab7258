"""Data-quality suites as data: per entity, the checks its clean, de-duplicated frame must pass.

Each entity has a lean suite: its key columns not null and unique are CRITICAL (the staging step
fails); everything else (value sets, formats, referential coverage) is a WARNING that lands in the
run report. A ``Check`` names a Great Expectations expectation and its arguments; ``dq`` turns
checks into GX expectations and runs them. Nothing here imports GX or needs Spark.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from zluri_staging.derived import AGENT_ROLES, MEMBERSHIPS, DerivedTable

__all__ = [
    "CARD_STATUSES",
    "CARD_TYPES",
    "CRITICAL",
    "ENTITIES",
    "RECURRING_INTERVALS",
    "SUITES",
    "TRANSACTION_TYPES",
    "UNKNOWN_PREFIX",
    "WARNING",
    "Check",
    "checks_for",
    "suite_name",
]

CRITICAL = "critical"
WARNING = "warning"

# BILL Spend documents exactly these four; anything else is worth a look but not a failed run.
TRANSACTION_TYPES = ("AUTHORIZATION", "CLEAR", "DECLINE", "OTHER")
CARD_STATUSES = ("ACTIVATED", "NOT_ACTIVATED", "FROZEN", "CANCELLED", "TERMINATED")
CARD_TYPES = ("PHYSICAL", "VIRTUAL_MEMBER", "VIRTUAL_VENDOR")
RECURRING_INTERVALS = ("NONE", "WEEKLY", "MONTHLY", "QUARTERLY", "YEARLY")
CURRENCY_CODE = r"^[A-Z]{3}$"
EMAIL = r"^[^@\s]+@[^@\s]+$"
LAST_FOUR = r"^[0-9]{4}$"

# Feed folder names that stage into a differently named table.
ALIASES = {"admin_groups": "groups"}

# A reference check reads `unknown_<column>`: the value when it names nothing known, else null (see
# `dq.with_unknown_references`). So the unexpected values GX samples are the unknown ids themselves.
UNKNOWN_PREFIX = "unknown_"


@dataclass(frozen=True)
class Check:
    """One expectation: the GX expectation class, its arguments, its severity and the problem a
    failing row has, in words ("have no agent_id")."""

    expectation: str  # a class of great_expectations.expectations
    kwargs: Mapping[str, Any]
    severity: str
    problem: str
    meta: Mapping[str, Any] = field(default_factory=dict)  # more of GX's meta, besides the problem
    notes: str | None = None


def not_null(column: str, severity: str = CRITICAL) -> Check:
    return Check("ExpectColumnValuesToNotBeNull", {"column": column}, severity, f"have no {column}")


def unique(column: str) -> Check:
    return Check("ExpectColumnValuesToBeUnique", {"column": column}, CRITICAL, f"share a {column} with another row")


def compound_unique(*columns: str) -> Check:
    return Check(
        "ExpectCompoundColumnsToBeUnique",
        {"column_list": list(columns)},
        CRITICAL,
        f"share ({', '.join(columns)}) with another row",
    )


def in_set(column: str, values: Iterable[str], what: str) -> Check:
    return Check(
        "ExpectColumnValuesToBeInSet",
        {"column": column, "value_set": list(values)},
        WARNING,
        f"have an unknown {what}",
    )


def matches(column: str, regex: str, what: str) -> Check:
    return Check("ExpectColumnValuesToMatchRegex", {"column": column, "regex": regex}, WARNING, f"have {what}")


def non_negative(column: str) -> Check:
    return Check(
        "ExpectColumnValuesToBeBetween", {"column": column, "min_value": 0}, WARNING, f"have a negative {column}"
    )


def positive(column: str) -> Check:
    return Check(
        "ExpectColumnValuesToBeBetween",
        {"column": column, "min_value": 0, "strict_min": True},
        WARNING,
        f"have a {column} that is not positive",
    )


def known_reference(column: str) -> Check:
    return Check(
        "ExpectColumnValuesToBeNull",
        {"column": f"{UNKNOWN_PREFIX}{column}"},
        WARNING,
        f"name an unknown {column}",
        meta={"reference": column},
        notes=f"{column} must name a record of this run or of the core tables",
    )


def flagged(column: str, problem: str, notes: str) -> Check:
    """A warning per row whose computed ``column`` is set (it holds the row's id, so GX samples ids)."""
    return Check("ExpectColumnValuesToBeNull", {"column": column}, WARNING, problem, notes=notes)


def _derived_checks(derived: DerivedTable) -> tuple[Check, ...]:
    """A derived table's rows: both keys there, each pair once."""
    return (*(not_null(key) for key in derived.keys), compound_unique(*derived.keys))


_AGENT_CHECKS = (
    not_null("agent_id"),
    unique("agent_id"),
    not_null("deactivated", WARNING),
    matches("email", EMAIL, "an email that is not an address"),
)

SUITES: dict[str, tuple[Check, ...]] = {
    "agents": _AGENT_CHECKS,
    "agent_details": _AGENT_CHECKS,
    AGENT_ROLES.name: _derived_checks(AGENT_ROLES),
    "roles": (not_null("role_id"), unique("role_id"), not_null("name", WARNING)),
    "groups": (not_null("group_id"), unique("group_id"), not_null("name", WARNING)),
    MEMBERSHIPS.name: _derived_checks(MEMBERSHIPS),
    "budgets": (
        not_null("budget_id"),
        unique("budget_id"),
        in_set("recurring_interval", RECURRING_INTERVALS, "recurring_interval"),
        non_negative("period_limit"),
    ),
    "cards": (
        not_null("card_id"),
        unique("card_id"),
        in_set("status", CARD_STATUSES, "card status"),
        in_set("card_type", CARD_TYPES, "card_type"),
        matches("last_four", LAST_FOUR, "a last_four that is not four digits"),
        non_negative("period_limit"),
    ),
    "transactions": (
        not_null("transaction_id"),
        unique("transaction_id"),
        in_set("transaction_type", TRANSACTION_TYPES, "transaction_type"),
        matches("original_currency", CURRENCY_CODE, "an original_currency that is not a 3-letter code"),
        not_null("amount_usd", WARNING),
        flagged(
            "usd_disagreement",
            "have a feed USD amount more than 2% away from ours",
            "usd_disagreement holds the transaction_id where the feed's USD amount differs from ours by more than 2%",
        ),
    ),
    "fx_rates": (
        not_null("currency"),
        not_null("rate_date"),
        compound_unique("currency", "rate_date"),
        positive("usd_per_unit"),
    ),
}

ENTITIES = tuple(SUITES)


def suite_name(entity: str) -> str:
    """The suite an entity (or feed folder) is checked with."""
    name = ALIASES.get(entity, entity)
    if name not in SUITES:
        raise ValueError(f"no data-quality suite for entity {entity!r}; known: {', '.join(ENTITIES)}")
    return name


def checks_for(entity: str, *, reference_columns: Iterable[str] = ()) -> list[Check]:
    """`entity`'s checks, plus a known-reference warning per reference column."""
    return [*SUITES[suite_name(entity)], *(known_reference(c) for c in sorted(reference_columns))]
