"""read.py: one-pass whole-file reads, unreadable files and non-object records become rows with a
read_error (never a crash), empty files are found by listing, missing folders are None."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from chispa import assert_df_equality
from pyspark.sql import Row
from pyspark.sql import types as T

from zluri_staging import read
from zluri_staging.schemas import ENTITIES


def compact(value: object) -> str:
    """The JSON text Spark's parser hands back for a record: compact, keys in file order."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


PARSED = T.StructType(
    [
        T.StructField("source_file", T.StringType()),
        T.StructField("sha256", T.StringType()),
        T.StructField("file_records", T.LongType()),
        T.StructField("position", T.IntegerType()),
        T.StructField("raw_record", T.StringType()),
        T.StructField("read_error", T.StringType()),
        T.StructField("id", T.StringType()),
        T.StructField("deactivated", T.StringType()),
    ]
)


def test_parse_files_array_layout_keeps_good_records_and_flags_bad_files(spark):
    good = [
        {"id": 69000000001, "deactivated": False, "contact": {"email": "a@example.test"}},
        {"id": "x-1", "deactivated": "maybe"},
        7,
        None,
    ]
    files = {
        "sync-d/agents/1.json": json.dumps(good, indent=2),
        "sync-d/agents/2.json": '[{"id": 1}, {"id": 2',  # cut off mid-transfer
        "sync-d/agents/3.json": '[{"id": 3}] trailing',  # Spark alone would ignore the garbage
        "sync-d/agents/4.json": "[]",
        "sync-d/agents/5.json": '{"results": [{"id": 5}]}',  # the wrong layout for agents
        "sync-d/agents/6.json": "[1], [2]",
        "sync-d/agents/7.json": " \n",
        "sync-d/agents/8.json": '\ufeff[{"id": 8}]',  # a byte order mark is fine
    }
    frame = spark.createDataFrame(list(files.items()), "source_file string, value string")

    parsed = read.parse_files(frame, ENTITIES["agents"]).select(
        "source_file",
        "sha256",
        "file_records",
        "position",
        "raw_record",
        "read_error",
        "record.id",
        "record.deactivated",
    )

    h = {name: sha(text) for name, text in files.items()}
    expected = [
        Row("sync-d/agents/1.json", h["sync-d/agents/1.json"], 4, 0, compact(good[0]), None, "69000000001", "false"),
        Row("sync-d/agents/1.json", h["sync-d/agents/1.json"], 4, 1, compact(good[1]), None, "x-1", "maybe"),
        Row("sync-d/agents/1.json", h["sync-d/agents/1.json"], 4, 2, "7", read.ERR_NOT_OBJECT, None, None),
        Row("sync-d/agents/1.json", h["sync-d/agents/1.json"], 4, 3, None, read.ERR_NOT_OBJECT, None, None),
        Row(
            "sync-d/agents/2.json",
            h["sync-d/agents/2.json"],
            None,
            None,
            files["sync-d/agents/2.json"],
            read.ERR_NOT_JSON,
            None,
            None,
        ),
        Row(
            "sync-d/agents/3.json",
            h["sync-d/agents/3.json"],
            None,
            None,
            files["sync-d/agents/3.json"],
            read.ERR_NOT_JSON,
            None,
            None,
        ),
        Row("sync-d/agents/4.json", h["sync-d/agents/4.json"], 0, None, None, None, None, None),
        Row(
            "sync-d/agents/5.json",
            h["sync-d/agents/5.json"],
            None,
            None,
            files["sync-d/agents/5.json"],
            "file is not a JSON array",
            None,
            None,
        ),
        Row(
            "sync-d/agents/6.json",
            h["sync-d/agents/6.json"],
            None,
            None,
            files["sync-d/agents/6.json"],
            "file holds 2 JSON documents",
            None,
            None,
        ),
        Row(
            "sync-d/agents/7.json",
            h["sync-d/agents/7.json"],
            None,
            None,
            files["sync-d/agents/7.json"],
            read.ERR_EMPTY,
            None,
            None,
        ),
        Row("sync-d/agents/8.json", h["sync-d/agents/8.json"], 1, 0, '{"id":8}', None, "8", None),
    ]
    assert_df_equality(parsed, spark.createDataFrame(expected, PARSED), ignore_nullable=True, ignore_row_order=True)


