"""``zluri bench`` / ``make bench``: whole days through the flow on generated feeds of realistic
shape, beside the floor measured in the same run, and a check of the result against the
generator's truth. A script that prints figures, never a test.

For each layout (transactions in files of 5,000 records, of 50,000, or one file per entity and
day; agent_details always one file per agent) it generates the workload once (cached under
``--out``), starts a fresh embedded Postgres home, and then:

1. measures the floor in a separate process (so a failure there cannot take the run down): Spark
   start, and an explicit-schema read and count of each entity's files with Spark's own JSON reader;
2. starts the session and its warm-up while Prefect's temporary server starts (as ``zluri run``
   does; the start is printed apart), then runs the days in order through ``zluri_day_pipeline``
   (real Prefect, one SparkSession), sampling the peak RSS of the whole process tree: this process,
   the JVM, Python workers, Prefect's server and the Postgres server's processes;
3. measures the Postgres floor: COPY of the final core rows plus one upsert of them;
4. compares core tables with the generator's truth (agents active/inactive, inactive groups,
   distinct transactions) and exits 1 on any mismatch.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, LiteralString

from zluri_flows.environment import apply_process_defaults
from zluri_flows.extras import MissingExtra, feed_generator

if TYPE_CHECKING:
    import psycopg

SCALES: dict[str, dict[str, int]] = {
    "S": {"agents": 2_000, "groups": 200, "depth": 15, "transactions": 10_000},
    "M": {"agents": 20_000, "groups": 2_000, "depth": 15, "transactions": 100_000},
    "L": {"agents": 100_000, "groups": 20_000, "depth": 15, "transactions": 500_000},
}
LAYOUTS = {"files5k": 5_000, "files50k": 50_000, "onefile": 1 << 31}
ENTITIES = ["roles", "agents", "agent_details", "admin_groups", "budgets", "cards", "transactions"]
GIB = 1024**3


# -- memory of the whole process tree ---------------------------------------------------------------


class TreeMemory:
    """Peak RSS of this process, all its descendants and the Postgres server's processes, summed at
    each sample (every 0.2 s). RSS counts a page shared by several processes (Postgres' shared
    buffers, forked Python workers) once per process; the peak of the proportional set size (PSS,
    each shared page split among its sharers) is kept beside it as the tree's actual footprint."""

    def __init__(self, postmaster_pid: int | None, interval: float = 0.2) -> None:
        import psutil

        self._psutil = psutil
        self.me = psutil.Process()
        self.postmaster = psutil.Process(postmaster_pid) if postmaster_pid else None
        self.interval = interval
        self.peak = 0
        self.peak_pss = 0
        self.peak_driver = 0  # this (the driver's) Python process alone
        self.peak_java = 0  # the JVM alone (on a local master: Spark's driver and executors)
        self.parts: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _processes(self) -> list[Any]:
        found = [self.me, *self.me.children(recursive=True)]
        if self.postmaster is not None:
            found += [self.postmaster, *self.postmaster.children(recursive=True)]
        return found

    def sample(self) -> int:
        parts: dict[str, int] = {}
        pss = 0
        for proc in self._processes():
            try:
                name = proc.name()
                kind = "java" if name == "java" else "postgres" if name.startswith("postgres") else "python"
                memory = proc.memory_full_info()
            except self._psutil.Error:
                continue
            parts[kind] = parts.get(kind, 0) + memory.rss
            pss += memory.pss
        try:
            self.peak_driver = max(self.peak_driver, self.me.memory_info().rss)
        except self._psutil.Error:
            pass
        self.peak_java = max(self.peak_java, parts.get("java", 0))
        self.peak_pss = max(self.peak_pss, pss)
        total = sum(parts.values())
        if total > self.peak:
            self.peak, self.parts = total, parts
        return total

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> TreeMemory:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def describe(self) -> str:
        parts = ", ".join(f"{k} {v / GIB:.2f}" for k, v in sorted(self.parts.items()))
        return (
            f"{self.peak / GIB:.2f} GiB ({parts}); PSS {self.peak_pss / GIB:.2f} GiB; "
            f"alone: driver's Python {self.peak_driver / GIB:.2f} GiB, JVM {self.peak_java / GIB:.2f} GiB"
        )


# -- workload ---------------------------------------------------------------------------------------


def workload(out: Path, scale: str, layout: str, days: int, transactions: int | None = None) -> Path:
    """The generated feed for ``scale`` and ``layout`` (reused when its parameters match)."""
    generate_feed = feed_generator()
    params = {**SCALES[scale], "days": days, "per_file": LAYOUTS[layout]}
    if transactions is not None:
        params["transactions"] = transactions
    folder = out / f"{scale}-{layout}-{params['transactions']}"
    marker = folder / "bench_params.json"
    if marker.exists() and json.loads(marker.read_text()) == params:
        return folder
    started = time.perf_counter()
    generate_feed(
        folder,
        days=days,
        agents=params["agents"],
        groups=params["groups"],
        depth=params["depth"],
        transactions=params["transactions"],
        transactions_per_file=params["per_file"],
    )
    marker.write_text(json.dumps(params))
    print(f"generated {folder} in {time.perf_counter() - started:.0f} s", flush=True)
    return folder


