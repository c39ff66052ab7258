"""Data-quality validation: an entity's suite (``suites``) run by Great Expectations 1.x on its
clean, de-duplicated Spark frame, and what it found.

A failed CRITICAL expectation makes `raise_on_critical` raise `CriticalExpectationFailed` (the
staging step fails); WARNING ones land in the run report (``report``: the staging step writes its
entity report there, which the run report merges).

GX is slow to import and its data context is not built for concurrent use, so one in-memory
context per process holds the data sources, and every GX call runs under one lock.

A frame of at most ``DRIVER_ROWS`` rows (every entity of a small or M day, the roles of any day) is
brought to the driver in one Spark query and validated there by GX's pandas engine: on Spark, each
level of GX's metric graph is a Spark job of its own (about 0.1 s each, 0.6-1 s a suite), on pandas
the whole suite of a few hundred rows takes a few hundredths of a second, of 20,000 agents a few
tenths. Larger frames are validated by GX's Spark engine on the executors, so the driver never holds
more than that cap. GX's own Data Docs are not built: they load their styles and scripts from public
CDNs and show nothing offline.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from zluri_staging.suites import CRITICAL, UNKNOWN_PREFIX, Check, checks_for, suite_name

if TYPE_CHECKING:
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult,
    )
    from great_expectations.expectations.expectation import Expectation

__all__ = [
    "CriticalExpectationFailed",
    "EntityDQ",
    "ExpectationOutcome",
    "KnownIds",
    "raise_on_critical",
    "suite_for",
    "validate",
    "warm_up",
    "with_unknown_references",
]

# Enough sample values to recognise a problem; GX collects them with one `limit` query each, only for
# the expectations that failed. BASIC gives their counts and a sample of the unexpected values; not
# SUMMARY, whose value counts of that sample cost one more Spark query each and are shown nowhere.
SAMPLE_SIZE = 10
# Frames of at most this many rows are validated on the driver (GX's pandas engine), in tens of MiB.
# An M day's agents, details and agent roles (20,000-33,000 rows) took 0.4-1.6 s less a step each
# on the driver than on Spark (its suites as Spark jobs, then a COPY job), and the M day 47 + 44 s
# instead of 56 + 50 in one hour; an L day's peak memory stayed within its 3 GiB (2.97).
DRIVER_ROWS = 50_000
_RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": SAMPLE_SIZE}
_VERDICT_FORMAT = {"result_format": "BOOLEAN_ONLY"}


def _expectation(check: Check) -> Expectation:
    if "mostly" in check.kwargs:
        # `validate` reads a passed expectation as one with no unexpected row.
        raise ValueError(f"{check.expectation}: checks have no 'mostly'")
    gxe = _gx_expectations()
    notes = {"notes": check.notes} if check.notes is not None else {}
    return getattr(gxe, check.expectation)(
        **copy.deepcopy(dict(check.kwargs)),
        severity=check.severity,
        meta={"problem": check.problem, **check.meta},
        **notes,
    )


def suite_for(entity: str, *, reference_columns: Iterable[str] = ()) -> Any:
    """The GX ExpectationSuite of `entity`, plus a known-reference warning per reference column."""
    gx = _gx()
    checks = checks_for(entity, reference_columns=reference_columns)
    return gx.ExpectationSuite(name=suite_name(entity), expectations=[_expectation(c) for c in checks])


# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation of one validation, as the report shows it."""

    expectation: str  # e.g. "expect_column_values_to_be_unique(transaction_id)"
    severity: str  # "critical" | "warning"
    success: bool
    element_count: int | None = None
    unexpected_count: int | None = None
    sample: list[Any] = field(default_factory=list)
    problem: str = ""  # "share a transaction_id with another row"
    error: str | None = None  # the exception GX caught, if the expectation could not run
    unexpected_percent: float | None = None
    observed_value: Any = None  # aggregate expectations report a value instead of counts

    def observed(self) -> str:
        """What GX measured, in words: '0 of 120 rows (0.0%)' or the aggregate's value."""
        if self.error:
            return f"could not run: {self.error}"
        if self.unexpected_count is not None:
            share = f" ({self.unexpected_percent:.1f}%)" if self.unexpected_percent is not None else ""
            return f"{self.unexpected_count} of {self.element_count} rows unexpected{share}"
        return "" if self.observed_value is None else str(self.observed_value)

    def describe(self) -> str:
        if self.error:
            return f"{self.expectation} could not run: {self.error}"
        counted = (
            f"{self.unexpected_count} of {self.element_count} rows {self.problem}"
            if self.unexpected_count is not None
            else self.problem
        )
        return f"{counted} (e.g. {self.sample[:5]})" if self.sample else counted


