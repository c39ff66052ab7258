"""Groups: memberships replaced per group; inactive iff no active member at any depth below; cycles."""

from sqlsteps import query, run_day, statuses


def agents(*ids, inactive=()):
    listed = [{"agent_id": i, "updated_at": "2026-01-01T00:00:00Z"} for i in ids if i not in inactive]
    details = [{"agent_id": i, "updated_at": "2026-01-01T00:00:00Z"} for i in ids]
    return {"stg_agents": listed, "stg_agent_details": details}


def groups(parents: dict[int, int | None], members: dict[int, list[int]]):
    return {
        "stg_groups": [{"group_id": g, "name": f"G{g}", "parent_group_id": p} for g, p in parents.items()],
        "stg_group_memberships": [{"group_id": g, "agent_id": a} for g, ids in members.items() for a in ids],
    }


def day(url, label, agent_ids, parents, members, inactive=()):
    return run_day(url, label, {**agents(*agent_ids, inactive=inactive), **groups(parents, members)})


def test_deep_chain_where_only_the_deepest_has_an_active_member(db_url):
    chain = {100: None, 101: 100, 102: 101, 103: 102, 104: 103, 105: 104}
    day(db_url, "day1", [1, 2], chain, {105: [1], 100: [2]}, inactive=[2])
    assert statuses(db_url, "groups", "group_id") == {g: "active" for g in chain}


def test_leaf_with_only_inactive_members_under_an_active_parent(db_url):
    day(db_url, "day1", [1, 2], {200: None, 201: 200}, {200: [1], 201: [2]}, inactive=[2])
    assert statuses(db_url, "groups", "group_id") == {200: "active", 201: "inactive"}


def test_two_cycle_without_and_with_active_members_and_self_parent(db_url):
    metrics = day(
        db_url,
        "day1",
        [1, 2],
        {300: 301, 301: 300, 400: 400, 500: 501, 501: 500},
        {300: [2], 400: [2], 500: [1]},
        inactive=[2],
    )
    assert statuses(db_url, "groups", "group_id") == {
        300: "inactive",
        301: "inactive",
        400: "inactive",
        500: "active",
        501: "active",
    }
    _assert_cycles_quarantined(db_url, metrics)


def test_group_moved_under_another_parent_and_membership_replaced(db_url):
    # day1: 11 (active member) under 10; 20 has only an inactive member.
    day(db_url, "day1", [1, 2], {10: None, 11: 10, 20: None}, {11: [1], 20: [2]}, inactive=[2])
    assert statuses(db_url, "groups", "group_id") == {10: "active", 11: "active", 20: "inactive"}

    # day2: 11 moves under 20; 10's only path to an active member is gone; 20's membership replaced.
    metrics = day(db_url, "day2", [1, 2, 3], {10: None, 11: 20, 20: None}, {11: [1], 20: [3]}, inactive=[2, 3])
    assert statuses(db_url, "groups", "group_id") == {10: "inactive", 11: "active", 20: "active"}
    assert query(db_url, "select group_id, agent_id from core.group_memberships order by 1, 2") == [
        {"group_id": 11, "agent_id": 1},
        {"group_id": 20, "agent_id": 3},
    ]
    m = metrics["020_upsert_groups"]
    assert (m["rows_inserted"], m["rows_deleted"]) == (1, 1)


def test_membership_naming_an_unknown_agent_is_quarantined_not_loaded(db_url):
    metrics = day(db_url, "day1", [1], {10: None}, {10: [1, 999]})
    assert query(db_url, "select agent_id from core.group_memberships") == [{"agent_id": 1}]
    assert query(db_url, "select reason from ops.quarantine") == [{"reason": "membership names unknown agent 999"}]
    assert metrics["020_upsert_groups"]["rows_quarantined"] == 1


def test_deep_chain_cycles_and_self_parent_finish_within_the_statement_timeout(db_url):
    # 5,000 groups in one parent chain (only the deepest has an active member), a second 5,000-deep
    # chain hanging below a 2-cycle (every group of it leads into the cycle without being in it), the
    # same 2-cycle and self-parent as above. The old path-array walk was cubic in depth here.
    import time

    from zluri_pg import Timeouts

    chain = {1000: None} | {g: g - 1 for g in range(1001, 6000)}
    below_cycle = {20000: 500} | {g: g - 1 for g in range(20001, 25000)}
    parents = {**chain, **below_cycle, 300: 301, 301: 300, 400: 400, 500: 501, 501: 500}
    started = time.monotonic()
    metrics = day(db_url, "day1", [1, 2], parents, {5999: [1], 300: [2], 400: [2], 24999: [1]}, inactive=[2])
    elapsed = time.monotonic() - started

    expected = {g: "active" for g in [*chain, *below_cycle, 500, 501]} | {
        300: "inactive",
        301: "inactive",
        400: "inactive",
    }
    assert statuses(db_url, "groups", "group_id") == expected
    _assert_cycles_quarantined(db_url, metrics)

    # The same day again under a 10 s statement timeout (the step alone, staging already loaded).
    bounded = run_day(db_url, "day1", {}, ["030_update_group_status"], timeouts=Timeouts(statement_seconds=10))
    assert bounded["030_update_group_status"]["rows_updated"] == 0
    assert float(bounded["030_update_group_status"]["duration_seconds"]) < 10
    assert elapsed < 120


def test_a_long_cycle_is_reported_whole_from_its_smallest_member(db_url):
    ring = {g: g + 1 for g in range(7000, 7999)} | {7999: 7000}
    day(db_url, "day1", [1], ring | {8000: 7500}, {8000: [1]})
    assert statuses(db_url, "groups", "group_id") == {g: "active" for g in [*ring, 8000]}
    assert query(db_url, "select count(*) as n from core.groups where in_cycle") == [{"n": 1000}]
    (row,) = query(db_url, "select reason from ops.quarantine where entity = 'admin_groups'")
    assert row["reason"] == "cycle in group hierarchy: " + " -> ".join(str(g) for g in [*range(7000, 8000), 7000])


def _assert_cycles_quarantined(db_url, metrics):
    """The cycles 300 <-> 301, 400 -> 400 and 500 <-> 501: flagged, quarantined once each, counted."""
    assert query(db_url, "select group_id from core.groups where in_cycle order by 1") == [
        {"group_id": g} for g in (300, 301, 400, 500, 501)
    ]
    reasons = [
        r["reason"] for r in query(db_url, "select reason from ops.quarantine where entity = 'admin_groups' order by 1")
    ]
    assert reasons == [
        "cycle in group hierarchy: 300 -> 301 -> 300",
        "cycle in group hierarchy: 400 -> 400",
        "cycle in group hierarchy: 500 -> 501 -> 500",
    ]
    assert metrics["030_update_group_status"]["rows_quarantined"] == 3
