"""What ``zluri run`` prints: one timestamped line per task, a live progress line on a terminal,
and a dbt-style verdict.

Tasks report through the ``zluri_flows.progress`` logger (Prefect state hooks, see tasks.py), so
deployments and tests get the same lines in their logs; the CLI attaches `ProgressConsole` and
keeps Prefect's own per-task chatter ("Finished in state Completed()") out of the terminal while
it still reaches the Prefect API.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

PROGRESS_LOGGER = "zluri_flows.progress"
progress_log = logging.getLogger(PROGRESS_LOGGER)

_OUTCOME_WORDS = {"success": "OK", "failure": "FAILED", "running": "START"}


def task_hook(outcome: str) -> Any:
    """A Prefect state hook logging one line for a task run: day, name, outcome and seconds."""

    def hook(task: Any, task_run: Any, state: Any) -> None:
        started = getattr(task_run, "start_time", None)
        seconds = (state.timestamp - started).total_seconds() if started and outcome != "running" else 0.0
        day = _day_of()
        progress_log.info(
            "%s %s %s", day, task_run.name, outcome,
            extra={"zluri_day": day, "zluri_task": task_run.name, "zluri_outcome": outcome, "zluri_seconds": seconds,
                   "zluri_error": (state.message or "") if outcome == "failure" else ""},
        )  # fmt: skip

    hook.__name__ = f"console_line_{outcome}"
    return hook


def _day_of() -> str:
    from prefect.runtime import flow_run

    try:
        return str(flow_run.parameters.get("day", ""))
    except Exception:  # noqa: BLE001 - a label for a console line is not worth failing a task over
        return ""


class ProgressConsole(logging.Handler):
    """Prints task lines; on a terminal also keeps a live status line (elapsed, done, running)."""

    def __init__(self, stream: TextIO | None = None, *, live: bool | None = None) -> None:
        super().__init__(logging.INFO)
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self.started = time.monotonic()
        self.done = 0
        self.failed = 0
        self.running: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._status_width = 0

    def emit(self, record: logging.LogRecord) -> None:
        outcome = getattr(record, "zluri_outcome", None)
        with self._lock:
            if outcome is None:
                self._print(f"{_now()}  {record.getMessage()}")
                return
            task = str(getattr(record, "zluri_task", ""))
            if outcome == "running":
                self.running[task] = time.monotonic()
                self._status()
                return
            self.running.pop(task, None)
            self.done += 1
            self.failed += outcome == "failure"
            seconds = float(getattr(record, "zluri_seconds", 0.0))
            word = _OUTCOME_WORDS.get(outcome, outcome.upper())
            line = f"{_now()}  {getattr(record, 'zluri_day', ''):<10} {task:<26} {word:<7} {seconds:6.1f}s"
            error = str(getattr(record, "zluri_error", "") or "")
            if error:
                line += f"  {error.splitlines()[0][:120]}"
            self._print(line)

    def _print(self, line: str) -> None:
        if self.live and self._status_width:
            self.stream.write("\r" + " " * self._status_width + "\r")
            self._status_width = 0
        self.stream.write(line + "\n")
        self._status()

    def _status(self) -> None:
        if not self.live:
            return
        elapsed = time.monotonic() - self.started
        running = ", ".join(sorted(self.running)) or "-"
        text = f"[{elapsed:5.0f}s] {self.done} done, {self.failed} failed; running: {running}"[:99]
        self.stream.write("\r" + text.ljust(self._status_width))
        self.stream.flush()
        self._status_width = len(text)

    def start(self) -> None:
        if self.live:
            self._ticker = threading.Thread(target=self._tick, name="zluri-progress", daemon=True)
            self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            with self._lock:
                self._status()

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2)
        with self._lock:
            if self.live and self._status_width:
                self.stream.write("\r" + " " * self._status_width + "\r")
                self.stream.flush()
                self._status_width = 0
        super().close()


def _now() -> str:
    return datetime.now().strftime("%H:%M:%S")


def _quiet_prefect_console() -> list[tuple[logging.Handler, int]]:
    """Raise Prefect's terminal handlers to WARNING; its API handler keeps every INFO line."""
    from prefect.logging.handlers import PrefectConsoleHandler

    changed: list[tuple[logging.Handler, int]] = []
    for name in ("", "prefect", "prefect.flow_runs", "prefect.task_runs", *logging.root.manager.loggerDict):
        logger = logging.getLogger(name)
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, PrefectConsoleHandler) and handler.level < logging.WARNING:
                changed.append((handler, handler.level))
                handler.setLevel(logging.WARNING)
    return changed


@contextmanager
def progress_console(stream: TextIO | None = None) -> Iterator[ProgressConsole]:
    """Fold the run's console output into task lines for the duration of the block."""
    import prefect.logging.configuration  # noqa: F401 - Prefect configures its handlers on import

    quieted = _quiet_prefect_console()
    console = ProgressConsole(stream)
    previous = progress_log.level, progress_log.propagate
    progress_log.setLevel(logging.INFO)
    progress_log.propagate = False
    progress_log.addHandler(console)
    console.start()
    try:
        yield console
    finally:
        console.close()
        progress_log.removeHandler(console)
        progress_log.setLevel(previous[0])
        progress_log.propagate = previous[1]
        for handler, level in quieted:
            handler.setLevel(level)


def verdict(summaries: Sequence[dict[str, Any]]) -> str:
    """``PASS=.. WARN=.. ERROR=.. SKIP=.. QUARANTINED=..`` over the runs' tasks (dbt's closing line).

    WARN counts staging tasks that succeeded with warnings; SKIP those not run after a failure.
    """
    counts = {"PASS": 0, "WARN": 0, "ERROR": 0, "SKIP": 0}
    quarantined = 0
    for summary in summaries:
        entities = summary.get("entities", {})
        quarantined += int(summary.get("totals", {}).get("quarantined", 0))
        for task in summary.get("tasks", []):
            if task["outcome"] == "failure":
                counts["ERROR"] += 1
            elif task["outcome"] == "not run":
                counts["SKIP"] += 1
            elif task.get("entity") and entities.get(task["entity"], {}).get("warnings"):
                counts["WARN"] += 1
            else:
                counts["PASS"] += 1
    total = sum(counts.values())
    return f"Done. {' '.join(f'{k}={v}' for k, v in counts.items())} TOTAL={total} QUARANTINED={quarantined}"


def run_summaries(reports_root: Path, flow_run_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The summary.json of each run (those that got as far as writing one)."""
    found = []
    for run_id in flow_run_ids:
        for path in reports_root.glob(f"*/{run_id}/summary.json"):
            found.append(json.loads(path.read_text(encoding="utf-8")))
    return found
