"""transforms.py: every entity transform into its staging columns, strict casts, exact minor-unit
amounts, untouched strings, and the reference flag."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

from chispa import assert_df_equality
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from zluri_staging import read, transforms
from zluri_staging.derived import AGENT_ROLES, MEMBERSHIPS
from zluri_staging.schemas import ENTITIES, STAGING
from zluri_staging.transforms import explode_ids

HOSTILE = "Robert'); DROP TABLE core.agents;-- \\ \"quoted\"\n\ttab é 😀 ½ \u2028 '' \\."


def records_of(spark, entity: str, items: list) -> DataFrame:
    """The read frame of one file holding ``items`` in the entity's layout (one file per item for
    agent_details), parsed by the real reader."""
    layout = ENTITIES[entity].layout
    if layout == "object":
        files = [(f"sync-d/{entity}/{i}.json", json.dumps(item, ensure_ascii=False)) for i, item in enumerate(items)]
    else:
        body = items if layout == "array" else {"results": items}
        files = [(f"sync-d/{entity}/1.json", json.dumps(body, ensure_ascii=False))]
    frame = spark.createDataFrame(files, "source_file string, value string")
    return read.records(read.parse_files(frame, ENTITIES[entity]))


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).replace(tzinfo=None)


def expect(spark, table: str, rows: list[tuple]) -> DataFrame:
    # Expected rows may hold nulls where the table does not (rows a rule would quarantine).
    schema = T.StructType([T.StructField(f.name, f.dataType, True) for f in STAGING[table].fields])
    return spark.createDataFrame(rows, schema)


def test_agents_flatten_contact_and_keep_strings_byte_for_byte(spark):
    records = records_of(
        spark,
        "agents",
        [
            {
                "id": 69000000001,
                "created_at": "2022-05-26T08:26:55Z",
                "updated_at": "2026-01-05T21:07:59.000+00:00",
                "contact": {"active": True, "email": 'o\'brien+"x"@example.test', "job_title": "", "name": HOSTILE},
            },
            {
                "id": "not-a-number",
                "deactivated": True,
                "contact": None,
                "created_at": "2025-02-30T25:61:00Z",
                "updated_at": "2026-01-05 21:07:59",
            },
            {"id": 69000000003, "deactivated": False, "contact": {"active": "yes", "email": None}},
        ],
    )

    staged = transforms.staging_frame(transforms.agents(records), "stg_agents")

    src = "sync-d/agents/1.json"
    assert_df_equality(
        staged,
        expect(
            spark,
            "stg_agents",
            [
                (
                    69000000001,
                    'o\'brien+"x"@example.test',
                    HOSTILE,
                    "",
                    True,
                    False,
                    ts("2022-05-26T08:26:55Z"),
                    ts("2026-01-05T21:07:59Z"),
                    src,
                ),
                (None, None, None, None, None, True, None, None, src),
                (69000000003, None, None, None, None, False, None, None, src),
            ],
        ),
        ignore_nullable=True,
        ignore_row_order=True,
    )


def test_agent_details_and_their_roles(spark):
    details = transforms.agent_details(
        records_of(
            spark,
            "agent_details",
            [
                {
                    "id": 69000000001,
                    "deactivated": True,
                    "role_ids": [69000000100, "69000000101", "r-x", None],
                    "contact": {"active": False, "email": "a@example.test", "name": "A", "job_title": "IT"},
                    "created_at": "2021-11-18T14:48:12Z",
                    "updated_at": "2026-01-03T07:58:29Z",
                },
                {"id": 69000000002, "role_ids": "69000000100"},
            ],
        )
    )

    assert_df_equality(
        transforms.staging_frame(details, "stg_agent_details"),
        expect(
            spark,
            "stg_agent_details",
            [
                (
                    69000000001,
                    "a@example.test",
                    "A",
                    "IT",
                    False,
                    True,
                    ts("2021-11-18T14:48:12Z"),
                    ts("2026-01-03T07:58:29Z"),
                    "sync-d/agent_details/0.json",
                ),
                (69000000002, None, None, None, None, False, None, None, "sync-d/agent_details/1.json"),
            ],
        ),
        ignore_nullable=True,
        ignore_row_order=True,
    )
    assert_df_equality(
        explode_ids(AGENT_ROLES, details).select("agent_id", "_role_raw", "role_id", "raw_record"),
        spark.createDataFrame(
            [
                (69000000001, "69000000100", 69000000100, '{"agent_id":69000000001,"role_id":"69000000100"}'),
                (69000000001, "69000000101", 69000000101, '{"agent_id":69000000001,"role_id":"69000000101"}'),
                (69000000001, "r-x", None, '{"agent_id":69000000001,"role_id":"r-x"}'),
                (69000000001, None, None, '{"agent_id":69000000001}'),
            ],
            "agent_id long, _role_raw string, role_id long, raw_record string",
        ),
        ignore_nullable=True,
        ignore_row_order=True,
    )


def test_roles(spark):
    records = records_of(
        spark,
        "roles",
        [
            {
                "id": 69000000100,
                "name": "Account Administrator",
                "description": "Has control.",
                "default": True,
                "created_at": "2021-08-13T11:50:17Z",
                "updated_at": "2024-01-31T20:10:48Z",
                "agent_type": 1,
            },
            {"id": 69000000101, "name": "Custom", "default": "no", "agent_type": 1.5},
        ],
    )

    assert_df_equality(
        transforms.staging_frame(transforms.roles(records), "stg_roles"),
        expect(
            spark,
            "stg_roles",
            [
                (
                    69000000100,
                    "Account Administrator",
                    "Has control.",
                    True,
                    1,
                    ts("2021-08-13T11:50:17Z"),
                    ts("2024-01-31T20:10:48Z"),
                ),
                (69000000101, "Custom", None, None, None, None, None),
            ],
        ),
        ignore_nullable=True,
        ignore_row_order=True,
    )


def test_groups_and_memberships(spark):
    groups = transforms.groups(
        records_of(
            spark,
            "admin_groups",
            [
                {
                    "id": 69000000500,
                    "name": "IT Support",
                    "description": None,
                    "parent_group_id": None,
                    "agent_ids": [69000000001, 69000000002],
                    "created_at": "2021-08-13T17:17:00Z",
                    "updated_at": "2021-12-13T14:09:44Z",
                },
                {"id": 69000000501, "name": "DevOps", "parent_group_id": 69000000500, "agent_ids": []},
                {"id": 69000000502, "name": "Broken", "parent_group_id": "top", "agent_ids": {"a": 1}},
            ],
        )
    )

    assert_df_equality(
        transforms.staging_frame(groups, "stg_groups"),
        expect(
            spark,
            "stg_groups",
            [
                (69000000500, "IT Support", None, None, ts("2021-08-13T17:17:00Z"), ts("2021-12-13T14:09:44Z")),
                (69000000501, "DevOps", None, 69000000500, None, None),
                (69000000502, "Broken", None, None, None, None),
            ],
        ),
        ignore_nullable=True,
        ignore_row_order=True,
    )
    assert_df_equality(
        transforms.staging_frame(explode_ids(MEMBERSHIPS, groups), "stg_group_memberships"),
        expect(spark, "stg_group_memberships", [(69000000500, 69000000001), (69000000500, 69000000002)]),
        ignore_nullable=True,
        ignore_row_order=True,
    )


def test_budgets_flatten_the_current_period(spark):
    records = records_of(
        spark,
        "budgets",
        [
            {
                "id": "QnVkZ2V0OjE=",
                "uuid": "bgt_1",
                "name": "AP Vendor Budget",
                "description": "Misc",
                "retired": False,
                "startDate": "2025-04-23",
                "recurringInterval": "NONE",
                "currentPeriod": {
                    "startDate": "2025-04-23",
                    "limit": 1000,
                    "overspendBuffer": 500.5,
                    "assigned": 0,
                    "spent": {"cleared": 35.95, "pending": 0, "total": 35.95},
                },
            },
            {"id": "QnVkZ2V0OjI=", "retired": "nope", "startDate": "23/04/2025", "currentPeriod": "oops"},
        ],
    )

    assert_df_equality(
        transforms.staging_frame(transforms.budgets(records), "stg_budgets"),
        expect(
            spark,
            "stg_budgets",
            [
                (
                    "QnVkZ2V0OjE=",
                    "bgt_1",
                    "AP Vendor Budget",
                    "Misc",
                    False,
                    date(2025, 4, 23),
                    "NONE",
                    date(2025, 4, 23),
                    Decimal("1000"),
                    Decimal("500.5"),
                    Decimal("0"),
                    Decimal("35.95"),
                    Decimal("0"),
                    Decimal("35.95"),
                ),
                ("QnVkZ2V0OjI=", None, None, None, None, None, None, None, None, None, None, None, None, None),
            ],
        ),
        ignore_nullable=True,
        ignore_row_order=True,
    )


def test_cards(spark):
    records = records_of(
        spark,
        "cards",
        [
            {
                "id": "Q2FyZDox",
                "uuid": "crd_1",
                "name": "BON APPETIT",
                "userId": "VXNlcjox",
                "userUuid": "usr_1",
                "budgetId": "QnVkZ2V0OjE=",
                "budgetUuid": "bgt_1",
                "lastFour": "0072",
                "validThru": "01/32",
                "status": "FROZEN",
                "type": "VIRTUAL_VENDOR",
                "currentPeriod": {"limit": 184.18, "spent": 0},
                "createdTime": "2024-09-23T17:53:44.000+00:00",
                "updatedTime": "2024-12-05T19:31:42.000+00:00",
            },
            {"id": "Q2FyZDoy", "currentPeriod": {"limit": "lots"}},
        ],
    )

    assert_df_equality(
        transforms.staging_frame(transforms.cards(records), "stg_cards"),
        expect(
            spark,
            "stg_cards",
            [
                (
                    "Q2FyZDox",
                    "crd_1",
                    "BON APPETIT",
                    "VXNlcjox",
                    "usr_1",
                    "QnVkZ2V0OjE=",
                    "bgt_1",
                    "0072",
                    "01/32",
                    "FROZEN",
                    "VIRTUAL_VENDOR",
                    Decimal("184.18"),
                    Decimal("0"),
                    ts("2024-09-23T17:53:44Z"),
                    ts("2024-12-05T19:31:42Z"),
                ),
                ("Q2FyZDoy", *[None] * 10, None, None, None, None),
            ],
        ),
        ignore_nullable=True,
        ignore_row_order=True,
    )


def _transaction(tid: str, minor: str, exponent, code: str, **extra) -> dict:
    return {
        "id": tid,
        "uuid": f"txr_{tid}",
        "transactionType": "AUTHORIZATION",
        "userId": "VXNlcjox",
        "userUuid": "usr_1",
        "userName": "Kevin Felix",
        "rawMerchantName": "MICHAEL UDELL SNAP ON",
        "merchantName": HOSTILE,
        "budgetId": "QnVkZ2V0OjE=",
        "budgetUuid": "bgt_1",
        "cardId": "Q2FyZDox",
        "cardUuid": "crd_1",
        "occurredTime": "2026-01-05T21:07:59.000+00:00",
        "updatedTime": "2026-01-05T21:17:27Z",
        "amount": 46.37,
        "currencyData": {
            "exchangeRate": 1.3505059480667114,
            "exponent": exponent,
            "originalCurrencyAmount": minor,
            "originalCurrencyCode": code,
            "symbol": "$",
        },
        **extra,
    }


def test_transactions_amounts_are_exact_minor_units(spark):
    records = records_of(
        spark,
        "transactions",
        [
            _transaction("VHg6MQ==", "4637", 2, "USD"),
            _transaction("VHg6Mg==", "4637", 0, "JPY"),
            _transaction("VHg6Mw==", "NaN", 2, "GBP", amount="12.5x"),
            _transaction("VHg6NA==", "-1250", 2, "EUR", occurredTime="2026-01-05T23:30:00-05:00"),
        ],
    )

    staged = transforms.transactions(records).select(
        [
            c
            for c in STAGING["stg_transactions"].fieldNames()
            if c not in ("amount_usd", "fx_rate", "fx_rate_date", "fx_source")
        ]
    )

    def row(tid, occurred, amount, code, exponent, feed):
        return (
            tid,
            f"txr_{tid}",
            "AUTHORIZATION",
            ts(occurred),
            ts("2026-01-05T21:17:27Z"),
            "VXNlcjox",
            "usr_1",
            "Kevin Felix",
            "Q2FyZDox",
            "crd_1",
            "QnVkZ2V0OjE=",
            "bgt_1",
            HOSTILE,
            "MICHAEL UDELL SNAP ON",
            amount,
            code,
            exponent,
            feed,
            Decimal("1.350505948067"),
            "sync-d/transactions/1.json",
        )

    schema = ", ".join(
        f"{f.name} {f.dataType.simpleString()}"
        for f in STAGING["stg_transactions"].fields
        if f.name not in ("amount_usd", "fx_rate", "fx_rate_date", "fx_source")
    )
    assert_df_equality(
        staged,
        spark.createDataFrame(
            [
                row("VHg6MQ==", "2026-01-05T21:07:59Z", Decimal("46.37"), "USD", 2, Decimal("46.37")),
                row("VHg6Mg==", "2026-01-05T21:07:59Z", Decimal("4637"), "JPY", 0, Decimal("46.37")),
                row("VHg6Mw==", "2026-01-05T21:07:59Z", None, "GBP", 2, None),
                row("VHg6NA==", "2026-01-06T04:30:00Z", Decimal("-12.5"), "EUR", 2, Decimal("46.37")),
            ],
            schema,
        ),
        ignore_nullable=True,
        ignore_row_order=True,
    )


def test_minor_units_amount_rejects_anything_but_an_integer(spark):
    cases = [
        ("4637", "2", Decimal("46.37")),
        ("4637", "0", Decimal("4637")),
        ("007", "2", Decimal("0.07")),
        ("-5", "3", Decimal("-0.005")),
        ("9" * 32, "6", Decimal("9" * 26 + "." + "9" * 6)),
        ("9" * 33, "0", None),
        ("NaN", "2", None),
        ("Infinity", "2", None),
        ("", "2", None),
        ("12.5x", "2", None),
        ("12.5", "2", None),
        ("1e3", "0", None),
        (" 12", "0", None),
        ("12", "7", None),
        ("12", "2.0", None),
        (None, "2", None),
    ]
    frame = spark.createDataFrame(cases, "amount string, exponent string, expected decimal(38,6)")

    actual = frame.select(
        "amount", "exponent", transforms.minor_units_amount(F.col("amount"), F.col("exponent")).alias("expected")
    )

    assert_df_equality(actual, frame, ignore_nullable=True)


def test_strict_casts(spark):
    frame = spark.createDataFrame(
        [
            ("69000000001", "true", "2026-01-04T08:57:30Z", "2025-04-23", "35.95"),
            ("12.5", "True", "2026-01-04 08:57:30", "2025-02-30", "NaN"),
            (" 7", "1", "2026-01-04T08:57:30", "20250423", "1,5"),
            ("99999999999999999999", "false", "2026-01-04T08:57:30.123+05:30", "0001-01-01", "-1.5E2"),
        ],
        "i string, b string, t string, d string, n string",
    )

    actual = frame.select(
        transforms.as_bigint(F.col("i")).alias("i"),
        transforms.as_boolean(F.col("b")).alias("b"),
        transforms.as_timestamp(F.col("t")).alias("t"),
        transforms.as_date(F.col("d")).alias("d"),
        transforms.as_decimal(F.col("n")).alias("n"),
    )

    assert_df_equality(
        actual,
        spark.createDataFrame(
            [
                (69000000001, True, ts("2026-01-04T08:57:30Z"), date(2025, 4, 23), Decimal("35.95")),
                (None, None, None, None, None),
                (None, None, None, None, None),
                (None, False, ts("2026-01-04T03:27:30.123Z"), date(1, 1, 1), Decimal("-150")),
            ],
            "i long, b boolean, t timestamp, d date, n decimal(38,6)",
        ),
        ignore_nullable=True,
    )


def test_flag_known(spark):
    frame = spark.createDataFrame([("t1", "c1"), ("t2", "c9"), ("t3", None)], "transaction_id string, card_id string")
    known = spark.createDataFrame([("c1",), ("c1",), (None,)], "id string")

    assert_df_equality(
        transforms.flag_known(frame, known, "card_id", "card_known"),
        spark.createDataFrame(
            [("t1", "c1", True), ("t2", "c9", False), ("t3", None, None)],
            "transaction_id string, card_id string, card_known boolean",
        ),
        ignore_nullable=True,
        ignore_row_order=True,
    )


def test_flag_unknown_flags_as_the_join_does_given_the_values_that_name_nothing(spark):
    # A small frame's ids are looked up on the driver: the values found unknown decide the flag.
    frame = spark.createDataFrame([("t1", "c1"), ("t2", "c9"), ("t3", None)], "transaction_id string, card_id string")
    known = spark.createDataFrame([("c1",)], "id string")

    for unknown in ({"c9"}, {"c9", "c7"}):
        assert_df_equality(
            transforms.flag_unknown(frame, "card_id", "card_known", unknown),
            transforms.flag_known(frame, known, "card_id", "card_known"),
            ignore_nullable=True,
            ignore_row_order=True,
        )
    assert transforms.flag_unknown(frame, "card_id", "card_known", set()).collect() == [
        ("t1", "c1", True),
        ("t2", "c9", True),
        ("t3", None, None),
    ]
