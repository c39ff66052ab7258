"""The run context every SQL file sees through ``current_setting('app.*', true)``: the pipeline's one
``RunContext``, defined in zluri_metrics (the lowest package) so staging and the metrics writer share
it."""

from zluri_metrics.context import (
    DAY_N,
    DAY_N_PATTERN,
    ISO_DATE,
    ISO_DATE_PATTERN,
    InvalidRunContext,
    RunContext,
    day_scheme,
    validate_day,
)

__all__ = [
    "DAY_N",
    "DAY_N_PATTERN",
    "ISO_DATE",
    "ISO_DATE_PATTERN",
    "InvalidRunContext",
    "RunContext",
    "day_scheme",
    "validate_day",
]
