import psycopg
import pytest

from zluri_metrics import read_rows
from zluri_pg.context import RunContext
from zluri_pg.runner import SqlFileError, run_sql_file
from zluri_pg.sqltext import TransactionControlError

RUN = "6f1c1f0e-7c1b-4f5e-9a55-1b2c3d4e5f60"


def _file(tmp_path, name, body, header="-- reads: -; writes: public.t"):
    path = tmp_path / name
    path.write_text(f"{header}\n{body}")
    return path


@pytest.fixture()
def table(db_url):
    with psycopg.connect(db_url) as conn:
        conn.execute("create table public.t (day text, run text, task text)")
    return db_url


def test_context_is_visible_inside_and_gone_after(table, tmp_path):
    path = _file(
        tmp_path,
        "ok.sql",
        """
        insert into public.t values (current_setting('app.day', true), current_setting('app.flow_run_id', true),
                                     current_setting('app.task_name', true));
        select current_setting('app.day', true) as day, count(*) as n from public.t;
    """,
    )
    reported = run_sql_file(path, RunContext(RUN, "day7", "write_t"), table)
    assert reported == {"day": "day7", "n": 1}
    with psycopg.connect(table) as conn:
        assert conn.execute("select * from public.t").fetchall() == [("day7", RUN, "write_t")]
        # A new transaction on the same connection no longer sees the transaction-local settings.
        assert conn.execute("select current_setting('app.day', true)").fetchone() in [(None,), ("",)]


def test_failure_at_last_statement_leaves_nothing_and_one_failure_row(table, tmp_path):
    path = _file(tmp_path, "bad.sql", "insert into public.t values ('a', 'b', 'c');\nselect 1/0;")
    with pytest.raises(SqlFileError, match="bad.sql failed: DivisionByZero"):
        run_sql_file(path, RunContext(RUN, "day1", "write_t"), table)
    with psycopg.connect(table) as conn:
        assert conn.execute("select count(*) from public.t").fetchone() == (0,)
        (row,) = read_rows(conn)
    assert (row.status, row.task_name, row.table_name, row.day, row.flow_run_id) == (
        "failure",
        "write_t",
        "public.t",
        "day1",
        RUN,
    )
    assert "division by zero" in (row.error_message or "")


def test_file_with_transaction_control_is_refused_before_running(table, tmp_path):
    path = _file(tmp_path, "txn.sql", "insert into public.t values ('a','b','c');\ncommit;")
    with pytest.raises(TransactionControlError):
        run_sql_file(path, RunContext(RUN, "day1", "write_t"), table)
    with psycopg.connect(table) as conn:
        assert conn.execute("select count(*) from public.t").fetchone() == (0,)
        assert read_rows(conn) == []


def test_sql_in_a_day_label_never_reaches_the_database(table):
    with pytest.raises(ValueError, match="invalid day label"):
        RunContext(RUN, "day1'; drop table public.t; --", "write_t")
    with psycopg.connect(table) as conn:
        assert conn.execute("select to_regclass('public.t') is not null").fetchone() == (True,)


def test_settings_are_bound_parameters_so_quotes_survive_verbatim(table):
    from zluri_pg.runner import set_run_context

    class Hostile(RunContext):
        def settings(self):
            return {"app.day": "day1'; drop table public.t; --"}

    with psycopg.connect(table) as conn:
        set_run_context(conn, Hostile(RUN, "day1", "t"))
        assert conn.execute("select current_setting('app.day', true)").fetchone() == ("day1'; drop table public.t; --",)
        assert conn.execute("select to_regclass('public.t') is not null").fetchone() == (True,)
