"""Run reporting: each staged entity's report, ``summary.json`` and the run page of one run, and the
history page across runs.

This module is the one writer of everything under ``<home>/reports``:

- ``<reports>/<day>/<flow_run_id>/entities/<entity>.json``: an entity's counts and data-quality
  outcomes, written by its staging step (staging tasks of a run may run in different threads, or
  even processes, so their reports travel through these files);
- ``<reports>/<day>/<flow_run_id>/summary.json``: what the run did and whether it succeeded;
- ``<reports>/<day>/<flow_run_id>/index.html``: the same for people, and ``quarantine.html``
  with the run's rejected records;
- ``<reports>/index.html``: every run, with plots per entity and day and anomaly flags.

Pages are single files with inline CSS and inline SVG: they need no network and no JavaScript
(production networks are often offline, and the history must stay readable for months). It lives
in staging because it merges staging's entity reports; the facts it adds (tasks, SQL steps,
rejected records, input files) are passed in as plain data by the caller.
"""

from __future__ import annotations

import html
import json
import os
import re
import statistics
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from zluri_staging.charts import line_chart
from zluri_staging.dq import EntityDQ

__all__ = [
    "Anomaly",
    "EntityReport",
    "RunFacts",
    "TaskFacts",
    "build_history",
    "find_anomalies",
    "read_entity_reports",
    "write_entity_report",
    "write_run_report",
]

# Rejected records listed on a run's quarantine page: enough to browse, bounded so a bad day
# cannot make a report folder grow without limit (the database keeps them all).
QUARANTINE_PAGE_ROWS = 300
RAW_CHARS = 400
# A day is flagged when its value departs from the median of up to this many earlier days...
TRAILING_DAYS = 7
# ...given at least this many of them to compare with.
MIN_TRAILING = 3
# Loaded rows: flagged when off the trailing median by more than this share (and 10 rows).
LOADED_CHANGE = 0.5
# Quarantine rate: flagged when it rises this many percentage points above the trailing median.
QUARANTINE_RATE_RISE = 5.0


@dataclass(frozen=True)
class TaskFacts:
    """One task of the run as its metrics row and its Prefect state saw it."""

    name: str  # "stage_cards", "040_upsert_transactions"
    outcome: str  # "success" | "failure" | "not run"
    seconds: float = 0.0
    error: str | None = None
    entity: str | None = None  # staging tasks
    step: str | None = None  # SQL steps
    read: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    skipped: int = 0
    quarantined: int = 0


@dataclass
class RunFacts:
    """What the caller knows about a run beyond the staging entity reports."""

    day: str
    flow_run_id: str
    started_at: str | None = None
    finished_at: str | None = None
    input_root: str | None = None
    tasks: list[TaskFacts] = field(default_factory=list)
    input_files: list[dict[str, Any]] = field(default_factory=list)
    quarantine: list[dict[str, Any]] = field(default_factory=list)  # entity, reason, count, samples
    quarantine_records: list[dict[str, Any]] = field(default_factory=list)  # for quarantine.html
    cycles_found: int = 0


_LOCK = threading.Lock()


def _write(path: Path, text: str) -> None:
    # Whole file or nothing: a reader (a task of the run merging entity reports, a concurrent run's
    # history rebuild) never sees half a file.
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


# ------------------------------------------------------------------------------------------------
# Entity reports


