"""Staging one entity of one day: read -> transform -> validate (split) -> de-duplicate -> data
quality -> bronze -> load, and the counts that prove nothing was dropped.

``stage_entity`` dispatches to ``stage_<entity>``; each builds a plan (its transform, rules, key,
derived tables) and runs the one composition ``_stage``. The SparkSession is passed in and shared
by the flow run's tasks; nothing here creates, configures or stops one.

Spark work is arranged so the JSON is parsed once: the parsed frame is persisted and the bronze
write fills that cache; the classified frame (every record with its status — valid, duplicate,
quarantined — and reason) is computed from it once and persisted; counts, the rows to COPY (as
Arrow) and the quarantine rows are small reads of that cache, as are the derived tables, the FX
checks and data quality.
Bronze is written first (before data quality, not after it): it holds the input as read, which is
most useful precisely when a critical expectation then fails the step.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from zluri_metrics import MetricsRow
from zluri_staging import bronze, dq, fx, load, read, rules, transforms
from zluri_staging.dedupe import RANK, latest_first
from zluri_staging.read import MissingEntityError
from zluri_staging.rules import REASON, Rule
from zluri_staging.schemas import ENTITIES, STAGING, staging_columns

log = logging.getLogger(__name__)

PIPELINE_NAME = "zluri_day_pipeline"
STATUS = "_stage_status"
VALID, DUPLICATE, QUARANTINED = "valid", "duplicate", "quarantined"
SAMPLE_IDS = 20  # ids named in a warning line; the report's lists hold all of them
MAX_LISTED_IDS = 10_000

__all__ = [
    "DerivedCounts",
    "MissingEntityError",
    "StageResult",
    "classify",
    "stage_admin_groups",
    "stage_agent_details",
    "stage_agents",
    "stage_budgets",
    "stage_cards",
    "stage_entity",
    "stage_roles",
    "stage_transactions",
]


@dataclass(frozen=True)
class DerivedCounts:
    """A table derived from an entity's records (memberships from groups, roles from details):
    candidates = loaded + quarantined + duplicates."""

    table: str
    candidates: int
    loaded: int
    quarantined: int
    duplicates: int


@dataclass(frozen=True)
class StageResult:
    """Counts of the entity's records: read = loaded + quarantined + duplicates (an unreadable file
    counts as one quarantined record). Derived tables reconcile on their own in ``derived``."""

    entity: str
    read: int
    loaded: int
    quarantined: int
    duplicates: int
    warnings: list[str]
    report_path: str | None
    derived: dict[str, DerivedCounts] = field(default_factory=dict)
    tables: dict[str, int] = field(default_factory=dict)  # rows loaded per table, all tables written
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    skipped: bool = False  # the (optional) entity folder was missing
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)  # seconds per step


# -- pure steps -----------------------------------------------------------------------------------


def classify(
    df: DataFrame, rule_list: Sequence[Rule], keys: Sequence[str], order: Sequence[Column] | None = None
) -> DataFrame:
    """``df`` plus ``reason`` and ``status`` (valid | duplicate | quarantined). Duplicates are
    ranked among the rows that passed every rule, so a broken newer copy never displaces a good one."""
    annotated = rules.annotate(df, rule_list)
    window = Window.partitionBy(F.col(REASON).isNull(), *keys).orderBy(*(order or latest_first()))
    ranked = annotated.withColumn(RANK, F.when(F.col(REASON).isNull(), F.row_number().over(window)))
    status = (
        F.when(F.col(REASON).isNotNull(), F.lit(QUARANTINED))
        .when(F.col(RANK) == 1, F.lit(VALID))
        .otherwise(F.lit(DUPLICATE))
    )
    return ranked.withColumn(STATUS, status).drop(RANK)


# -- plans ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Run:
    spark: SparkSession
    entity: str
    day: str
    flow_run_id: str
    input_root: str
    database_url: str
    home: Path
    bronze_root: str
    _ids: dict[str, DataFrame] = field(default_factory=dict, compare=False, repr=False)

    @property
    def report_dir(self) -> Path:
        return self.home / "reports" / self.day / self.flow_run_id

    def ids_frame(self, reference: str) -> DataFrame:
        """The ids ``reference`` names in this run (read once per stage call)."""
        if reference not in self._ids:
            self._ids[reference] = self.spark.createDataFrame(
                load.reference_ids(self.database_url, reference, self.flow_run_id)
            )
        return self._ids[reference]


@dataclass(frozen=True)
class _Derived:
    name: str  # entity name of its quarantine rows and DQ suite
    table: str
    explode: Callable[[DataFrame], DataFrame]
    reference: str  # load.REFERENCES key of the ids it must name
    column: str  # the column checked against them
    flag: str
    rule_list: Callable[[], list[Rule]]
    keys: tuple[str, ...]


@dataclass(frozen=True)
class _Plan:
    table: str
    transform: Callable[[DataFrame], DataFrame]
    rule_list: Callable[[], list[Rule]]
    keys: tuple[str, ...]
    carry: tuple[str, ...] = ()  # columns kept past validation for derived tables and warnings
    derived: tuple[_Derived, ...] = ()
    # I/O-fed enrichment before the rules (currency conversion, reference flags)
    enrich: Callable[[_Run, DataFrame], DataFrame] | None = None
    # extra tables and warnings from the valid rows (Spark frame, Arrow rows)
    extras: Callable[[_Run, DataFrame, pa.Table], tuple[dict[str, pa.Table], list[str]]] | None = None
    dq_refs: Callable[[_Run], dict[str, DataFrame]] | None = None


def _enrich_transactions(run: _Run, typed: DataFrame) -> DataFrame:
    converted = fx.with_usd_amounts(typed, fx.batch_rates(run.spark, typed, fx.FxSettings.from_env()))
    with_cards = transforms.flag_known(converted, run.ids_frame("cards"), "card_id", "card_known")
    return transforms.flag_known(with_cards, run.ids_frame("budgets"), "budget_id", "budget_known")


def _unknown(rows: pa.Table, column: str, flag: str) -> tuple[int, list[str]]:
    unknown = rows.filter(pc.equal(rows[flag], False))
    ids = sorted(set(unknown[column].to_pylist()))
    return unknown.num_rows, ids


def _transaction_extras(run: _Run, valid: DataFrame, rows: pa.Table) -> tuple[dict[str, pa.Table], list[str]]:
    warnings = []
    for column, flag, what in (("card_id", "card_known", "card"), ("budget_id", "budget_known", "budget")):
        count, ids = _unknown(rows, column, flag)
        if count:
            warnings.append(
                f"{count} transactions reference an unknown {what} (kept): {column} {', '.join(ids[:SAMPLE_IDS])}"
                + (" ..." if len(ids) > SAMPLE_IDS else "")
            )
    disagreements = fx.usd_disagreements(valid).select("transaction_id").toArrow()["transaction_id"].to_pylist()
    if disagreements:
        listed = sorted(disagreements)[:MAX_LISTED_IDS]
        warnings.append(
            f"{len(disagreements)} transactions: feed USD amount differs from ours by more than 2%: "
            f"transaction_id {', '.join(listed[:SAMPLE_IDS])}" + (" ..." if len(listed) > SAMPLE_IDS else "")
        )
    fx_rates = transforms.staging_frame(fx.rates_used(valid), "stg_fx_rates").toArrow()
    return {"stg_fx_rates": fx_rates}, warnings


def _transaction_refs(run: _Run) -> dict[str, DataFrame]:
    return {"card_id": run.ids_frame("cards"), "budget_id": run.ids_frame("budgets")}


_AGENT_ROLES = _Derived(
    name="agent_roles",
    table="stg_agent_roles",
    explode=transforms.agent_roles,
    reference="roles",
    column="role_id",
    flag="role_known",
    rule_list=rules.agent_role_rules,
    keys=("agent_id", "role_id"),
)
_MEMBERSHIPS = _Derived(
    name="group_memberships",
    table="stg_group_memberships",
    explode=transforms.group_memberships,
    reference="agents",
    column="agent_id",
    flag="agent_known",
    rule_list=rules.membership_rules,
    keys=("group_id", "agent_id"),
)

_PLANS: dict[str, _Plan] = {
    "agents": _Plan("stg_agents", transforms.agents, rules.agent_rules, ("agent_id",)),
    "agent_details": _Plan(
        "stg_agent_details",
        transforms.agent_details,
        rules.agent_details_rules,
        ("agent_id",),
        carry=("_role_ids",),
        derived=(_AGENT_ROLES,),
    ),
    "roles": _Plan("stg_roles", transforms.roles, rules.role_rules, ("role_id",)),
    "admin_groups": _Plan(
        "stg_groups",
        transforms.groups,
        rules.group_rules,
        ("group_id",),
        carry=("_agent_ids",),
        derived=(_MEMBERSHIPS,),
    ),
    # Budgets carry no updated time: among copies of one id the later file/position wins.
    "budgets": _Plan("stg_budgets", transforms.budgets, rules.budget_rules, ("budget_id",)),
    "cards": _Plan("stg_cards", transforms.cards, rules.card_rules, ("card_id",)),
    "transactions": _Plan(
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


# -- the composition ------------------------------------------------------------------------------


@dataclass
class _Outcome:
    """One classified table cut into its parts: the rows to load and the quarantine rows (Arrow,
    in memory) and the counts."""

    valid: pa.Table
    quarantine: pa.Table
    read: int
    duplicates: int
    reasons: dict[str, int]

    @property
    def quarantined(self) -> int:
        return self.quarantine.num_rows


def _collect(classified: DataFrame, table: str, entity: str, carry: Sequence[str]) -> _Outcome:
    """Three small actions on the (cached) classified frame: counts by status and reason, the valid
    rows and the quarantined rows, each straight to Arrow."""
    tally = classified.groupBy(STATUS, REASON).count().collect()
    counts = {VALID: 0, DUPLICATE: 0, QUARANTINED: 0}
    reasons: dict[str, int] = {}
    for row in tally:
        counts[row[STATUS]] += row["count"]
        if row[STATUS] == QUARANTINED:
            reasons[row[REASON]] = row["count"]
    valid = classified.where(F.col(STATUS) == VALID).select(
        *[F.col(f.name).cast(f.dataType).alias(f.name) for f in STAGING[table].fields], *carry
    )
    quarantine = classified.where(F.col(STATUS) == QUARANTINED).select(
        F.lit(entity).alias("entity"), "source_file", REASON, "raw_record"
    )
    outcome = _Outcome(
        valid=valid.toArrow(),
        quarantine=quarantine.toArrow(),
        read=sum(counts.values()),
        duplicates=counts[DUPLICATE],
        reasons=dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
    )
    if outcome.valid.num_rows != counts[VALID] or outcome.quarantined != counts[QUARANTINED]:
        raise RuntimeError(f"{entity}: rows collected do not match the counts {counts}")
    return outcome


class _Phases:
    """Wall-clock seconds per step, for the log and the StageResult."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def done(self, phase: str) -> None:
        now = time.perf_counter()
        self.seconds[phase] = round(self.seconds.get(phase, 0.0) + now - self._last, 3)
        self._last = now


