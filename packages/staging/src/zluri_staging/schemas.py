"""Explicit Spark schemas: the three file layouts of the feed, one record schema per entity, and
the loaded columns of every ``staging.stg_*`` table (V002 is the contract; flow_run_id and day are
added by the loader).

Record schemas declare every scalar the pipeline validates as a *string* and every nested object or
array it reads as a *string* too. Spark's JSON parser hands a string target the value's own JSON
text (``69000378065``, ``true``, ``{"limit":1000}``), so a value of the wrong type stays visible —
present in the raw text, null after the strict cast in ``transforms`` — instead of being silently
turned into null by the parser, and a nested value that is not an object is told apart from an
absent one. (The exception is transactions' ``currencyData``: see TRANSACTION_RECORD.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pyspark.sql import types as T

Layout = Literal["array", "results", "object"]

S = T.StringType()


def _strings(*names: str) -> T.StructType:
    return T.StructType([T.StructField(n, S) for n in names])


# -- feed records ---------------------------------------------------------------------------------

AGENT_RECORD = _strings("id", "deactivated", "contact", "created_at", "updated_at")
AGENT_DETAILS_RECORD = _strings("id", "deactivated", "contact", "role_ids", "created_at", "updated_at")
CONTACT = _strings("active", "email", "name", "job_title")
ROLE_RECORD = _strings("id", "name", "description", "default", "agent_type", "created_at", "updated_at")
GROUP_RECORD = _strings("id", "name", "description", "parent_group_id", "agent_ids", "created_at", "updated_at")
BUDGET_RECORD = _strings(
    "id", "uuid", "name", "description", "retired", "startDate", "recurringInterval", "currentPeriod"
)
BUDGET_PERIOD = _strings("startDate", "limit", "overspendBuffer", "assigned", "spent")
BUDGET_SPENT = _strings("cleared", "pending", "total")
CARD_RECORD = _strings(
    "id",
    "uuid",
    "name",
    "userId",
    "userUuid",
    "budgetId",
    "budgetUuid",
    "lastFour",
    "validThru",
    "status",
    "type",
    "currentPeriod",
    "createdTime",
    "updatedTime",
)
CARD_PERIOD = _strings("limit", "spent")
CURRENCY_DATA = _strings("originalCurrencyAmount", "exponent", "originalCurrencyCode", "exchangeRate")
# The one nested object of the big entity is parsed with the file (a per-record from_json would cost
# more than the whole file parse): a currencyData that is not an object is then simply null, which
# the rules report as "currencyData missing or not an object" — a transaction without it is
# quarantined either way.
TRANSACTION_RECORD = T.StructType(
    _strings(
        "id",
        "uuid",
        "transactionType",
        "userId",
        "userUuid",
        "userName",
        "cardId",
        "cardUuid",
        "budgetId",
        "budgetUuid",
        "merchantName",
        "rawMerchantName",
        "occurredTime",
        "updatedTime",
        "amount",
    ).fields
    + [T.StructField("currencyData", CURRENCY_DATA)]
)
ID_LIST = T.ArrayType(S)


@dataclass(frozen=True)
class EntitySpec:
    """How one feed entity is laid out on disk and what it stages into."""

    name: str
    layout: Layout
    record: T.StructType
    required: bool
    table: str  # primary staging table


ENTITIES: dict[str, EntitySpec] = {
    spec.name: spec
    for spec in (
        EntitySpec("agents", "array", AGENT_RECORD, True, "stg_agents"),
        EntitySpec("agent_details", "object", AGENT_DETAILS_RECORD, False, "stg_agent_details"),
        EntitySpec("roles", "array", ROLE_RECORD, False, "stg_roles"),
        EntitySpec("admin_groups", "array", GROUP_RECORD, True, "stg_groups"),
        EntitySpec("budgets", "results", BUDGET_RECORD, False, "stg_budgets"),
        EntitySpec("cards", "results", CARD_RECORD, False, "stg_cards"),
        EntitySpec("transactions", "results", TRANSACTION_RECORD, True, "stg_transactions"),
    )
}

# -- what read.py produces ------------------------------------------------------------------------

# One row per record (or per unreadable file: position null, read_error set). raw_record is the
# record's JSON text as Spark's parser re-serialises it: compact, every string and integer exact,
# non-ASCII text and escapes preserved as JSON escapes. For an unreadable file it is the file text.
READ_COLUMNS = ("source_file", "position", "raw_record", "read_error", "record")


def read_schema(record: T.StructType) -> T.StructType:
    return T.StructType(
        [
            T.StructField("source_file", S, False),
            T.StructField("position", T.IntegerType()),
            T.StructField("raw_record", S),
            T.StructField("read_error", S),
            T.StructField("record", record),
        ]
    )


INPUT_FILES = T.StructType(
    [
        T.StructField("entity", S, False),
        T.StructField("source_file", S, False),
        T.StructField("sha256", S, False),
        T.StructField("records", T.LongType()),
    ]
)

# -- staging tables (V002), without flow_run_id and day -------------------------------------------

TS = T.TimestampType()
BIGINT = T.LongType()
BOOL = T.BooleanType()
NUM = T.DecimalType(38, 6)


def _table(*fields: tuple[str, T.DataType, bool]) -> T.StructType:
    return T.StructType([T.StructField(n, t, nullable) for n, t, nullable in fields])


_AGENT_COLUMNS = (
    ("agent_id", BIGINT, False),
    ("email", S, True),
    ("name", S, True),
    ("job_title", S, True),
    ("contact_active", BOOL, True),
    ("deactivated", BOOL, False),
    ("created_at", TS, True),
    ("updated_at", TS, True),
    ("source_file", S, False),
)

STAGING: dict[str, T.StructType] = {
    "stg_agents": _table(*_AGENT_COLUMNS),
    "stg_agent_details": _table(*_AGENT_COLUMNS),
    "stg_agent_roles": _table(("agent_id", BIGINT, False), ("role_id", BIGINT, False)),
    "stg_roles": _table(
        ("role_id", BIGINT, False),
        ("name", S, True),
        ("description", S, True),
        ("is_default", BOOL, True),
        ("agent_type", T.IntegerType(), True),
        ("created_at", TS, True),
        ("updated_at", TS, True),
    ),
    "stg_groups": _table(
        ("group_id", BIGINT, False),
        ("name", S, True),
        ("description", S, True),
        ("parent_group_id", BIGINT, True),
        ("created_at", TS, True),
        ("updated_at", TS, True),
    ),
    "stg_group_memberships": _table(("group_id", BIGINT, False), ("agent_id", BIGINT, False)),
    "stg_budgets": _table(
        ("budget_id", S, False),
        ("budget_uuid", S, True),
        ("name", S, True),
        ("description", S, True),
        ("retired", BOOL, True),
        ("start_date", T.DateType(), True),
        ("recurring_interval", S, True),
        ("period_start_date", T.DateType(), True),
        ("period_limit", NUM, True),
        ("period_overspend_buffer", NUM, True),
        ("period_assigned", NUM, True),
        ("spent_cleared", NUM, True),
        ("spent_pending", NUM, True),
        ("spent_total", NUM, True),
    ),
    "stg_cards": _table(
        ("card_id", S, False),
        ("card_uuid", S, True),
        ("name", S, True),
        ("user_id", S, True),
        ("user_uuid", S, True),
        ("budget_id", S, True),
        ("budget_uuid", S, True),
        ("last_four", S, True),
        ("valid_thru", S, True),
        ("status", S, True),
        ("card_type", S, True),
        ("period_limit", NUM, True),
        ("period_spent", NUM, True),
        ("created_at", TS, True),
        ("updated_at", TS, True),
    ),
    "stg_transactions": _table(
        ("transaction_id", S, False),
        ("transaction_uuid", S, True),
        ("transaction_type", S, True),
        ("occurred_at", TS, False),
        ("updated_at", TS, False),
        ("user_id", S, True),
        ("user_uuid", S, True),
        ("user_name", S, True),
        ("card_id", S, True),
        ("card_uuid", S, True),
        ("budget_id", S, True),
        ("budget_uuid", S, True),
        ("merchant_name", S, True),
        ("raw_merchant_name", S, True),
        ("original_amount", NUM, False),
        ("original_currency", S, False),
        ("currency_exponent", T.IntegerType(), False),
        ("amount_usd", NUM, False),
        ("fx_rate", T.DecimalType(24, 12), False),
        ("fx_rate_date", T.DateType(), False),
        ("fx_source", S, False),
        ("feed_amount_usd", NUM, True),
        ("feed_exchange_rate", T.DecimalType(38, 12), True),
        ("source_file", S, False),
    ),
    "stg_fx_rates": _table(
        ("currency", S, False),
        ("rate_date", T.DateType(), False),
        ("usd_per_unit", T.DecimalType(24, 12), False),
        ("source", S, False),
    ),
    "stg_input_files": _table(
        ("entity", S, False),
        ("source_file", S, False),
        ("sha256", S, False),
        ("records", T.LongType(), True),
    ),
}

# ops.quarantine without flow_run_id, day (added by the loader) and its serial/timestamp columns.
QUARANTINE = _table(
    ("entity", S, False),
    ("source_file", S, True),
    ("reason", S, False),
    ("raw_record", S, True),
)


def staging_columns(table: str) -> list[str]:
    return STAGING[table].fieldNames()
