"""The promotion gate and the `production` alias: promote, refuse, roll back, every decision logged.

A *release* is one evaluate artifact together with the artifacts it evaluated: its inputs (corpus,
base, cpt, sft, index: whichever the pipeline built). Promoting a release moves the `production`
alias of each of those kinds to it, so `evaluate@production`, `sft@production` (or `cpt@`/`base@`,
per pipeline) and `index@production` always name artifacts that were measured together. A kind the
release lacks keeps its alias (a pipeline=rag release leaves `sft@production` where it was; the
decision says so); `evaluate@production` names the current release.

The gate compares the candidate's evaluate metrics with those of `evaluate@production` on the metrics
of conf/promote/ (direction and tolerance each); the candidate is promoted only when none is worse
beyond its tolerance. With no production yet, the first candidate is promoted.

Decisions go to ``_log/decisions.jsonl``, append-only, one JSON object each: who, when, the candidate,
the production it was compared with, every check with both values and the limit, the reasons, and the
alias moves made. Each move is also an ``alias`` event in the store's own log (``_log/events.jsonl``)
whose reason names the decision id. Promotions and rollbacks serialise on ``_locks/decisions.lock``.
"""

from __future__ import annotations

import argparse
import math
import sys
import uuid
from dataclasses import asdict

from .config import GateMetric, PromoteConfig
from .errors import RungsError, StoreError
from .runs import append_record, log_lock, read_records
from .store import Artifact, Store

DECISIONS = "decisions.jsonl"
MODEL_RUNGS = ("sft", "cpt", "base")  # top rung first: what a release serves
RELEASE_KINDS = ("corpus", "base", "cpt", "index", "triage", "sft", "evaluate")


def top_rung(evaluate: Artifact) -> str | None:
    """The model rung an evaluate artifact measured last: sft, else cpt, else base (None: retrieval only)."""
    return next((k for k in MODEL_RUNGS if k in evaluate.inputs), None)


def metric_key(template: str, evaluate: Artifact) -> str | None:
    """The metric `template` names for this evaluation: `{rung}` is the highest model rung that has it
    (perplexity may be measured on base and cpt only, answers on base and sft), else the top rung."""
    if "{rung}" not in template:
        return template
    for rung in MODEL_RUNGS:
        if rung in evaluate.inputs and template.replace("{rung}", rung) in evaluate.metrics:
            return template.replace("{rung}", rung)
    rung = top_rung(evaluate)
    return template.replace("{rung}", rung) if rung else None


def release(store: Store, evaluate: Artifact) -> dict[str, Artifact]:
    """kind -> artifact of the release behind an evaluate artifact (itself and its inputs)."""
    out: dict[str, Artifact] = {}
    for name, iid in sorted(evaluate.inputs.items()):
        art = store.get(iid)
        out[art.kind] = art
    out["evaluate"] = evaluate
    return out


def evaluation_of(store: Store, ref: str) -> Artifact:
    """The evaluate artifact for REF: REF itself, or the newest evaluation that used REF as an input."""
    art = store.resolve(ref)
    if art.kind == "evaluate":
        return art
    found = [e for e in store.artifacts("evaluate") if art.id in e.inputs.values()]
    if not found:
        raise StoreError(
            f"{ref} ({art.ref}) has not been evaluated: the gate compares evaluate metrics. "
            f"Run `rungs stage evaluate inputs.{art.kind}={art.ref}` (or the pipeline) first"
        )
    return found[-1]


def _production(store: Store, alias: str) -> Artifact | None:
    if not any(name == alias for _, name, _ in store.aliases("evaluate")):
        return None
    return store.resolve(f"evaluate@{alias}")  # a dangling alias raises: never promote blindly past it


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _check(name: str, gm: GateMetric, cand: Artifact, prod: Artifact, missing: str) -> dict:
    ck, pk = metric_key(gm.metric, cand), metric_key(gm.metric, prod)
    c = cand.metrics.get(ck) if ck else None
    p = prod.metrics.get(pk) if pk else None
    row = {
        "name": name, "candidate_metric": ck, "production_metric": pk, "candidate": c, "production": p,
        "direction": gm.direction, "tolerance": gm.tolerance, "relative": gm.relative, "limit": None,
    }
    numeric = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    if not numeric(p):
        row.update(status="skipped", reason=f"{name}: production has no {pk or gm.metric}; not compared")
        return row
    if not numeric(c):
        status = "worse" if missing == "block" else "skipped"
        row.update(status=status, reason=f"{name}: production has {pk}={_fmt(p)} but the candidate did not measure {ck or gm.metric}")
        return row
    slack = gm.tolerance * abs(p) if gm.relative else gm.tolerance
    limit = p + slack if gm.direction == "lower" else p - slack
    ok = c <= limit if gm.direction == "lower" else c >= limit
    allowed = f"{gm.tolerance:.0%}" if gm.relative else _fmt(gm.tolerance)
    sign = "+" if gm.direction == "lower" else "-"
    row.update(
        limit=limit,
        status="ok" if ok else "worse",
        reason=(
            f"{name}: {_fmt(c)} vs production {_fmt(p)} ({gm.direction} is better, limit {_fmt(round(limit, 6))} = "
            f"production {sign}{allowed}): {'not worse' if ok else 'worse'}"
        ),
    )
    return row


