"""Safe to run every day, end to end (real Spark, Postgres, Prefect, the zluri CLI): FX rates that
arrive later (a loopback HTTP server plays the ECB), guards before destructive steps, one day-label
scheme per database."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlsteps import core_snapshot, query
from typer.testing import CliRunner

from zluri_staging import fx_history

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample" / "sync-day1"


@pytest.fixture(scope="module")
def prefect():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def _first(entity: str) -> dict:
    data = json.loads((SAMPLE / entity / "1.json").read_text())
    return (data["results"] if isinstance(data, dict) else data)[0]


def agent(agent_id: int) -> dict:
    record = _first("agents")
    return {**record, "id": agent_id, "contact": {**record["contact"], "email": f"a{agent_id}@corp.example"}}


def group(group_id: int, members: list[int]) -> dict:
    return {
        **_first("admin_groups"),
        "id": group_id,
        "name": f"G{group_id}",
        "parent_group_id": None,
        "agent_ids": members,
    }


def transaction(tid: str, currency: str, minor: str, occurred: str) -> dict:
    record = _first("transactions")
    return {
        **record,
        "id": tid,
        "occurredTime": occurred,
        "updatedTime": occurred,
        "currencyData": {
            **record["currencyData"],
            "originalCurrencyCode": currency,
            "originalCurrencyAmount": minor,
            "exponent": 2,
        },
    }


def write_day(root: Path, day: str, agents: list | None, groups: list[dict], transactions: list[dict]) -> Path:
    """A minimal day in the real file layouts: the three required entities only (the optional
    ones are skipped as missing). ``agents=None`` leaves the agents folder empty."""
    folder = root / f"sync-{day}"
    for entity in ("agents", "admin_groups", "transactions"):
        (folder / entity).mkdir(parents=True, exist_ok=True)
    if agents is not None:
        (folder / "agents" / "1.json").write_text(json.dumps(agents))
    (folder / "admin_groups" / "1.json").write_text(json.dumps(groups))
    (folder / "transactions" / "1.json").write_text(json.dumps({"results": transactions}))
    return root


def cli(*args: str):
    from zluri_flows.cli import app

    return CliRunner().invoke(app, list(args))


# -- FX rates that arrive later ---------------------------------------------------------------


def ecb_zip_with(rows: list[str]) -> bytes:
    with zipfile.ZipFile(fx_history.bundled_file()) as bundle:
        header, rest = bundle.read(bundle.namelist()[0]).decode("utf-8").split("\n", 1)
    columns = header.split(",")

    def line(day: str, usd: str) -> str:
        cells = ["N/A"] * len(columns)
        cells[0], cells[columns.index("USD")] = day, usd
        return ",".join(cells)

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("eurofxref-hist.csv", "\n".join([header, *(line(*r.split(":")) for r in rows), rest]))
    return buffer.getvalue()


@pytest.fixture()
def ecb_server():
    """A loopback HTTP server: /hist.zip a later ECB history, /cut.zip the same cut short,
    /error.html an HTML error page served as 200, /down.zip a 503."""
    later = ecb_zip_with(["2026-11-20:1.1500", "2026-11-19:1.1400"])
    pages = {
        "/hist.zip": (200, "application/zip", later),
        "/cut.zip": (200, "application/zip", later[:4096]),
        "/error.html": (200, "text/html", b"<html><body><h1>Service unavailable</h1></body></html>"),
        "/down.zip": (503, "text/html", b"<html>maintenance</html>"),
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server hook
            status, kind, body = pages.get(self.path, (404, "text/plain", b"not found"))
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_transactions_wait_for_rates_then_load_after_fx_update_and_reprocess(
    db_url, spark, prefect, ecb_server, tmp_path, monkeypatch
):
    home = tmp_path / "home"
    monkeypatch.setenv("ZLURI_HOME", str(home))
    monkeypatch.delenv("ZLURI_FX_RATES_FILE", raising=False)
    day = "2026-11-20"  # past the bundled history (2026-10-30) plus the 7-day window
    root = write_day(
        tmp_path / "feed",
        day,
        [agent(1), agent(2)],
        [group(900, [1, 2])],
        [
            transaction("T-EUR", "EUR", "463", "2026-11-20T10:00:00.000+00:00"),
            transaction("T-USD", "USD", "1000", "2026-11-20T11:00:00.000+00:00"),
        ],
    )

    parked = cli("run", "--day", day, "--input", str(root))
    assert parked.exit_code == 0, parked.output
    assert "1 transactions await an FX rate (newest rate 2026-10-30)" in parked.output
    assert query(db_url, "select transaction_id from core.transactions") == [{"transaction_id": "T-USD"}]
    assert query(db_url, "select reason, retriable from ops.quarantine where entity = 'transactions'") == [
        {"reason": "awaiting FX rate: EUR on 2026-11-20 (newest rate 2026-10-30)", "retriable": True}
    ]

    # Broken downloads leave what is held alone and say why.
    for page, message in [
        ("/cut.zip", "not a valid zip archive"),
        ("/error.html", "starts with '<html>"),
        ("/down.zip", "HTTP 503"),
    ]:
        monkeypatch.setenv("ZLURI_FX_SOURCE_URL", ecb_server + page)
        broken = cli("fx", "update")
        assert broken.exit_code == 1, broken.output
        assert "fx update failed, the rates held are unchanged" in broken.output and message in broken.output
        assert not (home / "fx").exists()
    # Without new rates a reprocess still parks the transaction (and the day still succeeds).
    assert cli("reprocess", "--reason", "fx", "--input", str(root)).exit_code == 0
    assert query(db_url, "select count(*) as n from core.transactions") == [{"n": 1}]

    monkeypatch.setenv("ZLURI_FX_SOURCE_URL", ecb_server + "/hist.zip")
    updated = cli("fx", "update")
    assert updated.exit_code == 0, updated.output
    assert "newest rate 2026-11-20 (was 2026-10-30)" in updated.output
    status = json.loads(cli("fx", "status", "--json").output)
    assert [(s["source"], s["newest_rate_date"]) for s in status["sources"]] == [
        ("downloaded", "2026-11-20"),
        ("bundled", "2026-10-30"),
        ("override", None),
    ]
    assert status["transactions_wait_after"] == "2026-11-27"

    reprocessed = cli("reprocess", "--reason", "fx", "--input", str(root))
    assert reprocessed.exit_code == 0, reprocessed.output
    assert f"day {day}: 1 transactions await an FX rate" in reprocessed.output
    assert query(
        db_url,
        "select transaction_id, amount_usd, fx_rate, fx_rate_date::text, fx_source "
        "from core.transactions where original_currency = 'EUR'",
    ) == [
        {
            "transaction_id": "T-EUR",
            "amount_usd": Decimal("5.324500"),
            "fx_rate": Decimal("1.150000000000"),
            "fx_rate_date": "2026-11-20",
            "fx_source": "ecb",
        }
    ]
    assert query(db_url, "select day from ops.fx_awaiting_days") == []
    nothing = cli("reprocess", "--reason", "fx", "--input", str(root))
    assert nothing.exit_code == 0 and "no day holds transactions awaiting an FX rate" in nothing.output

    # The database now holds ISO-dated days: a day<N> label is refused before anything runs.
    before = core_snapshot(db_url)
    write_day(root, "day1", [agent(1)], [group(900, [1])], [])
    refused = cli("run", "--day", "day1", "--input", str(root))
    assert refused.exit_code == 2
    assert (
        "day label 'day1' is of the day<N> scheme, but this database holds YYYY-MM-DD labels (first day '2026-11-20')"
    ) in refused.output
    assert core_snapshot(db_url) == before
    zero_padded = cli("run", "--day", "day01", "--input", str(root))
    assert zero_padded.exit_code == 2 and "invalid day label 'day01'" in zero_padded.output
    from zluri_flows.flow import zluri_day_pipeline

    state = zluri_day_pipeline("day1", str(root), return_state=True)
    assert state.is_failed() and "holds YYYY-MM-DD labels" in state.message
    assert core_snapshot(db_url) == before


# -- guards before destructive steps ----------------------------------------------------------

AGENTS = list(range(1, 26))  # 25: above the default minimum population (20)


def test_mass_changes_fail_before_any_core_change_unless_allowed(db_url, spark, prefect, tmp_path, monkeypatch):
    from zluri_flows.flow import zluri_day_pipeline

    monkeypatch.setenv("ZLURI_HOME", str(tmp_path / "home"))
    spend = [transaction("T-1", "USD", "1000", "2025-03-06T10:00:00.000+00:00")]
    groups = [group(900, AGENTS)]
    day1 = write_day(tmp_path / "day1", "day1", [agent(a) for a in AGENTS], groups, spend)
    assert zluri_day_pipeline("day1", str(day1), return_state=True).is_completed()
    after_day1 = core_snapshot(db_url)

    broken = [{"name": "no id", "contact": {"email": "x@corp.example"}} for _ in AGENTS]
    variants = {
        "empty agents folder": (
            None,
            "agents: 0 valid records in this day's input, the newest applied day (day1) listed 25",
        ),
        "every agents record broken": (broken, "agents: 0 valid records"),
        "90% of agents missing": (
            [agent(a) for a in AGENTS[:2]],
            "agents: would deactivate 23 of 25 active agents (92.0%), more than the 25.0% threshold",
        ),
    }
    for name, (agents, message) in variants.items():
        root = write_day(tmp_path / name.replace(" ", "_").replace("%", ""), "day2", agents, groups, spend)
        state = zluri_day_pipeline("day2", str(root), return_state=True)
        assert state.is_failed(), name
        assert "mass change refused for day day2" in state.message and message in state.message, state.message
        assert core_snapshot(db_url) == after_day1, name

    allowed = cli("run", "--day", "day2", "--input", str(root), "--allow-mass-change")
    assert allowed.exit_code == 0, allowed.output
    assert query(db_url, "select count(*) as n from core.agents where status = 'active'") == [{"n": 2}]
    notes = query(
        db_url,
        "select task_name, note from ops.pipeline_metrics where day = 'day2' and status = 'success' "
        "and note is not null order by id",
    )
    assert [n["task_name"] for n in notes] == ["check_mass_change", "upsert_agents", "upsert_groups"]
    assert all(
        n["note"].startswith("mass change allowed (--allow-mass-change): agents: would deactivate 23 of 25")
        for n in notes[:2]
    )
