"""The generator writes the real feed's shapes and a truth that an independent reading of its own
files agrees with. Most checks re-derive the truth from the files here, with plain code that does
not share the generator's helpers, so a bug on either side shows up as a disagreement."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from currency_converter import CurrencyConverter

from zluri_feedgen import Mess, generate_feed, helpdesk

LIST_ENTITIES = ("agents", "admin_groups", "roles")
RESULTS_ENTITIES = ("budgets", "cards", "transactions")
CURRENCIES = ("USD", "EUR", "GBP", "INR", "JPY", "CHF")
SIZES: dict[str, Any] = dict(days=3, agents=40, groups=12, depth=5, transactions=150, transactions_per_file=40)


@pytest.fixture(scope="module")
def feed(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("feed")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(helpdesk, "AGENTS_PER_FILE", 16)  # so agents span several files
        truth = generate_feed(root, **SIZES)
    return root, truth


def read_day(root: Path, label: str, malformed: list[str]) -> dict[str, list]:
    """entity -> records of one day, malformed files skipped."""
    day = {}
    for folder in sorted((root / f"sync-{label}").iterdir()):
        records = []
        for path in sorted(folder.glob("*.json"), key=lambda p: (len(p.stem), p.stem)):
            if path.relative_to(root).as_posix() in malformed:
                continue
            data = json.loads(path.read_text(encoding="utf-8"))
            if folder.name == "agent_details":
                records.append(data)
            elif folder.name in RESULTS_ENTITIES:
                records.extend(data["results"])
            else:
                records.extend(data)
        day[folder.name] = records
    return day


@pytest.fixture(scope="module")
def days(feed) -> dict[str, dict[str, list]]:
    root, truth = feed
    return {label: read_day(root, label, truth["per_day"][label]["malformed_files"]) for label in truth["days"]}


def valid_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def transaction_problem(record: dict) -> str | None:
    data = record["currencyData"]
    if record.get("id") is None:
        return "missing_id"
    if not re.fullmatch(r"\d+", data["originalCurrencyAmount"] or ""):
        return "invalid_amount"
    if data["originalCurrencyCode"] not in CURRENCIES:
        return "unknown_currency"
    try:
        datetime.fromisoformat(record["occurredTime"])
    except ValueError:
        return "invalid_occurred_time"
    return None


def good_transactions(day: dict) -> list[dict]:
    return [r for r in day["transactions"] if transaction_problem(r) is None]


def known_agent_ids(day: dict) -> set[int]:
    return {r["id"] for r in day["agents"] if valid_int(r["id"])} | {r["id"] for r in day["agent_details"]}


def as_datetime(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def as_iso(stamp: str) -> str:
    return as_datetime(stamp).isoformat()


# --- layout ----------------------------------------------------------------------------------


def test_every_file_has_one_of_the_three_real_layouts(feed):
    root, truth = feed
    malformed = [m for label in truth["days"] for m in truth["per_day"][label]["malformed_files"]]
    for label in truth["days"]:
        day_dir = root / f"sync-{label}"
        assert sorted(p.name for p in day_dir.iterdir()) == sorted((*LIST_ENTITIES, *RESULTS_ENTITIES, "agent_details"))
        for path in day_dir.glob("*/*.json"):
            if path.relative_to(root).as_posix() in malformed:
                continue
            data = json.loads(path.read_text(encoding="utf-8"))
            entity = path.parent.name
            if entity in LIST_ENTITIES:
                assert isinstance(data, list) and all(isinstance(r, dict) for r in data)
            elif entity in RESULTS_ENTITIES:
                assert list(data) == ["results"] and isinstance(data["results"], list)
            else:
                assert isinstance(data, dict) and data["id"] == int(path.stem)
        # pages are numbered 1..n and full except the last
        for entity, size in (("transactions", SIZES["transactions_per_file"]), ("agents", 16)):
            pages = [
                p
                for p in sorted((day_dir / entity).glob("*.json"), key=lambda p: int(p.stem))
                if p.relative_to(root).as_posix() not in malformed
            ]
            assert [int(p.stem) for p in pages] == list(range(1, len(pages) + 1)) and len(pages) > 1
            loaded = [json.loads(p.read_text(encoding="utf-8")) for p in pages]
            counts = [len(d["results"] if isinstance(d, dict) else d) for d in loaded]
            assert all(c == size for c in counts[:-1]) and 0 < counts[-1] <= size


def test_exactly_one_malformed_file_is_invalid_json_and_named_in_the_truth(feed):
    root, truth = feed
    malformed = [m for label in truth["days"] for m in truth["per_day"][label]["malformed_files"]]
    assert len(malformed) == 1 and re.fullmatch(r"sync-day2/transactions/\d+\.json", malformed[0])
    pages = sorted(int(p.stem) for p in (root / "sync-day2" / "transactions").glob("*.json"))
    assert int(Path(malformed[0]).stem) == pages[-1]  # an extra page after the good ones
    text = (root / malformed[0]).read_text(encoding="utf-8")
    assert text.startswith('{\n  "results": [')
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_good_records_carry_every_field_the_pipeline_reads_with_its_json_type(days):
    S, INT, F, B, N = str, "int", (int, float), bool, type(None)
    # field path -> a type or tuple of types for isinstance, or INT (a JSON integer, not a boolean)
    checks: dict[str, dict[str, Any]] = {
        "agents": {
            "id": INT,
            "deactivated": B,
            "created_at": S,
            "updated_at": S,
            "contact.email": S,
            "contact.name": S,
            "contact.job_title": (S, N),
            "contact.active": B,
        },
        "agent_details": {
            "id": INT,
            "role_ids": list,
            "group_ids": list,
            "deactivated": B,
            "created_at": S,
            "updated_at": S,
            "contact.email": S,
            "contact.name": S,
        },
        "roles": {
            "id": INT,
            "name": S,
            "description": S,
            "default": B,
            "agent_type": INT,
            "created_at": S,
            "updated_at": S,
        },
        "admin_groups": {
            "id": INT,
            "name": S,
            "description": S,
            "parent_group_id": (int, N),
            "agent_ids": list,
            "created_at": S,
            "updated_at": S,
        },
        "budgets": {
            "id": S,
            "uuid": S,
            "name": S,
            "description": S,
            "retired": B,
            "startDate": S,
            "recurringInterval": S,
            "currentPeriod.startDate": S,
            "currentPeriod.limit": F,
            "currentPeriod.overspendBuffer": F,
            "currentPeriod.assigned": F,
            "currentPeriod.spent.cleared": F,
            "currentPeriod.spent.pending": F,
            "currentPeriod.spent.total": F,
        },
        "cards": {
            "id": S,
            "uuid": S,
            "name": S,
            "userId": S,
            "userUuid": S,
            "budgetId": S,
            "budgetUuid": S,
            "lastFour": S,
            "validThru": S,
            "status": S,
            "type": S,
            "currentPeriod.limit": F,
            "currentPeriod.spent": F,
            "createdTime": S,
            "updatedTime": S,
        },
        "transactions": {
            "id": S,
            "uuid": S,
            "transactionType": S,
            "userId": S,
            "userUuid": S,
            "userName": S,
            "merchantName": S,
            "rawMerchantName": S,
            "budgetId": S,
            "budgetUuid": S,
            "cardId": S,
            "cardUuid": S,
            "amount": F,
            "currencyData.exchangeRate": float,
            "currencyData.exponent": INT,
            "currencyData.originalCurrencyAmount": S,
            "currencyData.originalCurrencyCode": S,
            "currencyData.symbol": S,
            "occurredTime": S,
            "updatedTime": S,
            "complete": B,
        },
    }
    spend_time = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000\+00:00")
    for day in days.values():
        for entity, fields in checks.items():
            records = (
                good_transactions(day)
                if entity == "transactions"
                else [r for r in day[entity] if entity != "agents" or valid_int(r["id"])]
            )
            assert records, entity
            for record in records:
                for path, kind in fields.items():
                    value = record
                    for part in path.split("."):
                        value = value[part]
                    if kind == INT:
                        assert valid_int(value), (entity, path, value)
                    else:
                        assert isinstance(value, kind), (entity, path)
                        assert kind is not F or not isinstance(value, bool), (entity, path)
        assert {c["status"] for c in day["cards"]} <= {"ACTIVATED", "FROZEN", "NOT_ACTIVATED"}
        assert {c["type"] for c in day["cards"]} <= {"VIRTUAL_VENDOR", "VIRTUAL_MEMBER", "PHYSICAL"}
        for record in good_transactions(day):
            assert spend_time.fullmatch(record["occurredTime"]) and spend_time.fullmatch(record["updatedTime"])
            assert record["transactionType"] in {"AUTHORIZATION", "CLEAR", "DECLINE", "OTHER"}
            data = record["currencyData"]
            assert data["exponent"] == (0 if data["originalCurrencyCode"] == "JPY" else 2)
            assert record["id"].startswith("VHJhbnNhY3Rpb246")  # base64 of "Transaction:"
        for record in day["agents"] + day["agent_details"]:
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", record["updated_at"])


# --- per-day counts --------------------------------------------------------------------------


def test_per_day_counts_match_an_independent_reading_of_the_files(feed, days):
    _, truth = feed
    for label, day in days.items():
        expected = truth["per_day"][label]
        assert expected["records"] == {entity: len(records) for entity, records in day.items()}

        reasons = Counter(transaction_problem(r) for r in day["transactions"])
        reasons.pop(None)
        assert expected["quarantined"]["transactions"] == dict(reasons)
        bad_agents = sum(not valid_int(r["id"]) for r in day["agents"])
        assert expected["quarantined"]["agents"] == {"invalid_id": bad_agents}
        known = known_agent_ids(day)
        unknown = sum(a not in known for g in day["admin_groups"] for a in g["agent_ids"])
        assert expected["quarantined"]["group_memberships"] == {"unknown_agent": unknown} != {"unknown_agent": 0}

        good = good_transactions(day)
        assert expected["duplicates"]["transactions"] == len(good) - len({r["id"] for r in good}) > 0
        listed = [r["id"] for r in day["agents"] if valid_int(r["id"])]
        assert expected["duplicates"]["agents"] == len(listed) - len(set(listed)) > 0
        outcomes = expected["transaction_outcomes"]
        assert len(good) == expected["duplicates"]["transactions"] + sum(
            outcomes[k] for k in ("new", "later_updates", "stale_arrivals", "unchanged_repeats")
        )


def test_transactions_occur_on_their_day_including_a_weekend(feed, days):
    _, truth = feed
    dates = [truth["per_day"][label]["date"] for label in truth["days"]]
    assert dates == ["2025-03-06", "2025-03-07", "2025-03-08"]  # day 3 is a Saturday
    for k, day in enumerate(days.values()):
        occurred = Counter(r["occurredTime"][:10] for r in good_transactions(day))
        assert occurred.most_common(1)[0][0] == dates[k]
        assert set(occurred) <= set(dates[max(0, k - 1) : k + 1])  # today's, or yesterday's re-sent


# --- transactions truth ----------------------------------------------------------------------


def test_transaction_truth_is_the_newest_version_ever_delivered(feed, days):
    _, truth = feed
    newest: dict[str, dict] = {}
    for day in days.values():
        for record in good_transactions(day):
            data = record["currencyData"]
            version = {
                "updated_at": as_iso(record["updatedTime"]),
                "original_amount": str(Decimal(int(data["originalCurrencyAmount"])).scaleb(-data["exponent"])),
                "original_currency": data["originalCurrencyCode"],
                "transaction_type": record["transactionType"],
            }
            held = newest.get(record["id"])
            if held is None or as_datetime(version["updated_at"]) > as_datetime(held["updated_at"]):
                newest[record["id"]] = version
    assert dict(truth["final"]["transactions"]) == newest
    assert len(truth["final"]["transactions"]) == len(newest)


def test_a_later_update_wins_and_a_stale_late_arrival_does_not(feed, days):
    _, truth = feed
    final = truth["final"]["transactions"]
    labels = list(days)
    updated = stale = repeated = 0
    for earlier, later in zip(labels, labels[1:]):
        before = {r["id"]: r for r in good_transactions(days[earlier])}
        for record in good_transactions(days[later]):
            old = before.get(record["id"])
            if old is None:
                continue
            new_time, old_time = as_datetime(record["updatedTime"]), as_datetime(old["updatedTime"])
            if record == old:
                repeated += 1
            elif new_time > old_time:
                updated += 1
                assert record["currencyData"]["originalCurrencyAmount"] != old["currencyData"]["originalCurrencyAmount"]
                assert final[record["id"]]["updated_at"] == as_iso(record["updatedTime"])
            else:
                stale += 1
                assert final[record["id"]]["updated_at"] == as_iso(old["updatedTime"])
    assert updated and stale and repeated


def test_within_day_duplicates_are_decided_by_updated_time_not_file_order(feed, days):
    _, truth = feed
    newer_first = older_first = 0
    for day in days.values():
        seen: dict[str, dict] = {}
        for record in good_transactions(day):
            first = seen.setdefault(record["id"], record)
            if first is not record and first["updatedTime"] != record["updatedTime"]:
                if first["updatedTime"] > record["updatedTime"]:
                    newer_first += 1
                else:
                    older_first += 1
    assert newer_first and older_first


def test_feed_usd_amounts_follow_the_ecb_rate_except_the_flagged_ones(feed, days):
    _, truth = feed
    flagged = set(truth["final"]["fx_disagreements"])
    converter = CurrencyConverter(fallback_on_missing_rate=True, fallback_on_wrong_date=False)
    friday = date(2025, 3, 7)
    assert truth["final"]["fx_rates"]["day3"]["rate_date"]["GBP"] == friday.isoformat()
    seen_flagged, saturday_checks = set(), 0
    currencies: Counter[str] = Counter()
    for day in days.values():
        for record in good_transactions(day):
            data = record["currencyData"]
            currency, occurred = data["originalCurrencyCode"], datetime.fromisoformat(record["occurredTime"]).date()
            currencies[currency] += 1
            original = int(data["originalCurrencyAmount"]) / 10 ** data["exponent"]
            ours = converter.convert(original, currency, "USD", occurred)  # interpolates weekends
            if record["id"] in flagged:
                seen_flagged.add(record["id"])
                assert abs(record["amount"] - ours) / ours > 0.02
            else:
                assert record["amount"] == pytest.approx(ours, rel=0.01, abs=0.01)
                assert record["amount"] == pytest.approx(original * data["exchangeRate"], abs=0.0051)
            if occurred.weekday() == 5 and record["id"] not in flagged:  # Saturday: Friday's rate
                assert data["exchangeRate"] == pytest.approx(converter.convert(1, currency, "USD", friday), rel=1e-12)
                saturday_checks += currency != "USD"
    assert seen_flagged == flagged and flagged and saturday_checks
    assert set(currencies) == set(CURRENCIES)


def test_transaction_truth_lookup_rejects_unknown_and_quarantined_ids(feed, days):
    _, truth = feed
    final = truth["final"]["transactions"]
    quarantined = [r["id"] for r in days["day1"]["transactions"] if r.get("id") and transaction_problem(r)]
    assert quarantined
    for bad in [*quarantined, "VHJhbnNhY3Rpb246bm9wZQ==", "not base64", 42]:
        assert bad not in final
        with pytest.raises(KeyError):
            final[bad]


# --- help desk truth -------------------------------------------------------------------------


def test_agent_status_follows_the_agents_list_and_deactivated_flag(feed, days):
    _, truth = feed
    statuses, seen, deactivated = {}, set(), {}
    for label, day in days.items():
        listed = {r["id"]: r for r in day["agents"] if valid_int(r["id"])}
        details = {r["id"]: r for r in day["agent_details"]}
        seen |= listed.keys() | details.keys()
        for agent, record in (details | listed).items():
            deactivated[agent] = record["deactivated"]
        statuses[label] = {a: "active" if a in listed and not listed[a]["deactivated"] else "inactive" for a in seen}
        assert truth["final"]["agent_status_by_day"][label] == statuses[label]
    assert truth["final"]["agents"] == {a: {"status": statuses["day3"][a], "deactivated": deactivated[a]} for a in seen}

    # the mess the pipeline must handle is all there
    one, two = days["day1"], days["day2"]
    listed1, listed2 = ({r["id"] for r in d["agents"] if valid_int(r["id"])} for d in (one, two))
    details2 = {r["id"] for r in two["agent_details"]}
    left = listed1 - listed2
    assert left & details2 and left - details2  # leavers with and without agent_details
    assert any(statuses["day1"][a] == "inactive" and statuses["day3"][a] == "active" for a in seen)  # returned
    assert any(r["deactivated"] for r in one["agents"] if valid_int(r["id"]))
    assert {r["id"] for r in one["agent_details"]} - listed1 and listed1 - {r["id"] for r in one["agent_details"]}


def descendants_with_active_member(parents: dict[int, int | None], active: dict[int, set[int]]) -> set[int]:
    """Brute force, downward: a group is active if a breadth-first walk over its children finds
    an active member. Deliberately unlike the generator's upward walk."""
    children = defaultdict(list)
    for group, parent in parents.items():
        if parent is not None:
            children[parent].append(group)
    result = set()
    for group in parents:
        queue, visited = [group], {group}
        while queue:
            node = queue.pop()
            if active.get(node):
                result.add(group)
                break
            for child in children[node]:
                if child not in visited:
                    visited.add(child)
                    queue.append(child)
    return result


