"""The database password is never stored or printed: a day run against a real server with password
authentication, whose password holds '@', ':' and '%', then every log, metrics row, quarantine row,
report file, artifact, flow and task run record and the deployment are searched for it."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from typer.testing import CliRunner

from conftest import SENTINEL_PASSWORD
from zluri_feedgen import generate_feed

FORMS = [SENTINEL_PASSWORD, quote(SENTINEL_PASSWORD, safe=""), "s3ntinel"]


def _leaks(text: str) -> list[str]:
    return [form for form in FORMS if form in text]


@pytest.fixture()
def sentinel_db(password_pg_url):
    with psycopg.connect(password_pg_url, autocommit=True) as conn:
        conn.execute("drop database if exists zluri_secrets with (force)")
        conn.execute("create database zluri_secrets")
    return password_pg_url.rsplit("/", 1)[0] + "/zluri_secrets"


async def _prefect_records() -> str:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        parts = [r.model_dump_json() for r in await client.read_logs(limit=200)]
        offset = 200
        while len(batch := await client.read_logs(limit=200, offset=offset)) > 0:
            parts += [r.model_dump_json() for r in batch]
            offset += 200
        parts += [a.model_dump_json() for a in await client.read_artifacts()]
        parts += [r.model_dump_json() for r in await client.read_flow_runs()]
        parts += [r.model_dump_json() for r in await client.read_task_runs()]
        parts += [b.model_dump_json() for b in await client.read_block_documents(include_secrets=False)]
    return "\n".join(parts)


def _deployment_as_prefect_deploys_it(url: str) -> str:
    """flows/prefect.yaml's deployments as `prefect deploy` stores them, rendered with the URL in the
    deploy-time environment (an operator's shell may well hold it)."""
    import os

    import yaml
    from prefect.utilities.templating import apply_values

    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "flows" / "prefect.yaml").read_text())
    environment = {**os.environ, "ZLURI_DATABASE_URL": url, "ZLURI_INPUT_HOST_DIR": "/in", "ZLURI_HOME_HOST_DIR": "/h"}
    rendered = apply_values(config["deployments"], environment, remove_notset=False)
    return json.dumps(rendered)


def test_no_password_in_any_log_row_report_artifact_or_deployment(
    sentinel_db, spark, prefect, tmp_path, monkeypatch, capfd, caplog
):
    import asyncio

    from zluri_flows.cli import app
    from zluri_flows.flow import zluri_day_pipeline

    caplog.set_level(logging.DEBUG)
    feed = tmp_path / "feed"
    generate_feed(feed, days=1, agents=20, groups=6, depth=3, transactions=40, seed=5)
    home = tmp_path / "home"
    monkeypatch.setenv("ZLURI_HOME", str(home))
    monkeypatch.delenv("ZLURI_DATABASE_URL", raising=False)
    runner = CliRunner()
    outputs = []

    # The documented command stores the URL in a Prefect Secret block; the run reads it from there.
    saved = runner.invoke(app, ["prefect", "secret", "set", "--name", "zluri-sentinel-db"], input=sentinel_db + "\n")
    outputs.append(saved.output)
    assert saved.exit_code == 0, saved.output
    assert "saved Prefect Secret block 'zluri-sentinel-db': postgresql://zluri:***@127.0.0.1:" in saved.output
    monkeypatch.setenv("ZLURI_DATABASE_SECRET", "zluri-sentinel-db")

    state = zluri_day_pipeline("day1", str(feed), return_state=True)
    assert state.is_completed(), state.message
    run_id = state.result()["flow_run_id"]
    for command in (["db", "url"], ["metrics", "--day", "day1"], ["prune", "--dry-run", "--keep-days", "0"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    assert "postgresql://zluri:***@127.0.0.1:" in outputs[1]

    # Failures print no password either: a wrong password and a URL whose password is not encoded.
    for broken in (
        sentinel_db.replace(quote(SENTINEL_PASSWORD, safe=""), quote(SENTINEL_PASSWORD + "x", safe="")),
        sentinel_db.replace(quote(SENTINEL_PASSWORD, safe=""), SENTINEL_PASSWORD),
    ):
        monkeypatch.setenv("ZLURI_DATABASE_URL", broken)
        failed = zluri_day_pipeline("day1", str(feed), return_state=True)
        assert failed.is_failed()
        outputs.append(str(failed.message))
        result = runner.invoke(app, ["run", "--day", "day1", "--input", str(feed)])
        assert result.exit_code != 0
        outputs.append(result.output)
    assert any("password authentication failed" in o for o in outputs)
    assert any("the password contains a raw '@'" in o for o in outputs)

    with psycopg.connect(sentinel_db) as conn:
        rows = [
            str(r)
            for table in ("ops.pipeline_metrics", "ops.quarantine", "ops.day_runs")
            for r in conn.execute(f"select row_to_json(t)::text from {table} t").fetchall()
        ]
        assert any(run_id in r for r in rows)
    files = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.name == "summary.json" for p in files) and any("bronze" in p.parts for p in files)
    captured = capfd.readouterr()
    searched = {
        "metrics, quarantine and day_runs rows": "\n".join(rows),
        "report and bronze files": "\n".join(p.read_bytes().decode("utf-8", "replace") for p in files),
        "Prefect logs, artifacts, flow and task runs, blocks": asyncio.run(_prefect_records()),
        "the deployments": _deployment_as_prefect_deploys_it(sentinel_db),
        "command output and flow states": "\n".join(outputs),
        "stdout and stderr": captured.out + captured.err,
        "Python log records": caplog.text,
    }
    assert {where: _leaks(text) for where, text in searched.items() if _leaks(text)} == {}
    assert re.search(r"ZLURI_DATABASE_SECRET", searched["the deployments"])
