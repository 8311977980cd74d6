"""A thread-safe least-recently-used cache bounded by total size in bytes (no Streamlit here).

Streamlit's ``cache_resource(max_entries=...)`` bounds the number of entries, but an analysis of
512 tokens is ~100× larger than one of 20 tokens (attentions grow with tokens²), so a count alone
does not bound memory. Several browser sessions share one cache, hence the lock.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

Value = TypeVar("Value")


class BoundedCache(Generic[Value]):
    """LRU cache holding at most ``max_bytes`` (as measured by ``size_of``) and ``max_entries``.

    A value larger than ``max_bytes`` on its own is returned but not kept. Values are computed
    outside the lock, so a slow computation never blocks other sessions' cache hits; two sessions
    asking for the same new key at once may both compute it (the result is the same).
    """

    def __init__(self, max_bytes: int, size_of: Callable[[Value], int],
                 max_entries: int = 256) -> None:
        if max_bytes <= 0 or max_entries <= 0:
            raise ValueError("max_bytes and max_entries must be positive")
        self.max_bytes = int(max_bytes)
        self.max_entries = int(max_entries)
        self._size_of = size_of
        self._entries: OrderedDict[Hashable, tuple[Value, int]] = OrderedDict()
        self._total_bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._entries

    def held_keys(self) -> list[Hashable]:
        """The keys held now, least recently used first (a snapshot)."""
        with self._lock:
            return list(self._entries)

    @property
    def total_bytes(self) -> int:
        with self._lock:
            return self._total_bytes

    def get(self, key: Hashable, compute: Callable[[], Value]) -> Value:
        """The cached value for ``key``, or ``compute()`` stored under it (exceptions propagate,
        nothing is stored)."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return self._entries[key][0]
            self.misses += 1
        value = compute()
        size = int(self._size_of(value))
        if size > self.max_bytes:
            return value
        with self._lock:
            if key in self._entries:  # computed meanwhile by another session
                self._total_bytes -= self._entries.pop(key)[1]
            self._entries[key] = (value, size)
            self._total_bytes += size
            while self._total_bytes > self.max_bytes or len(self._entries) > self.max_entries:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._total_bytes -= dropped
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._total_bytes = 0
