"""zluri-feedgen stays an independent oracle: it imports none of the pipeline's packages."""

import ast
import sys
import tomllib
from pathlib import Path

import zluri_feedgen

PACKAGE = Path(zluri_feedgen.__file__).parent
ALLOWED_THIRD_PARTY = {"currency_converter"}


def imported_top_levels(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_modules_import_only_the_standard_library_itself_and_currency_converter():
    modules = sorted(PACKAGE.glob("*.py"))
    assert len(modules) > 5
    for module in modules:
        outside = imported_top_levels(module) - sys.stdlib_module_names - {"zluri_feedgen"} - ALLOWED_THIRD_PARTY
        assert not outside, f"{module.name} imports {sorted(outside)}"


def test_the_distribution_depends_on_no_package_of_ours():
    pyproject = PACKAGE.parents[1] / "pyproject.toml"
    dependencies = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    assert dependencies
    assert not [d for d in dependencies if d.lower().startswith("zluri")]
