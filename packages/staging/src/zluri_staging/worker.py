"""What the functions the executors' Python workers run (``mapInArrow``: cutting files into rows,
COPY, reading ids) do around their work. Spark keeps a worker between tasks, so what one takes
stays taken while it waits for the next.

pyarrow's first conversion of a Python list (``pa.array``, and so ``RecordBatch.from_pydict``) asks
whether the values are pandas objects and, to know, imports pandas if it is installed: 0.35-0.41 s
and about 50 MiB in every worker, which never hands pyarrow a pandas object. ``arrow_without_pandas``
lets pyarrow look for pandas once while that import is refused, so its checks answer "not pandas"
from then on. Nothing else changes: pandas can still be imported, and a conversion to pandas
(``to_pandas``) imports it as before. A conversion that infers its type imports pandas all the same
(Arrow's inference looks for pandas' missing-value markers): the workers give every one its type.
"""

from __future__ import annotations

import ctypes
import functools
import sys
from collections.abc import Callable
from typing import cast

import pyarrow as pa

__all__ = ["arrow_without_pandas", "release_memory"]


@functools.cache
def arrow_without_pandas() -> None:
    """Have pyarrow settle, without importing pandas, that lists it converts hold no pandas objects.
    Once per worker; nothing to do where pandas is imported already."""
    if "pandas" in sys.modules:
        return
    refuse = _Refuse("pandas")
    sys.meta_path.insert(0, refuse)
    try:
        pa.array([], pa.int8())  # pyarrow's one look for pandas (it keeps the answer)
    finally:
        sys.meta_path.remove(refuse)


class _Refuse:
    """An import finder that refuses one top-level module (and its submodules)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        if fullname.partition(".")[0] == self.name:
            raise ModuleNotFoundError(f"{fullname} is not imported here", name=fullname)


def release_memory() -> None:
    """Hand back to the system what a task's batches left free in Arrow's pool and in the C heap,
    before the worker waits for its next task. With the CSV streamed to the COPY, the workers' peak
    on an L day fell from 0.45 GiB to 0.41 (two workers and their daemon)."""
    pa.default_memory_pool().release_unused()
    if (trim := _malloc_trim()) is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, looked up once per worker; None where the C library is not glibc."""
    try:
        return cast(Callable[[int], int], ctypes.CDLL("libc.so.6").malloc_trim)
    except (OSError, AttributeError):
        return None
