"""rules.py: every rule of every entity with a passing and a failing row, through the production
path ``classify.classify`` (the rows that pass and the quarantine rows compared whole), reasons
joined, blocking rules, null predicates failing closed."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from chispa import assert_df_equality
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from zluri_staging import fx, read, rules, transforms
from zluri_staging.classify import QUARANTINED, STATUS, classify, quarantine_rows
from zluri_staging.derived import AGENT_ROLES, MEMBERSHIPS
from zluri_staging.rules import REASON, Rule, reference_rules
from zluri_staging.schemas import ENTITIES

Q_SCHEMA = "entity string, source_file string, reason string, raw_record string"


def record_text(value: object) -> str:
    """A record's exact text in a file written by ``parsed`` (json.dumps of the page)."""
    return json.dumps(value, ensure_ascii=False)


def parsed(spark, entity: str, items: list, extra_files: dict[str, str] | None = None) -> DataFrame:
    body = items if ENTITIES[entity].layout == "array" else {"results": items}
    files = [(f"sync-d/{entity}/1.json", json.dumps(body, ensure_ascii=False)), *(extra_files or {}).items()]
    frame = spark.createDataFrame(files, "source_file string, value string")
    return read.records(read.parse_files(frame, ENTITIES[entity]))


def split(df: DataFrame, rule_list, entity: str) -> tuple[DataFrame, DataFrame]:
    """(rows that pass every rule, with df's columns; their quarantine rows): ``classify`` marks the
    rows that pass valid or duplicate (which copy of a key wins is not a rule's business)."""
    classified = classify(df, rule_list, keys=(), order=[F.col("source_file")])
    passed = classified.where(F.col(STATUS) != QUARANTINED).drop(REASON, STATUS)
    return passed, quarantine_rows(classified, entity)


def assert_split(spark, entity, typed: DataFrame, rule_list, key: str, valid_keys: list, failing: list[tuple]):
    """``failing``: (item or raw text, reason[, source_file]) per quarantined row."""
    valid, quarantined = split(typed, rule_list, entity)
    key_type = typed.schema[key].dataType.simpleString()
    assert_df_equality(
        valid.select(key),
        spark.createDataFrame([(k,) for k in valid_keys], f"{key} {key_type}"),
        ignore_nullable=True,
        ignore_row_order=True,
    )
    rows = []
    for case in failing:
        item, reason, *source = case
        raw = item if isinstance(item, str) else record_text(item)
        rows.append((entity, source[0] if source else f"sync-d/{entity}/1.json", reason, raw))
    assert_df_equality(quarantined, spark.createDataFrame(rows, Q_SCHEMA), ignore_nullable=True, ignore_row_order=True)


def nul_cases(base: dict, fields: dict[str, str], key_field: str, make_key) -> list[tuple[dict, str]]:
    """One record per text column with a NUL in the feed field that fills it."""
    cases = []
    for i, (feed_field, column) in enumerate(fields.items()):
        item = {**base, key_field: make_key(100 + i)}
        item[feed_field] = "a\u0000b"
        cases.append((item, f"{column} contains a NUL character"))
    return cases


# -- split mechanics ------------------------------------------------------------------------------


def test_split_joins_every_failing_reason_blocks_after_blocking_rules_and_fails_closed_on_null(spark):
    frame = spark.createDataFrame(
        [("ok", 1, 1, None), ("two", -1, None, None), ("blocked", -1, None, "broken"), ("null", None, 1, None)],
        "source_file string, a int, b int, read_error string",
    ).withColumn("raw_record", F.col("source_file"))
    rule_list = [
        Rule("readable", F.col("read_error"), F.col("read_error").isNull(), blocking=True),
        Rule("a_positive", "a not positive", F.col("a") > 0),
        Rule("b_present", F.concat(F.lit("b missing in "), F.col("source_file")), F.col("b").isNotNull()),
    ]

    valid, quarantined = split(frame, rule_list, "things")

    assert_df_equality(
        valid,
        spark.createDataFrame(
            [("ok", 1, 1, None, "ok")], "source_file string, a int, b int, read_error string, raw_record string"
        ),
        ignore_nullable=True,
    )
    assert_df_equality(
        quarantined,
        spark.createDataFrame(
            [
                ("things", "two", "a not positive; b missing in two", "two"),
                ("things", "blocked", "broken", "blocked"),
                ("things", "null", "a not positive", "null"),  # a null predicate never lets a row through
            ],
            Q_SCHEMA,
        ),
        ignore_nullable=True,
        ignore_row_order=True,
    )


