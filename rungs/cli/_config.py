"""Verbs about a configuration: `rungs config` (the composed config, one key, or a group's options) and
`rungs plan` (each stage's estimated peak memory on the chosen hardware)."""

from __future__ import annotations

import argparse
import dataclasses

from rich.markup import escape

from rungs.kernel import CARDS, CONF_DIR, ConfigError, choices, compose, did_you_mean, groups, known_keys, to_dict
from rungs.pipeline import COMPONENTS, count_params, estimate, fits, suggest

from ._output import console, print_json, table

# --------------------------------------------------------------------------------------------------
# config


def cmd_config(args: argparse.Namespace) -> int:
    words = list(args.words)
    key = words.pop(0) if words and "=" not in words[0] else None
    cfg = compose(words)
    options = groups()
    if key is None:
        value = to_dict(cfg)
    else:
        value = _lookup(cfg, key)
    if args.json:
        out = {"value": value}
        if key in options:
            out["options"] = options[key]
            out["chosen"] = choices(words).get(key)
        print_json(out if key in options else value)
        return 0
    con = console()
    if key in options:
        chosen = choices(words).get(key)
        t = table(f"{key}: conf/{key}/ (choose with {key}=NAME)", "", "option", "what", no_wrap=("", "option"))
        for option in options[key]:
            t.add_row("*" if option == chosen else "", escape(option), escape(_summary(key, option)))
        con.print(t)
        if not dataclasses.is_dataclass(getattr(cfg, key, None)):
            return 0
        con.print(f"[bold]{escape(key)}[/bold] as composed ({escape(key)}={escape(str(chosen))}" + (f", {escape(' '.join(words))})" if words else ")"))
    con.print(escape(_yaml(value)), soft_wrap=True)
    return 0


def _lookup(cfg, key: str):
    value = cfg
    for part in key.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif dataclasses.is_dataclass(value) and hasattr(value, part):
            value = getattr(value, part)
        else:
            raise ConfigError(f"no config key {key!r}{did_you_mean(key, known_keys())}; `rungs config` shows them all")
    return to_dict(value)


def _yaml(value) -> str:
    from omegaconf import OmegaConf

    if isinstance(value, (dict, list)):
        return OmegaConf.to_yaml(OmegaConf.create(value)).rstrip()
    return str(value)


def _summary(group: str, option: str) -> str:
    """The first comment of conf/<group>/<option>.yaml that is not Hydra's package line."""
    for line in (CONF_DIR / group / f"{option}.yaml").read_text().splitlines():
        text = line.strip()
        if text.startswith("#") and "@package" not in text:
            return text.lstrip("# ").strip()
        if text and not text.startswith("#"):
            break
    return ""


# --------------------------------------------------------------------------------------------------
# plan


def _gib(n: float | None) -> str:
    return "-" if n is None else f"{n / 2**30:.2f}"


def _plan_intro(cfg) -> list[str]:
    m, hw = cfg.model, cfg.hardware
    p = count_params(m)
    embedding = f"embedding {p.embedding / 1e9:.2f}B{' tied' if m.tie_embeddings else f' + lm_head {p.lm_head / 1e9:.2f}B'}"
    weights = {"hf": m.path, "gguf": m.package}.get(m.source)
    variant = {"it": "instruction-tuned", "pt": "pretrained"}[m.variant]
    model = (
        f"model {m.name}: {variant}{f' ({weights})' if weights else ''}, text-only, {p.total / 1e9:.2f}B parameters "
        f"({embedding}, linear {p.linear / 1e9:.2f}B), {m.num_layers} layers, hidden {m.hidden_size}, vocab {m.vocab_size:,}"
    )
    card = f" ({CARDS[hw.card][0]}: {hw.memory_gb:g} GiB usable)" if hw.card in CARDS else ""
    per = f"{hw.memory_gb:g} GiB{card}" + (f" per process × {hw.processes}" if hw.processes > 1 else "")
    host = f", host {hw.host_memory_gb:g} GiB" if hw.device != "cpu" and hw.host_memory_gb is not None else ""
    hardware = (
        f"hardware {hw.name}: {hw.device}, {hw.dtype}, quant {hw.quant}, gradient checkpointing "
        f"{'on' if hw.gradient_checkpointing else 'off'}, {hw.optimizer}; budget {per}{host}"
    )
    return [model, hardware]


