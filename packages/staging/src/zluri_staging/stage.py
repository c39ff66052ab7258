"""Staging one entity of one day: read -> transform -> validate (split) -> de-duplicate -> data
quality -> bronze -> load, and the counts that prove nothing was dropped.

``stage_entity`` dispatches to ``stage_<entity>``; each builds a plan (its transform, rules, key,
derived tables) and runs the one composition ``_stage``. The SparkSession is passed in and shared
by the flow run's tasks; nothing here creates, configures or stops one.

Spark work is arranged so each file is read and cut into records once: the split rows are persisted
and the bronze write fills that cache; the classified frame (every record with its status — valid,
duplicate, quarantined — and reason) is computed from it once and persisted; counts, the derived
tables, the FX checks and data quality are small reads of that cache, and the executors COPY the
valid and quarantined rows straight into Postgres. The driver holds counts, a few sample ids and
one row per input file, never the records.
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
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from zluri_metrics import MetricsRow
from zluri_staging import bronze, dq, fx, load, read, rules, transforms
from zluri_staging.dedupe import RANK, latest_first
from zluri_staging.read import MissingEntityError
from zluri_staging.rules import REASON, Rule
from zluri_staging.schemas import ENTITIES, QUARANTINE, STAGING, staging_columns

log = logging.getLogger(__name__)

PIPELINE_NAME = "zluri_day_pipeline"
STATUS = "_stage_status"
VALID, DUPLICATE, QUARANTINED = "valid", "duplicate", "quarantined"
SAMPLE_IDS = 20  # ids named in a warning line; the report's lists hold all of them

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
        """The ids ``reference`` names in this run, read by an executor (once per stage call)."""
        if reference not in self._ids:
            frame = load.reference_frame(self.spark, self.database_url, reference, self.flow_run_id)
            self._ids[reference] = frame.persist(StorageLevel.MEMORY_AND_DISK)
        return self._ids[reference]

    def release(self) -> None:
        for frame in self._ids.values():
            frame.unpersist()


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
    # small extra tables and warnings from the valid rows
    extras: Callable[[_Run, DataFrame], tuple[dict[str, pa.Table], list[str]]] | None = None
    dq_refs: Callable[[_Run], dict[str, DataFrame]] | None = None


def _enrich_transactions(run: _Run, typed: DataFrame) -> DataFrame:
    converted = fx.with_usd_amounts(typed, fx.batch_rates(run.spark, typed, fx.FxSettings.from_env()))
    with_cards = transforms.flag_known(converted, run.ids_frame("cards"), "card_id", "card_known")
    return transforms.flag_known(with_cards, run.ids_frame("budgets"), "budget_id", "budget_known")


def _sample_ids(rows: DataFrame, column: str) -> tuple[int, list[str]]:
    """How many rows, and the first distinct values of ``column`` among them (a bounded sample)."""
    count = rows.count()
    if not count:
        return 0, []
    ids = rows.select(F.col(column).cast("string")).distinct().orderBy(column).limit(SAMPLE_IDS + 1).collect()
    return count, [r[0] for r in ids]


def _listed(ids: list[str]) -> str:
    return ", ".join(ids[:SAMPLE_IDS]) + (" ..." if len(ids) > SAMPLE_IDS else "")


def _transaction_extras(run: _Run, valid: DataFrame) -> tuple[dict[str, pa.Table], list[str]]:
    warnings = []
    for column, flag, what in (("card_id", "card_known", "card"), ("budget_id", "budget_known", "budget")):
        count, ids = _sample_ids(valid.where(F.col(flag) == F.lit(False)), column)
        if count:
            warnings.append(f"{count} transactions reference an unknown {what} (kept): {column} {_listed(ids)}")
    count, ids = _sample_ids(fx.usd_disagreements(valid), "transaction_id")
    if count:
        warnings.append(
            f"{count} transactions: feed USD amount differs from ours by more than 2%: transaction_id {_listed(ids)}"
        )
    # One row per currency and day used: a handful, so the driver copies it in the commit.
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
class _Tally:
    """Counts of one classified frame by status, and quarantine reasons."""

    read: int
    valid: int
    duplicates: int
    quarantined: int
    reasons: dict[str, int]


def _tally(classified: DataFrame) -> _Tally:
    """One small action on the (cached) classified frame: counts by status and reason."""
    counts = {VALID: 0, DUPLICATE: 0, QUARANTINED: 0}
    reasons: dict[str, int] = {}
    for row in classified.groupBy(STATUS, REASON).count().collect():
        counts[row[STATUS]] += row["count"]
        if row[STATUS] == QUARANTINED:
            reasons[row[REASON]] = row["count"]
    return _Tally(
        read=sum(counts.values()),
        valid=counts[VALID],
        duplicates=counts[DUPLICATE],
        quarantined=counts[QUARANTINED],
        reasons=dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
    )


def _quarantine_rows(classified: DataFrame, entity: str) -> DataFrame:
    return classified.where(F.col(STATUS) == QUARANTINED).select(
        F.lit(entity).alias("entity"), "source_file", F.col(REASON).alias("reason"), "raw_record"
    )


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


def _parsed_count(input_files: pa.Table) -> int:
    """Records the cutter found (a good file's count) plus one per unreadable file: counted while
    reading, independently of classification."""
    counts = input_files["records"].to_pylist()
    return sum(n for n in counts if n is not None) + sum(1 for n in counts if n is None)


@dataclass
class _Staged:
    """What the phases hand each other."""

    tally: _Tally
    tables: dict[str, DataFrame] = field(default_factory=dict)
    expected: dict[str, int] = field(default_factory=dict)
    quarantines: list[DataFrame] = field(default_factory=list)
    quarantined_total: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    derived: dict[str, DerivedCounts] = field(default_factory=dict)
    dq_frames: list[tuple[str, DataFrame, dict[str, DataFrame] | None]] = field(default_factory=list)
    small_tables: dict[str, pa.Table] = field(default_factory=dict)


def _derive(run: _Run, plan: _Plan, valid: DataFrame, staged: _Staged, cached: list[DataFrame]) -> None:
    """Derived tables (agent roles, memberships): exploded from the valid rows, checked, counted."""
    for derived in plan.derived:
        candidates = transforms.flag_known(
            derived.explode(valid), run.ids_frame(derived.reference), derived.column, derived.flag
        )
        classified = classify(candidates, derived.rule_list(), derived.keys, latest_first(None)).persist(
            StorageLevel.MEMORY_AND_DISK_DESER
        )
        cached.append(classified)
        sub = _tally(classified)
        sub_valid = transforms.staging_frame(classified.where(F.col(STATUS) == VALID), derived.table)
        staged.tables[derived.table] = sub_valid
        staged.expected[derived.table] = sub.valid
        staged.quarantines.append(_quarantine_rows(classified, derived.name))
        staged.quarantined_total += sub.quarantined
        staged.derived[derived.name] = DerivedCounts(
            derived.table, sub.read, sub.valid, sub.quarantined, sub.duplicates
        )
        staged.reasons.update({f"{derived.name}: {k}": v for k, v in sub.reasons.items()})
        if sub.quarantined:
            staged.warnings.append(
                f"{sub.quarantined} {derived.name} rows quarantined: "
                + "; ".join(f"{k} ({v})" for k, v in list(sub.reasons.items())[:SAMPLE_IDS])
            )
        if sub.duplicates:
            staged.warnings.append(f"{sub.duplicates} duplicate {derived.name} rows removed")
        staged.dq_frames.append((derived.name, sub_valid, None))


def _stage(run: _Run) -> StageResult:
    plan = _PLANS[run.entity]
    spec = ENTITIES[run.entity]
    started_at = datetime.now(UTC)
    clock = time.perf_counter()
    phases = _Phases()
    entity_input = read.read_entity(run.spark, run.entity, day=run.day, input_root=run.input_root)
    if entity_input is None:
        folder = read.entity_dir(run.input_root, run.day, run.entity)
        if spec.required:
            raise MissingEntityError(folder, run.entity, run.day)
        log.warning("%s: folder %s is missing; skipping the optional entity", run.entity, folder)
        return _skip(run, plan, folder, started_at, clock)

    # What does not fit in memory spills to disk: memory stays bounded whatever the day's size.
    parsed = entity_input.parsed.persist(StorageLevel.MEMORY_AND_DISK_DESER)
    cached: list[DataFrame] = [parsed]
    try:
        records = read.records(parsed)
        # The first action: reads and cuts the files once, filling the cache.
        bronze.write_bronze(records, root=run.bronze_root, entity=run.entity, day=run.day, flow_run_id=run.flow_run_id)
        input_files = read.input_files(parsed, run.entity).toArrow()
        read.check_accounted(entity_input.listed, input_files["source_file"].to_pylist(), run.entity)
        phases.done("read+bronze")
        typed = records.transform(plan.transform)
        if plan.enrich is not None:
            typed = plan.enrich(run, typed)
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
        cached.append(classified)
        tally = _tally(classified)
        parsed_count = _parsed_count(input_files)
        if parsed_count != tally.read:
            raise RuntimeError(f"{run.entity}: {parsed_count} records were read but {tally.read} classified")
        parsed.unpersist()
        phases.done("validate")
        valid = classified.where(F.col(STATUS) == VALID)
        primary = transforms.staging_frame(valid, plan.table)
        staged = _Staged(
            tally=tally,
            tables={plan.table: primary},
            expected={plan.table: tally.valid},
            quarantines=[_quarantine_rows(classified, run.entity)],
            quarantined_total=tally.quarantined,
            reasons=dict(tally.reasons),
            dq_frames=[(run.entity, primary, plan.dq_refs(run) if plan.dq_refs else None)],
        )
        _derive(run, plan, valid, staged, cached)
        if plan.extras is not None:
            staged.small_tables, extra_warnings = plan.extras(run, valid)
            staged.warnings.extend(extra_warnings)
        phases.done("derived")

        dq_results = [dq.validate(name, frame, known_refs=refs) for name, frame, refs in staged.dq_frames]
        for result in dq_results:
            if not result.success:
                dq.write_entity_report(run.report_dir, _report(run, staged, dq_results, loaded=0))
                dq.raise_on_critical(result)
        phases.done("dq")

        quarantine = staged.quarantines[0]
        for extra in staged.quarantines[1:]:
            quarantine = quarantine.unionByName(extra)
        loaded_rows = load.load(
            run.database_url,
            load.LoadRequest(
                flow_run_id=run.flow_run_id,
                day=run.day,
                entity=run.entity,
                tables=staged.tables,
                quarantine=quarantine,
                quarantine_entities=[run.entity, *(d.name for d in plan.derived)],
                input_files=input_files,
                metrics=lambda copied: _metrics(run, plan, tally, copied, started_at),
                expected={**staged.expected, load.QUARANTINE_TABLE: staged.quarantined_total},
                small_tables=staged.small_tables,
            ),
        )
        phases.done("load")
    finally:
        for frame in cached:
            frame.unpersist()
        run.release()

    loaded = loaded_rows[plan.table]
    if tally.read != loaded + tally.quarantined + tally.duplicates:
        raise RuntimeError(
            f"{run.entity}: counts do not reconcile: read {tally.read}, loaded {loaded}, "
            f"quarantined {tally.quarantined}, duplicates {tally.duplicates}"
        )
    report_path = dq.write_entity_report(run.report_dir, _report(run, staged, dq_results, loaded=loaded))
    phases.done("report")
    all_warnings = [*staged.warnings, *(w for r in dq_results for w in r.warnings)]
    log.info(
        "staged %s: read %d, loaded %d, quarantined %d, duplicates %d; seconds %s",
        run.entity,
        tally.read,
        loaded,
        tally.quarantined,
        tally.duplicates,
        phases.seconds,
    )
    return StageResult(
        entity=run.entity,
        read=tally.read,
        loaded=loaded,
        quarantined=tally.quarantined,
        duplicates=tally.duplicates,
        warnings=all_warnings,
        report_path=str(report_path),
        derived=staged.derived,
        tables=loaded_rows,
        quarantine_reasons=staged.reasons,
        seconds=round(time.perf_counter() - clock, 3),
        phases=phases.seconds,
    )


def _report(run: _Run, staged: _Staged, results: list, loaded: int) -> dq.EntityReport:
    primary, *others = results
    extra = [f"{r.entity}: {w}" if not w.startswith(f"{r.entity}:") else w for r in others for w in r.warnings]
    tally = staged.tally
    return dq.EntityReport(
        entity=run.entity,
        read=tally.read,
        valid=tally.valid + tally.duplicates,
        quarantined=tally.quarantined,
        duplicates=tally.duplicates,
        loaded=loaded,
        quarantine_reasons=dict(staged.reasons),
        warnings=[*staged.warnings, *extra],
        dq=primary,
        derived_dq=list(others),
    )


def _metrics(run: _Run, plan: _Plan, tally: _Tally, copied: Mapping[str, int], started_at: datetime) -> MetricsRow:
    finished_at = datetime.now(UTC)
    return MetricsRow(
        flow_run_id=run.flow_run_id,
        task_name=f"stage_{run.entity}",
        pipeline_name=PIPELINE_NAME,
        table_name=f"staging.{plan.table}",
        day=run.day,
        status="success",
        rows_read=tally.read,
        rows_inserted=copied[plan.table],
        rows_skipped=tally.duplicates,
        rows_quarantined=tally.quarantined,
        duration_seconds=round((finished_at - started_at).total_seconds(), 3),
        started_at=started_at,
        finished_at=finished_at,
    )


def _skip(run: _Run, plan: _Plan, folder: str, started_at: datetime, clock: float) -> StageResult:
    """An optional entity without a folder: zero counts, and the run's earlier rows of it removed
    (a retry must not keep what an earlier attempt loaded from a folder that is now gone)."""
    empty = _Tally(read=0, valid=0, duplicates=0, quarantined=0, reasons={})
    tables = {t: _empty_frame(run.spark, t) for t in (plan.table, *(d.table for d in plan.derived))}
    copied = load.commit(
        run.database_url,
        load.LoadRequest(
            flow_run_id=run.flow_run_id,
            day=run.day,
            entity=run.entity,
            tables=tables,
            quarantine=_empty_frame(run.spark, None),
            quarantine_entities=[run.entity, *(d.name for d in plan.derived)],
            input_files=None,
            metrics=lambda copied: _metrics(run, plan, empty, copied, started_at),
        ),
        copied={},
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


def _empty_frame(spark: SparkSession, table: str | None) -> DataFrame:
    return spark.createDataFrame([], STAGING[table] if table else QUARANTINE)


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