def test_a_blocking_rule_in_the_middle_keeps_the_reasons_before_it_and_stops_those_after(spark):
    frame = spark.createDataFrame(
        [
            ("ok", 1, 1, "{", None),
            ("a and b", -1, None, "{", None),
            ("a, then c", -1, None, "[", None),  # b is not looked at once c fails
            ("c only", 1, None, "[", None),
            ("c null", -1, None, None, None),  # a null predicate fails closed, a blocking one too
            ("c null alone", 1, 1, None, None),  # ... and c's reason, null too, gives the rule's name
            ("unreadable", -1, None, "[", "broken"),
        ],
        "source_file string, a int, b int, c string, read_error string",
    )
    rule_list = [
        Rule("readable", F.col("read_error"), F.col("read_error").isNull(), blocking=True),
        Rule("a_positive", "a not positive", F.col("a") > 0),
        Rule("c_object", F.concat(F.lit("c is "), F.col("c")), F.col("c").startswith("{"), blocking=True),
        Rule("b_present", "b missing", F.col("b").isNotNull()),
    ]
    reasons = {
        row["source_file"]: row[REASON]
        for row in rules.annotate(frame, rule_list).select("source_file", REASON).collect()
    }
    assert reasons == {
        "ok": None,
        "a and b": "a not positive; b missing",
        "a, then c": "a not positive; c is [",
        "c only": "c is [",
        "c null": "a not positive; c_object failed",  # c's reason is null: the rule's name; b is not looked at
        "c null alone": "c_object failed",
        "unreadable": "broken",
    }
    # Only blocking rules, the last of them failing; and no rules at all.
    last = [rule_list[0], rule_list[2]]
    only = {r["source_file"]: r[REASON] for r in rules.annotate(frame, last).select("source_file", REASON).collect()}
    assert only["c only"] == "c is [" and only["ok"] is None and only["unreadable"] == "broken"
    assert rules.annotate(frame, []).where(F.col(REASON).isNotNull()).count() == 0


# -- entities -------------------------------------------------------------------------------------

AGENT: dict[str, Any] = {
    "id": 69000000001,
    "deactivated": False,
    "contact": {"active": True, "email": "a@example.test", "job_title": "IT", "name": "A"},
    "created_at": "2022-05-26T08:26:55Z",
    "updated_at": "2026-01-04T08:57:30Z",
}


def _agent_cases() -> list[tuple[dict, str]]:
    contact = AGENT["contact"]
    return [
        ({**AGENT, "id": None}, "agent_id missing"),
        ({**AGENT, "id": "69x"}, "agent_id not an integer"),
        ({**AGENT, "id": 69000000011, "deactivated": "yes"}, "deactivated not a boolean"),
        ({**AGENT, "id": 69000000012, "contact": "a@example.test"}, "contact not an object"),
        ({**AGENT, "id": 69000000013, "contact": {**contact, "active": 1}}, "contact_active not a boolean"),
        ({**AGENT, "id": 69000000014, "created_at": "2022-02-30T08:26:55Z"}, "created_at not a timestamp"),
        ({**AGENT, "id": 69000000015, "updated_at": "yesterday"}, "updated_at not a timestamp"),
        ({**AGENT, "id": "x", "deactivated": 0}, "agent_id not an integer; deactivated not a boolean"),
        *[
            (
                {**AGENT, "id": 69000000020 + i, "contact": {**contact, field: "a\u0000b"}},
                f"{field} contains a NUL character",
            )
            for i, field in enumerate(("email", "name", "job_title"))
        ],
    ]


