import re

import pytest

from zluri_pg.database import InvalidDatabaseUrl, check_url, connect, mask_text, mask_url, redact, secrets_of


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://app:s3cr%40t@db:5432/zluri", "postgresql://app:***@db:5432/zluri"),
        ("postgresql://app@db/zluri", "postgresql://app@db/zluri"),
        ("postgresql:///zluri?host=/tmp&password=hunter2&user=x", "postgresql:///zluri?host=/tmp&password=***&user=x"),
        # Raw '@' and ':' in the password: masked whole (up to the last '@'), never cut at the first.
        ("postgresql://app:p@ss:w@rd@db/zluri", "postgresql://app:***@db/zluri"),
        ("postgresql://app:a:b%25c@db:5433/z?sslmode=require", "postgresql://app:***@db:5433/z?sslmode=require"),
        # Keyword DSNs, quoted or not.
        ("host=db user=app password=s3cr@t:x dbname=z", "host=db user=app password=*** dbname=z"),
        ("host=db password = 'it\\'s @:% here' dbname=z", "host=db password = *** dbname=z"),
    ],
)
def test_mask_url(url, masked):
    assert mask_url(url) == masked


def test_unreachable_database_is_one_clear_error_without_password():
    with pytest.raises(ConnectionError, match=r"cannot connect to postgresql://u:\*\*\*@127.0.0.1:1/x") as info:
        connect("postgresql://u:topsecret@127.0.0.1:1/x?connect_timeout=2")
    assert "topsecret" not in str(info.value)


SECRET = "s3cr@t:x%zz"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://app:s3cr%40t%3Ax%25zz@db/zluri",
        "postgresql://app:s3cr@t:x%zz@db/zluri",
        "host=db user=app password='s3cr@t:x%zz' dbname=z",
        "postgresql:///z?host=/tmp&password=s3cr%40t%3Ax%25zz",
    ],
)
def test_redact_removes_every_form_of_the_password(url):
    message = f"failed with {url} (password {SECRET}, encoded s3cr%40t%3Ax%25zz)"
    redacted = redact(message, url)
    assert SECRET not in redacted and "s3cr%40t%3Ax%25zz" not in redacted and "s3cr" not in redacted


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql://app:p%zz-s3cr3t@db/zluri", "is malformed (bad percent-encoding)"),
        ("postgresql://app:s3cr@t-pw@db/zluri", "the password contains a raw '@'"),
        ("postgresql://app:s3cr3t@[db/zluri", "is malformed"),
    ],
)
def test_malformed_urls_fail_before_connecting_with_a_masked_message(url, says):
    with pytest.raises(InvalidDatabaseUrl, match=re.escape(says)) as info:
        check_url(url)
    # No chained driver error either: a traceback would print its message.
    assert "s3cr" not in str(info.value) and info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__
    with pytest.raises(InvalidDatabaseUrl) as again:
        connect(url)
    assert "s3cr" not in str(again.value)


def test_libpq_itself_would_leak_the_password_we_hide():
    # Why check_url exists: the driver's own message quotes the offending text.
    import psycopg

    with pytest.raises(psycopg.ProgrammingError, match="p%zz-s3cr3t"):
        psycopg.conninfo.conninfo_to_dict("postgresql://app:p%zz-s3cr3t@db/zluri")


def test_mask_text_hides_urls_and_password_settings_in_free_text():
    assert mask_text("at postgresql://a:b@c/d, then password=xyz and more") == (
        "at postgresql://a:***@c/d, then password=*** and more"
    )
    assert secrets_of("postgresql://app@db/zluri") == []
