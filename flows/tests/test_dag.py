from pathlib import Path

from zluri_flows.dag import (
    GUARD,
    HELPDESK_ENTITIES,
    SPEND_ENTITIES,
    STAGE_DEPENDENCIES,
    UPSERT_DEPENDENCIES,
    feed_steps,
)
from zluri_pg import sql_dir


def test_every_upsert_file_is_a_step_and_every_step_has_a_file():
    files = {p.stem for p in Path(sql_dir(), "upserts").glob("*.sql")}
    assert files == set(UPSERT_DEPENDENCIES)


def test_the_files_numeric_prefixes_follow_the_run_order_written_here():
    files = sorted(p.stem for p in Path(sql_dir(), "upserts").glob("*.sql"))
    assert all(name[:3].isdigit() and name[3] == "_" for name in files), files
    assert files == list(UPSERT_DEPENDENCIES)


def test_each_feed_has_its_steps_and_every_step_but_the_guard_belongs_to_one_feed():
    helpdesk, spend = feed_steps(HELPDESK_ENTITIES), feed_steps(SPEND_ENTITIES)
    assert set(HELPDESK_ENTITIES) | set(SPEND_ENTITIES) == set(STAGE_DEPENDENCIES)
    assert not set(helpdesk) & set(spend)
    assert [s for s in UPSERT_DEPENDENCIES if s != GUARD] == sorted(
        helpdesk + spend, key=list(UPSERT_DEPENDENCIES).index
    )
    # a step with no staged input of its own joins the feed of the steps it waits for
    assert "030_update_group_status" in helpdesk and "040_upsert_transactions" in spend


def test_dependencies_name_known_tasks_declared_earlier():
    seen: set[str] = set()
    for entity, needs in STAGE_DEPENDENCIES.items():
        assert set(needs) <= seen, entity
        seen.add(entity)
    steps_seen: set[str] = set()
    for step, (staged, steps) in UPSERT_DEPENDENCIES.items():
        assert set(staged) <= set(STAGE_DEPENDENCIES), step
        assert set(steps) <= steps_seen, step
        steps_seen.add(step)


def test_group_status_waits_for_final_agents_and_memberships():
    _, steps = UPSERT_DEPENDENCIES["030_update_group_status"]
    assert {"010_upsert_agents", "020_upsert_groups"} <= set(steps)