@dataclass
class EntityReport:
    """Counts and findings of one entity's staging step.

    `dq` is the entity's own validation; `derived_dq` those of tables staged from it
    (agent_roles from agent_details, group_memberships from admin_groups).
    """

    entity: str
    read: int
    valid: int
    quarantined: int
    duplicates: int
    loaded: int
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    dq: EntityDQ | None = None
    derived_dq: list[EntityDQ] = field(default_factory=list)

    @property
    def validations(self) -> list[EntityDQ]:
        return [*([self.dq] if self.dq is not None else []), *self.derived_dq]

    def to_dict(self) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "read": self.read,
            "valid": self.valid,
            "quarantined": self.quarantined,
            "duplicates": self.duplicates,
            "loaded": self.loaded,
            "quarantine_reasons": dict(self.quarantine_reasons),
            "warnings": list(self.warnings),
            "dq": self.dq.to_dict() if self.dq is not None else None,
            "derived_dq": [d.to_dict() for d in self.derived_dq],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EntityReport:
        dq = data.get("dq")
        return cls(
            entity=data["entity"],
            read=data["read"],
            valid=data["valid"],
            quarantined=data["quarantined"],
            duplicates=data["duplicates"],
            loaded=data["loaded"],
            quarantine_reasons=dict(data.get("quarantine_reasons") or {}),
            warnings=list(data.get("warnings") or []),
            dq=EntityDQ.from_dict(dq) if dq else None,
            derived_dq=[EntityDQ.from_dict(d) for d in data.get("derived_dq") or []],
        )


def _entities_dir(report_dir: Path) -> Path:
    return Path(report_dir) / "entities"


def write_entity_report(report_dir: Path, report: EntityReport) -> Path:
    """Write ``entities/<entity>.json``, which the run report merges."""
    path = _entities_dir(report_dir) / f"{report.entity}.json"
    _write(path, json.dumps(report.to_dict(), indent=2, default=str))
    return path


def read_entity_reports(report_dir: Path) -> list[EntityReport]:
    """The entity reports written so far under ``report_dir/entities/``, by entity name."""
    return [
        EntityReport.from_dict(json.loads(path.read_text(encoding="utf-8")))
        for path in sorted(_entities_dir(report_dir).glob("*.json"))
    ]


# ------------------------------------------------------------------------------------------------
# summary.json


def _entity_summary(report: EntityReport) -> dict[str, Any]:
    validations = report.validations
    # Staging may already have copied a derived table's warnings into its own list.
    warnings = list(dict.fromkeys([*report.warnings, *(w for d in validations for w in d.warnings)]))
    critical = [[d.entity, name, sample] for d in validations for name, sample in d.critical_failures]
    return {
        "status": "failed" if critical else ("warned" if warnings else "passed"),
        "error": None,
        "read": report.read,
        "valid": report.valid,
        "quarantined": report.quarantined,
        "duplicates": report.duplicates,
        "loaded": report.loaded,
        "reconciled": report.read == report.loaded + report.quarantined + report.duplicates,
        "expectations_passed": sum(d.expectations_passed for d in validations),
        "expectations_failed": sum(d.expectations_failed for d in validations),
        "critical_failures": critical,
        "warnings": warnings,
        "quarantine_reasons": dict(report.quarantine_reasons),
        "expectations": [
            {"table": d.entity, **asdict(o), "observed": o.observed()} for d in validations for o in d.outcomes
        ],
    }


def _failed_entity(error: str | None, outcome: str) -> dict[str, Any]:
    return {
        "status": "failed" if outcome == "failure" else "not run",
        "error": error or outcome,
        "read": 0,
        "valid": 0,
        "quarantined": 0,
        "duplicates": 0,
        "loaded": 0,
        "reconciled": False,
        "expectations_passed": 0,
        "expectations_failed": 0,
        "critical_failures": [],
        "warnings": [],
        "quarantine_reasons": {},
        "expectations": [],
    }


