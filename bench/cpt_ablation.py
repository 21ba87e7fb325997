"""Continued pretraining ablation: what helps on text no training split contains?

    .venv/bin/python bench/cpt_ablation.py [--rows default,lr5e-5,...] [--store DIR] [--no-write]

Every row trains Gemma 3 270M's continued pretraining through the real stage (`stages/cpt.py run()`,
on the blocks the corpus stage packed) with the row's config overrides, then scores the trained model
on the two independent sets of the evaluate stage (`evaluate.perplexity.sets`: NIH patient education
on conditions held out of every corpus, and WikiText), per document from its own <bos>, 10k tokens
each, with 95 % bootstrap intervals over documents; "vs base" is the change on the same documents with a
paired interval. Row `base` is the untrained model. "cpt s" is the training stage's own wall time on this
machine (from its manifest), what the row would add to `make run`.

Rows (each a list of Hydra overrides on top of model=gemma3-270m):
- default: the configuration `make run` used until the whole table was in (2026-12-04): the project's 61
  pages plus NIH's MedQuAD answers of the conditions not held out, as training-only text (a source with
  `index: false`); LoRA r 16 at 5e-5 for 30 steps. Every other row changes this one (MODEL pins its rate);
- project: the project's pages alone (the default until 2026-12-04);
- r64: LoRA r 64, the rank until 2026-12-04; lr2e-4: the rate `make run` uses since this table;
- stream: the blocks the corpus stage wrote before 2026-12-03 — documents end to end, cut every 128
  tokens, so most blocks start mid-document without <bos> (here rebuilt from the same documents);
- lr*, steps120, full: learning rate, 4x the steps (tokens), full weights;
- replay0 / replay25: no general text replayed / a quarter of the blocks;
- medquad: MedQuAD answers alone (`corpus=medquad`), without the project's pages.

The yardstick is the evaluate stage's for the default corpus, the strictest of the rows, the same for all:
NIH answers on conditions MedQuAD's training split leaves out, minus every condition any row trains on
or that contains or is contained in one ("Alzheimer Disease" held out, "Alzheimer's Disease" trained is
one condition), minus every page repeating 10 % or more of the training text's 13-word sequences
(NIH's templates recur across conditions). A row that trains on MedQuAD learns NIH's register, which the
yardstick shares by construction: compare it with that in mind.
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
MODEL = ["model=gemma3-270m", "cpt.lr=5e-5"]  # the rows vary the default of 2026-12-04 morning; `lr2e-4` is the default since
YARDSTICK = "default"  # trains on the most conditions of any row but medquad, which holds out the same ones
ROWS: dict[str, list[str]] = {
    "base": [],
    "default": [],
    "project": ["corpus.sources=[]"],
    "r64": ["cpt.lora_r=64", "cpt.lora_alpha=64"],
    "stream": [],
    "lr2e-4": ["cpt.lr=2e-4"],
    "lr1e-3": ["cpt.lr=1e-3"],
    "steps120": ["cpt.max_steps=120", "cpt.warmup_steps=12"],
    "project-steps120": ["corpus.sources=[]", "cpt.max_steps=120", "cpt.warmup_steps=12"],
    "full": ["cpt.method=full", "cpt.lr=5e-6"],
    "replay0": ["corpus.replay_ratio=0"],
    "replay25": ["corpus.replay_ratio=0.25"],
    "medquad": ["corpus=medquad", "corpus.block_size=128"],
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


def yardstick(store, tokenizer, progress):
    """The corpus artifact the yardstick is drawn for, and the evaluate stage's independent sets for it."""
    from rungs.kernel import compose
    from rungs.pipeline import build
    from stages.evaluate import text_sets

    cfg = compose([*MODEL, *ROWS[YARDSTICK]])
    corpus = build("corpus", cfg, {}, store, progress=progress).artifact
    sets, notes = text_sets(cfg, corpus, tokenizer)
    missing = [n for n in cfg.evaluate.perplexity.sets if n not in sets]
    if missing:
        raise SystemExit(f"independent set(s) {missing} unavailable: {notes} (needs ../shared/data)")
    return corpus, {n: sets[n] for n in cfg.evaluate.perplexity.sets}


