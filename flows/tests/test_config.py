from pathlib import Path

import pytest

from zluri_flows.config import (
    MissingDayError,
    SettingError,
    Settings,
    check_day_folder,
    spark_for_days,
    spark_packages,
    spark_settings,
)
from zluri_staging.fx import FxSettings


def test_missing_day_folder_is_a_named_error(tmp_path):
    (tmp_path / "sync-day1").mkdir()
    check_day_folder(str(tmp_path), "day1")
    with pytest.raises(MissingDayError, match="no input folder for day 'day2'"):
        check_day_folder(str(tmp_path), "day2")


def test_remote_roots_wait_for_the_session_and_are_checked_through_it(spark, tmp_path):
    check_day_folder("s3a://bucket/feed", "day1")  # nothing to check with before Spark starts
    (tmp_path / "sync-day1").mkdir()
    # A file: URL is checked like any other URL once the session is there.
    check_day_folder(f"file://{tmp_path}", "day1", spark)
    with pytest.raises(MissingDayError, match=f"no input folder for day 'day2': {tmp_path}/sync-day2"):
        check_day_folder(f"file://{tmp_path}", "day2", spark)


def test_bronze_root_defaults_under_home_and_may_be_a_url(monkeypatch, tmp_path):
    monkeypatch.setenv("ZLURI_HOME", str(tmp_path))
    monkeypatch.delenv("ZLURI_BRONZE_ROOT", raising=False)
    assert Settings.from_env().bronze_root == str(tmp_path / "bronze")
    monkeypatch.setenv("ZLURI_BRONZE_ROOT", "s3a://lake/zluri/bronze")
    assert Settings.from_env().bronze_root == "s3a://lake/zluri/bronze"


def test_s3a_roots_bring_hadoop_aws_of_pysparks_hadoop(tmp_path):
    from zluri_staging.spark import hadoop_version

    assert spark_packages(str(tmp_path), str(tmp_path / "bronze")) == []
    expected = [f"org.apache.hadoop:hadoop-aws:{hadoop_version()}"]
    assert spark_packages("s3a://feed/in", str(tmp_path)) == expected
    assert spark_packages(str(tmp_path), "s3a://lake/bronze") == expected


def test_input_root_precedence(monkeypatch):
    monkeypatch.setenv("ZLURI_INPUT", "/from/env")
    assert Settings.from_env().input("/explicit") == "/explicit"
    assert Settings.from_env().input(None) == "/from/env"


def test_report_dir_is_per_day_and_run(monkeypatch, tmp_path):
    monkeypatch.setenv("ZLURI_HOME", str(tmp_path))
    assert Settings.from_env().report_dir("day2", "abc") == tmp_path / "reports" / "day2" / "abc"


def test_mass_change_options_from_flag_and_environment():
    def mass_change_options(allow: bool, env: dict[str, str]) -> dict[str, str]:
        return Settings.from_env(env).mass_change_options(allow)

    assert mass_change_options(False, {}) == {
        "allow_mass_change": "false",
        "mass_change_max_share": "0.25",
        "mass_change_min_population": "20",
    }
    env = {"ZLURI_MASS_CHANGE_MAX_SHARE": "0.5", "ZLURI_MASS_CHANGE_MIN_POPULATION": "100"}
    assert mass_change_options(True, env) == {
        "allow_mass_change": "true",
        "mass_change_max_share": "0.5",
        "mass_change_min_population": "100",
    }
    for bad in (
        {"ZLURI_MASS_CHANGE_MAX_SHARE": "25%"},
        {"ZLURI_MASS_CHANGE_MAX_SHARE": "0"},
        {"ZLURI_MASS_CHANGE_MIN_POPULATION": "-1"},
    ):
        with pytest.raises(ValueError, match="ZLURI_MASS_CHANGE"):
            mass_change_options(False, bad)


def test_sql_timeouts_from_the_environment(monkeypatch):
    from zluri_flows.config import SettingError, sql_timeouts
    from zluri_pg import Timeouts

    for name in (
        "ZLURI_LOCK_TIMEOUT",
        "ZLURI_STATEMENT_TIMEOUT",
        "ZLURI_IDLE_IN_TRANSACTION_TIMEOUT",
        "ZLURI_UPSERT_PHASE_TIMEOUT",
    ):
        monkeypatch.delenv(name, raising=False)
    assert sql_timeouts() == Timeouts(120, 1800, 300, 1800)
    monkeypatch.setenv("ZLURI_LOCK_TIMEOUT", "2.5")
    monkeypatch.setenv("ZLURI_STATEMENT_TIMEOUT", "60")
    assert sql_timeouts() == Timeouts(2.5, 60, 300, 1800)
    monkeypatch.setenv("ZLURI_IDLE_IN_TRANSACTION_TIMEOUT", "0")
    with pytest.raises(SettingError, match="ZLURI_IDLE_IN_TRANSACTION_TIMEOUT must be positive"):
        sql_timeouts()


def test_retention_days_default_and_errors(monkeypatch):
    from zluri_flows.config import SettingError

    def retention_days() -> int:
        return Settings.from_env().retention_days

    monkeypatch.delenv("ZLURI_RETENTION_DAYS", raising=False)
    assert retention_days() == 30
    monkeypatch.setenv("ZLURI_RETENTION_DAYS", "0")
    assert retention_days() == 0
    monkeypatch.setenv("ZLURI_RETENTION_DAYS", "a week")
    with pytest.raises(SettingError, match="whole number of days"):
        retention_days()


