"""``zluri prune`` and the prune after each successful day: everything retention lets go, in one place.

- database: staging rows of finished runs and quarantined raw text (``zluri_pg.retention``);
- reports: ``$ZLURI_HOME/reports/<day>/<flow_run_id>/`` folders older than N days, except the newest
  of each day;
- bronze: Delta tables under a local bronze root vacuumed with an N-day retention (at least an hour,
  see ``BRONZE_MIN_HOURS``); a bronze root on an object store is left to the store's lifecycle rules.

:func:`space_held` measures the same areas without removing anything (for ``zluri status``).
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zluri_pg.retention import Pruned, prune_database
from zluri_pg.retention import space_held as database_space_held

if TYPE_CHECKING:
    from zluri_flows.config import Settings

# A writer's new bronze files are uncommitted for minutes at most: never vacuum younger ones, so a
# prune may run while another day is being written, whatever N is.
BRONZE_MIN_HOURS = 1.0
_RUN_FOLDER = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@dataclass(frozen=True)
class PruneReport:
    keep_days: int
    dry_run: bool
    items: list[Pruned]

    @property
    def freed_bytes(self) -> int:
        return sum(i.freed_bytes for i in self.items)

    @property
    def held_bytes(self) -> int:
        return sum(i.held_bytes for i in self.items)

    def as_dict(self) -> dict[str, Any]:
        return {
            "keep_days": self.keep_days,
            "dry_run": self.dry_run,
            "held_bytes": self.held_bytes,
            "freed_bytes": self.freed_bytes,
            "items": [i.__dict__ for i in self.items],
        }


def report_runs(home: Path) -> dict[str, list[Path]]:
    """Run report folders per day, oldest first (by modification time)."""
    root = Path(home) / "reports"
    found: dict[str, list[Path]] = {}
    if not root.is_dir():
        return found
    for day_folder in sorted(p for p in root.iterdir() if p.is_dir()):
        runs = [p for p in day_folder.iterdir() if p.is_dir() and _RUN_FOLDER.match(p.name)]
        if runs:
            found[day_folder.name] = sorted(runs, key=lambda p: p.stat().st_mtime)
    return found


def prune_reports(home: Path, keep_days: int, *, dry_run: bool, now: float | None = None) -> list[Pruned]:
    from zluri_staging.bronze import folder_bytes

    cutoff = (now if now is not None else time.time()) - keep_days * 86400
    held = freed = 0
    removed: list[str] = []
    for runs in report_runs(home).values():
        for folder in runs:
            size = folder_bytes(str(folder))
            held += size
            if folder is not runs[-1] and folder.stat().st_mtime < cutoff:
                removed.append(str(folder))
                freed += size
                if not dry_run:
                    shutil.rmtree(folder)
    return [Pruned("reports", str(Path(home) / "reports"), held, len(removed), freed, tuple(removed))]


def prune_bronze(spark: Any, bronze_root: str, keep_days: int, *, dry_run: bool) -> list[Pruned]:
    from zluri_staging.bronze import vacuum_bronze

    hours = max(keep_days * 24.0, BRONZE_MIN_HOURS)
    return [
        Pruned("bronze", v.table, v.held_bytes, v.files, v.freed_bytes)
        for v in vacuum_bronze(spark, bronze_root, retention_hours=hours, dry_run=dry_run)
    ]


def prune(
    database_url: str,
    home: Path,
    bronze_root: str,
    keep_days: int,
    *,
    dry_run: bool,
    spark: Any = None,
    settings: Settings | None = None,
) -> PruneReport:
    """Apply (or with ``dry_run`` list) retention everywhere. Bronze tables need a SparkSession: pass
    the run's, or one is started (from ``settings``) only if there are bronze tables to vacuum."""
    from zluri_staging.bronze import bronze_tables

    if keep_days < 0:
        raise ValueError(f"keep_days must be 0 or more, got {keep_days}")
    items = prune_database(database_url, keep_days, dry_run=dry_run)
    items += prune_reports(home, keep_days, dry_run=dry_run)
    if bronze_tables(bronze_root):
        if spark is None:
            from zluri_flows.session import spark_for_run

            if settings is None:
                raise ValueError("prune needs a SparkSession or the settings to start one")
            with spark_for_run(settings, bronze_root) as session:
                items += prune_bronze(session, bronze_root, keep_days, dry_run=dry_run)
        else:
            items += prune_bronze(spark, bronze_root, keep_days, dry_run=dry_run)
    return PruneReport(keep_days, dry_run, items)


def space_held(database_url: str, home: Path, bronze_root: str) -> list[Pruned]:
    """Bytes each retained area holds now, removing nothing (no Spark needed)."""
    from zluri_staging.bronze import bronze_tables, folder_bytes

    items = database_space_held(database_url)
    items += [
        Pruned(
            "reports",
            str(Path(home) / "reports"),
            sum(folder_bytes(str(f)) for runs in report_runs(home).values() for f in runs),
            0,
            0,
        )
    ]
    items += [Pruned("bronze", t, folder_bytes(t), 0, 0) for t in bronze_tables(bronze_root)]
    return items


def human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def render(report: PruneReport) -> str:
    verb = "would remove" if report.dry_run else "removed"
    rows: Iterable[tuple[str, str, str, str, str]] = [
        (i.area, i.name, human_bytes(i.held_bytes), str(i.items), human_bytes(i.freed_bytes)) for i in report.items
    ]
    header = ("area", "what", "held", verb, "space")
    table = [header, *rows]
    widths = [max(len(r[c]) for r in table) for c in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in table]
    for item in report.items:
        lines += [f"  {verb}: {detail}" for detail in item.details]
    lines.append(
        f"{'dry run: nothing removed; ' if report.dry_run else ''}keep {report.keep_days} day(s): "
        f"{verb} {human_bytes(report.freed_bytes)} of {human_bytes(report.held_bytes)} held"
    )
    return "\n".join(lines)
