"""Spark staging for the Zluri day feed."""

from importlib.metadata import version as _version

__version__ = _version("zluri-staging")
