"""fs.py: local paths are checked locally, URLs through Hadoop's FileSystem."""

from __future__ import annotations

from pathlib import Path

from zluri_staging.fs import folder_exists, hadoop_folder_exists, is_remote, local_path


def test_local_paths_and_urls_are_told_apart(tmp_path: Path):
    assert local_path(str(tmp_path)) == tmp_path
    assert local_path(f"file://{tmp_path}/a%20b") == tmp_path / "a b"
    assert local_path("s3a://bucket/feed") is None
    assert is_remote("s3a://bucket/feed") and is_remote("hdfs://nn/feed")
    assert not is_remote("/srv/feed") and not is_remote("file:///srv/feed")


def test_folder_exists_locally_and_through_hadoop(spark, tmp_path: Path):
    (tmp_path / "sync-day1").mkdir()
    (tmp_path / "file.json").write_text("[]")
    assert folder_exists(spark, str(tmp_path / "sync-day1"))
    assert not folder_exists(spark, str(tmp_path / "sync-day2"))
    # The Hadoop branch (what s3a:// roots take), on the file system every machine has.
    assert hadoop_folder_exists(spark, f"file://{tmp_path}/sync-day1")
    assert not hadoop_folder_exists(spark, f"file://{tmp_path}/sync-day2")
    assert not hadoop_folder_exists(spark, f"file://{tmp_path}/file.json")
