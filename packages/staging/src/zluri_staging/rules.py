"""Validation rules as data, and the one ``annotate`` that applies them.

A ``Rule`` is a name, a reason (text, or a Column when the reason names a value) and a predicate
that is TRUE for a valid row. ``annotate`` evaluates every rule and gives a row that fails any
the failing reasons joined ("transaction_id missing; original_amount not numeric");
``classify.classify`` quarantines such rows. A null predicate counts as a failure: a rule that
cannot decide never lets a row through. Nor does a reason Column that comes out null or empty: the
row's reason then names the rule ("original_currency_known failed").

A *blocking* rule stops the evaluation of the rules after it for rows that fail it: an unreadable
file or a record that is not an object would otherwise also "fail" every field rule, which would
only bury the real reason.

Rule lists are built by functions (Columns need a running Spark), one per entity, and look at the
columns the matching ``transforms`` function produces.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from zluri_staging import fx
from zluri_staging.derived import AGENT_ROLES, MEMBERSHIPS, DerivedTable
from zluri_staging.transforms import built_once, minor_units, sql_string, utc_date

REASON = "reason"
SEPARATOR = "; "


@dataclass(frozen=True)
class Rule:
    name: str
    reason: str | Column
    predicate: Column  # true = valid
    blocking: bool = False


# -- annotate -------------------------------------------------------------------------------------


def failure_reasons(rules: Sequence[Rule]) -> Column:
    """The joined reasons of the failing rules, or null when every rule passes.

    An empty join becomes null by ``nullif``, which names the join once: Spark analyses and optimises
    the expression again in every plan that uses it, and for the transactions' rules a ``withColumn``
    of it took 0.20-0.25 s with the join named twice, 0.11-0.12 s now. The rules after a blocking one
    nested in its ``otherwise`` branch (each predicate written once) took 0.08 s, but the generated
    code evaluated an M day's transactions 1.2-1.6 s slower (of about 11 s)."""
    blocked: Column = F.lit(False)
    entries: list[Column] = []
    for rule in rules:
        fails = ~F.coalesce(rule.predicate, F.lit(False))
        reason = F.lit(rule.reason) if isinstance(rule.reason, str) else _named(rule.reason, rule.name)
        entries.append(F.when(~blocked & fails, reason))
        if rule.blocking:
            blocked = blocked | fails
    return F.nullif(F.concat_ws(SEPARATOR, *entries), F.lit("")) if entries else F.lit(None).cast("string")


def _named(reason: Column, name: str) -> Column:
    """A reason Column that is null or empty on a failing row (``concat`` with a null value) gives the
    rule's name instead: the join skips a null entry, so that row would otherwise pass."""
    return F.coalesce(F.nullif(reason, F.lit("")), F.lit(f"{name} failed"))


def annotate(df: DataFrame, rules: Sequence[Rule] | Column) -> DataFrame:
    """``df`` plus a ``reason`` column (null = valid): from ``rules``, or their ``failure_reasons``."""
    return df.withColumn(REASON, rules if isinstance(rules, Column) else failure_reasons(rules))


def reasons_of(build: Callable[..., list[Rule]], *args: Hashable) -> Column:
    """``failure_reasons(build(*args))``, built once per JVM (``transforms.built_once``): building
    one entity's rules costs about 1,400 calls into the JVM (0.3 s for transactions)."""
    return built_once(("reasons", build, *args), lambda: failure_reasons(build(*args)))


# -- rule builders --------------------------------------------------------------------------------


def _r(name: str) -> Column:
    """A raw field of the record struct (built lazily: a Column needs a running Spark)."""
    return F.col("record").getField(name)


def readable() -> Rule:
    return Rule("readable", F.col("read_error"), F.col("read_error").isNull(), blocking=True)


def present(raw: Column, label: str) -> Rule:
    return Rule(f"{label}_present", f"{label} missing", raw.isNotNull() & (raw != ""))


def typed(raw: Column, value: Column, label: str, kind: str, *, empty_is_missing: bool = False) -> Rule:
    """A value that is present must have been cast (``kind`` names the expected type). An empty
    string is a value of the wrong type, unless a ``present`` rule already reports it as missing."""
    absent = raw.isNull() | (raw == "") if empty_is_missing else raw.isNull()
    return Rule(f"{label}_{kind.replace(' ', '_')}", f"{label} not {kind}", absent | value.isNotNull())


def required(raw: Column, value: Column, label: str, kind: str) -> list[Rule]:
    return [present(raw, label), typed(raw, value, label, kind, empty_is_missing=True)]


def object_or_absent(raw: Column, label: str) -> Rule:
    return Rule(f"{label}_object", f"{label} not an object", raw.isNull() | raw.startswith("{"))


