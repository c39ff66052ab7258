"""Prefect flows, tasks and the ``zluri`` CLI of the day pipeline."""

from importlib.metadata import version as _version

__version__ = _version("zluri-flows")