def test_agent_rules(spark):
    cases = _agent_cases()
    items = [AGENT, {**AGENT, "id": 69000000002, "deactivated": None, "contact": None}, 7, *[c[0] for c in cases]]
    records = parsed(spark, "agents", items, {"sync-d/agents/2.json": "[{"})

    assert_split(
        spark,
        "agents",
        transforms.agents(records),
        rules.agent_rules(),
        "agent_id",
        [69000000001, 69000000002],
        [("7", read.ERR_NOT_OBJECT), ("[{", read.ERR_NOT_JSON, "sync-d/agents/2.json"), *cases],
    )


def test_agent_details_rules(spark):
    good = {**AGENT, "role_ids": [69000000100]}
    frame = spark.createDataFrame(
        [
            ("sync-d/agent_details/1.json", json.dumps(good)),
            ("sync-d/agent_details/2.json", json.dumps({**good, "id": 69000000002, "role_ids": None})),
            ("sync-d/agent_details/3.json", json.dumps({**good, "id": 69000000003, "role_ids": "69000000100"})),
            ("sync-d/agent_details/4.json", json.dumps({**good, "id": "x"})),
        ],
        "source_file string, value string",
    )
    records = read.records(read.parse_files(frame, ENTITIES["agent_details"]))

    assert_split(
        spark,
        "agent_details",
        transforms.agent_details(records),
        rules.agent_details_rules(),
        "agent_id",
        [69000000001, 69000000002],
        [
            (
                {**good, "id": 69000000003, "role_ids": "69000000100"},
                "role_ids not an array",
                "sync-d/agent_details/3.json",
            ),
            ({**good, "id": "x"}, "agent_id not an integer", "sync-d/agent_details/4.json"),
        ],
    )


def test_agent_role_rules(spark):
    roles = spark.createDataFrame(
        [
            ("f", 0, '{"r":1}', 1, "69000000100", 69000000100, True),
            ("f", 0, '{"r":2}', 1, None, None, None),
            ("f", 0, '{"r":3}', 1, "r-x", None, None),
            ("f", 0, '{"r":4}', 1, "69000000999", 69000000999, False),
        ],
        "source_file string, position int, raw_record string, agent_id long, _role_raw string, role_id long, role_known boolean",
    )

    valid, quarantined = split(roles, reference_rules(AGENT_ROLES), "agent_roles")

    assert_df_equality(
        valid.select("role_id"), spark.createDataFrame([(69000000100,)], "role_id long"), ignore_nullable=True
    )
    assert_df_equality(
        quarantined,
        spark.createDataFrame(
            [
                ("agent_roles", "f", "agent role id missing", '{"r":2}'),
                ("agent_roles", "f", "agent role id not an integer", '{"r":3}'),
                ("agent_roles", "f", "agent role names unknown role 69000000999", '{"r":4}'),
            ],
            Q_SCHEMA,
        ),
        ignore_nullable=True,
        ignore_row_order=True,
    )


ROLE = {
    "id": 69000000100,
    "name": "Agent",
    "description": "Can log tickets.",
    "default": True,
    "created_at": "2021-08-13T11:50:17Z",
    "updated_at": "2022-12-25T09:43:29Z",
    "agent_type": 1,
}


def test_role_rules(spark):
    cases = [
        ({**ROLE, "id": None}, "role_id missing"),
        ({**ROLE, "id": "admin"}, "role_id not an integer"),
        ({**ROLE, "id": 69000000102, "default": "yes"}, "is_default not a boolean"),
        ({**ROLE, "id": 69000000103, "agent_type": "one"}, "agent_type not an integer"),
        ({**ROLE, "id": 69000000104, "created_at": "2021-13-13T11:50:17Z"}, "created_at not a timestamp"),
        ({**ROLE, "id": 69000000105, "updated_at": "2022-12-25"}, "updated_at not a timestamp"),
        *nul_cases(ROLE, {"name": "name", "description": "description"}, "id", lambda n: 69000000000 + n),
    ]
    records = parsed(spark, "roles", [ROLE, {**ROLE, "id": 69000000101, "default": None}, *[c[0] for c in cases]])

    assert_split(
        spark, "roles", transforms.roles(records), rules.role_rules(), "role_id", [69000000100, 69000000101], cases
    )


