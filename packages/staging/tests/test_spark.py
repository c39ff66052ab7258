"""Which Delta jars a session loads as local files (the session itself is built in conftest)."""

from __future__ import annotations

from zluri_staging.spark import delta_jars


def test_a_completed_jar_folder_lists_its_jars(tmp_path):
    for name in ("io.delta_delta-spark_2.13-4.4.0.jar", "io.delta_delta-storage-4.4.0.jar"):
        (tmp_path / name).write_bytes(b"PK")
    (tmp_path / ".complete").write_text("")
    assert [p.name for p in delta_jars(tmp_path)] == [
        "io.delta_delta-spark_2.13-4.4.0.jar",
        "io.delta_delta-storage-4.4.0.jar",
    ]


def test_a_folder_copied_half_way_or_missing_is_not_used(tmp_path):
    (tmp_path / "io.delta_delta-spark_2.13-4.4.0.jar").write_bytes(b"PK")
    assert delta_jars(tmp_path) == []  # no .complete: Ivy resolves instead
    assert delta_jars(tmp_path / "absent") == []
