"""The ``zluri`` command line."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

# Package loggers flow into Prefect's run logs (must be set before prefect is imported).
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "zluri_staging,zluri_pg,zluri_metrics")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

app = typer.Typer(help="Zluri day pipeline: stage, upsert and report one feed day at a time.", no_args_is_help=True)
db_app = typer.Typer(help="Database commands.", no_args_is_help=True)
app.add_typer(db_app, name="db")
prefect_app = typer.Typer(help="Prefect deployment helpers.", no_args_is_help=True)
secret_app = typer.Typer(help="The database URL as a Prefect Secret block.", no_args_is_help=True)
prefect_app.add_typer(secret_app, name="secret")
app.add_typer(prefect_app, name="prefect")

_state: dict[str, bool] = {"debug": False}


class UserError(Exception):
    """An error whose message is enough: shown as one line without a traceback."""


def _fail(exc: BaseException) -> None:
    if _state["debug"]:
        raise exc
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2 if isinstance(exc, UserError) else 1)


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn expected failures into a one-line message (full traceback with --debug)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except Exception as exc:  # noqa: BLE001 - the CLI boundary reports every failure
            _fail(exc)

    return wrapper


@app.callback()
def main(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks and debug logs.")) -> None:
    _state["debug"] = debug
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, stream=sys.stderr)


@db_app.command("migrate")
@guarded
def db_migrate() -> None:
    """Apply pending migrations (a re-run applies nothing)."""
    from zluri_flows.config import database_url
    from zluri_pg import mask_url, migrate

    url = database_url()
    applied = migrate(url)
    names = ", ".join(m.path.name for m in applied) or "nothing (up to date)"
    typer.echo(f"{mask_url(url)}: applied {names}")


@db_app.command("url")
@guarded
def db_url() -> None:
    """Print the database URL in use (password masked); starts the embedded server if it is the default."""
    from zluri_flows.config import database_url
    from zluri_pg import mask_url

    typer.echo(mask_url(database_url()))


@db_app.command("stop")
@guarded
def db_stop() -> None:
    """Stop the embedded Postgres server of this ZLURI_HOME."""
    from zluri_pg import embedded

    typer.echo("stopped" if embedded.stop() else "no embedded server was running")


@app.command("metrics")
@guarded
def metrics(
    day: str | None = typer.Option(None, "--day", help="Only this day."),
    flow_run: str | None = typer.Option(None, "--flow-run", help="Only this flow run id."),
) -> None:
    """Print ops.pipeline_metrics as a table."""
    from zluri_flows.config import database_url
    from zluri_metrics import read_rows, render_table
    from zluri_pg import connect

    with connect(database_url()) as conn:
        typer.echo(render_table(read_rows(conn, day=day, flow_run_id=flow_run)))


@app.command("setup-spark")
@guarded
def setup_spark() -> None:
    """Start Spark once with Delta so its jars are resolved and cached before any run."""
    from zluri_staging.spark import build_spark

    spark = build_spark("local[1]", "zluri-setup")
    version = spark.version
    spark.stop()
    typer.echo(f"Spark {version} with Delta Lake is ready")


def _check_inputs(days: list[str], input_root: str | None) -> str:
    from zluri_flows import config

    for day in days:
        try:
            config.validate_day(day)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    root = config.input_root(input_root)
    for day in days:
        try:
            config.check_day_folder(root, day)
        except FileNotFoundError as exc:
            raise UserError(str(exc)) from None
    return root


def _check_database() -> None:
    from zluri_flows.config import database_url
    from zluri_pg import connect

    try:
        connect(database_url()).close()
    except Exception as exc:  # noqa: BLE001 - one clear line for whatever stops us connecting
        raise UserError(str(exc)) from None


def _summary(flow_run_ids: list[str]) -> str:
    from zluri_flows.config import database_url
    from zluri_metrics import read_rows, render_table
    from zluri_pg import connect

    with connect(database_url()) as conn:
        rows = [r for run in flow_run_ids for r in read_rows(conn, flow_run_id=run)]
    return render_table(rows)


def _run_days(days: list[str], input_root: str | None) -> None:
    from zluri_flows.flow import zluri_backfill, zluri_day_pipeline

    root = _check_inputs(days, input_root)
    _check_database()
    if len(days) == 1:
        state = zluri_day_pipeline(days[0], root, return_state=True)
    else:
        state = zluri_backfill(days, root, return_state=True)
    run_ids = _day_run_ids(state.state_details.flow_run_id)
    typer.echo(_summary(run_ids))
    if not state.is_completed():
        typer.secho(f"FAILED: {state.message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1)
    from zluri_flows.config import zluri_home

    typer.echo(f"\nall tasks succeeded; DQ reports under {zluri_home() / 'reports'}")


def _day_run_ids(flow_run_id: Any) -> list[str]:
    """The day flow runs of a run: itself, or a backfill's subflow runs (in order)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        children = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[flow_run_id])),
            sort=FlowRunSort.START_TIME_ASC,
        )
    return [str(r.id) for r in children] or [str(flow_run_id)]


