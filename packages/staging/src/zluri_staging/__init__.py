"""Spark staging for the Zluri day feed."""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

try:
    __version__ = _version("zluri-staging")
except PackageNotFoundError:  # run from sources without an install (Pants' sandbox)
    __version__ = "0+unknown"
