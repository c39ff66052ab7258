"""Operating commands: ``zluri status``, ``quarantine``, ``doctor`` and ``report``.

Exit codes (as for every ``zluri`` command): 0 success, 1 a task or check failed, 2 usage or
input error.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import webbrowser
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from zluri_flows.config import Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# Free disk below this makes doctor fail: a day's bronze, reports and Spark spill need room.
MIN_FREE_BYTES = 2 * 1024**3


def _jsonable(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def print_json(data: Any) -> None:
    typer.echo(json.dumps(_jsonable(data), indent=2))


def _columns(headers: list[str], rows: list[list[Any]], width: int = 100) -> str:
    """Aligned columns; the last column is cut so each line fits `width`."""
    cells = [[str("" if c is None else c).replace("\n", " ") for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    fixed = sum(widths[:-1]) + 2 * (len(widths) - 1)
    widths[-1] = max(8, min(widths[-1], width - fixed))

    def line(values: list[str]) -> str:
        out = [v.ljust(w) if i < len(values) - 1 else v[:w] for i, (v, w) in enumerate(zip(values, widths))]
        return "  ".join(out).rstrip()

    return "\n".join([line(headers), "  ".join("-" * w for w in widths), *(line(r) for r in cells)])


def _disk_used(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue  # removed while walking (a run in progress)
    return total


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def _fx_age(settings: Settings) -> dict[str, Any]:
    from zluri_staging import fx

    sources: dict[str, Any] = {"ecb": fx.newest_published_date(settings.home)}
    override = str(settings.fx.override_file) if settings.fx.override_file else None
    if override and Path(override).is_file():
        dates = [d for series in fx.read_override_file(Path(override)).values() for d in series]
        sources["override"] = max(dates, default=None)
    newest = max((d for d in sources.values() if d), default=None)
    return {
        "newest_rate_date": newest,
        "days_old": (date.today() - newest).days if newest else None,
        "sources": sources,
        "override_file": override,
    }


def register(app: typer.Typer) -> None:
    """Add the operating commands to the ``zluri`` app."""
    from zluri_flows.cli import UserError, _database_url, _settings, guarded

    @app.command("status")
    @guarded
    def status(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables.")) -> None:
        """Newest applied day per table family, each day's last run, rejected records, FX age, database, disk."""
        from zluri_flows.retention import space_held
        from zluri_pg import connect, mask_url
        from zluri_pg import ops as ops_tables

        settings = _settings()
        url = _database_url()
        with connect(url) as conn:
            state = ops_tables.pipeline_status(conn)
        home = settings.home
        state.update(database=mask_url(url), home=str(home), home_bytes=_disk_used(home) if home.exists() else 0,
                     fx=_fx_age(settings))  # fmt: skip
        state["space"] = [
            {"area": p.area, "name": p.name, "held_bytes": p.held_bytes}
            for p in space_held(url, home, settings.bronze_root)
        ]
        if as_json:
            print_json(state)
            return
        typer.echo(f"database  {state['database']}\nhome      {home} ({_size(state['home_bytes'])})")
        fx_state = state["fx"]
        typer.echo(
            f"fx rates  newest {fx_state['newest_rate_date']} ({fx_state['days_old']} days old)"
            + (f", override {fx_state['override_file']}" if fx_state["override_file"] else "")
        )
        typer.echo("\nnewest applied day per table family")
        typer.echo(
            _columns(
                ["family", "day", "run", "applied at"],
                [
                    [f["family"], f["day"], f["flow_run_id"][:8], f["updated_at"].strftime("%Y-%m-%d %H:%M")]
                    for f in state["families"]
                ],
            )
            if state["families"]
            else "  none yet"
        )
        typer.echo("\nlast run of each day")
        typer.echo(
            _columns(
                ["day", "run", "outcome", "runs", "finished", "failed tasks"],
                [
                    [
                        r["day"],
                        r["flow_run_id"][:8],
                        r["outcome"],
                        r["runs"],
                        r["finished_at"].strftime("%Y-%m-%d %H:%M") if r["finished_at"] else "",
                        r["failed"] or "",
                    ]
                    for r in state["runs"]
                ],
            )
            if state["runs"]
            else "  none yet"
        )
        typer.echo("\nspace held (zluri prune removes what retention lets go)")
        space = [[p["area"], p["name"], _size(p["held_bytes"])] for p in state["space"]]
        typer.echo(_columns(["area", "what", "held"], space))
        typer.echo("\nrecords awaiting a look (ops.quarantine, per reason)")
        typer.echo(
            _columns(
                ["entity", "count", "newest day", "reason"],
                [[q["entity"], q["count"], q["newest_day"], q["reason"]] for q in state["quarantine"]],
            )
            if state["quarantine"]
            else "  none"
        )

    @app.command("quarantine")
    @guarded
    def quarantine(
        day: str | None = typer.Option(None, "--day", help="Only this day."),
        entity: str | None = typer.Option(None, "--entity", help="Only this entity (e.g. cards)."),
        reason: str | None = typer.Option(None, "--reason", help="Reason contains this text (any case)."),
        flow_run: str | None = typer.Option(None, "--flow-run", help="Only this flow run (id or its first 8 chars)."),
        limit: int = typer.Option(50, "--limit", min=1, help="At most this many records, newest first."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON (raw records in full)."),
    ) -> None:
        """List rejected records (ops.quarantine) with their reason and source file."""
        from zluri_pg import connect
        from zluri_pg import ops as ops_tables

        with connect(_database_url()) as conn:
            run_id = _resolve(conn, flow_run, UserError)
            rows = ops_tables.quarantine_rows(conn, day=day, entity=entity, reason=reason, flow_run_id=run_id,
                                              limit=limit)  # fmt: skip
        if as_json:
            print_json(rows)
            return
        if not rows:
            typer.echo("no rejected records match")
            return
        typer.echo(_columns(["day", "entity", "reason", "record"],
                            [[r["day"], r["entity"], r["reason"][:40], r["raw_record"] or r["source_file"]]
                             for r in rows]))  # fmt: skip
        typer.echo(f"\n{len(rows)} record(s); --json for full records and source files")

    @app.command("doctor")
    @guarded
    def doctor() -> None:
        """Check Python, Java, the Delta jars, the database, the home folder and free disk; exit 1 if any fails."""
        checks = _doctor_checks(_settings(), _database_url)
        for name, ok, detail, fix in checks:
            typer.echo(f"{'ok  ' if ok else 'FAIL'}  {name:<10} {detail}")
            if not ok:
                typer.echo(f"      {'':<10} fix: {fix}")
        failed = [c for c in checks if not c[1]]
        typer.echo(f"\n{len(checks) - len(failed)} of {len(checks)} checks passed")
        if failed:
            raise typer.Exit(code=EXIT_FAILED)

    @app.command("report")
    @guarded
    def report(
        open_page: bool = typer.Option(False, "--open", help="Open the newest run's page in a browser."),
    ) -> None:
        """Rebuild the history page ($ZLURI_HOME/reports/index.html) and print it and the newest run's page."""
        from zluri_staging.report import build_history

        root = _settings().reports_dir
        if not root.is_dir():
            raise UserError(f"no reports yet under {root}; run a day first (zluri run --day DAY)")
        history = build_history(root)
        pages = sorted(root.glob("*/*/index.html"), key=lambda p: p.stat().st_mtime)
        typer.echo(f"history: {history}")
        if pages:
            typer.echo(f"newest run: {pages[-1]}")
        if open_page:
            target = pages[-1] if pages else history
            if not webbrowser.open(target.as_uri()):
                typer.echo(f"no browser available; open {target.as_uri()}")


def _resolve(conn: Any, flow_run: str | None, error: type[Exception]) -> str | None:
    from zluri_pg import ops as ops_tables

    if not flow_run:
        return None
    try:
        return ops_tables.resolve_flow_run(conn, flow_run)
    except ops_tables.AmbiguousRunId as exc:
        raise error(str(exc)) from None


def _doctor_checks(settings: Settings, database_url: Callable[[], str]) -> list[tuple[str, bool, str, str]]:
    from zluri_staging.classes import archive_path
    from zluri_staging.spark import delta_jars

    checks: list[tuple[str, bool, str, str]] = []
    version = sys.version_info
    checks.append(
        (
            "python",
            version[:2] == (3, 11),
            sys.version.split()[0],
            "install Python 3.11 (apt-get install python3.11 python3.11-venv) and re-run make setup",
        )
    )
    java = shutil.which("java")
    java_version = ""
    if java:
        probe = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
        java_version = (probe.stderr or probe.stdout).splitlines()[0] if (probe.stderr or probe.stdout) else ""
    major = java_version.split('"')[1].split(".")[0] if '"' in java_version else ""
    checks.append(
        (
            "java",
            major == "17",
            java_version or "not found on PATH",
            "install Java 17 (apt-get install openjdk-17-jre-headless) or set JAVA_HOME",
        )
    )
    home = settings.home
    jars = delta_jars(settings.jars_dir)
    archive = archive_path(settings.jars_dir)  # optional: without it sessions start about 4 s later
    checks.append(
        (
            "delta jars",
            bool(jars),
            f"{len(jars)} jar(s) in {home / 'jars'}, {'with' if archive.is_file() else 'no'} class archive"
            if jars
            else "not resolved",
            "run 'zluri setup-spark' (once, where Maven Central is reachable)",
        )
    )
    try:
        from zluri_pg import connect, mask_url

        url = database_url()
        with connect(url) as conn:
            server = conn.execute("show server_version").fetchone()
        checks.append(("database", True, f"{mask_url(url)} (Postgres {server[0] if server else '?'})", ""))
    except Exception as exc:  # noqa: BLE001 - any reason we cannot connect is the finding
        checks.append(
            (
                "database",
                False,
                str(exc).splitlines()[0][:200],
                "set ZLURI_DATABASE_URL to a reachable Postgres 13+, or unset it for the embedded one",
            )
        )
    try:
        home.mkdir(parents=True, exist_ok=True)
        probe_file = home / f".doctor-{os.getpid()}"
        probe_file.write_text("ok")
        probe_file.unlink()
        checks.append(("home", True, f"{home} is writable", ""))
    except OSError as exc:
        checks.append(("home", False, f"{home}: {exc.strerror or exc}", "set ZLURI_HOME to a writable folder"))
    free = shutil.disk_usage(home if home.exists() else Path.cwd()).free
    checks.append(
        (
            "disk",
            free >= MIN_FREE_BYTES,
            f"{_size(free)} free",
            f"free at least {_size(MIN_FREE_BYTES)} (zluri prune removes old reports and bronze partitions)",
        )
    )
    return checks