def _records_order(plan: _Plan) -> list[Column]:
    updated = "updated_at" if "updated_at" in staging_columns(plan.table) else None
    return latest_first(updated)


def _stage(run: _Run) -> StageResult:
    plan = _PLANS[run.entity]
    spec = ENTITIES[run.entity]
    started_at = datetime.now(UTC)
    clock = time.perf_counter()
    phases = _Phases()
    parsed = read.read_entity(run.spark, run.entity, day=run.day, input_root=run.input_root)
    if parsed is None:
        folder = read.entity_dir(run.input_root, run.day, run.entity)
        if spec.required:
            raise MissingEntityError(folder, run.entity, run.day)
        log.warning("%s: folder %s is missing; skipping the optional entity", run.entity, folder)
        return _skip(run, plan, folder, started_at, clock)

    # DESER (Spark's default for DataFrames): cached column batches are kept as objects, not
    # Java-serialized again on every one of the several reads below; what does not fit spills.
    parsed = parsed.persist(StorageLevel.MEMORY_AND_DISK_DESER)
    classified: DataFrame | None = None
    try:
        records = read.records(parsed)
        # The first action: reads and parses the files once, filling the cache.
        bronze.write_bronze(records, root=run.bronze_root, entity=run.entity, day=run.day, flow_run_id=run.flow_run_id)
        phases.done("read+bronze")
        input_files = read.input_files(parsed, run.entity).toArrow()
        typed = records.transform(plan.transform)
        if plan.enrich is not None:
            typed = plan.enrich(run, typed)
        phases.done("enrich")
        # Only what loading, quarantine, derived tables and DQ need is cached; not the raw text
        # of rows that pass.
        classified = (
            classify(typed, plan.rule_list(), plan.keys, _records_order(plan))
            .select(
                *[c for c in staging_columns(plan.table) if c != "source_file"],
                "source_file",
                "position",
                *plan.carry,
                F.when(F.col(REASON).isNotNull(), F.col("raw_record")).alias("raw_record"),
                REASON,
                STATUS,
            )
            .persist(StorageLevel.MEMORY_AND_DISK_DESER)
        )
        outcome = _collect(classified, plan.table, run.entity, plan.carry)
        parsed.unpersist()
        phases.done("validate+collect")
        valid = classified.where(F.col(STATUS) == VALID)

        warnings: list[str] = []
        tables: dict[str, pa.Table] = {plan.table: outcome.valid.select(staging_columns(plan.table))}
        quarantines = [outcome.quarantine]
        derived_counts: dict[str, DerivedCounts] = {}
        reasons = dict(outcome.reasons)
        dq_frames: list[tuple[str, DataFrame, dict[str, DataFrame] | None]] = [
            (run.entity, transforms.staging_frame(valid, plan.table), plan.dq_refs(run) if plan.dq_refs else None)
        ]
        for derived in plan.derived:
            candidates = transforms.flag_known(
                derived.explode(valid), run.ids_frame(derived.reference), derived.column, derived.flag
            )
            sub = _collect(
                classify(candidates, derived.rule_list(), derived.keys, latest_first(None)),
                derived.table,
                derived.name,
                (),
            )
            tables[derived.table] = sub.valid
            quarantines.append(sub.quarantine)
            derived_counts[derived.name] = DerivedCounts(
                derived.table, sub.read, sub.valid.num_rows, sub.quarantined, sub.duplicates
            )
            reasons.update({f"{derived.name}: {k}": v for k, v in sub.reasons.items()})
            if sub.quarantined:
                warnings.append(
                    f"{sub.quarantined} {derived.name} rows quarantined: "
                    + "; ".join(f"{k} ({v})" for k, v in list(sub.reasons.items())[:SAMPLE_IDS])
                )
            if sub.duplicates:
                warnings.append(f"{sub.duplicates} duplicate {derived.name} rows removed")
            dq_frames.append((derived.name, valid.sparkSession.createDataFrame(sub.valid), None))
        phases.done("derived")
        if plan.extras is not None:
            extra_tables, extra_warnings = plan.extras(run, valid, outcome.valid)
            tables.update(extra_tables)
            warnings.extend(extra_warnings)
        phases.done("extras")

        dq_results = [dq.validate(name, frame, known_refs=refs) for name, frame, refs in dq_frames]
        report = _report(run, outcome, reasons, warnings, dq_results, loaded=0)
        for result in dq_results:
            if not result.success:
                dq.write_entity_report(run.report_dir, report)
                dq.raise_on_critical(result)
        phases.done("dq")
    finally:
        parsed.unpersist()
        if classified is not None:
            classified.unpersist()

    quarantine = pa.concat_tables(quarantines)
    loaded_rows = load.load(
        run.database_url,
        load.LoadRequest(
            flow_run_id=run.flow_run_id,
            day=run.day,
            tables=tables,
            quarantine=quarantine,
            quarantine_entities=[run.entity, *(d.name for d in plan.derived)],
            input_files=input_files,
            input_files_entity=run.entity,
            metrics=lambda copied: _metrics(run, plan, outcome, copied, started_at),
        ),
    )
    phases.done("load")
    loaded = loaded_rows[plan.table]
    if loaded != outcome.valid.num_rows or outcome.read != loaded + outcome.quarantined + outcome.duplicates:
        raise RuntimeError(
            f"{run.entity}: counts do not reconcile: read {outcome.read}, loaded {loaded}, "
            f"quarantined {outcome.quarantined}, duplicates {outcome.duplicates}"
        )
    report = _report(run, outcome, reasons, warnings, dq_results, loaded=loaded)
    report_path = dq.write_entity_report(run.report_dir, report)
    phases.done("report")
    all_warnings = [*warnings, *(w for r in dq_results for w in r.warnings)]
    log.info(
        "staged %s: read %d, loaded %d, quarantined %d, duplicates %d; seconds %s",
        run.entity,
        outcome.read,
        loaded,
        outcome.quarantined,
        outcome.duplicates,
        phases.seconds,
    )
    return StageResult(
        entity=run.entity,
        read=outcome.read,
        loaded=loaded,
        quarantined=outcome.quarantined,
        duplicates=outcome.duplicates,
        warnings=all_warnings,
        report_path=str(report_path),
        derived=derived_counts,
        tables=loaded_rows,
        quarantine_reasons=reasons,
        seconds=round(time.perf_counter() - clock, 3),
        phases=phases.seconds,
    )


