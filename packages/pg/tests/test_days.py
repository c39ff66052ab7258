import psycopg
import pytest

from zluri_pg import DaySchemeError, check_database_scheme, check_days
from zluri_pg.context import InvalidRunContext


def test_one_scheme_per_list_of_days():
    assert check_days(["day1", "day2", "day10"]) == "day<N>"
    assert check_days(["2026-01-05", "2026-01-06"]) == "YYYY-MM-DD"
    assert check_days([]) is None
    with pytest.raises(DaySchemeError, match="'day1' is day<N>, '2026-01-05' is YYYY-MM-DD"):
        check_days(["day1", "2026-01-05"])
    with pytest.raises(InvalidRunContext, match="invalid day label 'day01'"):
        check_days(["day01"])


def test_the_database_scheme_is_fixed_by_the_first_day_applied(db_url):
    check_database_scheme(db_url, ["day1", "2026-01-05"][:1])  # nothing fixed yet: anything valid passes
    check_database_scheme(db_url, ["2026-01-05"])
    with psycopg.connect(db_url) as conn:
        conn.execute("select ops.claim_day_scheme('day3')")
    check_database_scheme(db_url, ["day1", "day20"])
    with pytest.raises(
        DaySchemeError,
        match=r"day label '2026-01-05' is of the YYYY-MM-DD scheme, but this database "
        r"holds day<N> labels \(first day 'day3'\)",
    ):
        check_database_scheme(db_url, ["2026-01-05"])


def test_an_unmigrated_database_holds_no_scheme(pg_server_url):
    check_database_scheme(pg_server_url, ["day1"])
