"""A kill at any point recovers: the day pipeline, run by the ``zluri`` CLI in a process of its own,
is SIGKILLed at four points of a day, and the day is then run again. The re-run must leave every core
table (and the pipeline's own state) exactly as a clean run of that day does, have one success
metrics row per task, read what a clean run reads (no row a killed run left behind), and leave the
bronze tables holding the day's records once.

Day 1 of a generated feed is run once into a database and a bronze folder; the clean run and every
kill start from copies of them and run day 2, so each kill lands on real state to update.

Each kill point is reached by watching the database or the bronze folder, never by waiting a fixed
time. Where a point lasts only milliseconds on its own, the test holds it open as a concurrent writer
would, and watches for the run to be held there:

- during a staging COPY: a row trigger on ``staging.stg_agent_roles`` waits for an advisory lock the
  test holds, until ``pg_stat_activity`` shows the COPY waiting (the same load's
  ``stg_agent_details`` rows are written by then: rows of a load that never commits);
- between staging and the upserts: the test holds the advisory locks of every table the upserts
  write (as another run of these tables would) until every entity's load is in
  ``ops.staging_loads`` and an upsert waits for a lock;
- between two upsert steps: the test holds ``core.groups`` until ``upsert_agents`` has its metrics
  row and ``020_upsert_groups`` waits for the lock;
- during the bronze Delta write: a data file of the day appears in a bronze table whose
  ``_delta_log`` has no commit for it yet; the process tree is stopped (SIGSTOP), the table looked
  at once more, and the run killed while still nothing is committed.

The kill reaches the whole process group (the CLI's Python and Spark's JVM); the test then waits
until every process of the run's tree, PySpark's workers included, is gone.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from zluri_feedgen import generate_feed
from zluri_flows.dag import GUARD, STAGE_DEPENDENCIES, UPSERT_DEPENDENCIES
from zluri_pg import advisory_xact_lock, step_path
from zluri_pg.sqltext import parse_header

pytestmark = pytest.mark.recovery

BASE_DAY, DAY = "day1", "day2"
ENTITIES = tuple(STAGE_DEPENDENCIES)
STAGE_TASKS = {f"stage_{e}" for e in ENTITIES}
TASKS = STAGE_TASKS | {step.split("_", 1)[1] for step in UPSERT_DEPENDENCIES}
GUARD_TASK = GUARD.split("_", 1)[1]  # a check before the upserts: it writes no table
# The pipeline's own state beside the core tables: what was processed, the newest day per family.
OPS_STATE = ("ops.transaction_pipeline_state", "ops.latest_day")
# Generous: the killed process starts Python, Prefect and Spark first, on two cores shared with other work.
REACH_SECONDS = 900
GONE_SECONDS = 60  # for killed processes and their database sessions to go
TEST_SESSION = "kill-recovery-test"  # application_name of the test's own sessions


# -- databases, state and runs ----------------------------------------------------------------------


def connect(url: str, autocommit: bool = True) -> psycopg.Connection:
    """A session of the test itself (named, so it is never taken for one of the killed run's)."""
    return psycopg.connect(url, autocommit=autocommit, application_name=TEST_SESSION)


def _dbname(url: str) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(url)["dbname"])


def _create_database(server_url: str, template: str) -> str:
    name = f"kill_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {} template {}").format(sql.Identifier(name), sql.Identifier(template)))
    return psycopg.conninfo.make_conninfo(server_url, dbname=name)


def _drop_database(server_url: str, url: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(_dbname(url))))


def _compared_columns(conn: psycopg.Connection, table: str) -> list[str]:
    """The table's columns minus run identity and wall-clock bookkeeping (flow_run_id, now() and
    serial defaults): what a clean run and a recovered run must agree on."""
    schema, name = table.split(".")
    rows = conn.execute(
        "select column_name, coalesce(column_default, '') from information_schema.columns"
        " where table_schema = %s and table_name = %s order by ordinal_position",
        [schema, name],
    ).fetchall()
    return [c for c, default in rows if c != "flow_run_id" and not default.startswith(("now()", "nextval("))]