def _size(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.glob("*.json")]
    return len(files), sum(p.stat().st_size for p in files)


# -- floors -----------------------------------------------------------------------------------------


def read_floor(feed: Path, day: str, jars_dir: Path | None) -> dict[str, Any]:
    """Spark start, then an explicit-schema read and count of each entity's files with Spark's own
    JSON reader: the least any reader of these files can cost. Run in its own process."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from zluri_flows.config import spark_for_days, spark_settings
    from zluri_staging.schemas import ENTITIES as SPECS
    from zluri_staging.spark import build_spark

    started = time.perf_counter()
    # Sized as the run's session is (the same heap and JIT for the same day).
    spark = build_spark(settings=spark_for_days(spark_settings(), str(feed), [day]), jars_dir=jars_dir)
    figures: dict[str, Any] = {"spark_start": round(time.perf_counter() - started, 2)}
    # Spark's own split of files into tasks (the session packs a small read into one task).
    spark.conf.unset("spark.sql.files.minPartitionNum")
    for entity in ENTITIES:
        spec = SPECS[entity]
        folder = feed / f"sync-{day}" / entity
        if not folder.is_dir():
            continue
        started = time.perf_counter()
        try:
            reader = spark.read.option("multiLine", "true")
            if spec.layout == "results":
                page = T.StructType([T.StructField("results", T.ArrayType(spec.record))])
                total = reader.schema(page).json(str(folder)).select(F.sum(F.size("results"))).first()
                assert total is not None  # an aggregate without grouping returns one row
                count = total[0]
            else:
                count = reader.schema(spec.record).json(str(folder)).count()
            figures[entity] = {"seconds": round(time.perf_counter() - started, 2), "records": int(count or 0)}
        except Exception as exc:  # noqa: BLE001 - the floor reports what the simplest reader does
            figures[entity] = {"seconds": None, "error": str(exc).splitlines()[0][:160]}
    spark.stop()
    return figures


def _floor_in_process(feed: Path, day: str, jars_dir: Path) -> dict[str, Any]:
    command = [sys.executable, "-m", "zluri_flows.bench", "--floor-only", str(feed), day, str(jars_dir)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    lines = done.stderr.strip().splitlines()
    # Spark's own reader can run the JVM out of heap (a big top-level array is built whole), which
    # kills the JVM: say so rather than quote the Python side's lost connection.
    oom = [line for line in lines if "OutOfMemoryError" in line]
    return {"error": ((oom or lines or ["no output"])[-1]).strip()[:200]}


def postgres_floor(url: str) -> dict[str, float]:
    """COPY of the final core rows into a scratch table plus one upsert of them into another: the
    least the database side of the day can cost."""
    import psycopg

    tables = {"agents": "agent_id", "groups": "group_id", "transactions": "transaction_id"}
    figures = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for table, key in tables.items():
            buffer = io.BytesIO()
            with conn.cursor().copy(f"copy core.{table} to stdout") as copy:
                for data in copy:
                    buffer.write(data)
            conn.execute(f"drop table if exists pg_temp.floor_{table}, pg_temp.floor_{table}_core")
            conn.execute(f"create temp table floor_{table} (like core.{table})")
            conn.execute(f"create temp table floor_{table}_core (like core.{table} including all)")
            started = time.perf_counter()
            with conn.transaction():
                with conn.cursor().copy(f"copy floor_{table} from stdin") as copy:
                    copy.write(buffer.getvalue())
                conn.execute(
                    f"insert into floor_{table}_core select * from floor_{table} on conflict ({key}) do nothing"
                )
            figures[table] = round(time.perf_counter() - started, 3)
    return figures


# -- the run ----------------------------------------------------------------------------------------


@dataclass
class DayRun:
    day: str
    seconds: float
    tasks: dict[str, dict[str, Any]]


def run_days(feed: Path, days: list[str], jars_dir: Path) -> tuple[dict[str, float], list[DayRun]]:
    """Each day through the flow on one session (as a backfill does), started as ``zluri run`` starts
    it: the session and its warm-up (``zluri_staging.warmup``) run while Prefect's server starts, so
    the first day does not carry the process's one-off costs. Returns the start's figures."""
    from zluri_flows.config import largest_day_bytes, spark_settings
    from zluri_flows.flow import zluri_day_pipeline
    from zluri_flows.prefect_api import temporary_api
    from zluri_staging.spark import sized_for

    largest = largest_day_bytes(str(feed), days)  # listed once, for the session and its warm-up
    sized = sized_for(spark_settings(), largest, len(days))
    print(
        f"   session: driver memory {sized.driver_memory}, JIT {sized.jit}, memory fraction {sized.memory_fraction},"
        f" {'generated code' if sized.codegen else 'interpreted expressions'} (sized to the largest day)",
        flush=True,
    )
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=1) as pool:
        session = pool.submit(_warm_session, sized, jars_dir, days, largest)
        with temporary_api() as api:
            start: dict[str, float] = {}
            if api is not None:
                start["prefect"] = round(time.perf_counter() - started, 1)
            spark, start["spark"], start["warm_up"] = session.result()
            start["ready"] = round(time.perf_counter() - started, 1)
            print(f"   start: {_describe_start(start)}", flush=True)
            runs = []
            try:
                for day in days:
                    started = time.perf_counter()
                    result = zluri_day_pipeline(day, str(feed))
                    runs.append(DayRun(day, round(time.perf_counter() - started, 1), result["tasks"]))
                    print(f"  {day}: {runs[-1].seconds} s", flush=True)
            finally:
                spark.stop()
    return start, runs


def _warm_session(sized: Any, jars_dir: Path, days: list[str], largest: int | None) -> tuple[Any, float, float]:
    from zluri_flows.config import Settings
    from zluri_flows.session import warm_up_for_run
    from zluri_staging.spark import build_spark

    started = time.perf_counter()
    spark = build_spark(settings=sized, jars_dir=jars_dir)
    built = time.perf_counter()
    warm_up_for_run(spark, Settings.from_env().bronze_root, days, largest)
    return spark, round(built - started, 1), round(time.perf_counter() - built, 1)


def _describe_start(start: dict[str, float]) -> str:
    spark = f"Spark start {start['spark']} s + warm-up {start['warm_up']} s"
    if "prefect" not in start:
        return f"{spark}; ready after {start['ready']} s"
    return f"Prefect's temporary server {start['prefect']} s beside {spark}; ready after {start['ready']} s"


def _count(conn: psycopg.Connection[Any], query: LiteralString) -> int:
    row = conn.execute(query).fetchone()
    assert row is not None  # count(*) returns one row
    return int(row[0])


def check_truth(url: str, feed: Path) -> list[str]:
    """Core counts that differ from the generator's truth (empty when all agree)."""
    import psycopg

    final = json.loads((feed / "expected.json").read_text())["final"]
    want_agents = {s: sum(1 for a in final["agents"].values() if a["status"] == s) for s in ("active", "inactive")}
    want_inactive_groups = sum(1 for g in final["groups"].values() if g["status"] == "inactive")
    with psycopg.connect(url) as conn:
        got_agents: dict[str, int] = dict(
            conn.execute("select status, count(*) from core.agents group by 1").fetchall()
        )
        got_inactive_groups = _count(conn, "select count(*) from core.groups where status = 'inactive'")
        got_transactions = _count(conn, "select count(*) from core.transactions")
    problems = []
    for status, want in want_agents.items():
        if got_agents.get(status, 0) != want:
            problems.append(f"agents {status}: {got_agents.get(status, 0)} in core, {want} expected")
    if got_inactive_groups != want_inactive_groups:
        problems.append(f"inactive groups: {got_inactive_groups} in core, {want_inactive_groups} expected")
    if got_transactions != len(final["transactions"]):
        problems.append(f"transactions: {got_transactions} in core, {len(final['transactions'])} expected")
    return problems