GROUP = {
    "id": 69000000500,
    "name": "IT",
    "description": "Support",
    "parent_group_id": None,
    "agent_ids": [69000000001],
    "created_at": "2021-08-13T17:17:00Z",
    "updated_at": "2021-12-13T14:09:44Z",
}


def test_group_rules(spark):
    cases = [
        ({**GROUP, "id": ""}, "group_id missing"),
        ({**GROUP, "id": "6.9e10"}, "group_id not an integer"),
        ({**GROUP, "id": 69000000502, "parent_group_id": "root"}, "parent_group_id not an integer"),
        ({**GROUP, "id": 69000000503, "agent_ids": 69000000001}, "agent_ids not an array"),
        ({**GROUP, "id": 69000000504, "created_at": "2021-08-13T17:17:00"}, "created_at not a timestamp"),
        ({**GROUP, "id": 69000000505, "updated_at": 1639404584}, "updated_at not a timestamp"),
        *nul_cases(GROUP, {"name": "name", "description": "description"}, "id", lambda n: 69000000000 + n),
    ]
    child = {**GROUP, "id": 69000000501, "parent_group_id": 69000000500, "agent_ids": None}
    records = parsed(spark, "admin_groups", [GROUP, child, *[c[0] for c in cases]])

    assert_split(
        spark,
        "admin_groups",
        transforms.groups(records),
        rules.group_rules(),
        "group_id",
        [69000000500, 69000000501],
        cases,
    )


def test_membership_rules(spark):
    members = spark.createDataFrame(
        [
            ("f", 0, '{"m":1}', 69000000500, "69000000001", 69000000001, True),
            ("f", 0, '{"m":2}', 69000000500, None, None, None),
            ("f", 0, '{"m":3}', 69000000500, "a-1", None, None),
            ("f", 0, '{"m":4}', 69000000500, "79000000001", 79000000001, False),
        ],
        "source_file string, position int, raw_record string, group_id long, _agent_raw string, agent_id long, agent_known boolean",
    )

    valid, quarantined = split(members, reference_rules(MEMBERSHIPS), "group_memberships")

    assert_df_equality(
        valid.select("agent_id"), spark.createDataFrame([(69000000001,)], "agent_id long"), ignore_nullable=True
    )
    assert_df_equality(
        quarantined,
        spark.createDataFrame(
            [
                ("group_memberships", "f", "membership agent id missing", '{"m":2}'),
                ("group_memberships", "f", "membership agent id not an integer", '{"m":3}'),
                ("group_memberships", "f", "membership names unknown agent 79000000001", '{"m":4}'),
            ],
            Q_SCHEMA,
        ),
        ignore_nullable=True,
        ignore_row_order=True,
    )


PERIOD: dict[str, Any] = {
    "startDate": "2025-04-23",
    "limit": 1000,
    "overspendBuffer": 500,
    "assigned": 0,
    "spent": {"cleared": 35.95, "pending": 0, "total": 35.95},
}
BUDGET = {
    "id": "QnVkZ2V0OjE=",
    "uuid": "bgt_1",
    "name": "AP",
    "description": "Misc",
    "retired": False,
    "startDate": "2025-04-23",
    "recurringInterval": "NONE",
    "currentPeriod": PERIOD,
}


