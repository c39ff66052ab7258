from pathlib import Path

import psycopg
import pytest

from zluri_flows.failures import failure_recorded, is_transient
from zluri_metrics import read_rows
from zluri_pg import RunContext, SqlFileError

RUN = "6f1c1f0e-7c1b-4f5e-9a55-1b2c3d4e5f60"


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (psycopg.OperationalError("server closed the connection unexpectedly"), True),
        (psycopg.errors.LockNotAvailable("lock timeout"), True),
        (SqlFileError(Path("x.sql"), psycopg.errors.DeadlockDetected("deadlock")), True),
        (SqlFileError(Path("x.sql"), psycopg.errors.UndefinedColumn("column does not exist")), False),
        (ValueError("bad day"), False),
        (FileNotFoundError("no folder"), False),
    ],
)
def test_only_transient_errors_retry(exc, transient):
    assert is_transient(exc) is transient


def test_failure_row_is_written_and_error_re_raised(db_url):
    ctx = RunContext(RUN, "day3", "stage_agents")
    with pytest.raises(RuntimeError, match="boom"), failure_recorded(ctx, "staging.stg_agents", db_url):
        raise RuntimeError("boom")
    with psycopg.connect(db_url) as conn:
        (row,) = read_rows(conn)
    assert (row.flow_run_id, row.task_name, row.table_name, row.day, row.status, row.error_message) == (
        RUN,
        "stage_agents",
        "staging.stg_agents",
        "day3",
        "failure",
        "RuntimeError: boom",
    )
