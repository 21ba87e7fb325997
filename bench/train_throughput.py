"""Training throughput: rungs' cpt and sft stages against TRL's SFTTrainer, side by side.

    .venv/bin/python bench/train_throughput.py [--models tiny,gemma3-270m] [--steps N] [--repeats R] [--store DIR]

For each model the corpus and base artifacts are built through `rungs.pipeline.build` (or reused from
--store). Then, for cpt and sft, two trainings run, each in its own fresh subprocess so that peak RSS
(VmHWM) belongs to that run alone:

- ours: the stage's own `run()` (stages/cpt.py, stages/sft.py) into a throw-away directory, i.e.
  `rungs.train.trainable_model` + `rungs.train.train` exactly as the pipeline runs them;
- trl:  `trl.SFTTrainer` on the same model weights (the same LoRA adapters, initialised from the same
  seed), the same examples, the same optimizer (rungs' AdamW) and learning-rate schedule (rungs' warmup
  + cosine, passed in through `optimizers=`), batch size, gradient clipping, steps and seed.

Same batches: TRL is given, in order, the exact examples rungs' loop draws at every step (a pre-tokenized
dataset, read sequentially), so both runs see identical batches and identical padding and their losses
can be compared step by step. cpt gives TRL `input_ids` (labels = input_ids); sft gives `input_ids` and
`labels` with -100 on prompt tokens (TRL 1.x uses a `labels` column as is).

TRL is configured for a fair fp32 CPU run: SFTConfig's own defaults (bf16=True, gradient_checkpointing=True)
are switched off to match the hardware profile, as they are for rungs (bf16 training is ~15x slower here).

tokens/s counts non-padding tokens of the batches trained on, divided by training-step time (model
loading, dataset preparation and saving excluded): for ours the loop's own `train_tokens_per_s`; for TRL
the time from `on_train_begin` to the last `on_step_end`. The order of the two runs alternates from one
(model, stage) pair and repeat to the next.

Results are printed as a table and written, with the command, date, machine and versions, to
bench/RESULTS.md under "## Training throughput: rungs vs TRL SFTTrainer" (--no-write leaves it alone).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "RESULTS.md"
HEADING = "## Training throughput: rungs vs TRL SFTTrainer"
DEFAULT_STORE = Path(tempfile.gettempdir()) / "rungs-bench-store"
DEFAULT_STEPS = {"tiny": 60, "gemma3-270m": 10}  # gemma: ~10 s a step on 2 cores
STAGES = ("cpt", "sft")
IMPLS = ("ours", "trl")


# --------------------------------------------------------------------------------------------- config


def overrides(model: str, stage: str, steps: int, threads: int | None = None) -> list[str]:
    """The model's own training settings, for `steps` steps, without held-out evaluation or checkpoints.

    Evaluation and checkpoint writes are not training-step time in either loop; switching them off keeps
    the two runs doing the same work. Every step's loss is logged so the final losses can be compared.
    """
    return [
        f"model={model}",
        f"{stage}.max_steps={steps}",
        f"{stage}.checkpoint_every=0",
        f"{stage}.eval_examples=0",
        f"{stage}.log_every=1",
        *([f"hardware.threads={threads}"] if threads else []),
    ]


def train_section(cfg, stage: str):
    return getattr(cfg, stage)


# --------------------------------------------------------------------------------------------- workers


def _peak_rss_mib() -> float:
    from rungs.pipeline import peak_rss

    return peak_rss() / 2**20


def _examples(cfg, stage: str, inputs: dict) -> list[dict]:
    """The training examples the stage itself would train on, built by the stage's own helpers."""
    if stage == "cpt":
        from rungs.curation import load_blocks

        return load_blocks(inputs["corpus"], "train") + load_blocks(inputs["corpus"], "replay")
    from rungs.curation import read_records, split_records
    from rungs.train import model_tokenizer, tokenize_all
    from stages.sft import sources

    s = cfg.sft
    train_set, _, _ = split_records(read_records(sources(cfg), s), cfg.seed, s.heldout_fraction)
    return tokenize_all(model_tokenizer(inputs["model"]), train_set, s.max_len)


