"""Optional extras of zluri-flows, and the error a command gives when the one it needs is missing.

``feedgen`` (``pip install 'zluri-flows[feedgen]'``; ``make setup`` installs it editable) brings
the synthetic feed generator, zluri-feedgen, for ``zluri generate`` and ``zluri bench``. The worker
image leaves it out: flow runs never generate input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class MissingExtra(RuntimeError):
    """A command needs an optional extra that is not installed."""


def feed_generator() -> Callable[..., dict[str, Any]]:
    """``zluri_feedgen.generate_feed``, or `MissingExtra` naming the extra to install."""
    try:
        from zluri_feedgen import generate_feed
    except ModuleNotFoundError as exc:
        if exc.name != "zluri_feedgen":
            raise  # installed but broken: that error is the useful one
        raise MissingExtra(
            "the feed generator is not installed: pip install 'zluri-flows[feedgen]' (or zluri-feedgen)"
        ) from None
    return generate_feed
