"""Flow runs recorded in the store, so `rungs runs` lists recent nights with status and duration.

``_log/runs.jsonl`` is append-only: one ``start`` record when a flow run begins and one ``end`` record
(completed or failed, what it built, the promotion outcome) when it ends. A run whose process died
without an end record (SIGKILL, power loss) shows as ``crashed`` once its process is gone on this host.
Like the store's event log and the promotion decisions, this is one log of the store's journal
(rungs.store), appended under its own lock.
"""

from __future__ import annotations

import os
import socket
import time
import uuid

from rungs.store import RUNS, Store


class RunRecorder:
    """Start and end records of one flow run in ``_log/runs.jsonl``."""

    def __init__(self, store: Store, flow: str, name: str, *, run_id: str | None = None, overrides: list[str] | None = None, prefect: dict | None = None):
        self.store = store
        self.run_id = run_id or uuid.uuid4().hex
        self.flow = flow
        self.name = name
        self.overrides = list(overrides or [])
        self.prefect = dict(prefect or {})
        self._began = time.monotonic()

    def start(self) -> None:
        self._began = time.monotonic()
        self.store.journal.append(
            RUNS,
            {
                "record": "start",
                "run": self.run_id,
                "flow": self.flow,
                "name": self.name,
                "overrides": self.overrides,
                "prefect": self.prefect,
                "pid": os.getpid(),
            },
        )

    def finish(self, status: str, *, name: str | None = None, rows: list[dict] | None = None, **fields) -> dict:
        rows = rows or []
        return self.store.journal.append(
            RUNS,
            {
                "record": "end",
                "run": self.run_id,
                "status": status,
                "name": name or self.name,
                "duration_s": round(time.monotonic() - self._began, 2),
                "built": [r["ref"] for r in rows if not r.get("cached")],
                "cached": [r["ref"] for r in rows if r.get("cached")],
                **fields,
            },
        )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def list_runs(store: Store, limit: int | None = None) -> list[dict]:
    """Runs newest first: start and end records merged, with status running | completed | failed | crashed."""
    runs: dict[str, dict] = {}
    for rec in store.journal.read(RUNS):
        run_id = rec.get("run")
        if not run_id:
            continue
        if rec.get("record") == "start":
            runs[run_id] = {
                "run": run_id,
                "flow": rec.get("flow"),
                "name": rec.get("name"),
                "status": "running",
                "started_at": rec.get("at"),
                "ended_at": None,
                "duration_s": None,
                "overrides": rec.get("overrides") or [],
                "prefect": rec.get("prefect") or {},
                "user": rec.get("user"),
                "host": rec.get("host"),
                "pid": rec.get("pid"),
                "built": [],
                "cached": [],
            }
        elif rec.get("record") == "end" and run_id in runs:
            run = runs[run_id]
            run.update({k: v for k, v in rec.items() if k not in ("record", "at", "user", "host")})
            run["ended_at"] = rec.get("at")
    host = socket.gethostname()
    for run in runs.values():
        if run["status"] == "running" and run.get("host") == host and isinstance(run.get("pid"), int) and not _alive(run["pid"]):
            run["status"] = "crashed"  # no end record and its process is gone
    # dict order is start-record order: the tie-break for runs started within the same second
    ordered = [r for _, r in sorted(enumerate(runs.values()), key=lambda p: (p[1].get("started_at") or "", p[0]), reverse=True)]
    return ordered[:limit] if limit else ordered
