import threading

import psycopg

from zluri_pg.locks import advisory_xact_lock


def test_second_writer_waits_until_the_first_commits(db_url):
    holder = psycopg.connect(db_url)
    advisory_xact_lock(holder, "core.agents", "core.groups")
    acquired = threading.Event()

    def contender():
        with psycopg.connect(db_url) as conn:
            advisory_xact_lock(conn, "core.groups")
            acquired.set()

    thread = threading.Thread(target=contender)
    thread.start()
    # The contender cannot get the lock while the holder's transaction is open.
    assert not acquired.wait(timeout=0.5)
    holder.commit()
    assert acquired.wait(timeout=10)
    thread.join()
    holder.close()


def test_a_blocked_writer_times_out_naming_the_table_and_the_holders_run_then_succeeds(db_url, tmp_path):
    import pytest

    from zluri_pg import LockTimeoutError, RunContext, SqlFileError, Timeouts, run_sql_file
    from zluri_pg.runner import set_run_context

    holder_run = "11111111-2222-4333-8444-555555555555"
    path = tmp_path / "write_t.sql"
    path.write_text("-- reads: -; writes: core.groups\nselect 1 as done;\n")
    ctx = RunContext("6f1c1f0e-7c1b-4f5e-9a55-1b2c3d4e5f60", "day1", "update_group_status")

    holder = psycopg.connect(db_url)
    set_run_context(holder, RunContext(holder_run, "day2", "upsert_groups"))
    advisory_xact_lock(holder, "core.groups")
    with pytest.raises(SqlFileError) as failed:
        run_sql_file(path, ctx, db_url, Timeouts(lock_seconds=0.5))
    cause = failed.value.cause
    assert isinstance(cause, LockTimeoutError) and isinstance(cause, TimeoutError)
    assert cause.table == "core.groups"
    assert str(cause).startswith(
        f"lock on core.groups not granted within lock_timeout 500ms: held by flow run "
        f"{holder_run}, task upsert_groups (backend pid "
    )
    assert str(cause).endswith("; transient, retried with backoff")

    holder.commit()  # the holder's step ends: the retry gets the lock
    assert run_sql_file(path, ctx, db_url, Timeouts(lock_seconds=0.5)) == {"done": 1}
    holder.close()


def test_every_step_runs_under_its_timeouts(db_url, tmp_path):
    from zluri_pg import RunContext, Timeouts, run_sql_file

    path = tmp_path / "show.sql"
    path.write_text(
        "-- reads: -; writes: public.none\nselect current_setting('lock_timeout') as lock, "
        "current_setting('statement_timeout') as statement, "
        "current_setting('idle_in_transaction_session_timeout') as idle;\n"
    )
    ctx = RunContext("6f1c1f0e-7c1b-4f5e-9a55-1b2c3d4e5f60", "day1", "show")
    assert run_sql_file(path, ctx, db_url) == {"lock": "2min", "statement": "30min", "idle": "5min"}
    assert run_sql_file(path, ctx, db_url, Timeouts(1.5, 20, 3)) == {"lock": "1500ms", "statement": "20s", "idle": "3s"}


def test_a_runaway_statement_is_cancelled_and_not_transient(db_url, tmp_path):
    import pytest

    from zluri_pg import RunContext, SqlFileError, Timeouts, run_sql_file

    path = tmp_path / "slow.sql"
    path.write_text("-- reads: -; writes: public.none\nselect pg_sleep(5);\n")
    ctx = RunContext("6f1c1f0e-7c1b-4f5e-9a55-1b2c3d4e5f60", "day1", "slow")
    with pytest.raises(SqlFileError, match="QueryCanceled: canceling statement due to statement timeout"):
        run_sql_file(path, ctx, db_url, Timeouts(statement_seconds=0.3))


def test_a_second_runs_upsert_phase_waits_for_the_first_and_names_it_when_it_gives_up(db_url):
    import pytest

    from zluri_pg import LockTimeoutError, upsert_phase

    first, second = "11111111-2222-4333-8444-555555555555", "66666666-7777-4888-8999-000000000000"
    with upsert_phase(db_url, first, 5):
        with pytest.raises(LockTimeoutError) as waited, upsert_phase(db_url, second, 0.3):
            pass
        assert str(waited.value).startswith(
            f"lock on upsert phase not granted within lock_timeout 0.3s: held by flow run {first}, task upserts"
        )
        assert str(waited.value).endswith("; the run stops waiting")
    with upsert_phase(db_url, second, 0.3):  # released: the next run gets it at once
        pass
