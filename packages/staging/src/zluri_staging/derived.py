"""Tables derived from an entity's records, declared once: agent roles from ``agent_details``'
``role_ids``, group memberships from ``admin_groups``' ``agent_ids``.

Each row of a derived table names one id of a list its parent record carries, and must name an id
known to the run (or to the core tables). Everything about a derived table is read from its
declaration here: the parent's parsed list (``transforms.parsed_ids``) and its rule
(``rules.listed_ids``), the explode (``transforms.explode_ids``), the rows' rules
(``rules.reference_rules``), the parent's plan (``plans``), its data-quality suite (``suites``) and
its quarantine entity.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AGENT_ROLES", "DERIVED", "MEMBERSHIPS", "DerivedTable", "derived_from"]


@dataclass(frozen=True)
class DerivedTable:
    name: str  # its quarantine entity and data-quality suite
    table: str  # its staging table
    parent: str  # the entity whose valid records it is derived from
    parent_key: str  # the parent's key, the first of the row's keys
    field: str  # the parent record's field that lists the ids
    column: str  # the id each row names, the second of the row's keys
    reference: str  # load.REFERENCES key of the ids it must name
    missing: str  # quarantine reasons: no id, an id that is not an integer, an id naming nothing known
    not_integer: str
    unknown: str  # followed by the id

    @property
    def keys(self) -> tuple[str, str]:
        return (self.parent_key, self.column)

    @property
    def ids(self) -> str:
        """The parent's parsed id list (a column its plan carries past validation)."""
        return f"_{self.field}"

    @property
    def raw(self) -> str:
        """The id as the feed wrote it, before the cast."""
        return f"_{self.column.removesuffix('_id')}_raw"

    @property
    def flag(self) -> str:
        """Whether the id names a known one (null without an id)."""
        return f"{self.column.removesuffix('_id')}_known"


AGENT_ROLES = DerivedTable(
    name="agent_roles",
    table="stg_agent_roles",
    parent="agent_details",
    parent_key="agent_id",
    field="role_ids",
    column="role_id",
    reference="roles",
    missing="agent role id missing",
    not_integer="agent role id not an integer",
    unknown="agent role names unknown role",
)
MEMBERSHIPS = DerivedTable(
    name="group_memberships",
    table="stg_group_memberships",
    parent="admin_groups",
    parent_key="group_id",
    field="agent_ids",
    column="agent_id",
    reference="agents",
    missing="membership agent id missing",
    not_integer="membership agent id not an integer",
    unknown="membership names unknown agent",
)

DERIVED: dict[str, DerivedTable] = {d.name: d for d in (AGENT_ROLES, MEMBERSHIPS)}


def derived_from(entity: str) -> tuple[DerivedTable, ...]:
    """The tables derived from ``entity``'s records."""
    return tuple(d for d in DERIVED.values() if d.parent == entity)
