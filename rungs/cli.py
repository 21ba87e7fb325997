"""The `rungs` command: inspect, audit and tag the artifacts of the specialization ladder.

Each subcommand is registered by a small ``_add_<name>(subparsers)`` function that sets
``func=<handler>``; a handler takes the parsed ``args`` and returns the exit code. To add a
subcommand, write its ``_add_...`` function and list it in ``SUBCOMMANDS``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from .advise import add_advise_parser
from .assistant import add_chat_parser
from .audit import add_audit_parser, add_diff_parser, add_export_lineage_parser
from .errors import RungsError
from .gc import add_gc_parser
from .promote import add_promote_parser, add_rollback_parser
from .runs import add_runs_parser
from .server import add_serve_parser
from .store import Artifact, Store

DESCRIPTION = """\
rungs specialises a language model for medicine one rung at a time:

  corpus ─► base ─► cpt (continued pretraining) ─► sft (LoRA instruction tuning)
  corpus ─► index (retrieval for RAG)            ─► evaluate (perplexity per rung, recall@k)

Every stage writes one immutable, versioned artifact into the store (./artifacts, or $RUNGS_STORE,
or --store PATH): <kind>/<id>/ with a manifest.json recording its inputs, resolved config, the
sha256 of every file, metrics, the code (git commit, package versions) and the run (host, user).

REF names an artifact: an id or a unique prefix of at least 6 hex digits, KIND:vN (e.g. cpt:v3),
KIND@ALIAS (e.g. sft@production), or a bare KIND (= KIND@latest).
"""

EPILOG = """\
examples:
  rungs ls                       every artifact, grouped by kind
  rungs show sft@latest          the full manifest of the newest sft adapter
  rungs lineage evaluate         which corpus, base, cpt and sft produced these scores
  rungs lineage corpus:v1 --down what was built from a corpus
  rungs verify --all             re-hash everything; exit 1 naming any changed file
  rungs alias set production sft:v4 --reason "beats v3 on the eval set"
  rungs plan model=gemma3-27b hardware=gpu-24gb   peak memory per stage, and what would fit
