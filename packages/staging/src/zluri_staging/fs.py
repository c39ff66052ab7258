"""Where the input and bronze live: the local file system or any file system Hadoop reaches
(``s3a://``, ``hdfs://``, ``gs://``...). Remote paths are checked through the session's Hadoop
FileSystem, with the same configuration and credentials Spark reads them with, never with ``os``.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from pyspark.sql import SparkSession

__all__ = ["folder_exists", "hadoop_folder_exists", "is_remote", "local_path"]


def local_path(url: str) -> Path | None:
    """The local path of ``url`` (no scheme, or ``file:``), else None."""
    parsed = urlparse(str(url))
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" or len(parsed.scheme) == 1:  # one letter: a Windows drive, not a scheme
        return Path(str(url))
    return None


def is_remote(url: str) -> bool:
    return local_path(url) is None


def folder_exists(spark: SparkSession, url: str) -> bool:
    """Whether ``url`` is an existing folder; remote URLs go through Hadoop's FileSystem.

    On an object store a "folder" is a key prefix: S3A reports one as a directory when any
    object lies under it."""
    local = local_path(url)
    if local is not None:
        return local.is_dir()
    return hadoop_folder_exists(spark, url)


def hadoop_folder_exists(spark: SparkSession, url: str) -> bool:
    """``folder_exists`` through the session's Hadoop FileSystem, whatever the scheme."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None, "the session has no JVM gateway"
    path = jvm.org.apache.hadoop.fs.Path(url)
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    try:
        return bool(fs.getFileStatus(path).isDirectory())
    except Exception as exc:  # noqa: BLE001 - py4j wraps Java's FileNotFoundException
        if "FileNotFoundException" in str(exc):
            return False
        raise