def _summary(report_dir: Path, facts: RunFacts) -> dict[str, Any]:
    entities = {r.entity: _entity_summary(r) for r in read_entity_reports(report_dir)}
    for task in facts.tasks:
        if task.entity is None or task.outcome == "success":
            continue
        # An entity that failed after its report was written (COPY, count check) keeps its counts
        # but is failed all the same; one that failed before has only the error.
        entry = entities.setdefault(task.entity, _failed_entity(task.error, task.outcome))
        entry["status"] = "failed" if task.outcome == "failure" else "not run"
        entry["error"] = task.error or task.outcome
    failed = [t for t in facts.tasks if t.outcome == "failure"]
    not_run = [t.name for t in facts.tasks if t.outcome == "not run"]
    critical = [e for e, v in entities.items() if v["critical_failures"]]
    success = not failed and not not_run and not critical
    counted = ("read", "valid", "quarantined", "duplicates", "loaded", "expectations_passed", "expectations_failed")
    totals: dict[str, Any] = {key: sum(e[key] for e in entities.values()) for key in counted}
    totals["warnings"] = sum(len(e["warnings"]) for e in entities.values())
    seconds = None
    if facts.started_at and facts.finished_at:
        seconds = round(
            (datetime.fromisoformat(facts.finished_at) - datetime.fromisoformat(facts.started_at)).total_seconds(), 3
        )
    return {
        "day": facts.day,
        "flow_run_id": facts.flow_run_id,
        "run_name": facts.flow_run_id,
        "success": success,
        "status": "succeeded" if success else "failed",
        "failed": [{"task": t.name, "entity": t.entity, "step": t.step, "error": t.error} for t in failed]
        + [
            {"task": None, "entity": e, "step": None, "error": "critical data-quality expectation failed"}
            for e in critical
            if not any(t.entity == e for t in failed)
        ],
        "not_run": not_run,
        "started_at": facts.started_at,
        "finished_at": facts.finished_at,
        "duration_seconds": seconds,
        "generated_at": datetime.now(UTC).isoformat(),
        "input_root": facts.input_root,
        "input_files": facts.input_files,
        "tasks": [asdict(t) for t in facts.tasks],
        "steps": {
            t.step: {k: getattr(t, k) for k in ("inserted", "updated", "deleted", "skipped", "quarantined")}
            | {"outcome": t.outcome, "seconds": t.seconds}
            for t in facts.tasks
            if t.step
        },
        "cycles_found": facts.cycles_found,
        "quarantine": facts.quarantine,
        "totals": totals,
        "entities": entities,
        "page": "index.html",
    }


def write_run_report(report_dir: Path, facts: RunFacts) -> Path:
    """Write the run's ``summary.json``, ``index.html`` and ``quarantine.html``; return summary.json.

    Safe to call again (a retry of the last task): every file is replaced whole.
    """
    report_dir = Path(report_dir)
    summary = _summary(report_dir, facts)
    _write(report_dir / "index.html", _run_page(summary))
    _write(report_dir / "quarantine.html", _quarantine_page(summary, facts.quarantine_records))
    path = report_dir / "summary.json"
    _write(path, json.dumps(summary, indent=2, default=str))
    return path


