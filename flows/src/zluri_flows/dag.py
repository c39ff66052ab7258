"""The day's task graph as data: which task waits for which."""

from __future__ import annotations

# Staging order matters only where one entity validates against another of the same run:
# agent_details checks role ids against the day's roles, admin_groups checks members against the
# day's agents and agent_details, transactions count unknown cards and budgets.
STAGE_DEPENDENCIES: dict[str, list[str]] = {
    "roles": [],
    "agents": [],
    "agent_details": ["roles"],
    "admin_groups": ["agents", "agent_details"],
    "budgets": [],
    "cards": [],
    "transactions": ["budgets", "cards"],
}

# step -> (staged entities it reads, upsert steps that must have committed first)
# The guard runs once the help-desk entities are staged and before any upsert, so a refused day
# (mass change, wrong day-label scheme) writes nothing at all to the core tables.
GUARD = "005_check_mass_change"
UPSERT_DEPENDENCIES: dict[str, tuple[list[str], list[str]]] = {
    GUARD: (["agents", "agent_details", "admin_groups"], []),
    "010_upsert_agents": (["agents", "agent_details"], [GUARD]),
    "015_upsert_roles": (["roles"], [GUARD]),
    "017_upsert_agent_roles": (["agent_details"], ["010_upsert_agents", "015_upsert_roles"]),
    "020_upsert_groups": (["admin_groups"], ["010_upsert_agents"]),
    # Group status needs final agent statuses and memberships.
    "030_update_group_status": ([], ["010_upsert_agents", "020_upsert_groups"]),
    "035_upsert_fx_rates": (["transactions"], [GUARD]),
    "040_upsert_transactions": (["transactions"], ["035_upsert_fx_rates"]),
    "050_upsert_budgets": (["budgets"], [GUARD]),
    "060_upsert_cards": (["cards"], [GUARD]),
}


def stage_task_name(entity: str) -> str:
    return f"stage_{entity}"