def compare(store: Store, candidate: Artifact, production: Artifact, cfg: PromoteConfig) -> tuple[bool, list[dict], list[str]]:
    """(passed, checks, notes): every gate metric checked; notes say when the two were measured differently."""
    checks = [_check(name, gm, candidate, production, cfg.missing) for name, gm in cfg.metrics.items()]
    passed = not any(c["status"] == "worse" for c in checks)
    notes = []
    c_corpus, p_corpus = candidate.inputs.get("corpus"), production.inputs.get("corpus")
    if c_corpus and p_corpus and c_corpus != p_corpus:
        fps = {i: store.get(i).fingerprint for i in (c_corpus, p_corpus)}
        if fps[c_corpus] != fps[p_corpus]:
            notes.append("the held-out sets differ (candidate and production evaluated different corpus artifacts)")
    if candidate.config.get("evaluate") != production.config.get("evaluate"):
        notes.append("the evaluate settings differ between candidate and production")
    if top_rung(candidate) != top_rung(production):
        notes.append(f"top model rung {top_rung(candidate)} is compared with production's {top_rung(production)}")
    return passed, checks, notes


def _ref(art: Artifact | None) -> dict | None:
    return {"ref": art.ref, "id": art.id} if art is not None else None


def _move_release(store: Store, rel: dict[str, Artifact], alias: str, decision: str, why: str) -> tuple[list[dict], list[str]]:
    """Point `alias` of every kind of the release at it (evaluate last: it names the release)."""
    current = {(k, n): t for k, n, t in store.aliases() if n == alias}
    moves, notes = [], []
    for kind in sorted(rel, key=lambda k: (k == "evaluate", RELEASE_KINDS.index(k) if k in RELEASE_KINDS else 99)):
        art = rel[kind]
        was = current.get((kind, alias))
        if was == art.id:
            continue
        store.set_alias(alias, art.id, reason=f"{why} (decision {decision})")
        moves.append({"kind": kind, "ref": art.ref, "from": was, "to": art.id})
    for kind in MODEL_RUNGS + ("index",):
        if kind not in rel and (kind, alias) in current:
            notes.append(f"{kind}@{alias} stays at {current[(kind, alias)]}: this release has no {kind}")
    return moves, notes


def gate_and_promote(
    store: Store,
    ref: str,
    cfg: PromoteConfig,
    *,
    source: str = "flow",
    force: bool = False,
    note: str = "",
    run: dict | None = None,
    dry_run: bool = False,
) -> dict:
    """Compare the release behind REF with production; promote it when not worse (or forced). Logged.

    Returns the decision record. ``outcome`` is promoted | refused | unchanged | forced; ``dry_run``
    decides without moving anything or logging.
    """
    decision = uuid.uuid4().hex[:12]
    alias = cfg.alias
    with log_lock(store, "decisions"):
        candidate = evaluation_of(store, ref)
        rel = release(store, candidate)
        try:
            production = _production(store, alias)
        except StoreError as exc:
            raise StoreError(f"cannot read the current production release: {exc}") from None
        checks: list[dict] = []
        if production is None:
            passed, reasons = True, [f"no evaluate@{alias} yet: the first release is promoted"]
        elif production.id == candidate.id:
            passed, reasons = None, [f"{candidate.ref} is already evaluate@{alias}"]
        else:
            passed, checks, reasons = compare(store, candidate, production, cfg)
            reasons = [c["reason"] for c in checks] + reasons
        if passed is None:
            outcome = "unchanged"
        elif passed:
            outcome = "promoted"
        else:
            outcome = "forced" if force else "refused"
        if force and not passed and passed is not None:
            reasons.append(f"promoted by hand despite the gate{': ' + note if note else ''}")
        record = {
            "decision": decision,
            "action": "gate" if source == "flow" else "promote",
            "source": source,
            "outcome": outcome,
            "promoted": outcome in ("promoted", "forced"),
            "alias": alias,
            "candidate": _ref(candidate),
            "release": {k: a.ref for k, a in rel.items()},
            "production": _ref(production),
            "checks": checks,
            "reasons": reasons,
            "moves": [],
            "note": note,
            "run": dict(run or {}),
            "gate": {name: asdict(gm) for name, gm in cfg.metrics.items()},
        }
        if dry_run:
            record["dry_run"] = True
            return record
        if record["promoted"]:
            why = f"{'forced ' if force and outcome == 'forced' else ''}promote {candidate.ref}"
            record["moves"], stays = _move_release(store, rel, alias, decision, why)
            record["reasons"] += stays
        return append_record(store, DECISIONS, record, locked=True)  # under the decisions lock already


