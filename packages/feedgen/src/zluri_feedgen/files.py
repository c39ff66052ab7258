"""Output files in the real feed's layouts: records streamed into numbered array files, and
many one-object files written from a background thread."""

from __future__ import annotations

import os
import queue
import threading
from pathlib import Path
from typing import IO

from zluri_feedgen.values import encode_json


class ArrayFiles:
    """Writes records one at a time into folder/1.json, 2.json, ... (`per_file` each), either as
    a top-level array or wrapped as {"results": [...]}. Always writes at least 1.json."""

    def __init__(self, folder: Path, per_file: int, wrapped: bool):
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.per_file = folder, per_file
        self.head, self.tail = ('{"results": [', "\n]}\n") if wrapped else ("[", "\n]\n")
        self.files = self.count = self._in_file = 0
        self._fh: IO[str] | None = None

    def write(self, record: dict) -> None:
        self.write_json(encode_json(record))

    def write_json(self, text: str) -> None:
        fh = self._fh
        if fh is None or self._in_file == self.per_file:
            fh = self._next_file()
        fh.write(("\n" if self._in_file == 0 else ",\n") + text)
        self._in_file += 1
        self.count += 1

    def _next_file(self) -> IO[str]:
        if self._fh is not None:
            self._fh.write(self.tail)
            self._fh.close()
        self.files += 1
        self._fh = fh = open(self.folder / f"{self.files}.json", "w", encoding="utf-8", buffering=1 << 20)
        fh.write(self.head)
        self._in_file = 0
        return fh

    def close(self) -> None:
        fh = self._fh if self._fh is not None else self._next_file()
        fh.write(self.tail)
        fh.close()


class SmallFiles:
    """Writes many one-object files (agent_details) from a background thread: creating a file is
    kernel time that overlaps with building the next records. The bounded queue keeps memory flat."""

    def __init__(self, folder: Path, batch: int = 2000):
        folder.mkdir(parents=True, exist_ok=True)
        self.prefix, self.batch_size = f"{folder}{os.sep}", batch
        self.count = 0
        self._batch: list[tuple[str, bytes]] = []
        self._queue: queue.Queue = queue.Queue(maxsize=4)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="agent-details-writer", daemon=True)
        self._thread.start()

    def write(self, name: str, text: str) -> None:
        self._batch.append((self.prefix + name, (text + "\n").encode()))
        self.count += 1
        if len(self._batch) >= self.batch_size:
            self._queue.put(self._batch)
            self._batch = []

    def _drain(self) -> None:
        while (batch := self._queue.get()) is not None:
            if self._error is not None:
                continue  # keep draining so the producer never blocks; close() raises
            try:
                for path, data in batch:
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                    try:
                        os.write(fd, data)
                    finally:
                        os.close(fd)
            except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread
                self._error = error

    def close(self) -> None:
        if self._batch:
            self._queue.put(self._batch)
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error


def write_json(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(encode_json(value) + "\n", encoding="utf-8")
