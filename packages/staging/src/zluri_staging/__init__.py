"""Spark staging for the Zluri day feed."""

__version__ = "0.2.0"
