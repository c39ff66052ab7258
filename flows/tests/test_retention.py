"""retention.py: report folders (newest of each day kept), the space each area holds, the rendering."""

from __future__ import annotations

import os
import time

from zluri_flows.retention import PruneReport, prune_reports, render, space_held

DAY_AGO = 86400


def _report(home, day, run, age_days, size=100):
    folder = home / "reports" / day / run
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text("x" * size)
    stamp = time.time() - age_days * DAY_AGO
    for path in (folder / "summary.json", folder):
        os.utime(path, (stamp, stamp))
    return folder


def test_old_reports_go_but_the_newest_of_each_day_stays(tmp_path):
    old = _report(tmp_path, "day1", "00000000-0000-4000-8000-000000000001", 40)
    newest_of_day1 = _report(tmp_path, "day1", "00000000-0000-4000-8000-000000000002", 35)
    only_of_day2 = _report(tmp_path, "day2", "00000000-0000-4000-8000-000000000003", 50)
    young = _report(tmp_path, "day3", "00000000-0000-4000-8000-000000000004", 40)
    younger = _report(tmp_path, "day3", "00000000-0000-4000-8000-000000000005", 1)
    (tmp_path / "reports" / "index.html").write_text("not a run folder")

    (dry,) = prune_reports(tmp_path, 30, dry_run=True)
    assert (dry.items, dry.freed_bytes, dry.held_bytes) == (2, 200, 500)
    assert set(dry.details) == {str(old), str(young)}
    assert all(p.is_dir() for p in (old, newest_of_day1, only_of_day2, young, younger))

    prune_reports(tmp_path, 30, dry_run=False)
    assert [p.is_dir() for p in (old, newest_of_day1, only_of_day2, young, younger)] == [False, True, True, False, True]
    assert (tmp_path / "reports" / "index.html").is_file()


def test_space_held_measures_every_area_and_removes_nothing(db_url, tmp_path):
    folder = _report(tmp_path, "day1", "00000000-0000-4000-8000-000000000001", 400, size=1000)
    held = space_held(db_url, tmp_path, str(tmp_path / "bronze"))
    assert {p.area for p in held} == {"staging", "quarantine", "reports"}
    assert next(p for p in held if p.area == "reports").held_bytes == 1000
    assert folder.is_dir()
    text = render(PruneReport(30, True, held))
    assert text.splitlines()[0].split() == ["area", "what", "held", "would", "remove", "space"]
    assert text.splitlines()[-1].startswith("dry run: nothing removed; keep 30 day(s): would remove 0 B of ")
