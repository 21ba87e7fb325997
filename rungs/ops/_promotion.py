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

import math
import uuid
from dataclasses import asdict

from rungs.kernel import MODEL_RUNGS, PIPELINE, GateMetric, PromoteConfig, StoreError, short_value
from rungs.store import DECISIONS, Artifact, Store



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
        row.update(status=status, reason=f"{name}: production has {pk}={short_value(p)} but the candidate did not measure {ck or gm.metric}")
        return row
    slack = gm.tolerance * abs(p) if gm.relative else gm.tolerance
    limit = p + slack if gm.direction == "lower" else p - slack
    ok = c <= limit if gm.direction == "lower" else c >= limit
    allowed = f"{gm.tolerance:.0%}" if gm.relative else short_value(gm.tolerance)
    sign = "+" if gm.direction == "lower" else "-"
    row.update(
        limit=limit,
        status="ok" if ok else "worse",
        reason=(
            f"{name}: {short_value(c)} vs production {short_value(p)} ({gm.direction} is better, limit {short_value(round(limit, 6))} = "
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
    for kind in sorted(rel, key=lambda k: (k == "evaluate", PIPELINE.index(k) if k in PIPELINE else 99)):
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
    with store.journal.locked(DECISIONS):
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
        return store.journal.append(DECISIONS, record, locked=True)  # under the decisions lock already


def decisions(store: Store) -> list[dict]:
    """Every decision, oldest first."""
    return store.journal.read(DECISIONS)


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
    with store.journal.locked(DECISIONS):
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
            raise StoreError(f"nothing to roll back: no promotion of {what} in the decision log ({store.journal.path(DECISIONS)})")
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
        return store.journal.append(DECISIONS, record, locked=True)


# --------------------------------------------------------------------------------------------------
# What people read in the Prefect UI


def decision_markdown(d: dict) -> str:
    cand = (d.get("candidate") or {}).get("ref", "?")
    prod = (d.get("production") or {}).get("ref")
    lines = [
        f"## Promotion: {d['outcome']} — `{cand}`",
        "",
        f"Compared with `evaluate@{d['alias']}` = `{prod}`." if prod else f"No `evaluate@{d['alias']}` before this run.",
        f"Decision `{d['decision']}`, logged in `_log/{DECISIONS}.jsonl` of the store.",
        "",
    ]
    if d.get("checks"):
        lines += ["| gate metric | candidate | production | limit | result |", "|---|---|---|---|---|"]
        for c in d["checks"]:
            limit = short_value(round(c["limit"], 6)) if isinstance(c.get("limit"), float) else "-"
            lines.append(f"| {c['name']} (`{c['candidate_metric']}`) | {short_value(c['candidate'])} | {short_value(c['production'])} | {limit} | {c['status']} |")
        lines.append("")
    if d.get("moves"):
        lines += ["Moved: " + ", ".join(f"`{m['kind']}@{d['alias']}` → `{m['ref']}`" for m in d["moves"]), ""]
    lines += [f"- {r}" for r in d.get("reasons") or []]
    return "\n".join(lines) + "\n"