def test_budget_rules(spark):
    def budget(n: int, **changes) -> dict:
        return {**BUDGET, "id": f"QnVkZ2V0:{n}", **changes}

    def period(n: int, **changes) -> dict:
        return budget(n, currentPeriod={**PERIOD, **changes})

    def spent(n: int, **changes) -> dict:
        return budget(n, currentPeriod={**PERIOD, "spent": {**PERIOD["spent"], **changes}})

    cases = [
        ({**BUDGET, "id": None}, "budget_id missing"),
        (budget(2, retired="no"), "retired not a boolean"),
        (budget(3, startDate="2025-02-30"), "start_date not a date"),
        (budget(4, currentPeriod=[1000]), "currentPeriod not an object"),
        (period(5, startDate="April"), "period_start_date not a date"),
        (period(6, spent=35.95), "currentPeriod.spent not an object"),
        (period(7, limit="NaN"), "period_limit not numeric"),
        (period(8, overspendBuffer=""), "period_overspend_buffer not numeric"),
        (period(9, assigned="1,000"), "period_assigned not numeric"),
        (spent(10, cleared="x"), "spent_cleared not numeric"),
        (spent(11, pending="Infinity"), "spent_pending not numeric"),
        (spent(12, total=True), "spent_total not numeric"),
        (period(13, limit=-1), "period_limit negative"),
        (period(14, overspendBuffer=-0.5), "period_overspend_buffer negative"),
        (period(15, assigned=-3), "period_assigned negative"),
        (spent(16, cleared=-1), "spent_cleared negative"),
        (spent(17, pending=-1), "spent_pending negative"),
        (spent(18, total=-35.95), "spent_total negative"),
        *nul_cases(
            BUDGET,
            {
                "id": "budget_id",
                "uuid": "budget_uuid",
                "name": "name",
                "description": "description",
                "recurringInterval": "recurring_interval",
            },
            "id",
            lambda n: f"QnVkZ2V0:{n}",
        ),
    ]
    records = parsed(spark, "budgets", [BUDGET, budget(1, currentPeriod=None), *[c[0] for c in cases]])

    assert_split(
        spark,
        "budgets",
        transforms.budgets(records),
        rules.budget_rules(),
        "budget_id",
        ["QnVkZ2V0OjE=", "QnVkZ2V0:1"],
        cases,
    )


CARD = {
    "id": "Q2FyZDox",
    "uuid": "crd_1",
    "name": "Vendor",
    "userId": "VXNlcjox",
    "userUuid": "usr_1",
    "budgetId": "QnVkZ2V0OjE=",
    "budgetUuid": "bgt_1",
    "lastFour": "7228",
    "validThru": "01/32",
    "status": "FROZEN",
    "type": "VIRTUAL_VENDOR",
    "currentPeriod": {"limit": 184.18, "spent": 0},
    "createdTime": "2024-09-23T17:53:44.000+00:00",
    "updatedTime": "2024-12-05T19:31:42.000+00:00",
}


def test_card_rules(spark):
    def card(n: int, **changes) -> dict:
        return {**CARD, "id": f"Q2FyZD:{n}", **changes}

    text = {
        "id": "card_id",
        "uuid": "card_uuid",
        "name": "name",
        "userId": "user_id",
        "userUuid": "user_uuid",
        "budgetId": "budget_id",
        "budgetUuid": "budget_uuid",
        "lastFour": "last_four",
        "validThru": "valid_thru",
        "status": "status",
        "type": "card_type",
    }
    cases = [
        ({**CARD, "id": None}, "card_id missing"),
        (card(2, currentPeriod="184.18"), "currentPeriod not an object"),
        (card(3, currentPeriod={"limit": "unlimited", "spent": 0}), "period_limit not numeric"),
        (card(4, currentPeriod={"limit": 1, "spent": "0x1"}), "period_spent not numeric"),
        (card(5, currentPeriod={"limit": -1, "spent": 0}), "period_limit negative"),
        (card(6, currentPeriod={"limit": 1, "spent": -0.01}), "period_spent negative"),
        (card(7, createdTime="2024-09-23T17:53:44.000"), "created_at not a timestamp"),
        (card(8, updatedTime="05/12/2024"), "updated_at not a timestamp"),
        *nul_cases(CARD, text, "id", lambda n: f"Q2FyZD:{n}"),
    ]
    records = parsed(spark, "cards", [CARD, card(1, currentPeriod=None, createdTime=None), *[c[0] for c in cases]])

    assert_split(
        spark, "cards", transforms.cards(records), rules.card_rules(), "card_id", ["Q2FyZDox", "Q2FyZD:1"], cases
    )


