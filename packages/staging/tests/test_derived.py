"""derived.py: each derived table declared once, and what reads the declaration agrees with the
table it loads: its staging columns are its keys, its parent's plan carries the id list and loads
the parent's table, its suite checks its keys, and the explode keeps every listed id (whole frame)."""

from __future__ import annotations

from chispa import assert_df_equality

from zluri_staging.derived import DERIVED, MEMBERSHIPS, derived_from
from zluri_staging.plans import PLANS
from zluri_staging.schemas import STAGING
from zluri_staging.suites import SUITES, compound_unique, not_null
from zluri_staging.transforms import explode_ids


def test_each_declaration_matches_its_staging_table_parent_plan_and_suite():
    assert set(DERIVED) == {"agent_roles", "group_memberships"}
    for name, derived in DERIVED.items():
        assert [f.name for f in STAGING[derived.table].fields] == list(derived.keys)
        assert PLANS[derived.parent].derived == (derived,)
        assert derived_from(derived.parent) == (derived,)
        assert SUITES[name] == (*(not_null(k) for k in derived.keys), compound_unique(*derived.keys))


def test_memberships_explode_one_row_per_listed_id_with_its_raw_text(spark):
    groups = spark.createDataFrame(
        [
            ("sync-d/admin_groups/1.json", 0, 69000000500, ["69000000001", "a-1", None]),
            ("sync-d/admin_groups/1.json", 1, 69000000501, []),
            ("sync-d/admin_groups/1.json", 2, 69000000502, None),
        ],
        "source_file string, position int, group_id long, _agent_ids array<string>",
    )

    assert_df_equality(
        explode_ids(MEMBERSHIPS, groups),
        spark.createDataFrame(
            [
                (
                    "sync-d/admin_groups/1.json",
                    0,
                    '{"group_id":69000000500,"agent_id":"69000000001"}',
                    69000000500,
                    "69000000001",
                    69000000001,
                ),
                (
                    "sync-d/admin_groups/1.json",
                    0,
                    '{"group_id":69000000500,"agent_id":"a-1"}',
                    69000000500,
                    "a-1",
                    None,
                ),
                ("sync-d/admin_groups/1.json", 0, '{"group_id":69000000500}', 69000000500, None, None),
            ],
            "source_file string, position int, raw_record string, group_id long, _agent_raw string, agent_id long",
        ),  # fmt: skip
        ignore_nullable=True,
        ignore_row_order=True,
    )
