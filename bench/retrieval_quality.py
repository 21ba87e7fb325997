"""Retrieval quality and latency per mode, from the shipped MiniLM to the full learned stack, on questions
about conditions nothing learned ever read — built through the real stages.

    .venv/bin/python bench/retrieval_quality.py                    # the run behind bench/RESULTS.md
    .venv/bin/python bench/retrieval_quality.py --conditions 150 --max-pairs 200 --max-test-questions 100 \\
        --pad-to 20000 --latency-queries 30 --no-write             # a smoke run (minutes)
    .venv/bin/python bench/retrieval_quality.py index.title_prefix=true   # any config override

What it builds (rungs.pipeline.build into --store; a rerun reuses every artifact by fingerprint):

- `corpus` with corpus=medquad (../shared/data/medquad.jsonl; `--conditions N`: a seeded sample of N
  conditions, the MedQuAD rows about them written to --work and read by the same stage);
- two `retriever` artifacts (stages/retriever.py, retriever=medquad): **fusion**, with
  retriever.embedder_epochs=0 (the shipped MiniLM; the fusion of dense and BM25, the reranker and the
  calibrations chosen on dev conditions), and **learned**, as configured (MiniLM fine-tuned with in-batch
  and same-condition hard negatives, plus the same choices). Both split MedQuAD's conditions with
  rungs.curation's `condition_split` (retriever.test_conditions / dev_conditions): train conditions train,
  dev conditions choose, test conditions are never read;
- per knowledge base, three `index` artifacts: **plain** (no retriever: what every index is today), and
  one from each retriever (its embedder, its choices in index.json under `learned`).

Knowledge bases (`--kb`): `medquad`, every document of the corpus artifact (what the assistant would
search); `medquad-test`, only the test conditions' pages (a `corpus` built from their MedQuAD rows: the
setup of the issue's first measurement, 1,678 questions over 1,678 pages); `pubmedqa`, the 500 PubMedQA
abstracts (corpus=pubmedqa) — all of its questions are unseen, and no PubMedQA text trained anything.
Questions: MedQuAD's questions whose answering page is on a test condition (stages/retriever.py's own
`load_pairs` / `split_pairs`), less any question text that also occurs in a train or dev condition; a
question's relevant documents are every page the pairs give it.

Modes (index, Retriever mode): dense, BM25 and hybrid RRF k=60 on **plain**; learned fusion and learned
fusion + reranker on **fusion**; fine-tuned dense, fine-tuned + learned fusion and the full stack
(fine-tuned + fusion + reranker) on **learned**. Per mode: recall@1/5/10, MRR and nDCG@10 over documents
(rungs.retrieval's `judge`, chunks searched 40 deep as `retrieval_metrics` does) with 95 % bootstrap
intervals over questions (rungs.kernel's `interval`), and the latency of `Retriever.search` for one
question at a time after 10 warm-up questions (query embedding, FAISS, BM25, fusion, reranking: all of it).
For the calibrated modes, how well the calibrated relevance of the top hit (what citations and the
don't-know gate read) matches how often it is right, and what the retriever's `min_relevance` does.

Latency at `--pad-to` chunks (100k): each `medquad` index's (without `--kb medquad`, `medquad-test`'s)
own vectors and chunks, padded with synthetic chunks — vector: a real chunk's vector + `--spread` x the difference of two other real vectors,
renormalised (bench/index_latency.py's construction: the real spectrum and topic clusters; embedding 70k
more real texts would take an hour of this CPU); text: that real chunk's words shuffled (BM25 sees real
term statistics) — written by the index stage's own `write` (FAISS type as `index.type` resolves it at that
size: `auto` -> IVF; BM25 over all the texts; the learned scoring and model copies as the source index
holds them), then timed per mode as above on `--latency-queries` test questions, with a breakdown of a
query's parts. Quality is not measured at 100k: the padding is not real text.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import platform
import random
import resource
import shlex
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SECTION = "## Retrieval quality: dense, BM25, fusion, fine-tuned embedder, reranker"
RESULTS = ROOT / "bench" / "RESULTS.md"
KBS = ("medquad", "medquad-test", "pubmedqa")
KB_TITLES = {
    "medquad": "MedQuAD test conditions, searched in the whole knowledge base",
    "medquad-test": "MedQuAD test conditions, searched among their own pages only (the issue's first setup)",
    "pubmedqa": "PubMedQA: every question against the 500 abstracts (no PubMedQA text trained anything)",
}
# (key, label, index, Retriever mode)
MODES = (
    ("dense", "dense, shipped MiniLM", "plain", "dense"),
    ("bm25", "BM25", "plain", "bm25"),
    ("rrf", "hybrid RRF k=60 (today's default)", "plain", "hybrid"),
    ("fusion", "learned fusion, shipped MiniLM", "fusion", "hybrid"),
    ("fusion+rerank", "learned fusion + reranker, shipped MiniLM", "fusion", "rerank"),
    ("tuned", "fine-tuned embedder, dense", "learned", "dense"),
    ("tuned+fusion", "fine-tuned + learned fusion", "learned", "hybrid"),
    ("full", "fine-tuned + fusion + reranker (full stack)", "learned", "rerank"),
)
KS = (1, 5, 10)
DEPTH = 40  # chunks searched per question, collapsed to documents (retrieval_metrics: 4 x the largest k)
WARMUP = 10
GOAL = {"recall@5": 0.95, "mrr": 0.85, "p50_ms_100k": 50.0}
# the model shapes nothing retrieval reads (model=tiny: the corpus stage trains a small tokenizer instead of
# converting Gemma's); the retriever is in pipeline.stages, so the index stage takes one where given
BASE_OVERRIDES = ["retriever=medquad", "model=tiny", "pipeline.stages=[corpus,base,retriever,index,triage,evaluate]"]


# ------------------------------------------------------------------------------------------ building


def medquad_rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
    if not path.exists() or path.read_text(encoding="utf-8") != text:  # unchanged: same file, same fingerprint
        path.write_text(text, encoding="utf-8")
    return path


def sample_conditions(source: Path, n: int, seed: int, work: Path) -> Path:
    """The MedQuAD rows of a seeded sample of n conditions (focus), as a JSONL file the corpus stage reads."""
    rows = medquad_rows(source)
    focus = sorted({r["focus"] for r in rows})
    keep = set(random.Random(seed).sample(focus, min(n, len(focus))))
    return write_jsonl(work / f"medquad-{n}-conditions-seed{seed}.jsonl", [r for r in rows if r["focus"] in keep])


def compose_cfg(args, *extra: str, corpus: str = "medquad"):
    from rungs.kernel import compose

    knobs = [f"retriever.max_pairs={args.max_pairs}", f"retriever.max_dev_questions={args.max_dev_questions}"]
    return compose([f"corpus={corpus}", *BASE_OVERRIDES, *knobs, *extra, *args.overrides])


def built(result) -> dict:
    """How a build went: reused or built now, and its wall seconds (the manifest's, for a reused one)."""
    a = result.artifact
    seconds = result.seconds if not result.cached else float(a.manifest.get("duration_s") or 0.0)
    return {"ref": a.ref, "id": a.id, "cached": result.cached, "seconds": seconds, "metrics": a.metrics, "path": a.path,
            "artifact": a}


def build_stack(args, store, progress) -> dict:
    """The MedQuAD corpus and the two retrievers."""
    from rungs.pipeline import build

    extra = []
    source = ROOT.parent / "shared" / "data" / "medquad.jsonl"
    if args.conditions:
        extra.append(f"corpus.paths=[{sample_conditions(source, args.conditions, args.seed, args.work)}]")
    cfg = compose_cfg(args, *extra)
    print("corpus (MedQuAD) ...", flush=True)
    corpus = build("corpus", cfg, {}, store, progress=progress)
    out = {"cfg": cfg, "extra": extra, "corpus": corpus.artifact, "retrievers": {}}
    fusion_extra = ["retriever.embedder_epochs=0"] + (["retriever.reranker_epochs=0"] if args.no_rerank_alone else [])
    for key, more in (("fusion", fusion_extra), ("learned", [])):
        rcfg = compose_cfg(args, *extra, *more)
        print(f"retriever ({key}) ...", flush=True)
        result = build("retriever", rcfg, {"corpus": corpus.artifact}, store, progress=progress)
        out["retrievers"][key] = {**built(result), "spec": json.loads((result.artifact.path / "retriever.json").read_text()),
                                  "cfg": rcfg}
    return out


def build_indexes(cfg, corpus, retrievers: dict, store, progress, kb: str) -> dict:
    """plain / fusion / learned index artifacts over one corpus artifact."""
    from rungs.pipeline import build

    out = {}
    for key, inputs in (("plain", {"corpus": corpus}),
                        *((k, {"corpus": corpus, "retriever": r["artifact"]}) for k, r in retrievers.items())):
        print(f"index ({kb}, {key}) ...", flush=True)
        out[key] = built(build("index", cfg, inputs, store, progress=progress))
    return out


# ------------------------------------------------------------------------------------------ questions


def medquad_test_questions(cfg, corpus) -> tuple[dict[str, set[str]], dict]:
    """{question: relevant doc ids} on the test conditions, as the retriever stage splits them."""
    from stages import index as index_stage
    from stages import retriever as retriever_stage

    docs = index_stage.read_documents(Path(corpus.path))
    title_of = {str(d): t or "" for d, t in zip(docs["id"], docs["title"])}
    splits = retriever_stage.split_pairs(cfg.retriever, retriever_stage.load_pairs(cfg.retriever, set(title_of)), title_of)
    seen = set(splits["train"]) | set(splits["dev"])
    test = {q: rel for q, rel in splits["test"].items() if q not in seen}
    conditions = {s: len({title_of[d] for rel in splits[s].values() for d in rel}) for s in splits}
    info = {"questions": {s: len(q) for s, q in splits.items()}, "conditions": conditions,
            "test_also_elsewhere": len(splits["test"]) - len(test),
            "test_documents": sorted({d for rel in test.values() for d in rel}),
            "documents": len(title_of)}
    return test, info


def test_condition_corpus(args, cfg, corpus, store, progress):
    """A corpus of the test conditions' pages only, built by the corpus stage from their MedQuAD rows."""
    from rungs.curation import condition_split
    from rungs.kernel import resolve_path
    from rungs.pipeline import build
    from stages import index as index_stage

    r = cfg.retriever
    docs = index_stage.read_documents(Path(corpus.path))
    keep = {str(d) for d, t in zip(docs["id"], docs["title"]) if condition_split(t, r.test_conditions, r.dev_conditions) == "test"}
    rows = [row for row in medquad_rows(resolve_path(cfg.corpus.paths[0])) if str(row["id"]) in keep]
    path = write_jsonl(args.work / f"medquad-test-conditions-{corpus.id[:12]}.jsonl", rows)
    # heldout_conditions=0: the corpus stage would otherwise keep every one of these pages out of its training
    # split and refuse a corpus with nothing to train on; the index reads every document whatever its split
    tcfg = compose_cfg(args, f"corpus.paths=[{path}]", "corpus.heldout_conditions=0")
    print("corpus (MedQuAD test conditions' pages) ...", flush=True)
    return tcfg, build("corpus", tcfg, {}, store, progress=progress).artifact


def pubmedqa_questions(cfg) -> dict[str, set[str]]:
    from rungs.kernel import resolve_path

    out: dict[str, set[str]] = {}
    with open(resolve_path(cfg.corpus.paths[0]), encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                out.setdefault(row["question"].strip(), set()).add(str(row[cfg.corpus.id_field]))
    return out


def cap(questions: dict[str, set[str]], n: int, seed: int) -> dict[str, set[str]]:
    if not n or len(questions) <= n:
        return dict(sorted(questions.items()))
    return dict(sorted(random.Random(seed).sample(sorted(questions.items()), n)))


# ------------------------------------------------------------------------------------------ measuring


def measure(retriever, mode: str, questions: dict[str, set[str]], progress, desc: str) -> dict:
    """One question at a time: ranking measures with intervals, latency, and the top hit's relevance."""
    from rungs.retrieval import judge, ranked_docs, summarize

    qs = list(questions)
    for q in qs[:WARMUP]:  # load models, fill caches
        retriever.search([q], DEPTH, mode=mode)
    rows, lat, top = [], [], []
    for q in progress(qs, desc=desc, unit="question"):
        t0 = time.perf_counter()
        hits = retriever.search([q], DEPTH, mode=mode)[0]
        lat.append(time.perf_counter() - t0)
        scores = judge(ranked_docs(hits), questions[q], KS)
        rows.append(scores)
        if hits and hits[0].relevance is not None:
            top.append((hits[0].relevance, int(hits[0].doc_id in questions[q])))
    out = summarize(rows, intervals=True)
    out.update(p50_ms=float(np.percentile(lat, 50) * 1e3), p95_ms=float(np.percentile(lat, 95) * 1e3))
    if top:  # the gate's min_relevance was chosen on the relevance of the mode the assistant uses (auto)
        gate = retriever.min_relevance if mode == retriever.resolve_mode("auto") else None
        out["calibration"] = calibration_stats(top, gate)
    return out


def calibration_stats(top: list[tuple[float, int]], min_relevance: float | None) -> dict:
    """Mean calibrated relevance of the top hit against how often it is right; ECE over 10 bins; the gate."""
    p = np.array([t[0] for t in top])
    y = np.array([t[1] for t in top], dtype=float)
    bins = np.minimum((p * 10).astype(int), 9)
    ece = sum(abs(p[bins == b].mean() - y[bins == b].mean()) * (bins == b).mean() for b in range(10) if (bins == b).any())
    out = {"mean_relevance": float(p.mean()), "top_right": float(y.mean()), "ece": float(ece), "n": len(top)}
    if min_relevance is not None:
        answered = p >= min_relevance
        out.update(min_relevance=float(min_relevance), answered=float(answered.mean()),
                   right_answered=float(y[answered].mean()) if answered.any() else float("nan"),
                   right_refused=float(y[~answered].mean()) if (~answered).any() else float("nan"))
    return out


def measure_kb(kb: str, indexes: dict, questions: dict[str, set[str]], progress) -> dict:
    from rungs.retrieval import Retriever

    results = {}
    for key, label, index_key, mode in MODES:
        index = indexes.get(index_key)
        if index is None:
            continue
        retriever = Retriever(index["path"], mode="dense")
        if mode not in retriever.modes:
            continue
        doc_ids = {retriever.doc_of(i) for i in range(len(retriever))}
        qs = {q: rel & doc_ids for q, rel in questions.items() if rel & doc_ids}
        results[key] = measure(retriever, mode, qs, progress, f"{kb}: {key}")
        r = results[key]
        print(f"  {kb:12s} {key:14s} R@1 {r['recall@1']:.3f} R@5 {r['recall@5']:.3f} R@10 {r['recall@10']:.3f} "
              f"MRR {r['mrr']:.3f} nDCG@10 {r['ndcg@10']:.3f} n={r['questions']} p50 {r['p50_ms']:.1f} ms "
              f"p95 {r['p95_ms']:.1f} ms", flush=True)
        del retriever
        gc.collect()
    return results


# ------------------------------------------------------------------------------------------ latency at 100k


def index_vectors(index) -> np.ndarray:
    import faiss

    try:
        return index.reconstruct_n(0, index.ntotal)
    except RuntimeError:  # an IVF index keeps no direct map unless asked
        faiss.extract_index_ivf(index).make_direct_map()
        return index.reconstruct_n(0, index.ntotal)


def padded_index(src: Path, out: Path, idx_cfg, n: int, spread: float, seed: int) -> Path:
    """`src` (an index artifact directory) padded to n chunks, written by the index stage's own `write`."""
    import faiss
    import pyarrow.parquet as pq

    from stages import index as index_stage

    import hashlib

    marker = {"source": str(src), "source_sha256": hashlib.sha256((src / "index.faiss").read_bytes()).hexdigest(),
              "chunks": n, "spread": spread, "seed": seed, "index": dataclasses.asdict(idx_cfg)}
    if (out / "padded.json").is_file() and json.loads((out / "padded.json").read_text()) == marker:
        return out
    if out.exists():
        shutil.rmtree(out)
    meta = json.loads((src / "index.json").read_text())
    info = json.loads((src / "embedder.json").read_text())
    x = index_vectors(faiss.read_index(str(src / "index.faiss")))
    table = pq.read_table(src / "chunks.parquet")
    rows = {c: [v or "" for v in table.column(c).to_pylist()] for c in ("doc_id", "source", "title", "url", "text")}
    real = len(x)
    extra = max(0, n - real)
    rng = np.random.default_rng(seed)
    pick = np.concatenate([rng.permutation(real) for _ in range(extra // real + 1)])[:extra]
    j, k = rng.integers(0, real, extra), rng.integers(0, real, extra)
    pad = x[pick] + spread * (x[j] - x[k])
    pad /= np.maximum(np.linalg.norm(pad, axis=1, keepdims=True), 1e-12)
    shuffle = random.Random(seed)
    for m, i in enumerate(pick):
        words = rows["text"][i].split()
        shuffle.shuffle(words)
        rows["doc_id"].append(f"pad-{m}")
        rows["source"].append("padding")
        rows["title"].append(rows["title"][i])
        rows["url"].append("")
        rows["text"].append(" ".join(words))
    vectors = np.concatenate([x, pad.astype(np.float32)])
    out.mkdir(parents=True)
    learned = meta.get("learned")
    for name in ("embedder", "reranker"):  # the learned models, as the index stage links them in
        if (src / name).is_dir():
            index_stage.link_tree(src / name, out / name)
    idx = dataclasses.replace(idx_cfg, title_prefix=bool(meta.get("title_prefix", False)))
    index_stage.write(idx, rows, vectors, info, out, seed=seed, learned=learned, tuned_dir=info.get("dir"))
    (out / "padded.json").write_text(json.dumps(marker))
    return out


def latency_at(args, cfg, indexes: dict, questions: list[str], progress) -> dict:
    """p50/p95 per mode on indexes padded to args.pad_to chunks, and a breakdown of one query's parts."""
    from rungs.retrieval import Retriever, embed, rerank_logits

    out: dict = {"modes": {}, "breakdown": {}}
    keys = [k for k in ("plain", "fusion", "learned") if k in indexes]
    for index_key in keys:
        print(f"padding the {index_key} index to {args.pad_to:,} chunks ...", flush=True)
        t0 = time.perf_counter()
        path = padded_index(Path(indexes[index_key]["path"]), args.work / f"padded-{index_key}-{args.pad_to}",
                            cfg.index, args.pad_to, args.spread, args.seed)
        retriever = Retriever(path, mode="dense")
        out.setdefault("faiss", retriever.spec["faiss"])
        out.setdefault("build_s", {})[index_key] = time.perf_counter() - t0
        for key, _, ik, mode in MODES:
            if ik != index_key or mode not in retriever.modes:
                continue
            for q in questions[:WARMUP]:
                retriever.search([q], 10, mode=mode)
            lat = []
            for q in progress(questions, desc=f"{args.pad_to:,} chunks: {key}", unit="question"):
                t0 = time.perf_counter()
                retriever.search([q], 10, mode=mode)
                lat.append(time.perf_counter() - t0)
            out["modes"][key] = {"p50_ms": float(np.percentile(lat, 50) * 1e3), "p95_ms": float(np.percentile(lat, 95) * 1e3),
                                 "queries": len(lat)}
            print(f"  {key:14s} p50 {out['modes'][key]['p50_ms']:.1f} ms  p95 {out['modes'][key]['p95_ms']:.1f} ms", flush=True)
        if index_key == keys[-1]:  # a query's parts, on the fullest index
            parts: dict[str, list[float]] = {"embed": [], "faiss": [], "bm25": [], "rerank": []}
            depth = retriever.depth
            for q in questions:
                t0 = time.perf_counter()
                v = embed(retriever.model, [q], 1)
                t1 = time.perf_counter()
                retriever.index.search(v, depth)
                t2 = time.perf_counter()
                retriever.bm25_index.search([q], depth)
                t3 = time.perf_counter()
                parts["embed"].append(t1 - t0)
                parts["faiss"].append(t2 - t1)
                parts["bm25"].append(t3 - t2)
                if retriever.rerank is not None:
                    head = [h.chunk_id for h in retriever.search([q], retriever.rerank.depth, mode="hybrid")[0]]
                    t4 = time.perf_counter()
                    rerank_logits(retriever.reranker, q, [retriever.passage(i) for i in head])
                    parts["rerank"].append(time.perf_counter() - t4)
            out["breakdown"] = {"index": index_key, "depth": depth,
                                "rerank_depth": retriever.rerank.depth if retriever.rerank is not None else 0,
                                **{k: {"p50_ms": float(np.percentile(v, 50) * 1e3), "p95_ms": float(np.percentile(v, 95) * 1e3)}
                                   for k, v in parts.items() if v}}
        del retriever
        gc.collect()
    return out


# ------------------------------------------------------------------------------------------ report


def _ci(r: dict, name: str) -> str:
    return f"{r[name]:.3f} [{r[name + '_lo']:.3f}, {r[name + '_hi']:.3f}]"


def _num(x) -> str:
    return "—" if x is None or x != x else f"{x:.3f}"


def _params(p: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in p.items() if k != "train_size") or "—"


def markdown(args, meta: dict, stack: dict, kbs: dict, lat: dict | None) -> str:
    cfg = stack["cfg"]
    r = cfg.retriever
    split = stack["split"]
    lines = [
        SECTION, "",
        f"Command: `{meta['command']}`", "",
        f"Date: {meta['date']}. Machine: {meta['machine']}. {meta['libraries']}. Query latency: one question per "
        f"`Retriever.search` call, {meta['threads']}, after {WARMUP} warm-up questions. Whole run: "
        f"{meta['wall_s'] / 60:.1f} min wall, {meta['cpu_s'] / 60:.1f} min CPU.", "",
        f"Split (rungs.curation `condition_split`, as the retriever stage makes it): of {split['conditions']['train'] + split['conditions']['dev'] + split['conditions']['test']:,} "
        f"MedQuAD conditions with a question, {split['conditions']['test']:,} test (retriever.test_conditions={r.test_conditions}: "
        f"the ones corpus=medquad keeps out of training), {split['conditions']['dev']:,} dev "
        f"(dev_conditions={r.dev_conditions}: fusion, rerank weight, calibrations and min_relevance chosen there), "
        f"{split['conditions']['train']:,} train. Questions: {split['questions']['train']:,} train "
        f"({stack['retrievers']['learned']['metrics'].get('pairs_train', 0):,} used: retriever.max_pairs={r.max_pairs}), "
        f"{split['questions']['dev']:,} dev ({stack['retrievers']['learned']['metrics'].get('questions_dev', 0):,} used), "
        f"{split['questions']['test']:,} test, of which {split['test_also_elsewhere']} whose text also occurs in a train "
        f"or dev condition are left out. Corpus {stack['corpus'].ref} `{stack['corpus'].id[:12]}`: "
        f"{split['documents']:,} documents" + (f" ({args.conditions} sampled conditions)" if args.conditions else "") +
        f". index.title_prefix={cfg.index.title_prefix}, chunks of {cfg.index.chunk_words} words.", "",
        "### What the retriever stage chose (on dev conditions)", "",
        "| retriever | trained | embedder s | reranker s | build s | fusion | rerank | min_relevance | dev MRR: dense / fused / reranked |",
        "|---|---|---:|---:|---:|---|---|---:|---|",
    ]
    for key, rt in stack["retrievers"].items():
        m, spec = rt["metrics"], rt["spec"]
        trained = " + ".join(x for x, on in (("embedder", spec.get("embedder")), ("reranker", spec.get("reranker"))) if on) or "nothing"
        rerank = spec.get("rerank") or {}
        lines.append(
            f"| {key} {rt['ref']} `{rt['id'][:12]}` | {trained} | {m.get('embedder_train_seconds', 0):.0f} | "
            f"{m.get('reranker_train_seconds', 0):.0f} | {rt['seconds']:.0f}{' (reused)' if rt['cached'] else ''} | "
            f"{m.get('fusion', '')} | " + (f"depth {rerank['depth']}, weight {rerank['weight']}" if rerank else "—") +
            f" | {m.get('min_relevance', float('nan')):.3f} | {m.get('dev_dense_mrr', float('nan')):.3f} / "
            f"{m.get('dev_hybrid_mrr', float('nan')):.3f} / " + (f"{m['dev_rerank_mrr']:.3f}" if "dev_rerank_mrr" in m else "—") + " |")
    lines += ["", "The index built from a retriever records the same choices in its manifest (metrics `fusion`, "
              "`rerank_depth`, `rerank_weight`, `learned_from`) and whole in index.json under `learned`; the build s "
              "column is the retriever stage's wall time (training, the dev index and the choices)."]
    labels = {k: label for k, label, _, _ in MODES}
    for kb, res in kbs.items():
        info = res["info"]
        lines += ["", f"### {KB_TITLES[kb]}", "",
                  f"{info['questions']:,} questions, {info['documents']:,} documents, {info['chunks']:,} chunks "
                  f"(FAISS {info['faiss']}); indexes " + ", ".join(f"{k} {v}" for k, v in info["refs"].items()) + ".", "",
                  "| mode | recall@1 | recall@5 | recall@10 | MRR | nDCG@10 | n | p50 ms | p95 ms |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for key, m in res["modes"].items():
            lines.append(f"| {labels[key]} | {_ci(m, 'recall@1')} | {_ci(m, 'recall@5')} | {_ci(m, 'recall@10')} | "
                         f"{_ci(m, 'mrr')} | {_ci(m, 'ndcg@10')} | {m['questions']:,} | {m['p50_ms']:.1f} | {m['p95_ms']:.1f} |")
    calibrated = [(kb, key, m["calibration"]) for kb, res in kbs.items() for key, m in res["modes"].items() if "calibration" in m]
    if calibrated:
        lines += ["", "### Calibrated relevance (what citations and the don't-know gate read)", "",
                  "The relevance of a hit is its mode's calibration (fitted on dev conditions) of its score. Top hit: the "
                  "mean relevance of each question's first hit against the share of first hits that are a relevant "
                  "document; ECE over 10 bins of relevance. Gate: the retriever's min_relevance (chosen to answer "
                  "index.gate_answered of dev questions; the assistant's threshold when the index fitted no gate of its own): "
                  "share of these in-scope questions answered, and how often the first hit is right when answered / refused "
                  "(for the mode the assistant uses, `auto`, whose relevance it was chosen on).", "",
                  "| questions | mode | mean relevance of top hit | top hit right | ECE | min_relevance | answered | right if answered | right if refused |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
        for kb, key, c in calibrated:
            gate = " | ".join(_num(c.get(k)) for k in ("min_relevance", "answered", "right_answered", "right_refused"))
            lines.append(f"| {kb} | {labels[key]} | {c['mean_relevance']:.3f} | {c['top_right']:.3f} | {c['ece']:.3f} | {gate} |")
    if lat:
        f = lat["faiss"]
        lines += ["", f"### Latency at {args.pad_to:,} chunks", "",
                  f"The `{lat.get('kb', 'medquad')}` indexes padded to {args.pad_to:,} chunks (synthetic vectors around the real ones, spread "
                  f"{args.spread}; shuffled real texts for BM25; see the script's docstring), written by the index stage's "
                  f"`write`: FAISS {f['type']} ({_params(f['params'])}, chosen by {f['chosen_by']}), BM25 over all "
                  f"{args.pad_to:,} texts. {lat['queries']} test questions, one per call, {WARMUP} warm-up first; top 10.", "",
                  "| mode | p50 ms | p95 ms |", "|---|---:|---:|"]
        lines += [f"| {labels[k]} | {v['p50_ms']:.1f} | {v['p95_ms']:.1f} |" for k, v in lat["modes"].items()]
        b = lat.get("breakdown") or {}
        if b:
            parts = [f"query embedding {b['embed']['p50_ms']:.1f} ms", f"FAISS top-{b['depth']} {b['faiss']['p50_ms']:.2f} ms",
                     f"BM25 top-{b['depth']} {b['bm25']['p50_ms']:.1f} ms"]
            if "rerank" in b:
                parts.append(f"reranker over the top {b['rerank_depth']} {b['rerank']['p50_ms']:.1f} ms")
            lines += ["", f"Parts of a query on the {b['index']} index (p50): " + ", ".join(parts) +
                      "; fusion and the rest are the difference."]
    goal = goal_line(kbs, lat, args)
    return "\n".join(lines + (["", goal] if goal else [])) + "\n"


def goal_line(kbs: dict, lat: dict | None, args) -> str:
    """Issue goal 4: recall@5 >= 0.95 and MRR >= 0.85 on the test conditions, p50 <= 50 ms at 100k with reranking."""
    if not any(kb in kbs for kb in ("medquad", "medquad-test")) and not lat:
        return ""
    out = [f"Goal (recall@5 >= {GOAL['recall@5']}, MRR >= {GOAL['mrr']} on the test conditions; p50 <= "
           f"{GOAL['p50_ms_100k']:.0f} ms at 100k chunks including reranking):"]
    for kb in ("medquad", "medquad-test"):
        res = kbs.get(kb, {}).get("modes", {})
        met = [k for k, m in res.items() if m["recall@5"] >= GOAL["recall@5"] and m["mrr"] >= GOAL["mrr"]]
        best = max(res, key=lambda k: res[k]["mrr"]) if res else None
        if best:
            out.append(f"{kb}: quality " + (f"**met** by {', '.join(met)}" if met else "**not met**") +
                       f" (best MRR: {best}, {res[best]['mrr']:.3f}, recall@5 {res[best]['recall@5']:.3f});")
    if lat and lat["modes"]:
        fast = [k for k, v in lat["modes"].items() if v["p50_ms"] <= GOAL["p50_ms_100k"]]
        full = lat["modes"].get("full")
        out.append(f"latency at {args.pad_to:,}: " + (f"full stack p50 {full['p50_ms']:.1f} ms, " if full else "") +
                   f"within {GOAL['p50_ms_100k']:.0f} ms: {', '.join(fast) or 'none'}.")
    return " ".join(out)


# ------------------------------------------------------------------------------------------ main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", type=Path, default=Path(tempfile.gettempdir()) / "rungs-bench-store",
                    help="artifact store: every stage is reused from it by fingerprint")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "rungs-retrieval-quality",
                    help="sampled inputs and the padded indexes (reused when unchanged)")
    ap.add_argument("--kb", nargs="+", choices=KBS, default=list(KBS), help="knowledge bases to measure on")
    ap.add_argument("--conditions", type=int, default=0, help="a seeded sample of this many MedQuAD conditions (0: all)")
    ap.add_argument("--max-pairs", type=int, default=0, help="retriever.max_pairs: train questions used (0: all)")
    ap.add_argument("--max-dev-questions", type=int, default=0, help="retriever.max_dev_questions (0: all)")
    ap.add_argument("--max-test-questions", type=int, default=0, help="a seeded sample of test questions per knowledge base (0: all)")
    ap.add_argument("--no-rerank-alone", action="store_true",
                    help="train no reranker for the shipped-MiniLM retriever (saves its training; drops that mode)")
    ap.add_argument("--pad-to", type=int, default=100_000, help="chunks of the latency part (0: skip it)")
    ap.add_argument("--latency-queries", type=int, default=200, help="test questions timed at --pad-to chunks")
    ap.add_argument("--spread", type=float, default=0.35, help="how far padding vectors stray from their real chunk")
    ap.add_argument("--seed", type=int, default=0, help="samples of conditions, questions and padding")
    ap.add_argument("--results", type=Path, default=RESULTS, help="file whose section is replaced")
    ap.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    ap.add_argument("--json", type=Path, help="also write every number as JSON here")
    ap.add_argument("overrides", nargs="*", help="config overrides for every stage, e.g. index.title_prefix=true")
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)

    import faiss
    import torch

    from rungs.kernel import progress_factory, replace_section
    from rungs.pipeline import build
    from rungs.retrieval import Retriever
    from rungs.store import Store

    began = time.perf_counter()
    store, progress = Store(args.store), progress_factory()
    stack = build_stack(args, store, progress)
    cfg = stack["cfg"]
    retrievers = stack["retrievers"]
    test, split = medquad_test_questions(cfg, stack["corpus"])
    stack["split"] = split
    kbs: dict = {}
    indexes_by_kb: dict = {}
    for kb in args.kb:
        if kb == "medquad":
            kcfg, corpus, questions = cfg, stack["corpus"], test
        elif kb == "medquad-test":
            kcfg, corpus = test_condition_corpus(args, cfg, stack["corpus"], store, progress)
            questions = test
        else:
            kcfg = compose_cfg(args, corpus="pubmedqa")
            print("corpus (PubMedQA) ...", flush=True)
            corpus = build("corpus", kcfg, {}, store, progress=progress).artifact
            questions = pubmedqa_questions(kcfg)
        questions = cap(questions, args.max_test_questions, args.seed)
        indexes = build_indexes(kcfg, corpus, retrievers, store, progress, kb)
        indexes_by_kb[kb] = indexes
        modes = measure_kb(kb, indexes, questions, progress)
        plain = Retriever(indexes["plain"]["path"], mode="dense")
        kbs[kb] = {"modes": modes, "info": {
            "questions": max((m["questions"] for m in modes.values()), default=0),
            "documents": len({plain.doc_of(i) for i in range(len(plain))}), "chunks": len(plain),
            "faiss": f"{plain.spec['faiss']['type']}", "refs": {k: v["ref"] for k, v in indexes.items()}}}
        del plain
    lat = None
    # the whole knowledge base's vectors seed the padding where it was measured, else the test conditions' pages
    source_kb = next((kb for kb in ("medquad", "medquad-test") if kb in indexes_by_kb), None)
    if args.pad_to and source_kb:
        qs = list(cap(test, args.latency_queries, args.seed + 1))
        lat = latency_at(args, cfg, indexes_by_kb[source_kb], qs, progress)
        lat["queries"], lat["kb"] = len(qs), source_kb

    usage = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    import bm25s
    import sentence_transformers

    meta = {
        "command": "python bench/retrieval_quality.py " + shlex.join(sys.argv[1:] if argv is None else argv),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, load average "
                   f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} at the end",
        "libraries": f"torch {torch.__version__}, sentence-transformers {sentence_transformers.__version__}, "
                     f"faiss {faiss.__version__}, bm25s {bm25s.__version__}",
        "threads": f"{torch.get_num_threads()} torch threads, {faiss.omp_get_max_threads()} FAISS threads",
        "wall_s": time.perf_counter() - began,
        "cpu_s": sum(u.ru_utime + u.ru_stime for u in usage),
    }
    split_public = {k: v for k, v in split.items() if k != "test_documents"}
    text = markdown(args, meta, {**stack, "split": split_public}, kbs, lat)
    print(text)
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "split": split_public, "kbs": kbs, "latency": lat,
                                         "retrievers": {k: {x: v[x] for x in ("ref", "id", "cached", "seconds", "metrics", "spec")}
                                                        for k, v in stack["retrievers"].items()}}, indent=2, default=str))
    if not args.no_write:
        replace_section(args.results, SECTION, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