@dataclass
class EntityDQ:
    """What one entity's suite found. `gx_result` is GX's own result object (kept out of to_dict)."""

    entity: str
    expectations_passed: int
    expectations_failed: int
    critical_failures: list[tuple[str, list[Any]]]
    warnings: list[str]
    outcomes: list[ExpectationOutcome] = field(default_factory=list)
    seconds: float = 0.0
    gx_result: Any = field(default=None, repr=False, compare=False)

    @property
    def success(self) -> bool:
        return not self.critical_failures

    def to_dict(self) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "success": self.success,
            "expectations_passed": self.expectations_passed,
            "expectations_failed": self.expectations_failed,
            "critical_failures": [[name, list(sample)] for name, sample in self.critical_failures],
            "warnings": list(self.warnings),
            "outcomes": [asdict(o) for o in self.outcomes],
            "seconds": self.seconds,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EntityDQ:
        return cls(
            entity=data["entity"],
            expectations_passed=data.get("expectations_passed", 0),
            expectations_failed=data.get("expectations_failed", 0),
            critical_failures=[(name, list(sample)) for name, sample in data.get("critical_failures", [])],
            warnings=list(data.get("warnings", [])),
            outcomes=[ExpectationOutcome(**o) for o in data.get("outcomes", [])],
            seconds=data.get("seconds", 0.0),
        )


class CriticalExpectationFailed(Exception):
    """A critical expectation failed: the staged rows must not be loaded."""

    def __init__(self, entity: str, failures: list[ExpectationOutcome]) -> None:
        self.entity = entity
        self.failures = failures
        details = "; ".join(f"{o.expectation}: {o.describe()}" for o in failures)
        super().__init__(f"{entity}: critical data-quality expectation failed: {details}")


def raise_on_critical(dq: EntityDQ) -> None:
    """Raise `CriticalExpectationFailed` naming the entity, expectations and sample values."""
    failed = [o for o in dq.outcomes if o.severity == CRITICAL and not o.success]
    if failed:
        raise CriticalExpectationFailed(dq.entity, failed)
    if dq.critical_failures:  # an EntityDQ rebuilt without outcomes
        raise CriticalExpectationFailed(
            dq.entity,
            [ExpectationOutcome(name, CRITICAL, False, sample=list(s)) for name, s in dq.critical_failures],
        )


# --------------------------------------------------------------------------------------------
# Validation

_LOCK = threading.RLock()
_STATE: dict[str, Any] = {}


def _gx() -> Any:
    # The context is built with analytics off; the process edge also sets GX_ANALYTICS_ENABLED=false
    # before GX is first imported (GX reads it then): the pipeline must never phone home.
    import great_expectations as gx

    return gx


def _gx_expectations() -> Any:
    _gx()
    import great_expectations.expectations as gxe

    return gxe


def _context_config() -> Any:
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    return DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )


def _context() -> Any:
    if "context" not in _STATE:
        # get_context also makes this the process's current context, which GX's validator needs.
        _STATE["context"] = _gx().get_context(mode="ephemeral", project_config=_context_config())
    return _STATE["context"]


