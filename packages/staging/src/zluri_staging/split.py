"""Cutting one feed file into its records while reading it, in memory that does not grow with the
file: pure Python over a byte stream, no Spark.

A feed file is one JSON document in one of three layouts: a top-level array of records
(``array``), an object whose ``results`` member is that array (``results``), or one record
(``object``). ``FileSplit.records()`` yields each record's exact text as it stands in the file, in
order, while the file is read in chunks; Python's C JSON scanner finds where each record ends and
checks its syntax. Only the record being cut and one chunk are held at a time.

Whether the file as a whole is good is known only at its end (a file cut off mid-transfer, trailing
garbage, a second document). The caller therefore treats the yielded records as provisional until
the generator is exhausted and ``error`` is None; a bad file is one quarantine entry whose text is
``sample`` (the file's first ``sample_bytes``, enough to see what it is without holding a 1 GB
file as one string).
"""

from __future__ import annotations

import codecs
import hashlib
import json
import re
from collections.abc import Iterator
from typing import BinaryIO

ERR_EMPTY = "file is empty"
ERR_NOT_JSON = "file is not valid JSON"
ERR_NOT_OBJECT = "record is not a JSON object"
ERR_NOT_UTF8 = "file is not valid UTF-8"
ERR_SHAPE = {
    "array": "file is not a JSON array",
    "results": 'file has no "results" array',
    "object": "file is not a JSON object",
}

CHUNK_BYTES = 4 << 20
SAMPLE_BYTES = 1 << 20
MAX_RECORD_BYTES = 64 << 20  # a record (or a non-record member of a results page) larger than this is an error

_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
_scanstring = json.decoder.scanstring  # type: ignore[attr-defined]


def _size(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit} bytes"


class _FileError(Exception):
    """The file as a whole cannot be read; the message is its quarantine reason."""


class _NeedMore(Exception):
    pass


