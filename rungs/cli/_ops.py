"""Verbs of nightly operations: promote and rollback (the gate and the production alias), runs (the flow
runs recorded in the store)."""

from __future__ import annotations

import argparse
import sys

from rich.markup import escape

from rungs.kernel import RungsError, compose, human_duration, short_value
from rungs.ops import decisions, gate_and_promote, list_runs, rollback
from rungs.store import DECISIONS, Store

from ._output import console, narrow, print_json, table


def _print_decision(d: dict) -> None:
    con = console()
    style = {"promoted": "green", "forced": "yellow", "refused": "red", "rolled back": "yellow"}.get(d["outcome"], "")
    cand = (d.get("candidate") or {}).get("ref", "-")
    head = f"{d['outcome']}: {cand}" + (" (dry run, nothing moved)" if d.get("dry_run") else "")
    con.print(f"[{style}]{escape(head)}[/{style}]" if style else escape(head))
    if d.get("checks"):
        t = table("gate", "metric", "candidate", "production", "limit", "result", no_wrap=("result",))
        for c in d["checks"]:
            limit = short_value(round(c["limit"], 6)) if isinstance(c.get("limit"), float) else "-"
            color = {"ok": "green", "worse": "red"}.get(c["status"], "dim")
            t.add_row(escape(f"{c['name']} ({c['candidate_metric']})"), short_value(c["candidate"]), short_value(c["production"]),
                      limit, f"[{color}]{c['status']}[/{color}]")
        con.print(t)
    for m in d.get("moves") or []:
        con.print(escape(f"{m['kind']}@{d['alias']}: {m['from'] or '-'} → {m['ref']} {m['to']}"))
    for r in d.get("reasons") or []:
        con.print(escape(f"- {r}"))


def _headline(reason: str) -> bool:
    """The reasons worth a column in the log listing: what decided it, not every metric that passed."""
    return reason.endswith(": worse") or any(
        key in reason for key in ("did not measure", "first release", "already evaluate@", "despite the gate", "undoes decision")
    )


def cmd_promote(args: argparse.Namespace) -> int:
    store = Store(args.store)
    if args.log:
        log = decisions(store)
        if args.json:
            print_json(log)
            return 0
        t = table(f"promotion decisions ({store.journal.path(DECISIONS)})", "at", "decision", "action", "outcome", "candidate",
                  "production", "moved", "by", "why")
        for d in log:
            t.add_row(
                escape(str(d.get("at", ""))), d.get("decision", ""), escape(str(d.get("action"))), escape(str(d.get("outcome"))),
                escape(str((d.get("candidate") or {}).get("ref", "-"))), escape(str((d.get("production") or {}).get("ref", "-"))),
                escape(", ".join(f"{m['kind']}→{m['ref']}" for m in d.get("moves") or []) or "-"),
                escape(f"{d.get('user')}@{d.get('host')}"),
                escape("; ".join(([d["note"]] if d.get("note") else []) + [r for r in d.get("reasons") or [] if _headline(r)][:3])),
            )
        console().print(t if log else "no promotion decisions yet")
        return 0
    if not args.ref:
        raise RungsError("give REF (an evaluate artifact, or a model/index artifact that was evaluated), or --log")
    cfg = compose(args.overrides).promote
    d = gate_and_promote(store, args.ref, cfg, source="cli", force=args.force, note=args.reason, dry_run=args.dry_run)
    if args.json:
        print_json(d)
    else:
        _print_decision(d)
        if d["outcome"] == "refused":
            print("refused: production unchanged; --force promotes anyway (logged as forced)", file=sys.stderr)
    return 1 if d["outcome"] == "refused" else 0


def cmd_rollback(args: argparse.Namespace) -> int:
    d = rollback(Store(args.store), args.kind, alias=args.alias, note=args.reason)
    if args.json:
        print_json(d)
    else:
        _print_decision(d)
    return 0


