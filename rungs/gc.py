"""`rungs gc`: retention. Dry run by default; the rules live in ``Store.collect``."""

from __future__ import annotations

import argparse
import datetime as _dt
import re

from .errors import RungsError
from .store import Garbage, Store

_AGE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(text: str) -> _dt.timedelta:
    """``30d``, ``12h``, ``90m``, ``2w``, ``0s`` -> timedelta."""
    m = _AGE_RE.match(str(text))
    if not m:
        raise RungsError(f"--older-than {text!r}: expected a number and a unit s, m, h, d or w (e.g. 30d, 12h)")
    return _dt.timedelta(**{_UNITS[m[2]]: float(m[1])})


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024:
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def _as_json(g: Garbage, store: Store) -> dict:
    def rel(p) -> str:
        return p.relative_to(store.root).as_posix()

    return {
        "deleted": g.deleted,
        "cutoff": g.cutoff,
        "bytes": g.bytes,
        "artifacts": [
            {"ref": a.ref, "id": a.id, "kind": a.kind, "created_at": a.created_at, "bytes": g.sizes.get(str(a.path), 0)}
            for a in g.artifacts
        ],
        "staging": [{"path": rel(p), "bytes": g.sizes.get(str(p), 0)} for p in g.staging],
        "scratch": [{"path": rel(p), "bytes": g.sizes.get(str(p), 0)} for p in g.scratch],
        "kept": g.kept,
        "kept_other": [{"path": rel(p), "why": why} for p, why in g.kept_other],
    }


def cmd_gc(args: argparse.Namespace) -> int:
    from rich.markup import escape
    from rich.table import Table

    from .cli import _console, _print_json

    store = Store(args.store)
    age = parse_age(args.older_than)
    g = store.collect(age) if args.yes else store.garbage(age)
    if args.json:
        _print_json(_as_json(g, store))
        return 0
    console = _console()
    verb = "removed" if g.deleted else "would remove"
    console.print(
        f"rungs gc --older-than {escape(args.older_than)}: artifacts created before {g.cutoff} that no alias reaches "
        f"through lineage" + ("" if g.deleted else " [bold](dry run: nothing is deleted without --yes)[/bold]")
    )
    if g.artifacts:
        table = Table(title=f"{verb}: {len(g.artifacts)} artifact(s)", title_justify="left")
        for col in ("ref", "id", "created", "size"):
            table.add_column(col, no_wrap=True)
        for a in g.artifacts:
            table.add_row(escape(a.ref), a.id, escape(a.created_at), _size(g.sizes.get(str(a.path), 0)))
        console.print(table)
    else:
        console.print("no artifact to remove")
    if args.verbose and g.kept:
        kept = Table(title=f"kept: {len(g.kept)} artifact(s)", title_justify="left")
        kept.add_column("ref", no_wrap=True)
        kept.add_column("id", no_wrap=True)
        kept.add_column("why")
        by_id = {a.id: a for a in store.artifacts()}
        for iid, why in g.kept.items():
            kept.add_row(escape(by_id[iid].ref if iid in by_id else "?"), iid, escape(why))
        console.print(kept)
    elif g.kept:
        console.print(f"kept {len(g.kept)} artifact(s) (alias targets, what they were built from, newer ones; -v lists why)")
    for label, paths, why in (
        ("staging", g.staging, "left in _tmp/ by builds that died"),
        ("scratch", g.scratch, "checkpoints of fingerprints already published"),
    ):
        for p in paths:
            console.print(f"{verb} {label} {escape(p.relative_to(store.root).as_posix())} ({_size(g.sizes.get(str(p), 0))}): {why}")
    if args.verbose:
        for p, why in g.kept_other:
            console.print(f"kept {escape(p.relative_to(store.root).as_posix())}: {escape(why)}")
    console.print(f"{'freed' if g.deleted else 'would free'} {_size(g.bytes)}" + ("; every removal is in `rungs log`" if g.deleted else ""))
    return 0


def add_gc_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "gc",
        help="remove old artifacts that no alias needs (dry run unless --yes)",
        description=(
            "Retention. Lists (and with --yes removes) artifacts created more than --older-than ago that no alias "
            "reaches through lineage: every alias target (latest, production, your tags) is kept together with "
            "everything upstream of it, and so is everything newer than the cutoff with its inputs. Also removes "
            "staging directories in _tmp/ left by builds that were killed, and _scratch/ checkpoints of "
            "fingerprints already published. Runs under the store lock; every removal is logged in the event log."
        ),
        epilog="examples:\n  rungs gc --older-than 30d            # dry run: what would go\n"
        "  rungs gc --older-than 30d --yes      # remove it",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--older-than", default="30d", metavar="AGE", help="minimum age of an artifact to remove: 30d, 12h, 90m, 2w (default 30d)")
    p.add_argument("--yes", "--delete", dest="yes", action="store_true", help="really delete (default: dry run)")
    p.add_argument("-v", "--verbose", action="store_true", help="also list what is kept and why")
    p.add_argument("--json", action="store_true", help="print {deleted, cutoff, bytes, artifacts, staging, scratch, kept} as JSON")
    p.set_defaults(func=cmd_gc)
