"""Verbs of audit: audit (a self-contained report of an artifact and its lineage), diff, export-lineage.

rungs.audit loads the OpenLineage client, so each command imports it when it runs: `rungs --help` does not.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rich.markup import escape

from rungs.kernel import RungsError
from rungs.store import Store

from ._artifacts import public_keys
from ._output import REF_HELP, console, print_json, table


def cmd_audit(args: argparse.Namespace) -> int:
    from rungs.audit import write_report  # imports the OpenLineage client: only when a command needs it

    result = write_report(Store(args.store), args.ref, Path(args.out) if args.out else None, public_keys(args.public_key))
    report = result.report
    if args.json:
        print_json({
            "ok": result.ok, "subject": report["subject"], "failed": report["failed"], "missing": report["missing"],
            "history": report["history"],
            "artifacts": [a["ref"] for a in report["artifacts"]],
            "files": {"markdown": str(result.markdown), "html": str(result.html), "png": str(result.png), "json": str(result.json)},
        })
    else:
        subj = report["subject"]
        n = len(report["artifacts"])
        print(f"audit of {subj['ref']} ({subj['id']}): {n} artifact(s) in its lineage")
        for a in report["artifacts"]:
            mark = "OK  " if a["verify"]["ok"] else "FAIL"
            print(f"  {mark} {a['ref']:<14} {a['id']}  {a['created_at']}  {a['run'].get('user', '?')}@{a['run'].get('host', '?')}")
            for problem in a["verify"]["problems"]:
                print(f"         {problem}")
        for iid in report["missing"]:
            print(f"  MISSING input {iid}")
        print(f"  {'OK  ' if report['history']['ok'] else 'FAIL'} history: the journal ({report['history']['entries']} entries) and the aliases")
        for problem in report["history"]["problems"]:
            print(f"         {problem}")
        print(f"wrote {result.markdown}\n      {result.html} (self-contained)\n      {result.png}\n      {result.json}")
    if not result.ok:
        broken = report["failed"] + report["missing"] + ([] if report["history"]["ok"] else ["the store's history"])
        print(f"audit: verification failed for {', '.join(broken)}", file=sys.stderr)
    return 0 if result.ok else 1


def _add_audit(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "audit",
        help="write an audit report of an artifact and everything upstream of it",
        description=(
            "Write a self-contained audit report of REF: every upstream artifact down to the raw files, with "
            "the sha256 of every file, resolved configs, code version (git commit), package versions, metrics, "
            "who ran each stage and when, the aliases and the event log, whether every file still verifies and whether "
            "the store's hash-chained journal and its aliases are intact. "
            "Writes report.md + lineage.png, report.html (PNG embedded; one file to send) and audit.json. "
            "Exits 1 when any file changed since publish, an input is missing or the history is broken."
        ),
        epilog="examples:\n  rungs audit sft@production\n  rungs audit evaluate --out /tmp/audit-eval",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("ref", metavar="REF", help=REF_HELP)
    p.add_argument("--out", metavar="DIR", default=None, help="report directory (default: ./audit/KIND-vN-ID/)")
    p.add_argument("--public-key", action="append", metavar="FILE",
                   help="PEM Ed25519 public key the journal's heads are signed with (default: $RUNGS_JOURNAL_PUBLIC_KEY)")
    p.add_argument("--json", action="store_true", help="print {ok, subject, failed, missing, history, artifacts, files} as JSON")
    p.set_defaults(func=cmd_audit)


def cmd_diff(args: argparse.Namespace) -> int:
    from rungs.audit import diff, show_value

    d = diff(Store(args.store), args.ref_a, args.ref_b, show_all=args.all)
    if args.json:
        print_json(d)
        return 0
    con = console()
    a, b = d["a"], d["b"]
    con.print(f"[bold]A[/bold] = {escape(a['ref'])} {a['id']}  ({escape(a['created_at'])})")
    con.print(f"[bold]B[/bold] = {escape(b['ref'])} {b['id']}  ({escape(b['created_at'])})")
    for name in ("config", "metrics", "inputs", "code"):
        section = d[name]
        if not section["rows"]:
            con.print(f"[bold]{name}[/bold]: identical ({section['same']} keys)")
            continue
        columns = ("key", f"A {a['ref']}", f"B {b['ref']}", *(("B − A",) if name == "metrics" else ()))
        t = table(f"{name}: {section['different']} differ, {section['same']} identical", *columns)
        for row in section["rows"]:
            cells = [escape(row["key"]), escape(show_value(row["a"])), escape(show_value(row["b"]))]
            if name == "metrics":
                cells.append(f"{row['delta']:+.4g}" if "delta" in row else "")
            t.add_row(*cells)
        con.print(t)
    return 0


def _add_diff(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "diff",
        help="compare two artifacts: config, metrics, inputs, code",
        description=(
            "Show how two artifacts differ: resolved config keys, metrics (with B − A for numbers), inputs and "
            "code (git commit, package versions). Only differing keys are listed unless --all."
        ),
        epilog="examples:\n  rungs diff sft:v1 sft:v2\n  rungs diff evaluate@production evaluate --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("ref_a", metavar="REF", help=f"A: {REF_HELP}")
    p.add_argument("ref_b", metavar="REF", help="B: the artifact to compare with A")
    p.add_argument("--all", action="store_true", help="list identical keys too")
    p.add_argument("--json", action="store_true", help="print {a, b, config, metrics, inputs, code} as JSON")
    p.set_defaults(func=cmd_diff)


def cmd_export_lineage(args: argparse.Namespace) -> int:
    import requests

    from rungs.audit import post, run_events, to_json

    store = Store(args.store)
    events = run_events(store, args.refs, upstream=not args.no_upstream, namespace=args.namespace, job_namespace=args.job_namespace)
    lines = [to_json(e) for e in events]
    if args.output:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        print(f"wrote {len(lines)} OpenLineage run event(s) to {out}", file=sys.stderr)
    if args.url:
        try:
            sent = post(events, args.url, endpoint=args.endpoint, api_key=os.environ.get("OPENLINEAGE_API_KEY"))
        except (requests.RequestException, OSError) as exc:  # say where it failed, not a traceback
            raise RungsError(f"sending OpenLineage events to {args.url}: {exc}") from None
        print(f"sent {sent} OpenLineage run event(s) to {args.url.rstrip('/')}/{args.endpoint}", file=sys.stderr)
    if not args.output and not args.url:
        sys.stdout.write("".join(line + "\n" for line in lines))
        sys.stdout.flush()
    return 0


def _add_export_lineage(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export-lineage",
        help="export lineage as OpenLineage run events (for Marquez and other catalogs)",
        description=(
            "Emit one OpenLineage COMPLETE RunEvent per artifact: job = the stage, inputs = its input artifacts and "
            "raw source files (with sha256), output = the artifact (version = its id; facets with every file's "
            "sha256, the resolved config, metrics, code version and who ran it). With REFs, those artifacts and "
            "everything upstream of them (unless --no-upstream); without, every artifact. Prints JSON lines, or "
            "writes them to --output, or POSTs them to an OpenLineage endpoint with --url (Marquez)."
        ),
        epilog=(
            "examples:\n  rungs export-lineage sft@production > lineage.jsonl\n"
            "  rungs export-lineage --output lineage.jsonl\n"
            "  rungs export-lineage evaluate --url http://localhost:5000     # Marquez's API"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("refs", nargs="*", metavar="REF", help="artifacts to export (default: all)")
    p.add_argument("--format", choices=["openlineage"], default="openlineage", help="event format (only openlineage)")
    p.add_argument("--no-upstream", action="store_true", help="only the REFs themselves, not what they were built from")
    p.add_argument("--output", "-o", metavar="FILE", default=None, help="write JSON lines to FILE instead of stdout")
    p.add_argument("--url", metavar="URL", default=None, help="POST each event to this OpenLineage server (e.g. http://localhost:5000); "
                   "an API key is read from $OPENLINEAGE_API_KEY")
    p.add_argument("--endpoint", default="api/v1/lineage", help="path of the lineage endpoint under --url (default: api/v1/lineage)")
    p.add_argument("--namespace", default=None, metavar="NS", help="dataset namespace of artifacts (default: file://<this host>)")
    p.add_argument("--job-namespace", default="rungs", metavar="NS", help="job namespace (default: rungs)")
    p.set_defaults(func=cmd_export_lineage)


def register(sub: argparse._SubParsersAction) -> None:
    for add in (_add_audit, _add_diff, _add_export_lineage):
        add(sub)
