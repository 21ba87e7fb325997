"""Continued pretraining ablation: what helps on text no training split contains?

    .venv/bin/python bench/cpt_ablation.py [--rows default,lr5e-5,...] [--store DIR] [--no-write]

Every row trains Gemma 3 270M's continued pretraining through the real stage (`stages/cpt.py run()`,
on the blocks the corpus stage packed) with the row's config overrides, then scores the trained model
on the two independent sets of the evaluate stage (`evaluate.perplexity.sets`: NIH patient education
on conditions held out of every corpus, and WikiText), per document from its own <bos>, 10k tokens
each, with 95 % bootstrap intervals over documents. Row `base` is the untrained model. Wall time is the
row's training plus scoring on this machine.

Rows (each a list of Hydra overrides on top of model=gemma3-270m):
- default: the configuration `make run` uses;
- stream: the blocks the corpus stage wrote before 2026-12-03 — documents end to end, cut every 128
  tokens, so most blocks start mid-document without <bos> (here rebuilt from the same documents);
- lr*, steps*, r16, full: learning rate, steps (tokens), LoRA rank, full weights;
- replay0 / replay25: no general text replayed / a quarter of the blocks;
- medquad*: NIH MedQuAD answers of the conditions not held out (`corpus=medquad`) instead of the
  project's 69 documents, at the default budget and at 4x the steps.

Results go to bench/RESULTS.md under "## Continued pretraining ablation" (a rerun replaces that section).
Artifacts are cached in --store by fingerprint, so a rerun after a crash continues.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "RESULTS.md"
HEADING = "## Continued pretraining ablation"
DEFAULT_STORE = Path(tempfile.gettempdir()) / "rungs-bench-store"
MODEL = ["model=gemma3-270m"]
ROWS: dict[str, list[str]] = {
    "base": [],
    "default": [],
    "stream": [],
    "lr5e-5": ["cpt.lr=5e-5"],
    "lr1e-3": ["cpt.lr=1e-3"],
    "steps120": ["cpt.max_steps=120", "cpt.warmup_steps=12"],
    "r16": ["cpt.lora_r=16", "cpt.lora_alpha=16"],
    "full": ["cpt.method=full", "cpt.lr=5e-6"],
    "replay0": ["corpus.replay_ratio=0"],
    "replay25": ["corpus.replay_ratio=0.25"],
    "medquad": ["corpus=medquad", "corpus.block_size=128"],
    "medquad-steps120": ["corpus=medquad", "corpus.block_size=128", "cpt.max_steps=120", "cpt.warmup_steps=12"],
}


def stream_blocks(corpus, tokenizer, folder: Path) -> Path:
    """A copy of the corpus artifact whose training blocks are cut from one run-on token stream (the old
    packing): `<bos> doc <eos>` end to end, a block every block_size tokens, wherever it falls."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    copy = folder / "corpus-stream"
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(corpus.path, copy)
    docs = pq.read_table(copy / "documents.parquet", columns=["text", "split"]).to_pylist()
    size = len(pq.read_table(copy / "blocks" / "train.parquet").column("input_ids")[0].as_py())
    stream: list[int] = []
    for d in docs:
        if d["split"] == "train":
            stream += [tokenizer.bos_token_id, *tokenizer(d["text"], add_special_tokens=False)["input_ids"], tokenizer.eos_token_id]
    blocks = [stream[i : i + size] for i in range(0, len(stream) - size + 1, size)]
    pq.write_table(pa.table({"input_ids": pa.array(blocks, type=pa.list_(pa.int32()))}), copy / "blocks" / "train.parquet")
    return copy


def independent_sets(cfg, corpus, tokenizer) -> dict:
    from stages.evaluate import text_sets

    sets, notes = text_sets(cfg, corpus, tokenizer)
    missing = [n for n in cfg.evaluate.perplexity.sets if n not in sets]
    if missing:
        raise SystemExit(f"independent set(s) {missing} unavailable: {notes} (needs ../shared/data)")
    return {n: sets[n] for n in cfg.evaluate.perplexity.sets}


def score(model, sets: dict, tokenizer, cfg) -> dict:
    from rungs.train import perplexity, score_documents

    p = cfg.evaluate.perplexity
    out = {}
    for name, docs in sets.items():
        scores = score_documents(model, docs, bos_id=tokenizer.bos_token_id, pad_id=tokenizer.pad_token_id,
                                 window=p.window, stride=p.stride, batch_tokens=p.batch_tokens)
        out[name] = (*perplexity(scores, cfg.seed), sum(s.tokens for s in scores), len(scores))
    return out