def _batch_definition(entity: str, spark: Any | None) -> Any:
    """The entity's whole-dataframe batch definition in this process's cached GX context: on the
    Spark data source of ``spark``, or on the driver's pandas data source when ``spark`` is None."""
    context = _context()
    if spark is None:
        if "driver" not in _STATE:
            _STATE["driver"] = context.data_sources.add_pandas(name="zluri_staging_driver")
            _STATE["driver_definitions"] = {}
        return _whole_frame(_STATE["driver"], _STATE["driver_definitions"], entity)
    if _STATE.get("spark") is not spark:
        # First use, or the session was replaced: the data source must run on the frame's session.
        if "datasource" in _STATE:
            context.data_sources.delete(_STATE["datasource"].name)
        datasource = context.data_sources.add_spark(name="zluri_staging", persist=False)
        datasource._spark = spark  # reuse the session as is; GX would otherwise getOrCreate one
        _STATE.update(spark=spark, datasource=datasource, batch_definitions={})
    return _whole_frame(_STATE["datasource"], _STATE["batch_definitions"], entity)


def _whole_frame(datasource: Any, definitions: dict[str, Any], entity: str) -> Any:
    if entity not in definitions:
        asset = datasource.add_dataframe_asset(name=entity)
        definitions[entity] = asset.add_batch_definition_whole_dataframe(entity)
    return definitions[entity]


class KnownIds(Protocol):
    """The ids a reference column may name, in the two forms the engines need: a Spark frame of
    them (one column) to join a frame checked on Spark with, and a lookup of the few distinct values
    a frame checked on the driver holds."""

    def frame(self) -> DataFrame: ...

    def unknown(self, values: Collection[Any]) -> set[Any]:
        """Those of ``values`` (distinct, none null) that name no known id."""
        ...


def with_unknown_references(df: DataFrame, known_refs: Mapping[str, DataFrame]) -> DataFrame:
    """Add ``unknown_<column>`` per reference: the value when no known frame holds it, else null.

    `known_refs` maps a column of `df` to a frame of the ids it may name: a column of that name,
    or its only column. Pure: a left join on the distinct known ids.
    """
    for column, known in known_refs.items():
        if column not in df.columns:
            raise ValueError(f"known_refs names {column!r}, which the frame does not have")
        key = column if column in known.columns else (known.columns[0] if len(known.columns) == 1 else None)
        if key is None:
            raise ValueError(f"known_refs[{column!r}] needs a {column!r} column or exactly one column")
        marker = f"__known_{column}"
        ids = (
            known.select(F.col(key).cast(df.schema[column].dataType).alias(marker))
            .where(F.col(marker).isNotNull())
            .distinct()
        )
        df = (
            df.join(ids, df[column] == ids[marker], "left")
            .withColumn(f"{UNKNOWN_PREFIX}{column}", F.when(F.col(marker).isNull(), df[column]))
            .drop(marker)
        )
    return df


def _with_unknown_looked_up(data: Any, lookups: Mapping[str, KnownIds]) -> Any:
    """A driver-side frame (pandas) plus ``unknown_<column>`` per lookup, as ``with_unknown_references``
    adds them on Spark: one lookup of the column's distinct values."""
    for column, known in lookups.items():
        unknown = known.unknown({v for v in data[column] if v is not None and v == v})
        data[f"{UNKNOWN_PREFIX}{column}"] = data[column].map(lambda v, u=unknown: v if v in u else None).astype(object)
    return data


def _checked_columns(suite: Any) -> set[str]:
    columns: set[str] = set()
    for expectation in suite.expectations:
        kwargs = expectation.configuration.kwargs
        columns.update([kwargs["column"]] if "column" in kwargs else kwargs.get("column_list") or ())
    return columns


