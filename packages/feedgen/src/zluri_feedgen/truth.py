"""The expected end state: transaction truth computed on demand, and expected.json."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from zluri_feedgen.values import decimal_text, encode_json, ts_truth

if TYPE_CHECKING:
    from zluri_feedgen.spend import Spend


class TransactionTruth(Mapping):
    """Read-only {transaction_id: winning version} over the whole feed, computed on demand
    (the version with the greatest updatedTime ever delivered; quarantined records excluded)."""

    def __init__(self, spend: Spend, length: int | None = None):
        self._spend = spend
        self._len = length

    def _winners(self) -> Iterator[tuple[int, int, tuple, tuple]]:
        spend = self._spend
        for b in range(1, spend.days + 1):
            for i in range(spend.count):
                won = spend.winner(b, i)
                if won is not None:
                    yield b, i, *won

    @staticmethod
    def _entry(base: tuple, version: tuple) -> dict:
        minor, updated, kind, _ = version
        return {
            "updated_at": ts_truth(updated),
            "original_amount": decimal_text(minor, base[4]),
            "original_currency": base[3],
            "transaction_type": kind,
        }

    def __getitem__(self, transaction_id: str) -> dict:
        where = self._spend.locate(transaction_id) if isinstance(transaction_id, str) else None
        won = None if where is None else self._spend.winner(*where)
        if won is None:
            raise KeyError(transaction_id)
        return self._entry(*won)

    def __iter__(self) -> Iterator[str]:
        return (self._spend.transaction_id(b, i) for b, i, _, _ in self._winners())

    def __len__(self) -> int:
        if self._len is None:
            self._len = sum(1 for _ in self._winners())
        return self._len

    def stream_json(self, fh) -> None:
        """Writes the mapping as a JSON object, one entry per line, without holding it."""
        fh.write("{\n")
        for n, (b, i, base, version) in enumerate(self._winners()):
            fh.write(("" if n == 0 else ",\n") + truth_entry_json(self._spend.transaction_id(b, i), base, version))
        fh.write("\n}")


def truth_entry_json(tid: str, base: tuple, version: tuple) -> str:
    """One `"id": {...}` truth entry. Every value is built from JSON-safe characters, so
    formatting by hand is exact (and 3x faster than json.dumps)."""
    minor, updated, kind, _ = version
    return (
        f'"{tid}": {{"updated_at": "{ts_truth(updated)}", "original_amount": '
        f'"{decimal_text(minor, base[4])}", "original_currency": "{base[3]}", "transaction_type": "{kind}"}}'
    )


def write_truth(path: Path, truth: dict, transactions: Path) -> None:
    """expected.json, with the transaction entries copied from the file the day passes wrote."""
    with open(path, "w", encoding="utf-8", buffering=1 << 20) as fh:
        fh.write("{\n")
        for key, value in truth.items():
            if key != "final":
                fh.write(f"{json.dumps(key)}: {encode_json(value)},\n")
        fh.write('"final": {\n')
        for key, value in truth["final"].items():
            if key != "transactions":
                fh.write(f"{json.dumps(key)}: {encode_json(value)},\n")
        fh.write('"transactions": {\n')
        with open(transactions, encoding="utf-8") as entries:
            shutil.copyfileobj(entries, fh, 1 << 20)
        fh.write("\n}\n}\n}\n")
