"""Verbs that build: run (and run --dry-run), status, stage, merge.

`run`, `stage` and `merge` check the memory plan first (a run that cannot fit is refused, exit 2, with
the overrides that would fit), then start a Prefect flow run; Prefect is imported only then. `status`
and `run --dry-run` compute every fingerprint of the run and say, per stage, which stored artifact it
would reuse or why it would build, without starting anything.
"""

from __future__ import annotations

import argparse
import os
import sys

from rich.markup import escape

from rungs.kernel import KINDS, LADDER, RungsConfig, RungsError, compose, rung
from rungs.ops import list_runs
from rungs.pipeline import estimate, fits, resolve_inputs, run_status
from rungs.store import Store

from ._output import console, print_json, print_summary, quiet, table


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


def _progress(args: argparse.Namespace) -> bool | None:
    return False if args.no_progress or quiet() else None


def _quiet_prefect() -> None:
    """Under -q, Prefect logs warnings and errors only (read when Prefect is first imported)."""
    if quiet():
        os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"


def _plan_allows(cfg: RungsConfig, overrides: list[str], stages: list[str] | None, force: bool) -> bool:
    """The memory plan of the configured stages fits hardware.memory_gb (and, for host-side stages, hardware.host_memory_gb), or --force was given.

    Runs before the flow is imported or any stage starts: a run that cannot fit is refused with the
    numbers and the overrides that would fit (rungs.pipeline's memory plan).
    """
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


# --------------------------------------------------------------------------------------------------
# run, status


def cmd_run(args: argparse.Namespace) -> int:
    cfg = compose(args.overrides)
    if not _plan_allows(cfg, args.overrides, None, args.force):
        return 2
    store = Store(args.store)
    if args.dry_run:
        return _show_status(cfg, store, args, f"rungs run --dry-run: {cfg.pipeline.name} pipeline, model {cfg.model.name}")
    _quiet_prefect()
    from flows.specialize import specialize

    rows = specialize(overrides=args.overrides, store_root=str(store.root), show_progress=_progress(args))
    if args.json:
        print_json(rows)
    else:
        built = sum(not r["cached"] for r in rows)
        print_summary(rows, f"rungs run: {built} built, {len(rows) - built} cached")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    cfg = compose(args.overrides)
    store = Store(args.store)
    code = _show_status(cfg, store, args, f"rungs status: {cfg.pipeline.name} pipeline, model {cfg.model.name}")
    if not args.json and not quiet():
        con = console()
        production = {kind: target for kind, name, target in store.aliases() if name == "production"}
        if "evaluate" in production:
            try:
                con.print(f"production: {escape(store.get(production['evaluate']).ref)} {production['evaluate']}")
            except RungsError:
                con.print(f"production: {production['evaluate']} (not in the store)")
        else:
            con.print("production: none yet")
        runs = list_runs(store, limit=1)
        if runs:
            last = runs[0]
            con.print(escape(f"last run: {last['name']} — {last['status']}, {str(last.get('started_at') or '').replace('T', ' ')}"))
    return code


def _show_status(cfg: RungsConfig, store: Store, args: argparse.Namespace, title: str) -> int:
    """The run's stages, each `reuse REF` or `build` with the reasons; exit 0."""
    stages = run_status(cfg, store)
    if args.json:
        print_json([s.to_dict() for s in stages])
        return 0
    building = [s for s in stages if not s.cached]
    if quiet():
        for s in stages:
            print(f"{s.kind:<9} " + (f"reuse {s.artifact.ref} {s.artifact.id}" if s.cached else "build"))
        return 0
    t = table(f"{title} — {len(building)} to build, {len(stages) - len(building)} to reuse", "stage", "waits for", "",
              "artifact, or why it builds", no_wrap=("stage", ""))
    for s in stages:
        what = f"{s.artifact.ref}  {s.artifact.id}" if s.cached else "\n".join(s.reasons)
        t.add_row(s.kind, escape(", ".join(s.waits_for) or "-"), "reuse" if s.cached else "[bold]build[/bold]", escape(what))
    console().print(t)
    return 0


# --------------------------------------------------------------------------------------------------
# stage, merge


