import psycopg

from zluri_pg import embedded


def test_first_start_reuse_and_restart_after_stop(tmp_path):
    home = tmp_path / "home"
    assert embedded.running_pid(home) is None

    first = embedded.ensure_running(home)
    assert first.pgdata == tmp_path / "home" / "pgdata"
    with psycopg.connect(first.url) as conn:
        conn.execute("create table kept (x int)")
        conn.execute("insert into kept values (42)")

    again = embedded.ensure_running(home)
    assert again.pid == first.pid  # reused, not restarted

    assert embedded.stop(home) is True
    assert embedded.running_pid(home) is None
    assert embedded.stop(home) is False

    restarted = embedded.ensure_running(home)
    assert restarted.pid != first.pid
    with psycopg.connect(restarted.url) as conn:
        assert conn.execute("select x from kept").fetchall() == [(42,)]
    embedded.stop(home)