def test_driver_rows_default_and_errors(monkeypatch, tmp_path):
    from zluri_flows.config import SettingError
    from zluri_staging import dq

    def driver_rows() -> int:
        return Settings.from_env().staging("postgresql://db/zluri", str(tmp_path)).driver_rows

    monkeypatch.delenv("ZLURI_DRIVER_ROWS", raising=False)
    assert driver_rows() == dq.DRIVER_ROWS == 50_000
    monkeypatch.setenv("ZLURI_DRIVER_ROWS", "0")
    assert driver_rows() == 0
    monkeypatch.setenv("ZLURI_DRIVER_ROWS", "ten")
    with pytest.raises(SettingError, match="ZLURI_DRIVER_ROWS must be a whole number of rows"):
        driver_rows()


def test_database_url_is_checked_and_never_echoed(monkeypatch):
    from zluri_flows.config import database_url
    from zluri_pg import InvalidDatabaseUrl

    monkeypatch.setenv("ZLURI_DATABASE_URL", "postgresql://app:s3cret%zz@db/zluri")
    with pytest.raises(InvalidDatabaseUrl) as info:
        database_url(Settings.from_env())
    assert "s3cret" not in str(info.value)


def test_environment_url_wins(db_url, monkeypatch):
    from zluri_flows.config import database_url
    from zluri_pg import connect

    monkeypatch.setenv("ZLURI_DATABASE_URL", db_url)
    with connect(database_url(Settings.from_env())) as conn:
        assert conn.execute("select current_database()").fetchone() == (db_url.rsplit("dbname=", 1)[-1].split()[0],)


@pytest.fixture()
def override_file(tmp_path):
    path = tmp_path / "rates.csv"
    path.write_text("date,currency,usd_per_unit\n2025-03-07,GBP,1.3\n2025-03-06,AED,0.2722940\n")
    return path


def test_fx_settings_from_env(override_file):
    from zluri_flows.config import fx_settings

    assert fx_settings({}) == FxSettings(None, 7, Path(".zluri").resolve())
    env = {"ZLURI_FX_RATES_FILE": str(override_file), "ZLURI_FX_MAX_STALENESS_DAYS": "3", "ZLURI_HOME": "/srv/z"}
    assert fx_settings(env) == FxSettings(override_file, 3, Path("/srv/z"))
    with pytest.raises(FileNotFoundError, match="ZLURI_FX_RATES_FILE"):
        fx_settings({"ZLURI_FX_RATES_FILE": str(override_file) + ".missing"})
    with pytest.raises(ValueError, match="whole number"):
        fx_settings({"ZLURI_FX_MAX_STALENESS_DAYS": "a week"})


def test_every_deployment_reads_the_url_from_a_secret_and_carries_a_concurrency_limit():
    from pathlib import Path

    import yaml

    text = (Path(__file__).resolve().parents[1] / "prefect.yaml").read_text()
    config = yaml.safe_load(text)
    assert "ZLURI_DATABASE_URL" not in text.split("\ndefinitions:", 1)[1]  # no URL in any deployment
    for deployment in config["deployments"]:
        env = deployment["work_pool"]["job_variables"]["env"]
        assert env["ZLURI_DATABASE_SECRET"] == "zluri-database-url"
        assert deployment["concurrency_limit"] == {"limit": 1, "collision_strategy": "ENQUEUE"}


def _sparse_file(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.truncate(size)  # sparse: the size is what counts, no disk is spent


def test_the_session_is_sized_to_the_largest_day_unless_the_environment_says(tmp_path):
    from zluri_staging.spark import INTERPRETED_DAY_BYTES, MEDIUM_DAY_BYTES, QUICK_JIT_MAX_DAYS

    _sparse_file(tmp_path / "sync-day1" / "roles" / "1.json", 1_000)
    _sparse_file(tmp_path / "sync-day2" / "transactions" / "1.json", MEDIUM_DAY_BYTES + 1)
    settings = spark_settings({})
    day1 = spark_for_days(settings, str(tmp_path), ["day1"])
    assert (day1.driver_memory, day1.jit, day1.memory_fraction, day1.codegen) == ("1g", "quick", 0.6, False)
    both = spark_for_days(settings, str(tmp_path), ["day1", "day2"])  # a backfill: the largest day
    assert (both.driver_memory, both.jit, both.memory_fraction, both.codegen) == ("2g", "full", 0.4, True)
    many = spark_for_days(settings, str(tmp_path), ["day1"] * (QUICK_JIT_MAX_DAYS + 1))
    assert (many.driver_memory, many.jit) == ("1g", "full")
    for unknown in (
        spark_for_days(settings, "s3a://bucket/feed", ["day1"]),
        spark_for_days(settings, str(tmp_path), []),
    ):
        assert (unknown.driver_memory, unknown.jit, unknown.memory_fraction, unknown.codegen) == (
            "2g",
            "full",
            0.4,
            True,
        )
    _sparse_file(tmp_path / "sync-day3" / "cards" / "1.json", INTERPRETED_DAY_BYTES + 1)  # more than tiny
    day3 = spark_for_days(settings, str(tmp_path), ["day3"])
    assert (day3.jit, day3.codegen) == ("quick", True)
    chosen = spark_settings(
        {"ZLURI_SPARK_DRIVER_MEMORY": "4g", "ZLURI_SPARK_JIT": "Full", "ZLURI_SPARK_CODEGEN": "True"}
    )
    named = spark_for_days(chosen, str(tmp_path), ["day1"])
    assert (named.driver_memory, named.jit, named.codegen) == ("4g", "full", True)
    with pytest.raises(SettingError, match="ZLURI_SPARK_CODEGEN must be true or false, got 'off'"):
        spark_settings({"ZLURI_SPARK_CODEGEN": "off"})
    with pytest.raises(SettingError, match="ZLURI_SPARK_JIT must be one of full, quick, got 'fast'"):
        spark_settings({"ZLURI_SPARK_JIT": "fast"})
