"""A crash-safe response cache: SQLite in WAL mode, one transaction per finished batch.

After ``kill -9`` the last committed batch is on disk and nothing half-written is visible, so
re-running the same command asks the model only for what is missing. Keys are content hashes of
everything that can change a response (see ``response_key``), so a changed model, prompt, task or
generation setting can never be served a stale answer. Failed generations are not cached: they are
retried on the next run.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from finebench.util.errors import FinebenchError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    task TEXT NOT NULL,
    doc_id INTEGER NOT NULL,
    trial INTEGER,
    response TEXT NOT NULL,
    created REAL NOT NULL DEFAULT (julianday('now'))
)
"""


def response_key(
    model_fingerprint: str,
    task_hash: str,
    doc_id: int,
    trial: int | None,
    gen_kwargs: Mapping[str, Any],
    prompt_hash: str,
) -> str:
    """Content hash of one generation. ``trial`` is None when it cannot change the output
    (greedy decoding of an identical prompt), so repeated greedy trials share one generation."""
    payload = [model_fingerprint, task_hash, doc_id, trial, dict(sorted(gen_kwargs.items())), prompt_hash]
    return hashlib.sha256(json.dumps(payload, default=str).encode()).hexdigest()


class ResponseCache:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise FinebenchError(f"response cache {self.path} is a folder; give --cache-path a file")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL is durable against a killed process in WAL mode (only an OS crash can lose the
            # last commit), and avoids an fsync per batch.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=30000")
            self._db.execute(_SCHEMA)
            self._db.execute("SELECT key, response FROM responses LIMIT 1").fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(exc) from exc
        except OSError as exc:
            raise FinebenchError(f"response cache {self.path}: cannot open it ({exc.strerror or exc})") from exc

    def _corrupt(self, exc: Exception) -> FinebenchError:
        return FinebenchError(
            f"response cache {self.path} is unreadable ({exc}); delete it (and its -wal/-shm files) to rebuild "
            "it: finished results are kept, only the model is asked again")

    def get_many(self, keys: Iterable[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        keys = list(dict.fromkeys(keys))
        for start in range(0, len(keys), 900):  # stay under SQLite's bound-parameter limit
            chunk = keys[start : start + 900]
            marks = ",".join("?" * len(chunk))
            try:
                found.update(self._db.execute(f"SELECT key, response FROM responses WHERE key IN ({marks})", chunk))
            except sqlite3.DatabaseError as exc:
                raise self._corrupt(exc) from exc
        return found

    def put_many(self, rows: Iterable[tuple[str, str, str, int, int | None, str]]) -> None:
        """Insert ``(key, model, task, doc_id, trial, response)`` rows in one transaction."""
        try:
            with self._transaction():
                self._db.executemany(
                    "INSERT OR REPLACE INTO responses (key, model, task, doc_id, trial, response) VALUES (?,?,?,?,?,?)",
                    list(rows),
                )
        except sqlite3.OperationalError as exc:
            if "full" in str(exc):
                raise FinebenchError(f"response cache {self.path}: the disk is full ({exc}); free space and run "
                                     "the same command again (it resumes from the cache)") from exc
            raise
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(exc) from exc

    def count(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
