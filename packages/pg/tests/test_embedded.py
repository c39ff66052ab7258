import psycopg
from psycopg import sql

from zluri_pg import embedded


def _show(conn: psycopg.Connection, name: str) -> str:
    row = conn.execute(sql.SQL("show {}").format(sql.Identifier(name))).fetchone()
    assert row is not None
    return row[0]


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


def test_a_new_data_folder_runs_with_the_small_buffer_pool_and_keeps_it_after_a_restart(tmp_path):
    home = tmp_path / "home"
    for _ in range(2):  # the first start sizes the new folder, the second finds it sized
        server = embedded.ensure_running(home)
        with psycopg.connect(server.url) as conn:
            shown = {name: _show(conn, name) for name in embedded.SIZING}
        assert shown == {"shared_buffers": "32MB", "io_method": "sync"}
        embedded.stop(home)
