"""The ``zluri`` command line."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

import typer

app = typer.Typer(help="Zluri day pipeline: stage, upsert and report one feed day at a time.", no_args_is_help=True)
db_app = typer.Typer(help="Database commands.", no_args_is_help=True)
app.add_typer(db_app, name="db")

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
    from zluri_pg import database_url, mask_url, migrate

    url = database_url()
    applied = migrate(url)
    names = ", ".join(m.path.name for m in applied) or "nothing (up to date)"
    typer.echo(f"{mask_url(url)}: applied {names}")


@db_app.command("url")
@guarded
def db_url() -> None:
    """Print the database URL in use (password masked); starts the embedded server if it is the default."""
    from zluri_pg import database_url, mask_url

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
    from zluri_metrics import read_rows, render_table
    from zluri_pg import connect

    with connect() as conn:
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
