"""read.py: files cut into records on the executors (one file row each, record rows for a good
file), records of unreadable files never reach ``records``, every listed file is accounted for
(names Spark's own file index would skip included), links out of the folder are not followed,
missing folders are None."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pyarrow as pa
import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql import types as T

from zluri_staging import read
from zluri_staging.schemas import ENTITIES


def sha(text: str | bytes) -> str:
    return hashlib.sha256(text.encode("utf-8") if isinstance(text, str) else text).hexdigest()


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
RECORDS = "source_file string, position int, raw_record string, read_error string, id string"


def test_parse_files_gives_a_file_row_per_file_and_record_rows_with_exact_text(spark):
    first = '{\n    "id": 69000000001,\n    "deactivated": false,\n    "contact": {"email": "a@example.test"}\n  }'
    second = '{"id": "x-1"}'
    files = {
        "sync-d/agents/1.json": f"[\n  {first},\n  {second}, 7\n]\n",
        "sync-d/agents/2.json": '[{"id": 1}, {"id": 2',  # cut off mid-transfer
        "sync-d/agents/3.json": "[]",
        "sync-d/agents/4.json": "[1] [2]",
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
        ("sync-d/agents/1.json", None, None, 0, first, None, "69000000001", "false"),
        ("sync-d/agents/1.json", None, None, 1, second, None, "x-1", None),
        ("sync-d/agents/1.json", None, None, 2, "7", read.ERR_NOT_OBJECT, None, None),
        ("sync-d/agents/1.json", h["sync-d/agents/1.json"], 3, None, None, None, None, None),
        # Records before the cut are provisional: they are rows here and dropped by ``records``.
        ("sync-d/agents/2.json", None, None, 0, '{"id": 1}', None, "1", None),
        ("sync-d/agents/2.json", h["sync-d/agents/2.json"], None, None, files["sync-d/agents/2.json"],
            read.ERR_NOT_JSON, None, None),
        ("sync-d/agents/3.json", h["sync-d/agents/3.json"], 0, None, None, None, None, None),
        ("sync-d/agents/4.json", None, None, 0, "1", read.ERR_NOT_OBJECT, None, None),
        ("sync-d/agents/4.json", h["sync-d/agents/4.json"], None, None, "[1] [2]", "file holds 2 JSON documents",
            None, None),
    ]  # fmt: skip
    assert_df_equality(parsed, spark.createDataFrame(expected, PARSED), ignore_nullable=True, ignore_row_order=True)


def test_records_keep_good_files_records_and_one_row_per_unreadable_file(spark):
    transactions = {"results": [{"id": "VHJhbnNhY3Rpb246MQ==", "currencyData": {"exponent": 2}}]}
    frame = spark.createDataFrame(
        [
            ("sync-d/transactions/1.json", json.dumps(transactions)),
            ("sync-d/transactions/2.json", '{"results": [{"id": "a"}, {"id": "b"}], "next": '),
            ("sync-d/transactions/3.json", "[]"),
        ],
        "source_file string, value string",
    )

    parsed = read.parse_files(frame, ENTITIES["transactions"])
    columns = ("source_file", "position", "raw_record", "read_error", "record.id", "record.currencyData")
    spend = read.records(parsed).select(*columns)
    # Given the unreadable files the file rows name (as staging does), the same rows by one filter.
    unreadable = read.unreadable_files(read.input_files(parsed, "transactions").toArrow())
    assert sorted(unreadable) == ["sync-d/transactions/2.json", "sync-d/transactions/3.json"]
    assert_df_equality(
        read.records(parsed, unreadable).select(*columns), spend, ignore_row_order=True, ignore_nullable=True
    )

    assert_df_equality(
        spend,
        spark.createDataFrame(
            [
                (
                    "sync-d/transactions/1.json",
                    0,
                    json.dumps(transactions["results"][0]),
                    None,
                    "VHJhbnNhY3Rpb246MQ==",
                    (None, "2", None, None),
                ),
                (
                    "sync-d/transactions/2.json",
                    None,
                    '{"results": [{"id": "a"}, {"id": "b"}], "next": ',
                    read.ERR_NOT_JSON,
                    None,
                    None,
                ),
                ("sync-d/transactions/3.json", None, "[]", 'file has no "results" array', None, None),
            ],
            "source_file string, position int, raw_record string, read_error string, id string, "
            "currencyData struct<originalCurrencyAmount: string, exponent: string, originalCurrencyCode: string, "
            "exchangeRate: string>",
        ),
        ignore_nullable=True,
        ignore_row_order=True,
    )


def test_the_first_pass_collects_the_input_files_and_a_survey_in_one_query(spark):
    frame = spark.createDataFrame(
        [
            ("sync-d/roles/1.json", json.dumps([{"id": 1, "name": "a"}, {"id": 2, "name": "b"}])),
            ("sync-d/roles/2.json", json.dumps([{"id": 3, "name": "a"}])),
            ("sync-d/roles/3.json", "not json"),
        ],
        "source_file string, value string",
    )
    parsed = read.parse_files(frame, ENTITIES["roles"])
    names = read.records(parsed, ()).select(F.col("record.name").alias("name")).where("name is not null").distinct()

    files, surveyed = read.first_pass(parsed, "roles", names)

    alone = read.input_files(parsed, "roles").toArrow()
    assert files.sort_by("source_file").to_pylist() == alone.sort_by("source_file").to_pylist()
    assert files.num_rows == 3  # one per file, the unreadable one included
    assert surveyed is not None
    assert sorted(surveyed["name"].to_pylist()) == ["a", "b"]
    assert surveyed.column_names == ["name"]
    assert read.first_pass(parsed, "roles")[1] is None
    with pytest.raises(ValueError, match="must differ"):
        read.first_pass(parsed, "roles", parsed.select("source_file"))


@pytest.mark.parametrize("spread", [False, True], ids=["a-partition-per-task", "large-files-spread"])
def test_read_entity_accounts_for_every_listed_file(spark, tmp_path: Path, monkeypatch, spread: bool):
    if spread:  # every file counts as large: its records are spread over partitions of about 16 bytes
        monkeypatch.setattr(read, "LARGE_FILE_BYTES", 16)
        monkeypatch.setattr(read, "PARTITION_BYTES", 16)
    day = tmp_path / "sync-2026-01-05"
    folder = day / "cards"
    folder.mkdir(parents=True)
    good = json.dumps({"results": [{"id": "Q2FyZDox"}, {"id": "Q2FyZDoy"}]})
    texts: dict[str, bytes] = {
        "page 1+a.json": good.encode(),
        "_2.json": b'{"results": [{"id": "Q2FyZDoz"}]}',  # Spark's file index would skip this name
        ".3.json": b'{"results": [{"id": "Q2FyZDo0"}]}',  # ... and this one
        "4.json": b'{"results": [{"id": "Q2FyZDo1"}',  # cut off
        "5.json": b"",
        "latin1.json": '{"results": [{"id": "café"}]}'.encode("latin-1"),
        "nul.json": b'{"results": [{"id": "a\x00"}]}',
        "bom.json": '\ufeff{"results": [{"id": "Q2FyZDo2"}]}'.encode(),
    }
    for name, data in texts.items():
        (folder / name).write_bytes(data)
    (folder / "notes.txt").write_text("not part of the feed", encoding="utf-8")
    outside = tmp_path / "secret.json"
    outside.write_text('{"results": [{"id": "outside"}]}', encoding="utf-8")
    os.symlink(outside, folder / "link.json")

    entity = read.read_entity(spark, "cards", day="2026-01-05", input_root=str(tmp_path))
    assert entity is not None

    p = "sync-2026-01-05/cards/"
    assert sorted(entity.listed) == sorted(p + n for n in [*texts, "link.json"])
    assert_df_equality(
        read.records(entity.parsed).select("source_file", "position", "raw_record", "read_error", "record.id"),
        spark.createDataFrame(
            [
                (p + "page 1+a.json", 0, '{"id": "Q2FyZDox"}', None, "Q2FyZDox"),
                (p + "page 1+a.json", 1, '{"id": "Q2FyZDoy"}', None, "Q2FyZDoy"),
                (p + "_2.json", 0, '{"id": "Q2FyZDoz"}', None, "Q2FyZDoz"),
                (p + ".3.json", 0, '{"id": "Q2FyZDo0"}', None, "Q2FyZDo0"),
                (p + "4.json", None, '{"results": [{"id": "Q2FyZDo1"}', read.ERR_NOT_JSON, None),
                (p + "5.json", None, "", read.ERR_EMPTY, None),
                (p + "latin1.json", None, '{"results": [{"id": "caf\ufffd"}]}', f"{read.ERR_NOT_UTF8} (near byte 24)",
                 None),
                (p + "nul.json", None, '{"results": [{"id": "a\ufffd"}]}', f"{read.ERR_NOT_JSON}: NUL byte", None),
                (p + "bom.json", 0, '{"id": "Q2FyZDo2"}', None, "Q2FyZDo2"),
                (p + "link.json", None, "", read.ERR_LINK_OUTSIDE, None),
            ],
            RECORDS,
        ),
        ignore_nullable=True,
        ignore_row_order=True,
    )  # fmt: skip
    files = read.input_files(entity.parsed, "cards")
    assert_df_equality(
        files.select("source_file", "sha256", "records"),
        spark.createDataFrame(
            [
                (p + "page 1+a.json", sha(texts["page 1+a.json"]), 2),
                (p + "_2.json", sha(texts["_2.json"]), 1),
                (p + ".3.json", sha(texts[".3.json"]), 1),
                (p + "4.json", sha(texts["4.json"]), None),
                (p + "5.json", read.EMPTY_SHA256, None),
                (p + "latin1.json", sha(texts["latin1.json"]), None),
                (p + "nul.json", sha(texts["nul.json"]), None),
                (p + "bom.json", sha(texts["bom.json"]), 1),
                (p + "link.json", read.EMPTY_SHA256, None),
            ],
            "source_file string, sha256 string, records long",
        ),
        ignore_nullable=True,
        ignore_row_order=True,
    )
    read.check_accounted(entity.listed, [r.source_file for r in files.collect()], "cards")
    if spread:
        listed_bytes = sum(f.size for f in read.list_entity_files(spark, str(folder)) or [])
        assert entity.parsed.rdd.getNumPartitions() == -(-listed_bytes // 16) > len(entity.listed)


def test_small_files_share_a_task_and_large_ones_spread_over_the_slots():
    def sizes(bins: list[list[read.InputFile]]) -> list[list[int]]:
        return [[f.size for f in b] for b in bins]

    small = [read.InputFile(f"{n}.json", 2_000) for n in range(6)]
    assert sizes(read._bins(small, slots=8)) == [[2_000] * 6]
    mib = 1 << 20
    large = [read.InputFile(f"{n}.json", size * mib) for n, size in enumerate([1, 9, 3, 5])]
    # 18 MiB of files in at most 5 tasks of 4 MiB or more: the four files, one per task, largest first
    assert sizes(read._bins(large, slots=8)) == [[9 * mib], [5 * mib], [3 * mib], [1 * mib]]
    assert sizes(read._bins(large, slots=2)) == [[9 * mib], [5 * mib, 3 * mib, 1 * mib]]
    # every file goes to exactly one task, however many there are
    many = [read.InputFile(f"{n}.json", n * 1_000) for n in range(5_000)]
    spread = read._bins(many, slots=8)
    assert len(spread) == 8
    assert sorted(f.name for b in spread for f in b) == sorted(f.name for f in many)


def test_the_rows_of_many_small_files_share_batches_of_bounded_text(tmp_path: Path, monkeypatch):
    names = [f"{n}.json" for n in range(30)]
    for n, name in enumerate(names):
        (tmp_path / name).write_text(f'{{"id": {n}}}' if n != 7 else '{"id": ', encoding="utf-8")
    listed = [(name, str(tmp_path / name), None) for name in names] + [("gone.json", str(tmp_path / "gone.json"), None)]
    monkeypatch.setattr(read, "BATCH_ROWS", 16)

    batches = list(read._split_files(listed, "object", None))

    # 29 good files of a record and a file row each, a bad file's row, a missing file's row: 60 rows
    assert [b.num_rows for b in batches] == [16, 16, 16, 12]
    rows = pa.Table.from_batches(batches).to_pylist()
    assert [r["position"] for r in rows if r["source_file"] == "0.json"] == [0, None]
    assert [r["read_error"] for r in rows if r["source_file"] == "7.json"] == [read.ERR_NOT_JSON]
    assert rows[-1]["source_file"] == "gone.json" and rows[-1]["read_error"].startswith(read.ERR_UNREADABLE)

    # a batch also ends at the row whose text brings its texts to BATCH_TEXT characters
    monkeypatch.setattr(read, "BATCH_TEXT", 18)
    bounded = list(read._split_files(listed, "object", None))
    texts = [[len(t or "") for t in b.column("raw_record").to_pylist()] for b in bounded]
    assert all(sum(t[:-1]) < 18 <= sum(t) for t in texts[:-1]) and max(map(len, texts)) < 16
    assert pa.Table.from_batches(bounded).to_pylist() == rows


def test_listed_and_read_files_must_agree():
    read.check_accounted(["a", "b"], ["b", "a"], "cards")
    with pytest.raises(read.UnaccountedFilesError, match=r"not read \['b'\], not listed \['c'\], read twice \['a'\]"):
        read.check_accounted(["a", "b"], ["a", "a", "c"], "cards")


def test_missing_folder_is_none_and_an_empty_folder_has_no_records(spark, tmp_path: Path):
    (tmp_path / "sync-day1" / "roles").mkdir(parents=True)

    assert read.read_entity(spark, "agents", day="day1", input_root=str(tmp_path)) is None
    empty = read.read_entity(spark, "roles", day="day1", input_root=str(tmp_path))
    assert empty is not None
    assert empty.listed == []
    assert empty.parsed.count() == 0


def test_day_input_bytes_counts_the_json_files_of_the_days_entity_folders(tmp_path: Path):
    day = tmp_path / "sync-day1"
    (day / "roles").mkdir(parents=True)
    (day / "agents").mkdir()
    (day / "roles" / "1.json").write_bytes(b"x" * 100)
    (day / "agents" / "_2.json").write_bytes(b"x" * 20)  # read like any other name
    (day / "agents" / "notes.txt").write_bytes(b"x" * 1000)  # not input
    (day / "stray.json").write_bytes(b"x" * 1000)  # not in an entity folder
    outside = tmp_path / "big.json"
    outside.write_bytes(b"x" * 5000)
    (day / "agents" / "3.json").symlink_to(outside)  # not followed, as the reader does not
    assert read.day_input_bytes(str(tmp_path), "day1") == 120
    assert read.day_input_bytes(f"file://{tmp_path}", "day1") == 120
    assert read.day_input_bytes(str(tmp_path), "day9") is None  # missing
    assert read.day_input_bytes("s3a://bucket/feed", "day1") is None  # known only through Spark