@app.command("run")
@guarded
def run(
    day: str = typer.Option(..., "--day", help="Day label: reads <input>/sync-<day>/."),
    input_root: str | None = typer.Option(None, "--input", help="Root holding sync-<day>/ (default $ZLURI_INPUT)."),
) -> None:
    """Run the day pipeline for one day; exit 0 only if every task succeeded."""
    _run_days([day], input_root)


@app.command("backfill")
@guarded
def backfill(
    days: list[str] = typer.Argument(..., help="Days in the order to run them."),
    input_root: str | None = typer.Option(None, "--input", help="Root holding sync-<day>/ (default $ZLURI_INPUT)."),
) -> None:
    """Run days in the given order, stopping at the first failure."""
    _run_days(days, input_root)


@app.command("generate")
@guarded
def generate(
    out: Path = typer.Option(..., "--out", help="Folder to write sync-<day>/ folders into."),
    days: int = typer.Option(3, "--days", min=1),
    agents: int = typer.Option(50, "--agents", min=1),
    groups: int = typer.Option(12, "--groups", min=1),
    depth: int = typer.Option(4, "--depth", min=1),
    transactions: int = typer.Option(200, "--transactions", min=0),
    currencies: str = typer.Option("USD,EUR,GBP,INR,JPY,CHF", "--currencies", help="Comma-separated ISO codes."),
    seed: int = typer.Option(7, "--seed"),
) -> None:
    """Write a synthetic feed in the real format (with realistic mess) and its expected end state."""
    from zluri_flows.generator import generate_feed

    generate_feed(out, days=days, agents=agents, groups=groups, depth=depth, transactions=transactions,
                  currencies=tuple(c.strip().upper() for c in currencies.split(",") if c.strip()), seed=seed)
    typer.echo(f"wrote {days} day(s) to {out} (expected end state: {out / 'expected.json'})")


@app.command("demo")
@guarded
def demo(
    input_root: Path = typer.Option(Path("data/sample"), "--input", help="The bundled sample feed."),
) -> None:
    """Migrate the embedded database and backfill the bundled sample, then show where to look."""
    from zluri_flows.config import database_url
    from zluri_pg import mask_url

    days = sorted((p.name.removeprefix("sync-") for p in input_root.glob("sync-*") if p.is_dir()),
                  key=lambda d: [int(t) if t.isdigit() else t for t in __import__("re").split(r"(\d+)", d)])
    if not days:
        raise UserError(f"no sync-<day> folders in {input_root}")
    typer.echo(f"database: {mask_url(database_url())}\nbackfilling {', '.join(days)} from {input_root}")
    _run_days(days, str(input_root.resolve()))
    typer.echo("\nlook further:\n  zluri metrics            # every metrics row\n"
               "  prefect server start     # then open http://127.0.0.1:4200 for the runs and artifacts")


@app.command("prune")
@guarded
def prune(
    keep_days: int | None = typer.Option(None, "--keep-days", min=0,
                                         help="Days to keep (default $ZLURI_RETENTION_DAYS, else 30)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print what would go and its space; remove nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Apply retention: staging rows of finished runs, quarantined raw text, old reports, bronze files."""
    import json

    from zluri_flows import config
    from zluri_flows.retention import prune as run_prune
    from zluri_flows.retention import render

    try:
        days = config.retention_days() if keep_days is None else keep_days
    except ValueError as exc:
        raise UserError(str(exc)) from None
    report = run_prune(config.database_url(), config.zluri_home(), days, dry_run=dry_run)
    typer.echo(json.dumps(report.as_dict(), indent=2) if as_json else render(report))


@secret_app.command("set")
@guarded
def prefect_secret_set(
    name: str = typer.Option("zluri-database-url", "--name",
                             help="Secret block name (flow runs read the one $ZLURI_DATABASE_SECRET names)."),
    from_env: bool = typer.Option(False, "--from-env", help="Take the URL from $ZLURI_DATABASE_URL, not a prompt."),
) -> None:
    """Store the database URL in a Prefect Secret block (read from a hidden prompt, stdin or --from-env).

    Deployments then carry only the block's name (ZLURI_DATABASE_SECRET), never the URL."""
    from zluri_flows.secrets import save_database_url
    from zluri_pg import mask_url

    if from_env:
        url = os.environ.get("ZLURI_DATABASE_URL", "")
        if not url:
            raise UserError("--from-env: ZLURI_DATABASE_URL is not set")
    elif sys.stdin.isatty():
        url = typer.prompt("database URL", hide_input=True)
    else:
        url = sys.stdin.readline().strip()
    if not url:
        raise UserError("no database URL given")
    try:
        save_database_url(name, url)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    typer.echo(f"saved Prefect Secret block {name!r}: {mask_url(url)}\n"
               f"flow runs read it when ZLURI_DATABASE_SECRET={name}")
