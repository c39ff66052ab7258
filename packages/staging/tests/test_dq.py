"""Data-quality suites on small inline frames, and the entity reports they feed.

Every `validate` is a handful of Spark jobs, so each frame is validated once (module fixtures) and
several tests read the same outcome. Each validation runs on both of GX's engines `validate` uses
(pandas on the driver for small frames, Spark for larger ones): the same assertions hold for both.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from chispa import assert_df_equality

from zluri_staging import dq
from zluri_staging.report import EntityReport, read_entity_reports, write_entity_report

pytestmark = pytest.mark.spark

AGENT_COLUMNS = (
    "agent_id bigint, email string, name string, job_title string, contact_active boolean, "
    "deactivated boolean, created_at timestamp, updated_at timestamp, source_file string"
)
CARD_COLUMNS = (
    "card_id string, card_uuid string, name string, user_id string, user_uuid string, budget_id string, "
    "budget_uuid string, last_four string, valid_thru string, status string, card_type string, "
    "period_limit decimal(38,6), period_spent decimal(38,6), created_at timestamp, updated_at timestamp"
)
TRANSACTION_COLUMNS = (
    "transaction_id string, transaction_type string, card_id string, budget_id string, "
    "original_amount decimal(38,6), original_currency string, amount_usd decimal(38,6), usd_disagreement string"
)


def _agent(agent_id, email="ana@example.test", deactivated=False):
    return (agent_id, email, "Ana", None, True, deactivated, None, None, "sync-d1/agents/1.json")


def _card(card_id, status="ACTIVATED", card_type="PHYSICAL", last_four="1234"):
    money = (Decimal(100), Decimal(0))
    return (card_id, None, "card", None, None, "b1", None, last_four, "12/29", status, card_type, *money, None, None)


def _transaction(transaction_id, transaction_type="AUTHORIZATION", card_id="c1", currency="USD", off=False):
    disagreement = transaction_id if off else None  # what fx.with_usd_disagreement computes
    return (transaction_id, transaction_type, card_id, "b1", Decimal(10), currency, Decimal(10), disagreement)


@pytest.fixture(scope="module")
def empty_cwd(tmp_path_factory):
    """GX must write nothing into the working directory: run the module's GX calls in an empty one."""
    directory = tmp_path_factory.mktemp("cwd")
    previous = os.getcwd()
    os.chdir(directory)
    yield directory
    os.chdir(previous)


@pytest.fixture(scope="module", params=["driver", "spark"])
def engine(request):
    """Which engine validates these small frames: the driver's (the default cap) or Spark's (no cap)."""
    cap = dq.DRIVER_ROWS
    dq.DRIVER_ROWS = cap if request.param == "driver" else -1
    yield request.param
    dq.DRIVER_ROWS = cap


@pytest.fixture(scope="module")
def clean(spark, empty_cwd, engine):
    """Clean agents and cards, validated from two threads at once (as staging tasks of a run do)."""
    agents = spark.createDataFrame([_agent(1), _agent(2, deactivated=True)], AGENT_COLUMNS)
    cards = spark.createDataFrame([_card("c1"), _card("c2", "FROZEN", "VIRTUAL_VENDOR")], CARD_COLUMNS)
    with ThreadPoolExecutor(2) as pool:
        agents_dq, cards_dq = pool.map(lambda args: dq.validate(*args), [("agents", agents), ("cards", cards)])
    return {"agents": agents_dq, "cards": cards_dq}


def _odd_transactions(spark):
    """A duplicate id, an unknown type, a lower-case currency, a card nobody knows and a feed USD
    amount far from ours."""
    return spark.createDataFrame(
        [
            _transaction("t1"),
            _transaction("t2", transaction_type="CLEAR"),
            _transaction("t2", transaction_type="REFUNDED_MAYBE", card_id="c-ghost", currency="usd"),
            _transaction("t3", card_id=None, off=True),
        ],
        TRANSACTION_COLUMNS,
    )


