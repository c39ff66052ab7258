"""suites.py: the data-quality suites as data (no GX, no Spark): keys are critical, everything else
warns, feed folder names use their table's suite, reference checks read the unknown-id column."""

from __future__ import annotations

import pytest

from zluri_staging.suites import CRITICAL, ENTITIES, SUITES, WARNING, Check, checks_for, suite_name

KEYS = {
    "agents": ("agent_id",),
    "agent_details": ("agent_id",),
    "agent_roles": ("agent_id", "role_id"),
    "roles": ("role_id",),
    "groups": ("group_id",),
    "group_memberships": ("group_id", "agent_id"),
    "budgets": ("budget_id",),
    "cards": ("card_id",),
    "transactions": ("transaction_id",),
    "fx_rates": ("currency", "rate_date"),
}


@pytest.mark.parametrize("entity", ENTITIES)
def test_the_critical_checks_are_exactly_the_key_not_null_and_unique(entity):
    keys = KEYS[entity]
    unique = (
        Check("ExpectColumnValuesToBeUnique", {"column": keys[0]}, CRITICAL, f"share a {keys[0]} with another row")
        if len(keys) == 1
        else Check(
            "ExpectCompoundColumnsToBeUnique",
            {"column_list": list(keys)},
            CRITICAL,
            f"share ({', '.join(keys)}) with another row",
        )
    )
    not_null = [Check("ExpectColumnValuesToNotBeNull", {"column": k}, CRITICAL, f"have no {k}") for k in keys]
    assert [c for c in SUITES[entity] if c.severity == CRITICAL] == [*not_null, unique]
    assert {c.severity for c in SUITES[entity]} <= {CRITICAL, WARNING}


def test_feed_folders_use_their_tables_suite_and_unknown_entities_are_errors():
    assert suite_name("admin_groups") == "groups"
    assert checks_for("admin_groups") == checks_for("groups")
    with pytest.raises(ValueError, match="no data-quality suite for entity 'tickets'"):
        checks_for("tickets")


def test_reference_columns_add_a_warning_on_their_unknown_ids_in_name_order():
    added = checks_for("transactions", reference_columns=["card_id", "budget_id"])[len(SUITES["transactions"]) :]
    assert added == [
        Check(
            "ExpectColumnValuesToBeNull",
            {"column": f"unknown_{column}"},
            WARNING,
            f"name an unknown {column}",
            meta={"reference": column},
            notes=f"{column} must name a record of this run or of the core tables",
        )
        for column in ("budget_id", "card_id")
    ]