def batch_plan(examples: list[dict], tcfg, seed: int) -> list[list[int]]:
    """Example indices of every micro-batch rungs' loop trains on, in order (a pure function of seed and step)."""
    from rungs.train import batch_sampler

    draw = batch_sampler(examples, tcfg, seed)
    return [draw(step, micro) for step in range(tcfg.max_steps) for micro in range(tcfg.grad_accum)]


def run_ours(cfg, stage: str, inputs: dict) -> dict:
    """The stage's real run(); `train` is wrapped only to read peak RSS the moment training returns."""
    import importlib

    import rungs.train as training_room  # the stage imports `train` from it inside run()
    from rungs.kernel import progress_factory

    module = importlib.import_module(f"stages.{stage}")
    seen: dict = {}
    train = training_room.train

    def timed_train(*args, **kwargs):
        cpu = time.process_time()
        result = train(*args, **kwargs)
        seen["cpu_s"] = time.process_time() - cpu
        seen["rss"] = _peak_rss_mib()  # before the stage merges/saves: training only, like TRL's number
        seen["result"] = result
        return result

    training_room.train = timed_train  # a module attribute wins over the package's lazy __getattr__
    with tempfile.TemporaryDirectory(prefix="bench-ours-") as tmp:
        out, scratch = Path(tmp) / "out", Path(tmp) / "scratch"
        out.mkdir()
        scratch.mkdir()
        module.run(cfg, inputs, out, progress_factory(False), scratch)
    result = seen["result"]
    return {
        "tokens": result.tokens,
        "seconds": result.seconds,
        "cpu_s": seen["cpu_s"],
        "losses": [h["loss"] for h in result.history],
        "final_loss": result.final_loss,
        "peak_rss_mib": seen["rss"],
    }


def run_trl(cfg, stage: str, inputs: dict) -> dict:
    """TRL's SFTTrainer on the same weights, adapters, examples (in the same batches), optimizer and schedule."""
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from rungs.train import cosine_schedule, make_optimizer, model_tokenizer, setup_torch, trainable_model

    tcfg = train_section(cfg, stage)
    model_input = "base" if stage == "cpt" else "model"
    # the same calls, in the same order, as the stage: same RNG state when the LoRA adapters are initialised
    setup_torch(cfg.hardware, cfg.seed)
    tokenizer = model_tokenizer(inputs[model_input])
    examples = _examples(cfg, stage, inputs)
    lora = stage == "sft" or cfg.cpt.method == "lora"
    model = trainable_model(inputs[model_input], cfg.hardware, tcfg, lora=lora)

    plan = batch_plan(examples, tcfg, cfg.seed)
    rows = [examples[i] for batch in plan for i in batch]
    columns = {"input_ids": [list(r["input_ids"]) for r in rows]}
    if stage == "sft":
        columns["labels"] = [list(r["labels"]) for r in rows]
    dataset = Dataset.from_dict(columns)
    tokens = sum(len(r["input_ids"]) for r in rows)

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, tcfg, cfg.hardware.optimizer)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine_schedule(tcfg))

    class Clock(TrainerCallback):
        began = ended = cpu_began = cpu_ended = None

        def on_train_begin(self, args, state, control, **kwargs):
            self.began, self.cpu_began = time.perf_counter(), time.process_time()

        def on_step_end(self, args, state, control, **kwargs):
            self.ended, self.cpu_ended = time.perf_counter(), time.process_time()

    clock = Clock()
    with tempfile.TemporaryDirectory(prefix="bench-trl-") as tmp:
        args = SFTConfig(
            output_dir=tmp,
            max_steps=tcfg.max_steps,
            per_device_train_batch_size=tcfg.batch_size,
            gradient_accumulation_steps=tcfg.grad_accum,
            learning_rate=tcfg.lr,
            weight_decay=tcfg.weight_decay,
            max_grad_norm=tcfg.max_grad_norm or 0.0,
            seed=cfg.seed,
            data_seed=cfg.seed,
            train_sampling_strategy="sequential",  # the dataset already is rungs' batch order
            shuffle_dataset=False,
            max_length=None,  # examples are already truncated (sft.max_len) or exactly block_size (cpt)
            packing=False,
            padding_free=False,
            bf16=cfg.hardware.dtype == "bfloat16",  # SFTConfig defaults to bf16 and checkpointing: match rungs
            fp16=False,
            gradient_checkpointing=cfg.hardware.gradient_checkpointing,
            use_cpu=cfg.hardware.device == "cpu",
            logging_steps=1,
            save_strategy="no",
            eval_strategy="no",
            report_to="none",
            disable_tqdm=True,
            dataloader_num_workers=0,
            remove_unused_columns=True,
        )
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=dataset,
            processing_class=tokenizer,
            optimizers=(optimizer, scheduler),
            callbacks=[clock],
        )
        trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    counted = [h["num_tokens"] for h in trainer.state.log_history if "num_tokens" in h]
    if counted and int(counted[-1]) != tokens:
        raise RuntimeError(f"TRL trained on {counted[-1]} non-padding tokens, the plan has {tokens}")
    return {
        "tokens": tokens,
        "seconds": clock.ended - clock.began,
        "cpu_s": clock.cpu_ended - clock.cpu_began,
        "losses": losses,
        "final_loss": losses[-1],
        "peak_rss_mib": _peak_rss_mib(),
    }