@pytest.fixture(scope="module")
def transactions_dq(spark, empty_cwd, engine):
    frame = _odd_transactions(spark)
    known_cards = spark.createDataFrame([("c1",), ("c2",)], "card_id string")
    return dq.validate("transactions", frame, known_refs={"card_id": known_cards})


@pytest.fixture(scope="module")
def memberships_dq(spark, empty_cwd, engine):
    frame = spark.createDataFrame([(10, 1), (10, 1), (10, None), (11, 1)], "group_id bigint, agent_id bigint")
    return dq.validate("group_memberships", frame)


def test_clean_frames_pass_every_expectation(clean):
    for entity, result in clean.items():
        assert result.entity == entity
        assert result.expectations_failed == 0
        assert result.expectations_passed == len(dq.suite_for(entity).expectations)
        assert result.critical_failures == []
        assert result.warnings == []
        assert result.success
        dq.raise_on_critical(result)  # does not raise


def test_duplicate_key_raises_naming_entity_expectation_and_value(transactions_dq):
    assert transactions_dq.critical_failures == [("expect_column_values_to_be_unique(transaction_id)", ["t2"])]
    with pytest.raises(dq.CriticalExpectationFailed) as raised:
        dq.raise_on_critical(transactions_dq)
    message = str(raised.value)
    assert message.startswith("transactions: ")
    assert "expect_column_values_to_be_unique(transaction_id)" in message
    assert "'t2'" in message
    assert raised.value.entity == "transactions"


def test_null_and_duplicate_compound_keys_are_critical(memberships_dq):
    assert memberships_dq.critical_failures == [
        ("expect_column_values_to_not_be_null(agent_id)", []),
        ("expect_compound_columns_to_be_unique(group_id, agent_id)", [{"group_id": 10, "agent_id": 1}]),
    ]
    with pytest.raises(dq.CriticalExpectationFailed, match=r"group_memberships: .*1 of 4 rows have no agent_id"):
        dq.raise_on_critical(memberships_dq)


def test_unknown_values_and_references_are_counted_warnings_only(transactions_dq):
    assert transactions_dq.warnings == [
        "transactions: 1 of 4 rows have an unknown transaction_type (e.g. ['REFUNDED_MAYBE'])",
        "transactions: 1 of 4 rows have an original_currency that is not a 3-letter code (e.g. ['usd'])",
        "transactions: 1 of 4 rows have a feed USD amount more than 2% away from ours (e.g. ['t3'])",
        "transactions: 1 of 4 rows name an unknown card_id (e.g. ['c-ghost'])",
    ]
    unknown_cards = next(o for o in transactions_dq.outcomes if o.expectation.endswith("(unknown_card_id)"))
    assert (unknown_cards.severity, unknown_cards.unexpected_count, unknown_cards.sample) == ("warning", 1, ["c-ghost"])


class _KnownCards:
    """Known ids as the staging run gives them: a frame for Spark, a lookup for the driver."""

    def __init__(self, frame):
        self.ids, self.looked_up = frame, []

    def frame(self):
        return self.ids

    def unknown(self, values):
        self.looked_up.append(sorted(values))
        return set(values) - {row[0] for row in self.ids.collect()}


def test_known_ids_as_a_lookup_give_the_same_outcome_on_either_engine(spark, empty_cwd, engine, transactions_dq):
    frame = _odd_transactions(spark)
    known = _KnownCards(spark.createDataFrame([("c1",), ("c2",)], "card_id string"))

    result = dq.validate("transactions", frame, known_refs={"card_id": known})

    assert result.warnings == transactions_dq.warnings  # the same frame, with its ids as a frame
    assert result.outcomes == transactions_dq.outcomes
    # The driver looks up the distinct values it holds, once; Spark joins the frame instead.
    assert known.looked_up == ([["c-ghost", "c1"]] if engine == "driver" else [])


