"""The store's one journal: append-only JSON Lines under `_log/`, one file per log.

- `events.jsonl`: publishes, alias moves and removals, written by the store itself under the store lock;
- `runs.jsonl`: the start and end of every flow run (rungs.ops);
- `decisions.jsonl`: promotion gate decisions and rollbacks (rungs.ops).

Every record gets when (`at`, UTC), who (`user`) and where (`host`), is written as one line and fsynced
before `append` returns. Appends to one log serialise on its lock (`_locks/<log>.lock`; the events log
uses the store lock, which its writers already hold). A line torn by a crash mid-write is skipped on read.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from rungs.kernel import run_info, utc_now

from ._artifact import jsonable
from ._locks import exclusive

EVENTS, RUNS, DECISIONS = "events", "runs", "decisions"
_LOCKS = {EVENTS: "store"}  # the store's own writers (publish, aliases, gc) hold the store lock already


class Journal:
    """The logs under `<store>/_log/`."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, log: str) -> Path:
        return self.root / "_log" / f"{log}.jsonl"

    @contextlib.contextmanager
    def locked(self, log: str) -> Iterator[None]:
        """Hold the log's lock: appends to it, and whatever the caller decides under it, serialise."""
        name = _LOCKS.get(log, log)
        locks = self.root / "_locks"
        locks.mkdir(parents=True, exist_ok=True)
        with exclusive(locks / f"{name}.lock", what=f"the {log} log"):
            yield

    def append(self, log: str, record: dict, *, locked: bool = False) -> dict:
        """Append `record` with when, who and where; `locked=True` when the caller holds the log's lock."""
        info = run_info()
        full = jsonable({**record, "at": utc_now(), "user": info["user"], "host": info["host"]})
        line = json.dumps(full, ensure_ascii=False) + "\n"
        path = self.path(log)
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.nullcontext() if locked else self.locked(log), open(path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        return full

    def read(self, log: str) -> list[dict]:
        """Every record of the log, oldest first."""
        path = self.path(log)
        if not path.is_file():
            return []
        out = []
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line torn by a crash mid-write
                if isinstance(record, dict):
                    out.append(record)
        return out
