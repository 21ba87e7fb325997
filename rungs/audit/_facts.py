"""The facts an audit report shows about one artifact: its upstream graph, every manifest, verification,
aliases and the event log entries that touch it, collected as plain JSON data (`audit.json`)."""

from __future__ import annotations

from dataclasses import dataclass

from rungs.kernel import run_info, utc_now
from rungs.store import Artifact, Store


@dataclass(frozen=True)
class Edge:
    """``consumer`` was built with ``producer`` as its input ``name``."""

    producer: str
    consumer: str
    name: str


def lineage_graph(store: Store, ref: str) -> tuple[Artifact, list[Artifact], list[str], list[Edge]]:
    """(subject, upstream artifacts roots-first, ids of inputs missing from the store, edges)."""
    tree = store.upstream(ref)
    subject: Artifact = tree["artifact"]
    found: dict[str, Artifact] = {}
    missing: list[str] = []
    edges: set[Edge] = set()

    def walk(node: dict) -> None:
        art = node["artifact"]
        found[art.id] = art
        for name, child in node["inputs"].items():
            cid = child["artifact"].id if child["artifact"] is not None else child["id"]
            edges.add(Edge(cid, art.id, name))
            if child["artifact"] is None:
                if cid not in missing:
                    missing.append(cid)
            else:
                walk(child)

    walk(tree)
    depth = depths(list(found), edges)
    ordered = sorted(found.values(), key=lambda a: (depth[a.id], a.kind, a.version, a.id))
    return subject, ordered, missing, sorted(edges, key=lambda e: (e.consumer, e.name))


def depths(ids: list[str], edges: set[Edge] | list[Edge]) -> dict[str, int]:
    """Longest path from a root (an artifact without inputs in the graph): the column in the drawing."""
    inputs: dict[str, list[str]] = {}
    for e in edges:
        inputs.setdefault(e.consumer, []).append(e.producer)
    memo: dict[str, int] = {}

    def depth(i: str) -> int:
        if i not in memo:
            memo[i] = 1 + max((depth(p) for p in inputs.get(i, [])), default=-1)
        return memo[i]

    return {i: depth(i) for i in ids}



def collect(store: Store, ref: str, public_keys: list[bytes] | None = None) -> dict:
    """Every fact the report shows, as plain JSON data (also written as audit.json).

    Besides every artifact of the lineage, the store's history: the hash-chained journal (with public keys,
    its signed heads) and every alias, so a break anywhere (an entry edited or cut, an alias moved outside
    rungs, an artifact the journal never saw published) fails the audit.
    """
    journal, sections = store.verify_history(public_keys)
    history = [p for _, problems in sections for p in problems] + journal.problems
    subject, arts, missing, edges = lineage_graph(store, ref)
    aliases = store.aliases_by_id()
    ids = {a.id for a in arts} | set(missing)
    refs = {a.id: a.ref for a in arts}
    entries = []
    for art in arts:
        m = art.manifest
        code = dict(m.get("code") or {})
        problems = store.verify(art.id)
        entries.append(
            {
                "ref": art.ref,
                "id": art.id,
                "kind": art.kind,
                "version": art.version,
                "aliases": sorted(aliases.get(art.id, [])),
                "fingerprint": art.fingerprint,
                "created_at": art.created_at,
                "duration_s": m.get("duration_s"),
                "path": str(art.path),
                "inputs": {name: {"id": iid, "ref": refs.get(iid)} for name, iid in sorted(art.inputs.items())},
                "sources": m.get("sources") or {},
                "files": art.files,
                "config": art.config,
                "metrics": art.metrics,
                "code": {k: v for k, v in code.items() if k != "packages"},
                "packages": code.get("packages") or {},
                "run": m.get("run") or {},
                "verify": {"ok": not problems, "problems": problems},
            }
        )
    events = [
        e for e in store.events()
        if e.get("id") in ids or e.get("to") in ids or e.get("from") in ids
    ]
    info = run_info()
    failed = [e["ref"] for e in entries if not e["verify"]["ok"]]
    return {
        "subject": {"ref": subject.ref, "id": subject.id, "kind": subject.kind},
        "generated_at": utc_now(),
        "generated_by": f"{info['user']}@{info['host']}",
        "store": str(store.root),
        "ok": not failed and not missing and not history,
        "failed": failed,
        "missing": missing,
        "history": {"ok": not history, "problems": history, "notes": journal.notes, "head": journal.head,
                    "signed": journal.signed, "entries": journal.entries},
        "artifacts": entries,
        "edges": [{"producer": e.producer, "consumer": e.consumer, "input": e.name} for e in edges],
        "events": events,
    }
