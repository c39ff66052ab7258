import psycopg
import pytest

from zluri_pg.migrations import MigrationError, migrate


def _fresh_db(pg_server_url, name):
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f"drop database if exists {name} with (force)")
        conn.execute(f"create database {name}")
    return psycopg.conninfo.make_conninfo(pg_server_url, dbname=name)


def _recorded(url):
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select version, name, checksum, applied_at from ops.schema_migrations order by 1"
        ).fetchall()


def test_fresh_apply_then_reapply_is_a_no_op(pg_server_url):
    url = _fresh_db(pg_server_url, "mig_fresh")
    applied = migrate(url)
    assert [m.path.name for m in applied][:3] == [
        "V001__ops_schema.sql",
        "V002__staging_tables.sql",
        "V003__core_tables.sql",
    ]
    before = _recorded(url)
    assert migrate(url) == []
    assert _recorded(url) == before


def test_changed_applied_file_is_an_error(pg_server_url, tmp_path):
    url = _fresh_db(pg_server_url, "mig_changed")
    (tmp_path / "V001__one.sql").write_text("create schema if not exists ops; create table ops.one (x int);")
    migrate(url, tmp_path)
    (tmp_path / "V001__one.sql").write_text("create schema if not exists ops; create table ops.one (x bigint);")
    with pytest.raises(MigrationError, match="V001__one.sql changed after it was applied"):
        migrate(url, tmp_path)


def test_each_migration_commits_on_its_own(pg_server_url, tmp_path):
    url = _fresh_db(pg_server_url, "mig_partial")
    (tmp_path / "V001__good.sql").write_text("create table public.good (x int);")
    (tmp_path / "V002__bad.sql").write_text("create table public.bad (x int); select 1/0;")
    with pytest.raises(MigrationError, match="V002__bad.sql failed"):
        migrate(url, tmp_path)
    with psycopg.connect(url) as conn:
        assert conn.execute("select version from ops.schema_migrations").fetchall() == [(1,)]
        assert conn.execute("select to_regclass('public.bad')").fetchone() == (None,)


def test_migration_with_transaction_control_is_refused(pg_server_url, tmp_path):
    url = _fresh_db(pg_server_url, "mig_txn")
    (tmp_path / "V001__txn.sql").write_text("begin; create table public.t (x int); commit;")
    with pytest.raises(Exception, match="transaction control"):
        migrate(url, tmp_path)


def test_day_key_orders_day_labels_naturally(db_url):
    labels = ["day10", "day9", "day2", "day1", "2026-01-05", "2025-12-31"]
    with psycopg.connect(db_url) as conn:
        ordered = [r[0] for r in conn.execute("select d from unnest(%s::text[]) d order by ops.day_key(d)", [labels])]
    assert ordered == ["2025-12-31", "2026-01-05", "day1", "day2", "day9", "day10"]