def validate(
    entity: str,
    df: DataFrame,
    *,
    known_refs: Mapping[str, DataFrame | KnownIds] | None = None,
    rows: int | None = None,
    on_driver: bool | None = None,
    collected: pa.Table | None = None,
) -> EntityDQ:
    """Run `entity`'s suite on its clean, de-duplicated frame (staging columns).

    `known_refs` (e.g. ``{"card_id": card_ids, "budget_id": budget_ids}``, frames or ``KnownIds``):
    values naming none of the known ids are counted as a warning. Failed expectations never raise
    here: call `raise_on_critical` (after `report.write_entity_report`, so the failure is in the
    report too).
    `rows`: the frame's row count when the caller has it (else counted here). `on_driver`: which
    engine runs the suite (default: the driver's for at most ``DRIVER_ROWS`` rows, else Spark's).
    `collected`: the frame's rows already on the driver (all its columns): checked there, without a
    Spark query (its references must be ``KnownIds``, looked up).
    """
    name = suite_name(entity)
    started = time.perf_counter()
    refs = dict(known_refs or {})
    suite = suite_for(name, reference_columns=refs)
    checked = _checked_columns(suite)
    # What a reference adds (unknown_<column>) is computed from the column: it must be there.
    missing = sorted(((checked - {f"{UNKNOWN_PREFIX}{c}" for c in refs}) | set(refs)) - set(df.columns))
    if missing:
        raise ValueError(f"{entity}: the frame lacks column(s) {missing} that its data-quality suite checks")
    if rows is None:
        rows = df.count()
    if collected is not None or (rows <= DRIVER_ROWS if on_driver is None else on_driver):
        # Ids given as frames are joined on Spark; the others are looked up for the values collected.
        joined = {c: k for c, k in refs.items() if isinstance(k, DataFrame)}
        lookups = {c: k for c, k in refs.items() if not isinstance(k, DataFrame)}
        columns = sorted((checked - {f"{UNKNOWN_PREFIX}{c}" for c in lookups}) | set(lookups))
        if collected is None:
            frame = with_unknown_references(df, joined) if joined else df
            data = _on_driver(frame.select(*columns))
        elif joined:
            raise ValueError(f"{entity}: collected rows are checked against looked-up ids, not frames")
        else:
            data = _pandas(collected.select(columns))
        data = _with_unknown_looked_up(data, lookups)
        verdicts, details = _run_suite(suite, None, data)
    else:
        frames = {c: k if isinstance(k, DataFrame) else k.frame() for c, k in refs.items()}
        frame = with_unknown_references(df, frames) if frames else df
        # Each expectation is a Spark job over the frame: compute the frame once, not once per job,
        # and only the columns the suite checks (GX reads no other).
        persisted = frame.storageLevel == StorageLevel.NONE
        if persisted:
            frame = frame.select(*sorted(checked)).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            verdicts, details = _run_suite(suite, frame.sparkSession, frame)
        finally:
            if persisted:
                frame.unpersist()
    result = details or verdicts
    result.meta["validation_time"] = datetime.now(UTC).isoformat()
    outcomes = _outcomes(verdicts, details, rows)
    return _summarise(entity, outcomes, result, round(time.perf_counter() - started, 3))


def warm_up(entity: str = "roles") -> None:
    """GX imported, this process's context built and ``entity``'s suite run on the driver's engine,
    over two rows that fail a check (so the failed checks' details run too), without Spark: a new
    process's first check costs seconds of Python's work, which a caller can pay beside other work."""
    suite = suite_for(entity)
    _run_suite(suite, None, _pandas(pa.table({column: [1, 1] for column in sorted(_checked_columns(suite))})))


def _on_driver(frame: DataFrame) -> Any:
    """A small frame as pandas, in one Spark query."""
    return _pandas(frame.toArrow())


def _pandas(table: pa.Table) -> Any:
    """Integer columns with nulls stay exact Python ints (not floats, which would merge ids above
    2^53); decimals stay ``Decimal``."""
    return table.to_pandas(integer_object_nulls=True)


