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

# step -> (staged entities it reads, upsert steps that must have committed first), in run order:
# the one place the order of the SQL steps is written (sql/upserts/<step>.sql is each step's file;
# its numeric prefix follows this order, which flows/tests/test_dag.py checks). Tests take their
# step lists from here (`feed_steps`).
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


# The two feeds of a day. A step belongs to the feed whose entities it reads, or to the feed of a
# step it waits for (the guard, which runs before both, belongs to neither).
HELPDESK_ENTITIES = ("agents", "agent_details", "admin_groups", "roles")
SPEND_ENTITIES = ("budgets", "cards", "transactions")


def feed_steps(entities: tuple[str, ...]) -> list[str]:
    """The upsert steps of the feed made of ``entities``, in run order (the guard excluded)."""
    steps: list[str] = []
    for step, (staged, needs) in UPSERT_DEPENDENCIES.items():
        if step != GUARD and (set(staged) & set(entities) or set(needs) & set(steps)):
            steps.append(step)
    return steps


def stage_task_name(entity: str) -> str:
    return f"stage_{entity}"
