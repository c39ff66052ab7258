"""split.py: records cut from a byte stream with their exact text, in every layout; a bad file is
an error with its first bytes as sample, never a crash; chunk boundaries change nothing; memory is
bounded by the chunk and the largest record, not the file."""

from __future__ import annotations

import hashlib
import io
import json

import pytest

from zluri_staging.split import ERR_EMPTY, ERR_NOT_JSON, ERR_NOT_UTF8, ERR_SHAPE, FileSplit


def cut(data: str | bytes, layout: str, **options: int) -> tuple[list[tuple[int, str, bool]], str | None, FileSplit]:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    split = FileSplit(io.BytesIO(raw), layout, **options)
    records = list(split.records())
    return records, split.error, split


def test_array_layout_keeps_each_records_exact_text_and_flags_non_objects():
    text = json.dumps([{"id": 69000000001, "deactivated": False}, {"id": "x-1"}, 7, None], indent=2)

    records, error, split = cut(text, "array")

    assert records == [
        (0, '{\n    "id": 69000000001,\n    "deactivated": false\n  }', True),
        (1, '{\n    "id": "x-1"\n  }', True),
        (2, "7", False),
        (3, "null", False),
    ]
    assert error is None
    assert split.count == 4
    assert split.sha256 == hashlib.sha256(text.encode()).hexdigest()


def test_results_layout_streams_the_results_member_and_skips_the_others():
    page = '{"meta": {"page": [1, 2]}, "results": [{"id": "a"}, {"id": "b"}], "next": null}'

    records, error, _ = cut(page, "results")

    assert records == [(0, '{"id": "a"}', True), (1, '{"id": "b"}', True)]
    assert error is None


def test_object_layout_is_one_record():
    assert cut('\ufeff{"id": 1}\n', "object")[:2] == ([(0, '{"id": 1}', True)], None)
    assert cut("[1, 2]", "object")[:2] == ([(0, "[1, 2]", False)], None)


@pytest.mark.parametrize(
    ("data", "layout", "error"),
    [
        ('[{"id": 1}, {"id": 2', "array", ERR_NOT_JSON),  # cut off mid-transfer
        ('[{"id": 3}] trailing', "array", ERR_NOT_JSON),
        ("[1] [2]", "array", "file holds 2 JSON documents"),
        ('{"results": [{"id": 5}]}', "array", ERR_SHAPE["array"]),
        ("not json at all", "array", ERR_NOT_JSON),
        (" \n", "array", ERR_EMPTY),
        ("", "results", ERR_EMPTY),
        ('{"results": 5}', "results", ERR_SHAPE["results"]),
        ("[]", "results", ERR_SHAPE["results"]),
        ("{}", "results", ERR_SHAPE["results"]),
        ('{"id": 1, "role_ids": [', "object", ERR_NOT_JSON),
        (b'[{"id": "caf\xe9"}]', "array", f"{ERR_NOT_UTF8} (near byte 12)"),  # Latin-1
        (b'[{"id": 1}\x00]', "array", f"{ERR_NOT_JSON}: NUL byte"),
    ],
)
def test_a_bad_file_is_an_error_with_its_first_bytes_as_sample(data, layout, error):
    _, got, split = cut(data, layout)

    assert got == error
    raw = data.encode() if isinstance(data, str) else data
    assert split.sample == raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    assert split.sha256 == hashlib.sha256(raw).hexdigest()


def test_chunk_boundaries_anywhere_change_nothing():
    items = [{"id": i, "text": 'x"]},{' * i, "n": 1234567890123, "nested": {"a": [i, {"b": None}]}} for i in range(60)]
    page = json.dumps({"results": items}, ensure_ascii=False) + "\n"

    whole = cut(page, "results")[:2]
    for chunk in (1, 2, 7, 64, 1000):
        assert cut(page, "results", chunk_bytes=chunk)[:2] == whole
    assert [json.loads(text) for _, text, _ in whole[0]] == items


def test_memory_is_bounded_by_the_chunk_and_the_largest_record_not_the_file():
    class Watched(io.BytesIO):
        def __init__(self, data: bytes, split_ref: list) -> None:
            super().__init__(data)
            self.split_ref = split_ref
            self.largest = 0

        def read(self, size: int | None = -1) -> bytes:
            assert size is not None and size > 0, "the cutter never reads a whole file at once"
            if self.split_ref:
                self.largest = max(self.largest, len(self.split_ref[0]._buf))
            return super().read(size)

    record = {"id": "x" * 900}
    data = json.dumps({"results": [record] * 5000}).encode()  # ~4.6 MB
    ref: list = []
    stream = Watched(data, ref)
    split = FileSplit(stream, "results", chunk_bytes=16 << 10)
    ref.append(split)

    assert sum(1 for _ in split.records()) == 5000
    assert split.error is None
    assert stream.largest < 40 << 10  # two chunks and a record, never the 4.6 MB file


def test_a_record_over_the_size_limit_is_an_error_not_a_growing_buffer():
    data = json.dumps([{"id": "x" * 5000}])

    _, error, _ = cut(data, "array", chunk_bytes=512, max_record_bytes=2048)

    assert error == f"{ERR_NOT_JSON}: a value larger than 2048 bytes"
