"""Verbs on the store's artifacts: ls, show, lineage, verify, journal (sign, keygen, rechain), alias, log."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rich.markup import escape
from rich.tree import Tree

from rungs.kernel import RungsError, flatten, human_bytes, short_value
from rungs.store import ALIAS_NAME_RULE, Artifact, Store

from ._output import REF_HELP, console, key_metrics, kv_table, narrow, print_json, table


def alias_map(store: Store) -> dict[str, list[str]]:
    """Artifact id -> the names of the aliases that point at it (their kind is the artifact's)."""
    return {iid: [n.partition("@")[2] for n in names] for iid, names in store.aliases_by_id().items()}


# --------------------------------------------------------------------------------------------------
# ls


def cmd_ls(args: argparse.Namespace) -> int:
    store = Store(args.store)
    arts = store.artifacts(args.kind)
    aliases = alias_map(store)
    if args.json:
        print_json(
            [
                {
                    "ref": a.ref,
                    "kind": a.kind,
                    "version": a.version,
                    "id": a.id,
                    "created_at": a.created_at,
                    "fingerprint": a.fingerprint,
                    "metrics": a.metrics,
                    "aliases": aliases.get(a.id, []),
                    "path": str(a.path),
                }
                for a in arts
            ]
        )
        return 0
    con = console()
    if not arts:
        what = f"no {args.kind} artifacts" if args.kind else "no artifacts"
        con.print(f"{what} in {escape(str(store.root))}")
        return 0
    short = narrow(con)  # 80 columns: the fingerprint stays in `rungs show`, the time loses its seconds
    columns = ("ref", "id", "created", *(() if short else ("fingerprint",)), "metrics", "aliases")
    t = table(f"artifacts in {store.root}", *columns, no_wrap=("ref", "id", "created", "fingerprint"))
    for a in arts:
        created = a.created_at.replace("T", " ").rstrip("Z")
        t.add_row(
            escape(a.ref),
            a.id,
            escape(created[:16] if short else created),
            *(() if short else (escape(a.fingerprint[:12]),)),
            escape(key_metrics(a.kind, a.metrics)),
            escape(", ".join(aliases.get(a.id, []))),
        )
    con.print(t)
    return 0


def _add_ls(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ls",
        help="list artifacts",
        description="List artifacts (all, or of one KIND) with version, id, creation time, "
        "fingerprint, key metrics and the aliases that point at them.",
    )
    p.add_argument("kind", nargs="?", metavar="KIND", help="only this kind (corpus, base, cpt, index, triage, sft, evaluate, ...)")
    p.add_argument("--json", action="store_true", help="print a JSON list on stdout")
    p.set_defaults(func=cmd_ls)


# --------------------------------------------------------------------------------------------------
# show


def cmd_show(args: argparse.Namespace) -> int:
    store = Store(args.store)
    art = store.resolve(args.ref)
    names = [name for kind, name, target in store.aliases(art.kind) if target == art.id]
    m = art.manifest
    if args.json:
        print_json({"ref": art.ref, "path": str(art.path), "aliases": names, "manifest": m})
        return 0
    con = console()
    con.print(f"[bold]{escape(art.ref)}[/bold]  {art.id}" + (f"  ({escape(', '.join(names))})" if names else ""))
    con.print(
        kv_table(
            "",
            [
                ("path", str(art.path)),
                ("created", m.get("created_at", "")),
                ("duration", f"{m.get('duration_s')} s"),
                ("fingerprint", m.get("fingerprint", "")),
                ("schema", m.get("schema", "")),
            ],
        )
    )

    inputs = table("inputs", "name", "ref", "id", no_wrap=("ref", "id"))
    for name, iid in (m.get("inputs") or {}).items():
        try:
            ref = store.get(iid).ref
        except RungsError:
            ref = "(missing)"
        inputs.add_row(escape(name), escape(ref), iid)
    con.print(inputs if m.get("inputs") else "[bold]inputs[/bold]: none (a raw-input stage)")

    if m.get("config"):
        con.print(kv_table("config", flatten(m["config"])))
    if m.get("sources"):
        sources = table("sources", "source", "detail")
        for name, detail in m["sources"].items():
            shown = ", ".join(
                f"{k}={str(v)[:12] if k == 'sha256' else short_value(v)}" for k, v in detail.items()
            ) if isinstance(detail, dict) else short_value(detail)
            sources.add_row(escape(str(name)), escape(shown))
        con.print(sources)

    files = table(f"files ({len(m.get('files') or {})})", "path", "size", "sha256", no_wrap=("size", "sha256"))
    for rel, entry in (m.get("files") or {}).items():
        files.add_row(escape(rel), human_bytes(entry.get("bytes")), str(entry.get("sha256", ""))[:16])
    con.print(files)

    if m.get("metrics"):
        con.print(kv_table("metrics", flatten(m["metrics"])))
    code = dict(m.get("code") or {})
    packages = code.pop("packages", {}) or {}
    con.print(kv_table("code", list(code.items()) + [(f"packages.{k}", v) for k, v in packages.items()]))
    if m.get("run"):
        con.print(kv_table("run", flatten(m["run"])))
    return 0


def _add_show(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "show",
        help="show one artifact's manifest",
        description="Show an artifact's manifest readably: inputs, resolved config, raw sources, files "
        "with their hashes, metrics, the code (git commit, packages) and the run that made it.",
    )
    p.add_argument("ref", metavar="REF", help=REF_HELP)
    p.add_argument("--json", action="store_true", help="print {ref, path, aliases, manifest} as JSON")
    p.set_defaults(func=cmd_show)


# --------------------------------------------------------------------------------------------------
# lineage


def _label(art: Artifact | None, missing_id: str = "", aliases: dict[str, list[str]] | None = None) -> str:
    if art is None:
        return f"[red]missing[/red] {missing_id}"
    names = (aliases or {}).get(art.id, [])
    tag = f" [dim]({escape(', '.join(names))})[/dim]" if names else ""
    return f"[bold]{escape(art.ref)}[/bold] {art.id}{tag}"


def _node_json(art: Artifact | None, missing_id: str = "") -> dict:
    if art is None:
        return {"id": missing_id, "missing": True}
    return {"ref": art.ref, "kind": art.kind, "version": art.version, "id": art.id}


def _up_json(node: dict) -> dict:
    return {
        **_node_json(node["artifact"], node.get("id", "")),
        "inputs": {name: _up_json(child) for name, child in node["inputs"].items()},
    }


def _down_json(node: dict) -> dict:
    return {**_node_json(node["artifact"]), "children": [_down_json(c) for c in node["children"]]}


def cmd_lineage(args: argparse.Namespace) -> int:
    store = Store(args.store)
    tree = store.downstream(args.ref) if args.down else store.upstream(args.ref)
    if args.json:
        print_json(_down_json(tree) if args.down else _up_json(tree))
        return 0
    aliases = alias_map(store)

    def add_up(parent: Tree, node: dict) -> None:
        for name, child in node["inputs"].items():
            branch = parent.add(f"[cyan]{escape(name)}[/cyan] ← " + _label(child["artifact"], child.get("id", ""), aliases))
            add_up(branch, child)

    def add_down(parent: Tree, node: dict) -> None:
        for child in node["children"]:
            art = child["artifact"]
            uses = [n for n, i in art.inputs.items() if i == node["artifact"].id]
            branch = parent.add(_label(art, aliases=aliases) + (f" [cyan](as {escape(', '.join(uses))})[/cyan]" if uses else ""))
            add_down(branch, child)

    root = Tree(_label(tree["artifact"], aliases=aliases))
    if args.down:
        add_down(root, tree)
        if not tree["children"]:
            root.add("[dim]nothing was built from it yet[/dim]")
    else:
        add_up(root, tree)
        if not tree["inputs"]:
            root.add("[dim]no inputs (a raw-input stage; see its sources with `rungs show`)[/dim]")
    console().print(root)
    return 0


def _add_lineage(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "lineage",
        help="show where an artifact came from (or, with --down, what was built from it)",
        description="Print the lineage tree of an artifact: by default upstream, every input down to "
        "the raw-input stages; with --down, every artifact built from it.",
    )
    p.add_argument("ref", metavar="REF", help=REF_HELP)
    p.add_argument("--down", action="store_true", help="show what was built from REF instead of its inputs")
    p.add_argument("--json", action="store_true", help="print the tree as nested JSON")
    p.set_defaults(func=cmd_lineage)


# --------------------------------------------------------------------------------------------------
# verify


PUBLIC_KEY_ENV = "RUNGS_JOURNAL_PUBLIC_KEY"


def public_keys(paths: list[str] | None) -> list[bytes]:
    """The raw Ed25519 public keys a journal's signed heads are checked with: --public-key, else the env."""
    from rungs.store import load_public_key

    named = list(paths or [])
    if not named and os.environ.get(PUBLIC_KEY_ENV):
        named = [os.environ[PUBLIC_KEY_ENV]]
    return [load_public_key(Path(p).expanduser()) for p in named]


def cmd_verify(args: argparse.Namespace) -> int:
    store = Store(args.store)
    if args.ref and args.all:
        raise RungsError("give either REF or --all, not both")
    keys = public_keys(args.public_key)
    journal, sections = store.verify_history(keys)
    if args.ref:
        kind, path = store.resolve_for_verify(args.ref)
        label = f"{kind}/{path.name}"
        try:
            art = store.get(path.name)
            label = f"{art.ref} ({art.id})"
        except RungsError:
            pass
        results = [(label, store.verify(args.ref))]
        sections = [(name, [p for p in problems if path.name in p or f"{kind}/" in p]) for name, problems in sections]
    else:
        results = store.verify_all()
    ok = all(not problems for _, problems in results) and journal.ok and all(not p for _, p in sections)
    if args.json:
        print_json(
            {
                "ok": ok,
                "artifacts": [{"artifact": label, "ok": not problems, "problems": problems} for label, problems in results],
                "journal": journal.to_dict(),
                "store": {name: {"ok": not problems, "problems": problems} for name, problems in sections},
            }
        )
        return 0 if ok else 1
    con = console()
    if not results:
        con.print(f"no artifacts in {escape(str(store.root))}")
    for label, problems in results:
        _print_check(con, label, problems)
    head = journal.head
    signed = f", signed up to seq {journal.signed['seq']}" if journal.signed else ""
    summary = f"journal ({journal.entries} entries" + (f", head seq {head['seq']} {head['hash'][:12]}" if head else "") + f"{signed})"
    _print_check(con, summary, journal.problems)
    for note in journal.notes:
        con.print(f"     [dim]note: {escape(note)}[/dim]")
    for name, problems in sections:
        _print_check(con, name, problems)
    if not ok:
        bad = sum(1 for _, p in results if p)
        parts = [f"{bad} of {len(results)} artifact(s) changed since publish"] if bad else []
        parts += ["the journal's history is broken"] if not journal.ok else []
        parts += [f"{name}: {len(p)} finding(s)" for name, p in sections if p]
        print(f"verify: {'; '.join(parts)}", file=sys.stderr)
    return 0 if ok else 1


def _print_check(con, label: str, problems: list[str]) -> None:
    if not problems:
        con.print(f"[green]OK[/green]   {escape(label)}")
        return
    con.print(f"[red]FAIL[/red] {escape(label)}")
    for problem in problems:
        con.print(f"     {escape(problem)}")


def _add_verify(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify",
        help="re-hash artifacts and check their manifests, inputs and the store's hash-chained history",
        description="Re-hash every file of an artifact (or of all with --all, the default), recompute "
        "the manifest id, check that every input exists, that metrics.json says what the manifest says and "
        "that the journal recorded the artifact's publish. Then the journal itself (every entry hash-chained "
        "to the one before; with --public-key, every signed head), every alias (its target published, the "
        "journal's last move agreeing with it) and the store's layout (no symbolic links, no stray "
        "directories). Prints OK per intact part; exits 1 naming each finding, one line each, otherwise.",
        epilog="Signed heads are checked with an Ed25519 public key: --public-key FILE or $RUNGS_JOURNAL_PUBLIC_KEY "
        "(`rungs journal keygen` makes a pair, `rungs journal sign` signs the head).",
    )
    p.add_argument("ref", nargs="?", metavar="REF", help="one artifact (default: all)")
    p.add_argument("--all", action="store_true", help="verify every artifact in the store")
    p.add_argument("--public-key", action="append", metavar="FILE", help="PEM Ed25519 public key the journal's heads "
                   "are signed with (repeatable; default: $RUNGS_JOURNAL_PUBLIC_KEY)")
    p.add_argument("--json", action="store_true", help="print {ok, artifacts, journal, store} as JSON")
    p.set_defaults(func=cmd_verify)


# --------------------------------------------------------------------------------------------------
# journal


def cmd_journal_sign(args: argparse.Namespace) -> int:
    record = Store(args.store).journal.sign(Path(args.key).expanduser())
    if args.json:
        print_json(record)
    else:
        console().print(f"signed the journal's head: seq {record['seq']} {record['hash'][:16]} with key {record['key']}")
    return 0


def cmd_journal_keygen(args: argparse.Namespace) -> int:
    from rungs.store import generate_keys

    private, public = generate_keys(Path(args.out).expanduser())
    if args.json:
        print_json({"private": str(private), "public": str(public)})
    else:
        console().print(f"private key: {escape(str(private))} (mode 0600: keep it off the store's machine)\n"
                        f"public key:  {escape(str(public))} (for `rungs verify --public-key`)")
    return 0


def cmd_journal_rechain(args: argparse.Namespace) -> int:
    done = Store(args.store).journal.rechain()
    if args.json:
        print_json(done)
    elif not done["legacy"]:
        console().print(f"nothing to rechain: all {done['entries']} entries are hash-chained")
    else:
        console().print(f"chained {done['legacy']} legacy entries ({done['entries']} in all); the old files are in "
                        f"{escape(done['kept'])}")
    return 0


def _add_journal(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "journal",
        help="sign the hash-chained journal's head, make a key pair, chain a legacy journal",
        description="The store's journal (_log/: events, runs, decisions) is one hash chain. Signing its head with "
        "an Ed25519 key the hospital holds makes every entry up to it provable with the public key alone "
        "(`rungs verify --public-key`).",
    )
    jsub = p.add_subparsers(dest="journal_command", metavar="{sign,keygen,rechain}", required=True)
    s = jsub.add_parser("sign", help="sign the journal's current head",
                        description="Sign the newest entry's (seq, hash) with an Ed25519 private key (PEM); appended "
                        "to _log/signatures.jsonl. Set $RUNGS_JOURNAL_KEY to a key file to sign after every entry.")
    s.add_argument("--key", required=True, metavar="FILE", help="the PEM Ed25519 private key")
    s.add_argument("--json", action="store_true", help="print the signature record as JSON")
    s.set_defaults(func=cmd_journal_sign)
    k = jsub.add_parser("keygen", help="make an Ed25519 key pair",
                        description="Write journal-key.pem (private, mode 0600) and journal-key.pub.pem into DIR.")
    k.add_argument("--out", required=True, metavar="DIR", help="where to write the two PEM files")
    k.add_argument("--json", action="store_true", help="print the two paths as JSON")
    k.set_defaults(func=cmd_journal_keygen)
    r = jsub.add_parser("rechain", help="hash-chain the entries of a journal written before the chain existed",
                        description="Give every legacy entry (no hash) its place in the chain. Refused when the chain "
                        "is broken or heads were signed; the old files are kept in _log/pre-rechain-<time>/.")
    r.add_argument("--json", action="store_true", help="print {legacy, entries, kept} as JSON")
    r.set_defaults(func=cmd_journal_rechain)


# --------------------------------------------------------------------------------------------------
# alias


def cmd_alias_set(args: argparse.Namespace) -> int:
    store = Store(args.store)
    previous = {(k, n): t for k, n, t in store.aliases()}
    art = store.set_alias(args.name, args.ref, reason=args.reason)
    was = previous.get((art.kind, args.name))
    if args.json:
        print_json({"kind": art.kind, "name": args.name, "id": art.id, "ref": art.ref, "from": was})
        return 0
    moved = f" (was {was})" if was and was != art.id else ""
    console().print(f"{escape(art.kind)}@{escape(args.name)} → {escape(art.ref)} {art.id}{escape(moved)}")
    return 0


def cmd_alias_ls(args: argparse.Namespace) -> int:
    store = Store(args.store)
    rows = []
    for kind, name, target in store.aliases(args.kind):
        try:
            ref = store.get(target).ref
        except RungsError:
            ref = None
        rows.append({"kind": kind, "name": name, "id": target, "ref": ref})
    if args.json:
        print_json(rows)
        return 0
    con = console()
    if not rows:
        con.print("no aliases")
        return 0
    t = table("aliases", "alias", "ref", "id", no_wrap=("alias", "ref", "id"))
    for row in rows:
        t.add_row(escape(f"{row['kind']}@{row['name']}"), escape(row["ref"] or "(missing)"), row["id"])
    con.print(t)
    return 0


def cmd_log(args: argparse.Namespace) -> int:
    events = Store(args.store).events()
    if args.json:
        print_json(events)
        return 0
    con = console()
    if not events:
        con.print("no events")
        return 0
    t = table("events", "at", "event", "what", "by", "reason", no_wrap=("at",))
    for e in events:
        if e.get("event") == "alias":
            what = f"{e.get('kind')}@{e.get('name')}: {e.get('from') or '-'} → {e.get('to')} ({e.get('ref')})"
        else:
            what = f"{e.get('ref')} {e.get('id')}"
        t.add_row(
            escape(str(e.get("at", "")).replace("T", " ").rstrip("Z")),
            escape(str(e.get("event", ""))),
            escape(what),
            escape(f"{e.get('user')}@{e.get('host')}"),
            escape(str(e.get("reason") or "")),
        )
    con.print(t)
    return 0


def _add_alias(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "alias",
        help="move or list aliases (latest, production, your own tags)",
        description="Aliases are per-kind names (latest, production, ...) that point at one artifact. "
        "Every move is recorded, with who, when, from, to and why, in the store's append-only event log.",
    )
    asub = p.add_subparsers(dest="alias_command", metavar="{set,ls}", required=True)
    s = asub.add_parser(
        "set",
        help="point an alias at an artifact",
        description="Point alias NAME of REF's kind at REF (e.g. `rungs alias set production sft:v4`).",
    )
    s.add_argument("name", metavar="NAME", help=f"alias name, e.g. production: {ALIAS_NAME_RULE}")
    s.add_argument("ref", metavar="REF", help=f"the artifact: {REF_HELP}")
    s.add_argument("--reason", default="", metavar="TEXT", help="why, recorded in the event log")
    s.add_argument("--json", action="store_true", help="print the move as JSON")
    s.set_defaults(func=cmd_alias_set)
    ls = asub.add_parser("ls", help="list aliases", description="List every alias: KIND@NAME, the ref and id it points at.")
    ls.add_argument("--kind", metavar="KIND", default=None, help="only aliases of this kind")
    ls.add_argument("--json", action="store_true", help="print a JSON list on stdout")
    ls.set_defaults(func=cmd_alias_ls)


def _add_log(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "log",
        help="show the store's event log (publishes and alias moves)",
        description="Show the append-only event log: every publish and every alias move, with who, when and why.",
    )
    p.add_argument("--json", action="store_true", help="print the events as a JSON list")
    p.set_defaults(func=cmd_log)




def register(sub: argparse._SubParsersAction) -> None:
    for add in (_add_ls, _add_show, _add_lineage, _add_verify, _add_journal, _add_alias, _add_log):
        add(sub)
