"""Commands that need the feedgen extra say how to install it when it is missing."""

import sys

import pytest
from typer.testing import CliRunner

from zluri_flows.cli import app
from zluri_flows.extras import MissingExtra, feed_generator


def test_the_generator_comes_from_zluri_feedgen():
    import zluri_feedgen

    assert feed_generator() is zluri_feedgen.generate_feed


@pytest.fixture
def without_feedgen(monkeypatch):
    # None in sys.modules makes `import zluri_feedgen` fail exactly as an uninstalled package does.
    for name in [m for m in sys.modules if m == "zluri_feedgen" or m.startswith("zluri_feedgen.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "zluri_feedgen", None)


def test_generate_without_the_extra_names_it_and_exits_2(without_feedgen, tmp_path):
    with pytest.raises(MissingExtra, match=r"pip install 'zluri-flows\[feedgen\]'"):
        feed_generator()
    result = CliRunner().invoke(app, ["generate", "--out", str(tmp_path / "feed"), "--days", "1"])
    assert result.exit_code == 2, result.output
    assert "zluri-flows[feedgen]" in result.output
    assert not (tmp_path / "feed").exists()


def test_bench_without_the_extra_stops_before_any_work(without_feedgen, tmp_path, capsys):
    from zluri_flows.bench import main

    assert main(["--out", str(tmp_path / "bench")]) == 2
    assert "zluri-flows[feedgen]" in capsys.readouterr().err
    assert not (tmp_path / "bench").exists()