# ------------------------------------------------------------------------------------------------
# HTML


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2430;background:#f6f7f9}
main{max-width:1180px;margin:0 auto;padding:18px 24px 48px}
h1{font-size:22px;margin:8px 0 4px}
h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d9dde3;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;background:#fff;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid #d9dde3;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:2px 9px;border-radius:10px;font-weight:600;font-size:12px;color:#fff}
.ok{background:#2e7d32}.warn{background:#b26a00}.bad{background:#c62828}.muted{background:#78818c}
.box{border-left:5px solid #c62828;background:#fdecea;padding:8px 12px;margin:10px 0}
.note{border-left:5px solid #b26a00;background:#fff4e5;padding:8px 12px;margin:10px 0}
.meta{color:#4b5563}.meta b{color:#1d2430}
code,pre{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace}
pre{white-space:pre-wrap;word-break:break-all;margin:2px 0;background:#f1f3f6;padding:4px 6px}
ul{margin:4px 0 8px 20px;padding:0}li{margin:2px 0}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(540px,1fr));gap:12px}
figure{margin:0;background:#fff;border:1px solid #d9dde3;padding:6px}figcaption{font-weight:600;font-size:13px}
svg{max-width:100%;height:auto}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], numeric: Iterable[int] = (), cls: str = "") -> str:
    numeric = set(numeric)
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{_e(c)}</td>' if i in numeric else f"<td>{c if _is_html(c) else _e(c)}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


class _Html(str):
    """Markup already escaped (a badge, a link) that table cells insert as is."""


def _is_html(value: Any) -> bool:
    return isinstance(value, _Html)


def _badge(text: str) -> _Html:
    cls = {
        "succeeded": "ok", "success": "ok", "passed": "ok", "pass": "ok",
        "warned": "warn", "warn": "warn",
        "failed": "bad", "failure": "bad", "fail": "bad",
    }.get(text, "muted")  # fmt: skip
    return _Html(f'<span class="badge {cls}">{_e(text.upper())}</span>')


def _seconds(value: Any) -> str:
    return "" if value is None else f"{float(value):.1f}s"


def _run_page(s: Mapping[str, Any]) -> str:
    parts = [
        '<p><a href="../../index.html">&larr; all runs</a></p>',
        f"<h1>Day {_e(s['day'])} {_badge(s['status'])}</h1>",
        f'<p class="meta">run <b><code>{_e(s["flow_run_id"])}</code></b> &middot; started <b>{_e(s["started_at"])}'
        f"</b> &middot; finished <b>{_e(s['finished_at'])}</b> &middot; duration <b>{_seconds(s['duration_seconds'])}"
        f"</b> &middot; input <code>{_e(s['input_root'])}</code></p>",
    ]
    if s["failed"] or s["not_run"]:
        items = "".join(
            f"<li><b>{_e(f['task'] or f['entity'])}</b>"
            f"{' (entity ' + _e(f['entity']) + ')' if f['entity'] and f['task'] else ''}: "
            f"<pre>{_e((f['error'] or '')[:1500])}</pre></li>"
            for f in s["failed"]
        )
        not_run = (
            f"<p>Not run because an upstream task failed: {_e(', '.join(s['not_run']))}</p>" if s["not_run"] else ""
        )
        parts.append(f'<div class="box" id="failures"><b>The run failed.</b><ul>{items}</ul>{not_run}</div>')
    totals = s["totals"]
    parts.append(
        f"<p>Read <b>{totals['read']}</b>, loaded <b>{totals['loaded']}</b>, quarantined "
        f"<b>{totals['quarantined']}</b>, duplicates <b>{totals['duplicates']}</b>; expectations passed "
        f"<b>{totals['expectations_passed']}</b>, failed <b>{totals['expectations_failed']}</b>; warnings "
        f"<b>{totals['warnings']}</b>.</p>"
    )

    parts.append('<h2 id="entities">Entities</h2>')
    parts.append(
        _table(
            [
                "entity",
                "status",
                "read",
                "loaded",
                "quarantined",
                "duplicates",
                "reconciled",
                "expectations",
                "warnings",
            ],
            [
                [
                    name,
                    _badge(e["status"]),
                    e["read"],
                    e["loaded"],
                    e["quarantined"],
                    e["duplicates"],
                    "yes" if e["reconciled"] else "no",
                    f"{e['expectations_passed']} passed, {e['expectations_failed']} failed",
                    len(e["warnings"]),
                ]
                for name, e in s["entities"].items()
            ],
            numeric=(2, 3, 4, 5, 8),
            cls="entities",
        )  # fmt: skip
    )

    parts.append('<h2 id="tasks">Tasks</h2>')
    parts.append(
        _table(
            ["task", "outcome", "seconds", "read", "inserted", "updated", "deleted", "skipped", "quarantined"],
            [
                [
                    t["name"],
                    _badge(t["outcome"]),
                    f"{t['seconds']:.2f}",
                    t["read"],
                    t["inserted"],
                    t["updated"],
                    t["deleted"],
                    t["skipped"],
                    t["quarantined"],
                ]
                for t in s["tasks"]
            ],
            numeric=(2, 3, 4, 5, 6, 7, 8),
            cls="tasks",
        )  # fmt: skip
    )

    parts.append('<h2 id="steps">SQL steps</h2>')
    parts.append(
        _table(
            ["step", "outcome", "inserted", "updated", "deleted", "skipped", "quarantined", "seconds"],
            [
                [
                    step,
                    _badge(v["outcome"]),
                    v["inserted"],
                    v["updated"],
                    v["deleted"],
                    v["skipped"],
                    v["quarantined"],
                    f"{v['seconds']:.2f}",
                ]
                for step, v in s["steps"].items()
            ],
            numeric=(2, 3, 4, 5, 6, 7),
            cls="steps",
        )  # fmt: skip
    )
    parts.append(f"<p>Cycles found in the group hierarchy: <b>{s['cycles_found']}</b></p>")

    parts.append('<h2 id="warnings">Warnings</h2>')
    # A warning that names its entity first ("cards: 1 of 2 rows ...") is shown under that name once.
    warnings = [(name, w.removeprefix(f"{name}: ")) for name, e in s["entities"].items() for w in e["warnings"]]
    if warnings:
        parts.append(
            '<ul class="warnings">' + "".join(f"<li><b>{_e(n)}</b>: {_e(w)}</li>" for n, w in warnings) + "</ul>"
        )
    else:
        parts.append("<p>None.</p>")

    parts.append('<h2 id="quarantine">Quarantined records</h2>')
    if s["quarantine"]:
        parts.append(
            f'<p>By entity and reason, with a few records each. <a href="quarantine.html">Browse the '
            f"run's rejected records</a>, or <code>zluri quarantine --day {_e(s['day'])}</code>.</p>"
        )
        parts.append(
            _table(
                ["entity", "reason", "count", "sample records"],
                [
                    [
                        q["entity"],
                        q["reason"],
                        q["count"],
                        _Html("".join(f"<pre>{_e(x.get('raw_record'))}</pre>" for x in q["samples"])),
                    ]
                    for q in s["quarantine"]
                ],
                numeric=(2,),
                cls="quarantine",
            )  # fmt: skip
        )
    else:
        parts.append("<p>None.</p>")

    parts.append('<h2 id="expectations">Expectations</h2>')
    for name, e in s["entities"].items():
        if not e["expectations"]:
            continue
        parts.append(f"<h3>{_e(name)}</h3>")
        parts.append(
            _table(
                ["table", "expectation", "severity", "result", "observed", "sample"],
                [
                    [
                        x["table"],
                        x["expectation"],
                        x["severity"],
                        _badge("pass" if x["success"] else "fail"),
                        x["observed"],
                        ", ".join(map(str, x["sample"][:5])),
                    ]
                    for x in e["expectations"]
                ],
                cls="expectations",
            )  # fmt: skip
        )

    parts.append('<h2 id="inputs">Input files</h2>')
    if s["input_files"]:
        parts.append(
            _table(
                ["entity", "file", "records", "sha256"],
                [
                    [f["entity"], f["source_file"], f.get("records"), str(f.get("sha256", ""))[:16]]
                    for f in s["input_files"]
                ],
                numeric=(2,),
            )  # fmt: skip
        )
    else:
        parts.append("<p>No input files recorded.</p>")
    parts.append('<p class="meta"><a href="summary.json">summary.json</a></p>')
    return _page(f"Day {s['day']} run {s['flow_run_id'][:8]}: {s['status']}", "".join(parts))


def _quarantine_page(s: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> str:
    total = sum(q["count"] for q in s["quarantine"])
    shown = records[:QUARANTINE_PAGE_ROWS]
    more = (
        f'<p class="note">Showing {len(shown)} of {total}; the rest: '
        f"<code>zluri quarantine --day {_e(s['day'])} --limit {total}</code>.</p>"
        if total > len(shown)
        else ""
    )
    body = (
        f'<p><a href="index.html">&larr; the run</a></p><h1>Rejected records, day {_e(s["day"])}</h1>'
        f'<p class="meta">run <code>{_e(s["flow_run_id"])}</code> &middot; {total} record(s)</p>{more}'
        + _table(
            ["entity", "reason", "source file", "record"],
            [
                [
                    r["entity"],
                    r["reason"],
                    r.get("source_file"),
                    _Html(f"<pre>{_e(str(r.get('raw_record') or '')[:RAW_CHARS])}</pre>"),
                ]
                for r in shown
            ],
            cls="quarantine",
        )  # fmt: skip
    )
    return _page(f"Rejected records, day {s['day']}", body)


# ------------------------------------------------------------------------------------------------
# History


@dataclass(frozen=True)
class Anomaly:
    day: str
    entity: str
    measure: str  # "loaded" | "quarantine rate"
    value: float
    baseline: float

    def describe(self) -> str:
        if self.measure == "loaded":
            return f"{self.entity}: loaded {self.value:.0f} rows, trailing median {self.baseline:.0f}"
        return f"{self.entity}: quarantine rate {self.value:.1f}%, trailing median {self.baseline:.1f}%"


def _day_key(day: str) -> list[Any]:
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", day) if t]


def _load_summaries(reports_root: Path) -> list[dict[str, Any]]:
    runs = []
    for path in reports_root.glob("*/*/summary.json"):
        try:
            summary = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a folder being written right now, or an old format: not worth failing over
        if "day" not in summary:
            continue
        summary["_href"] = path.parent.relative_to(reports_root).as_posix() + "/index.html"
        runs.append(summary)
    runs.sort(key=lambda r: r.get("started_at") or r.get("generated_at") or "")
    return runs


def _last_run_per_day(runs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    latest: dict[str, Mapping[str, Any]] = {}
    for run in runs:  # in start order: the last one of a day wins
        latest[run["day"]] = run
    return [latest[d] for d in sorted(latest, key=_day_key)]


def _rate(e: Mapping[str, Any]) -> float:
    return 100.0 * e["quarantined"] / e["read"] if e["read"] else 0.0


def find_anomalies(per_day: Sequence[Mapping[str, Any]]) -> list[Anomaly]:
    """Days whose loaded count or quarantine rate departs sharply from the trailing days.

    The baseline is the median of up to `TRAILING_DAYS` earlier days (medians shrug off one odd
    day); at least `MIN_TRAILING` are needed, so a new feed is not flagged on its second day.
    """
    found = []
    entities = sorted({e for run in per_day for e in run["entities"]})
    for entity in entities:
        series = [(run["day"], run["entities"][entity]) for run in per_day if entity in run["entities"]]
        for i, (day, e) in enumerate(series):
            if e.get("status") in ("failed", "not run"):
                continue
            trailing = [
                t for _, t in series[max(0, i - TRAILING_DAYS) : i] if t.get("status") not in ("failed", "not run")
            ]
            if len(trailing) < MIN_TRAILING:
                continue
            loaded = statistics.median(t["loaded"] for t in trailing)
            if abs(e["loaded"] - loaded) > max(LOADED_CHANGE * loaded, 10):
                found.append(Anomaly(day, entity, "loaded", e["loaded"], loaded))
            rate = statistics.median(_rate(t) for t in trailing)
            if _rate(e) - rate > QUARANTINE_RATE_RISE:
                found.append(Anomaly(day, entity, "quarantine rate", round(_rate(e), 3), rate))
    return found


def build_history(reports_root: Path) -> Path:
    """Rebuild ``<reports_root>/index.html`` from every run's ``summary.json``; return its path."""
    reports_root = Path(reports_root)
    with _LOCK:
        runs = _load_summaries(reports_root)
        per_day = _last_run_per_day(runs)
        anomalies = find_anomalies(per_day)
        page = _history_page(runs, per_day, anomalies)
        path = reports_root / "index.html"
        _write(path, page)
    return path


def _history_page(runs: Sequence[Mapping[str, Any]], per_day: Sequence[Mapping[str, Any]],
                  anomalies: Sequence[Anomaly]) -> str:  # fmt: skip
    days = [r["day"] for r in per_day]
    entities = sorted({e for r in per_day for e in r["entities"]})
    parts = [
        "<h1>Zluri day pipeline: runs</h1>",
        f'<p class="meta">{len(runs)} run(s) over {len(days)} day(s); plots use the last run of each day. '
        f"Rebuilt {_e(datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC'))}.</p>",
    ]
    parts.append('<h2 id="anomalies">Anomalies</h2>')
    if anomalies:
        parts.append(
            '<div class="note"><ul class="anomalies">'
            + "".join(f"<li><b>{_e(a.day)}</b>: {_e(a.describe())}</li>" for a in anomalies)
            + "</ul></div>"
        )
    else:
        parts.append(
            f"<p>None: no day's loaded count moved more than {LOADED_CHANGE:.0%} from the median of its "
            f"trailing days, and no quarantine rate rose more than {QUARANTINE_RATE_RISE:g} points "
            f"(needs {MIN_TRAILING} earlier days).</p>"
        )
    parts.append('<h2 id="runs">Runs</h2>')
    parts.append(
        _table(
            ["day", "run", "status", "duration", "read", "loaded", "quarantined", "warnings", "failed"],
            [
                [
                    r["day"],
                    _Html(f'<a href="{_e(r["_href"])}"><code>{_e(r["flow_run_id"][:8])}</code></a>'),
                    _badge(r["status"]),
                    _seconds(r.get("duration_seconds")),
                    r["totals"]["read"],
                    r["totals"]["loaded"],
                    r["totals"]["quarantined"],
                    r["totals"]["warnings"],
                    ", ".join(f["task"] or f["entity"] for f in r["failed"]),
                ]
                for r in sorted(runs, key=lambda r: (_day_key(r["day"]), r.get("started_at") or ""), reverse=True)
            ],
            numeric=(4, 5, 6, 7),
            cls="runs",
        )  # fmt: skip
    )
    if per_day:
        flagged_loaded: dict[str, set[str]] = {}
        flagged_rate: dict[str, set[str]] = {}
        for a in anomalies:
            (flagged_loaded if a.measure == "loaded" else flagged_rate).setdefault(a.entity, set()).add(a.day)

        def counted(run: Mapping[str, Any], entity: str) -> Mapping[str, Any] | None:
            # A failed or skipped entity has no counts: a gap in its line, not a drop to zero.
            e = run["entities"].get(entity)
            return e if e is not None and e.get("status") not in ("failed", "not run") else None

        def values(entity: str, key: str) -> list[float | None]:
            return [e[key] if (e := counted(r, entity)) is not None else None for r in per_day]

        plots = [
            line_chart(
                f"{entity}: rows per day",
                days,
                {"read": values(entity, "read"), "loaded": values(entity, "loaded")},
                "rows",
                {"loaded": flagged_loaded.get(entity, set())},
                integer=True,
            )
            for entity in entities
        ]
        rates = {e: [_rate(c) if (c := counted(r, e)) is not None else None for r in per_day] for e in entities}
        plots.append(line_chart("Quarantine rate per entity", days, rates, "% of records read", flagged_rate))
        task_names = sorted({t["name"] for r in per_day for t in r.get("tasks", [])})
        durations = {
            name: [
                next(
                    (t["seconds"] for t in r.get("tasks", []) if t["name"] == name and t["outcome"] != "not run"), None
                )
                for r in per_day
            ]
            for name in task_names
        }
        plots.append(line_chart("Task durations", days, durations, "seconds"))
        parts.append('<h2 id="plots">Per entity and day</h2><div class="plots">')
        parts.extend(f'<figure class="plot">{svg}</figure>' for svg in plots)
        parts.append("</div>")
    return _page("Zluri day pipeline: runs", "".join(parts))
