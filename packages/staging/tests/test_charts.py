import xml.etree.ElementTree as ET

import pytest

from zluri_staging.charts import PALETTE, line_chart, nice_ticks


@pytest.mark.parametrize(
    ("top", "integer", "ticks"),
    [
        (5.6, True, [0, 2, 4, 6]),
        (100.0, False, [0, 20, 40, 60, 80, 100]),
        (0.0, False, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (0.3, False, [0, 0.1, 0.2, 0.3]),
        (0.7, False, [0, 0.2, 0.4, 0.6, 0.8]),
        (3.0, True, [0, 1, 2, 3]),
        (112_001.0, True, [0, 25_000, 50_000, 75_000, 100_000, 125_000]),
    ],
)
def test_ticks_start_at_zero_and_reach_the_top_at_a_round_step(top, integer, ticks):
    assert nice_ticks(top, integer=integer) == ticks


def _svg(markup: str) -> ET.Element:
    return ET.fromstring(markup)  # well-formed XML, or this raises


def test_a_missing_day_breaks_the_line_and_flagged_points_are_ringed():
    days = [f"day{n}" for n in range(1, 6)]
    svg = _svg(
        line_chart(
            "cards: rows per day",
            days,
            {"read": [10, 12, None, 11, 9], "loaded": [10, 12, None, 3, 9]},
            "rows",
            {"loaded": {"day4"}},
            integer=True,
        )
    )
    lines = svg.findall("polyline")
    assert [len(p.get("points", "").split()) for p in lines] == [2, 2, 2, 2]  # each series: days 1-2, days 4-5
    assert {p.get("stroke") for p in lines} == {PALETTE[0], PALETTE[1]}
    rings = [c for c in svg.findall("circle") if c.get("fill") == "none"]
    assert len(rings) == 1
    # The ring is on the loaded line's point of day4 (the first point of its second piece).
    loaded_day4 = lines[3].get("points", "").split()[0].split(",")
    assert (rings[0].get("cx"), rings[0].get("cy")) == (loaded_day4[0], loaded_day4[1])
    texts = [t.text for t in svg.iter("text")]
    assert texts[0] == "cards: rows per day" and "rows" in texts
    assert {"read", "loaded"} <= set(texts)  # a legend for more than one series
    assert [t for t in texts if t and t.startswith("day")] == days


def test_a_single_series_has_no_legend_and_many_days_are_labelled_sparsely():
    days = [f"2026-01-{n:02d}" for n in range(1, 31)]
    markup = line_chart("Task durations", days, {"stage_cards": [float(n % 7) for n in range(30)]}, "seconds")
    svg = _svg(markup)
    labels = [t.text for t in svg.iter("text") if t.text and t.text.startswith("2026-")]
    assert labels == days[::3]  # at most 12 labels
    assert "stage_cards" not in [t.text for t in svg.iter("text")]
    assert "http" not in markup  # no URL: the page stays offline


def test_markup_is_escaped_and_empty_series_draw_no_line():
    markup = line_chart("a <b> & c", ["day1"], {"x<y": [None], "z": [float("nan")]}, "rows")
    svg = _svg(markup)
    assert svg.find("polyline") is None and svg.find("circle") is None
    assert "a <b> & c" in [t.text for t in svg.iter("text")]
    assert "<b>" not in markup and "x&lt;y" in markup
