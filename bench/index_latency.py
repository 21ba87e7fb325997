"""FAISS index types at 10k, 100k and 1M vectors: build time, size, single-query p50/p95 latency, recall@10
against exact search — with the parameters rungs' index stage would use (rungs/retrieval/_faiss.py).

Vectors (dimension 384, MiniLM's): `--centers` real all-MiniLM-L6-v2 embeddings of PubMedQA and MedQuAD
chunks, and around them synthetic ones — each a real chunk embedding plus `--spread` times the difference
of two other real embeddings, renormalised. They keep the real embeddings' spectrum and topic clusters
(uniform random vectors have neither and make every approximate index look broken) without embedding a
million texts on a CPU. Queries are real MiniLM embeddings of PubMedQA and MedQuAD questions, never in the
index. Ground truth is exact inner-product search (IndexFlatIP) over the same vectors.

Latency is one query at a time (how chat and serve search), one FAISS thread, after a warm-up; builds use
every thread. A search-parameter sweep at 100k (efSearch, nprobe) shows the recall/latency trade-off.

    .venv/bin/python bench/index_latency.py                      # the run behind bench/RESULTS.md
    .venv/bin/python bench/index_latency.py --sizes 10000 --queries 200 --no-write   # a quick look
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rungs.retrieval import faiss_index
from rungs.kernel import compose, replace_section

SECTION = "## Index latency: FAISS flat, HNSW, IVF, IVF-PQ at 10k / 100k / 1M vectors"
DATA = ROOT.parent / "shared" / "data"
TYPES = ("flat", "hnsw", "ivf", "ivfpq")


def real_embeddings(n_centers: int, n_queries: int, cache: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """MiniLM embeddings of real chunks (centers) and real questions (queries), cached between runs."""
    if cache is not None and cache.is_file():
        data = np.load(cache)
        if len(data["centers"]) >= n_centers and len(data["queries"]) >= n_queries:
            return data["centers"][:n_centers], data["queries"][:n_queries]
    from rungs.retrieval import chunk_text, embed, load_embedder

    chunks, questions = [], []
    with open(DATA / "pubmedqa.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            chunks += chunk_text("\n".join(row["contexts"]), 120, 30)
            questions.append(row["question"])
    with open(DATA / "medquad.jsonl", encoding="utf-8") as fh:
        for line in fh:
            if len(chunks) >= n_centers and len(questions) >= n_queries:
                break
            row = json.loads(line)
            if len(chunks) < n_centers:
                chunks += chunk_text(row["answer"], 120, 30)[:2]
            questions.append(row["question"])
    model = load_embedder("minilm")
    t0 = time.perf_counter()
    centers = embed(model, chunks[:n_centers], 64)
    queries = embed(model, questions[:n_queries], 64)
    print(f"embedded {len(centers)} chunks and {len(queries)} questions in {time.perf_counter() - t0:.0f} s", flush=True)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, centers=centers, queries=queries)
    return centers, queries


def synthetic(centers: np.ndarray, n: int, spread: float, seed: int) -> np.ndarray:
    """n unit vectors: center[i] + spread * (center[j] - center[l]), renormalised; built in blocks."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, centers.shape[1]), dtype=np.float32)
    c = len(centers)
    for start in range(0, n, 65536):
        m = min(65536, n - start)
        i, j, k = rng.integers(0, c, m), rng.integers(0, c, m), rng.integers(0, c, m)
        block = centers[i] + spread * (centers[j] - centers[k])
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start : start + m] = block
    return out


def recall_at(found: np.ndarray, truth: np.ndarray, k: int = 10) -> float:
    return float(np.mean([len(set(f[:k]) & set(t[:k])) / k for f, t in zip(found, truth)]))


