import pytest

from zluri_metrics.context import InvalidRunContext, RunContext

RUN = "6f1c1f0e-7c1b-4f5e-9a55-1b2c3d4e5f60"


@pytest.mark.parametrize("day", ["day1", "day10", "2026-01-05", "2024-02-29"])
def test_accepts_day_labels(day):
    assert RunContext(RUN, day, "upsert_agents").day == day


@pytest.mark.parametrize(
    "day",
    [
        "",
        "day1'; drop table core.agents; --",
        "../etc",
        "day 1",
        "x" * 65,
        "day01",
        "day0",
        "Day1",
        "sync_7",
        "2026-1-5",
        "2026-02-30",
        "20260105",
        "2026-01-05T00:00",
    ],
)
def test_rejects_bad_day_labels(day):
    with pytest.raises(InvalidRunContext, match="invalid day label"):
        RunContext(RUN, day, "upsert_agents")


def test_rejects_non_uuid_run_id():
    with pytest.raises(InvalidRunContext, match="flow_run_id must be a UUID"):
        RunContext("not-a-uuid", "day1", "t")


def test_run_id_is_canonicalised_and_settings_named():
    ctx = RunContext(RUN.upper(), "day1", "upsert_agents")
    assert ctx.settings() == {
        "app.flow_run_id": RUN,
        "app.day": "day1",
        "app.task_name": "upsert_agents",
        "app.pipeline_name": "zluri_day_pipeline",
    }
    assert ctx.for_task("upsert_groups").task_name == "upsert_groups"


def test_options_become_app_settings_and_are_validated():
    ctx = RunContext(RUN, "day1", "upsert_agents", options={"allow_mass_change": "true"})
    assert ctx.settings()["app.allow_mass_change"] == "true"
    assert ctx.for_task("upsert_groups").options == {"allow_mass_change": "true"}
    with pytest.raises(InvalidRunContext, match="invalid run option"):
        RunContext(RUN, "day1", "t", options={"bad name": "x"})