def score(model, sets: dict, tokenizer, cfg) -> dict:
    from rungs.train import perplexity, score_documents

    p = cfg.evaluate.perplexity
    out = {}
    for name, docs in sets.items():
        scores = score_documents(model, docs, bos_id=tokenizer.bos_token_id, pad_id=tokenizer.pad_token_id,
                                 window=p.window, stride=p.stride, batch_tokens=p.batch_tokens)
        out[name] = (*perplexity(scores, cfg.seed), sum(s.tokens for s in scores), len(scores),
                     [s.nll for s in scores], [s.tokens for s in scores])
    return out


def change(row: dict, base: dict, key: str, seed: int = 0) -> str:
    """The row's perplexity relative to the base's on the same documents, with a paired 95 % interval:
    documents are resampled together for both models, so their shared difficulty cancels out."""
    from rungs.kernel import interval

    (*_, nll, tokens), (*_, base_nll, _) = row["scores"][key], base["scores"][key]
    ratio, lo, hi = interval([a - b for a, b in zip(nll, base_nll)], tokens, exp=True, seed=seed)
    return f"{(ratio - 1) * 100:+.1f} % [{(lo - 1) * 100:+.0f}, {(hi - 1) * 100:+.0f}]"


def run_row(name: str, store_dir: Path, work: Path) -> dict:
    """Trains (or finds in the store) and scores one row. A row's result is kept beside the store under the
    ids of its model and yardstick, so adding rows later re-scores none of the earlier ones."""
    import json

    from rungs.kernel import compose, progress_factory
    from rungs.pipeline import build
    from rungs.store import Store
    from rungs.train import load_model, model_tokenizer

    cfg = compose([*MODEL, *ROWS[name]])
    store = Store(store_dir)
    quiet = progress_factory(False)
    base = build("base", cfg, {}, store, progress=quiet).artifact
    tokenizer = model_tokenizer(base)
    default_corpus, sets = yardstick(store, tokenizer, quiet)  # one yardstick for every row
    trained, model_art, seconds = {}, base, None
    key = [name, ROWS[name], base.id, default_corpus.id]
    if name != "base":
        corpus = build("corpus", cfg, {}, store, progress=quiet).artifact
        key.append(corpus.id)
        if name != "stream":
            result = build("cpt", cfg, {"base": base, "corpus": corpus}, store, progress=quiet)
            trained, model_art = result.artifact.metrics, result.artifact
            seconds = round(result.artifact.manifest["duration_s"])
            key.append(model_art.id)
    cached = store_dir / "cpt-ablation" / f"{name}.json"
    if cached.exists() and (row := json.loads(cached.read_text()))["key"] == key:
        return row
    if name == "stream":
        import stages.cpt

        corpus_copy = type("StreamCorpus", (), {"path": stream_blocks(corpus, tokenizer, work), "id": "stream"})()
        out, scratch = work / f"{name}-out", work / f"{name}-scratch"
        for d in (out, scratch):
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir(parents=True)
        began = time.perf_counter()
        trained = stages.cpt.run(cfg, {"base": base, "corpus": corpus_copy}, out, quiet, scratch)
        seconds = round(time.perf_counter() - began)
        model_art = type("Trained", (), {"path": out})()
    model = load_model(model_art, cfg.hardware)
    row = {"name": name, "overrides": ROWS[name], "scores": score(model, sets, tokenizer, cfg),
           "train_tokens": trained.get("train_tokens"), "seconds": seconds, "key": key}
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(row))
    return row


def fmt(entry) -> str:
    ppl, lo, hi, *_ = entry
    return f"{ppl:.2f} [{lo:.2f}, {hi:.2f}]"


def table(rows: list[dict]) -> list[str]:
    base = next((r for r in rows if r["name"] == "base"), None)
    lines = ["| row | overrides | domain (independent) | vs base | general (independent) | vs base | train tokens | cpt s |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        d, g = r["scores"]["domain_independent"], r["scores"]["general_independent"]
        rel = lambda key: change(r, base, key) if base else ""  # noqa: E731
        lines.append(f"| {r['name']} | {' '.join(r['overrides']) or '—'} | {fmt(d)} | {rel('domain_independent')} | "
                     f"{fmt(g)} | {rel('general_independent')} | {r['train_tokens'] or ''} | {r['seconds'] or ''} |")
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
            f"WikiText passages (~10k tokens). vs base: change of the perplexity on the same documents, paired 95 % "
            f"interval; lower is better. cpt s: the training stage's wall time.", "", *lines, ""])
        replace_section(RESULTS, HEADING, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