def _report(
    run: _Run, outcome: _Outcome, reasons: Mapping[str, int], warnings: list[str], results: list, loaded: int
) -> dq.EntityReport:
    primary, *others = results
    extra = [f"{r.entity}: {w}" if not w.startswith(f"{r.entity}:") else w for r in others for w in r.warnings]
    return dq.EntityReport(
        entity=run.entity,
        read=outcome.read,
        valid=outcome.valid.num_rows + outcome.duplicates,
        quarantined=outcome.quarantined,
        duplicates=outcome.duplicates,
        loaded=loaded,
        quarantine_reasons=dict(reasons),
        warnings=[*warnings, *extra],
        dq=primary,
    )


def _metrics(run: _Run, plan: _Plan, outcome: _Outcome, copied: Mapping[str, int], started_at: datetime) -> MetricsRow:
    finished_at = datetime.now(UTC)
    return MetricsRow(
        flow_run_id=run.flow_run_id,
        task_name=f"stage_{run.entity}",
        pipeline_name=PIPELINE_NAME,
        table_name=f"staging.{plan.table}",
        day=run.day,
        status="success",
        rows_read=outcome.read,
        rows_inserted=copied[plan.table],
        rows_skipped=outcome.duplicates,
        rows_quarantined=outcome.quarantined,
        duration_seconds=round((finished_at - started_at).total_seconds(), 3),
        started_at=started_at,
        finished_at=finished_at,
    )