def worker(spec: dict) -> dict:
    import warnings

    warnings.filterwarnings("ignore")
    from rungs.kernel import compose
    from rungs.store import Store

    store = Store(spec["store"])
    cfg = compose(spec["overrides"])
    stage = spec["stage"]
    if stage == "cpt":
        inputs = {"base": store.get(spec["base"]), "corpus": store.get(spec["corpus"])}
    else:
        inputs = {"model": store.get(spec["base"])}
    began = time.perf_counter()
    out = (run_ours if spec["impl"] == "ours" else run_trl)(cfg, stage, inputs)
    out["wall_s"] = time.perf_counter() - began
    out["threads"] = __import__("torch").get_num_threads()
    return out


# --------------------------------------------------------------------------------------------- driver


def build_inputs(model: str, store_dir: Path) -> dict:
    """corpus and base artifacts for `model`, built through the runner or reused from the store."""
    from rungs.kernel import compose, progress_factory
    from rungs.pipeline import build, resolve_inputs
    from rungs.store import Store

    store = Store(store_dir)
    cfg = compose([f"model={model}"])
    built: dict = {}
    for kind in ("corpus", "base"):
        began = time.perf_counter()
        result = build(kind, cfg, resolve_inputs(kind, store, built=built, cfg=cfg), store, progress=progress_factory())
        built[kind] = result.artifact
        how = "reused" if result.cached else f"built in {time.perf_counter() - began:.0f} s"
        print(f"[{model}] {kind} {result.artifact.id} ({how})", file=sys.stderr, flush=True)
    return {"corpus": built["corpus"].id, "base": built["base"].id, "method": {"cpt": cfg.cpt.method, "sft": "lora"}}