def list_or_absent(raw: Column, parsed: Column, label: str) -> Rule:
    return Rule(f"{label}_array", f"{label} not an array", raw.isNull() | parsed.isNotNull())


def non_negative(value: Column, label: str) -> Rule:
    return Rule(f"{label}_non_negative", f"{label} negative", value.isNull() | (value >= 0))


def no_nul(columns: Sequence[str]) -> list[Rule]:
    # Postgres text cannot hold U+0000; such a value could never be loaded faithfully.
    return [
        Rule(f"{c}_no_nul", f"{c} contains a NUL character", F.col(c).isNull() | ~F.col(c).contains("\u0000"))
        for c in columns
    ]


def timestamps(pairs: Sequence[tuple[Column, str]]) -> list[Rule]:
    return [typed(raw, F.col(label), label, "a timestamp") for raw, label in pairs]


# -- per entity -----------------------------------------------------------------------------------


def agent_rules() -> list[Rule]:
    return [
        readable(),
        *required(_r("id"), F.col("agent_id"), "agent_id", "an integer"),
        typed(_r("deactivated"), F.col("deactivated"), "deactivated", "a boolean"),
        object_or_absent(_r("contact"), "contact"),
        typed(F.col("_contact.active"), F.col("contact_active"), "contact_active", "a boolean"),
        *timestamps([(_r("created_at"), "created_at"), (_r("updated_at"), "updated_at")]),
        *no_nul(["email", "name", "job_title"]),
    ]


def agent_details_rules() -> list[Rule]:
    return [*agent_rules(), listed_ids(AGENT_ROLES)]


def role_rules() -> list[Rule]:
    return [
        readable(),
        *required(_r("id"), F.col("role_id"), "role_id", "an integer"),
        typed(_r("default"), F.col("is_default"), "is_default", "a boolean"),
        typed(_r("agent_type"), F.col("agent_type"), "agent_type", "an integer"),
        *timestamps([(_r("created_at"), "created_at"), (_r("updated_at"), "updated_at")]),
        *no_nul(["name", "description"]),
    ]


def group_rules() -> list[Rule]:
    return [
        readable(),
        *required(_r("id"), F.col("group_id"), "group_id", "an integer"),
        typed(_r("parent_group_id"), F.col("parent_group_id"), "parent_group_id", "an integer"),
        listed_ids(MEMBERSHIPS),
        *timestamps([(_r("created_at"), "created_at"), (_r("updated_at"), "updated_at")]),
        *no_nul(["name", "description"]),
    ]


def listed_ids(derived: DerivedTable) -> Rule:
    """The parent's id list a derived table is exploded from: a list, or absent."""
    return list_or_absent(_r(derived.field), F.col(derived.ids), derived.field)


def reference_rules(derived: DerivedTable) -> list[Rule]:
    """On a derived table's exploded rows (``transforms.explode_ids``, flagged with its ``flag``): an
    id that is there, an integer, and known."""
    raw, column, flag = derived.raw, derived.column, derived.flag
    return [
        Rule(f"{column}_present", derived.missing, F.col(raw).isNotNull(), blocking=True),
        Rule(f"{column}_integer", derived.not_integer, F.col(column).isNotNull(), blocking=True),
        Rule(flag, F.concat(F.lit(f"{derived.unknown} "), F.col(column).cast("string")), F.col(flag)),
    ]


def budget_rules() -> list[Rule]:
    period, spent = F.col("_period"), F.col("_spent")
    amounts = [
        (period.limit, "period_limit"),
        (period.overspendBuffer, "period_overspend_buffer"),
        (period.assigned, "period_assigned"),
        (spent.cleared, "spent_cleared"),
        (spent.pending, "spent_pending"),
        (spent.total, "spent_total"),
    ]
    return [
        readable(),
        present(_r("id"), "budget_id"),
        typed(_r("retired"), F.col("retired"), "retired", "a boolean"),
        typed(_r("startDate"), F.col("start_date"), "start_date", "a date"),
        object_or_absent(_r("currentPeriod"), "currentPeriod"),
        typed(period.startDate, F.col("period_start_date"), "period_start_date", "a date"),
        object_or_absent(period.spent, "currentPeriod.spent"),
        *[typed(raw, F.col(label), label, "numeric") for raw, label in amounts],
        *[non_negative(F.col(label), label) for _, label in amounts],
        *no_nul(["budget_id", "budget_uuid", "name", "description", "recurring_interval"]),
    ]