def _skip(run: _Run, plan: _Plan, folder: str, started_at: datetime, clock: float) -> StageResult:
    """An optional entity without a folder: zero counts, and the run's earlier rows of it removed
    (a retry must not keep what an earlier attempt loaded from a folder that is now gone)."""
    empty = _Outcome(
        valid=pa.table({}),
        quarantine=pa.table({c: pa.array([], pa.string()) for c in load.QUARANTINE_COLUMNS}),
        read=0,
        duplicates=0,
        reasons={},
    )
    tables = {t: _empty_table(t) for t in (plan.table, *(d.table for d in plan.derived))}
    copied = load.load(
        run.database_url,
        load.LoadRequest(
            flow_run_id=run.flow_run_id,
            day=run.day,
            tables=tables,
            quarantine=empty.quarantine,
            quarantine_entities=[run.entity, *(d.name for d in plan.derived)],
            input_files=None,
            input_files_entity=run.entity,
            metrics=lambda copied: _metrics(run, plan, empty, copied, started_at),
        ),
    )
    warning = f"{run.entity}: input folder {folder} is missing; entity skipped"
    report = dq.EntityReport(run.entity, 0, 0, 0, 0, 0, {}, [warning], None)
    report_path = dq.write_entity_report(run.report_dir, report)
    return StageResult(
        entity=run.entity,
        read=0,
        loaded=0,
        quarantined=0,
        duplicates=0,
        warnings=[warning],
        report_path=str(report_path),
        tables=copied,
        skipped=True,
        seconds=round(time.perf_counter() - clock, 3),
    )


