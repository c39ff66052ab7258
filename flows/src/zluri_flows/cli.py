"""The ``zluri`` command line: an edge of the pipeline. Each invocation reads its ``Settings`` from
the environment once (``_settings()``) and passes them down."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import typer

from zluri_flows.environment import apply_process_defaults
from zluri_flows.extras import MissingExtra

if TYPE_CHECKING:
    from prefect.client.schemas.objects import State

    from zluri_flows.config import Settings

app = typer.Typer(help="Zluri day pipeline: stage, upsert and report one feed day at a time.", no_args_is_help=True)
db_app = typer.Typer(help="Database commands.", no_args_is_help=True)
app.add_typer(db_app, name="db")
prefect_app = typer.Typer(help="Prefect deployment helpers.", no_args_is_help=True)
secret_app = typer.Typer(help="The database URL as a Prefect Secret block.", no_args_is_help=True)
prefect_app.add_typer(secret_app, name="secret")
app.add_typer(prefect_app, name="prefect")

_state: dict[str, Any] = {"debug": False, "settings": None, "database_url": None}


class UserError(Exception):
    """An error whose message is enough: shown as one line without a traceback."""


def _settings() -> Settings:
    """This invocation's settings, read from the environment once, by the first command that needs
    them; a setting that cannot be used is a usage error."""
    from zluri_flows.config import Settings

    if _state["settings"] is None:
        try:
            _state["settings"] = Settings.from_env()
        except (ValueError, FileNotFoundError) as exc:
            raise UserError(str(exc)) from None
    return cast("Settings", _state["settings"])


def _database_url() -> str:
    """The invocation's database (the embedded server started if that is the default)."""
    from zluri_flows.config import database_url

    if _state["database_url"] is None:
        _state["database_url"] = database_url(_settings())
    return cast(str, _state["database_url"])


def _fail(exc: BaseException) -> None:
    if _state["debug"]:
        raise exc
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2 if isinstance(exc, UserError | MissingExtra) else 1)


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


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        names = ("zluri-flows", "zluri-staging", "zluri-pg", "zluri-metrics")
        typer.echo("zluri " + version("zluri-flows") + " (" + ", ".join(f"{n} {version(n)}" for n in names[1:]) + ")")
        raise typer.Exit()


@app.callback(epilog="Exit codes: 0 success, 1 a task or check failed, 2 usage or input error.")
def main(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks and debug logs."),
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the versions of the zluri packages and exit.",
    ),
) -> None:
    _state["debug"] = debug
    _state["settings"] = _state["database_url"] = None
    # Before Prefect, GX or Spark are first imported in this process (commands import them lazily).
    apply_process_defaults()
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, stream=sys.stderr)
    # Library loggers that set their own level (Prefect's) must not reach the terminal through root.
    for handler in logging.root.handlers:
        handler.setLevel(logging.DEBUG if debug else logging.WARNING)


@db_app.command("migrate")
@guarded
def db_migrate() -> None:
    """Apply pending migrations (a re-run applies nothing)."""
    from zluri_pg import mask_url, migrate

    url = _database_url()
    applied = migrate(url, _settings().migrations_dir)
    names = ", ".join(m.path.name for m in applied) or "nothing (up to date)"
    typer.echo(f"{mask_url(url)}: applied {names}")


@db_app.command("url")
@guarded
def db_url() -> None:
    """Print the database URL in use (password masked); starts the embedded server if it is the default."""
    from zluri_pg import mask_url

    typer.echo(mask_url(_database_url()))


@db_app.command("stop")
@guarded
def db_stop() -> None:
    """Stop the embedded Postgres server of this ZLURI_HOME."""
    from zluri_pg import embedded

    typer.echo("stopped" if embedded.stop(_settings().home) else "no embedded server was running")


@app.command("metrics")
@guarded
def metrics(
    day: str | None = typer.Option(None, "--day", help="Only this day."),
    flow_run: str | None = typer.Option(None, "--flow-run", help="Only this flow run (id or its first 8 chars)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON rows instead of a table."),
) -> None:
    """Print ops.pipeline_metrics as a table."""
    from zluri_flows.opscli import _resolve, print_json
    from zluri_metrics import read_rows, render_table
    from zluri_pg import connect

    with connect(_database_url()) as conn:
        rows = read_rows(conn, day=day, flow_run_id=_resolve(conn, flow_run, UserError))
    if as_json:
        print_json([r.as_dict() for r in rows])
    else:
        typer.echo(render_table(rows))


