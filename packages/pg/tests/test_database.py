import pytest

from zluri_pg.database import connect, mask_url


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://app:s3cr%40t@db:5432/zluri", "postgresql://app:***@db:5432/zluri"),
        ("postgresql://app@db/zluri", "postgresql://app@db/zluri"),
        ("postgresql:///zluri?host=/tmp&password=hunter2&user=x", "postgresql:///zluri?host=/tmp&password=***&user=x"),
    ],
)
def test_mask_url(url, masked):
    assert mask_url(url) == masked


def test_unreachable_database_is_one_clear_error_without_password():
    with pytest.raises(ConnectionError, match=r"cannot connect to postgresql://u:\*\*\*@127.0.0.1:1/x") as info:
        connect("postgresql://u:topsecret@127.0.0.1:1/x?connect_timeout=2")
    assert "topsecret" not in str(info.value)


def test_environment_url_wins(db_url, monkeypatch):
    monkeypatch.setenv("ZLURI_DATABASE_URL", db_url)
    with connect() as conn:
        assert conn.execute("select current_database()").fetchone() == (db_url.rsplit("dbname=", 1)[-1].split()[0],)