def _state_tables(conn: psycopg.Connection) -> list[str]:
    core = conn.execute(
        "select table_name from information_schema.tables where table_schema = 'core'"
        " and table_type = 'BASE TABLE' order by table_name"
    ).fetchall()
    return [f"core.{t}" for (t,) in core] + list(OPS_STATE)


def _select_rows(conn: psycopg.Connection, table: str) -> sql.Composed:
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in _compared_columns(conn, table))
    schema, name = table.split(".")
    return sql.SQL("select {} from {}.{}").format(columns, sql.Identifier(schema), sql.Identifier(name))


def checksums(url: str) -> dict[str, tuple[int, str]]:
    """Rows and an md5 over the sorted rows of every core table and of the ops state tables."""
    result = {}
    with connect(url) as conn:
        for table in _state_tables(conn):
            query = sql.SQL(
                "select count(*), md5(coalesce(string_agg(r::text, E'\\n' order by r::text), '')) from ({}) as r"
            ).format(_select_rows(conn, table))
            row = conn.execute(query).fetchone()
            assert row is not None
            result[table] = (row[0], row[1])
    return result


def _differences(url: str, reference_url: str, tables: list[str], limit: int = 10) -> str:
    """For a failure message: rows only one of the two databases holds, per table."""
    lines = []
    for table in tables:
        rows = {}
        for name, target in (("recovered", url), ("clean", reference_url)):
            with connect(target) as conn:
                query = sql.SQL("select r::text from ({}) as r").format(_select_rows(conn, table))
                rows[name] = {r for (r,) in conn.execute(query)}
        for name, other in (("recovered", "clean"), ("clean", "recovered")):
            only = sorted(rows[name] - rows[other])
            if only:
                lines.append(f"{table}: {len(only)} row(s) only in the {name} run, e.g. {only[:limit]}")
    return "\n".join(lines)


def _query(url: str, query: str, params: Any = None) -> list[tuple]:
    with connect(url) as conn:
        return conn.execute(query, params).fetchall()


def _run_in_process(day: str, feed: Path, url: str, bronze: Path) -> str:
    """One day through the flow in this process (the session's SparkSession); its flow run id."""
    from zluri_flows.flow import zluri_day_pipeline

    with pytest.MonkeyPatch.context() as env:
        env.setenv("ZLURI_DATABASE_URL", url)
        env.setenv("ZLURI_BRONZE_ROOT", str(bronze))
        state = zluri_day_pipeline(day, str(feed), return_state=True)
    assert state.is_completed(), f"{day} failed: {state.message}"
    return state.result()["flow_run_id"]


def bronze_rows(spark: Any, bronze: Path, entity: str) -> list[tuple]:
    """The entity's bronze rows of the day as Delta reads them (sorted; duplicates kept)."""
    frame = spark.read.format("delta").load(str(bronze / entity)).where(f"day = '{DAY}'")
    rows = frame.select("source_file", "position", "raw_record", "read_error").collect()
    return sorted((tuple(r) for r in rows), key=repr)


def counts_read(url: str, flow_run_id: str) -> dict[str, tuple[int, ...]]:
    """Per task of the run, what it read: a stage task's records read, loaded, de-duplicated and
    quarantined; an upsert step's staged rows read and rows quarantined. They depend only on the day's
    input, so a re-run that also read rows a killed run left behind would count more than a clean run."""
    rows = _query(
        url,
        "select task_name, rows_read, rows_inserted, rows_skipped, rows_quarantined from ops.pipeline_metrics"
        " where flow_run_id = %s",
        [flow_run_id],
    )
    return {
        task: (read, inserted, skipped, quarantined) if task in STAGE_TASKS else (read, quarantined)
        for task, read, inserted, skipped, quarantined in rows
    }


@dataclass(frozen=True)
class Day1:
    database: str  # name of a database holding day 1: the template of every later copy
    url: str
    bronze: Path
    checksums: dict[str, tuple[int, str]]


@dataclass(frozen=True)
class Clean:
    url: str
    checksums: dict[str, tuple[int, str]]
    bronze: dict[str, list[tuple]]
    counts: dict[str, tuple[int, ...]]


