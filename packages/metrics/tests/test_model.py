import psycopg
import pytest

from zluri_metrics.model import COLUMNS, MetricsRow


def test_model_and_migration_agree_column_for_column(db_url):
    with psycopg.connect(db_url) as conn:
        table_columns = [
            r[0]
            for r in conn.execute(
                "select column_name from information_schema.columns "
                "where table_schema = 'ops' and table_name = 'pipeline_metrics' and column_name <> 'id' "
                "order by ordinal_position"
            )
        ]
    assert sorted(table_columns) == sorted(COLUMNS)


def test_status_must_be_success_or_failure():
    with pytest.raises(ValueError, match="status"):
        MetricsRow("r", "t", "p", "core.x", "day1", status="ok")  # type: ignore[arg-type]


def test_counts_cannot_be_negative():
    with pytest.raises(ValueError, match="rows_inserted"):
        MetricsRow("r", "t", "p", "core.x", "day1", status="success", rows_inserted=-1)


def test_from_mapping_ignores_id_and_converts_duration():
    row = MetricsRow.from_mapping(
        {
            "id": 7,
            "flow_run_id": "r",
            "task_name": "t",
            "pipeline_name": "p",
            "table_name": "core.x",
            "day": "day1",
            "status": "success",
            "duration_seconds": "1.250",
        }
    )
    assert row == MetricsRow("r", "t", "p", "core.x", "day1", status="success", duration_seconds=1.25)