def test_group_truth_memberships_and_roles_match_the_last_day(feed, days):
    _, truth = feed
    last = days["day3"]
    listed = {r["id"]: r for r in last["agents"] if valid_int(r["id"])}
    known = known_agent_ids(last)
    parents = {g["id"]: g["parent_group_id"] for g in last["admin_groups"]}
    active = {
        g["id"]: {a for a in g["agent_ids"] if a in listed and not listed[a]["deactivated"]}
        for g in last["admin_groups"]
    }
    active_groups = descendants_with_active_member(parents, active)
    assert truth["final"]["groups"] == {
        g: {"status": "active" if g in active_groups else "inactive", "parent_group_id": p} for g, p in parents.items()
    }
    assert {v["status"] for v in truth["final"]["groups"].values()} == {"active", "inactive"}
    assert truth["final"]["memberships"] == sorted(
        [g["id"], a] for g in last["admin_groups"] for a in g["agent_ids"] if a in known
    )
    assert truth["final"]["agent_roles"] == sorted(
        [r["id"], role] for r in last["agent_details"] for role in r["role_ids"]
    )

    cycles = truth["final"]["cycles"]
    assert sorted(len(c) for c in cycles) == [1, 2]
    assert all(parents[c[-1]] == c[0] for c in cycles)

    def depth_of(group):
        steps, node, visited = 0, group, set()
        while node is not None and node not in visited:
            visited.add(node)
            node, steps = parents.get(node), steps + 1
        return steps

    assert max(depth_of(g) for g in parents) >= SIZES["depth"]

    first = days["day1"]
    assert {g["id"]: g["parent_group_id"] for g in first["admin_groups"]} != parents  # a group moved
    roles_then = {r["id"]: set(r["role_ids"]) for r in first["agent_details"]}
    assert any(set(r["role_ids"]) < roles_then.get(r["id"], set()) for r in last["agent_details"])  # role removed


