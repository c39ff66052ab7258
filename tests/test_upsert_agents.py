"""Agents: status per day from the agents list and the deactivated flag; roles replaced per agent."""

from sqlsteps import query, run_day, statuses


def agent(agent_id, **kw):
    return {
        "agent_id": agent_id,
        "email": f"a{agent_id}@example.test",
        "name": f"Agent {agent_id}",
        "updated_at": "2026-01-01T00:00:00Z",
        **kw,
    }


def test_agent_leaves_and_returns(db_url):
    run_day(db_url, "day1", {"stg_agents": [agent(1), agent(2)], "stg_agent_details": [agent(1), agent(2)]})
    assert statuses(db_url, "agents", "agent_id") == {1: "active", 2: "active"}

    # Agent 2 drops out of the agents list (still has a details file) -> inactive.
    run_day(db_url, "day2", {"stg_agents": [agent(1)], "stg_agent_details": [agent(1), agent(2)]})
    assert statuses(db_url, "agents", "agent_id") == {1: "active", 2: "inactive"}

    # Missing everywhere -> still known, inactive; then it returns -> active again.
    run_day(db_url, "day3", {"stg_agents": [agent(1)]})
    assert statuses(db_url, "agents", "agent_id") == {1: "active", 2: "inactive"}
    run_day(db_url, "day4", {"stg_agents": [agent(1), agent(2)]})
    assert statuses(db_url, "agents", "agent_id") == {1: "active", 2: "active"}

    history = query(db_url, "select day, status, listed from core.agent_status_history where agent_id = 2 order by day")
    assert history == [
        {"day": "day1", "status": "active", "listed": True},
        {"day": "day2", "status": "inactive", "listed": False},
        {"day": "day3", "status": "inactive", "listed": False},
        {"day": "day4", "status": "active", "listed": True},
    ]
    assert query(db_url, "select first_seen_day, last_seen_day from core.agents where agent_id = 2") == [
        {"first_seen_day": "day1", "last_seen_day": "day4"}
    ]


def test_deactivated_agent_is_inactive_even_when_listed(db_url):
    metrics = run_day(
        db_url,
        "day1",
        {
            "stg_agents": [agent(1), agent(3, deactivated=True)],
            "stg_agent_details": [agent(3, deactivated=True), agent(4)],  # 4 only has details -> inactive
        },
    )
    assert statuses(db_url, "agents", "agent_id") == {1: "active", 3: "inactive", 4: "inactive"}
    assert query(db_url, "select agent_id, deactivated, listed from core.agents order by 1") == [
        {"agent_id": 1, "deactivated": False, "listed": True},
        {"agent_id": 3, "deactivated": True, "listed": True},
        {"agent_id": 4, "deactivated": False, "listed": False},
    ]
    m = metrics["010_upsert_agents"]
    assert (m["rows_read"], m["rows_inserted"], m["rows_updated"], m["status"]) == (3, 3, 0, "success")


def test_role_removed_and_added(db_url):
    roles = [{"role_id": 10, "name": "Admin"}, {"role_id": 11, "name": "Agent"}]
    run_day(
        db_url,
        "day1",
        {
            "stg_agents": [agent(1)],
            "stg_agent_details": [agent(1)],
            "stg_roles": roles,
            "stg_agent_roles": [{"agent_id": 1, "role_id": 10}, {"agent_id": 1, "role_id": 11}],
        },
    )
    assert query(db_url, "select agent_id, role_id from core.agent_roles order by 2") == [
        {"agent_id": 1, "role_id": 10},
        {"agent_id": 1, "role_id": 11},
    ]

    metrics = run_day(
        db_url,
        "day2",
        {
            "stg_agents": [agent(1)],
            "stg_agent_details": [agent(1)],
            "stg_roles": roles,
            "stg_agent_roles": [{"agent_id": 1, "role_id": 11}],
        },
    )
    assert query(db_url, "select agent_id, role_id from core.agent_roles") == [{"agent_id": 1, "role_id": 11}]
    m = metrics["017_upsert_agent_roles"]
    assert (m["rows_inserted"], m["rows_deleted"], m["rows_skipped"]) == (0, 1, 1)