def test_parse_files_results_and_object_layouts(spark):
    transactions = {"results": [{"id": "VHJhbnNhY3Rpb246MQ==", "currencyData": {"exponent": 2}}]}
    detail = {"id": 69000000002, "role_ids": [69000000100], "deactivated": True}
    frame = spark.createDataFrame(
        [
            ("sync-d/transactions/1.json", json.dumps(transactions)),
            ("sync-d/transactions/2.json", '{"results": 5}'),
            ("sync-d/transactions/3.json", "[]"),
        ],
        "source_file string, value string",
    )
    details = spark.createDataFrame(
        [
            ("sync-d/agent_details/69000000002.json", json.dumps(detail, indent=2)),
            ("sync-d/agent_details/69000000003.json", '{"id": 69000000003, "role_ids": ['),
            ("sync-d/agent_details/69000000004.json", "[1, 2]"),
        ],
        "source_file string, value string",
    )

    spend = read.records(read.parse_files(frame, ENTITIES["transactions"])).select(
        "source_file", "position", "raw_record", "read_error", "record.id", "record.currencyData"
    )
    helpdesk = read.records(read.parse_files(details, ENTITIES["agent_details"])).select(
        "source_file", "position", "raw_record", "read_error", "record.id", "record.role_ids"
    )

    assert_df_equality(
        spend,
        spark.createDataFrame(
            [
                (
                    "sync-d/transactions/1.json",
                    0,
                    compact(transactions["results"][0]),
                    None,
                    "VHJhbnNhY3Rpb246MQ==",
                    (None, "2", None, None),
                ),
                ("sync-d/transactions/2.json", None, '{"results": 5}', 'file has no "results" array', None, None),
                ("sync-d/transactions/3.json", None, "[]", 'file has no "results" array', None, None),
            ],
            "source_file string, position int, raw_record string, read_error string, id string, "
            "currencyData struct<originalCurrencyAmount: string, exponent: string, originalCurrencyCode: string, "
            "exchangeRate: string>",
        ),
        ignore_nullable=True,
        ignore_row_order=True,
    )
    assert_df_equality(
        helpdesk,
        spark.createDataFrame(
            [
                ("sync-d/agent_details/69000000002.json", 0, compact(detail), None, "69000000002", "[69000000100]"),
                (
                    "sync-d/agent_details/69000000003.json",
                    None,
                    '{"id": 69000000003, "role_ids": [',
                    read.ERR_NOT_JSON,
                    None,
                    None,
                ),
                ("sync-d/agent_details/69000000004.json", 0, "[1,2]", read.ERR_NOT_OBJECT, None, None),
            ],
            "source_file string, position int, raw_record string, read_error string, id string, role_ids string",
        ),
        ignore_nullable=True,
        ignore_row_order=True,
    )


def test_read_entity_lists_the_folder_names_files_relative_and_finds_empty_files(spark, tmp_path: Path):
    folder = tmp_path / "sync-2026-01-05" / "cards"
    folder.mkdir(parents=True)
    good = {"results": [{"id": "Q2FyZDox"}, {"id": "Q2FyZDoy"}]}
    (folder / "page 1+a.json").write_text(json.dumps(good), encoding="utf-8")
    (folder / "2.json").write_text('{"results": [{"id": "Q2FyZDoz"}', encoding="utf-8")
    (folder / "3.json").write_text("", encoding="utf-8")
    (folder / "notes.txt").write_text("not part of the feed", encoding="utf-8")

    parsed = read.read_entity(spark, "cards", day="2026-01-05", input_root=str(tmp_path))

    prefix = "sync-2026-01-05/cards/"
    assert_df_equality(
        read.records(parsed).select("source_file", "position", "raw_record", "read_error", "record.id"),
        spark.createDataFrame(
            [
                (prefix + "page 1+a.json", 0, '{"id":"Q2FyZDox"}', None, "Q2FyZDox"),
                (prefix + "page 1+a.json", 1, '{"id":"Q2FyZDoy"}', None, "Q2FyZDoy"),
                (prefix + "2.json", None, '{"results": [{"id": "Q2FyZDoz"}', read.ERR_NOT_JSON, None),
                (prefix + "3.json", None, "", read.ERR_EMPTY, None),
            ],
            "source_file string, position int, raw_record string, read_error string, id string",
        ),
        ignore_nullable=True,
        ignore_row_order=True,
    )
    assert_df_equality(
        read.input_files(parsed, "cards"),
        spark.createDataFrame(
            [
                ("cards", prefix + "page 1+a.json", sha(json.dumps(good)), 2),
                ("cards", prefix + "2.json", sha('{"results": [{"id": "Q2FyZDoz"}'), None),
                ("cards", prefix + "3.json", read.EMPTY_SHA256, None),
            ],
            "entity string, source_file string, sha256 string, records long",
        ),
        ignore_nullable=True,
        ignore_row_order=True,
    )


def test_missing_folder_is_none_and_an_empty_folder_has_no_records(spark, tmp_path: Path):
    (tmp_path / "sync-day1" / "roles").mkdir(parents=True)

    assert read.read_entity(spark, "agents", day="day1", input_root=str(tmp_path)) is None
    assert read.read_entity(spark, "roles", day="day1", input_root=str(tmp_path)).count() == 0
