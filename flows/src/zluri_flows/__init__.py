"""Prefect flows, tasks and the ``zluri`` CLI of the day pipeline."""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

try:
    __version__ = _version("zluri-flows")
except PackageNotFoundError:  # run from sources without an install (Pants' sandbox)
    __version__ = "0+unknown"