def card_rules() -> list[Rule]:
    period = F.col("_period")
    return [
        readable(),
        present(_r("id"), "card_id"),
        object_or_absent(_r("currentPeriod"), "currentPeriod"),
        typed(period.limit, F.col("period_limit"), "period_limit", "numeric"),
        typed(period.spent, F.col("period_spent"), "period_spent", "numeric"),
        non_negative(F.col("period_limit"), "period_limit"),
        non_negative(F.col("period_spent"), "period_spent"),
        *timestamps([(_r("createdTime"), "created_at"), (_r("updatedTime"), "updated_at")]),
        *no_nul(
            [
                "card_id",
                "card_uuid",
                "name",
                "user_id",
                "user_uuid",
                "budget_id",
                "budget_uuid",
                "last_four",
                "valid_thru",
                "status",
                "card_type",
            ]
        ),
    ]


TRANSACTION_TEXT = [
    "transaction_id",
    "transaction_uuid",
    "transaction_type",
    "user_id",
    "user_uuid",
    "user_name",
    "card_id",
    "card_uuid",
    "budget_id",
    "budget_uuid",
    "merchant_name",
    "raw_merchant_name",
]


def transaction_rules(currencies: frozenset[str] | None = None) -> list[Rule]:
    """On ``transforms.transactions`` rows after ``fx.with_usd_amounts``. Unknown cards or budgets
    are NOT a rule: spend is never dropped for them (they are counted as warnings)."""
    codes = sorted(currencies if currencies is not None else fx.iso_currency_codes())
    ccy = F.col("_currency")
    code = F.col("original_currency")
    # One SQL expression instead of a literal per code: 180 codes cost 700 Py4J round trips as Columns.
    known_code = F.expr(f"original_currency IN ({', '.join(sql_string(c) for c in codes)})")
    # False, not null, for a missing currency: the rules on the rate apply only to what can be converted.
    convertible = F.coalesce(
        F.col("original_amount").isNotNull() & known_code & F.col("occurred_at").isNotNull(), F.lit(False)
    )
    return [
        readable(),
        present(_r("id"), "transaction_id"),
        *required(_r("occurredTime"), F.col("occurred_at"), "occurred_at", "a timestamp"),
        *required(_r("updatedTime"), F.col("updated_at"), "updated_at", "a timestamp"),
        Rule("currency_data", "currencyData missing or not an object", F.col("_currency").isNotNull(), blocking=True),
        present(ccy.originalCurrencyAmount, "original_amount"),
        *required(ccy.exponent, F.col("currency_exponent"), "currency_exponent", "an integer"),
        Rule(
            "currency_exponent_range",
            "currency_exponent outside 0-6",
            F.col("currency_exponent").isNull() | F.col("currency_exponent").between(0, 6),
        ),
        Rule(
            "original_amount_numeric",
            "original_amount not numeric",
            ccy.originalCurrencyAmount.isNull()
            | (ccy.originalCurrencyAmount == "")
            | minor_units(ccy.originalCurrencyAmount).isNotNull(),
        ),
        present(code, "original_currency"),
        Rule(
            "original_currency_known",
            F.concat(F.lit("unknown currency code "), code),
            code.isNull() | (code == "") | known_code,
        ),
        typed(_r("amount"), F.col("feed_amount_usd"), "feed_amount_usd", "numeric"),
        typed(ccy.exchangeRate, F.col("feed_exchange_rate"), "feed_exchange_rate", "numeric"),
        Rule(
            "fx_rate_available",
            # A rate not published yet is retriable: its own reason, recognised by its prefix.
            F.when(
                F.col("fx_source") == fx.SOURCE_AWAITING,
                F.concat(
                    F.lit(fx.AWAITING_PREFIX + " "),
                    code,
                    F.lit(" on "),
                    utc_date(F.col("occurred_at")).cast("string"),
                    F.lit(" (newest rate "),
                    F.col("fx_rate_date").cast("string"),
                    F.lit(")"),
                ),
            ).otherwise(
                F.concat(F.lit("no FX rate for "), code, F.lit(" on "), utc_date(F.col("occurred_at")).cast("string"))
            ),
            ~convertible | F.col("fx_rate").isNotNull(),
        ),
        Rule(
            "amount_usd_in_range",
            "amount_usd out of range",
            ~convertible | F.col("fx_rate").isNull() | F.col("amount_usd").isNotNull(),
        ),
        *no_nul(TRANSACTION_TEXT),
    ]


RULES: dict[str, Callable[[], list[Rule]]] = {
    "agents": agent_rules,
    "agent_details": agent_details_rules,
    "roles": role_rules,
    "admin_groups": group_rules,
    "budgets": budget_rules,
    "cards": card_rules,
    "transactions": transaction_rules,
}