def _empty_table(table: str) -> pa.Table:
    return pa.table({c: pa.array([], pa.string()) for c in staging_columns(table)})


# -- entry points -----------------------------------------------------------------------------------


def stage_entity(
    spark: SparkSession,
    entity: str,
    *,
    day: str,
    flow_run_id: str,
    input_root: str,
    database_url: str,
    home: Path | str,
    bronze_root: str | None = None,
) -> StageResult:
    """Stage ``entity`` of ``day`` from ``<input_root>/sync-<day>/<entity>/`` for the flow run;
    bronze goes under ``bronze_root`` (a folder or URL; default ``<home>/bronze``)."""
    try:
        stager = STAGERS[entity]
    except KeyError:
        raise ValueError(f"unknown entity {entity!r}; known: {', '.join(STAGERS)}") from None
    return stager(
        spark,
        day=day,
        flow_run_id=flow_run_id,
        input_root=input_root,
        database_url=database_url,
        home=home,
        bronze_root=bronze_root,
    )


def _stager(entity: str) -> Callable[..., StageResult]:
    def stage(
        spark: SparkSession,
        *,
        day: str,
        flow_run_id: str,
        input_root: str,
        database_url: str,
        home: Path | str,
        bronze_root: str | None = None,
    ) -> StageResult:
        return _stage(
            _Run(
                spark,
                entity,
                day,
                flow_run_id,
                str(input_root),
                database_url,
                Path(home),
                bronze_root or bronze.default_root(home),
            )
        )

    stage.__name__ = stage.__qualname__ = f"stage_{entity}"
    stage.__doc__ = f"Stage the day's {entity} (see ``_stage``)."
    return stage


stage_agents = _stager("agents")
stage_agent_details = _stager("agent_details")
stage_roles = _stager("roles")
stage_admin_groups = _stager("admin_groups")
stage_budgets = _stager("budgets")
stage_cards = _stager("cards")
stage_transactions = _stager("transactions")

STAGERS: dict[str, Callable[..., StageResult]] = {
    "agents": stage_agents,
    "agent_details": stage_agent_details,
    "roles": stage_roles,
    "admin_groups": stage_admin_groups,
    "budgets": stage_budgets,
    "cards": stage_cards,
    "transactions": stage_transactions,
}
