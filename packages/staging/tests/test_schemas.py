"""schemas.py: the staging schemas are exactly the loaded columns of V002 (the contract), in table
order, and every entity has a layout, a record schema and a primary table."""

from __future__ import annotations

import psycopg
from pyspark.sql import types as T

from zluri_staging.schemas import ENTITIES, QUARANTINE, STAGING

PG_TYPES: dict[T.DataType, set[str]] = {
    T.StringType(): {"text", "character"},
    T.LongType(): {"bigint"},
    T.IntegerType(): {"integer"},
    T.BooleanType(): {"boolean"},
    T.TimestampType(): {"timestamp with time zone"},
    T.DateType(): {"date"},
}


def pg_type_matches(spark_type: T.DataType, pg_type: str) -> bool:
    if isinstance(spark_type, T.DecimalType):
        return pg_type == "numeric"
    return pg_type in PG_TYPES[spark_type]


def test_staging_schemas_are_the_v002_columns_in_order(db_url):
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "select table_name, column_name, data_type, is_nullable from information_schema.columns "
            "where table_schema = 'staging' order by table_name, ordinal_position"
        ).fetchall()
        quarantine = conn.execute(
            "select column_name from information_schema.columns where table_schema = 'ops' "
            "and table_name = 'quarantine' order by ordinal_position"
        ).fetchall()
    columns: dict[str, list[tuple[str, str, str]]] = {}
    for table, column, data_type, nullable in rows:
        # The run and load columns are added by the loader (load.py), not part of a staged row.
        if column not in ("flow_run_id", "day", "load_id", "load_part"):
            columns.setdefault(table, []).append((column, data_type, nullable))

    assert sorted(columns) == sorted(STAGING)
    for table, schema in STAGING.items():
        assert [c for c, _, _ in columns[table]] == schema.fieldNames(), table
        for field, (_, data_type, nullable) in zip(schema.fields, columns[table]):
            assert pg_type_matches(field.dataType, data_type), (table, field.name, data_type)
            assert field.nullable == (nullable == "YES"), (table, field.name)
    assert set(QUARANTINE.fieldNames()) <= {c for (c,) in quarantine}


def test_every_entity_has_a_layout_and_a_staging_table():
    assert {e: (s.layout, s.required, s.table) for e, s in ENTITIES.items()} == {
        "agents": ("array", True, "stg_agents"),
        "agent_details": ("object", False, "stg_agent_details"),
        "roles": ("array", False, "stg_roles"),
        "admin_groups": ("array", True, "stg_groups"),
        "budgets": ("results", False, "stg_budgets"),
        "cards": ("results", False, "stg_cards"),
        "transactions": ("results", True, "stg_transactions"),
    }
    # Every scalar is read as text (see schemas.py); the only nested struct is currencyData.
    leaves = [
        leaf
        for spec in ENTITIES.values()
        for f in spec.record.fields
        for leaf in (f.dataType.fields if isinstance(f.dataType, T.StructType) else [f])
    ]
    assert all(isinstance(leaf.dataType, T.StringType) for leaf in leaves)