CCY = {"exchangeRate": 1, "exponent": 2, "originalCurrencyAmount": "4637", "originalCurrencyCode": "USD", "symbol": "$"}
TXN = {
    "id": "VHg6MQ==",
    "uuid": "txr_1",
    "transactionType": "AUTHORIZATION",
    "userId": "VXNlcjox",
    "userUuid": "usr_1",
    "userName": "Kevin",
    "cardId": "Q2FyZDox",
    "cardUuid": "crd_1",
    "budgetId": "QnVkZ2V0OjE=",
    "budgetUuid": "bgt_1",
    "merchantName": "Snap",
    "rawMerchantName": "SNAP ON",
    "occurredTime": "2026-01-05T21:07:59.000+00:00",
    "updatedTime": "2026-01-05T21:17:27.000+00:00",
    "amount": 46.37,
    "currencyData": CCY,
}


def test_transaction_rules(spark):
    def txn(n: int, **changes) -> dict:
        return {**TXN, "id": f"VHg:{n}", **changes}

    def ccy(n: int, **changes) -> dict:
        return txn(n, currencyData={**CCY, **changes})

    text = {
        "id": "transaction_id",
        "uuid": "transaction_uuid",
        "transactionType": "transaction_type",
        "userId": "user_id",
        "userUuid": "user_uuid",
        "userName": "user_name",
        "cardId": "card_id",
        "cardUuid": "card_uuid",
        "budgetId": "budget_id",
        "budgetUuid": "budget_uuid",
        "merchantName": "merchant_name",
        "rawMerchantName": "raw_merchant_name",
    }
    cases = [
        ({**TXN, "id": None}, "transaction_id missing"),
        (txn(2, occurredTime=None), "occurred_at missing"),
        (txn(3, occurredTime="2025-02-30T25:61:00.000+00:00"), "occurred_at not a timestamp"),
        (txn(4, updatedTime=""), "updated_at missing"),
        (txn(5, updatedTime="not-a-timestamp"), "updated_at not a timestamp"),
        (txn(6, currencyData=None), "currencyData missing or not an object"),
        (txn(61, currencyData="USD 46.37"), "currencyData missing or not an object"),
        (ccy(7, originalCurrencyAmount=None), "original_amount missing"),
        (ccy(8, exponent=None), "currency_exponent missing"),
        (ccy(9, exponent="two"), "currency_exponent not an integer"),
        (ccy(10, exponent=9), "currency_exponent outside 0-6"),
        (ccy(11, originalCurrencyAmount="NaN"), "original_amount not numeric"),
        (ccy(12, originalCurrencyCode=None), "original_currency missing"),
        (ccy(13, originalCurrencyCode="XXQ"), "unknown currency code XXQ"),
        (txn(14, amount="46,37"), "feed_amount_usd not numeric"),
        (ccy(15, exchangeRate="one"), "feed_exchange_rate not numeric"),
        (ccy(16, originalCurrencyCode="CHF"), "no FX rate for CHF on 2026-01-05"),
        (ccy(17, originalCurrencyAmount="1" + "0" * 17), "amount_usd out of range"),
        (
            ccy(18, originalCurrencyAmount="", originalCurrencyCode="usd"),
            "original_amount missing; unknown currency code usd",
        ),
        *nul_cases(TXN, text, "id", lambda n: f"VHg:{n}"),
    ]
    eur = txn(1, currencyData={**CCY, "originalCurrencyCode": "EUR", "exponent": 0}, cardId=None, amount=None)
    records = parsed(spark, "transactions", [TXN, eur, *[c[0] for c in cases]])
    rates = fx.rates_frame(
        spark,
        [
            fx.DailyRate(date(2026, 1, 5), "USD", Decimal("1"), date(2026, 1, 5), "ecb"),
            fx.DailyRate(date(2026, 1, 5), "EUR", Decimal("1.1"), date(2026, 1, 5), "ecb"),
        ],
    )
    typed = fx.with_usd_amounts(transforms.transactions(records), rates)

    assert_split(
        spark, "transactions", typed, rules.transaction_rules(), "transaction_id", ["VHg6MQ==", "VHg:1"], cases
    )
