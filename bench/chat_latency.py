"""Chat latency: time to first token (TTFT) and decode tokens/s of the assistant, per model.

    .venv/bin/python bench/chat_latency.py [--models tiny,gemma3-270m] [--questions 8] [--max-new-tokens 64]
                                           [--top-k 3,1] [--store DIR] [--threads N] [--results FILE | --no-write]

For each model, corpus → base → index are built through `rungs.pipeline.build` into --store, or reused from
it (nothing is trained: an sft adapter is folded into the weights when the assistant loads it, so a
tuned model generates at its base model's speed). Then `rungs.assistant.Assistant` — the class behind
`rungs chat` and `rungs serve` — answers the first N questions of corpora/eval/questions.jsonl that pass
the relevance gate, after one warm-up answer, with the default prompt (conf/prompt/default.yaml).

- TTFT: from calling `reply()` — red-flag check, retrieval (query embedding + FAISS search), prompt
  rendering and tokenisation, prefill — to the first text out of the streamer: what a `rungs chat` user
  waits before text appears. Goal: <= 1.5 s.
- decode tokens/s: (generated tokens - 1) / (end - first token): the steady streaming speed.
- retrieval ms: `Assistant.retrieve()` alone, timed separately on the same questions.

`--top-k 3,1` measures each model once per number of retrieved chunks (prompt.top_k): prefill, and so
TTFT, grows with the sources put in the prompt.

Results are printed and written, with command, date, machine and versions, to bench/RESULTS.md under
"## Chat latency: time to first token and tokens/s" (a rerun replaces only that section).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "RESULTS.md"
HEADING = "## Chat latency: time to first token and tokens/s"
DEFAULT_STORE = Path(tempfile.gettempdir()) / "rungs-bench-store"  # shared with train_throughput: one GGUF import
QUESTIONS = ROOT / "corpora" / "eval" / "questions.jsonl"
GOAL_TTFT_S = 1.5
STAGES = ("corpus", "base", "index")


def build_refs(model: str, store_dir: Path, threads: int):
    """corpus, base and index for `model` in the store (built or reused), as assistant Refs."""
    from rungs.assistant import Refs
    from rungs.kernel import compose, progress_factory
    from rungs.pipeline import build, resolve_inputs
    from rungs.store import Store

    words = [f"model={model}"] + ([f"hardware.threads={threads}"] if threads else [])
    cfg = compose(words)
    store = Store(store_dir)
    built = {}
    for kind in STAGES:
        result = build(kind, cfg, resolve_inputs(kind, store, built=built, cfg=cfg), store, progress=progress_factory())
        built[kind] = result.artifact
        print(f"{model}: {kind} {result.artifact.ref} ({'cached' if result.cached else f'built in {result.seconds:.0f} s'})",
              file=sys.stderr, flush=True)
    return Refs(model=built["base"], adapter=None, index=built["index"]), cfg


def measure(assistant, questions: list[str]) -> list[dict]:
    rows = []
    for q in questions:
        began = time.perf_counter()
        reply = assistant.reply([{"role": "user", "content": q}])
        if reply.kind != "answer":
            reply.text()
            rows.append({"kind": reply.kind})
            continue
        for _ in reply:
            pass
        ended = time.perf_counter()
        first = reply.first_token_at or ended
        decode = (reply.completion_tokens - 1) / (ended - first) if reply.completion_tokens > 1 and ended > first else 0.0
        rows.append({"kind": "answer", "ttft_s": first - began, "decode_tok_s": decode, "total_s": ended - began,
                     "prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens})
    # retrieval alone, in a pass of its own: the retriever keeps the last query's embedding, so timing it
    # right after the same question's answer would measure a cache hit
    for q, row in zip(questions, rows):
        t0 = time.perf_counter()
        assistant.retrieve(q)
        row["retrieval_ms"] = (time.perf_counter() - t0) * 1000
    return rows


def quantile(values: list[float], q: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    pos = (len(values) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


def summarise(model: str, refs, rows: list[dict], max_new: int, threads: int, load_s: float, top_k: int) -> dict:
    answered = [r for r in rows if r["kind"] == "answer"]
    ttft = [r["ttft_s"] for r in answered]
    return {
        "model": model, "refs": refs.summary(), "threads": threads or "default", "max_new_tokens": max_new, "top_k": top_k,
        "questions": len(rows), "answered": len(answered), "load_s": load_s,
        "ttft_p50_s": statistics.median(ttft) if ttft else float("nan"),
        "ttft_p90_s": quantile(ttft, 0.9), "ttft_max_s": max(ttft) if ttft else float("nan"),
        "decode_tok_s": statistics.median([r["decode_tok_s"] for r in answered]) if answered else float("nan"),
        "prompt_tokens": statistics.median([r["prompt_tokens"] for r in answered]) if answered else 0,
        "completion_tokens": statistics.median([r["completion_tokens"] for r in answered]) if answered else 0,
        "retrieval_ms": statistics.median([r["retrieval_ms"] for r in answered]) if answered else float("nan"),
        "goal_met": bool(ttft) and statistics.median(ttft) <= GOAL_TTFT_S,
    }


def table(rows: list[dict]) -> str:
    head = ["model", "top_k", "threads", "answered", "prompt tok (p50)", "generated tok (p50)", "retrieval ms (p50)",
            "TTFT p50 s", "TTFT p90 s", "TTFT max s", "decode tok/s (p50)", f"TTFT p50 <= {GOAL_TTFT_S} s", "load s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---:" for _ in head) + "|"]
    for r in rows:
        cells = [r["model"], str(r["top_k"]), str(r["threads"]), f"{r['answered']}/{r['questions']}", f"{r['prompt_tokens']:.0f}",
                 f"{r['completion_tokens']:.0f}", f"{r['retrieval_ms']:.0f}", f"{r['ttft_p50_s']:.2f}",
                 f"{r['ttft_p90_s']:.2f}", f"{r['ttft_max_s']:.2f}", f"{r['decode_tok_s']:.1f}",
                 "yes" if r["goal_met"] else "no", f"{r['load_s']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine() -> dict:
    import torch
    import transformers

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "torch_threads": torch.get_num_threads(),
            "load": " / ".join(f"{v:.1f}" for v in os.getloadavg())}


def markdown(rows: list[dict], command: str, info: dict) -> str:
    date = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    refs = "; ".join(dict.fromkeys(f"{r['model']}: {r['refs']}" for r in rows))
    return "\n".join([
        HEADING, "",
        f"Command: `{command}`", "",
        (f"Date: {date}. Machine: {info['cores']} cores, {info['cpu']}, Python {info['python']}; torch {info['torch']} "
        f"(threads {info['torch_threads']}), transformers {info['transformers']}. Load average (1/5/15 min) at the "
         f"end: {info['load']} — other work shared the cores. Artifacts: {refs}."), "",
        table(rows), "",
        ("TTFT = from `Assistant.reply()` (red-flag check, retrieval, prompt rendering, prefill) to the first streamed "
        "text; decode tok/s = (generated tokens - 1) / (end - first token). Greedy decoding, the default prompt "
        "(conf/prompt/default.yaml: top_k=3 sources), fp32 on the CPU, one warm-up answer first. An sft adapter is "
        "merged into the weights at load, so a tuned model streams at the speed of its base."), "",
    ])


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="tiny,gemma3-270m", help="comma-separated model profiles (conf/model/)")
    parser.add_argument("--questions", type=int, default=8, help="questions measured per model (after one warm-up)")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="tokens generated per answer at most")
    parser.add_argument("--top-k", default="", help="comma-separated prompt.top_k values, one row each (default: the prompt's)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--store", type=Path, default=DEFAULT_STORE, help="artifact store for corpus/base/index (reused)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="Markdown file whose section to write")
    parser.add_argument("--no-write", action="store_true", help="print only; write no results file")
    args = parser.parse_args(argv)

    from rungs.assistant import Assistant
    from rungs.curation import read_jsonl

    questions = [row["question"] for _, row in read_jsonl(QUESTIONS)]
    rows = []
    for model in [m.strip() for m in args.models.split(",") if m.strip()]:
        refs, cfg = build_refs(model, args.store, args.threads)
        prompt = cfg.prompt
        prompt.max_new_tokens = args.max_new_tokens
        began = time.perf_counter()
        assistant = Assistant(refs, prompt, cfg.hardware)
        load_s = time.perf_counter() - began
        # warm-up: first-call costs (kernels, allocator, caches) are not what a running server shows
        measure(assistant, questions[-1:])
        picked = []
        for q in questions[:-1]:
            if len(picked) >= args.questions:
                break
            if assistant.retrieve(q):  # questions the relevance gate would turn away never reach the model
                picked.append(q)
        for top_k in [int(k) for k in args.top_k.split(",") if k.strip()] or [prompt.top_k]:
            prompt.top_k = top_k  # the assistant reads its prompt config at every reply
            summary = summarise(model, refs, measure(assistant, picked), args.max_new_tokens, args.threads, load_s, top_k)
            rows.append(summary)
            print(json.dumps(summary), flush=True)
        del assistant
    info = machine()
    print(table(rows))
    if not args.no_write:
        command = "python bench/chat_latency.py " + shlex.join(argv if argv is not None else sys.argv[1:])
        from rungs.kernel import replace_section
        replace_section(args.results, HEADING, markdown(rows, command.strip(), info))
    return rows


if __name__ == "__main__":
    main()