def decisions(store: Store) -> list[dict]:
    """Every decision, oldest first."""
    return read_records(store, DECISIONS)


def _undone(log: list[dict]) -> set[tuple[str, str]]:
    done = set()
    for d in log:
        if d.get("action") == "rollback":
            for move in d.get("moves") or []:
                done.add((d.get("undoes"), move["kind"]))
    return done


def rollback(store: Store, kind: str | None = None, *, alias: str = "production", note: str = "") -> dict:
    """Undo the latest promotion still in effect (all its kinds, or only KIND). Logged like a promotion.

    Each rollback walks one promotion further back; a rollback itself is undone by promoting again.
    """
    decision = uuid.uuid4().hex[:12]
    with log_lock(store, "decisions"):
        log = decisions(store)
        undone = _undone(log)
        target = None
        for d in reversed(log):
            if d.get("action") == "rollback" or d.get("alias", "production") != alias:
                continue
            live = [m for m in d.get("moves") or [] if (d["decision"], m["kind"]) not in undone and (kind is None or m["kind"] == kind)]
            if live:
                target = (d, live)
                break
        if target is None:
            what = f"{kind}@{alias}" if kind else alias
            raise StoreError(f"nothing to roll back: no promotion of {what} in the decision log ({store.root / '_log' / DECISIONS})")
        undo, live = target
        first = [m for m in live if not m.get("from")]
        if first and (kind is not None or any(m["kind"] == "evaluate" for m in first)):
            names = ", ".join(f"{m['kind']}@{alias}" for m in first)
            raise StoreError(f"nothing to roll back to: {names} had no earlier target before decision {undo['decision']} ({undo['candidate']['ref']})")
        current = {(k, n): t for k, n, t in store.aliases() if n == alias}
        moves, reasons = [], []
        for m in live:
            if not m.get("from"):
                reasons.append(f"{m['kind']}@{alias} stays at {m['ref']}: no earlier {m['kind']} was production")
                continue
            back = store.set_alias(alias, m["from"], reason=f"rollback of decision {undo['decision']} (decision {decision})")
            was = current.get((m["kind"], alias))
            if was != m["to"]:
                reasons.append(f"{m['kind']}@{alias} had been moved to {was} since that decision")
            moves.append({"kind": m["kind"], "ref": back.ref, "from": was, "to": back.id})
        reasons.insert(0, f"undoes decision {undo['decision']} ({undo.get('outcome')} {undo['candidate']['ref']} at {undo.get('at')})")
        evaluate_now = store.resolve(f"evaluate@{alias}") if any(n == alias for _, n, _ in store.aliases("evaluate")) else None
        record = {
            "decision": decision,
            "action": "rollback",
            "source": "cli",
            "outcome": "rolled back",
            "promoted": False,
            "alias": alias,
            "kind": kind,
            "undoes": undo["decision"],
            "candidate": _ref(evaluate_now),
            "production": undo.get("candidate"),
            "checks": [],
            "reasons": reasons,
            "moves": moves,
            "note": note,
        }
        return append_record(store, DECISIONS, record, locked=True)


# --------------------------------------------------------------------------------------------------
# What people read: the Prefect card, the CLI


def decision_markdown(d: dict) -> str:
    cand = (d.get("candidate") or {}).get("ref", "?")
    prod = (d.get("production") or {}).get("ref")
    lines = [
        f"## Promotion: {d['outcome']} — `{cand}`",
        "",
        f"Compared with `evaluate@{d['alias']}` = `{prod}`." if prod else f"No `evaluate@{d['alias']}` before this run.",
        f"Decision `{d['decision']}`, logged in `_log/{DECISIONS}` of the store.",
        "",
    ]
    if d.get("checks"):
        lines += ["| gate metric | candidate | production | limit | result |", "|---|---|---|---|---|"]
        for c in d["checks"]:
            limit = _fmt(round(c["limit"], 6)) if isinstance(c.get("limit"), float) else "-"
            lines.append(f"| {c['name']} (`{c['candidate_metric']}`) | {_fmt(c['candidate'])} | {_fmt(c['production'])} | {limit} | {c['status']} |")
        lines.append("")
    if d.get("moves"):
        lines += ["Moved: " + ", ".join(f"`{m['kind']}@{d['alias']}` → `{m['ref']}`" for m in d["moves"]), ""]
    lines += [f"- {r}" for r in d.get("reasons") or []]
    return "\n".join(lines) + "\n"


