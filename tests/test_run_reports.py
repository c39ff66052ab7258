"""What people look at, on the bundled sample: the run report (honest about failures), the history
page, and the operating commands, with real Spark, Postgres and Prefect.

Day 1 runs clean; day 2 runs with a check constraint on ``staging.stg_cards`` that rejects every
row, so the cards COPY fails the way a real database error would.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import psycopg
import pytest

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


@pytest.fixture(scope="module")
def prefect():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=300):
        yield


@pytest.fixture(scope="module")
def runs(pg_server_url, template_url, spark, prefect, tmp_path_factory):
    """Day 1 (clean) and day 2 (cards COPY rejected) in a database and home of their own."""
    from zluri_flows.flow import zluri_day_pipeline

    template = psycopg.conninfo.conninfo_to_dict(template_url)["dbname"]

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f"create database {name} template {template}")
    url = psycopg.conninfo.make_conninfo(pg_server_url, dbname=name)
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("ZLURI_DATABASE_URL", url)
        env.setenv("ZLURI_HOME", str(home))
        day1 = zluri_day_pipeline("day1", str(SAMPLE), return_state=True)
        assert day1.is_completed(), day1.message
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "alter table staging.stg_cards add constraint cards_rejected check (card_id is null) not valid"
            )
        day2 = zluri_day_pipeline("day2", str(SAMPLE), return_state=True)
        yield {"url": url, "home": home, "day1": day1, "day2": day2}
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f"drop database if exists {name} with (force)")


def _run_folder(home: Path, day: str, state) -> Path:
    return home / "reports" / day / str(state.state_details.flow_run_id)


def test_a_failed_cards_copy_fails_the_flow_and_the_summary_names_cards(runs):
    day2 = runs["day2"]
    assert day2.is_failed()
    assert "stage_cards" in day2.message
    summary = json.loads((_run_folder(runs["home"], "day2", day2) / "summary.json").read_text())
    assert summary["success"] is False and summary["status"] == "failed"
    failed = {f["task"]: f for f in summary["failed"]}
    assert set(failed) == {"stage_cards"}
    assert failed["stage_cards"]["entity"] == "cards"
    assert "cards_rejected" in failed["stage_cards"]["error"]
    assert summary["entities"]["cards"]["status"] == "failed"
    assert "060_upsert_cards" in summary["not_run"]
    # Independent entities still report their counts.
    assert summary["entities"]["agents"]["status"] in ("passed", "warned")
    assert summary["entities"]["agents"]["loaded"] > 0
    page = (_run_folder(runs["home"], "day2", day2) / "index.html").read_text()
    assert "The run failed." in page and "stage_cards" in page and "cards_rejected" in page
    assert _artifact_markdown(day2, "dq-day2").startswith("# Day day2: FAILED")
    assert "**failed: stage_cards** (entity cards)" in _artifact_markdown(day2, "dq-day2")


def _artifact_markdown(state, key: str) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[key]), flow_run_id=ArtifactFilterFlowRunId(any_=[run_id])
            )
        )
    assert len(found) == 1
    return str(found[0].data)


def test_a_clean_run_summary_has_day_durations_inputs_and_step_results(runs):
    day1 = runs["day1"]
    folder = _run_folder(runs["home"], "day1", day1)
    summary = json.loads((folder / "summary.json").read_text())
    assert (summary["day"], summary["success"], summary["failed"], summary["not_run"]) == ("day1", True, [], [])
    assert summary["duration_seconds"] > 0
    assert {t["name"] for t in summary["tasks"]} >= {"stage_cards", "040_upsert_transactions"}
    assert all(t["outcome"] == "success" and t["seconds"] > 0 for t in summary["tasks"])
    assert {f["entity"] for f in summary["input_files"]} >= {"agents", "cards", "transactions"}
    assert summary["steps"]["010_upsert_agents"]["inserted"] > 0
    expectations = summary["entities"]["transactions"]["expectations"]
    assert expectations and all(x["element_count"] is not None or x["observed_value"] is not None for x in expectations)
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert size < 300_000, f"run folder is {size} bytes"


def test_history_lists_every_run_with_inline_plots(runs):
    page = (runs["home"] / "reports" / "index.html").read_text()
    for day in ("day1", "day2"):
        run_id = str(runs[day].state_details.flow_run_id)
        assert f'href="{day}/{run_id}/index.html"' in page
    assert page.count("<svg") >= 3
    assert "http://" not in page and "https://" not in page


# -- as a person sees it: headless Chromium, network disabled ------------------------------------

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  # No resolver and a dead proxy: nothing could leave the machine even if asked to.
                  "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9")  # fmt: skip


def _chromium() -> str:
    import shutil

    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("ZLURI_REQUIRE_CHROMIUM"):
            pytest.fail("chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def _render(page: Path, out: Path, name: str) -> tuple[str, list[str]]:
    """The page's DOM after load, a screenshot, and every URL the page itself requested."""
    import subprocess

    common = [_chromium(), *CHROMIUM_FLAGS, "--window-size=1280,2200"]
    net_log = out / f"{name}.netlog.json"
    dom = subprocess.run(
        [*common, f"--user-data-dir={out / (name + '-profile')}", f"--log-net-log={net_log}", "--dump-dom",
         page.as_uri()], capture_output=True, text=True, timeout=180, check=True,
    ).stdout  # fmt: skip
    subprocess.run([*common, f"--user-data-dir={out / (name + '-shot')}", f"--screenshot={out / (name + '.png')}",
                    page.as_uri()], capture_output=True, timeout=180, check=True)  # fmt: skip
    assert (out / f"{name}.png").stat().st_size > 10_000
    return dom, _page_requests(net_log)


