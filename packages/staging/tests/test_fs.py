"""fs.py: local paths are checked locally, URLs through Hadoop's FileSystem."""

from __future__ import annotations

from pathlib import Path

import pytest

from zluri_staging.fs import S3Settings, folder_exists, hadoop_folder_exists, is_remote, local_path, s3a_object


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


def test_s3_settings_come_from_the_sessions_hadoop_configuration(spark):
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    values = {
        "fs.s3a.endpoint": "http://127.0.0.1:9000",
        "fs.s3a.endpoint.region": "eu-west-1",
        "fs.s3a.access.key": "AKIDEXAMPLE",
        "fs.s3a.secret.key": "not-for-logs",
    }
    before = {key: conf.get(key) for key in values}
    try:
        for key, value in values.items():
            conf.set(key, value)
        settings = S3Settings.from_session(spark)
    finally:
        for key, value in before.items():
            conf.unset(key) if value is None else conf.set(key, value)
    assert settings == S3Settings("127.0.0.1:9000", "http", "eu-west-1", "AKIDEXAMPLE", "not-for-logs")
    assert "not-for-logs" not in repr(settings) and "AKIDEXAMPLE" not in repr(settings)
    assert S3Settings.from_session(spark) == S3Settings()  # AWS itself, default credential chain


def test_s3a_uris_map_to_arrow_paths():
    assert s3a_object("s3a://zluri-feed/feed/sync-day1/agents/1.json") == "zluri-feed/feed/sync-day1/agents/1.json"
    with pytest.raises(ValueError, match="not an s3a:// object URI"):
        s3a_object("/local/file.json")