def _run_suite(suite: Any, spark: Any | None, data: Any) -> tuple[Any, Any]:
    """GX's verdict per expectation, then the details of the ones that failed (None if none did).

    First whether each expectation holds: GX computes every unexpected count in a few bundled
    aggregate queries. Then counts and samples of the ones that failed only (a query each), so a
    clean frame costs no per-expectation query at all."""
    with _LOCK:
        batch = _batch_definition(suite.name, spark).get_batch(batch_parameters={"dataframe": data})
        verdicts = batch.validate(suite, result_format=_VERDICT_FORMAT)
        _check_order(suite.expectations, verdicts)
        failed = [e for e, r in zip(suite.expectations, verdicts.results, strict=True) if not r.success]
        details = batch.validate(_subsuite(suite, failed), result_format=_RESULT_FORMAT) if failed else None
        if details is not None:
            _check_order(failed, details)
    return verdicts, details


def _check_order(expectations: list[Any], result: ExpectationSuiteValidationResult) -> None:
    """GX returns the results in the suite's order: checked, not assumed."""
    expected = [_named(e.configuration) for e in expectations]
    got = [_named(r.expectation_config) for r in result.results]
    if expected != got:
        raise RuntimeError(f"GX returned results of {got} for the expectations {expected}")


def _subsuite(suite: Any, expectations: list[Any]) -> Any:
    return _gx().ExpectationSuite(name=f"{suite.name}.failed", expectations=[e.copy() for e in expectations])


def _outcomes(verdicts: Any, details: Any, rows: int) -> list[ExpectationOutcome]:
    """One outcome per expectation, in the suite's order: a failed one as GX detailed it; a passed
    one has no unexpected row (no check has a ``mostly``) among the frame's ``rows``."""
    detailed = iter(details.results if details is not None else ())
    return [_outcome(next(detailed)) if not r.success else _passed(r, rows) for r in verdicts.results]


def _summarise(
    entity: str, outcomes: list[ExpectationOutcome], result: ExpectationSuiteValidationResult, seconds: float
) -> EntityDQ:
    return EntityDQ(
        entity=entity,
        expectations_passed=sum(o.success for o in outcomes),
        expectations_failed=sum(not o.success for o in outcomes),
        critical_failures=[(o.expectation, o.sample) for o in outcomes if o.severity == CRITICAL and not o.success],
        warnings=[f"{entity}: {o.describe()}" for o in outcomes if o.severity != CRITICAL and not o.success],
        outcomes=outcomes,
        seconds=seconds,
        gx_result=result,
    )


def _named(config: Any) -> tuple[str, str]:
    """An expectation's name as the report shows it, and its severity."""
    kwargs = config.kwargs
    columns = kwargs.get("column") or ", ".join(kwargs.get("column_list") or ())
    return f"{config.type}({columns})", str(getattr(config.severity, "value", config.severity) or CRITICAL)


def _passed(result: Any, rows: int) -> ExpectationOutcome:
    config = result.expectation_config
    name, severity = _named(config)
    problem = (config.meta or {}).get("problem", "fail the expectation")
    return ExpectationOutcome(
        name, severity, True, element_count=rows, unexpected_count=0, problem=problem, unexpected_percent=0.0
    )


def _outcome(result: Any) -> ExpectationOutcome:
    config = result.expectation_config
    details = result.result or {}
    error = None
    if result.exception_info and result.exception_info.get("raised_exception"):
        error = str(result.exception_info.get("exception_message") or "unknown error")
    name, severity = _named(config)
    return ExpectationOutcome(
        expectation=name,
        severity=severity,
        success=bool(result.success),
        element_count=details.get("element_count"),
        unexpected_count=details.get("unexpected_count"),
        sample=_sample(details.get("partial_unexpected_list") or []),
        problem=(config.meta or {}).get("problem", "fail the expectation"),
        error=error,
        unexpected_percent=_percent(details.get("unexpected_percent")),
        observed_value=json.loads(json.dumps(details.get("observed_value"), default=str)),
    )


def _percent(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)


def _sample(values: list[Any]) -> list[Any]:
    """Distinct offending values as JSON values (compound keys stay {column: value} dicts).

    A sample of nulls says nothing the count does not, so it is dropped.
    """
    distinct: list[Any] = []
    for value in json.loads(json.dumps(values, default=str)):
        if value is not None and value not in distinct:
            distinct.append(value)
    return distinct
