"""Pure transforms: the read frame of an entity -> its staging columns.

Every function here is ``DataFrame -> DataFrame`` (or builds a Column): no SparkSession, no
environment, no I/O. An entity transform keeps the read columns (source_file, position,
raw_record, read_error, record) and its parsed nested objects (``_``-prefixed), so validation rules
can compare a raw value with its typed value, and adds the staging columns of V002.
``staging_frame`` then keeps exactly the staging columns.

Casts are strict: a value must look like its type before it is cast (an id ``"12.5"`` or
``" 12"`` is not silently truncated or trimmed into 12), and casts are ``try_cast`` so the result
does not depend on the session's ANSI setting. Strings are never trimmed or rewritten.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from pyspark import SparkContext
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from zluri_staging import schemas
from zluri_staging.derived import AGENT_ROLES, MEMBERSHIPS, DerivedTable

INTEGER = r"^-?[0-9]+$"
# JSON's number grammar (what Spark writes back for a numeric value; a quoted "12.50" also passes).
NUMBER = r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$"
# ISO 8601 with an explicit offset: a time without one would silently take the session zone.
TIMESTAMP = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}(:?[0-9]{2})?)$"
DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
MAX_EXPONENT = 6  # decimal(38,6) holds six decimals; ISO 4217 minor units go up to 4
MINOR_UNITS = T.DecimalType(32, 0)  # 32 integer digits: the product with 10^-6 still fits (38,6)
AMOUNT = T.DecimalType(38, 6)
RATE = T.DecimalType(38, 12)
READ_COLUMNS = list(schemas.READ_COLUMNS)

Built = TypeVar("Built")
_BUILT: dict[Hashable, tuple[object, object]] = {}
_BUILT_LOCK = threading.Lock()


def built_once(key: Hashable, build: Callable[[], Built]) -> Built:
    """``build()`` (Columns, which need a running Spark), built once per JVM and kept under ``key``.
    A Column is an expression bound to no frame, so one can serve every step; building it costs a
    call into the JVM per function, literal and operator."""
    gateway = SparkContext._gateway
    with _BUILT_LOCK:
        held = _BUILT.get(key)
        if held is None or held[0] is not gateway:
            held = _BUILT[key] = (gateway, build())
    return held[1]  # type: ignore[return-value]


# -- strict casts -------------------------------------------------------------------------------


def as_bigint(raw: Column) -> Column:
    return F.when(raw.rlike(INTEGER), raw.try_cast(T.LongType()))


def as_int(raw: Column) -> Column:
    return F.when(raw.rlike(INTEGER), raw.try_cast(T.IntegerType()))


def as_decimal(raw: Column, dtype: T.DecimalType = AMOUNT) -> Column:
    return F.when(raw.rlike(NUMBER), raw.try_cast(dtype))


def as_boolean(raw: Column) -> Column:
    return F.when(raw == "true", F.lit(True)).when(raw == "false", F.lit(False))


def as_timestamp(raw: Column) -> Column:
    return F.when(raw.rlike(TIMESTAMP), raw.try_cast(T.TimestampType()))


def as_date(raw: Column) -> Column:
    return F.when(raw.rlike(DATE), raw.try_cast(T.DateType()))


def as_object(raw: Column, schema: T.StructType) -> Column:
    """A nested object declared as a string: parsed only if it is one (a string, number or array
    in its place stays visible as 'not an object' instead of becoming a struct of nulls)."""
    return F.when(raw.startswith("{"), F.from_json(raw, schema))


def as_id_list(raw: Column) -> Column:
    return F.when(raw.startswith("["), F.from_json(raw, schemas.ID_LIST))


def minor_units_amount(amount: Column, exponent: Column) -> Column:
    """``amount`` (a string of an integer in minor units) / 10^exponent as an exact decimal(38,6).

    Never through a double: "NaN", "Infinity", "", "12.5x", "1e3" are not integers and give null.
    The scale factor is an exact decimal literal; decimal(32,0) x decimal(7,6) is computed without
    loss and lands in decimal(38,6)."""
    exp = as_int(exponent)
    factors = F.array(*[F.lit(Decimal(1).scaleb(-e)).cast(T.DecimalType(7, 6)) for e in range(MAX_EXPONENT + 1)])
    return F.when(exp.between(0, MAX_EXPONENT), (minor_units(amount) * F.try_element_at(factors, exp + 1)).cast(AMOUNT))


def minor_units(amount: Column) -> Column:
    """The integer of minor units in ``amount`` (a string), or null if it is not one."""
    return F.when(amount.rlike(INTEGER), amount.try_cast(MINOR_UNITS))


def utc_date(ts: Column) -> Column:
    """The UTC calendar day of an instant, whatever the session time zone."""
    return F.date_from_unix_date(F.floor(F.unix_seconds(ts) / F.lit(86400)).cast("int"))


def sql_string(text: str) -> str:
    """``text`` as a Spark SQL string literal (for the few expressions given to Spark as SQL)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