@app.command("setup-spark")
@guarded
def setup_spark(
    with_s3: bool = typer.Option(
        False, "--with-s3", help="Also resolve hadoop-aws and the AWS SDK bundle (s3a:// input or bronze)."
    ),
) -> None:
    """Resolve Delta Lake's jars once into $ZLURI_HOME/jars, so runs start from local files."""
    from zluri_staging import classes
    from zluri_staging.spark import build_spark, resolve_delta_jars, s3_packages

    settings = _settings()
    jars = resolve_delta_jars(settings.jars_dir, settings.spark)
    typer.echo(f"Delta Lake jars ready in {settings.jars_dir}: {', '.join(j.name for j in jars)}")
    try:
        archive = classes.create(settings.jars_dir)
        typer.echo(f"class archive ready: {archive} (sessions start about 4 s sooner)")
    except (classes.ClassArchiveError, OSError) as exc:
        # Only start-up time is at stake: sessions load their classes from the jars as before.
        typer.secho(f"warning: no class archive ({exc}); sessions load classes from the jars", fg="yellow", err=True)
    if with_s3:
        packages = s3_packages()
        build_spark("local[1]", "zluri-setup", settings=settings.spark, extra_packages=packages).stop()
        typer.echo(f"resolved and cached: {', '.join(packages)}")


def _check_inputs(days: list[str], input_root: str | None) -> str:
    from zluri_flows import config
    from zluri_pg import check_days

    try:
        check_days(days)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    root = _settings().input(input_root)
    for day in days:
        try:
            config.check_day_folder(root, day)
        except FileNotFoundError as exc:
            raise UserError(str(exc)) from None
    return root


@contextlib.contextmanager
def _remote_inputs_checked(root: str, days: list[str]) -> Iterator[None]:
    """A remote root (s3a://...) is checked through Spark's file system: the run's session starts
    here, before the flow (which reuses it), so a missing day is still a usage error."""
    from zluri_flows import config
    from zluri_flows.session import spark_for_run

    if not config.is_remote(root):
        yield
        return
    with spark_for_run(_settings(), root, days) as spark:
        for day in days:
            try:
                config.check_day_folder(root, day, spark)
            except FileNotFoundError as exc:
                raise UserError(str(exc)) from None
        yield


def _check_database(days: list[str] | None = None) -> None:
    from zluri_pg import DaySchemeError, check_database_scheme, connect

    try:
        url = _database_url()
        connect(url).close()
    except Exception as exc:  # noqa: BLE001 - one clear line for whatever stops us connecting
        raise UserError(str(exc)) from None
    try:
        check_database_scheme(url, days or [])
    except DaySchemeError as exc:
        raise UserError(str(exc)) from None


def _summary(flow_run_ids: list[str]) -> str:
    from zluri_metrics import read_rows, render_table
    from zluri_pg import connect

    with connect(_database_url()) as conn:
        rows = [r for run in flow_run_ids for r in read_rows(conn, flow_run_id=run)]
    return render_table(rows)