"""


# --------------------------------------------------------------------------------------------------
# helpers


def _console() -> Console:
    """A console on the current stdout; wide when not a terminal so ids and paths are never cut."""
    out = sys.stdout
    is_tty = hasattr(out, "isatty") and out.isatty()
    return Console(file=out, width=None if is_tty else 200, highlight=False, soft_wrap=not is_tty)


def _store(args: argparse.Namespace) -> Store:
    return Store(args.store)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def _fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _fmt_bytes(n: Any) -> str:
    if not isinstance(n, (int, float)):
        return str(n)
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(n)


def _flatten(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested dicts as (dotted.key, leaf) pairs; lists stay leaves."""
    if isinstance(data, dict) and data:
        out: list[tuple[str, Any]] = []
        for key, value in data.items():
            out.extend(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return [(prefix, data)] if prefix else []


def _key_metrics(metrics: dict, limit: int = 4) -> str:
    scalars = [
        (k, v)
        for k, v in _flatten(metrics)
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    ]
    shown = ", ".join(f"{k}={_fmt_value(v)}" for k, v in scalars[:limit])
    if len(scalars) > limit:
        shown += ", …"
    return shown


def _alias_map(store: Store) -> dict[str, list[str]]:
    by_id: dict[str, list[str]] = {}
    for _kind, name, target in store.aliases():
        by_id.setdefault(target, []).append(name)
    return by_id


def _kv_table(title: str, rows: list[tuple[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left", show_header=False, box=None, pad_edge=False)
    table.add_column("key", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in rows:
        shown = json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else str(value)
        table.add_row(escape(str(key)), escape(shown))
    return table


# --------------------------------------------------------------------------------------------------
# ls


def cmd_ls(args: argparse.Namespace) -> int:
    store = _store(args)
    arts = store.artifacts(args.kind)
    aliases = _alias_map(store)
    if args.json:
        _print_json(
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
    console = _console()
    if not arts:
        what = f"no {args.kind} artifacts" if args.kind else "no artifacts"
        console.print(f"{what} in {escape(str(store.root))}")
        return 0
    table = Table(title=f"artifacts in {escape(str(store.root))}", title_justify="left")
    for col in ("ref", "id", "created", "fingerprint", "metrics", "aliases"):
        table.add_column(col, no_wrap=col in ("ref", "id", "created", "fingerprint"))
    for a in arts:
        table.add_row(
            escape(a.ref),
            a.id,
            escape(a.created_at.replace("T", " ").rstrip("Z")),
            escape(a.fingerprint[:12]),
            escape(_key_metrics(a.metrics)),
            escape(", ".join(aliases.get(a.id, []))),
        )
    console.print(table)
    return 0


def _add_ls(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ls",
        help="list artifacts",
        description="List artifacts (all, or of one KIND) with version, id, creation time, "
        "fingerprint, key metrics and the aliases that point at them.",
    )
    p.add_argument("kind", nargs="?", metavar="KIND", help="only this kind (corpus, base, cpt, sft, index, evaluate, ...)")
    p.add_argument("--json", action="store_true", help="print a JSON list on stdout")
    p.set_defaults(func=cmd_ls)


# --------------------------------------------------------------------------------------------------
# show


def cmd_show(args: argparse.Namespace) -> int:
    store = _store(args)
    art = store.resolve(args.ref)
    names = [name for kind, name, target in store.aliases(art.kind) if target == art.id]
    m = art.manifest
    if args.json:
        _print_json({"ref": art.ref, "path": str(art.path), "aliases": names, "manifest": m})
        return 0
    console = _console()
    console.print(f"[bold]{escape(art.ref)}[/bold]  {art.id}" + (f"  ({escape(', '.join(names))})" if names else ""))
    console.print(
        _kv_table(
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

    inputs = Table(title="inputs", title_justify="left")
    for col in ("name", "ref", "id"):
        inputs.add_column(col)
    for name, iid in (m.get("inputs") or {}).items():
        try:
            ref = store.get(iid).ref
        except RungsError:
            ref = "(missing)"
        inputs.add_row(escape(name), escape(ref), iid)
    console.print(inputs if m.get("inputs") else "[bold]inputs[/bold]: none (a raw-input stage)")

    if m.get("config"):
        console.print(_kv_table("config", _flatten(m["config"])))
    if m.get("sources"):
        sources = Table(title="sources", title_justify="left")
        for col in ("source", "detail"):
            sources.add_column(col, overflow="fold")
        for name, detail in m["sources"].items():
            shown = ", ".join(
                f"{k}={str(v)[:12] if k == 'sha256' else _fmt_value(v)}" for k, v in detail.items()
            ) if isinstance(detail, dict) else _fmt_value(detail)
            sources.add_row(escape(str(name)), escape(shown))
        console.print(sources)

    files = Table(title=f"files ({len(m.get('files') or {})})", title_justify="left")
    files.add_column("path", overflow="fold")
    files.add_column("size", justify="right")
    files.add_column("sha256")
    for rel, entry in (m.get("files") or {}).items():
        files.add_row(escape(rel), _fmt_bytes(entry.get("bytes")), str(entry.get("sha256", ""))[:16])
    console.print(files)

    if m.get("metrics"):
        console.print(_kv_table("metrics", _flatten(m["metrics"])))
    code = dict(m.get("code") or {})
    packages = code.pop("packages", {}) or {}
    console.print(_kv_table("code", list(code.items()) + [(f"packages.{k}", v) for k, v in packages.items()]))
    if m.get("run"):
        console.print(_kv_table("run", _flatten(m["run"])))
    return 0


def _add_show(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "show",
        help="show one artifact's manifest",
        description="Show an artifact's manifest readably: inputs, resolved config, raw sources, files "
        "with their hashes, metrics, the code (git commit, packages) and the run that made it.",
    )
    p.add_argument("ref", metavar="REF", help="id, id prefix, KIND:vN, KIND@ALIAS or KIND")
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
    store = _store(args)
    tree = store.downstream(args.ref) if args.down else store.upstream(args.ref)
    if args.json:
        _print_json(_down_json(tree) if args.down else _up_json(tree))
        return 0
    aliases = _alias_map(store)

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
    _console().print(root)
    return 0


def _add_lineage(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "lineage",
        help="show where an artifact came from (or, with --down, what was built from it)",
        description="Print the lineage tree of an artifact: by default upstream, every input down to "
        "the raw-input stages; with --down, every artifact built from it.",
    )
    p.add_argument("ref", metavar="REF", help="id, id prefix, KIND:vN, KIND@ALIAS or KIND")
    p.add_argument("--down", action="store_true", help="show what was built from REF instead of its inputs")
    p.add_argument("--json", action="store_true", help="print the tree as nested JSON")
    p.set_defaults(func=cmd_lineage)


# --------------------------------------------------------------------------------------------------
# verify


def cmd_verify(args: argparse.Namespace) -> int:
    store = _store(args)
    if args.ref and args.all:
        raise RungsError("give either REF or --all, not both")
    if args.ref:
        art = store.resolve(args.ref)
        results = [(f"{art.ref} ({art.id})", store.verify(art.id))]
    else:
        results = store.verify_all()
    ok = all(not problems for _, problems in results)
    if args.json:
        _print_json(
            {
                "ok": ok,
                "artifacts": [{"artifact": label, "ok": not problems, "problems": problems} for label, problems in results],
            }
        )
        return 0 if ok else 1
    console = _console()
    if not results:
        console.print(f"no artifacts in {escape(str(store.root))}")
    for label, problems in results:
        if not problems:
            console.print(f"[green]OK[/green]   {escape(label)}")
            continue
        console.print(f"[red]FAIL[/red] {escape(label)}")
        for problem in problems:
            console.print(f"     {escape(problem)}")
    if not ok:
        bad = sum(1 for _, p in results if p)
        print(f"verify: {bad} of {len(results)} artifact(s) changed since publish", file=sys.stderr)
    return 0 if ok else 1


def _add_verify(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify",
        help="re-hash artifacts and check their manifests and inputs",
        description="Re-hash every file of an artifact (or of all with --all, the default), recompute "
        "the manifest id and check that every input exists. Prints OK per intact artifact; exits 1 "
        "naming each changed, missing or unexpected file otherwise.",
    )
    p.add_argument("ref", nargs="?", metavar="REF", help="one artifact (default: all)")
    p.add_argument("--all", action="store_true", help="verify every artifact in the store")
    p.add_argument("--json", action="store_true", help="print {ok, artifacts: [{artifact, ok, problems}]} as JSON")
    p.set_defaults(func=cmd_verify)


# --------------------------------------------------------------------------------------------------
# alias


def cmd_alias_set(args: argparse.Namespace) -> int:
    store = _store(args)
    previous = {(k, n): t for k, n, t in store.aliases()}
    art = store.set_alias(args.name, args.ref, reason=args.reason)
    was = previous.get((art.kind, args.name))
    if args.json:
        _print_json({"kind": art.kind, "name": args.name, "id": art.id, "ref": art.ref, "from": was})
        return 0
    moved = f" (was {was})" if was and was != art.id else ""
    _console().print(f"{escape(art.kind)}@{escape(args.name)} → {escape(art.ref)} {art.id}{escape(moved)}")
    return 0


def cmd_alias_ls(args: argparse.Namespace) -> int:
    store = _store(args)
    rows = []
    for kind, name, target in store.aliases(args.kind):
        try:
            ref = store.get(target).ref
        except RungsError:
            ref = None
        rows.append({"kind": kind, "name": name, "id": target, "ref": ref})
    if args.json:
        _print_json(rows)
        return 0
    console = _console()
    if not rows:
        console.print("no aliases")
        return 0
    table = Table(title="aliases", title_justify="left")
    for col in ("alias", "ref", "id"):
        table.add_column(col, no_wrap=True)
    for row in rows:
        table.add_row(escape(f"{row['kind']}@{row['name']}"), escape(row["ref"] or "(missing)"), row["id"])
    console.print(table)
    return 0


def cmd_log(args: argparse.Namespace) -> int:
    events = _store(args).events()
    if args.json:
        _print_json(events)
        return 0
    console = _console()
    if not events:
        console.print("no events")
        return 0
    table = Table(title="events", title_justify="left")
    for col in ("at", "event", "what", "by", "reason"):
        table.add_column(col)
    for e in events:
        if e.get("event") == "alias":
            what = f"{e.get('kind')}@{e.get('name')}: {e.get('from') or '-'} → {e.get('to')} ({e.get('ref')})"
        else:
            what = f"{e.get('ref')} {e.get('id')}"
        table.add_row(
            escape(str(e.get("at", ""))),
            escape(str(e.get("event", ""))),
            escape(what),
            escape(f"{e.get('user')}@{e.get('host')}"),
            escape(str(e.get("reason") or "")),
        )
    console.print(table)
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
    s.add_argument("name", metavar="NAME", help="alias name, e.g. production")
    s.add_argument("ref", metavar="REF", help="the artifact: id, id prefix, KIND:vN, KIND@ALIAS or KIND")
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


def _split_inputs(words: list[str]) -> tuple[dict[str, str], list[str]]:
    """`inputs.NAME=REF` words pick upstream artifacts; every other word is a Hydra override."""
    refs, overrides = {}, []
    for word in words:
        if word.startswith("inputs."):
            name, sep, ref = word[len("inputs.") :].partition("=")
            if not sep or not name or not ref:
                raise RungsError(f"{word!r}: expected inputs.NAME=REF, e.g. inputs.base=base:v1")
            refs[name] = ref
        else:
            overrides.append(word)
    return refs, overrides


def _progress_flag(args: argparse.Namespace) -> bool | None:
    return False if args.no_progress else None


def _plan_allows(overrides: list[str], stages: list[str] | None, force: bool) -> bool:
    """The memory plan of the configured stages fits hardware.memory_gb, or --force was given.

    Runs before the flow is imported or any stage starts: a run that cannot fit is refused with the
    numbers and the overrides that would fit (rungs.plan).
    """
    from .config import compose
    from .plan import estimate, fits

    cfg = compose(overrides)
    ok, message = fits(estimate(cfg, stages), cfg)
    if ok:
        return True
    if force:
        print(f"warning: {message}\n--force: running anyway", file=sys.stderr)
        return True
    words = " ".join(overrides)
    print(
        f"error: {message}\nthe full table: `rungs plan{' ' + words if words else ''}`; add --force to run anyway",
        file=sys.stderr,
    )
    return False


def cmd_run(args: argparse.Namespace) -> int:
    if not _plan_allows(args.overrides, None, args.force):
        return 2
    from flows.specialize import specialize

    from .report import print_summary

    rows = specialize(overrides=args.overrides, store_root=str(_store(args).root), show_progress=_progress_flag(args))
    if args.json:
        _print_json(rows)
    else:
        built = sum(not r["cached"] for r in rows)
        print_summary(rows, f"rungs run: {built} built, {len(rows) - built} cached", _console())
    return 0


def cmd_stage(args: argparse.Namespace) -> int:
    from .report import print_summary

    refs, overrides = _split_inputs(args.words)
    if not _plan_allows(overrides, [args.kind], args.force):
        return 2
    from flows.specialize import stage

    row = stage(args.kind, overrides=overrides, input_refs=refs, store_root=str(_store(args).root), show_progress=_progress_flag(args))
    if args.json:
        _print_json(row)
    else:
        print_summary([row], f"rungs stage {args.kind}", _console())
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from flows.specialize import stage

    from .report import print_summary

    store = _store(args)
    adapter = store.resolve(args.ref)
    if adapter.kind != "sft":
        raise RungsError(f"{args.ref} is a {adapter.kind} artifact; `rungs merge` takes an sft adapter")
    refs = {"sft": adapter.id, "model": adapter.inputs["model"]}
    row = stage("merge", overrides=args.overrides, input_refs=refs, store_root=str(store.root), show_progress=_progress_flag(args))
    if args.json:
        _print_json(row)
    else:
        print_summary([row], f"rungs merge {adapter.ref}", _console())
    return 0


def _add_merge(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "merge",
        help="fold an sft adapter into its model and publish the full weights",
        description=(
            "Merge a LoRA adapter (an sft artifact) into the model it was trained on and publish a `merge` "
            "artifact holding plain full weights (model/). Its lineage names both the model and the adapter."
        ),
        epilog="example:\n  rungs merge sft@production",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("ref", metavar="REF", help="the sft artifact (id, sft:vN, sft@alias)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="Hydra overrides (e.g. hardware=gpu-24gb)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print the result row as JSON")
    p.set_defaults(func=cmd_merge)


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="build the whole ladder (the Prefect flow `specialize`)",
        description=(
            "Run the pipeline's stages in order (pipeline=full: corpus, base, cpt, sft, index, evaluate) as one "
            "Prefect flow run. A stage whose fingerprint (stage version, resolved config, input fingerprints, "
            "source file hashes) is already in the store is reused, so an unchanged run takes seconds. "
            "Ends with a table: stage, artifact, built or cached, wall time, key metrics. Before anything runs, "
            "the memory plan (`rungs plan`) is checked: a run that cannot fit hardware.memory_gb is refused "
            "(exit 2) with the overrides that would fit, unless --force."
        ),
        epilog="examples:\n  rungs run\n  rungs run sft.lr=1e-3            # rebuilds only sft and evaluate\n"
        "  rungs run corpus=medquad pipeline=sft\n  rungs run corpus=pubmedqa evaluate=pubmedqa",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="Hydra overrides of conf/ (e.g. cpt.max_steps=100 model=tiny)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (default: bars only on a terminal)")
    p.add_argument("--force", action="store_true", help="run even when the memory plan (`rungs plan`) does not fit hardware.memory_gb")
    p.add_argument("--json", action="store_true", help="print the summary rows as JSON")
    p.set_defaults(func=cmd_run)


def _add_stage(sub: argparse._SubParsersAction) -> None:
    from .config import STAGES

    p = sub.add_parser(
        "stage",
        help="build one stage against chosen upstream artifacts",
        description=(
            "Run one stage as a Prefect flow run (`stage`). Pick its inputs with inputs.NAME=REF; inputs not "
            "named default to the latest artifact of their kind. Other words are Hydra overrides. "
            "Inputs per stage: base: corpus; cpt: base, corpus; sft: model (cpt or base); index: corpus; "
            "evaluate: corpus, base, cpt, sft, index; merge: model, sft."
        ),
        epilog="example:\n  rungs stage cpt inputs.base=base:v1 inputs.corpus=corpus@latest cpt.max_steps=50",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("kind", choices=STAGES, metavar="STAGE", help=f"one of: {', '.join(STAGES)}")
    p.add_argument("words", nargs="*", metavar="inputs.NAME=REF | KEY=VALUE", help="input artifacts and Hydra overrides")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (default: bars only on a terminal)")
    p.add_argument("--force", action="store_true", help="run even when the memory plan (`rungs plan`) does not fit hardware.memory_gb")
    p.add_argument("--json", action="store_true", help="print the result row as JSON")
    p.set_defaults(func=cmd_stage)


# --------------------------------------------------------------------------------------------------
# plan


def _gib(n: float | None) -> str:
    return "-" if n is None else f"{n / 2**30:.2f}"


def _plan_intro(cfg) -> list[str]:
    from .plan import count_params

    m, hw = cfg.model, cfg.hardware
    p = count_params(m)
    embedding = f"embedding {p.embedding / 1e9:.2f}B{' tied' if m.tie_embeddings else f' + lm_head {p.lm_head / 1e9:.2f}B'}"
    model = (
        f"model {m.name}: {p.total / 1e9:.2f}B parameters ({embedding}, linear {p.linear / 1e9:.2f}B), "
        f"{m.num_layers} layers, hidden {m.hidden_size}, vocab {m.vocab_size:,}"
    )
    per = f"{hw.memory_gb:g} GiB" + (f" per process × {hw.processes}" if hw.processes > 1 else "")
    hardware = (
        f"hardware {hw.name}: {hw.device}, {hw.dtype}, quant {hw.quant}, gradient checkpointing "
        f"{'on' if hw.gradient_checkpointing else 'off'}, {hw.optimizer}; budget {per}"
    )
    return [model, hardware]


def cmd_plan(args: argparse.Namespace) -> int:
    from .config import compose
    from .plan import COMPONENTS, estimate, fits, suggest

    cfg = compose(args.overrides)
    plans = estimate(cfg)
    ok, message = fits(plans, cfg)
    if args.json:
        _print_json(
            {
                "model": cfg.model.name,
                "hardware": cfg.hardware.name,
                "budget_bytes": int(cfg.hardware.memory_gb * 2**30),
                "fits": ok,
                "stages": [p.to_dict() for p in plans],
                "suggestions": [] if ok else [s.words for s in suggest(cfg)],
                "message": message,
            }
        )
        return 0 if ok else 1
    console = _console()
    for line in _plan_intro(cfg):
        console.print(escape(line))
    table = Table(title="estimated peak memory per stage (GiB)", title_justify="left")
    table.add_column("stage", no_wrap=True)
    table.add_column("what", overflow="fold")
    table.add_column("batch×seq", justify="right", no_wrap=True)
    for c in COMPONENTS:
        table.add_column(c, justify="right")
    for col in ("total", "budget", "fits"):
        table.add_column(col, justify="right")
    for p in plans:
        mark = "[dim]host[/dim]" if p.fits is None else ("[green]✓[/green]" if p.fits else "[red]✗[/red]")
        shape = f"{p.batch}×{p.seq_len}" if p.seq_len else "-"
        table.add_row(
            escape(p.label), escape(p.what), shape, *(_gib(getattr(p, c)) for c in COMPONENTS),
            f"[bold]{_gib(p.total)}[/bold]", _gib(p.budget), mark,
        )
    console.print(table)
    if any(p.fits is None for p in plans):
        console.print("[dim]host: runs in host memory on this GPU profile; not checked against the GPU budget[/dim]")
    console.print(("[green]" if ok else "[red]") + escape(message) + ("[/green]" if ok else "[/red]"))
    return 0 if ok else 1


def _add_plan(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plan",
        help="estimate each stage's peak memory for the chosen model × hardware",
        description=(
            "Estimate, for every memory-heavy stage of the pipeline (base, cpt, sft, evaluate), the peak memory "
            "split into weights, trainable parameters, optimizer state, gradients, activations, logits and runtime, "
            "and compare it with hardware.memory_gb. When a stage does not fit, print the overrides that would "
            "make it fit (each re-estimated). Exit 0 when the plan fits, 1 when it does not. `rungs run` and "
            "`rungs stage` run the same check first."
        ),
        epilog="examples:\n  rungs plan model=gemma3-27b hardware=gpu-24gb\n  rungs plan model=gemma3-270m cpt.batch_size=16 --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="Hydra overrides of conf/ (e.g. model=gemma3-27b hardware=gpu-24gb)")
    p.add_argument("--json", action="store_true", help="print {model, hardware, fits, stages, suggestions, message} as JSON")
    p.set_defaults(func=cmd_plan)


# --------------------------------------------------------------------------------------------------
# parser and entry point

# Each registers one subcommand on the subparsers action; add yours here (e.g. run, stage).
SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    add_advise_parser,
    _add_run,
    _add_stage,
    _add_plan,
    _add_merge,
    _add_ls,
    _add_show,
    _add_lineage,
    _add_verify,
    _add_alias,
    _add_log,
    add_chat_parser,
    add_serve_parser,
    add_audit_parser,
    add_diff_parser,
    add_export_lineage_parser,
    add_gc_parser,
    add_promote_parser,
    add_rollback_parser,
    add_runs_parser,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rungs",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--store",
        metavar="PATH",
        default=None,
        help="artifact store root (default: $RUNGS_STORE, else ./artifacts)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in SUBCOMMANDS:
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        # KEY=VALUE words after a flag (`rungs run --no-progress cpt.lr=1e-3`) belong to the overrides
        target = next((name for name in ("overrides", "words") if hasattr(args, name)), None)
        if extra and (target is None or any(word.startswith("-") for word in extra)):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        if extra:
            getattr(args, target).extend(extra)
    except SystemExit as exc:  # --help, or a usage error (argparse already printed it)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    try:
        return int(args.func(args) or 0)
    except RungsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `rungs ls | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
