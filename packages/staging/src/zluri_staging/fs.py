"""Where the input and bronze live: the local file system or any file system Hadoop reaches
(``s3a://``, ``hdfs://``, ``gs://``...). Remote paths are checked through the session's Hadoop
FileSystem, with the same configuration and credentials Spark reads them with, never with ``os``.

Python code on the executors has no JVM to ask, so for opening ``s3a://`` objects there the
driver takes the S3A settings of its Hadoop configuration (endpoint, region, TLS, credentials)
into ``S3Settings``, which travel with the task and open the object with Arrow's S3 client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from pyspark.sql import SparkSession

__all__ = ["S3Settings", "folder_exists", "hadoop_folder_exists", "is_remote", "local_path", "open_s3a"]


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


@dataclass(frozen=True)
class S3Settings:
    """The S3A settings of a session, for Arrow's S3 client. Secrets never appear in its repr."""

    endpoint: str | None = None  # host[:port], None for AWS itself
    scheme: str = "https"
    region: str | None = None
    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_session(cls, spark: SparkSession) -> S3Settings:
        """From the session's Hadoop configuration (``spark.hadoop.fs.s3a.*``; Spark also copies
        ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN`` into it). Without
        keys, Arrow falls back to the AWS default chain (environment, instance profile, web identity)."""
        conf = spark.sparkContext._jsc.hadoopConfiguration()
        endpoint = conf.get("fs.s3a.endpoint") or None
        ssl = (conf.get("fs.s3a.connection.ssl.enabled") or "true").strip().lower() != "false"
        scheme = "https" if ssl else "http"
        if endpoint and "://" in endpoint:
            parsed = urlparse(endpoint)
            scheme, endpoint = parsed.scheme, parsed.netloc
        return cls(
            endpoint=endpoint,
            scheme=scheme,
            region=conf.get("fs.s3a.endpoint.region") or conf.get("fs.s3a.region") or None,
            access_key=conf.get("fs.s3a.access.key") or None,
            secret_key=conf.get("fs.s3a.secret.key") or None,
            session_token=conf.get("fs.s3a.session.token") or None,
        )


def s3a_object(uri: str) -> str:
    """``s3a://bucket/key`` -> ``bucket/key`` (Arrow's S3 path)."""
    parsed = urlparse(uri)
    if parsed.scheme not in ("s3a", "s3") or not parsed.netloc:
        raise ValueError(f"not an s3a:// object URI: {uri}")
    return parsed.netloc + unquote(parsed.path)


def open_s3a(uri: str, settings: S3Settings) -> Any:
    """A binary input stream of the object at ``uri``, streamed (never read whole)."""
    from pyarrow import fs

    # With an endpoint override Arrow addresses buckets by path, as fs.s3a.path.style.access does.
    filesystem = fs.S3FileSystem(
        access_key=settings.access_key,
        secret_key=settings.secret_key,
        session_token=settings.session_token,
        region=settings.region,
        scheme=settings.scheme,
        endpoint_override=settings.endpoint,
    )
    return filesystem.open_input_stream(s3a_object(uri))
