"""Staging one entity of one day: read + bronze -> classify (validate, de-duplicate) -> derive ->
check quality -> load + reconcile -> report, and the counts that prove nothing was dropped.

``stage_entity`` wires those phases over the entity's plan (``plans.PLANS``: its transform, rules,
key, derived tables) for one task of a flow run (its ``RunContext``) and the run's
``StagingSettings``. The SparkSession is passed in and shared by the flow run's tasks; nothing here
creates, configures or stops one.

Spark work is arranged so each file is read and cut into records once: the split rows are persisted
and counting them per file fills that cache; the bronze write then runs from it in a background
thread while the records are classified, derived and checked (its error is the step's), after
Delta's replay of the table's log, started in another with the step. The
classified frame (every record with its status — valid, duplicate, quarantined — and reason) is
computed from it once and persisted; counts, the derived tables and data quality are small reads of
that cache (a small frame's checks run on the driver, see ``dq``, and the driver copies the rows it
collected for them in the commit), and the executors COPY the valid rows of larger tables and the
quarantined rows straight into Postgres (a few quarantined rows of bounded size are collected and
copied by the driver too). The driver holds counts, one row per input file and at most
``StagingSettings.driver_rows`` rows of a table to check and copy (50,000 by default), never the
records of a large entity. A small entity's derived ids are looked up on the driver too (their
distinct values, gathered by the tally).
The split rows leave the cache once both classification and the bronze write have read them.
Bronze is written whether or not the step then fails (a step waits for its background work before
it ends): it holds the input as read, which is most useful precisely when a critical expectation
fails the step. The executors COPY while it ends, and the load is committed only once it has: no
staging row is committed for a day bronze lacks (a bronze write that fails has the copied rows
removed).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial, reduce
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from zluri_metrics import MetricsRow, RunContext
from zluri_staging import bronze, dq, load, read, report, rules, transforms
from zluri_staging.classify import STATUS, Tally, classify, latest_first, quarantine_rows, tally, valid_rows
from zluri_staging.derived import DerivedTable
from zluri_staging.fx import FxSettings
from zluri_staging.plans import Plan, plan_for
from zluri_staging.read import MissingEntityError
from zluri_staging.rules import REASON
from zluri_staging.schemas import ENTITIES, staging_columns

log = logging.getLogger(__name__)

T = TypeVar("T")

REASONS_LISTED = 20  # quarantine reasons a derived table's warning line names

# Quarantined rows of at most this much raw text (and at most ``driver_rows`` of them) are collected
# and copied by the driver: a COPY job of their own took 0.1-0.3 s of a small entity's step.
QUARANTINE_DRIVER_BYTES = 16 << 20
SCHEDULER_POOL = "spark.scheduler.pool"  # the local property naming a thread's fair-scheduling pool

# Bronze's log replay and write run beside the step, a thread each (a run stages a few entities at
# once); a write waits for its replay, submitted before it.
_BACKGROUND = ThreadPoolExecutor(max_workers=8, thread_name_prefix="zluri-bronze")

__all__ = ["DerivedCounts", "MissingEntityError", "StageResult", "StagingSettings", "stage_entity"]


@dataclass(frozen=True)
class StagingSettings:
    """Where a run's staging reads, writes and reports: built at the edge and passed in."""

    input_root: str  # holds sync-<day>/<entity>/ (a folder or a URL Spark reads)
    database_url: str = field(repr=False)
    home: Path  # reports under <home>/reports
    bronze_root: str | None = None  # a folder or URL; default <home>/bronze
    fx: FxSettings | None = None  # default: the ECB history held under <home>
    # a table of at most this many rows is checked and copied by the driver (see _check_quality)
    driver_rows: int = dq.DRIVER_ROWS


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


