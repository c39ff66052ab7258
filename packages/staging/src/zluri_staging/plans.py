"""What staging does for each entity, as data: its transform, rules, key, the tables derived from
it (declared in ``derived``), the few steps that need more than its own records (currency
conversion, the rates used, the ids its references may name) and the columns its data-quality
suite checks beyond the staged ones. ``stage.stage_entity`` runs the one composition over
``PLANS[entity]``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa
from pyspark.sql import Column, DataFrame, SparkSession

from zluri_staging import dq, fx, rules, transforms
from zluri_staging.derived import DerivedTable, derived_from
from zluri_staging.fx import FxSettings
from zluri_staging.rules import Rule


class StagingRun(Protocol):
    """What a plan's own steps may use of the run being staged."""

    @property
    def spark(self) -> SparkSession: ...

    @property
    def fx(self) -> FxSettings: ...

    def ids_frame(self, reference: str) -> DataFrame:
        """The ids ``reference`` (a ``load.REFERENCES`` key) names in this run."""
        ...

    def known_ids(self, reference: str) -> dq.KnownIds:
        """The same ids, as data quality checks references against them."""
        ...


@dataclass(frozen=True)
class Plan:
    table: str
    transform: Callable[[DataFrame], DataFrame]
    rule_list: Callable[[], list[Rule]]
    keys: tuple[str, ...]
    derived: tuple[DerivedTable, ...] = ()
    # a small frame of the transformed records (the dates and currencies rates are needed for),
    # collected in the read's first pass and handed to ``enrich``
    survey: Callable[[DataFrame], DataFrame] | None = None
    # I/O-fed enrichment before the rules (currency conversion), given the survey's rows
    enrich: Callable[[StagingRun, DataFrame, pa.Table | None], DataFrame] | None = None
    # small tables of the distinct values some columns take among the valid rows, listed in the
    # tally's pass and copied by the driver in the commit (the rates used): table -> name -> Column
    listed: Callable[[], dict[str, dict[str, Column]]] | None = None
    dq_refs: Callable[[StagingRun], dict[str, dq.KnownIds]] | None = None
    # the columns its suite checks beyond the staging ones, computed from them (pure)
    dq_view: Callable[[DataFrame], DataFrame] | None = None


def _enrich_transactions(run: StagingRun, typed: DataFrame, pairs: pa.Table | None) -> DataFrame:
    window = fx.rates_window(pairs if pairs is not None else fx.rate_pairs(typed))
    return fx.with_usd_amounts(typed, fx.batch_rates(run.spark, window, run.fx))


def _rates_used() -> dict[str, dict[str, Column]]:
    # One row per currency and day used: a handful, so the driver copies it in the commit.
    return {"stg_fx_rates": transforms.staging_columns_of(fx.rate_used(), "stg_fx_rates")}


def _transaction_refs(run: StagingRun) -> dict[str, dq.KnownIds]:
    return {"card_id": run.known_ids("cards"), "budget_id": run.known_ids("budgets")}


PLANS: dict[str, Plan] = {
    "agents": Plan("stg_agents", transforms.agents, rules.agent_rules, ("agent_id",)),
    "agent_details": Plan(
        "stg_agent_details",
        transforms.agent_details,
        rules.agent_details_rules,
        ("agent_id",),
        derived=derived_from("agent_details"),
    ),
    "roles": Plan("stg_roles", transforms.roles, rules.role_rules, ("role_id",)),
    "admin_groups": Plan(
        "stg_groups",
        transforms.groups,
        rules.group_rules,
        ("group_id",),
        derived=derived_from("admin_groups"),
    ),
    # Budgets carry no updated time: among copies of one id the later file/position wins.
    "budgets": Plan("stg_budgets", transforms.budgets, rules.budget_rules, ("budget_id",)),
    "cards": Plan("stg_cards", transforms.cards, rules.card_rules, ("card_id",)),
    "transactions": Plan(
        "stg_transactions",
        transforms.transactions,
        rules.transaction_rules,
        ("transaction_id",),
        survey=fx.rate_pairs,
        enrich=_enrich_transactions,
        listed=_rates_used,
        dq_refs=_transaction_refs,
        dq_view=fx.with_usd_disagreement,
    ),
}


def plan_for(entity: str) -> Plan:
    try:
        return PLANS[entity]
    except KeyError:
        raise ValueError(f"unknown entity {entity!r}; known: {', '.join(PLANS)}") from None