# -- entities -----------------------------------------------------------------------------------


def _r(name: str) -> Column:
    """A raw field of the record struct (built lazily: a Column needs a running Spark)."""
    return F.col("record").getField(name)


def _with(df: DataFrame, entity: str, steps: Callable[[], Sequence[Sequence[Column]]]) -> DataFrame:
    """``df``'s read columns plus the columns of each step in turn, a projection each (the nested
    objects are parsed once and the typed columns read them). The columns are built once per JVM."""
    first, *rest = built_once(("transform", entity), steps)
    df = df.select(*READ_COLUMNS, *first)
    for step in rest:
        df = df.select("*", *step)
    return df


def _agent_like(extra: Sequence[Column] = ()) -> list[list[Column]]:
    contact = F.col("_contact")
    deactivated = _r("deactivated")
    return [
        [as_object(_r("contact"), schemas.CONTACT).alias("_contact"), *extra],
        [
            as_bigint(_r("id")).alias("agent_id"),
            contact.email.alias("email"),
            contact.getField("name").alias("name"),
            contact.job_title.alias("job_title"),
            as_boolean(contact.active).alias("contact_active"),
            # Absent means not deactivated (the agent is active iff listed and not deactivated).
            F.when(deactivated.isNull(), F.lit(False)).otherwise(as_boolean(deactivated)).alias("deactivated"),
            as_timestamp(_r("created_at")).alias("created_at"),
            as_timestamp(_r("updated_at")).alias("updated_at"),
            F.col("source_file"),
        ],
    ]


def agents(records: DataFrame) -> DataFrame:
    return _with(records, "agents", _agent_like)


def agent_details(records: DataFrame) -> DataFrame:
    return _with(records, "agent_details", lambda: _agent_like([parsed_ids(AGENT_ROLES)]))


def roles(records: DataFrame) -> DataFrame:
    return _with(records, "roles", _role_columns)


def _role_columns() -> list[list[Column]]:
    return [
        [],
        [
            as_bigint(_r("id")).alias("role_id"),
            _r("name").alias("name"),
            _r("description").alias("description"),
            as_boolean(_r("default")).alias("is_default"),
            as_int(_r("agent_type")).alias("agent_type"),
            as_timestamp(_r("created_at")).alias("created_at"),
            as_timestamp(_r("updated_at")).alias("updated_at"),
        ],
    ]


def groups(records: DataFrame) -> DataFrame:
    return _with(records, "groups", _group_columns)


def _group_columns() -> list[list[Column]]:
    return [
        [parsed_ids(MEMBERSHIPS)],
        [
            as_bigint(_r("id")).alias("group_id"),
            _r("name").alias("name"),
            _r("description").alias("description"),
            as_bigint(_r("parent_group_id")).alias("parent_group_id"),
            as_timestamp(_r("created_at")).alias("created_at"),
            as_timestamp(_r("updated_at")).alias("updated_at"),
        ],
    ]


def budgets(records: DataFrame) -> DataFrame:
    return _with(records, "budgets", _budget_columns)


def _budget_columns() -> list[list[Column]]:
    period, spent = F.col("_period"), F.col("_spent")
    return [
        [as_object(_r("currentPeriod"), schemas.BUDGET_PERIOD).alias("_period")],
        [as_object(F.col("_period.spent"), schemas.BUDGET_SPENT).alias("_spent")],
        [
            _r("id").alias("budget_id"),
            _r("uuid").alias("budget_uuid"),
            _r("name").alias("name"),
            _r("description").alias("description"),
            as_boolean(_r("retired")).alias("retired"),
            as_date(_r("startDate")).alias("start_date"),
            _r("recurringInterval").alias("recurring_interval"),
            as_date(period.startDate).alias("period_start_date"),
            as_decimal(period.limit).alias("period_limit"),
            as_decimal(period.overspendBuffer).alias("period_overspend_buffer"),
            as_decimal(period.assigned).alias("period_assigned"),
            as_decimal(spent.cleared).alias("spent_cleared"),
            as_decimal(spent.pending).alias("spent_pending"),
            as_decimal(spent.total).alias("spent_total"),
        ],
    ]


def cards(records: DataFrame) -> DataFrame:
    return _with(records, "cards", _card_columns)


def _card_columns() -> list[list[Column]]:
    period = F.col("_period")
    return [
        [as_object(_r("currentPeriod"), schemas.CARD_PERIOD).alias("_period")],
        [
            _r("id").alias("card_id"),
            _r("uuid").alias("card_uuid"),
            _r("name").alias("name"),
            _r("userId").alias("user_id"),
            _r("userUuid").alias("user_uuid"),
            _r("budgetId").alias("budget_id"),
            _r("budgetUuid").alias("budget_uuid"),
            _r("lastFour").alias("last_four"),
            _r("validThru").alias("valid_thru"),
            _r("status").alias("status"),
            _r("type").alias("card_type"),
            as_decimal(period.limit).alias("period_limit"),
            as_decimal(period.spent).alias("period_spent"),
            as_timestamp(_r("createdTime")).alias("created_at"),
            as_timestamp(_r("updatedTime")).alias("updated_at"),
        ],
    ]