def time_queries(index, queries: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Per-query latency (s) one at a time, and the ids found."""
    for q in queries[: min(20, len(queries))]:  # warm caches and lazily built structures
        index.search(q[None], k)
    lat = np.empty(len(queries))
    ids = np.empty((len(queries), k), dtype=np.int64)
    for n, q in enumerate(queries):
        t0 = time.perf_counter()
        _, found = index.search(q[None], k)
        lat[n] = time.perf_counter() - t0
        ids[n] = found[0]
    return lat, ids


def bench_size(n: int, types, centers, queries, args, threads: int) -> tuple[list[dict], list[dict]]:
    import faiss

    rows, sweep = [], []
    x = synthetic(centers, n, args.spread, seed=n)
    faiss.omp_set_num_threads(threads)
    exact = faiss.IndexFlatIP(x.shape[1])
    exact.add(x)
    t0 = time.perf_counter()
    _, truth = exact.search(queries, 10)
    print(f"n={n:,}: exact ground truth for {len(queries)} queries in {time.perf_counter() - t0:.1f} s", flush=True)
    cfg = compose(["model=tiny"] + list(args.overrides)).index
    for kind in types:
        cfg.type = kind
        spec = faiss_index.plan(cfg, n, x.shape[1])
        faiss.omp_set_num_threads(threads)
        t0 = time.perf_counter()
        index = exact if kind == "flat" else faiss_index.build(x, spec, seed=0)
        build_s = time.perf_counter() - t0 if kind != "flat" else _flat_build_seconds(x)
        faiss.omp_set_num_threads(1)
        nq = len(queries) if kind != "flat" or n <= 100_000 else min(len(queries), args.flat_queries_1m)
        lat, found = time_queries(index, queries[:nq])
        row = {
            "vectors": n, "type": kind, "params": spec["params"], "build_s": build_s,
            "bytes": faiss_index.memory_bytes(index), "p50_ms": float(np.percentile(lat, 50) * 1e3),
            "p95_ms": float(np.percentile(lat, 95) * 1e3), "recall@10": recall_at(found, truth[:nq]), "queries": nq,
        }
        rows.append(row)
        print(f"  {kind:6s} build {build_s:7.1f} s  p50 {row['p50_ms']:8.3f} ms  p95 {row['p95_ms']:8.3f} ms  "
              f"recall@10 {row['recall@10']:.4f}  {row['bytes'] / 2**20:8.1f} MiB  {spec['params']}", flush=True)
        if n in args.sweep_at and kind in ("hnsw", "ivf", "ivfpq"):
            sweep += _sweep(index, kind, spec, queries, truth)
        if index is not exact:
            del index
        gc.collect()
    del exact, x
    gc.collect()
    return rows, sweep


def _flat_build_seconds(x: np.ndarray) -> float:
    import faiss

    t0 = time.perf_counter()
    faiss.IndexFlatIP(x.shape[1]).add(x)
    return time.perf_counter() - t0


def _sweep(index, kind, spec, queries, truth) -> list[dict]:
    import faiss

    out = []
    knobs = [("ef_search", (16, 32, 64, 96, 128, 256))] if kind == "hnsw" else [("nprobe", (4, 8, 16, 32, 64, 128))]
    if spec["params"].get("refine_k_factor"):
        knobs.append(("refine_k_factor", (4, 8, 16, 32, 64)))
    for key, v in ((key, v) for key, values in knobs for v in values):
        p = dict(spec["params"])
        if key == "nprobe" and v > p["nlist"]:
            continue
        p[key] = v
        faiss_index.apply_search_params(index, {"type": kind, "params": p})
        lat, found = time_queries(index, queries)
        out.append({"vectors": index.ntotal, "type": kind, "param": key, "value": v, "p50_ms": float(np.percentile(lat, 50) * 1e3),
                    "p95_ms": float(np.percentile(lat, 95) * 1e3), "recall@10": recall_at(found, truth)})
    faiss_index.apply_search_params(index, spec)
    faiss.omp_set_num_threads(1)
    return out


def _fmt_bytes(b: int) -> str:
    return f"{b / 2**20:,.1f} MiB" if b < 2**30 else f"{b / 2**30:,.2f} GiB"


def _params(p: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in p.items() if k != "train_size") or "—"


def markdown(rows, sweep, args, meta) -> str:
    goal = [r for r in rows if r["vectors"] == 100_000 and r["p50_ms"] <= 1.0 and r["recall@10"] >= 0.98]
    lines = [
        SECTION, "",
        f"Command: `{meta['command']}`", "",
        (f"Date: {meta['date']}. Machine: {meta['machine']}. faiss {meta['faiss']}, numpy {np.__version__}. "
        f"Wall time of the whole run: {meta['wall_s'] / 60:.1f} min."), "",
        f"Vectors: {meta['centers']} real all-MiniLM-L6-v2 embeddings (dim 384) of PubMedQA and MedQuAD chunks, "
        f"and synthetic ones around them (a real embedding + {args.spread} x the difference of two others, "
        "renormalised). Queries: "
        f"{meta['queries']} real question embeddings (PubMedQA, MedQuAD), not in the index. recall@10 = share of "
        "the exact top-10 (IndexFlatIP) that the index returns. Latency: one query per call, 1 FAISS thread, after "
        f"20 warm-up queries; builds (k-means training + adding) use {meta['threads']} threads. Parameters are the "
        "index stage's defaults (`conf/index/*.yaml`, resolved by `rungs/retrieval/_faiss.py`)." + (
            f" Exact search at 1M is timed on the first {args.flat_queries_1m} queries." if 1_000_000 in args.sizes else ""),
        "",
        "| vectors | type | parameters | build s | size | p50 ms | p95 ms | recall@10 |",
        "|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['vectors']:,} | {r['type']} | {_params(r['params'])} | {r['build_s']:.1f} | "
                     f"{_fmt_bytes(r['bytes'])} | {r['p50_ms']:.3f} | {r['p95_ms']:.3f} | {r['recall@10']:.4f} |")
    if sweep:
        lines += ["", "Search-time sweeps (the same built index, one knob moved from its default):", "",
                  "| vectors | type | knob | value | p50 ms | p95 ms | recall@10 |", "|---:|---|---|---:|---:|---:|---:|"]
        lines += [f"| {s['vectors']:,} | {s['type']} | {s['param']} | {s['value']} | {s['p50_ms']:.3f} | {s['p95_ms']:.3f} | "
                  f"{s['recall@10']:.4f} |" for s in sweep]
    if 100_000 in args.sizes:
        lines += ["", "Goal (issue 4): p50 <= 1 ms at 100k with recall@10 >= 0.98 — " + (
            "**met** by " + ", ".join(f"{g['type']} ({g['p50_ms']:.3f} ms, recall@10 {g['recall@10']:.4f})" for g in goal) + "."
            if goal else "**not met**.")]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000], help="index sizes to measure")
    ap.add_argument("--types", nargs="+", default=list(TYPES), choices=TYPES, help="index types to measure")
    ap.add_argument("--queries", type=int, default=300, help="real question embeddings used as queries")
    ap.add_argument("--centers", type=int, default=2000, help="real chunk embeddings the synthetic vectors surround")
    ap.add_argument("--spread", type=float, default=0.35, help="how far synthetic vectors stray from their real center")
    ap.add_argument("--flat-queries-1m", type=int, default=100, help="queries timed on exact search at >100k vectors")
    ap.add_argument("--sweep-at", type=int, nargs="+", default=[100_000, 1_000_000],
                    help="sizes at which efSearch / nprobe / refine factor are swept (0: none)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="FAISS threads for builds and ground truth")
    ap.add_argument("--cache", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "rungs-bench-embeddings.npz",
                    help="where the real embeddings are cached between runs")
    ap.add_argument("--results", type=Path, default=ROOT / "bench" / "RESULTS.md", help="file whose section is replaced")
    ap.add_argument("--no-write", action="store_true", help="print only")
    ap.add_argument("--json", type=Path, help="also write every measurement as JSON here")
    ap.add_argument("overrides", nargs="*", help="index config overrides, e.g. index.hnsw_ef_search=128")
    args = ap.parse_args(argv)

    import faiss

    began = time.perf_counter()
    centers, queries = real_embeddings(args.centers, args.queries, args.cache)
    rows, sweep = [], []
    for n in sorted(args.sizes):
        r, s = bench_size(n, args.types, centers, queries, args, args.threads)
        rows += r
        sweep += s
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    meta = {
        "command": "python bench/index_latency.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}",
        "faiss": faiss.__version__, "threads": args.threads, "centers": len(centers), "queries": len(queries),
        "wall_s": time.perf_counter() - began,
    }
    text = markdown(rows, sweep, args, meta)
    print(text)
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "rows": rows, "sweep": sweep}, indent=2))
    if not args.no_write:
        replace_section(args.results, SECTION, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
