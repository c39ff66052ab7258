"""session.py: the warm-up takes the paths the run will take."""

from __future__ import annotations

from zluri_flows.session import _days_found, warm_up_for_run
from zluri_staging import warmup
from zluri_staging.spark import TINY_DAY_BYTES


def test_the_warm_up_replaces_a_day_only_for_a_rerun_and_checks_on_spark_only_for_more_than_a_tiny_day(
    spark, tmp_path, monkeypatch
):
    calls: list[dict[str, bool]] = []
    monkeypatch.setattr(warmup, "warm_up", lambda session, **kwargs: calls.append(kwargs))
    bronze_root = tmp_path / "bronze"
    (bronze_root / "cards" / "day=day1").mkdir(parents=True)  # an earlier run wrote day1's cards

    warm_up_for_run(spark, str(bronze_root), ["day2"], TINY_DAY_BYTES + 1)  # a new day, larger than tiny
    warm_up_for_run(spark, str(bronze_root), ["day1"], 1_000)  # a re-run of a tiny day
    warm_up_for_run(spark, str(tmp_path / "none"), ["day1"], 1_000)  # a new tiny day
    warm_up_for_run(spark, "s3a://bucket/bronze", ["day1"], None)  # nothing known (remote roots)
    assert calls == [
        {"replace": False, "on_spark": True},
        {"replace": True, "on_spark": False},
        {"replace": False, "on_spark": False},
        {"replace": True, "on_spark": True},
    ]


def test_an_early_session_is_not_warmed_up_for_a_run_whose_day_is_missing(spark, tmp_path):
    (tmp_path / "sync-day1").mkdir()
    # A URL is looked at through the session, as a remote root is: the CLI then reports the missing
    # day at once, instead of after the warm-up.
    assert _days_found(spark, f"file://{tmp_path}", ["day1"])
    assert not _days_found(spark, f"file://{tmp_path}", ["day1", "day2"])