@pytest.fixture(scope="module")
def prefect_api() -> Iterator[str]:
    """A test Prefect server; the killed process reports its run to it as well."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield str(PREFECT_API_URL.value())


@pytest.fixture(scope="module")
def feed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("feed")
    generate_feed(root, days=2, agents=40, groups=10, depth=4, transactions=80, seed=11)
    return root


@pytest.fixture(scope="module")
def day1(pg_server_url, template_url, spark, prefect_api, feed, tmp_path_factory) -> Iterator[Day1]:
    url = _create_database(pg_server_url, _dbname(template_url))
    bronze = tmp_path_factory.mktemp("day1") / "bronze"
    _run_in_process(BASE_DAY, feed, url, bronze)
    yield Day1(_dbname(url), url, bronze, checksums(url))
    _drop_database(pg_server_url, url)


@contextmanager
def copy_of_day1(pg_server_url: str, start: Day1, folder: Path) -> Iterator[tuple[str, Path]]:
    """A new database and bronze folder holding day 1 (url, bronze root)."""
    url = _create_database(pg_server_url, start.database)
    bronze = folder / "bronze"
    shutil.copytree(start.bronze, bronze)
    try:
        yield url, bronze
    finally:
        _drop_database(pg_server_url, url)


@pytest.fixture(scope="module")
def clean(pg_server_url, day1, spark, prefect_api, feed, tmp_path_factory) -> Iterator[Clean]:
    """Day 2 run once without interruption: the state every recovered run must reach."""
    with copy_of_day1(pg_server_url, day1, tmp_path_factory.mktemp("clean")) as (url, bronze):
        run = _run_in_process(DAY, feed, url, bronze)
        assert checksums(url) != day1.checksums, "day 2 changes nothing: the comparison would prove nothing"
        bronze_tables = {e: bronze_rows(spark, bronze, e) for e in ENTITIES}
        yield Clean(url, checksums(url), bronze_tables, counts_read(url, run))


# -- the killed process -------------------------------------------------------------------------------


def _zluri_command() -> str:
    """The installed ``zluri`` console script of this interpreter's environment."""
    found = shutil.which("zluri", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if found is None:
        pytest.fail(f"no zluri command beside {sys.executable} or on PATH (make setup installs it)")
    return found


def start_run(url: str, bronze: Path, feed: Path, prefect_api: str, log: Path) -> subprocess.Popen:
    """``zluri run --day <DAY>`` in a new session (its own process group: the CLI and Spark's JVM)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYSPARK_GATEWAY_")}
    env.update(
        ZLURI_DATABASE_URL=url,
        ZLURI_BRONZE_ROOT=str(bronze),
        PREFECT_API_URL=prefect_api,
        SPARK_LOCAL_IP="127.0.0.1",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        # Every table with rows is copied from the executors, as a large day's are (a small table is
        # otherwise copied by the driver in the commit, where a kill leaves nothing to clean up).
        ZLURI_DRIVER_ROWS="0",
    )
    command = [_zluri_command(), "run", "--day", DAY, "--input", str(feed)]
    with log.open("wb") as out:
        return subprocess.Popen(
            command, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _tail(log: Path, lines: int = 40) -> str:
    text = log.read_text(errors="replace").splitlines() if log.exists() else []
    return "\n".join(["--- last lines of the run's output:", *text[-lines:]])


def _text(what: str | Callable[[], str]) -> str:
    return what() if callable(what) else what


def wait_until(
    what: str | Callable[[], str],
    check: Callable[[], Any],
    seconds: float,
    proc: subprocess.Popen | None = None,
    log: Path | None = None,
    interval: float = 0.05,
) -> Any:
    """Poll ``check`` until it returns something true; fail naming ``what`` (text, or a function
    giving it) at the deadline, or as soon as the watched process exits."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the run exited (code {proc.returncode}) before {_text(what)}\n{_tail(log) if log else ''}")
        if time.monotonic() > deadline:
            pytest.fail(f"not reached within {seconds:.0f} s: {_text(what)}\n{_tail(log) if log else ''}")
        time.sleep(interval)