def _fresh_home(base: Path, name: str) -> tuple[Path, str, int | None]:
    """A new home with its embedded server; the day flows read it from ZLURI_HOME."""
    home = base / f"home-{name}"
    os.environ["ZLURI_HOME"] = str(home)
    from zluri_pg import embedded

    server = embedded.ensure_running(home)
    return home, server.url, server.pid


def _discard_home(home: Path, *, keep: bool) -> None:
    """A layout's home holds a whole database and bronze copy (gigabytes at L): removed once its
    figures are printed, unless kept. The home of a layout that failed is always kept, to look into."""
    if keep:
        print(f"   home kept: {home}")
        return
    shutil.rmtree(home, ignore_errors=True)


def _ratio(value: float | None, floor: float | None) -> str:
    if not value or not floor:
        return "-"
    return f"{value / floor:.1f}x"


def report(layout: str, feed: Path, floor: dict[str, Any], runs: list[DayRun], pg_floor: dict[str, float]) -> None:
    print(f"\n== {layout}: {feed}")
    for entity in ENTITIES:
        files, size = _size(feed / "sync-day1" / entity)
        print(f"   input day1 {entity:14s} {files:6d} files {size / 2**20:9.1f} MiB")
    print(f"   floor: Spark start {floor.get('spark_start')} s; Postgres COPY + upsert {pg_floor} s")
    header = f"   {'day':6s} {'task':28s} {'seconds':>8s} {'records':>9s} {'rec/s':>8s} {'floor s':>8s} {'ratio':>6s}"
    print(header)
    for run in runs:
        for name, result in run.tasks.items():
            # a SQL step's metrics row carries numerics as text (see tasks.upsert_task)
            seconds = float(result.get("seconds") or result.get("duration_seconds") or 0.0)
            records = int(result.get("read", result.get("rows_read")) or 0)
            entity = name.removeprefix("stage_")
            floor_s = floor.get(entity, {}).get("seconds") if name.startswith("stage_") else None
            rate = f"{records / seconds:8.0f}" if seconds else f"{'-':>8s}"
            floor_text = f"{floor_s:8.2f}" if floor_s else f"{'-':>8s}"
            print(
                f"   {run.day:6s} {name:28s} {float(seconds):8.2f} {records:9d} {rate} {floor_text} "
                f"{_ratio(float(seconds), floor_s):>6s}"
            )
            phases = result.get("phases")
            if phases:
                print(f"   {'':6s}   phases: " + ", ".join(f"{k} {v:.2f}" for k, v in phases.items()))
        print(f"   {run.day:6s} {'whole day (wall, incl. Prefect)':28s} {run.seconds:8.1f}")
    if floor.get("error"):
        print(f"   floor process failed, no read floor in this run: {floor['error']}")
    failed = {k: v.get("error") for k, v in floor.items() if isinstance(v, dict) and v.get("error")}
    if failed:
        print(f"   floor reader failed: {failed}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="zluri bench",
        description="Whole days through the flow on generated feeds, beside the floor measured in the same run.",
    )
    parser.add_argument("--scale", choices=sorted(SCALES), default="M")
    parser.add_argument("--layouts", default="files5k,files50k,onefile", help="comma-separated: " + ", ".join(LAYOUTS))
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--transactions", type=int, help="override the scale's transactions per day")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "zluri-bench")
    parser.add_argument(
        "--keep-homes",
        action="store_true",
        help="keep each layout's home (database, bronze, reports) under OUT/homes; by default it is removed"
        " once its figures are printed (a failed layout's is always kept)",
    )
    parser.add_argument("--floor-only", nargs=3, metavar=("FEED", "DAY", "JARS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    apply_process_defaults()
    if args.floor_only:
        feed, day, jars = args.floor_only
        print(json.dumps(read_floor(Path(feed), day, Path(jars))))
        return 0

    try:
        feed_generator()  # before anything runs: the feeds come from the feedgen extra
    except MissingExtra as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    # The Delta jars `zluri setup-spark` put in the home the command started with: each layout runs
    # in a fresh home, and a session without local jars would resolve them through Ivy on every start.
    from zluri_flows.config import Settings

    jars_dir = Settings.from_env().jars_dir
    days = [f"day{n}" for n in range(1, args.days + 1)]
    problems: dict[str, list[str]] = {}
    summary: list[tuple[str, list[float], TreeMemory]] = []
    for layout in args.layouts.split(","):
        feed = workload(args.out, args.scale, layout, args.days, args.transactions)
        floor = _floor_in_process(feed, "day1", jars_dir)
        home, url, pid = _fresh_home(args.out / "homes", f"{args.scale}-{layout}-{int(time.time())}")
        from zluri_pg import embedded

        try:
            with TreeMemory(pid) as memory:
                start, runs = run_days(feed, days, jars_dir)
            pg_floor = postgres_floor(url)
            report(layout, feed, floor, runs, pg_floor)
            print(f"   before the days (shared by them): {_describe_start(start)}")
            print(f"   peak RSS of the process tree: {memory.describe()}")
            problems[layout] = check_truth(url, feed)
            print(f"   truth: {'matches' if not problems[layout] else '; '.join(problems[layout])}")
            summary.append((layout, [r.seconds for r in runs], memory))
        except BaseException:
            print(f"   home kept (the layout failed): {home}", file=sys.stderr)
            raise
        finally:
            embedded.stop(home)
        _discard_home(home, keep=args.keep_homes)
    print(f"\n== summary ({args.scale}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f})")
    for layout, seconds, memory in summary:
        print(
            f"   {layout:10s} days {seconds} s   peak RSS {memory.peak / GIB:.2f} GiB,"
            f" PSS {memory.peak_pss / GIB:.2f} GiB"
            f" (alone: driver's Python {memory.peak_driver / GIB:.2f} GiB, JVM {memory.peak_java / GIB:.2f} GiB)"
        )
    return 1 if any(problems.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
