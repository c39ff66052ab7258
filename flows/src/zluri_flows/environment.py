"""What the libraries the pipeline runs read from the process environment only (when they start, or
when they are first imported), and setting it at the edge: the CLI's entry, a flow run's first
SparkSession. Light on purpose: the CLI applies it before it imports anything heavy."""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping

# Set for this process unless the operator set them.
PROCESS_DEFAULTS = {
    # Package loggers flow into Prefect's run logs (read when prefect is imported).
    "PREFECT_LOGGING_EXTRA_LOGGERS": "zluri_staging,zluri_pg,zluri_metrics",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # Prefect's ephemeral server starts in seconds on an idle machine; a busy one needs longer than
    # Prefect's default wait, and a day must not fail for that.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    # The pipeline must never phone home (GX reads it when first imported).
    "GX_ANALYTICS_ENABLED": "false",
    "SPARK_LOCAL_IP": "127.0.0.1",
    # Records are cut and loaded by Python on the executors: the same interpreter (and so the same
    # installed packages) as the driver unless told otherwise.
    "PYSPARK_PYTHON": sys.executable,
}


def apply_process_defaults(environ: MutableMapping[str, str] | None = None) -> None:
    env = os.environ if environ is None else environ
    for name, value in PROCESS_DEFAULTS.items():
        env.setdefault(name, value)