def _stat(pid: int) -> tuple[str, int, int, int] | None:
    """(state, parent pid, process group, start time) of a process, or None when there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[2]), int(fields[19])


def _command_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


@dataclass(frozen=True)
class Process:
    started: int  # start time (clock ticks after boot): a reused pid is another process
    group: int
    name: str


def process_tree(root: int) -> dict[int, Process]:
    """The process and its descendants by pid."""
    stats = {int(p): s for p in os.listdir("/proc") if p.isdigit() and (s := _stat(int(p))) is not None}
    children: dict[int, list[int]] = {}
    for pid, (_, ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    tree, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            tree[pid] = Process(stats[pid][3], stats[pid][2], _command_name(pid))
            todo.extend(children.get(pid, []))
    return tree


def _running(tree: dict[int, Process]) -> dict[int, str]:
    """The processes of ``tree`` still running (the same pid and start time, not a zombie)."""
    running = {}
    for pid, process in tree.items():
        stat = _stat(pid)
        if stat is not None and stat[3] == process.started and stat[0] not in ("Z", "X"):
            running[pid] = process.name
    return running


def kill_run(proc: subprocess.Popen) -> dict[int, Process]:
    """SIGKILL the run's process group (the CLI's Python, Spark's JVM), then wait until no process of
    its tree is left: PySpark's workers live in a process group of their own and must end once the
    JVM that feeds them is gone. Returns the tree that was killed."""
    os.killpg(proc.pid, signal.SIGSTOP)  # a stopped tree cannot start a process while it is listed
    tree = process_tree(proc.pid)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=GONE_SECONDS)
    deadline = time.monotonic() + GONE_SECONDS
    while left := _running(tree):
        if time.monotonic() > deadline:
            for pid in left:
                os.kill(pid, signal.SIGKILL)
            pytest.fail(f"processes of the killed run still running {GONE_SECONDS} s after the kill: {left}")
        time.sleep(0.05)
    return tree


def _end_leftovers(proc: subprocess.Popen) -> None:
    """After a failure before the kill: end the run's processes (by their group and ids)."""
    if proc.poll() is None:
        tree = process_tree(proc.pid)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=GONE_SECONDS)
        for pid in _running(tree):
            os.kill(pid, signal.SIGKILL)


def other_sessions(url: str) -> list[tuple]:
    """Sessions in the database that are not the test's own."""
    return _query(
        url,
        "select pid, state, left(query, 60) from pg_stat_activity where datname = current_database()"
        " and backend_type = 'client backend' and application_name <> %s",
        [TEST_SESSION],
    )


def wait_for_sessions_to_end(url: str) -> None:
    """A killed client's session ends when its backend next talks to it (a held one once released)."""
    wait_until(
        lambda: f"the killed run's database sessions ended (left: {other_sessions(url)})",
        lambda: not other_sessions(url),
        GONE_SECONDS,
    )


# -- the kill points ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Watch:
    """What the test watches while the killed process runs."""

    url: str
    bronze: Path
    proc: subprocess.Popen
    log: Path
    conn: psycopg.Connection  # one session for all the polling

    def until(self, what: str, check: Callable[[], Any], interval: float = 0.05) -> Any:
        return wait_until(what, check, REACH_SECONDS, self.proc, self.log, interval)

    def rows(self, query: str, params: Any = None) -> list[tuple]:
        return self.conn.execute(query, params).fetchall()

    def waiting(self) -> list[str]:
        """Statements of the run's sessions that wait for a lock."""
        return [
            q
            for (q,) in self.rows(
                "select query from pg_stat_activity where datname = current_database() and application_name <> %s"
                " and state = 'active' and wait_event_type = 'Lock'",
                [TEST_SESSION],
            )
        ]

    def upsert_waiting(self) -> bool:
        return any("pg_advisory_xact_lock" in q for q in self.waiting())

    def succeeded(self) -> set[str]:
        rows = self.rows("select task_name from ops.pipeline_metrics where day = %s and status = 'success'", [DAY])
        return {t for (t,) in rows}

    def committed_entities(self) -> set[str]:
        return {e for (e,) in self.rows("select entity from ops.staging_loads where day = %s", [DAY])}


