"""Rendering metrics rows as a plain-text table (no terminal library needed)."""

from __future__ import annotations

from collections.abc import Sequence

from zluri_metrics.model import MetricsRow

_HEADERS = ("day", "task", "table", "status", "read", "ins", "upd", "del", "skip", "quar", "secs", "run", "error")


def _cells(row: MetricsRow) -> tuple[str, ...]:
    return (
        row.day,
        row.task_name,
        row.table_name,
        row.status,
        str(row.rows_read),
        str(row.rows_inserted),
        str(row.rows_updated),
        str(row.rows_deleted),
        str(row.rows_skipped),
        str(row.rows_quarantined),
        f"{row.duration_seconds:.2f}",
        row.flow_run_id[:8],
        (row.error_message or "").splitlines()[0][:60] if row.error_message else (row.note or "")[:100],
    )


def render_table(rows: Sequence[MetricsRow]) -> str:
    """Aligned columns, one line per row; numbers right-aligned."""
    if not rows:
        return "no metrics rows"
    table = [_HEADERS, *(_cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(_HEADERS))]
    numeric = {4, 5, 6, 7, 8, 9, 10}

    def fmt(line: tuple[str, ...]) -> str:
        return "  ".join(
            cell.rjust(w) if i in numeric else cell.ljust(w) for i, (cell, w) in enumerate(zip(line, widths))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(table[0]), rule, *(fmt(line) for line in table[1:])])
