"""Flow runs recorded in the store, so `rungs runs` lists recent nights with status and duration.

``_log/runs.jsonl`` is append-only: one ``start`` record when a flow run begins and one ``end`` record
(completed or failed, what it built, the promotion outcome) when it ends. A run whose process died
without an end record (SIGKILL, power loss) shows as ``crashed`` once its process is gone on this host.
The store's own event log (publishes, alias moves) stays the store's; this file and the promotion
decisions (rungs/promote.py) are separate append-only logs under ``_log/`` with their own locks.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import fcntl
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from . import provenance
from .store import Store, jsonable

RUNS_LOG = "runs.jsonl"


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@contextlib.contextmanager
def log_lock(store: Store, name: str) -> Iterator[None]:
    """An exclusive flock on ``_locks/<name>.lock``: serialises appends (and promotions) across processes."""
    locks = store.root / "_locks"
    locks.mkdir(parents=True, exist_ok=True)
    fd = os.open(locks / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def append_record(store: Store, filename: str, record: dict, *, locked: bool = False) -> dict:
    """Append one JSON line to ``_log/<filename>`` with when, who and where; fsynced before returning."""
    info = provenance.run_info()
    full = jsonable({**record, "at": _now(), "user": info["user"], "host": info["host"]})
    line = json.dumps(full, ensure_ascii=False) + "\n"
    log_dir = store.root / "_log"
    log_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.nullcontext() if locked else log_lock(store, Path(filename).stem), open(log_dir / filename, "a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())
    return full


def read_records(store: Store, filename: str) -> list[dict]:
    """Every record of ``_log/<filename>``, oldest first; a line torn by a crash mid-write is skipped."""
    path = store.root / "_log" / filename
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
                continue
            if isinstance(record, dict):
                out.append(record)
    return out


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
        append_record(
            self.store,
            RUNS_LOG,
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
        return append_record(
            self.store,
            RUNS_LOG,
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
    for rec in read_records(store, RUNS_LOG):
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


# --------------------------------------------------------------------------------------------------
# rungs runs


def _duration(seconds) -> str:
    if not isinstance(seconds, (int, float)):
        return "-"
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {sec:02d} s"


STATUS_STYLE = {"completed": "green", "failed": "red", "crashed": "red", "running": "yellow"}


def cmd_runs(args: argparse.Namespace) -> int:
    from rich.markup import escape
    from rich.table import Table

    from .cli import _console, _print_json

    store = Store(args.store)
    runs = [r for r in list_runs(store) if not args.status or r["status"] == args.status]
    runs = runs[: args.limit] if args.limit else runs
    if args.json:
        _print_json(runs)
        return 0
    console = _console()
    if not runs:
        console.print(f"no flow runs recorded in {escape(str(store.root))}")
        return 0
    table = Table(title=f"flow runs in {escape(str(store.root))} (newest first)", title_justify="left")
    for col in ("started", "flow run", "status", "duration", "built", "promotion", "by"):
        table.add_column(col, overflow="fold", no_wrap=col in ("started", "status", "duration"))
    for r in runs:
        style = STATUS_STYLE.get(r["status"], "")
        status = f"[{style}]{r['status']}[/{style}]" if style else r["status"]
        if r.get("error"):
            status += f"\n{escape(str(r['error']))[:120]}"
        promo = r.get("promotion") or {}
        table.add_row(
            escape(str(r.get("started_at") or "").replace("T", " ").rstrip("Z")),
            escape(str(r.get("name") or r.get("flow"))),
            status,
            _duration(r.get("duration_s")),
            escape(", ".join(r.get("built") or []) or "-") + (f" ({len(r['cached'])} cached)" if r.get("cached") else ""),
            escape(str(promo.get("outcome") or "-")),
            escape(f"{r.get('user')}@{r.get('host')}"),
        )
    console.print(table)
    return 0


def add_runs_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "runs",
        help="list recent flow runs with status, duration, what they built and the promotion outcome",
        description=(
            "List the flow runs recorded in the store (_log/runs.jsonl), newest first: when each started, its "
            "name (what it built), status (running, completed, failed, or crashed when its process is gone), "
            "duration, the artifacts it built, the promotion gate's outcome and who ran it. The Prefect UI shows "
            "the same runs; this list works without a server."
        ),
        epilog="examples:\n  rungs runs\n  rungs runs --status failed --limit 5\n  rungs runs --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--limit", type=int, default=20, metavar="N", help="show the N most recent runs (default 20; 0 = all)")
    p.add_argument("--status", choices=("running", "completed", "failed", "crashed"), help="only runs with this status")
    p.add_argument("--json", action="store_true", help="print the runs as a JSON list")
    p.set_defaults(func=cmd_runs)
