"""The one SparkSession of a flow run (or a test session), Delta-enabled.

Delta's jars resolve from Maven Central through Ivy on first use and are cached under
``~/.ivy2.5.2``. ``zluri setup-spark`` does that resolution once and copies the jars into a
folder (``<home>/jars``); a session given that folder loads them as local files through
``spark.jars``, so a run neither starts Ivy (about 2 s, and ~45 lines of resolver output on every
start) nor needs the registry. A session given a folder that does not exist yet (a home where
``setup-spark`` never ran), or that holds the jars of another Delta or Spark (an upgrade since),
resolves them through Ivy once and keeps them there for the next.
S3 (``s3a://`` input or bronze) needs hadoop-aws of exactly the Hadoop version pyspark ships, plus
the AWS SDK bundle it depends on; they resolve the same way (``zluri setup-spark --with-s3``).

The session's settings (``SparkSettings``) are built at the edge and passed in. Two things only the
process environment carries are the caller's to set before the first session starts:
``SPARK_LOCAL_IP`` and ``PYSPARK_PYTHON`` (the executors run the driver's own Python unless it says
otherwise).
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlparse

import pyspark
from pyspark.sql import SparkSession

from zluri_staging import classes, gateway

log = logging.getLogger(__name__)

# Compiled classes of generated code kept per JVM (Spark's default, 100, is fewer than one day's).
CODEGEN_CACHE_ENTRIES = 4096

# File systems whose classes are not in pyspark's own jars, and the package that brings each.
_S3_SCHEMES = frozenset({"s3a"})


class SparkSetupError(RuntimeError):
    """Spark could not start (most often: Delta jars could not be resolved)."""


@dataclass(frozen=True)
class SparkSettings:
    """How the run's session is built: read once at the edge and passed in. What is left as None is
    chosen by ``sized_for`` from the size of the input the session is for."""

    master: str = "local[*]"
    shuffle_partitions: int | None = None  # None: a handful per local core, 64 on a cluster
    ui_enabled: str = "false"
    driver_memory: str | None = None  # None: sized to the input; 2g when it is unknown
    jit: str | None = None  # "quick" or "full" (see JIT_OPTIONS); None: sized to the input
    codegen: bool | None = None  # Spark's generated code; False: its interpreters; None: sized
    memory_fraction: float | None = None  # of the heap for Spark's caches and execution; None: sized
    log_level: str = "ERROR"


MIB = 1024**2
# A day of at most this much input runs on a 1 GiB heap: measured at M (about 120 MiB a day) at the
# speed of a 2 GiB heap.
SMALL_DAY_BYTES = 256 * MIB
# ... and up to this much on 1.25 GiB: an L day (594 MiB; 1 GiB runs out of heap) peaked at 1.8 GiB
# of JVM RSS instead of 2.6 on 2 GiB and took 12% longer (152 s instead of 136 s, same hour). Bigger
# days, and days of unknown size (input on object storage), get 2 GiB: a day of 2,020,080
# transactions (1.8 GiB) keeps about 1 GiB of the heap live.
MEDIUM_DAY_BYTES = 768 * MIB
# A day of at most this much input gets the quick JIT: on two cores the full JIT's compiler threads
# took 55 of the 190 CPU seconds of the two-day reference feed, while the code they optimise runs on
# a few hundred records; on an M day the quick JIT's slower code costs more than it saves.
TINY_DAY_BYTES = 32 * MIB
# ... and for a session of at most this many days: the full JIT's compiled code catches up from the
# third day on (the bundled sample's third day: 20 s full, 22 s quick; the first two 58 + 31 s full,
# 36 + 24 s quick), so a long backfill of small days is faster with it.
QUICK_JIT_MAX_DAYS = 7
DRIVER_MEMORY = {"small": "1g", "medium": "1280m", "large": "2g"}
# The share of the heap (less 300 MiB) that Spark's cached blocks and execution may take. A large
# day's caches fill it, and Spark's estimate of a deserialized cached block undershoots: on 2 GiB
# with Spark's 0.6, a day of 2,020,080 transactions (1.8 GiB) kept 1.5 GiB live, G1 ran out of room
# to copy into and the heap ran out. At 0.4 the same day keeps about 1 GiB and passes; what does not
# fit is read back from local disk. A small day's caches fit either way and keep Spark's default.
MEMORY_FRACTION = {"small": 0.6, "medium": 0.4, "large": 0.4}
# Every session's driver collects with the serial collector (``SERIAL_COLLECTOR``): G1, the JVM's
# default, runs its marking and refinement in threads beside the work, which two busy cores cannot
# spare, and its own structures took about 0.08 GiB. An M day (one file of transactions, in one slow
# hour, alternating with G1) took 54.1-78.0 s in six runs (five within 63.9 s) at 2.29-2.40 GiB,
# against 66.6-70.6 s in four at 2.56-2.61 GiB; the JVM alone 1.17-1.29 GiB instead of 1.46-1.51. The
# parallel collector was as fast one entity at a time, but it does not give the heap back
# (``give_back_heap``). An L day's heap is full while it stages: no memory saved there.
# A full collection shrinks the heap to its bounds at once (``-XX:-ShrinkHeapInSteps``): by default
# the serial collector damps the shrinking (none at the first such collection, 10% of it at the
# second, 40% at the third), so ``give_back_heap``'s one collection gave nothing back (989 MiB
# committed before and after; 365 MiB after without the damping, the JVM's RSS 1.27 -> 0.65 GiB).
SERIAL_COLLECTOR = ("-XX:+UseSerialGC", "-XX:-ShrinkHeapInSteps")
# The driver JVM's options per JIT choice: "quick" compiles with C1 only. C1 alone
# reserves a code cache of 48 MiB, which Spark and Delta filled during the second day of one session
# ("CodeCache is full. Compiler has been disabled."): it gets the tiered JIT's 240 MiB (only what is
# used is resident). Its heap starts at 384 MiB whatever the machine's memory (the JVM's default is
# 1/64 of it; ``driver_java_options`` adds the start, at most the maximum), and gives back what a
# collection leaves free beyond 30%, never below that start: on the reference feed the JVM's peak RSS
# fell from 1.03-1.10 to 0.79-0.87 GiB at the same speed. A start of 64 MiB saved a little more (the
# tree's peak 1.75-1.82 GiB instead of 1.79-1.85) but its small young generation was collected
# 0.3-0.7 s per small entity, and the reference feed's two days took 50-57 s instead of 48-49 s (four
# runs each, alternating). Not for "full": on a heap kept that tight G1, then its collector, ran 101
# concurrent marking cycles on an M day instead of 40 (50 s of a core instead of 21) and the days
# took 15-20% longer, for 0.3 GiB.
QUICK_HEAP_START_MIB = 384
JIT_OPTIONS = {
    "quick": (
        "-XX:TieredStopAtLevel=1",
        "-XX:ReservedCodeCacheSize=240m",
        "-XX:MinHeapFreeRatio=10",
        "-XX:MaxHeapFreeRatio=30",
    ),
    "full": (),
}
# A day of at most this much input has Spark evaluate expressions with its interpreters rather than
# generate Java for each plan fragment and compile it (Janino, then the JIT): a day's first run of
# each entity compiles hundreds of classes, which a few hundred records never repay. On the reference
# feed (140 KiB a day), one entity at a time on a warm session: its first day 7.9 s in all instead of
# 10.6 (the slowest step 1.8 s instead of 2.8), its second 5.6 instead of 7.0. An S day (13 MiB,
# 10,000 transactions) took longer interpreted: 21.0 / 15.2 s instead of 17.0 / 12.1 s, its
# transactions 0.2-0.3 ms more a record. ``spark.sql.codegen.factoryMode`` is one of Spark's internal
# settings; Spark itself falls back to the same interpreters whenever generated code fails to
# compile, and its tests run every expression both ways.
INTERPRETED_DAY_BYTES = 1 * MIB
INTERPRETED_CONF = {"spark.sql.codegen.wholeStage": "false", "spark.sql.codegen.factoryMode": "NO_CODEGEN"}


def sized_for(settings: SparkSettings, input_bytes: int | None, days: int = 1) -> SparkSettings:
    """``settings`` with the driver memory, JIT, memory fraction and code generation it leaves open
    chosen for a session of ``days`` days that reads ``input_bytes`` at most in one (None: unknown,
    sized as for a large day). Pure."""
    size = _size(input_bytes)
    tiny = _at_most(input_bytes, TINY_DAY_BYTES) and days <= QUICK_JIT_MAX_DAYS
    return replace(
        settings,
        driver_memory=settings.driver_memory or DRIVER_MEMORY[size],
        jit=settings.jit or ("quick" if tiny else "full"),
        memory_fraction=settings.memory_fraction or MEMORY_FRACTION[size],
        codegen=settings.codegen if settings.codegen is not None else not _at_most(input_bytes, INTERPRETED_DAY_BYTES),
    )


def build_spark(
    master: str | None = None,
    app_name: str = "zluri_day_pipeline",
    *,
    settings: SparkSettings | None = None,
    shuffle_partitions: int | None = None,
    extra_conf: dict[str, str] | None = None,
    jars_dir: Path | None = None,
    extra_packages: Sequence[str] = (),
    java_options: Sequence[str] = (),
    class_archive: bool = True,
) -> SparkSession:
    """A Delta-enabled session on ``master`` (default: the settings' master, ``local[*]``).

    With `jars_dir` holding the Delta jars (`resolve_delta_jars`) and no ``extra_packages``
    (Maven coordinates, see ``packages_for``), the jars are used as local files; otherwise Ivy
    resolves them, and a `jars_dir` without them keeps them (``keep_jars``). The driver
    maps the class archive of ``jars_dir`` if there is one (``zluri_staging.classes``;
    ``class_archive=False``: never). ``java_options`` are added to the driver JVM's own.
    """
    from delta import configure_spark_with_delta_pip

    settings = sized_for(settings or SparkSettings(), None)
    master = master or settings.master
    partitions = shuffle_partitions or settings.shuffle_partitions or _default_partitions(master)
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(partitions))
        .config("spark.default.parallelism", str(partitions))
        .config("spark.ui.enabled", settings.ui_enabled)
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.ansi.enabled", "false")
        # Three entities stage at once: in the default first-come order a small entity's one-task
        # job waited behind every task of a large one's (an M day's budgets read in 6-8 s instead
        # of 0.5). Fair scheduling between pools, one per entity (``stage_entity``), runs it next.
        .config("spark.scheduler.mode", "FAIR")
        .config("spark.driver.memory", str(settings.driver_memory))
        .config("spark.memory.fraction", str(settings.memory_fraction))
        # Adaptive execution turns each shuffle stage into its own job: worth it on a cluster, pure
        # overhead (0.1-0.3 s a job) for the few partitions of a local master.
        .config("spark.sql.adaptive.enabled", str(not master.startswith("local")).lower())
        # Generated code is compiled once per distinct plan fragment and kept in a cache of 100
        # classes by default: a day's entities need about 400, so each day compiled most of them
        # again (about 500 compilations a day instead of 90). A class is a few KiB.
        .config("spark.sql.codegen.cache.maxEntries", str(CODEGEN_CACHE_ENTRIES))
        # PySpark records the Python call site of every DataFrame and Column call in the JVM (about
        # seven Py4J round trips each, for error messages that name the line of Python): two thirds
        # of a small entity's 5,900 round trips. Errors still name the failing expression.
        .config("spark.python.sql.dataFrameDebugging.enabled", "false")
        # Bronze is written once per entity and day and read back only by day: per-file statistics
        # and the check that every row is in the replaced day (the writer sets the day itself) cost
        # seconds per write and serve no reader. The log's checksum files stay (Delta's default):
        # with one, a process's first append to a table needs no replay of the log (2 s and more).
        .config("spark.databricks.delta.snapshotPartitions", "1")
        .config("spark.databricks.delta.stats.collect", "false")
        .config("spark.databricks.delta.replaceWhere.constraintCheck.enabled", "false")
    )
    if master.startswith("local"):
        # Delta replays its log (a checkpoint and the commits since, a few KiB each) before each
        # bronze write with Spark's file reader, which gives every small file a task of its own: five
        # or six tasks, 0.1 s of a write on two cores. One task reads them all here; a larger read
        # still splits at spark.sql.files.maxPartitionBytes.
        builder = builder.config("spark.sql.files.minPartitionNum", "1")
    options = [*driver_java_options(settings), *java_options]
    if class_archive:
        options += classes.java_options(jars_dir)
    builder = builder.config("spark.driver.extraJavaOptions", " ".join(options))
    interpreted = INTERPRETED_CONF if settings.codegen is False else {}
    for key, value in {**interpreted, **(extra_conf or {})}.items():
        builder = builder.config(key, value)
    jars = delta_jars(jars_dir) if jars_dir is not None else []
    try:
        if jars and not extra_packages:
            spark = builder.config("spark.jars", ",".join(str(j) for j in jars)).getOrCreate()
        else:
            spark = configure_spark_with_delta_pip(builder, extra_packages=list(extra_packages)).getOrCreate()
    except Exception as exc:
        raise SparkSetupError(
            f"cannot start Spark on {master} with Delta Lake: {exc}. "
            "Delta's jars come from Maven Central on first use; "
            "run 'zluri setup-spark' where the registry is reachable."
        ) from exc
    if jars_dir is not None and not jars and not extra_packages:
        keep_jars(jars_dir, resolved_jars(spark))
    spark.sparkContext.setLogLevel(settings.log_level)
    # Every Column and DataFrame call resolved its JVM class and method again: a third of the calls
    # into the JVM that staging makes.
    gateway.remember_lookups(spark.sparkContext._jvm)
    return spark


# What a collection may leave free in the driver's heap when the staging of a day is done (see
# ``give_back_heap``); the JVM's own bounds (by default 40-70%) return to force afterwards.
GIVE_BACK_FREE_RATIO = 10


def give_back_heap(spark: SparkSession) -> tuple[int, int]:
    """Collect the driver JVM's heap fully and shrink it to what is live plus 10%, so memory a day's
    staging needed is back with the system while the upserts run (a heap, once grown, otherwise stays
    at its peak until the session stops). Returns the committed heap in bytes before and after. The
    next Spark job grows the heap again as it needs."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None  # a live session's gateway
    runtime = jvm.java.lang.Runtime.getRuntime()
    before = int(runtime.totalMemory())
    bean_class = jvm.java.lang.Class.forName("com.sun.management.HotSpotDiagnosticMXBean")
    bean = jvm.java.lang.management.ManagementFactory.getPlatformMXBean(bean_class)
    bounds = {name: str(bean.getVMOption(name).getValue()) for name in ("MinHeapFreeRatio", "MaxHeapFreeRatio")}
    try:  # the minimum first: the JVM refuses a minimum above the maximum
        bean.setVMOption("MinHeapFreeRatio", "0")
        bean.setVMOption("MaxHeapFreeRatio", str(GIVE_BACK_FREE_RATIO))
        jvm.java.lang.System.gc()
    finally:
        bean.setVMOption("MaxHeapFreeRatio", bounds["MaxHeapFreeRatio"])
        bean.setVMOption("MinHeapFreeRatio", bounds["MinHeapFreeRatio"])
    return before, int(runtime.totalMemory())


def _at_most(input_bytes: int | None, bound: int) -> bool:
    return input_bytes is not None and input_bytes <= bound


def _size(input_bytes: int | None) -> str:
    if input_bytes is None or input_bytes > MEDIUM_DAY_BYTES:
        return "large"
    return "small" if input_bytes <= SMALL_DAY_BYTES else "medium"


def driver_java_options(settings: SparkSettings) -> list[str]:
    """The driver JVM's options: the bundled log4j configuration, the serial collector and the
    settings' JIT's options."""
    log4j = Path(__file__).with_name("data") / "log4j2.properties"
    options = [f"-Dlog4j.configurationFile={log4j.as_uri()}", *SERIAL_COLLECTOR, *JIT_OPTIONS[str(settings.jit)]]
    if settings.jit == "quick":  # never above the maximum: the JVM would not start
        options.append(f"-Xms{min(QUICK_HEAP_START_MIB, _mib(settings.driver_memory) or QUICK_HEAP_START_MIB)}m")
    return options


_MEMORY = re.compile(r"(\d+)([kmgtp]?)(b?)", re.IGNORECASE)
_MIB_PER_UNIT = {"k": 1 / 1024, "m": 1, "g": 1024, "t": 1024**2, "p": 1024**3}


def _mib(size: str | None) -> int | None:
    """Whole MiB of a Spark memory size ("1g", "1280m", "2gb"; a bare number is MiB, as Spark reads
    ``spark.driver.memory``); None if it is not one."""
    match = _MEMORY.fullmatch((size or "").strip())
    if match is None:
        return None
    number, unit, in_bytes = int(match[1]), match[2].lower(), match[3]
    if not unit:
        return number // MIB if in_bytes else number
    return int(number * _MIB_PER_UNIT[unit])


def _default_partitions(master: str) -> int:
    # A handful of partitions per local core; 200 (Spark's default) is pure overhead on 2 cores.
    if master.startswith("local"):
        return max(2, 2 * (os.cpu_count() or 1))
    return 64


_COMPLETE = ".complete"  # written last: a folder without it is a copy interrupted half-way
_DELTA = importlib.metadata.version("delta-spark")


def delta_jars(jars_dir: Path) -> list[Path]:
    """The jars `resolve_delta_jars` or `keep_jars` left in `jars_dir`: none if neither ran there,
    or if they are not those the installed pyspark and delta-spark need (resolved before an upgrade:
    Ivy resolves the right ones, which `keep_jars` then puts in their place)."""
    folder = Path(jars_dir)
    jars = _complete(folder)
    if jars is None:
        return []
    if not _current(jars):
        log.warning("the jars in %s are not those of Delta %s (an upgrade since): Ivy resolves them", folder, _DELTA)
        return []
    return jars


def _complete(folder: Path) -> list[Path] | None:
    """The jars of a folder filled to the end (None: absent, or filled half-way)."""
    return sorted(folder.glob("*.jar")) if (folder / _COMPLETE).is_file() else None


def _current(jars: Sequence[Path]) -> bool:
    return delta_spark_jar() in {jar.name for jar in jars}


def delta_spark_jar() -> str:
    """The name Ivy gives the delta-spark jar of the installed delta-spark and pyspark (the artifact
    ``delta.configure_spark_with_delta_pip`` asks for)."""
    spark_minor = ".".join(pyspark.__version__.split(".")[:2])
    return f"io.delta_delta-spark_{spark_minor}_2.13-{_DELTA}.jar"


def resolved_jars(spark: SparkSession) -> list[Path]:
    """The jars a session's ``spark.jars`` lists (those Ivy resolved, for a session not given any)."""
    listed = spark.sparkContext.getConf().get("spark.jars", "")
    return [Path(j.removeprefix("file://").removeprefix("file:")) for j in listed.split(",") if j]


def resolve_delta_jars(jars_dir: Path, settings: SparkSettings | None = None) -> list[Path]:
    """Resolve Delta's jars through Ivy once (a throwaway local session) and put them in `jars_dir`
    in place of what it held (``_place_jars``)."""
    spark = build_spark("local[1]", "zluri-setup", settings=settings)
    try:
        resolved = resolved_jars(spark)
    finally:
        spark.stop()
    if not resolved:
        raise SparkSetupError("Spark started but reported no Delta jars to copy")
    _place_jars(Path(jars_dir), resolved)
    return delta_jars(jars_dir)


def keep_jars(jars_dir: Path, resolved: Sequence[Path]) -> list[Path]:
    """Keep the jars a session resolved through Ivy in `jars_dir`, so later sessions given it load
    them as local files: when the folder does not exist yet, or holds a complete set of another
    Delta or Spark (kept before an upgrade, as a home shared by worker images is). A folder being
    filled (``zluri setup-spark``) is left alone. Only time is at stake: a failure is logged.
    Returns the jars kept (none if it kept none)."""
    folder = Path(jars_dir)
    complete = _complete(folder)
    if not resolved or (folder.exists() and complete is None) or (complete is not None and _current(complete)):
        return []
    try:
        _place_jars(folder, resolved)
    except OSError as exc:
        if not delta_jars(folder):
            log.warning("Delta Lake's jars were not kept in %s (%s): the next run resolves them again", folder, exc)
        return []
    log.info("Delta Lake's jars resolved through Ivy are kept in %s for the next runs", folder)
    return delta_jars(folder)


def _place_jars(folder: Path, resolved: Sequence[Path]) -> None:
    """Make ``folder`` hold ``resolved`` (linked, else copied) and nothing else. It is filled aside
    and renamed into place, what it held moved away first: a session starting meanwhile finds the
    old set, none (and resolves through Ivy) or the new one, never a half-filled folder. Raises
    ``OSError`` if another process placed its own first."""
    pid = os.getpid()
    aside, old = folder.with_name(f".{folder.name}.{pid}"), folder.with_name(f".{folder.name}.old.{pid}")
    try:
        shutil.rmtree(aside, ignore_errors=True)
        aside.mkdir(parents=True)
        for source in resolved:
            try:
                os.link(source, aside / source.name)  # the Ivy cache is on the same disk: no second copy
            except OSError:
                shutil.copy2(source, aside)
        (aside / _COMPLETE).write_text("\n".join(j.name for j in resolved) + "\n")
        if folder.exists():
            os.rename(folder, old)
        os.rename(aside, folder)
    finally:
        for leftover in (aside, old):
            shutil.rmtree(leftover, ignore_errors=True)


def hadoop_version() -> str:
    """The Hadoop version of pyspark's bundled client jars (hadoop-aws must match it exactly)."""
    jars = Path(pyspark.__file__).parent / "jars"
    found = sorted(jar.name for jar in jars.glob("hadoop-client-api-*.jar"))
    if not found:
        raise SparkSetupError(f"no hadoop-client-api jar in {jars}: cannot tell which hadoop-aws to use")
    return found[-1].removeprefix("hadoop-client-api-").removesuffix(".jar")


def s3_packages() -> list[str]:
    """hadoop-aws for pyspark's Hadoop; Ivy brings its AWS SDK bundle along as a dependency."""
    return [f"org.apache.hadoop:hadoop-aws:{hadoop_version()}"]


def packages_for(urls: Iterable[str]) -> list[str]:
    """The extra packages a session needs to read and write ``urls`` (input root, bronze root)."""
    return s3_packages() if any(urlparse(str(u)).scheme in _S3_SCHEMES for u in urls) else []