def test_rows_collected_already_are_checked_on_the_driver_as_the_frame_would_be(spark, empty_cwd, transactions_dq):
    # A small table's rows are collected once, for its checks and the driver's copy: the frame handed
    # along holds none, so the outcome can only come from the collected rows.
    collected = _odd_transactions(spark).toArrow()
    empty = _odd_transactions(spark).where("false")
    known = _KnownCards(spark.createDataFrame([("c1",), ("c2",)], "card_id string"))

    result = dq.validate("transactions", empty, known_refs={"card_id": known}, rows=4, collected=collected)

    assert result.warnings == transactions_dq.warnings
    assert result.outcomes == transactions_dq.outcomes
    assert known.looked_up == [["c-ghost", "c1"]]
    with pytest.raises(ValueError, match="collected rows are checked against looked-up ids, not frames"):
        dq.validate("transactions", empty, known_refs={"card_id": known.ids}, rows=4, collected=collected)


def test_unknown_card_status_is_a_warning_and_does_not_raise(spark, empty_cwd, engine):
    cards = spark.createDataFrame([_card("c1"), _card("c2", status="LOST_IN_SPACE")], CARD_COLUMNS)
    result = dq.validate("cards", cards)
    assert result.critical_failures == []
    assert result.warnings == ["cards: 1 of 2 rows have an unknown card status (e.g. ['LOST_IN_SPACE'])"]
    dq.raise_on_critical(result)


def test_unknown_references_flag_the_ids_no_known_frame_holds(spark):
    frame = spark.createDataFrame([("t1", "c1"), ("t2", "c9"), ("t3", None)], "transaction_id string, card_id string")
    known = spark.createDataFrame([("c1",), ("c1",), (None,)], "id string")  # one column, any name
    expected = spark.createDataFrame(
        [("t1", "c1", None), ("t2", "c9", "c9"), ("t3", None, None)],
        "transaction_id string, card_id string, unknown_card_id string",
    )
    assert_df_equality(
        dq.with_unknown_references(frame, {"card_id": known}), expected, ignore_row_order=True, ignore_nullable=True
    )


def test_unknown_entity_and_missing_columns_are_programming_errors(spark):
    with pytest.raises(ValueError, match="no data-quality suite for entity 'tickets'"):
        dq.suite_for("tickets")
    frame = spark.createDataFrame([(1,)], "group_id bigint")
    with pytest.raises(ValueError, match=r"group_memberships: the frame lacks column\(s\) \['agent_id'\]"):
        dq.validate("group_memberships", frame)


def test_feed_folder_names_use_their_table_suite():
    assert dq.suite_for("admin_groups") == dq.suite_for("groups")


def test_entity_dq_round_trips_through_json(transactions_dq):
    data = json.loads(json.dumps(transactions_dq.to_dict()))
    again = dq.EntityDQ.from_dict(data)
    assert again == transactions_dq  # gx_result is not compared, and not serialised
    with pytest.raises(dq.CriticalExpectationFailed, match="'t2'"):
        dq.raise_on_critical(again)


def test_every_expectation_reports_what_it_observed_passed_or_not(clean, transactions_dq):
    # Counts for passing expectations too, so the run page can show them.
    unique = next(o for o in clean["cards"].outcomes if o.expectation == "expect_column_values_to_be_unique(card_id)")
    assert (unique.success, unique.element_count, unique.unexpected_count) == (True, 2, 0)
    assert unique.observed() == "0 of 2 rows unexpected (0.0%)"
    unknown_type = next(o for o in transactions_dq.outcomes if o.expectation.endswith("(transaction_type)"))
    assert (unknown_type.success, unknown_type.unexpected_count, unknown_type.sample) == (
        False, 1, ["REFUNDED_MAYBE"])  # fmt: skip
    assert unknown_type.observed() == "1 of 4 rows unexpected (25.0%)"


def test_entity_reports_round_trip_through_the_report_folder(tmp_path, clean, memberships_dq, empty_cwd):
    agents = EntityReport("agents", 3, 2, 1, 0, 2, {"invalid agent id": 1}, ["a warning"], clean["agents"])
    groups = EntityReport("admin_groups", 4, 4, 0, 1, 3, derived_dq=[memberships_dq])
    for report in (agents, groups):
        write_entity_report(tmp_path, report)
    assert read_entity_reports(tmp_path) == [groups, agents]
    assert list(empty_cwd.iterdir()) == []
