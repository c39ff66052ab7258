"""ECB history files: parsing, choosing the newest held, atomic install, refusing broken downloads,
and the transactions that wait for a rate (no Spark needed)."""

from __future__ import annotations

import io
import zipfile
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from zluri_staging import fx, fx_history


def bundled_csv() -> str:
    with zipfile.ZipFile(fx_history.bundled_file()) as bundle:
        return bundle.read(bundle.namelist()[0]).decode("utf-8")


def ecb_zip(extra_rows: list[str]) -> bytes:
    """The bundled history with ``extra_rows`` (newest first, bundled columns) put on top."""
    header, rest = bundled_csv().split("\n", 1)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("eurofxref-hist.csv", "\n".join([header, *extra_rows, rest]))
    return buffer.getvalue()


def row(day: str, usd: str, gbp: str = "N/A") -> str:
    header = bundled_csv().split("\n", 1)[0].split(",")
    cells = ["N/A"] * len(header)
    cells[0], cells[header.index("USD")], cells[header.index("GBP")] = day, usd, gbp
    return ",".join(cells)


BUNDLED_NEWEST = fx_history.read_history(fx_history.bundled_file()).newest
LATER = ecb_zip([row("2026-11-20", "1.1500", "0.8500"), row("2026-11-19", "1.1400", "0.8400")])


def test_parse_reads_quotes_as_printed_and_the_date_range():
    history = fx_history.parse_history(LATER)
    assert (history.newest, history.quotes["USD"][date(2026, 11, 20)]) == (date(2026, 11, 20), "1.1500")
    assert history.quotes["GBP"][date(2026, 11, 19)] == "0.8400"
    assert date(2026, 11, 20) not in history.quotes["JPY"]  # N/A is no quote
    assert history.oldest == fx_history.read_history(fx_history.bundled_file()).oldest


def test_every_currency_reads_as_the_csv_row_by_row():
    # Each currency's quotes are built when first looked up: all of them, against the plain reading.
    lines = [line.split(",") for line in bundled_csv().splitlines() if line.strip()]
    codes = [code.strip() for code in lines[0]]
    expected: dict[str, dict[date, str]] = {code: {} for code in codes[1:] if code}
    for cells in lines[1:]:
        for code, quote in zip(codes[1:], cells[1:]):
            if code and quote.strip() not in ("", "N/A"):
                expected[code][date.fromisoformat(cells[0].strip())] = quote.strip()
    quotes = fx_history.read_history(fx_history.bundled_file()).quotes
    assert sorted(quotes) == sorted(expected) and len(expected) > 30
    assert {code: dict(quotes[code]) for code in quotes} == expected


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (LATER[: len(LATER) // 2], "not a valid zip archive"),
        (b"<!DOCTYPE html><html><body>503 Service Unavailable</body></html>", "starts with '<!DOCTYPE html>"),
        (b"", "it is empty"),
    ],
)
def test_broken_files_are_refused_with_what_is_wrong(data, message):
    with pytest.raises(fx_history.HistoryFileError, match=message):
        fx_history.parse_history(data, "download")


def test_a_zip_without_the_ecb_csv_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("rates.csv", "day,usd\n2026-11-20,1.1\n")
    with pytest.raises(fx_history.HistoryFileError, match="header must start with 'Date'"):
        fx_history.parse_history(buffer.getvalue())


def test_install_switches_atomically_and_runs_use_the_newest_held(tmp_path: Path):
    assert fx_history.newest_held(tmp_path)[0] == fx_history.bundled_file()
    installed = fx_history.install(tmp_path, LATER, "http://127.0.0.1/x.zip")
    assert (installed.newest, installed.previous_newest) == (date(2026, 11, 20), BUNDLED_NEWEST)
    link = tmp_path / "fx"
    assert link.is_symlink() and not Path(link.readlink()).is_absolute()
    assert fx_history.newest_held(tmp_path) == (installed.path, fx_history.read_history(installed.path))
    assert fx_history.source_info(tmp_path)["url"] == "http://127.0.0.1/x.zip"
    # A second update replaces the first; only the version in use is kept.
    newer = ecb_zip([row("2026-11-23", "1.1600"), row("2026-11-20", "1.1500", "0.8500")])
    fx_history.install(tmp_path, newer, "http://127.0.0.1/y.zip")
    assert fx_history.read_history(fx_history.downloaded_file(tmp_path)).newest == date(2026, 11, 23)
    assert [p.name for p in (tmp_path / "fx.d").iterdir()] == [link.resolve().name]


def test_install_refuses_a_broken_or_older_file_and_keeps_what_is_held(tmp_path: Path):
    fx_history.install(tmp_path, LATER, "http://127.0.0.1/x.zip")
    held = fx_history.downloaded_file(tmp_path).read_bytes()
    with pytest.raises(fx_history.HistoryFileError, match="not a valid zip"):
        fx_history.install(tmp_path, LATER[:1000], "http://127.0.0.1/cut.zip")
    with pytest.raises(fx_history.HistoryFileError, match="before the rates already held"):
        fx_history.install(tmp_path, ecb_zip([]), "http://127.0.0.1/old.zip")
    assert fx_history.downloaded_file(tmp_path).read_bytes() == held
    assert len(list((tmp_path / "fx.d").iterdir())) == 1


def test_settings_use_the_downloaded_history(tmp_path: Path):
    assert fx.FxSettings(home=tmp_path).history_file == fx_history.bundled_file()
    fx_history.install(tmp_path, LATER, "http://127.0.0.1/x.zip")
    assert fx.FxSettings(home=tmp_path).history_file == fx_history.downloaded_file(tmp_path)


def test_past_the_newest_rate_a_current_currency_awaits_and_a_dead_one_does_not(tmp_path: Path):
    late = date(2026, 11, 20)
    beyond = date.fromordinal(BUNDLED_NEWEST.toordinal() + 8)
    within = date.fromordinal(BUNDLED_NEWEST.toordinal() + 7)
    awaiting = fx.awaiting_rates([within, beyond, late], ["EUR", "RUB", "XTS", "USD"])
    assert awaiting == [
        fx.DailyRate(beyond, "EUR", None, BUNDLED_NEWEST, fx.SOURCE_AWAITING),
        fx.DailyRate(late, "EUR", None, BUNDLED_NEWEST, fx.SOURCE_AWAITING),
    ]
    # With the later history the same day has its rate and nothing waits.
    fx_history.install(tmp_path, LATER, "http://127.0.0.1/x.zip")
    history_file = fx_history.downloaded_file(tmp_path)
    assert fx.daily_rates(late, late, ["EUR", "GBP"], history_file=history_file) == [
        fx.DailyRate(late, "EUR", Decimal("1.150000000000"), late, "ecb"),
        fx.DailyRate(late, "GBP", Decimal("1.352941176471"), late, "ecb"),  # 1.15 / 0.85
    ]
    assert fx.awaiting_rates([late], ["EUR", "GBP"], history_file=history_file) == []


def test_awaiting_summary_counts_only_awaiting_reasons():
    reasons = {
        "awaiting FX rate: EUR on 2026-11-20 (newest rate 2026-10-30)": 3,
        "awaiting FX rate: GBP on 2026-11-21 (newest rate 2026-10-30)": 1,
        "no FX rate for RUB on 2026-11-20": 2,
    }
    assert fx.awaiting_summary(reasons) == (4, date(2026, 10, 30))
    assert fx.awaiting_summary({"transaction_id missing": 1}) == (0, None)