def _page_requests(net_log: Path) -> list[str]:
    # The browser's own housekeeping requests carry no initiator ("not an origin"); everything a
    # file:// page loads is initiated by its opaque origin ("null").
    log = json.loads(net_log.read_text())
    urls: dict[int, str] = {}
    from_page: set[int] = set()
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    for event in log["events"]:
        params, source = event.get("params") or {}, event["source"]["id"]
        if "url" in params:
            urls.setdefault(source, params["url"])
        if event["type"] == start_job and params.get("initiator") in ("null", "file://"):
            from_page.add(source)
    return sorted(urls.get(s, "?") for s in from_page)


def test_the_network_check_catches_a_page_that_loads_from_a_cdn(tmp_path):
    canary = tmp_path / "canary.html"
    canary.write_text('<html><body><link rel="stylesheet" href="https://cdn.example.invalid/a.css">'
                      '<img src="http://example.invalid/x.png"></body></html>')  # fmt: skip
    _, requested = _render(canary, tmp_path, "canary")
    assert set(requested) == {"https://cdn.example.invalid/a.css", "http://example.invalid/x.png"}


def test_run_and_history_pages_render_offline_in_chromium(runs, tmp_path):
    day2 = _run_folder(runs["home"], "day2", runs["day2"])
    dom, requested = _render(day2 / "index.html", tmp_path, "run-day2")
    assert requested == []
    for table in ("entities", "tasks", "steps", "quarantine", "expectations"):
        assert f'<table class="{table}">' in dom, table
    assert "The run failed." in dom and "cards_rejected" in dom
    summary = json.loads((day2 / "summary.json").read_text())
    warnings = [w for e in summary["entities"].values() for w in e["warnings"]]
    assert warnings, "the sample's day 2 has warnings to show"
    assert all(html_escape(w) in dom for w in warnings)

    dom, requested = _render(runs["home"] / "reports" / "index.html", tmp_path, "history")
    assert requested == []
    assert '<table class="runs">' in dom and dom.count("<svg") >= 3
    assert dom.count('class="badge bad"') >= 1 and dom.count('class="badge ok"') >= 1


def html_escape(text: str) -> str:
    import html

    return html.escape(text, quote=False)


# -- operating commands ----------------------------------------------------------------------------


