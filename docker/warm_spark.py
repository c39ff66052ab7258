"""Resolve Delta's jars and the S3 jars (hadoop-aws of pyspark's Hadoop + the AWS SDK bundle)
into an Ivy cache, and prove Spark + Delta start with them.

docker/prepare-context.sh runs it on the host (ZLURI_IVY_DIR=<cache folder>) with the pinned
pyspark and delta-spark, once per pair of versions; the Dockerfile copies that folder to
/opt/zluri/ivy (spark.jars.ivy in spark-defaults.conf) and runs it again at build time to
check that the image starts Spark from the copied cache, so flow runs never need Maven
Central, for s3a:// input or bronze too. The coordinates are the pipeline's own:
`configure_spark_with_delta_pip` plus `zluri_staging.spark.s3_packages` (computed the same way
here: this script runs where only pyspark and delta-spark are installed).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pyspark
from delta import configure_spark_with_delta_pip
from pyspark.sql import SparkSession

# hadoop-aws must be exactly the Hadoop version of pyspark's client jars.
_jars = Path(pyspark.__file__).parent / "jars"
HADOOP = sorted(j.name for j in _jars.glob("hadoop-client-api-*.jar"))[-1][len("hadoop-client-api-") : -len(".jar")]
S3_PACKAGES = [f"org.apache.hadoop:hadoop-aws:{HADOOP}"]

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
started = time.monotonic()
builder = (
    SparkSession.builder.master("local[1]")
    .appName("zluri-image-warmup")
    .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
    .config(
        "spark.sql.catalog.spark_catalog",
        "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    )
    .config("spark.ui.enabled", "false")
)
if os.environ.get("ZLURI_IVY_DIR"):
    builder = builder.config("spark.jars.ivy", os.environ["ZLURI_IVY_DIR"])
spark = configure_spark_with_delta_pip(builder, extra_packages=S3_PACKAGES).getOrCreate()
workdir = tempfile.mkdtemp(prefix="zluri-warmup-")
try:
    path = os.path.join(workdir, "delta")
    spark.range(3).write.format("delta").mode("overwrite").save(path)
    rows = spark.read.format("delta").load(path).count()
    assert rows == 3, rows
    # Looked up as Hadoop finds a FileSystem for s3a:// (its Configuration's class loader holds the
    # jars of spark.jars.packages); py4j's Class.forName would search only the JVM's class path.
    assert spark._jsc.hadoopConfiguration().getClassByName("org.apache.hadoop.fs.s3a.S3AFileSystem") is not None
    print(
        f"spark {spark.version} with delta and {S3_PACKAGES[0]} ready in {time.monotonic() - started:.1f}s "
        f"(ivy: {spark.conf.get('spark.jars.ivy', '~/.ivy2.5.2')})"
    )
finally:
    spark.stop()
    shutil.rmtree(workdir, ignore_errors=True)
