"""S3 side of ``make cluster-e2e``, run with the cluster tools venv (boto3). Credentials and the
endpoint come from the standard AWS variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_ENDPOINT_URL); nothing here prints them.

wait TIMEOUT                          poll the endpoint until it answers (bounded)
upload BUCKET PREFIX DIR              create BUCKET, put DIR's sync-*/ files under PREFIX/
bronze BUCKET PREFIX DAYS ENTITIES    check a Delta table per entity under PREFIX/ with a
                                      day=<day> partition per day (comma-separated lists)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError


def _client():  # noqa: ANN202 - boto3's client type is generated at run time
    return boto3.client("s3", region_name="us-east-1")


def wait(timeout: str) -> int:
    deadline = time.monotonic() + float(timeout)
    last = ""
    while time.monotonic() < deadline:
        try:
            _client().list_buckets()
            return 0
        except (BotoCoreError, ClientError) as exc:
            last = type(exc).__name__
        time.sleep(0.3)
    print(f"the S3 endpoint did not answer within {timeout}s ({last})", file=sys.stderr)
    return 1


def upload(bucket: str, prefix: str, folder: str) -> int:
    client = _client()
    client.create_bucket(Bucket=bucket)
    root = Path(folder)
    files = sorted(p for p in root.glob("sync-*/**/*") if p.is_file())
    for path in files:
        client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(root).as_posix()}")
    listed = sum(
        page.get("KeyCount", 0)
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/")
    )
    print(f"s3://{bucket}/{prefix}/: {len(files)} files uploaded, {listed} listed")
    return 0 if listed == len(files) > 0 else 1


def bronze(bucket: str, prefix: str, days: str, entities: str) -> int:
    client = _client()
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/"):
        keys.extend(obj["Key"] for obj in page.get("Contents", []))
    failures = 0
    for entity in entities.split(","):
        base = f"{prefix}/{entity}/"
        commits = [k for k in keys if k.startswith(base + "_delta_log/") and k.endswith(".json")]
        parts = {
            d: [k for k in keys if k.startswith(f"{base}day={d}/") and k.endswith(".parquet")] for d in days.split(",")
        }
        ok = bool(commits) and all(parts.values())
        failures += not ok
        print(
            f"{'ok  ' if ok else 'FAIL'} s3://{bucket}/{base}: {len(commits)} Delta commits, "
            + ", ".join(f"day={d}: {len(p)} parquet" for d, p in parts.items())
        )
    return 1 if failures else 0


COMMANDS: dict[str, tuple[Callable[..., int], int | None]] = {
    "wait": (wait, 1),
    "upload": (upload, 3),
    "bronze": (bronze, 4),
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS or len(argv) - 1 != COMMANDS[argv[0]][1]:
        print(__doc__, file=sys.stderr)
        return 64
    function, _ = COMMANDS[argv[0]]
    return function(*argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