# -- the run being staged --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Run:
    spark: SparkSession
    entity: str
    ctx: RunContext
    settings: StagingSettings
    _ids: dict[str, DataFrame] = field(default_factory=dict, compare=False, repr=False)
    _cached: list[DataFrame] = field(default_factory=list, compare=False, repr=False)
    _background: dict[Future[Any], str] = field(default_factory=dict, compare=False, repr=False)  # what each does

    @property
    def day(self) -> str:
        return self.ctx.day

    @property
    def flow_run_id(self) -> str:
        return self.ctx.flow_run_id

    @property
    def input_root(self) -> str:
        return self.settings.input_root

    @property
    def database_url(self) -> str:
        return self.settings.database_url

    @property
    def bronze_root(self) -> str:
        return self.settings.bronze_root or bronze.default_root(self.settings.home)

    @property
    def fx(self) -> FxSettings:
        return self.settings.fx or FxSettings(home=Path(self.settings.home).resolve())

    @property
    def report_dir(self) -> Path:
        return Path(self.settings.home) / "reports" / self.day / self.flow_run_id

    def ids_frame(self, reference: str) -> DataFrame:
        """The ids ``reference`` names in this run, read by an executor (once per stage call)."""
        if reference not in self._ids:
            frame = load.reference_frame(self.spark, self.database_url, reference, self.flow_run_id)
            self._ids[reference] = frame.persist(StorageLevel.MEMORY_AND_DISK)
        return self._ids[reference]

    def known_ids(self, reference: str) -> dq.KnownIds:
        """The ids ``reference`` names in this run, for data quality: the frame, or a lookup."""
        return _KnownIds(self, reference)

    def cache(self, frame: DataFrame) -> DataFrame:
        """``frame`` persisted until the run is released. What does not fit in memory spills to
        disk: memory stays bounded whatever the day's size."""
        self._cached.append(frame.persist(StorageLevel.MEMORY_AND_DISK_DESER))
        return self._cached[-1]

    def in_background(self, what: str, work: Callable[..., T], *args: Any, **kwargs: Any) -> Future[T]:
        """``work`` (``what`` it does, for the log) started in a thread beside the step; ``release``
        waits for it."""
        future = _BACKGROUND.submit(work, *args, **kwargs)
        self._background[future] = what
        return future

    def release(self, raised: BaseException | None = None) -> None:
        """Wait for the background work (never left running behind a failed step), then drop the
        cached frames. A background error other than the one the step raises (it failed elsewhere
        first) is logged, not lost."""
        wait(self._background)
        for future, what in self._background.items():
            error = future.exception()
            if error is not None and error is not raised:
                log.error("%s: the %s failed as well: %s", self.entity, what, _summary(error))
        for frame in [*self._cached, *self._ids.values()]:
            frame.unpersist()


@dataclass(frozen=True)
class _KnownIds:
    run: _Run
    reference: str

    def frame(self) -> DataFrame:
        return self.run.ids_frame(self.reference)

    def unknown(self, values: Collection[Any]) -> set[Any]:
        return load.unknown_ids(self.run.database_url, self.reference, self.run.flow_run_id, values)


def _summary(error: BaseException) -> str:
    """An error's message without a JVM stack trace. Py4J's first line names only the call that
    failed ("An error occurred while calling o123.save."); the Java exception's own line follows."""
    lines = [line.strip(": \t") for line in str(error).splitlines() if line.strip() and not line.startswith("\tat ")]
    return " ".join(lines[:2]) or type(error).__name__


class _Clock:
    """When the step started, and wall-clock seconds per phase (for the log and the StageResult)."""

    def __init__(self) -> None:
        self.started_at = datetime.now(UTC)
        self.start = self._last = time.perf_counter()
        self.seconds: dict[str, float] = {}

    def done(self, phase: str) -> None:
        now = time.perf_counter()
        self.seconds[phase] = round(self.seconds.get(phase, 0.0) + now - self._last, 3)
        self._last = now

    def total(self) -> float:
        return round(time.perf_counter() - self.start, 3)


@dataclass
class _Staged:
    """What the phases hand each other."""

    tally: Tally
    tables: dict[str, DataFrame] = field(default_factory=dict)
    expected: dict[str, int] = field(default_factory=dict)
    quarantines: list[DataFrame] = field(default_factory=list)
    quarantined_total: int = 0
    quarantined_bytes: int = 0  # of their raw text
    reasons: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    derived: dict[str, DerivedCounts] = field(default_factory=dict)
    checks: list[_Check] = field(default_factory=list)
    small_tables: dict[str, pa.Table] = field(default_factory=dict)  # copied by the driver in the commit


