"""Rendering metrics rows as a plain-text table (no terminal library needed)."""

from __future__ import annotations

from collections.abc import Sequence

from zluri_metrics.model import MetricsRow

# The table name is left out: the task names it, and a terminal of 100 columns must hold the rest.
_HEADERS = ("day", "task", "status", "read", "ins", "upd", "del", "skip", "quar", "secs", "run", "error")
WIDTH = 100
MIN_ERROR = 16


def _cells(row: MetricsRow) -> tuple[str, ...]:
    return (
        row.day,
        row.task_name,
        row.status,
        str(row.rows_read),
        str(row.rows_inserted),
        str(row.rows_updated),
        str(row.rows_deleted),
        str(row.rows_skipped),
        str(row.rows_quarantined),
        f"{row.duration_seconds:.2f}",
        row.flow_run_id[:8],
        (row.error_message or "").splitlines()[0] if row.error_message else (row.note or ""),
    )


def render_table(rows: Sequence[MetricsRow], width: int = WIDTH) -> str:
    """Aligned columns, one line per row, numbers right-aligned; errors are cut so lines fit `width`."""
    if not rows:
        return "no metrics rows"
    table = [_HEADERS, *(_cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(_HEADERS))]
    # Long ISO days and task names leave the error little room: the task name gives way first.
    shortfall = MIN_ERROR - (width - sum(widths[:-1]) - 2 * (len(widths) - 1))
    if shortfall > 0 and any(line[-1] for line in table[1:]):
        widths[1] = max(len(_HEADERS[1]), widths[1] - shortfall)
    room = width - sum(widths[:-1]) - 2 * (len(widths) - 1)
    widths[-1] = max(len(_HEADERS[-1]), min(widths[-1], room))
    table = [(line[0], line[1][: widths[1]], *line[2:-1], line[-1][: widths[-1]]) for line in table]
    numeric = {3, 4, 5, 6, 7, 8, 9}

    def fmt(line: tuple[str, ...]) -> str:
        return "  ".join(
            cell.rjust(w) if i in numeric else cell.ljust(w) for i, (cell, w) in enumerate(zip(line, widths))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(table[0]), rule, *(fmt(line) for line in table[1:])])