def _add_promote(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "promote",
        help="promote a release to production by hand (the same gate and log as the nightly flow)",
        description=(
            "Compare the release behind REF (an evaluate artifact, or a model/index artifact: its newest evaluation) "
            "with evaluate@production on the gate metrics of conf/promote/ and, if none is worse beyond its "
            "tolerance, point the production alias of every kind of the release (evaluate and the corpus, base, "
            "cpt, sft, index and triage it evaluated) at it. The decision, with each metric, limit and reason, is appended "
            "to the store's decision log (_log/decisions.jsonl); each alias move is also in the event log. "
            "Exit 0 when promoted (or already production), 1 when refused."
        ),
        epilog=(
            "examples:\n  rungs promote evaluate:v4\n  rungs promote sft:v7 --dry-run\n"
            "  rungs promote evaluate:v4 --force --reason \"clinical review accepted the general_ppl drift\"\n"
            "  rungs promote evaluate:v4 promote.metrics.general_ppl.tolerance=0.1\n  rungs promote --log"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("ref", nargs="?", metavar="REF", help="evaluate:vN, or an sft/cpt/base/index artifact that was evaluated")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="Hydra overrides of the gate (promote.*)")
    p.add_argument("--force", action="store_true", help="promote even when the gate refuses (logged as forced)")
    p.add_argument("--reason", default="", metavar="TEXT", help="why, recorded with the decision")
    p.add_argument("--dry-run", action="store_true", help="show the gate's decision; move and log nothing")
    p.add_argument("--log", action="store_true", help="list every promotion decision instead")
    p.add_argument("--json", action="store_true", help="print the decision (or the log) as JSON")
    p.set_defaults(func=cmd_promote)


def _add_rollback(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "rollback",
        help="undo the latest promotion (all its kinds, or only KIND)",
        description=(
            "Point production back where it was before the latest promotion still in effect: every alias that "
            "promotion moved, or only KIND's. Running it again walks one promotion further back. Logged in the "
            "decision log like a promotion, and each move in the event log."
        ),
        epilog="examples:\n  rungs rollback\n  rungs rollback sft --reason \"tone complaints from the ward\"",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("kind", nargs="?", metavar="KIND", help="only this kind's alias (evaluate, sft, cpt, base, index, corpus)")
    p.add_argument("--alias", default="production", help="the alias to roll back (default production)")
    p.add_argument("--reason", default="", metavar="TEXT", help="why, recorded with the decision")
    p.add_argument("--json", action="store_true", help="print the decision as JSON")
    p.set_defaults(func=cmd_rollback)


STATUS_STYLE = {"completed": "green", "failed": "red", "crashed": "red", "running": "yellow"}


def cmd_runs(args: argparse.Namespace) -> int:
    store = Store(args.store)
    runs = [r for r in list_runs(store) if not args.status or r["status"] == args.status]
    runs = runs[: args.limit] if args.limit else runs
    if args.json:
        print_json(runs)
        return 0
    con = console()
    if not runs:
        con.print(f"no flow runs recorded in {escape(str(store.root))}")
        return 0
    short = narrow(con)  # 80 columns: who ran it is in `rungs runs --json`
    columns = ("started", "flow run", "status", "duration", "built", "promotion", *(() if short else ("by",)))
    t = table(f"flow runs in {store.root} (newest first)", *columns, no_wrap=("status", "duration"))
    for r in runs:
        style = STATUS_STYLE.get(r["status"], "")
        status = f"[{style}]{r['status']}[/{style}]" if style else r["status"]
        if r.get("error"):
            status += f"\n{escape(str(r['error']))[:120]}"
        promo = r.get("promotion") or {}
        started = str(r.get("started_at") or "").replace("T", " ").rstrip("Z")
        t.add_row(
            escape(started[:16] if short else started),
            escape(str(r.get("name") or r.get("flow"))),
            status,
            human_duration(r.get("duration_s")),
            escape(", ".join(r.get("built") or []) or "-") + (f" ({len(r['cached'])} cached)" if r.get("cached") else ""),
            escape(str(promo.get("outcome") or "-")),
            *(() if short else (escape(f"{r.get('user')}@{r.get('host')}"),)),
        )
    con.print(t)
    return 0


def _add_runs(sub: argparse._SubParsersAction) -> None:
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


def register(sub: argparse._SubParsersAction) -> None:
    for add in (_add_promote, _add_rollback, _add_runs):
        add(sub)
