"""``zluri fx update|status`` and ``zluri reprocess``: keeping FX rates current and loading the
transactions that waited for them."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from zluri_staging.fx import FxSettings

fx_app = typer.Typer(help="FX rates: download the ECB history, show what is held.", no_args_is_help=True)


def _today() -> date:
    return datetime.now(UTC).date()


def _age(newest: date | None) -> int | None:
    return None if newest is None else (_today() - newest).days


def fx_status_report(home: Path, settings: FxSettings) -> dict[str, Any]:
    """Per source (downloaded, bundled, override): where it is, its newest rate date and age in
    days; plus which ECB file runs use and from which date transactions wait for a rate."""
    from zluri_staging import fx, fx_history

    bundled = fx_history.read_history(fx_history.bundled_file())
    sources: list[dict[str, Any]] = []
    held = fx_history.downloaded_file(home)
    downloaded = fx_history.read_history(held) if held.is_file() else None
    info = fx_history.source_info(home)
    sources.append(
        {
            "source": "downloaded",
            "path": str(held) if downloaded else None,
            "newest_rate_date": downloaded.newest.isoformat() if downloaded else None,
            "age_days": _age(downloaded.newest if downloaded else None),
            "url": info.get("url"),
            "downloaded_at": info.get("downloaded_at"),
        }
    )
    sources.append(
        {
            "source": "bundled",
            "path": str(fx_history.bundled_file()),
            "newest_rate_date": bundled.newest.isoformat(),
            "age_days": _age(bundled.newest),
        }
    )
    override_newest = None
    if settings.override_file is not None:
        rows = fx.read_override_file(settings.override_file)
        override_newest = max((d for per in rows.values() for d in per), default=None)
    sources.append(
        {
            "source": "override",
            "path": str(settings.override_file) if settings.override_file else None,
            "newest_rate_date": override_newest.isoformat() if override_newest else None,
            "age_days": _age(override_newest),
        }
    )
    in_use, history = fx_history.newest_held(home)
    newest = max(d for d in (history.newest, override_newest) if d is not None)
    window = settings.max_staleness_days
    return {
        "sources": sources,
        "ecb_file_in_use": str(in_use),
        "newest_rate_date": newest.isoformat(),
        "max_staleness_days": window,
        "transactions_wait_after": date.fromordinal(newest.toordinal() + window).isoformat(),
    }


@fx_app.command("status")
def fx_status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Per rate source: the newest rate date and how many days old it is."""
    from zluri_flows import cli

    @cli.guarded
    def body() -> None:
        settings = cli._settings()
        report = fx_status_report(settings.home, settings.fx)
        if as_json:
            typer.echo(json.dumps(report, indent=2))
            return
        typer.echo(f"{'source':<11} {'newest rate':<11} {'age (days)':>10}  path")
        for s in report["sources"]:
            age = "" if s["age_days"] is None else str(s["age_days"])
            typer.echo(f"{s['source']:<11} {s['newest_rate_date'] or '-':<11} {age:>10}  {s['path'] or '-'}")
        typer.echo(
            f"\nruns use {report['ecb_file_in_use']}"
            + (" and the override file" if report["sources"][2]["path"] else "")
            + f"; transactions dated after "
            f"{report['transactions_wait_after']} (newest rate {report['newest_rate_date']} + "
            f"{report['max_staleness_days']} days) wait for a rate"
        )

    body()


@fx_app.command("update")
def fx_update(
    url: str | None = typer.Option(None, "--url", help="Source (default $ZLURI_FX_SOURCE_URL, else the ECB's)."),
) -> None:
    """Download the ECB rate history, check it, and make it the one runs use (atomically)."""
    from zluri_flows import cli

    @cli.guarded
    def body() -> None:
        from zluri_staging import fx_history

        settings = cli._settings()
        source = url or settings.fx_source_url or fx_history.default_source_url()
        home = settings.home
        try:
            installed = fx_history.install(home, fx_history.download(source), source)
        except (fx_history.DownloadError, fx_history.HistoryFileError) as exc:
            raise RuntimeError(f"fx update failed, the rates held are unchanged: {exc}") from None
        typer.echo(
            f"FX rates updated from {source}: newest rate {installed.newest} "
            f"(was {installed.previous_newest}); held in {installed.path}"
        )

    body()


def awaiting_warnings(url: str, flow_run_ids: list[str]) -> list[str]:
    """One line per day of these runs that parked transactions awaiting an FX rate."""
    from zluri_pg import connect

    with connect(url) as conn:
        rows = conn.execute(
            """select day, count(*), max(substring(reason from '\\(newest rate ([0-9-]+)\\)$'))
               from ops.quarantine_committed where flow_run_id = any(%s) and retriable group by day order by day""",
            [flow_run_ids],
        ).fetchall()
    return [
        f"day {day}: {n} transactions await an FX rate (newest rate {newest}); kept as retriable: "
        "run `zluri fx update`, then `zluri reprocess --reason fx`"
        for day, n, newest in rows
    ]


def awaiting_days(url: str, day: str | None = None) -> list[tuple[str, int, str]]:
    """(day, transactions, newest rate date) of the days holding transactions awaiting a rate, in day order."""
    from zluri_pg import connect

    with connect(url) as conn:
        return [
            tuple(r)
            for r in conn.execute(
                """select day, transactions, newest_rate_date from ops.fx_awaiting_days
               where %(day)s::text is null or day = %(day)s order by ops.day_key(day)""",
                {"day": day},
            ).fetchall()
        ]


def register(app: typer.Typer) -> None:
    from zluri_flows import cli

    app.add_typer(fx_app, name="fx")

    @app.command("reprocess")
    @cli.guarded
    def reprocess(
        reason: str = typer.Option(..., "--reason", help="fx: the days holding transactions awaiting an FX rate."),
        day: str | None = typer.Option(None, "--day", help="Only this day."),
        input_root: str | None = typer.Option(None, "--input", help="Root holding sync-<day>/ (default $ZLURI_INPUT)."),
    ) -> None:
        """Re-run exactly the days that hold retriable work (today: transactions awaiting an FX rate)."""
        from zluri_pg import migrate

        if reason != "fx":
            raise cli.UserError(f"unknown reason {reason!r}: the only reason is 'fx'")
        if day is not None:
            cli._check_inputs([day], input_root)
        url = cli._database_url()
        migrate(url, cli._settings().migrations_dir)
        days = awaiting_days(url, day)
        if not days:
            typer.echo("no day holds transactions awaiting an FX rate" + (f" (day {day})" if day else ""))
            return
        for d, n, newest in days:
            typer.echo(f"day {d}: {n} transactions await an FX rate (newest rate then {newest})")
        cli._run_days([d for d, _, _ in days], input_root)
