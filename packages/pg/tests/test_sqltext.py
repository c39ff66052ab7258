import pytest

from zluri_pg.sqltext import Header, TransactionControlError, parse_header, refuse_transaction_control


@pytest.mark.parametrize(
    "text",
    ["begin;\nselect 1;", "select 1;\ncommit;", "select 1; ROLLBACK", "start transaction; select 1", "savepoint a;"],
)
def test_refuses_transaction_control(text):
    with pytest.raises(TransactionControlError, match="transaction control"):
        refuse_transaction_control(text, "f.sql")


def test_words_inside_strings_comments_and_bodies_are_not_statements():
    refuse_transaction_control(
        "-- begin here\nselect 'commit; rollback';\n/* begin */ select $$begin; end$$, \"begin\";",
        "f.sql",
    )


def test_header_names_reads_and_writes():
    assert parse_header(
        "-- reads: staging.stg_agents; writes: core.agents, core.agent_status_history\nselect 1", "f.sql"
    ) == Header(("staging.stg_agents",), ("core.agents", "core.agent_status_history"))


def test_missing_header_is_an_error():
    with pytest.raises(ValueError, match="header line"):
        parse_header("select 1", "f.sql")