def _zluri(runs, *args: str):
    from typer.testing import CliRunner

    from zluri_flows.cli import app

    env = {"ZLURI_DATABASE_URL": runs["url"], "ZLURI_HOME": str(runs["home"])}
    return CliRunner().invoke(app, list(args), env=env)


def test_quarantine_lists_rejected_records_with_filters_and_json(runs):
    listed = _zluri(runs, "quarantine", "--day", "day1", "--json", "--limit", "500")
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert rows and {r["day"] for r in rows} == {"day1"}
    entity, reason = rows[0]["entity"], rows[0]["reason"]
    narrowed = json.loads(_zluri(runs, "quarantine", "--entity", entity, "--reason", reason[:12].upper(),
                                 "--json").output)  # fmt: skip
    assert narrowed and all(r["entity"] == entity and reason[:12].lower() in r["reason"].lower() for r in narrowed)
    table = _zluri(runs, "quarantine", "--day", "day1", "--limit", "3")
    assert table.exit_code == 0 and "3 record(s)" in table.output
    assert max(len(line) for line in table.output.splitlines()) <= 100


def test_metrics_accepts_the_8_character_run_prefix_and_prints_json(runs):
    run_id = str(runs["day1"].state_details.flow_run_id)
    result = _zluri(runs, "metrics", "--flow-run", run_id[:8], "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert rows and {r["flow_run_id"] for r in rows} == {run_id}
    unknown = _zluri(runs, "metrics", "--flow-run", "zzzzzzzz")
    assert unknown.exit_code == 2 and "no flow run id starts with 'zzzzzzzz'" in unknown.output
    table = _zluri(runs, "metrics", "--day", "day2")
    assert table.exit_code == 0 and max(len(line) for line in table.output.splitlines()) <= 100


def test_status_shows_days_runs_quarantine_fx_database_and_disk(runs):
    result = _zluri(runs, "status", "--json")
    assert result.exit_code == 0, result.output
    state = json.loads(result.output)
    newest = {f["family"]: f["day"] for f in state["families"]}
    # Day 2 failed only in cards: the agents steps applied it, the cards step did not run.
    assert (newest["core.agents"], newest["core.cards"]) == ("day2", "day1")
    assert [(r["day"], r["outcome"]) for r in state["runs"]] == [("day1", "succeeded"), ("day2", "failed")]
    assert "stage_cards" in state["runs"][1]["failed"]
    assert state["quarantine"] and all(q["count"] > 0 for q in state["quarantine"])
    assert state["fx"]["newest_rate_date"] and state["fx"]["days_old"] >= 0
    from zluri_pg import mask_url

    assert state["home_bytes"] > 0 and state["database"] == mask_url(runs["url"])
    text = _zluri(runs, "status")
    assert text.exit_code == 0 and "newest applied day per table family" in text.output


def test_report_rebuilds_the_history_and_names_the_newest_run(runs):
    result = _zluri(runs, "report")
    assert result.exit_code == 0, result.output
    assert str(runs["home"] / "reports" / "index.html") in result.output
    assert str(runs["day2"].state_details.flow_run_id) in result.output


def test_doctor_checks_and_fails_when_the_home_is_not_writable(runs, tmp_path):
    from typer.testing import CliRunner

    from zluri_flows.cli import app

    result = _zluri(runs, "doctor")
    assert "ok    database" in result.output and "ok    home" in result.output and "python" in result.output
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    env = {"ZLURI_DATABASE_URL": runs["url"], "ZLURI_HOME": str(blocked / "home")}
    failed = CliRunner().invoke(app, ["doctor"], env=env)
    assert failed.exit_code == 1
    assert "FAIL  home" in failed.output and "fix: set ZLURI_HOME" in failed.output


def test_version_and_usage_errors_have_their_exit_codes(runs):
    version = _zluri(runs, "--version")
    assert version.exit_code == 0 and version.output.startswith("zluri ")
    assert _zluri(runs, "run", "--day", "day1", "--input", "/nonexistent").exit_code == 2