class FileSplit:
    """One file's records, cut while reading. Iterate ``records()`` once; afterwards ``error`` (None
    for a good file), ``count``, ``sha256`` (of all the file's bytes) and ``sample`` are set."""

    def __init__(
        self,
        stream: BinaryIO,
        layout: str,
        *,
        chunk_bytes: int = CHUNK_BYTES,
        sample_bytes: int = SAMPLE_BYTES,
        max_record_bytes: int = MAX_RECORD_BYTES,
    ) -> None:
        self._stream = stream
        self._layout = layout
        self._chunk = chunk_bytes
        self._sample_limit = sample_bytes
        self._max_record = max_record_bytes
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._hash = hashlib.sha256()
        self._sample = bytearray()
        self._bytes_read = 0
        self._buf = ""
        self._pos = 0
        self._eof = False
        self.count = 0
        self.error: str | None = None

    # -- results ----------------------------------------------------------------------------------

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    @property
    def sample(self) -> str:
        """The file's first bytes as text (undecodable bytes replaced; NUL, which Postgres text
        cannot hold, shown as U+FFFD)."""
        return bytes(self._sample).decode("utf-8", errors="replace").replace("\x00", "\ufffd")

    def records(self) -> Iterator[tuple[int, str, bool]]:
        """(position, record text, is an object) for each record; sets ``error`` on a bad file."""
        try:
            yield from self._records()
            self._drain()
        except _FileError as exc:
            self.error = str(exc)
            self._drain()

    # -- reading ----------------------------------------------------------------------------------

    def _more(self) -> bool:
        """Append the next chunk to the buffer (dropping what was consumed); False at the end."""
        if self._eof:
            return False
        data = self._stream.read(self._chunk)
        self._take(data)
        if not data:
            self._eof = True
        try:
            text = self._utf8.decode(data, final=self._eof)
        except UnicodeDecodeError as exc:
            raise _FileError(f"{ERR_NOT_UTF8} (near byte {self._bytes_read - len(data) + exc.start})") from None
        if "\x00" in text:
            raise _FileError(f"{ERR_NOT_JSON}: NUL byte")
        self._buf = self._buf[self._pos :] + text
        self._pos = 0
        return True

    def _take(self, data: bytes) -> None:
        self._hash.update(data)
        self._bytes_read += len(data)
        if len(self._sample) < self._sample_limit:
            self._sample += data[: self._sample_limit - len(self._sample)]

    def _drain(self) -> None:
        """Read the rest of a file (for its checksum) without keeping it."""
        while not self._eof:
            data = self._stream.read(self._chunk)
            self._take(data)
            self._eof = not data

    def _skip_ws(self) -> str:
        """The next non-blank character ('' at the end of the file)."""
        while True:
            blank = _WS.match(self._buf, self._pos)
            assert blank is not None  # the pattern matches the empty string too
            self._pos = blank.end()
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._more():
                return ""

    def _value(self) -> tuple[object, str]:
        """Decode the JSON value at the cursor; returns it and its exact text."""
        while True:
            try:
                value, end = _DECODER.raw_decode(self._buf, self._pos)
            except (json.JSONDecodeError, ValueError, RecursionError):
                # Possibly only cut by the chunk boundary: read on, up to the size limit.
                if len(self._buf) - self._pos > self._max_record:
                    raise _FileError(f"{ERR_NOT_JSON}: a value larger than {_size(self._max_record)}") from None
                if not self._more():
                    raise _FileError(ERR_NOT_JSON) from None
                continue
            if end == len(self._buf) and not self._eof and not isinstance(value, (dict, list, str)):
                # A number or literal may continue in the next chunk (12|34).
                if self._more():
                    continue
            text = self._buf[self._pos : end]
            self._pos = end
            return value, text

    def _expect(self, char: str) -> bool:
        if self._skip_ws() == char:
            self._pos += 1
            return True
        return False

    # -- layouts ----------------------------------------------------------------------------------

    def _records(self) -> Iterator[tuple[int, str, bool]]:
        self._more()
        if self._buf.startswith("\ufeff"):  # a byte order mark is legal before JSON text
            self._pos = 1
        first = self._skip_ws()
        if first == "":
            raise _FileError(ERR_EMPTY)
        if self._layout == "object":
            value, text = self._value()
            self._end_of_document()
            self.count = 1
            yield 0, text, isinstance(value, dict)
        elif self._layout == "array":
            if first != "[":
                self._wrong_shape()
            self._pos += 1
            yield from self._elements()
            self._end_of_document()
        else:
            if first != "{":
                self._wrong_shape()
            self._pos += 1
            yield from self._results_page()
            self._end_of_document()

    def _elements(self) -> Iterator[tuple[int, str, bool]]:
        """The elements of the array whose '[' was just consumed, through its ']'."""
        if self._expect("]"):
            return
        while True:
            self._skip_ws()
            value, text = self._value()
            yield self.count, text, isinstance(value, dict)
            self.count += 1
            if self._expect(","):
                continue
            if self._expect("]"):
                return
            raise _FileError(ERR_NOT_JSON)

    def _results_page(self) -> Iterator[tuple[int, str, bool]]:
        """The members of the page object whose '{' was just consumed; streams ``results``."""
        seen = False
        if self._expect("}"):
            raise _FileError(ERR_SHAPE["results"])
        while True:
            if self._skip_ws() != '"':
                raise _FileError(ERR_NOT_JSON)
            key = self._key()
            if not self._expect(":"):
                raise _FileError(ERR_NOT_JSON)
            if key == "results" and self._skip_ws() == "[":
                self._pos += 1
                seen = True
                yield from self._elements()
            else:
                self._skip_ws()
                self._value()
            if self._expect(","):
                continue
            if self._expect("}"):
                break
            raise _FileError(ERR_NOT_JSON)
        if not seen:
            raise _FileError(ERR_SHAPE["results"])

    def _key(self) -> str:
        while True:
            try:
                key, end = _scanstring(self._buf, self._pos + 1)
            except (json.JSONDecodeError, ValueError):
                if not self._more():
                    raise _FileError(ERR_NOT_JSON) from None
                continue
            self._pos = end
            return str(key)

    def _end_of_document(self) -> None:
        if self._skip_ws() == "":
            return
        documents = 1
        try:
            while self._skip_ws():
                self._value()
                documents += 1
        except _FileError:
            raise _FileError(ERR_NOT_JSON) from None
        raise _FileError(f"file holds {documents} JSON documents")

    def _wrong_shape(self) -> None:
        """The file does not open as its layout: say whether it is other JSON or not JSON at all."""
        try:
            self._value()
            self._end_of_document()
        except _FileError as exc:
            if str(exc).startswith("file holds"):
                raise
            raise _FileError(ERR_NOT_JSON) from None
        raise _FileError(ERR_SHAPE[self._layout])


__all__ = ["ERR_EMPTY", "ERR_NOT_JSON", "ERR_NOT_OBJECT", "ERR_NOT_UTF8", "ERR_SHAPE", "FileSplit"]