def _run_days(days: list[str], input_root: str | None, allow_mass_change: bool = False) -> None:
    from zluri_flows.session import start_spark_early

    root = _check_inputs(days, input_root)
    # The JVM starts first: while the flows are imported (about 2 s), the database is checked and
    # Prefect starts.
    start_spark_early(_settings(), root, days)
    _check_database(days)

    from zluri_flows.console import progress_console, run_summaries, verdict
    from zluri_flows.flow import zluri_backfill, zluri_day_pipeline
    from zluri_flows.fx_cli import awaiting_warnings
    from zluri_flows.prefect_api import temporary_api

    state: State[Any]
    with temporary_api():
        with _remote_inputs_checked(root, days), progress_console():
            if len(days) == 1:
                state = zluri_day_pipeline(days[0], root, allow_mass_change, return_state=True)
            else:
                state = zluri_backfill(days, root, allow_mass_change, return_state=True)
        run_ids = _day_run_ids(state.state_details.flow_run_id)
    typer.echo("\n" + _summary(run_ids))
    for line in awaiting_warnings(_database_url(), run_ids):
        typer.secho(f"warning: {line}", fg=typer.colors.YELLOW, err=True)
    reports = _settings().reports_dir
    typer.echo(f"\nreports: {reports / 'index.html'} (zluri report --open)")
    typer.echo(verdict(run_summaries(reports, run_ids)))
    if not state.is_completed():
        typer.secho(f"FAILED: {state.message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1)


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


ALLOW_MASS_CHANGE_HELP = (
    "Let through a day that would deactivate or remove far more than usual (the metrics row notes it)."
)


@app.command("run")
@guarded
def run(
    day: str = typer.Option(..., "--day", help="Day label: reads <input>/sync-<day>/."),
    input_root: str | None = typer.Option(None, "--input", help="Root holding sync-<day>/ (default $ZLURI_INPUT)."),
    allow_mass_change: bool = typer.Option(False, "--allow-mass-change", help=ALLOW_MASS_CHANGE_HELP),
) -> None:
    """Run the day pipeline for one day; exit 0 only if every task succeeded."""
    _run_days([day], input_root, allow_mass_change)


@app.command("backfill")
@guarded
def backfill(
    days: list[str] = typer.Argument(..., help="Days in the order to run them."),
    input_root: str | None = typer.Option(None, "--input", help="Root holding sync-<day>/ (default $ZLURI_INPUT)."),
    allow_mass_change: bool = typer.Option(False, "--allow-mass-change", help=ALLOW_MASS_CHANGE_HELP),
) -> None:
    """Run days in the given order, stopping at the first failure."""
    _run_days(days, input_root, allow_mass_change)


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
    """Write a synthetic feed in the real format (with realistic mess) and its expected end state.

    Needs the feedgen extra: pip install 'zluri-flows[feedgen]'."""
    from zluri_flows.extras import feed_generator

    generate_feed = feed_generator()
    generate_feed(
        out,
        days=days,
        agents=agents,
        groups=groups,
        depth=depth,
        transactions=transactions,
        currencies=tuple(c.strip().upper() for c in currencies.split(",") if c.strip()),
        seed=seed,
    )
    typer.echo(f"wrote {days} day(s) to {out} (expected end state: {out / 'expected.json'})")


_PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


@app.command("bench", context_settings=_PASS_THROUGH)
def bench(ctx: typer.Context) -> None:
    """Whole days through the flow on generated feeds beside the floor (see 'zluri bench --help')."""
    from zluri_flows.bench import main as bench_main

    raise typer.Exit(code=bench_main(list(ctx.args)))


from zluri_flows.opscli import register as _register_operating_commands  # noqa: E402 - needs the app above

_register_operating_commands(app)


@app.command("demo")
@guarded
def demo(
    input_root: Path = typer.Option(Path("data/sample"), "--input", help="The bundled sample feed."),
) -> None:
    """Migrate the embedded database and backfill the bundled sample, then show where to look."""
    from zluri_pg import mask_url

    days = sorted(
        (p.name.removeprefix("sync-") for p in input_root.glob("sync-*") if p.is_dir()),
        key=lambda d: [int(t) if t.isdigit() else t for t in __import__("re").split(r"(\d+)", d)],
    )
    if not days:
        raise UserError(f"no sync-<day> folders in {input_root}")
    typer.echo(f"database: {mask_url(_database_url())}\nbackfilling {', '.join(days)} from {input_root}")
    _run_days(days, str(input_root.resolve()))
    typer.echo(
        "\nlook further:\n  zluri metrics            # every metrics row\n"
        "  prefect server start     # then open http://127.0.0.1:4200 for the runs and artifacts"
    )


@app.command("prune")
@guarded
def prune(
    keep_days: int | None = typer.Option(
        None, "--keep-days", min=0, help="Days to keep (default $ZLURI_RETENTION_DAYS, else 30)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print what would go and its space; remove nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Apply retention: staging rows of finished runs, quarantined raw text, old reports, bronze files."""
    import json

    from zluri_flows.retention import prune as run_prune
    from zluri_flows.retention import render

    settings = _settings()
    days = settings.retention_days if keep_days is None else keep_days
    report = run_prune(_database_url(), settings.home, settings.bronze_root, days, dry_run=dry_run, settings=settings)
    typer.echo(json.dumps(report.as_dict(), indent=2) if as_json else render(report))


@secret_app.command("set")
@guarded
def prefect_secret_set(
    name: str = typer.Option(
        "zluri-database-url", "--name", help="Secret block name (flow runs read the one $ZLURI_DATABASE_SECRET names)."
    ),
    from_env: bool = typer.Option(False, "--from-env", help="Take the URL from $ZLURI_DATABASE_URL, not a prompt."),
) -> None:
    """Store the database URL in a Prefect Secret block (read from a hidden prompt, stdin or --from-env).

    Deployments then carry only the block's name (ZLURI_DATABASE_SECRET), never the URL."""
    from zluri_flows.secrets import save_database_url
    from zluri_pg import mask_url

    if from_env:
        url = _settings().database_url or ""
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
    typer.echo(
        f"saved Prefect Secret block {name!r}: {mask_url(url)}\nflow runs read it when ZLURI_DATABASE_SECRET={name}"
    )


def _register_commands() -> None:
    from zluri_flows.fx_cli import register

    register(app)


_register_commands()