def spawn(spec: dict, timeout: float | None) -> dict:
    """One training in a fresh interpreter: its peak RSS is its own."""
    with tempfile.TemporaryDirectory(prefix="bench-worker-") as tmp:
        result_path = Path(tmp) / "result.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec), "--result", str(result_path)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0 or not result_path.exists():
            raise RuntimeError(f"{spec['impl']} {spec['stage']} on {spec['model']} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
        return json.loads(result_path.read_text())


def summarise(model: str, stage: str, method: str, steps: int, runs: dict[str, list[dict]]) -> dict:
    def med(impl, key):
        return statistics.median(r[key] for r in runs[impl])

    row = {"model": model, "stage": stage, "method": method, "threads": runs["ours"][0]["threads"], "steps": steps, "repeats": len(runs["ours"])}
    for impl in IMPLS:
        row[f"{impl}_tokens"] = runs[impl][0]["tokens"]
        row[f"{impl}_tok_s"] = statistics.median(r["tokens"] / r["seconds"] for r in runs[impl])
        row[f"{impl}_tok_cpu_s"] = statistics.median(r["tokens"] / r["cpu_s"] for r in runs[impl])
        row[f"{impl}_loss"] = med(impl, "final_loss")
        row[f"{impl}_rss_mib"] = med(impl, "peak_rss_mib")
        row[f"{impl}_losses"] = runs[impl][0]["losses"]
    # Ratios of runs that ran back to back (repeat i of each), then the median: other people's load
    # moves both runs of a pair together far more than it moves runs minutes apart.
    pairs = list(zip(runs["ours"], runs["trl"]))
    row["ratio"] = statistics.median((o["tokens"] / o["seconds"]) / (t["tokens"] / t["seconds"]) for o, t in pairs)
    row["cpu_ratio"] = statistics.median((o["tokens"] / o["cpu_s"]) / (t["tokens"] / t["cpu_s"]) for o, t in pairs)
    row["loss_diff_pct"] = 100 * (row["ours_loss"] - row["trl_loss"]) / row["trl_loss"]
    return row


COLUMNS = [
    ("model", "model", "{}"),
    ("stage", "stage", "{}"),
    ("method", "method", "{}"),
    ("threads", "threads", "{}"),
    ("steps", "steps", "{}"),
    ("ours_tokens", "tokens", "{:,}"),
    ("ours_tok_s", "rungs tok/s", "{:,.0f}"),
    ("trl_tok_s", "TRL tok/s", "{:,.0f}"),
    ("ratio", "ratio rungs/TRL", "{:.2f}x"),
    ("cpu_ratio", "ratio by CPU time", "{:.2f}x"),
    ("ours_loss", "rungs final loss", "{:.4f}"),
    ("trl_loss", "TRL final loss", "{:.4f}"),
    ("loss_diff_pct", "loss diff", "{:+.1f}%"),
    ("ours_rss_mib", "rungs peak RSS MiB", "{:,.0f}"),
    ("trl_rss_mib", "TRL peak RSS MiB", "{:,.0f}"),
]


def table(rows: list[dict]) -> str:
    """A Markdown table (also readable as plain text)."""
    head = [title for _, title, _ in COLUMNS]
    body = [[fmt.format(row[key]) for key, _, fmt in COLUMNS] for row in rows]
    widths = [max(len(c) for c in col) for col in zip(head, *body)]
    line = lambda cells: "| " + " | ".join(c.rjust(w) for c, w in zip(cells, widths)) + " |"
    return "\n".join([line(head), "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|", *map(line, body)])


def machine() -> dict:
    import peft
    import torch
    import transformers
    import trl

    cpu = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "versions": f"torch {torch.__version__}, transformers {transformers.__version__}, trl {trl.__version__}, peft {peft.__version__}",
    }


GOAL = 1.3  # the issue's target: rungs' tokens/s at least 1.3x TRL's, at equal loss
EQUAL_LOSS_PCT = 3.0  # final losses within this many percent count as equal


def verdict(rows: list[dict]) -> str:
    met = [r for r in rows if r["ratio"] >= GOAL and abs(r["loss_diff_pct"]) <= EQUAL_LOSS_PCT]
    low = min(rows, key=lambda r: r["ratio"])
    return (
        f"Goal: rungs >= {GOAL}x TRL's tokens/s at equal loss (final losses within {EQUAL_LOSS_PCT:g} %). "
        f"Met in {len(met)} of {len(rows)} rows; lowest ratio {low['ratio']:.2f}x ({low['model']} {low['stage']}, "
        f"threads={low['threads']}), largest loss difference {max(abs(r['loss_diff_pct']) for r in rows):.2f} %."
    )


