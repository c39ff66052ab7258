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