@dataclass(frozen=True)
class _Check:
    """A table data quality checks: its suite, its staging table, the clean frame (with the columns
    its suite computes), its rows (counted already) and the ids its references may name."""

    suite: str
    table: str
    frame: DataFrame
    rows: int
    refs: dict[str, dq.KnownIds] | None = None


@dataclass(frozen=True)
class _Classified:
    frame: DataFrame  # every record with its status and reason, cached
    tally: Tally


@dataclass(frozen=True)
class _Read:
    parsed: DataFrame  # the split rows, cached
    records: DataFrame
    input_files: pa.Table  # one row per input file: entity, source_file, sha256, records
    bronze: Future[str]  # the bronze write, running until the commit waits for it; its error is the step's
    surveyed: pa.Table | None = None  # the rows of the plan's survey
    partitions: int = 1  # of the split rows


# -- the entry point -------------------------------------------------------------------------------


def stage_entity(spark: SparkSession, entity: str, ctx: RunContext, settings: StagingSettings) -> StageResult:
    """Stage ``entity`` of the context's day from ``<input_root>/sync-<day>/<entity>/`` for the
    context's flow run and task."""
    plan = plan_for(entity)
    run = _Run(spark, entity, ctx, settings)
    clock = _Clock()
    # This thread's jobs share the executors fairly with other entities' (a pool of the entity's own).
    spark.sparkContext.setLocalProperty(SCHEDULER_POOL, entity)
    try:
        read_in = _read_and_bronze(run, plan)
        if read_in is None:  # nothing was started or cached
            return _skip(run, plan, clock)
        clock.done("read")
        classified = _classify(run, plan, read_in)
        clock.done("validate")
        staged = _derive(run, plan, classified)
        clock.done("derived")
        checks = _check_quality(run, staged)
        clock.done("dq")
        loaded = _load_and_reconcile(run, plan, staged, read_in, clock)
    except BaseException as error:
        run.release(raised=error)
        raise
    finally:
        spark.sparkContext.setLocalProperty(SCHEDULER_POOL, None)  # type: ignore[arg-type]  # unset
    run.release()
    return _report(run, plan, staged, checks, loaded, clock)


# -- the phases ------------------------------------------------------------------------------------


def _read_and_bronze(run: _Run, plan: Plan) -> _Read | None:
    """Read and cut the entity's files once (counting them per file fills the cache), check that
    every listed file was read, and start the bronze write from the cache beside classification.
    None for an optional entity without a folder."""
    entity_input = read.read_entity(run.spark, run.entity, day=run.day, input_root=run.input_root)
    if entity_input is None:
        folder = read.entity_dir(run.input_root, run.day, run.entity)
        if ENTITIES[run.entity].required:
            raise MissingEntityError(folder, run.entity, run.day)
        log.warning("%s: folder %s is missing; skipping the optional entity", run.entity, folder)
        return None
    # Delta's replace of a day of a few records takes about 1 s, most of it the driver's planning, the
    # replay of the table's log and the commit rather than the executors. A day written before is
    # replaced: its replay starts now, beside the read. A new day is appended, without one.
    prepared = run.in_background(
        "bronze preparation", bronze.prepare_write, run.spark, root=run.bronze_root, entity=run.entity, day=run.day
    )
    parsed = run.cache(entity_input.parsed)
    # Of every record cut (an unreadable file's too): the plan's survey only sizes what it fetches.
    survey = plan.survey(read.records(parsed, ()).transform(plan.transform)) if plan.survey else None
    # The first action: reads and cuts the files once, filling the cache, and surveys the records.
    input_files, surveyed = read.first_pass(parsed, run.entity, survey)
    records = read.records(parsed, read.unreadable_files(input_files))
    # The write itself follows the replay and runs while the records are classified; it is waited for
    # before the cache goes.
    # Started before the listing check: bronze holds what was read even of a day whose listing does
    # not add up.
    written = run.in_background(
        "bronze write",
        _after,
        prepared,
        bronze.write_bronze,
        records,
        root=run.bronze_root,
        entity=run.entity,
        day=run.day,
        flow_run_id=run.flow_run_id,
        day_lock=partial(load.advisory_lock, run.database_url, bronze.lock_name(run.bronze_root, run.entity, run.day)),
    )
    read.check_accounted(entity_input.listed, input_files["source_file"].to_pylist(), run.entity)
    return _Read(parsed, records, input_files, written, surveyed, entity_input.partitions)


