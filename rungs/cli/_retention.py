"""`rungs gc`: retention. Dry run by default; the rules live in the store (``Store.collect``)."""

from __future__ import annotations

import argparse

from rich.markup import escape

from rungs.kernel import human_bytes
from rungs.store import Garbage, Store, parse_age

from ._output import console, print_json, table


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
    store = Store(args.store)
    age = parse_age(args.older_than)
    g = store.collect(age) if args.yes else store.garbage(age)
    if args.json:
        print_json(_as_json(g, store))
        return 0
    con = console()
    verb = "removed" if g.deleted else "would remove"
    con.print(
        f"rungs gc --older-than {escape(args.older_than)}: artifacts created before {g.cutoff} that no alias reaches "
        f"through lineage" + ("" if g.deleted else " [bold](dry run: nothing is deleted without --yes)[/bold]")
    )
    if g.artifacts:
        t = table(f"{verb}: {len(g.artifacts)} artifact(s)", "ref", "id", "created", "size", no_wrap=("ref", "id", "created", "size"))
        for a in g.artifacts:
            t.add_row(escape(a.ref), a.id, escape(a.created_at), human_bytes(g.sizes.get(str(a.path), 0)))
        con.print(t)
    else:
        con.print("no artifact to remove")
    if args.verbose and g.kept:
        kept = table(f"kept: {len(g.kept)} artifact(s)", "ref", "id", "why", no_wrap=("ref", "id"))
        by_id = {a.id: a for a in store.artifacts()}
        for iid, why in g.kept.items():
            kept.add_row(escape(by_id[iid].ref if iid in by_id else "?"), iid, escape(why))
        con.print(kept)
    elif g.kept:
        con.print(f"kept {len(g.kept)} artifact(s) (alias targets, what they were built from, newer ones; -v lists why)")
    for label, paths, why in (
        ("staging", g.staging, "left in _tmp/ by builds that died"),
        ("scratch", g.scratch, "checkpoints of fingerprints already published"),
    ):
        for p in paths:
            con.print(f"{verb} {label} {escape(p.relative_to(store.root).as_posix())} ({human_bytes(g.sizes.get(str(p), 0))}): {why}")
    if args.verbose:
        for p, why in g.kept_other:
            con.print(f"kept {escape(p.relative_to(store.root).as_posix())}: {escape(why)}")
    con.print(f"{'freed' if g.deleted else 'would free'} {human_bytes(g.bytes)}" + ("; every removal is in `rungs log`" if g.deleted else ""))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
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