# --- the truth file, determinism, knobs ------------------------------------------------------


def test_expected_json_is_the_returned_truth_with_string_keys(feed):
    root, truth = feed
    written = json.loads((root / "expected.json").read_text(encoding="utf-8"))
    assert written["days"] == truth["days"] == ["day1", "day2", "day3"]
    assert written["per_day"] == truth["per_day"]
    final = written["final"]
    assert final["agents"] == {str(a): v for a, v in truth["final"]["agents"].items()}
    assert final["groups"] == {str(g): v for g, v in truth["final"]["groups"].items()}
    day2 = truth["final"]["agent_status_by_day"]["day2"]
    assert final["agent_status_by_day"]["day2"] == {str(a): s for a, s in day2.items()}
    assert final["memberships"] == truth["final"]["memberships"]
    assert final["transactions"] == dict(truth["final"]["transactions"])
    assert written["generator"]["mess"] == {f: getattr(Mess(), f) for f in written["generator"]["mess"]}


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_trees_and_another_seed_differs(tmp_path):
    small: dict[str, Any] = dict(days=2, agents=15, groups=6, transactions=40)
    generate_feed(tmp_path / "a", seed=11, **small)
    generate_feed(tmp_path / "b", seed=11, **small)
    generate_feed(tmp_path / "c", seed=12, **small)
    a, b, c = (tree_bytes(tmp_path / name) for name in "abc")
    assert a == b
    assert a.keys() != c.keys() or any(a[k] != c[k] for k in a)
    generate_feed(tmp_path / "a", seed=11, days=1, agents=15, groups=6, transactions=40)
    assert not (tmp_path / "a" / "sync-day2").exists()  # a rerun replaces the old days


def test_clean_mess_gives_a_feed_without_defects(tmp_path):
    truth = generate_feed(tmp_path, days=2, agents=20, groups=6, transactions=60, mess=Mess.clean())
    for label in truth["days"]:
        day = truth["per_day"][label]
        assert day["malformed_files"] == [] and not any(day["quarantined"].values())
        assert not any(day["duplicates"].values())
        assert day["transaction_outcomes"]["new"] == 60 == day["records"]["transactions"]
    assert truth["final"]["cycles"] == [] and truth["final"]["fx_disagreements"] == []


@pytest.mark.parametrize(
    "bad",
    [dict(currencies=("USD", "ABC")), dict(days=0), dict(transactions_per_file=0), dict(start_date=date(1990, 1, 1))],
)
def test_bad_parameters_are_refused_with_a_clear_error(tmp_path, bad):
    with pytest.raises(ValueError):
        generate_feed(tmp_path, **{"transactions": 5, **bad})