# 1. During a staging COPY. stg_agent_roles is derived from agent_details and copied after
# stg_agent_details, so the load has rows written that it will never commit.
HOLD_KEY = "kill test: hold the staging copy"
COPY_TABLE = "stg_agent_roles"


@contextmanager
def _hold_copy(url: str) -> Iterator[None]:
    """Rows COPYed into the table wait for an advisory lock the test holds."""
    with connect(url) as conn:
        conn.execute(
            sql.SQL(
                "create function public.hold_copy() returns trigger language plpgsql as $$"
                " begin perform pg_advisory_xact_lock_shared(hashtextextended({}, 0)); return new; end $$"
            ).format(sql.Literal(HOLD_KEY))
        )
        conn.execute(
            sql.SQL(
                "create trigger hold_copy before insert on staging.{} for each row execute function public.hold_copy()"
            ).format(sql.Identifier(COPY_TABLE))
        )
        with connect(url) as gate:
            gate.execute("select pg_advisory_lock(hashtextextended(%s, 0))", [HOLD_KEY])
            yield
        wait_for_sessions_to_end(url)
        conn.execute(sql.SQL("drop trigger hold_copy on staging.{}").format(sql.Identifier(COPY_TABLE)))
        conn.execute("drop function public.hold_copy()")


def _reach_copy(watch: Watch) -> None:
    statement = f'copy "staging"."{COPY_TABLE}"'
    watch.until(
        f"a COPY into staging.{COPY_TABLE} in pg_stat_activity",
        lambda: any(q.lower().startswith(statement) for q in watch.waiting()),
    )


def _after_copy_kill(watch: Watch, start: Day1, _: None) -> None:
    assert "agent_details" not in watch.committed_entities()
    uncommitted = watch.rows(
        "select count(*) from staging.stg_agent_details where day = %s"
        " and load_id not in (select load_id from ops.staging_loads)",
        [DAY],
    )[0][0]
    assert uncommitted > 0, "the killed load left no rows: the point would test less than it claims"
    assert checksums(watch.url) == start.checksums, "the killed run changed the core tables"


# 2. Between staging and the upserts; 3. between two upsert steps. The test holds the advisory locks
# the upserts take for the tables they write, as another run of those tables would.
@contextmanager
def _hold_tables(url: str, tables: list[str]) -> Iterator[None]:
    with connect(url, autocommit=False) as gate:
        advisory_xact_lock(gate, *tables)
        yield
        gate.rollback()
    wait_for_sessions_to_end(url)


def _upsert_tables() -> list[str]:
    written = (parse_header(step_path(step).read_text(), step).writes for step in UPSERT_DEPENDENCIES)
    return sorted({t for tables in written for t in tables})


def _reach_staged(watch: Watch) -> None:
    watch.until(
        "every entity's load in ops.staging_loads and an upsert waiting for its lock",
        lambda: watch.committed_entities() == set(ENTITIES) and watch.upsert_waiting(),
    )


def _after_staged_kill(watch: Watch, start: Day1, _: None) -> None:
    assert watch.committed_entities() == set(ENTITIES)
    assert watch.succeeded() - STAGE_TASKS <= {GUARD_TASK}, "an upsert committed before the kill"
    assert checksums(watch.url) == start.checksums, "the killed run changed the core tables"


def _reach_between_upserts(watch: Watch) -> None:
    watch.until(
        "upsert_agents' metrics row, and 020_upsert_groups waiting for its lock",
        lambda: "upsert_agents" in watch.succeeded() and watch.upsert_waiting(),
    )


def _after_upsert_kill(watch: Watch, start: Day1, _: None) -> None:
    done = watch.succeeded()
    assert "upsert_agents" in done and not done & {"upsert_groups", "update_group_status"}, done
    assert checksums(watch.url)["core.agents"] != start.checksums["core.agents"], "day 2 changed no agent"


# 4. During the bronze Delta write.
def _delta_versions(table: Path) -> int:
    log = table / "_delta_log"
    return sum(1 for p in log.glob("*.json") if p.stem.isdigit()) if log.is_dir() else 0


def _written_not_committed(table: Path, committed: int) -> bool:
    """A data file of the day exists, and the table's log has no commit beyond ``committed``."""
    partition = table / f"day={DAY}"
    if not partition.is_dir() or not any(p.suffix == ".parquet" for p in partition.iterdir()):
        return False
    return _delta_versions(table) == committed