def transactions(records: DataFrame) -> DataFrame:
    """Transactions before currency conversion (``fx.with_usd_amounts`` adds amount_usd, fx_rate,
    fx_rate_date, fx_source)."""
    return _with(records, "transactions", _transaction_columns)


def _transaction_columns() -> list[list[Column]]:
    ccy = F.col("_currency")
    return [
        [_r("currencyData").alias("_currency")],
        [
            _r("id").alias("transaction_id"),
            _r("uuid").alias("transaction_uuid"),
            _r("transactionType").alias("transaction_type"),
            as_timestamp(_r("occurredTime")).alias("occurred_at"),
            as_timestamp(_r("updatedTime")).alias("updated_at"),
            _r("userId").alias("user_id"),
            _r("userUuid").alias("user_uuid"),
            _r("userName").alias("user_name"),
            _r("cardId").alias("card_id"),
            _r("cardUuid").alias("card_uuid"),
            _r("budgetId").alias("budget_id"),
            _r("budgetUuid").alias("budget_uuid"),
            _r("merchantName").alias("merchant_name"),
            _r("rawMerchantName").alias("raw_merchant_name"),
            minor_units_amount(ccy.originalCurrencyAmount, ccy.exponent).alias("original_amount"),
            ccy.originalCurrencyCode.alias("original_currency"),
            as_int(ccy.exponent).alias("currency_exponent"),
            as_decimal(_r("amount")).alias("feed_amount_usd"),
            as_decimal(ccy.exchangeRate, RATE).alias("feed_exchange_rate"),
            F.col("source_file"),
        ],
    ]


# -- derived tables and cross-entity references ---------------------------------------------------


def parsed_ids(derived: DerivedTable) -> Column:
    """The parent's list of ids (as written) a derived table is exploded from."""
    return as_id_list(_r(derived.field)).alias(derived.ids)


def named_ids(derived: DerivedTable) -> Column:
    """The ids a parent's list names, cast as ``explode_ids`` casts them (an array Column)."""
    return F.transform(F.col(derived.ids), as_bigint)


def explode_ids(derived: DerivedTable, parents: DataFrame) -> DataFrame:
    """One row per (parent, listed id) of the parents given (the valid, de-duplicated ones): the
    parent's key, the id as written (``raw``) and cast (``column``), plus lineage and the pair as
    the row's raw record."""
    parent_key, raw, column = derived.parent_key, derived.raw, derived.column
    return parents.select("source_file", "position", parent_key, F.explode(derived.ids).alias(raw)).select(
        "source_file",
        "position",
        F.to_json(F.struct(F.col(parent_key), F.col(raw).alias(column))).alias("raw_record"),
        parent_key,
        raw,
        as_bigint(F.col(raw)).alias(column),
    )


def flag_known(df: DataFrame, known: DataFrame, column: str, flag: str) -> DataFrame:
    """Adds boolean ``flag``: whether ``column``'s value is among ``known``'s single column (null
    when ``column`` is null). ``known`` is small (ids of one day), so it is broadcast."""
    key = f"_{flag}_key"
    ids = known.select(F.col(known.columns[0]).alias(key)).where(F.col(key).isNotNull()).distinct()
    joined = df.join(F.broadcast(ids), df[column] == ids[key], "left")
    return joined.select(
        *[df[c] for c in df.columns],
        F.when(df[column].isNotNull(), ids[key].isNotNull()).alias(flag),
    )


def flag_unknown(df: DataFrame, column: str, flag: str, unknown: Collection[Any]) -> DataFrame:
    """``flag_known`` given instead the values of ``column`` that name no known id (the few a small
    frame holds, looked up on the driver): no join."""
    known = ~F.col(column).isin(sorted(unknown)) if unknown else F.lit(True)
    return df.withColumn(flag, F.when(F.col(column).isNotNull(), known))


# -- output ---------------------------------------------------------------------------------------


def staging_columns_of(columns: Mapping[str, Column], table: str) -> dict[str, Column]:
    """``columns`` (one per loaded column of ``staging.<table>``, by name) cast to their staging types."""
    return {f.name: columns[f.name].cast(f.dataType) for f in schemas.STAGING[table].fields}


def staging_frame(df: DataFrame, table: str) -> DataFrame:
    """Exactly the loaded columns of ``staging.<table>`` (V002, without flow_run_id and day), cast
    to their staging types."""
    return df.select(*built_once(("staging", table), lambda: _staging_casts(table)))


def _staging_casts(table: str) -> list[Column]:
    return [F.col(f.name).cast(f.dataType).alias(f.name) for f in schemas.STAGING[table].fields]
