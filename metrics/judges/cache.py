"""A cache of judge replies keyed by a hash of the exact request, so re-scoring costs no call.

In memory (LRU) always; with a path, also in SQLite on disk so the cache outlives the process.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections import OrderedDict
from pathlib import Path


def request_key(payload: dict) -> str:
    """Stable hash of a judge request (model, messages, format, temperature...)."""
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class ReplyCache:
    def __init__(self, max_entries: int = 10_000, path: str | Path | None = None):
        self._memory: OrderedDict[str, str] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            # Small synchronous reads and writes; a shared connection behind the lock is enough.
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, value TEXT NOT NULL)")

    def get(self, key: str) -> str | None:
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                return self._memory[key]
            if self._db is None:
                return None
            row = self._db.execute("SELECT value FROM replies WHERE key = ?", (key,)).fetchone()
            if row is None:
                return None
            self._remember(key, row[0])
            return row[0]

    def put(self, key: str, value: str) -> None:
        with self._lock:
            self._remember(key, value)
            if self._db is not None:
                self._db.execute("INSERT OR REPLACE INTO replies (key, value) VALUES (?, ?)", (key, value))

    def _remember(self, key: str, value: str) -> None:
        self._memory[key] = value
        self._memory.move_to_end(key)
        while len(self._memory) > self._max:
            self._memory.popitem(last=False)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
