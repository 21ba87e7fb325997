"""Answer quality before and after the decoding and prompting fixes, side by side on the same questions.

    .venv/bin/python bench/answer_quality.py [--store DIR] [--answered 24] [--others 8] [--no-write]

Uses the newest base, cpt, sft and index artifacts of the store (run `rungs run` first) and the evaluate
stage's own end-to-end path (stages/evaluate.py `_answers`: the real assistant, rungs/assistant/_scoring.py
scores). Two prompt configurations answer the same seeded sample of corpora/gate/dev.jsonl and
corpora/triage/dev.jsonl:

- before: what the assistant did until 2026-12-03 — the chat template for every model, no n-gram
  block, any script, up to 256 new tokens, no sentence limit, the model's own citations only;
- after: conf/prompt/default.yaml — a pretrained model prompted as a completion, no repeated 4-gram,
  Latin-script tokens only, at most five whole sentences, citations checked and attached per sentence.

Prints one table (rates with 95 % bootstrap intervals and the number of questions) and writes it to
bench/RESULTS.md under "## Answers before and after the decoding fixes".
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "RESULTS.md"
HEADING = "## Answers before and after the decoding fixes"
BEFORE = ["prompt.format=chat", "prompt.no_repeat_ngram=0", "prompt.latin_only=false", "prompt.max_sentences=0",
          "prompt.attribute=false", "evaluate.answers.max_new_tokens=256"]
METRICS = ("citation_accuracy", "grounded", "rouge_l", "similarity", "degenerate", "repetition", "foreign_script",
           "cut_off", "answered", "dont_know", "escalated")


def measure(store_dir: Path, overrides: list[str]) -> tuple[dict, float]:
    from rungs.kernel import compose, progress_factory
    from rungs.store import Store
    from stages.evaluate import _answers

    store = Store(store_dir)
    inputs = {k: store.resolve(f"{k}@latest") for k in ("corpus", "base", "cpt", "sft", "index")}
    metrics: dict = {}
    began = time.perf_counter()
    _answers(compose(overrides), inputs, Path(tempfile.mkdtemp()), progress_factory(False), metrics, [])
    return metrics, time.perf_counter() - began


def table(results: dict[str, dict]) -> list[str]:
    cell = lambda m, k: (f"{m[k]:.3f} [{m[k + '_lo']:.2f}, {m[k + '_hi']:.2f}] n={m[k + '_n']}"  # noqa: E731
                         if m.get(k) is not None else "")
    columns = [(name, rung) for name in results for rung in ("base", "sft")]
    lines = ["| metric | " + " | ".join(f"{rung} {name}" for name, rung in columns) + " |",
             "|---|" + "---:|" * len(columns)]
    for metric in METRICS:
        lines.append(f"| {metric} | " + " | ".join(cell(results[n], f"answers_{r}_{metric}") for n, r in columns) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, default=Path(os.environ.get("RUNGS_STORE", "artifacts")))
    parser.add_argument("--answered", type=int, default=24, help="in-scope questions per rung (default 24)")
    parser.add_argument("--others", type=int, default=8, help="out-of-scope and emergency questions each (default 8)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = parser.parse_args(argv)
    sizes = [f"evaluate.answers.answered={args.answered}", f"evaluate.answers.others={args.others}"]
    results, seconds = {}, {}
    for name, overrides in (("before", BEFORE), ("after", [])):
        results[name], seconds[name] = measure(args.store, [*overrides, *sizes])
        print(f"{name}: {seconds[name]:.0f} s", flush=True)
    lines = table(results)
    print("\n".join(lines))
    if not args.no_write:
        from rungs.kernel import replace_section

        command = "python bench/answer_quality.py " + shlex.join(argv if argv is not None else sys.argv[1:])
        text = "\n".join([
            HEADING, "",
            f"`{command.strip()}` on {_dt.date.today()}, {platform.machine()}, {os.cpu_count()} cores; store {args.store}",
            f"(before {seconds['before']:.0f} s, after {seconds['after']:.0f} s for both rungs). base = the pretrained",
            "model answering with retrieval (the rag rung); sft = the adapter on the cpt model. Rates with 95 %",
            "bootstrap intervals over questions; n = questions behind each number.", "", *lines, ""])
        replace_section(RESULTS, HEADING, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
