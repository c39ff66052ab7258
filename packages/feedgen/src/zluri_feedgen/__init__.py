"""Synthetic Zluri feed in the real on-disk format, plus the end state a correct pipeline must reach.

An independent oracle: it writes the feed and ``expected.json`` from its own logic and imports no
other package of the pipeline, so a pipeline that misreads the files cannot agree with it by accident.

Modules: `feed` (`generate_feed`, the layout of the truth), `helpdesk` (agents, groups, roles),
`spend` (budgets, cards, transactions), `truth` (transaction truth, ``expected.json``), `files`
(the three on-disk layouts), `hierarchy` (group rules), `rates` (ECB rates), `values` (hashes,
ids, timestamps), `mess` (how dirty the feed is).
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

from zluri_feedgen.feed import generate_feed
from zluri_feedgen.hierarchy import find_cycles, inactive_groups
from zluri_feedgen.mess import Mess
from zluri_feedgen.rates import usd_rate
from zluri_feedgen.truth import TransactionTruth

try:
    __version__ = _version("zluri-feedgen")
except PackageNotFoundError:  # run from sources without an install (Pants' sandbox)
    __version__ = "0+unknown"

__all__ = ["Mess", "TransactionTruth", "__version__", "find_cycles", "generate_feed", "inactive_groups", "usd_rate"]