def run_row(name: str, store_dir: Path, work: Path) -> dict:
    from rungs.kernel import compose, progress_factory
    from rungs.pipeline import build
    from rungs.store import Store
    from rungs.train import load_model, model_tokenizer

    cfg = compose([*MODEL, *ROWS[name]])
    store = Store(store_dir)
    quiet = progress_factory(False)
    began = time.perf_counter()
    base = build("base", cfg, {}, store, progress=quiet).artifact
    tokenizer = model_tokenizer(base)
    default_corpus = build("corpus", compose(MODEL), {}, store, progress=quiet).artifact
    sets = independent_sets(compose(MODEL), default_corpus, tokenizer)  # one yardstick for every row
    trained = {}
    if name != "base":
        corpus = build("corpus", cfg, {}, store, progress=quiet).artifact
        if name == "stream":
            import stages.cpt

            corpus_copy = type("StreamCorpus", (), {"path": stream_blocks(corpus, tokenizer, work), "id": "stream"})()
            out, scratch = work / f"{name}-out", work / f"{name}-scratch"
            for d in (out, scratch):
                shutil.rmtree(d, ignore_errors=True)
                d.mkdir(parents=True)
            trained = stages.cpt.run(cfg, {"base": base, "corpus": corpus_copy}, out, quiet, scratch)
            model_art = type("Trained", (), {"path": out})()
        else:
            result = build("cpt", cfg, {"base": base, "corpus": corpus}, store, progress=quiet)
            trained, model_art = result.artifact.metrics, result.artifact
        model = load_model(model_art, cfg.hardware)
    else:
        model = load_model(base, cfg.hardware)
    row = {"name": name, "overrides": ROWS[name], "scores": score(model, sets, tokenizer, cfg),
           "train_tokens": trained.get("train_tokens"), "seconds": time.perf_counter() - began}
    return row


def fmt(entry) -> str:
    ppl, lo, hi, *_ = entry
    return f"{ppl:.2f} [{lo:.2f}, {hi:.2f}]"


def table(rows: list[dict]) -> list[str]:
    base = next((r for r in rows if r["name"] == "base"), None)
    lines = ["| row | overrides | domain (independent) | vs base | general (independent) | vs base | train tokens | wall s |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        d, g = r["scores"]["domain_independent"], r["scores"]["general_independent"]
        rel = lambda s, key: f"{(s[0] / base['scores'][key][0] - 1) * 100:+.1f} %" if base else ""  # noqa: E731
        lines.append(f"| {r['name']} | {' '.join(r['overrides']) or '—'} | {fmt(d)} | {rel(d, 'domain_independent')} | "
                     f"{fmt(g)} | {rel(g, 'general_independent')} | {r['train_tokens'] or ''} | {r['seconds']:.0f} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated rows (default all: {','.join(ROWS)})")
    parser.add_argument("--store", type=Path, default=DEFAULT_STORE, help="artifact store reused between runs")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.rows.split(",") if n.strip()]
    unknown = [n for n in names if n not in ROWS]
    if unknown:
        parser.error(f"unknown row(s) {unknown}; rows: {', '.join(ROWS)}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="cpt-ablation-") as tmp:
        for name in names:
            rows.append(run_row(name, args.store, Path(tmp)))
            print("\n".join(table(rows)[-1:]), flush=True)
    lines = table(rows)
    print("\n".join(lines))
    if not args.no_write:
        from rungs.kernel import replace_section

        n = rows[0]["scores"]["domain_independent"]
        command = "python bench/cpt_ablation.py " + shlex.join(argv if argv is not None else sys.argv[1:])
        load = os.getloadavg()[0]
        text = "\n".join([
            HEADING, "",
            f"`{command.strip()}` on {_dt.date.today()}, {platform.machine()}, {os.cpu_count()} cores, load average "
            f"{load:.1f} at the end. Perplexity per document from its own <bos>, 95 % bootstrap intervals over "
            f"documents; domain = {n[4]} NIH documents on held-out conditions ({n[3]} tokens), general = "
            f"WikiText passages (~10k tokens). vs base: change of the perplexity; lower is better.", "", *lines, ""])
        replace_section(RESULTS, HEADING, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
