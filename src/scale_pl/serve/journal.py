"""The write-ahead journal of the placement service: every accepted request, in order, in SQLite.

A request is checked, then written here (and committed), then applied; only then does the client
get its answer. Decisions are deterministic given the requests, so a restarted service that
applies the journal again from the start is in exactly the state it was in, responses included.
The service's configuration (cluster, catalogue, policy) is stored too, and a restart with a
different one is refused: the journal would replay into other decisions.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scale_pl.errors import ScaleError

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS requests (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,          -- 'submit' or 'events'
    key TEXT,                    -- the client's Idempotency-Key, if any
    body TEXT NOT NULL           -- the request body, canonical JSON (floats exact)
);
"""


class Journal:
    """An append-only list of accepted requests in a SQLite file.

    Args:
        path: the database file (created if missing).
        config: the service's configuration; must equal the one the file was created with.
        synchronous: SQLite's ``synchronous`` setting. ``FULL`` (the default) makes each accepted
            request durable against power loss; ``NORMAL`` only against a crash of the process.
    """

    def __init__(self, path: str | Path, config: dict[str, Any], synchronous: str = "FULL") -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise ScaleError(f"{self.path}: is a directory, not a state file")
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute(f"PRAGMA synchronous={synchronous}")
            self.db.executescript(SCHEMA)
            row = self.db.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise ScaleError(f"{self.path}: not a scale_pl state file ({exc})") from None
        text = json.dumps(config, sort_keys=True)
        if row is None:
            self.db.execute("INSERT INTO meta (key, value) VALUES ('config', ?)", (text,))
        elif row[0] != text:
            differs = _first_difference(json.loads(row[0]), config)
            raise ScaleError(
                f"{self.path}: this state was recorded with another configuration ({differs} differs); "
                "give the same --cluster, --policy and catalogue, or another --state"
            )

    def __len__(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM requests").fetchone()[0])

    def entries(self) -> Iterator[tuple[str, str | None, str]]:
        """The accepted requests in the order they were applied: (kind, idempotency key, body)."""
        yield from self.db.execute("SELECT kind, key, body FROM requests ORDER BY seq").fetchall()

    def append(self, kind: str, key: str | None, body: str) -> None:
        """Record one accepted request; it is committed (autocommit) when this returns."""
        self.db.execute("INSERT INTO requests (kind, key, body) VALUES (?, ?, ?)", (kind, key, body))

    def close(self) -> None:
        self.db.close()


def _first_difference(old: dict[str, Any], new: dict[str, Any]) -> str:
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            return repr(key)
    return "the configuration"