def cmd_plan(args: argparse.Namespace) -> int:
    cfg = compose(args.overrides)
    plans = estimate(cfg)
    ok, message = fits(plans, cfg)
    if args.json:
        print_json(
            {
                "model": cfg.model.name,
                "hardware": cfg.hardware.name,
                "budget_bytes": int(cfg.hardware.memory_gb * 2**30),
                "host_budget_bytes": None if cfg.hardware.host_memory_gb is None else int(cfg.hardware.host_memory_gb * 2**30),
                "fits": ok,
                "stages": [p.to_dict() for p in plans],
                "suggestions": [] if ok else [s.words for s in suggest(cfg)],
                "message": message,
            }
        )
        return 0 if ok else 1
    con = console()
    for line in _plan_intro(cfg):
        con.print(escape(line))
    t = table("estimated peak memory per stage (GiB)", "stage", "what", "batch×seq", *COMPONENTS, "total", "budget", "fits",
              no_wrap=("stage", "batch×seq"))
    for column in t.columns[2:]:
        column.justify = "right"
    for p in plans:
        mark = "[dim]-[/dim]" if p.fits is None else ("[green]✓[/green]" if p.fits else "[red]✗[/red]")
        if p.memory == "host" and cfg.hardware.device != "cpu":
            mark += " [dim]host[/dim]"
        shape = f"{p.batch}×{p.seq_len}" if p.seq_len else "-"
        t.add_row(
            escape(p.label), escape(p.what), shape, *(_gib(getattr(p, c)) for c in COMPONENTS),
            f"[bold]{_gib(p.total)}[/bold]", _gib(p.budget), mark,
        )
    con.print(t)
    if cfg.hardware.device != "cpu" and any(p.memory == "host" for p in plans):
        con.print("[dim]host: runs in host memory on this GPU profile; its budget is hardware.host_memory_gb[/dim]")
    con.print(("[green]" if ok else "[red]") + escape(message) + ("[/green]" if ok else "[/red]"))
    return 0 if ok else 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "config",
        help="show the composed config, one key, or a config group's options",
        description=(
            "Print the configuration a run would use (conf/ composed with the overrides), as YAML. With a config "
            "group (model, hardware, pipeline, deid, corpus, cpt, sft, retriever, index, triage, evaluate, prompt, promote, ops), list its "
            "options (conf/<group>/*.yaml, the chosen one marked) and the section as composed. With a key "
            "(seed, cpt.lr, evaluate.perplexity), print only its value. A mistyped key or option names the closest one."
        ),
        epilog="examples:\n  rungs config\n  rungs config model\n  rungs config cpt model=tiny\n  rungs config cpt.lr\n"
        "  rungs config hardware hardware=gpu-24gb --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("words", nargs="*", metavar="[GROUP|KEY] [KEY=VALUE ...]", help="a group or key to show, then Hydra overrides")
    p.add_argument("--json", action="store_true", help="print the value (with a group: {value, options, chosen}) as JSON")
    p.set_defaults(func=cmd_config)

    p = sub.add_parser(
        "plan",
        help="estimate each stage's peak memory for the chosen model × hardware",
        description=(
            "Estimate, for every memory-heavy stage of the pipeline (base, cpt, sft, evaluate), the peak memory "
            "split into weights, trainable parameters, optimizer state, gradients, activations, logits and runtime, "
            "and compare it with hardware.memory_gb (a GPU profile's card's usable memory, per process) or, for the "
            "stages that run in host memory on a GPU profile (base import, merge), hardware.host_memory_gb. When a stage does not fit, print the overrides that would "
            "make it fit (each re-estimated). Exit 0 when the plan fits, 1 when it does not. `rungs run` and "
            "`rungs stage` run the same check first."
        ),
        epilog="examples:\n  rungs plan model=gemma3-27b hardware=gpu-24gb\n  rungs plan model=gemma3-270m cpt.batch_size=16 --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="Hydra overrides of conf/ (e.g. model=gemma3-27b hardware=gpu-24gb)")
    p.add_argument("--json", action="store_true", help="print {model, hardware, fits, stages, suggestions, message} as JSON")
    p.set_defaults(func=cmd_plan)