def _print_decision(d: dict) -> None:
    from rich.markup import escape
    from rich.table import Table

    from .cli import _console

    console = _console()
    style = {"promoted": "green", "forced": "yellow", "refused": "red", "rolled back": "yellow"}.get(d["outcome"], "")
    cand = (d.get("candidate") or {}).get("ref", "-")
    head = f"{d['outcome']}: {cand}" + (" (dry run, nothing moved)" if d.get("dry_run") else "")
    console.print(f"[{style}]{escape(head)}[/{style}]" if style else escape(head))
    if d.get("checks"):
        table = Table(title="gate", title_justify="left")
        for col in ("metric", "candidate", "production", "limit", "result"):
            table.add_column(col)
        for c in d["checks"]:
            limit = _fmt(round(c["limit"], 6)) if isinstance(c.get("limit"), float) else "-"
            color = {"ok": "green", "worse": "red"}.get(c["status"], "dim")
            table.add_row(escape(f"{c['name']} ({c['candidate_metric']})"), _fmt(c["candidate"]), _fmt(c["production"]), limit, f"[{color}]{c['status']}[/{color}]")
        console.print(table)
    for m in d.get("moves") or []:
        console.print(escape(f"{m['kind']}@{d['alias']}: {m['from'] or '-'} → {m['ref']} {m['to']}"))
    for r in d.get("reasons") or []:
        console.print(escape(f"- {r}"))


def _headline(reason: str) -> bool:
    """The reasons worth a column in the log listing: what decided it, not every metric that passed."""
    return reason.endswith(": worse") or any(
        key in reason for key in ("did not measure", "first release", "already evaluate@", "despite the gate", "undoes decision")
    )


def cmd_promote(args: argparse.Namespace) -> int:
    from .cli import _print_json
    from .config import compose

    store = Store(args.store)
    if args.log:
        log = decisions(store)
        if args.json:
            _print_json(log)
            return 0
        from rich.markup import escape
        from rich.table import Table

        from .cli import _console

        table = Table(title=f"promotion decisions ({store.root / '_log' / DECISIONS})", title_justify="left")
        for col in ("at", "decision", "action", "outcome", "candidate", "production", "moved", "by", "why"):
            table.add_column(col, overflow="fold")
        for d in log:
            table.add_row(
                escape(str(d.get("at", ""))), d.get("decision", ""), escape(str(d.get("action"))), escape(str(d.get("outcome"))),
                escape(str((d.get("candidate") or {}).get("ref", "-"))), escape(str((d.get("production") or {}).get("ref", "-"))),
                escape(", ".join(f"{m['kind']}→{m['ref']}" for m in d.get("moves") or []) or "-"),
                escape(f"{d.get('user')}@{d.get('host')}"),
                escape("; ".join(([d["note"]] if d.get("note") else []) + [r for r in d.get("reasons") or [] if _headline(r)][:3])),
            )
        _console().print(table if log else "no promotion decisions yet")
        return 0
    if not args.ref:
        raise RungsError("give REF (an evaluate artifact, or a model/index artifact that was evaluated), or --log")
    cfg = compose(args.overrides).promote
    d = gate_and_promote(store, args.ref, cfg, source="cli", force=args.force, note=args.reason, dry_run=args.dry_run)
    if args.json:
        _print_json(d)
    else:
        _print_decision(d)
        if d["outcome"] == "refused":
            print("refused: production unchanged; --force promotes anyway (logged as forced)", file=sys.stderr)
    return 1 if d["outcome"] == "refused" else 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from .cli import _print_json

    d = rollback(Store(args.store), args.kind, alias=args.alias, note=args.reason)
    if args.json:
        _print_json(d)
    else:
        _print_decision(d)
    return 0


def add_promote_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "promote",
        help="promote a release to production by hand (the same gate and log as the nightly flow)",
        description=(
            "Compare the release behind REF (an evaluate artifact, or a model/index artifact: its newest evaluation) "
            "with evaluate@production on the gate metrics of conf/promote/ and, if none is worse beyond its "
            "tolerance, point the production alias of every kind of the release (evaluate and the corpus, base, "
            "cpt, sft and index it evaluated) at it. The decision, with each metric, limit and reason, is appended "
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


def add_rollback_parser(sub: argparse._SubParsersAction) -> None:
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