def markdown(rows: list[dict], command: str, info: dict) -> str:
    return "\n".join(
        [
            HEADING,
            "",
            f"Command: `{command}`",
            "",
            f"Date: {_dt.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}. Machine: {info['nproc']} cores, {info['cpu']}, "
            f"Python {info['python']}; {info['versions']}.",
            "",
            table(rows),
            "",
            verdict(rows),
            "",
            "Same weights, LoRA init, batches (TRL reads rungs' batch order sequentially), AdamW, warmup + cosine schedule, "
            "clipping, steps and seed, fp32. tokens/s = non-padding tokens / training-step time, model load excluded; "
            "peak RSS = VmHWM of a fresh process per run at the end of training. Loss = the last step's training loss. "
            "Ratio by CPU time: the same ratio with process CPU seconds instead of wall seconds, steadier when other "
            "work shares the cores. With repeats: medians of tok/s, loss and RSS; the ratios are medians of the ratios "
            "of the two runs made back to back in each repeat.",
            "",
            "Where the difference comes from: rungs' loss (`rungs/train/_training.py: next_token_loss`) sends only the positions "
            "that carry a label through the LM head and uses a cross-entropy whose backward reuses the logits' memory; "
            "TRL 1.16 without Triton (CPU) runs its chunked LM head over every position, recomputes each logits tile in "
            "the backward pass and also computes entropy and top-1 accuracy for its logs. Length bucketing of SFT batches "
            "(`batch_sampler`) cuts padding for both here, since TRL is fed rungs' batches.",
            "",
        ]
    )


def parse_steps(value: str | None, models: list[str]) -> dict[str, int]:
    if value is None:
        return {m: DEFAULT_STEPS.get(m, 10) for m in models}
    return {m: int(value) for m in models}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="tiny,gemma3-270m", help="comma-separated model profiles (conf/model/)")
    parser.add_argument("--stages", default="cpt,sft", help="comma-separated stages to measure")
    parser.add_argument("--steps", default=None, help=f"optimizer steps per run (default per model: {DEFAULT_STEPS})")
    parser.add_argument("--repeats", type=int, default=1, help="runs per implementation; medians are reported")
    parser.add_argument("--store", type=Path, default=DEFAULT_STORE, help="artifact store for corpus/base (reused across runs)")
    parser.add_argument("--threads", default="0", help="comma-separated torch thread counts to measure at (0: the hardware profile's)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="Markdown file whose section to write (default bench/RESULTS.md)")
    parser.add_argument("--no-write", action="store_true", help="print only; write no results file")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed per training subprocess")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        Path(args.result).write_text(json.dumps(worker(json.loads(args.worker))))
        return []

    models = [m for m in args.models.split(",") if m]
    stages = [s for s in args.stages.split(",") if s]
    steps = parse_steps(args.steps, models)
    command = "python bench/train_throughput.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    thread_counts = [int(t) for t in args.threads.split(",") if t]
    rows, turn = [], 0
    for model in models:
        ids = build_inputs(model, args.store)
        for stage in stages:
            for threads in thread_counts:
                runs: dict[str, list[dict]] = {impl: [] for impl in IMPLS}
                for _ in range(args.repeats):
                    order = IMPLS if turn % 2 == 0 else IMPLS[::-1]  # alternate who runs first
                    turn += 1
                    for impl in order:
                        spec = {"model": model, "stage": stage, "impl": impl, "store": str(args.store), "overrides": overrides(model, stage, steps[model], threads), **ids}
                        r = spawn(spec, args.timeout)
                        runs[impl].append(r)
                        print(
                            f"[{model}] {stage} {impl:4} {r['threads']} threads: {r['tokens'] / r['seconds']:8.1f} tok/s  loss {r['final_loss']:.4f}  "
                            f"peak RSS {r['peak_rss_mib']:,.0f} MiB  ({r['wall_s']:.0f} s in all)",
                            file=sys.stderr,
                            flush=True,
                        )
                rows.append(summarise(model, stage, ids["method"][stage], steps[model], runs))
    print(table(rows))
    for row in rows:
        print(f"ratio {row['model']} {row['stage']} threads={row['threads']}: {row['ratio']:.2f}x (loss {row['ours_loss']:.4f} vs {row['trl_loss']:.4f})")
    if not args.no_write:
        from rungs.kernel import replace_section
        replace_section(args.results, HEADING, markdown(rows, command, machine()))
        print(f"written to {args.results}", file=sys.stderr)
    return rows


if __name__ == "__main__":
    main()
