"""Pipeline metrics: one ``ops.pipeline_metrics`` row per task run, failures included, and the run
context (flow run, day, task) every package of the pipeline shares."""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

from zluri_metrics.context import InvalidRunContext, RunContext
from zluri_metrics.model import COLUMNS, MetricsRow
from zluri_metrics.read import read_rows
from zluri_metrics.record import insert_row, record_failure
from zluri_metrics.render import render_table

__all__ = [
    "COLUMNS",
    "InvalidRunContext",
    "MetricsRow",
    "RunContext",
    "insert_row",
    "record_failure",
    "read_rows",
    "render_table",
]
try:
    __version__ = _version("zluri-metrics")
except PackageNotFoundError:  # run from sources without an install (Pants' sandbox)
    __version__ = "0+unknown"
