"""Pausing the cyclic garbage collector around work that makes millions of small acyclic objects."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Millions of small acyclic objects (invoices, crossings) make the cyclic GC rescan them again and again;
    nothing here forms cycles, so it is paused for the evaluation and resumed after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
