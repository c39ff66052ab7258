from pathlib import Path

from zluri_flows.dag import STAGE_DEPENDENCIES, UPSERT_DEPENDENCIES
from zluri_pg import sql_dir


def test_every_upsert_file_is_a_step_and_every_step_has_a_file():
    files = {p.stem for p in Path(sql_dir(), "upserts").glob("*.sql")}
    assert files == set(UPSERT_DEPENDENCIES)


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
