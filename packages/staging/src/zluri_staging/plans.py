"""What staging does for each entity, as data: its transform, rules, key, the tables derived from
it (declared in ``derived``), and the few steps that need more than its own records (currency
conversion, reference flags, the rates used). ``stage.stage_entity`` runs the one composition over
``PLANS[entity]``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce
from typing import Protocol

import pyarrow as pa
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from zluri_staging import fx, rules, transforms
from zluri_staging.derived import DerivedTable, derived_from
from zluri_staging.fx import FxSettings
from zluri_staging.rules import Rule

SAMPLE_IDS = 20  # ids named in a warning line; the report's lists hold all of them


class StagingRun(Protocol):
    """What a plan's own steps may use of the run being staged."""

    @property
    def spark(self) -> SparkSession: ...

    @property
    def fx(self) -> FxSettings: ...

    def ids_frame(self, reference: str) -> DataFrame:
        """The ids ``reference`` (a ``load.REFERENCES`` key) names in this run."""
        ...


@dataclass(frozen=True)
class Plan:
    table: str
    transform: Callable[[DataFrame], DataFrame]
    rule_list: Callable[[], list[Rule]]
    keys: tuple[str, ...]
    carry: tuple[str, ...] = ()  # columns kept past validation for warnings
    derived: tuple[DerivedTable, ...] = ()
    # I/O-fed enrichment before the rules (currency conversion, reference flags)
    enrich: Callable[[StagingRun, DataFrame], DataFrame] | None = None
    # small extra tables and warnings from the valid rows
    extras: Callable[[StagingRun, DataFrame], tuple[dict[str, pa.Table], list[str]]] | None = None
    dq_refs: Callable[[StagingRun], dict[str, DataFrame]] | None = None


def _enrich_transactions(run: StagingRun, typed: DataFrame) -> DataFrame:
    converted = fx.with_usd_amounts(typed, fx.batch_rates(run.spark, typed, run.fx))
    with_cards = transforms.flag_known(converted, run.ids_frame("cards"), "card_id", "card_known")
    return transforms.flag_known(with_cards, run.ids_frame("budgets"), "budget_id", "budget_known")


def _first_ids(frame: DataFrame, samples: list[tuple[Column, str]]) -> list[list[str]]:
    """Per (rows, column) of ``samples``: the first distinct values of the column among the rows of
    ``frame`` that match (a bounded sample). One Spark query for them all."""
    if not samples:
        return []
    sampled = [
        frame.where(rows)
        .select(F.lit(n).alias("sample"), F.col(column).cast("string").alias("id"))
        .distinct()
        .orderBy("id")
        .limit(SAMPLE_IDS + 1)
        for n, (rows, column) in enumerate(samples)
    ]
    ids: list[list[str]] = [[] for _ in samples]
    for row in reduce(DataFrame.unionByName, sampled).collect():
        ids[row["sample"]].append(row["id"])
    return [sorted(found) for found in ids]


def _listed(ids: list[str]) -> str:
    return ", ".join(ids[:SAMPLE_IDS]) + (" ..." if len(ids) > SAMPLE_IDS else "")


def _transaction_warnings() -> list[tuple[Column, str, str]]:
    """The transactions' warnings: which rows, the id a warning lists, and what it says of them."""
    return [
        (F.col("card_known") == F.lit(False), "card_id", "transactions reference an unknown card (kept)"),
        (F.col("budget_known") == F.lit(False), "budget_id", "transactions reference an unknown budget (kept)"),
        (fx.usd_disagrees(), "transaction_id", "transactions: feed USD amount differs from ours by more than 2%"),
    ]


def _transaction_extras(run: StagingRun, valid: DataFrame) -> tuple[dict[str, pa.Table], list[str]]:
    # Every warning counted in one pass; ids are sampled, in one more, only for warnings that have rows.
    checks = _transaction_warnings()
    counts = valid.agg(*(F.count_if(rows) for rows, _, _ in checks)).first()
    flagged = [(check, count) for check, count in zip(checks, counts or (), strict=True) if count]
    samples = _first_ids(valid, [(rows, column) for (rows, column, _), _ in flagged])
    warnings = [
        f"{count} {what}: {column} {_listed(ids)}"
        for ((_, column, what), count), ids in zip(flagged, samples, strict=True)
    ]
    # One row per currency and day used: a handful, so the driver copies it in the commit.
    fx_rates = transforms.staging_frame(fx.rates_used(valid), "stg_fx_rates").toArrow()
    return {"stg_fx_rates": fx_rates}, warnings


def _transaction_refs(run: StagingRun) -> dict[str, DataFrame]:
    return {"card_id": run.ids_frame("cards"), "budget_id": run.ids_frame("budgets")}


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
        carry=("card_known", "budget_known"),
        enrich=_enrich_transactions,
        extras=_transaction_extras,
        dq_refs=_transaction_refs,
    ),
}


def plan_for(entity: str) -> Plan:
    try:
        return PLANS[entity]
    except KeyError:
        raise ValueError(f"unknown entity {entity!r}; known: {', '.join(PLANS)}") from None