def cmd_stage(args: argparse.Namespace) -> int:
    refs, overrides = _split_inputs(args.words)
    cfg = compose(overrides)
    store = Store(args.store)
    # a plan that cannot fit says so first (it holds whatever the inputs are); then a bad or missing input
    # ref: one line each, before Prefect starts
    if not _plan_allows(cfg, overrides, [args.kind], args.force):
        return 2
    resolve_inputs(args.kind, store, refs=refs, cfg=cfg)
    _quiet_prefect()
    from flows.specialize import stage

    row = stage(args.kind, overrides=overrides, input_refs=refs, store_root=str(store.root), show_progress=_progress(args))
    if args.json:
        print_json(row)
    else:
        print_summary([row], f"rungs stage {args.kind}")
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    store = Store(args.store)
    adapter = store.resolve(args.ref)
    if rung(adapter.kind).weights != "adapter":
        raise RungsError(f"{args.ref} is a {adapter.kind} artifact; `rungs merge` takes an sft adapter")
    refs = {"sft": adapter.id, "model": adapter.inputs["model"]}
    _quiet_prefect()
    from flows.specialize import stage

    row = stage("merge", overrides=args.overrides, input_refs=refs, store_root=str(store.root), show_progress=_progress(args))
    if args.json:
        print_json(row)
    else:
        print_summary([row], f"rungs merge {adapter.ref}")
    return 0


# --------------------------------------------------------------------------------------------------
# the parsers


def _build_flags(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--no-progress", action="store_true", help="no progress bars (default: bars only on a terminal)")
    p.add_argument("--force", action="store_true", help="run even when the memory plan (`rungs plan`) does not fit hardware.memory_gb or hardware.host_memory_gb")
    p.add_argument("--json", action="store_true", help=f"print {what} as JSON")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="build the whole ladder (the Prefect flow `specialize`)",
        description=(
            "Run the pipeline's stages as one Prefect flow run. The stages form a DAG from their declared inputs: "
            "each starts once the stages it takes inputs from are done, so independent ones run side by side "
            "(index beside base and cpt). A stage whose fingerprint (stage version, resolved config, input "
            "fingerprints, source file hashes) is already in the store is reused, so an unchanged run takes "
            "seconds. Ends with a table: stage, artifact, built or cached, wall time, key metrics. Before anything "
            "runs, the memory plan (`rungs plan`) is checked: a run that cannot fit hardware.memory_gb (or host_memory_gb) is refused "
            "(exit 2) with the overrides that would fit, unless --force. --dry-run says what would be reused and "
            "what built, and why, and starts nothing."
        ),
        epilog="examples:\n  rungs run\n  rungs run --dry-run sft.lr=1e-3   # what would rebuild: sft and evaluate\n"
        "  rungs run sft.lr=1e-3\n  rungs run corpus=medquad pipeline=sft\n  rungs run corpus=pubmedqa evaluate=pubmedqa",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="Hydra overrides of conf/ (e.g. cpt.max_steps=100 model=tiny)")
    p.add_argument("--dry-run", action="store_true", help="say which stages would be reused and which built (and why); run nothing")
    _build_flags(p, "the summary rows (with --dry-run: the plan)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "status",
        help="what a run would rebuild, and why; production and the last run",
        description=(
            "Compute the fingerprint of every stage of the pipeline the overrides configure and say, per stage, "
            "which stored artifact a run would reuse, or why it would build: an input that is rebuilt or is "
            "another artifact, config keys that changed, raw files that changed, or the stage's VERSION. Then the "
            "production release and the last flow run. Nothing is built; Prefect is not started."
        ),
        epilog="examples:\n  rungs status\n  rungs status model=tiny cpt.lr=1e-3\n  rungs status --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="Hydra overrides of conf/, as for `rungs run`")
    p.add_argument("--json", action="store_true", help="print one {stage, fingerprint, cached, ref, id, reasons} per stage")
    p.set_defaults(func=cmd_status)

    inputs = "; ".join(f"{r.kind}: {r.describe_inputs()}" for r in LADDER)
    p = sub.add_parser(
        "stage",
        help="build one stage against chosen upstream artifacts",
        description=(
            "Run one stage as a Prefect flow run (`stage`). Pick its inputs with inputs.NAME=REF; inputs not "
            f"named default to the latest artifact of their kind. Other words are Hydra overrides. Inputs: {inputs}."
        ),
        epilog="example:\n  rungs stage cpt inputs.base=base:v1 inputs.corpus=corpus@latest cpt.max_steps=50",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("kind", choices=KINDS, metavar="STAGE", help=f"one of: {', '.join(KINDS)}")
    p.add_argument("words", nargs="*", metavar="inputs.NAME=REF | KEY=VALUE", help="input artifacts and Hydra overrides")
    _build_flags(p, "the result row")
    p.set_defaults(func=cmd_stage)

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
