"""Benchmark: stage one generated feed day (all entities) into Postgres and print figures.

    .venv/bin/python tools/bench_staging.py [--transactions 500000] [--agents 20000] [--feed DIR]

Prints rows/s and seconds per entity, the total staging time (Spark start excluded) and the peak
memory of the driver process plus the JVM (RSS, sampled every 0.2 s). A script that prints
figures, never a test. The feed comes from ``zluri_flows.generator.generate_feed`` (reused when
``--feed`` already holds one with the same parameters); the database is ``ZLURI_DATABASE_URL``
or a fresh database on the embedded server under a temporary ZLURI_HOME.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
import uuid
from pathlib import Path

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

ORDER = ["roles", "agents", "agent_details", "admin_groups", "budgets", "cards", "transactions"]


class PeakMemory:
    """Peak RSS of this process and its children (the JVM), sampled in a thread."""

    def __init__(self, interval: float = 0.2) -> None:
        import psutil

        self.process = psutil.Process()
        self.interval = interval
        self.peak = 0
        self.peak_driver = 0
        self.peak_jvm = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        driver = self.process.memory_info().rss
        jvm = 0
        for child in self.process.children(recursive=True):
            try:
                jvm += child.memory_info().rss
            except Exception:  # noqa: BLE001 - a child may exit between listing and reading
                pass
        self.peak_driver = max(self.peak_driver, driver)
        self.peak_jvm = max(self.peak_jvm, jvm)
        self.peak = max(self.peak, driver + jvm)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            time.sleep(self.interval)

    def cpu_seconds(self) -> float:
        """User + system CPU of this process and its children so far (the load of the machine
        varies; CPU seconds do not)."""
        total = sum(self.process.cpu_times()[:2])
        for child in self.process.children(recursive=True):
            try:
                total += sum(child.cpu_times()[:2])
            except Exception:  # noqa: BLE001
                pass
        return total

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


def feed(out: Path, transactions: int, agents: int, groups: int) -> dict:
    params = {"transactions": transactions, "agents": agents, "groups": groups}
    marker = out / "bench_params.json"
    if marker.exists() and json.loads(marker.read_text()) == params and (out / "sync-day1").is_dir():
        print(f"reusing feed in {out}")
        return json.loads((out / "expected.json").read_text())
    from zluri_flows.generator import generate_feed

    started = time.perf_counter()
    truth = generate_feed(out, days=1, agents=agents, groups=groups, depth=10, transactions=transactions)
    marker.write_text(json.dumps(params))
    print(f"generated feed in {out} in {time.perf_counter() - started:.0f} s")
    return truth


def database(home: Path) -> str:
    url = os.environ.get("ZLURI_DATABASE_URL")
    if url:
        return url
    import psycopg

    from zluri_pg import embedded, migrate

    server = embedded.ensure_running()
    name = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(f"create database {name}")
    url = psycopg.conninfo.make_conninfo(server.url, dbname=name)
    migrate(url)
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=500_000)
    parser.add_argument("--agents", type=int, default=20_000)
    parser.add_argument("--groups", type=int, default=2_000)
    parser.add_argument("--feed", type=Path, default=Path(tempfile.gettempdir()) / "zluri_bench_feed")
    parser.add_argument("--home", type=Path, default=None, help="ZLURI_HOME (default: a temporary folder)")
    parser.add_argument(
        "--conf", action="append", default=[], metavar="KEY=VALUE", help="extra Spark conf for build_spark"
    )
    parser.add_argument("--entities", default=",".join(ORDER), help="comma-separated, in staging order")
    args = parser.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="zluri_bench_home_"))
    os.environ["ZLURI_HOME"] = str(home)
    truth = feed(args.feed, args.transactions, args.agents, args.groups)
    url = database(home)

    from zluri_staging.spark import build_spark
    from zluri_staging.stage import stage_entity

    with PeakMemory() as memory:
        started = time.perf_counter()
        spark = build_spark(extra_conf=dict(item.split("=", 1) for item in args.conf))
        spark_start = time.perf_counter() - started
        run = str(uuid.uuid4())
        rows = []
        total_started = time.perf_counter()
        for entity in args.entities.split(","):
            t0 = time.perf_counter()
            cpu0 = memory.cpu_seconds()
            result = stage_entity(
                spark, entity, day="day1", flow_run_id=run, input_root=str(args.feed), database_url=url, home=home
            )
            seconds = time.perf_counter() - t0
            cpu = memory.cpu_seconds() - cpu0
            rows.append((entity, result, seconds))
            print(
                f"  {entity}: {seconds:.1f} s wall, {cpu:.1f} s CPU, load {os.getloadavg()[0]:.1f}; {result.phases}",
                flush=True,
            )
        total = time.perf_counter() - total_started
        spark.stop()

    expected = truth["per_day"]["day1"]
    print(
        f"\nSpark start: {spark_start:.1f} s (excluded)   master: {os.environ.get('ZLURI_SPARK_MASTER', 'local[*]')}"
        f"   cores: {os.cpu_count()}"
    )
    header = ("entity", "read", "loaded", "quar", "dup", "secs", "rows/s")
    print("{:14s} {:>8s} {:>8s} {:>6s} {:>6s} {:>7s} {:>9s}  truth(records/dup)".format(*header))
    for entity, result, seconds in rows:
        print(
            f"{entity:14s} {result.read:8d} {result.loaded:8d} {result.quarantined:6d} {result.duplicates:6d} "
            f"{seconds:7.1f} {result.read / seconds:9.0f}  "
            f"{expected['records'].get(entity)}/{expected['duplicates'].get(entity)}"
        )
        for name, counts in result.derived.items():
            print(
                f"  {name:12s} {counts.candidates:8d} {counts.loaded:8d} {counts.quarantined:6d} {counts.duplicates:6d}"
            )
    print(f"\ntotal staging: {total:.1f} s (all entities, Spark start excluded)")
    for entity, _, seconds in rows:
        if entity == "transactions":
            print(f"transactions: {seconds:.1f} s")
    gib = 1024**3
    print(
        f"peak memory: {memory.peak / gib:.2f} GiB (driver {memory.peak_driver / gib:.2f} GiB, "
        f"JVM {memory.peak_jvm / gib:.2f} GiB; peaks sampled separately)"
    )


if __name__ == "__main__":
    main()