def _after(first: Future[Any], work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``work`` once ``first`` (background work started earlier) is done."""
    first.result()
    return work(*args, **kwargs)


def _classify(run: _Run, plan: Plan, read_in: _Read) -> _Classified:
    """Transform, enrich and classify every record (valid, duplicate, quarantined), then count them
    and check the count against the records the reader cut."""
    records, parsed_count = read_in.records, _parsed_count(read_in.input_files)
    # A few records are classified in one partition, and the ids they name gathered in the tally's
    # pass, to be looked up on the driver.
    small = parsed_count <= load.ONE_TASK_ROWS
    if small:
        records = records.coalesce(1)
    typed = records.transform(plan.transform)
    if not small and read_in.partitions == 1:
        # A day of one file (up to read.LARGE_FILE_BYTES) is cut by one task, and one partition needs
        # no shuffle for the classification's window: everything after the read ran in that task, on
        # one core. Spread by key, as the window wants its rows (more partitions are shuffled there).
        typed = typed.repartition(*(F.col(key) for key in plan.keys))
    if plan.enrich is not None:
        typed = plan.enrich(run, typed, read_in.surveyed)
    # Only what loading, quarantine, derived tables and DQ need is cached; not the raw text of rows
    # that pass.
    classified = run.cache(
        classify(typed, rules.reasons_of(plan.rule_list), plan.keys, _records_order(plan)).select(
            *[c for c in staging_columns(plan.table) if c != "source_file"],
            "source_file",
            "position",
            *(d.ids for d in plan.derived),
            F.when(F.col(REASON).isNotNull(), F.col("raw_record")).alias("raw_record"),
            REASON,
            STATUS,
        )
    )
    gathered = {d.name: transforms.named_ids(d) for d in plan.derived} if small else None
    counts = tally(classified, plan.listed() if plan.listed else None, gathered)
    if parsed_count != counts.read:
        raise RuntimeError(f"{run.entity}: {parsed_count} records were read but {counts.read} classified")
    # The split rows leave the cache once the bronze write, still running, has read them too.
    read_in.bronze.add_done_callback(lambda _: read_in.parsed.unpersist())
    return _Classified(classified, counts)


def _records_order(plan: Plan) -> list[Column]:
    updated = "updated_at" if "updated_at" in staging_columns(plan.table) else None
    return latest_first(updated)


def _parsed_count(input_files: pa.Table) -> int:
    """Records the cutter found (a good file's count) plus one per unreadable file: counted while
    reading, independently of classification."""
    counts = input_files["records"].to_pylist()
    return sum(n for n in counts if n is not None) + sum(1 for n in counts if n is None)


def _derive(run: _Run, plan: Plan, classified: _Classified) -> _Staged:
    """The entity's staging rows, the tables derived from its valid records (agent roles,
    memberships) and the small tables the tally listed (the rates used)."""
    counts, valid = classified.tally, valid_rows(classified.frame)
    primary = transforms.staging_frame(valid, plan.table)
    staged = _Staged(
        tally=counts,
        tables={plan.table: primary},
        expected={plan.table: counts.valid},
        quarantines=[quarantine_rows(classified.frame, run.entity)],
        quarantined_total=counts.quarantined,
        quarantined_bytes=counts.quarantined_bytes,
        reasons=dict(counts.reasons),
        checks=[
            _Check(
                run.entity,
                plan.table,
                plan.dq_view(primary) if plan.dq_view else primary,
                counts.valid,
                plan.dq_refs(run) if plan.dq_refs else None,
            )
        ],
    )
    for derived in plan.derived:
        _derive_table(run, derived, valid, staged)
    staged.small_tables = dict(counts.listed)
    return staged


def _derive_table(run: _Run, derived: DerivedTable, valid: DataFrame, staged: _Staged) -> None:
    """One derived table: exploded from the valid rows, checked against the ids it names, counted."""
    candidates = _flagged(run, derived, transforms.explode_ids(derived, valid), staged.tally.gathered.get(derived.name))
    reasons = rules.reasons_of(rules.reference_rules, derived)
    classified = run.cache(classify(candidates, reasons, derived.keys, latest_first(None)))
    sub = tally(classified)
    sub_valid = transforms.staging_frame(valid_rows(classified), derived.table)
    staged.tables[derived.table] = sub_valid
    staged.expected[derived.table] = sub.valid
    staged.quarantines.append(quarantine_rows(classified, derived.name))
    staged.quarantined_total += sub.quarantined
    staged.quarantined_bytes += sub.quarantined_bytes
    staged.derived[derived.name] = DerivedCounts(derived.table, sub.read, sub.valid, sub.quarantined, sub.duplicates)
    staged.reasons.update({f"{derived.name}: {k}": v for k, v in sub.reasons.items()})
    if sub.quarantined:
        staged.warnings.append(
            f"{sub.quarantined} {derived.name} rows quarantined: "
            + "; ".join(f"{k} ({v})" for k, v in list(sub.reasons.items())[:REASONS_LISTED])
        )
    if sub.duplicates:
        staged.warnings.append(f"{sub.duplicates} duplicate {derived.name} rows removed")
    staged.checks.append(_Check(derived.name, derived.table, sub_valid, sub.valid))


def _flagged(run: _Run, derived: DerivedTable, exploded: DataFrame, named: list[Any] | None) -> DataFrame:
    """The exploded rows, flagged by whether their id names a known one. The ids a few records name
    (``named``, gathered by the tally) are looked up on the driver in one query: no reader job, no
    broadcast. More records' are joined on Spark with the known ids, which never pass through the
    driver."""
    known = run.known_ids(derived.reference)
    if named is None:
        return transforms.flag_known(exploded, known.frame(), derived.column, derived.flag)
    return transforms.flag_unknown(exploded, derived.column, derived.flag, known.unknown(named))


def _check_quality(run: _Run, staged: _Staged) -> list[dq.EntityDQ]:
    """Data-quality suites of the entity and its derived tables; a critical failure is written to
    the entity's report, then raised. A table of a few rows is collected once: its suite runs on the
    driver, and the driver copies the same rows in the commit (no COPY job of its own)."""
    results = []
    for check in staged.checks:
        collected = None
        small = check.rows <= run.settings.driver_rows
        if small:
            collected = check.frame.toArrow()
            staged.small_tables[check.table] = collected.select(staging_columns(check.table))
            del staged.tables[check.table]
        results.append(
            dq.validate(
                check.suite, check.frame, known_refs=check.refs, rows=check.rows, on_driver=small, collected=collected
            )
        )
    for result in results:
        if not result.success:
            report.write_entity_report(run.report_dir, _entity_report(run, staged, results, loaded=0))
            dq.raise_on_critical(result)
    return results


def _load_and_reconcile(run: _Run, plan: Plan, staged: _Staged, read_in: _Read, clock: _Clock) -> dict[str, int]:
    """COPY the larger tables from the executors while the bronze write ends, commit the load once bronze
    holds the day, and check that the entity's records reconcile: read = loaded + quarantined +
    duplicates."""
    counts = staged.tally
    request = load.LoadRequest(
        flow_run_id=run.flow_run_id,
        day=run.day,
        entity=run.entity,
        tables=staged.tables,
        quarantine=_quarantine(run, staged),
        quarantine_entities=[run.entity, *(d.name for d in plan.derived)],
        input_files=read_in.input_files,
        metrics=lambda copied: _metrics(run, plan, counts, copied, clock.started_at),
        expected={**staged.expected, load.QUARANTINE_TABLE: staged.quarantined_total},
        small_tables=staged.small_tables,
    )
    copied = load.copy_tables(run.database_url, request)
    clock.done("copy")
    try:
        read_in.bronze.result()  # bronze holds the day before its staging rows are committed
    except BaseException:
        load.discard(run.database_url, request)
        raise
    clock.done("bronze")
    loaded_rows = load.commit(run.database_url, request.commit(), copied)
    clock.done("commit")
    loaded = loaded_rows[plan.table]
    if counts.read != loaded + counts.quarantined + counts.duplicates:
        raise RuntimeError(
            f"{run.entity}: counts do not reconcile: read {counts.read}, loaded {loaded}, "
            f"quarantined {counts.quarantined}, duplicates {counts.duplicates}"
        )
    return loaded_rows


def _quarantine(run: _Run, staged: _Staged) -> DataFrame | pa.Table:
    """The quarantined rows of the entity and its derived tables: collected here when they are few
    and small (the driver copies them in the commit, without a COPY job of their own), else a frame
    the executors copy. A malformed record's raw text can be large, so the bound is on bytes too."""
    rows = reduce(DataFrame.unionByName, staged.quarantines)
    few = 0 < staged.quarantined_total <= run.settings.driver_rows
    if few and staged.quarantined_bytes <= QUARANTINE_DRIVER_BYTES:
        return rows.toArrow()  # quarantine_rows' columns, as load copies them
    return rows


def _report(
    run: _Run, plan: Plan, staged: _Staged, checks: list[dq.EntityDQ], loaded_rows: dict[str, int], clock: _Clock
) -> StageResult:
    """Write the entity's report and log and return its counts."""
    counts, loaded = staged.tally, loaded_rows[plan.table]
    report_path = report.write_entity_report(run.report_dir, _entity_report(run, staged, checks, loaded=loaded))
    clock.done("report")
    log.info(
        "staged %s: read %d, loaded %d, quarantined %d, duplicates %d; seconds %s",
        run.entity,
        counts.read,
        loaded,
        counts.quarantined,
        counts.duplicates,
        clock.seconds,
    )
    return StageResult(
        entity=run.entity,
        read=counts.read,
        loaded=loaded,
        quarantined=counts.quarantined,
        duplicates=counts.duplicates,
        warnings=[*staged.warnings, *(w for r in checks for w in r.warnings)],
        report_path=str(report_path),
        derived=staged.derived,
        tables=loaded_rows,
        quarantine_reasons=staged.reasons,
        seconds=clock.total(),
        phases=clock.seconds,
    )


def _entity_report(run: _Run, staged: _Staged, results: list[dq.EntityDQ], loaded: int) -> report.EntityReport:
    primary, *others = results
    extra = [f"{r.entity}: {w}" if not w.startswith(f"{r.entity}:") else w for r in others for w in r.warnings]
    counts = staged.tally
    return report.EntityReport(
        entity=run.entity,
        read=counts.read,
        valid=counts.valid + counts.duplicates,
        quarantined=counts.quarantined,
        duplicates=counts.duplicates,
        loaded=loaded,
        quarantine_reasons=dict(staged.reasons),
        warnings=[*staged.warnings, *extra],
        dq=primary,
        derived_dq=list(others),
    )


def _metrics(run: _Run, plan: Plan, counts: Tally, copied: Mapping[str, int], started_at: datetime) -> MetricsRow:
    finished_at = datetime.now(UTC)
    return MetricsRow(
        flow_run_id=run.flow_run_id,
        task_name=run.ctx.task_name,
        pipeline_name=run.ctx.pipeline_name,
        table_name=f"staging.{plan.table}",
        day=run.day,
        status="success",
        rows_read=counts.read,
        rows_inserted=copied[plan.table],
        rows_skipped=counts.duplicates,
        rows_quarantined=counts.quarantined,
        duration_seconds=round((finished_at - started_at).total_seconds(), 3),
        started_at=started_at,
        finished_at=finished_at,
    )


def _skip(run: _Run, plan: Plan, clock: _Clock) -> StageResult:
    """An optional entity without a folder: zero counts, and the run's earlier rows of it removed
    (a retry must not keep what an earlier attempt loaded from a folder that is now gone)."""
    empty = Tally(read=0, valid=0, duplicates=0, quarantined=0, reasons={})
    copied = load.commit(
        run.database_url,
        load.Commit(
            flow_run_id=run.flow_run_id,
            day=run.day,
            entity=run.entity,
            tables=[plan.table, *(d.table for d in plan.derived)],
            quarantine_entities=[run.entity, *(d.name for d in plan.derived)],
            input_files=None,
            metrics=lambda copied: _metrics(run, plan, empty, copied, clock.started_at),
        ),
        copied={},
    )
    folder = read.entity_dir(run.input_root, run.day, run.entity)
    warning = f"{run.entity}: input folder {folder} is missing; entity skipped"
    report_path = report.write_entity_report(
        run.report_dir, report.EntityReport(run.entity, 0, 0, 0, 0, 0, {}, [warning], None)
    )
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
        seconds=clock.total(),
    )
