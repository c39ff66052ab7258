"""Prefect flows, tasks and the ``zluri`` CLI of the day pipeline."""

__version__ = "0.2.0"
