"""The session's JVM view remembers the classes and methods it resolved: fewer round trips, the
same columns, the same errors."""

from __future__ import annotations

import threading

import py4j.clientserver
import pytest
from py4j.protocol import Py4JError
from pyspark.sql import functions as F

from zluri_staging.gateway import RememberingClass, RememberingView, remember_lookups


@pytest.fixture
def round_trips(monkeypatch):
    """Commands this thread sends to the JVM, as a list of their first lines (without the releases
    of collected objects, which Py4J sends whenever Python collects them)."""
    sent: list[str] = []
    original = py4j.clientserver.ClientServerConnection.send_command
    this_thread = threading.get_ident()  # not Py4J's own, which releases collected objects

    def counted(self, command):
        if threading.get_ident() == this_thread and not command.startswith("m\n"):
            sent.append(command.split("\n", 1)[0])
        return original(self, command)

    monkeypatch.setattr(py4j.clientserver.ClientServerConnection, "send_command", counted)
    return sent


def test_a_built_session_remembers_what_it_resolves(spark, round_trips):
    view = spark.sparkContext._jvm
    assert type(view) is RememberingView
    F.lit(1), F.col("x")  # resolved (at the latest) here
    del round_trips[:]
    lit, col = F.lit(7), F.col("amount")
    assert round_trips == ["c", "c"]  # one call each, no lookup
    assert str(lit) == str(F.lit(7)) and str(col) == "Column<'amount'>"
    assert isinstance(view.functions, RememberingClass)


def test_columns_built_through_a_remembering_view_are_the_same(spark):
    frame = spark.createDataFrame([(1, "a"), (None, "")], "x int, y string")
    got = frame.select(
        F.when(F.col("x") > 0, F.lit("pos")).alias("sign"),
        F.concat_ws("; ", F.coalesce(F.col("y"), F.lit("-")), F.lit("z")).alias("joined"),
    ).collect()
    assert [tuple(r) for r in got] == [("pos", "a; z"), (None, "; z")]


def test_unknown_names_fail_as_before_and_fields_are_read_each_time(spark):
    view = spark.sparkContext._jvm
    with pytest.raises(Py4JError):
        view.functions.no_such_function_here  # noqa: B018
    with pytest.raises(Py4JError):
        view.functions.no_such_function_here  # noqa: B018  # not remembered as missing either
    # A static field is a value, not a name: it is not kept on the class.
    integer = getattr(view, "java.lang.Integer")
    assert isinstance(integer, RememberingClass)
    assert integer.MAX_VALUE == 2**31 - 1
    assert "MAX_VALUE" not in vars(integer)
    assert integer.valueOf(5) == 5
    assert "valueOf" in vars(integer)  # a method is


def test_remembering_is_idempotent(spark):
    view = spark.sparkContext._jvm
    remember_lookups(view)
    assert type(view) is RememberingView
