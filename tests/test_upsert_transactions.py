"""Transactions: last write wins by updated_at, incremental, re-runs do no work."""

from sqlsteps import SPEND, query, run_day


def txn(tid, updated, amount="10.00", **kw):
    return {"transaction_id": tid, "updated_at": updated, "original_amount": amount, **kw}


def files(sha):
    return [{"entity": "transactions", "source_file": "transactions/1.json", "sha256": sha}]


def amounts(url):
    return {
        r["transaction_id"]: (str(r["original_amount"]), r["updated_at"].isoformat())
        for r in query(url, "select transaction_id, original_amount, updated_at from core.transactions")
    }


def test_duplicate_in_batch_keeps_the_latest(db_url):
    metrics = run_day(
        db_url,
        "day1",
        {
            "stg_transactions": [txn("t1", "2026-01-05T10:00:00Z", "1.00"), txn("t1", "2026-01-05T11:00:00Z", "2.00")],
            "stg_input_files": files("a"),
        },
        SPEND,
    )
    assert amounts(db_url) == {"t1": ("2.00", "2026-01-05T11:00:00+00:00")}
    m = metrics["040_upsert_transactions"]
    assert (m["rows_read"], m["rows_inserted"], m["rows_updated"], m["rows_skipped"]) == (2, 1, 0, 1)


def test_newer_update_wins_older_late_arrival_loses_unchanged_repeat_skipped(db_url):
    run_day(
        db_url,
        "day1",
        {
            "stg_transactions": [txn("t1", "2026-01-05T10:00:00Z", "1.00"), txn("t2", "2026-01-05T10:00:00Z", "5.00")],
            "stg_input_files": files("a"),
        },
        SPEND,
    )
    m = run_day(
        db_url,
        "day2",
        {
            "stg_transactions": [
                txn("t1", "2026-01-06T09:00:00Z", "1.50"),  # newer version -> update
                txn("t2", "2026-01-05T10:00:00Z", "5.00"),  # unchanged repeat -> skipped
                txn("t3", "2026-01-06T09:00:00Z", "7.00"),  # new -> insert
            ],
            "stg_input_files": files("b"),
        },
        SPEND,
    )["040_upsert_transactions"]
    assert (m["rows_inserted"], m["rows_updated"], m["rows_skipped"]) == (1, 1, 1)

    m = run_day(
        db_url,
        "day3",
        {
            "stg_transactions": [
                txn("t1", "2026-01-05T12:00:00Z", "9.99"),  # stale version arriving late -> never wins
            ],
            "stg_input_files": files("c"),
        },
        SPEND,
    )["040_upsert_transactions"]
    assert (m["rows_inserted"], m["rows_updated"], m["rows_skipped"]) == (0, 0, 1)
    assert amounts(db_url) == {
        "t1": ("1.50", "2026-01-06T09:00:00+00:00"),
        "t2": ("5.00", "2026-01-05T10:00:00+00:00"),
        "t3": ("7.00", "2026-01-06T09:00:00+00:00"),
    }


def test_rerun_of_the_same_input_does_no_work_and_is_recorded(db_url):
    day1 = {"stg_transactions": [txn("t1", "2026-01-05T10:00:00Z")], "stg_input_files": files("same")}
    run_day(db_url, "day1", day1, SPEND)
    m = run_day(db_url, "day1", day1, SPEND)["040_upsert_transactions"]
    assert (m["rows_inserted"], m["rows_updated"], m["rows_skipped"]) == (0, 0, 1)
    state = query(db_url, "select day, records_staged, records_written, files from ops.transaction_pipeline_state")
    assert state == [
        {
            "day": "day1",
            "records_staged": 1,
            "records_written": 1,
            "files": [{"file": "transactions/1.json", "sha256": "same", "records": 1}],
        }
    ]
