"""Which Delta jars a session loads as local files (and keeps for a home without them), how a
session is sized to its input (the session itself is built in conftest), and how its heap is given
back after staging."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import pytest

from zluri_staging.spark import (
    CODEGEN_CACHE_ENTRIES,
    MEDIUM_DAY_BYTES,
    MEMORY_FRACTION,
    QUICK_JIT_MAX_DAYS,
    SMALL_DAY_BYTES,
    TINY_DAY_BYTES,
    SparkSettings,
    delta_jars,
    delta_spark_jar,
    driver_java_options,
    give_back_heap,
    keep_jars,
    resolved_jars,
    sized_for,
)


def test_a_completed_jar_folder_lists_its_jars(tmp_path):
    assert delta_spark_jar() == f"io.delta_delta-spark_4.2_2.13-{version('delta-spark')}.jar"
    for name in (delta_spark_jar(), "io.delta_delta-storage-4.4.0.jar"):
        (tmp_path / name).write_bytes(b"PK")
    (tmp_path / ".complete").write_text("")
    assert [p.name for p in delta_jars(tmp_path)] == [delta_spark_jar(), "io.delta_delta-storage-4.4.0.jar"]


def test_a_folder_copied_half_way_or_missing_is_not_used(tmp_path):
    (tmp_path / delta_spark_jar()).write_bytes(b"PK")
    assert delta_jars(tmp_path) == []  # no .complete: Ivy resolves instead
    assert delta_jars(tmp_path / "absent") == []


def test_jars_of_another_delta_or_spark_are_not_used(tmp_path, caplog):
    (tmp_path / "io.delta_delta-spark_4.1_2.13-4.0.0.jar").write_bytes(b"PK")  # before an upgrade
    (tmp_path / ".complete").write_text("")
    assert delta_jars(tmp_path) == []
    assert "not those of Delta" in caplog.text


MIB = 1024**2


@pytest.mark.parametrize(
    ("input_bytes", "memory", "jit", "fraction"),
    [
        (140 * 1024, "1g", "quick", 0.6),  # the reference feed's day
        (TINY_DAY_BYTES, "1g", "quick", 0.6),
        (TINY_DAY_BYTES + 1, "1g", "full", 0.6),
        (120 * MIB, "1g", "full", 0.6),  # an M day
        (SMALL_DAY_BYTES + 1, "1280m", "full", 0.4),  # caches that fill the heap leave it room
        (594 * MIB, "1280m", "full", 0.4),  # an L day
        (MEDIUM_DAY_BYTES, "1280m", "full", 0.4),
        (MEDIUM_DAY_BYTES + 1, "2g", "full", 0.4),
        (None, "2g", "full", 0.4),  # unknown before Spark starts (object storage)
    ],
)
def test_a_session_is_sized_to_the_days_input(input_bytes, memory, jit, fraction):
    sized = sized_for(SparkSettings(), input_bytes)
    assert (sized.driver_memory, sized.jit, sized.memory_fraction) == (memory, jit, fraction)


def test_a_long_backfill_of_small_days_gets_the_full_jit():
    assert sized_for(SparkSettings(), 1024, days=QUICK_JIT_MAX_DAYS).jit == "quick"
    longer = sized_for(SparkSettings(), 1024, days=QUICK_JIT_MAX_DAYS + 1)
    assert (longer.driver_memory, longer.jit) == ("1g", "full")


def test_what_the_settings_name_is_never_resized():
    chosen = SparkSettings(driver_memory="6g", jit="full", memory_fraction=0.5, codegen=True)
    assert sized_for(chosen, 1024) == chosen
    assert sized_for(SparkSettings(codegen=False), None).codegen is False
    assert sized_for(SparkSettings(jit="quick"), None).jit == "quick"
    assert sized_for(SparkSettings(driver_memory="3g"), 1024).driver_memory == "3g"
    assert sized_for(SparkSettings(memory_fraction=0.5), None).memory_fraction == 0.5


def test_the_driver_gets_the_options_of_its_jit():
    quick = driver_java_options(SparkSettings(jit="quick"))
    assert quick[0].startswith("-Dlog4j.configurationFile=file:")
    # C1 only, the serial collector, and a heap that starts small and shrinks back.
    assert {"-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xms384m", "-XX:MaxHeapFreeRatio=30"} <= set(quick)
    # Every size collects with the serial collector.
    assert driver_java_options(SparkSettings(jit="full"))[1:] == ["-XX:+UseSerialGC", "-XX:-ShrinkHeapInSteps"]


def test_the_running_jvm_got_the_sessions_heap_jit_memory_share_and_codegen_cache(spark):
    """The test session is built with settings left open (conftest): sized as for a large input."""
    runtime = spark.sparkContext._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
    arguments = list(runtime.getInputArguments())
    large = sized_for(SparkSettings(), None)
    assert f"-Xmx{large.driver_memory}" in arguments
    for option in driver_java_options(large):
        assert option in arguments
    assert "-XX:TieredStopAtLevel=1" not in arguments
    collectors = spark.sparkContext._jvm.java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()
    assert sorted(c.getName() for c in collectors) == ["Copy", "MarkSweepCompact"]  # the serial collector's
    assert spark.conf.get("spark.sql.codegen.cache.maxEntries") == str(CODEGEN_CACHE_ENTRIES)
    memory = spark.sparkContext._jvm.org.apache.spark.SparkEnv.get().memoryManager()
    heap = spark.sparkContext._jvm.java.lang.Runtime.getRuntime().maxMemory()
    # Spark's caches and execution get the large share of the heap less its 300 MiB reserve.
    expected = (heap - 300 * MIB) * MEMORY_FRACTION["large"]
    assert memory.maxOnHeapStorageMemory() == pytest.approx(expected, rel=0.01)


def test_a_local_session_reads_a_few_small_files_in_one_task(spark, tmp_path: Path):
    """As Delta reads its log before each bronze write: one task, not one per file."""
    for n in range(6):
        (tmp_path / f"{n:020d}.json").write_text(f'{{"version": {n}}}\n', encoding="utf-8")
    files = spark.read.schema("version long").json(str(tmp_path))
    assert files.rdd.getNumPartitions() == 1
    assert sorted(r.version for r in files.collect()) == list(range(6))


@pytest.mark.parametrize(("memory", "start"), [("1g", "-Xms384m"), ("256m", "-Xms256m"), ("300", "-Xms300m")])
def test_the_quick_heap_never_starts_above_its_maximum(memory, start):
    """A heap that starts above its maximum would keep the JVM from starting at all."""
    options = driver_java_options(SparkSettings(jit="quick", driver_memory=memory))
    assert [o for o in options if o.startswith("-Xms")] == [start]


def test_the_heap_a_staging_grew_is_given_back_and_the_jvms_bounds_restored(spark):
    """After a day's staging the flow shrinks the driver's heap to what is live; the JVM's own bounds
    on free heap hold again afterwards, and the session goes on working."""
    jvm = spark.sparkContext._jvm
    bean = jvm.java.lang.management.ManagementFactory.getPlatformMXBean(
        jvm.java.lang.Class.forName("com.sun.management.HotSpotDiagnosticMXBean")
    )
    bounds = [str(bean.getVMOption(n).getValue()) for n in ("MinHeapFreeRatio", "MaxHeapFreeRatio")]
    held = jvm.java.util.ArrayList()
    for _ in range(96):  # the heap grows to hold 384 MiB
        held.add(spark.sparkContext._gateway.new_array(jvm.byte, 4 * MIB))
    jvm.java.util.Collections.fill(held, None)  # which the JVM may then free

    before, after = give_back_heap(spark)

    assert before >= 384 * MIB
    assert after < before / 2
    assert [str(bean.getVMOption(n).getValue()) for n in ("MinHeapFreeRatio", "MaxHeapFreeRatio")] == bounds
    assert spark.range(10).count() == 10


def test_a_home_without_jars_keeps_those_its_session_resolved(spark, tmp_path):
    resolved = resolved_jars(spark)  # the tests' session is given no jars: Ivy resolved them
    assert any(p.name.startswith("io.delta_delta-spark") for p in resolved)
    folder = tmp_path / "home" / "jars"
    kept = keep_jars(folder, resolved)
    assert [p.name for p in kept] == sorted(p.name for p in resolved)
    assert delta_jars(folder) == kept
    assert [p.stat().st_size for p in kept] == [p.stat().st_size for p in sorted(resolved, key=lambda p: p.name)]
    assert [p.name for p in tmp_path.joinpath("home").iterdir()] == ["jars"]  # nothing left aside


def test_jars_kept_before_an_upgrade_are_replaced(spark, tmp_path):
    folder = tmp_path / "jars"
    folder.mkdir()
    for name in ("io.delta_delta-spark_4.1_2.13-4.0.0.jar", "spark-classes.jsa"):  # and their class archive
        (folder / name).write_bytes(b"PK")
    (folder / ".complete").write_text("io.delta_delta-spark_4.1_2.13-4.0.0.jar\n")
    resolved = resolved_jars(spark)
    assert [p.name for p in keep_jars(folder, resolved)] == sorted(p.name for p in resolved)
    assert sorted(p.name for p in folder.iterdir()) == sorted([".complete", *(p.name for p in resolved)])
    assert [p.name for p in tmp_path.iterdir()] == ["jars"]  # nothing left aside


def test_jars_in_use_or_being_filled_are_left_as_they_are(spark, tmp_path):
    resolved = resolved_jars(spark)
    being_filled = tmp_path / "filling"
    being_filled.mkdir()
    (being_filled / delta_spark_jar()).write_bytes(b"PK")  # zluri setup-spark under way (no .complete yet)
    assert keep_jars(being_filled, resolved) == []
    assert [p.name for p in being_filled.iterdir()] == [delta_spark_jar()]
    in_use = tmp_path / "in-use"
    in_use.mkdir()
    (in_use / delta_spark_jar()).write_bytes(b"PK")
    (in_use / ".complete").write_text("")
    assert keep_jars(in_use, resolved) == []
    assert sorted(p.name for p in in_use.iterdir()) == [".complete", delta_spark_jar()]


def test_jars_that_cannot_be_kept_leave_nothing_behind(tmp_path, caplog):
    folder = tmp_path / "jars"
    assert keep_jars(folder, [tmp_path / "missing.jar"]) == []
    assert not folder.exists()
    assert [p.name for p in tmp_path.iterdir()] == []
    assert "were not kept" in caplog.text