def _reach_bronze_write(watch: Watch) -> str:
    """Stop the run while a bronze table has a data file of the day and no commit for it; returns
    the entity. A write that commits between two looks is passed over for the next entity's."""
    committed = {e: _delta_versions(watch.bronze / e) for e in ENTITIES}
    passed: set[str] = set()

    def caught() -> str | None:
        for entity in ENTITIES:
            table = watch.bronze / entity
            if entity in passed or not (table / f"day={DAY}").is_dir():
                continue
            if _written_not_committed(table, committed[entity]):
                os.killpg(watch.proc.pid, signal.SIGSTOP)
                if _written_not_committed(table, committed[entity]):
                    return entity
                os.killpg(watch.proc.pid, signal.SIGCONT)
            if _delta_versions(table) != committed[entity]:
                passed.add(entity)
        if len(passed) == len(ENTITIES):
            pytest.fail(f"every bronze write of {DAY} committed between two looks; none was caught")
        return None

    return watch.until("a bronze Delta write between its data files and its commit", caught, interval=0.002)


def _after_bronze_kill(watch: Watch, start: Day1, entity: str) -> None:
    assert _written_not_committed(watch.bronze / entity, _delta_versions(start.bronze / entity)), (
        f"bronze {entity}: expected data files of {DAY} and no commit for them after the kill"
    )


@contextmanager
def _nothing_held(url: str) -> Iterator[None]:
    yield


@dataclass(frozen=True)
class KillPoint:
    name: str
    hold: Callable[[str], AbstractContextManager[None]]  # keeps the point open in the run's database
    reach: Callable[[Watch], Any]  # returns once the run is at the point
    after_kill: Callable[[Watch, Day1, Any], None]  # what the killed run left, checked before the re-run


POINTS = [
    KillPoint("during_staging_copy", _hold_copy, _reach_copy, _after_copy_kill),
    KillPoint(
        "between_staging_and_upserts",
        lambda url: _hold_tables(url, _upsert_tables()),
        _reach_staged,
        _after_staged_kill,
    ),
    KillPoint(
        "between_upsert_steps",
        lambda url: _hold_tables(url, ["core.groups"]),
        _reach_between_upserts,
        _after_upsert_kill,
    ),
    KillPoint("during_bronze_write", _nothing_held, _reach_bronze_write, _after_bronze_kill),
]


@pytest.mark.parametrize("point", POINTS, ids=[p.name for p in POINTS])
def test_a_killed_day_reruns_to_the_clean_state(point, pg_server_url, day1, clean, spark, prefect_api, feed, tmp_path):
    with ExitStack() as stack:
        url, bronze = stack.enter_context(copy_of_day1(pg_server_url, day1, tmp_path))
        log = tmp_path / "killed-run.log"
        with point.hold(url):
            proc = start_run(url, bronze, feed, prefect_api, log)
            try:
                watch = Watch(url, bronze, proc, log, stack.enter_context(connect(url)))
                reached = point.reach(watch)
                killed = kill_run(proc)
            finally:
                _end_leftovers(proc)
        assert any(p.name == "java" and p.group == proc.pid for p in killed.values()), (
            f"Spark's JVM was not in the killed process group: {killed}"
        )
        wait_for_sessions_to_end(url)
        point.after_kill(watch, day1, reached)

        final = _run_in_process(DAY, feed, url, bronze)

        recovered = checksums(url)
        differing = sorted(t for t in clean.checksums if recovered.get(t) != clean.checksums[t])
        assert not differing, "state differs from the clean run's:\n" + _differences(url, clean.url, differing)
        assert recovered == clean.checksums
        for entity in ENTITIES:
            assert bronze_rows(spark, bronze, entity) == clean.bronze[entity], f"bronze {entity} differs"
        metrics = _query(url, "select task_name, status from ops.pipeline_metrics where flow_run_id = %s", [final])
        assert Counter(metrics) == Counter((task, "success") for task in TASKS)
        assert counts_read(url, final) == clean.counts
