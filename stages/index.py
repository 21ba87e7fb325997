"""index stage: chunk every corpus document, embed the chunks in shards, build a FAISS and a BM25 index.

Output (see ARCHITECTURE.md): `index.faiss` (unit vectors, inner product = cosine; flat, HNSW, IVF or
IVF-PQ as `index.type` says, `auto` choosing by the number of chunks), `index.json` (the resolved type
and every parameter, the BM25 settings and the RRF constant queries fuse with), `bm25/` (bm25s over the
same chunks), `chunks.parquet` (chunk_id = row in both indexes, doc_id, source, title, url, text) and
`embedder.json` (the model that embedded them, which queries must use too). The knowledge base is every
document, both splits. When `index.gate_questions` are about this corpus, the don't-know gate fitted on them
(rungs.retrieval's `Gate`: a calibration and the cosine threshold) goes into `index.json` as `gate`.

With a `retriever` input (stages/retriever.py: an embedder fine-tuned on the corpus' question-answer pairs, a
cross-encoder reranker, and the fusion, rerank weight and relevance calibrations chosen on conditions it
did not train on) the chunks are embedded by its embedder, its model directories are linked into the
artifact (`embedder/`, `reranker/`) and index.json records its choices under `learned`; the don't-know gate
is then fitted on the calibrated relevance of the best hit instead of the best cosine. Without one the
index is exactly what it was. `index.title_prefix` embeds and BM25-indexes each chunk after its
document's title (chunks.parquet keeps the bare text).

Chunks follow sentence boundaries with overlap (rungs.retrieval's chunk_text). Embedding runs in shards of
`index.shard_size` chunks through the shard mapper in force (rungs.kernel's `shard_mapper()`): in this process by default, over Dask workers
when the flow installs its mapper (`index.workers > 1`, flows/embedding.py). Every shard is checkpointed
in `scratch` as it arrives, so a rerun after a crash embeds only what is missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

from rungs.kernel import ConfigError, InputError, resolve_path, shard_mapper
from rungs.retrieval import (  # noqa: F401  (chunk_text, split_sentences: the stage's chunking, re-exported)
    BM25_DIR,
    CHUNKS_FILE,
    EMBEDDER_FILE,
    INDEX_FILE,
    LEARNED_FILE,
    EmbedShard,
    bm25,
    check_embedder,
    chunk_text,
    embed_shard,
    embedder_info,
    faiss_index,
    split_sentences,
)

VERSION = 3  # 3: the don't-know gate fitted on index.gate_questions; 2: index type by size (flat/hnsw/ivf/ivfpq), BM25 beside FAISS, sharded embedding, source column
CONFIG = ("seed", "index")  # the seed picks IVF/PQ training samples

DOCUMENTS = "documents.parquet"
DOC_COLUMNS = ("id", "title", "url", "text")
SPEC_FILE = "index.json"


def needs(cfg) -> set[str]:
    """The retriever joins only when the pipeline builds one (or a ref names it): a one-stage index build
    must not pick up whichever retriever the store happens to hold."""
    return {"corpus", "retriever"} if "retriever" in cfg.pipeline.stages else {"corpus"}


def sources(cfg) -> list:
    gate = cfg.index.gate_questions
    return [resolve_path(gate)] if gate and resolve_path(gate).exists() else []


def _fit_gate(idx, out: Path, doc_ids: set[str]) -> dict:
    """The don't-know gate fitted on index.gate_questions (rungs.retrieval's Gate), when they are about this
    corpus, on the score the assistant reads: the best hit's calibrated relevance when the index has learned
    scoring, else the best dense cosine."""
    from rungs.curation import read_jsonl
    from rungs.retrieval import Retriever, best_scores, fit_gate

    path = resolve_path(idx.gate_questions)
    if not path.exists():
        return {"gate": f"off: {idx.gate_questions} not found"}
    rows = [row for _, row in read_jsonl(path)]
    if any(not isinstance(r.get("question"), str) or not isinstance(r.get("in_scope"), bool) for r in rows):
        raise InputError(path, "every gate question needs a 'question' string and an 'in_scope' true/false")
    answerable = [r for r in rows if r["in_scope"]]
    covered = sum(str(r.get("doc")) in doc_ids for r in answerable) / max(1, len(answerable))
    if covered < 0.9 or len(answerable) == len(rows):
        # another knowledge base: its in-scope questions are not these; prompt.min_score stays in force
        return {"gate": f"off: {covered:.0%} of {path.name}'s in-scope documents are in this index"}
    scores = best_scores(Retriever(out, mode="auto"), [r["question"] for r in rows])
    gate, seen = fit_gate(scores, np.array([int(r["in_scope"]) for r in rows]), idx.gate_answered)
    return {"gate": "fitted", "gate_fitted": {**gate.to_dict(), "fitted_on": path.name, **seen},
            **{f"gate_{k}": v for k, v in seen.items()}, "gate_threshold": round(gate.threshold, 4)}


# ------------------------------------------------------------------------------------------ the stage


def _check_config(cfg) -> None:
    idx = cfg.index
    faiss_index.check_config(idx)
    if idx.chunk_words < 1 or not 0 <= idx.overlap_words < idx.chunk_words:
        raise ConfigError(
            f"index.chunk_words={idx.chunk_words}, index.overlap_words={idx.overlap_words}: "
            "expected chunk_words >= 1 and 0 <= overlap_words < chunk_words"
        )
    for key in ("batch_size", "shard_size", "workers", "rrf_k"):
        if getattr(idx, key) < 1:
            raise ConfigError(f"index.{key}={getattr(idx, key)}: expected >= 1")
    if idx.bm25_k1 < 0 or not 0 <= idx.bm25_b <= 1:
        raise ConfigError(f"index.bm25_k1={idx.bm25_k1}, index.bm25_b={idx.bm25_b}: expected k1 >= 0 and 0 <= b <= 1")
    check_embedder(idx.embedder)  # unknown embedder: fail before reading anything


def read_documents(corpus_dir: Path) -> dict[str, list]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(corpus_dir) / DOCUMENTS
    if not path.is_file():
        raise InputError(path, f"missing: the corpus artifact must hold {DOCUMENTS}")
    try:
        schema = pq.read_schema(path)
        missing = [c for c in DOC_COLUMNS if c not in schema.names]
        if missing:
            raise InputError(path, f"missing column(s) {missing}; expected {list(DOC_COLUMNS)}")
        columns = list(DOC_COLUMNS) + (["source"] if "source" in schema.names else [])
        table = pq.read_table(path, columns=columns)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(path, f"unreadable Parquet: {exc}") from exc
    if "indexed" in schema.names:  # training-only sources (corpus.sources[].index=false) are not knowledge
        import pyarrow.compute as pc

        table = table.filter(pc.fill_null(pq.read_table(path, columns=["indexed"]).column("indexed"), True))
    if table.num_rows == 0:
        raise InputError(path, "no documents: the knowledge base is empty")
    docs = {c: table.column(c).to_pylist() for c in columns}
    docs.setdefault("source", [""] * table.num_rows)
    return docs


def _chunk_documents(docs: dict[str, list], chunk_words: int, overlap_words: int, progress) -> dict[str, list]:
    rows: dict[str, list] = {"doc_id": [], "source": [], "title": [], "url": [], "text": []}
    for i in progress(range(len(docs["id"])), desc="chunk documents", unit="doc"):
        doc_id, title, url = str(docs["id"][i]), docs["title"][i] or "", docs["url"][i] or ""
        for chunk in chunk_text(docs["text"][i] or "", chunk_words, overlap_words):
            rows["doc_id"].append(doc_id)
            rows["source"].append(docs["source"][i] or "")
            rows["title"].append(title)
            rows["url"].append(url)
            rows["text"].append(chunk)
    return rows


def indexed_texts(idx, rows: dict[str, list]) -> list[str]:
    """What the embedder and BM25 read of each chunk: its text, after its document's title with
    `index.title_prefix` (a chunk deep inside a long page otherwise never names its condition: on MedQuAD's
    unseen conditions dense recall@5 rose from 0.88 to 0.96 with it). chunks.parquet keeps the bare text:
    the prompt puts the title above each source itself."""
    if not idx.title_prefix:
        return rows["text"]
    return [f"{title}\n{text}" if title else text for title, text in zip(rows["title"], rows["text"])]


def _texts_digest(texts: list[str]) -> str:
    digest = hashlib.sha256()
    for t in texts:
        digest.update(t.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


def embed_sharded(idx, texts: list[str], info: dict, progress, scratch: Path, threads: int = 0):
    """Embed `texts` shard by shard through the shard mapper in force, checkpointing each shard.

    Shards already checkpointed under `scratch` (same chunks, same model, same shard size) are reused.
    Returns (vectors, seconds spent embedding, chunks embedded now, chunks resumed, shard count).
    """
    ckpt = Path(scratch) / "embeddings"
    meta = {"weights_sha256": info["weights_sha256"], "chunks": len(texts), "texts_sha256": _texts_digest(texts),
            "shard_size": idx.shard_size}
    meta_path = ckpt / "meta.json"
    if ckpt.exists():
        try:
            stale = json.loads(meta_path.read_text()) != meta
        except (OSError, ValueError):
            stale = True
        if stale:
            shutil.rmtree(ckpt)
    ckpt.mkdir(parents=True, exist_ok=True)
    meta_path.write_text(json.dumps(meta))

    starts = list(range(0, len(texts), idx.shard_size))
    parts: list[np.ndarray | None] = [None] * len(starts)
    for seg, start in enumerate(starts):
        part = ckpt / f"{seg:06d}.npy"
        if part.is_file():
            try:
                vectors = np.load(part)
            except (OSError, ValueError):
                continue
            if vectors.shape == (len(texts[start : start + idx.shard_size]), info["dimension"]):
                parts[seg] = vectors
    todo = [seg for seg, v in enumerate(parts) if v is None]
    resumed = sum(len(v) for v in parts if v is not None)
    work = [EmbedShard(idx.embedder, tuple(texts[starts[seg] : starts[seg] + idx.shard_size]), idx.batch_size, threads)
            for seg in todo]
    began = time.perf_counter()
    with progress(total=len(texts), initial=resumed, desc="embed chunks", unit="chunk") as bar:
        results = shard_mapper()(embed_shard, work)
        for seg, shard, vectors in zip(todo, work, results):
            vectors = np.asarray(vectors, dtype=np.float32)
            expected = (len(shard.texts), info["dimension"])
            if vectors.shape != expected:
                raise RuntimeError(f"embedding shard {seg} came back {vectors.shape}, expected {expected}")
            tmp = ckpt / f"{seg:06d}.tmp.npy"
            np.save(tmp, vectors)
            os.replace(tmp, ckpt / f"{seg:06d}.npy")
            parts[seg] = vectors
            bar.update(len(vectors))
    missing = [seg for seg, v in enumerate(parts) if v is None]
    if missing:
        raise RuntimeError(f"the shard mapper returned no result for embedding shard(s) {missing[:5]}")
    seconds = time.perf_counter() - began if todo else 0.0
    embedded = len(texts) - resumed
    return np.concatenate(parts, axis=0), seconds, embedded, resumed, len(starts)


def run(cfg, inputs, out: Path, progress, scratch: Path) -> dict:
    _check_config(cfg)
    idx = cfg.index
    out = Path(out)
    docs = read_documents(Path(inputs["corpus"].path))
    learned = inputs.get("retriever")
    spec = learned_spec(Path(learned.path), out) if learned is not None else None
    where = Path(inputs["corpus"].path) / DOCUMENTS
    metrics, meta, chunk_docs = build(idx, docs, out, progress, scratch, seed=cfg.seed, learned=spec, where=where)
    if learned is not None:
        metrics.update(learned_metrics(spec, learned.ref))
    gate = _fit_gate(idx, out, chunk_docs) if idx.gate_questions else {"gate": "off"}
    if "gate_fitted" in gate:
        meta["gate"] = gate.pop("gate_fitted")
        (out / SPEC_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return {**gate, **metrics}


def learned_spec(retriever_dir: Path, out: Path) -> dict:
    """What a retriever artifact contributes to an index: its fine-tuned embedder and reranker, linked into
    `out` (the index stays self-contained; the store's files are immutable, so a hard link is a copy), and its
    fusion, rerank weight and relevance calibrations, which go into index.json under `learned`."""
    path = retriever_dir / LEARNED_FILE
    try:
        spec = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(path, f"missing or unreadable: not a retriever artifact ({exc})") from exc
    for key in ("embedder", "reranker"):
        if spec.get(key) and (retriever_dir / spec[key]).is_dir():
            link_tree(retriever_dir / spec[key], out / spec[key])
    return spec


def learned_metrics(spec: dict, ref: str) -> dict:
    """The learned choices as flat manifest metrics (index.json holds them whole)."""
    from rungs.retrieval import Fusion

    # in Fusion's field order, as the retriever's own metrics say it (retriever.json is written with sorted keys)
    fusion = Fusion.from_dict(spec["fusion"]).to_dict() if spec.get("fusion") else {}
    rerank = spec.get("rerank") or {}
    return {"learned_from": ref, "embedder_tuned": bool(spec.get("embedder")), "reranker": bool(spec.get("reranker")),
            "fusion": ", ".join(f"{k}={v}" for k, v in fusion.items()),
            "rerank_depth": rerank.get("depth", 0), "rerank_weight": rerank.get("weight", 0.0)}


def link_tree(src: Path, dst: Path) -> None:
    """Copy a directory by hard links where the filesystem allows (a model is hundreds of MB), else by copying."""
    def link(a, b):
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)

    shutil.copytree(src, dst, copy_function=link)


def build(idx, docs: dict[str, list], out: Path, progress, scratch: Path, seed: int = 0,
          learned: dict | None = None, where: Path | None = None) -> tuple[dict, dict, set[str]]:
    """Chunk, embed and index `docs` into `out` (the artifact layout above); returns (metrics, index.json's
    content, the document ids indexed). With `learned` (a retriever's spec, its model directories already in
    `out`), the chunks are embedded by its embedder and index.json carries its choices. The retriever stage
    builds its dev index with this too, so its choices are made on exactly what an index will search."""
    import dataclasses

    rows = _chunk_documents(docs, idx.chunk_words, idx.overlap_words, progress)
    if not rows["text"]:
        raise InputError(where or out, "documents hold no text to index")
    tuned_dir = (learned or {}).get("embedder")
    if learned:  # chunks embedded as the retriever's choices were made on: its embedder, its title rule
        embedder = str(out / tuned_dir) if tuned_dir else learned["base_embedder"]  # the fine-tuned one: its copy in `out`
        idx = dataclasses.replace(idx, embedder=embedder, title_prefix=bool(learned.get("title_prefix", idx.title_prefix)))

    info = embedder_info(idx.embedder)
    faiss_index.plan(idx, len(rows["text"]), info["dimension"])  # config errors before the long part
    vectors, seconds, embedded, resumed, n_shards = embed_sharded(idx, indexed_texts(idx, rows), info, progress, scratch)
    metrics, meta = write(idx, rows, vectors, info, out, seed=seed, learned=learned, tuned_dir=tuned_dir)
    metrics.update({
        "documents": len(docs["id"]),
        "embed_seconds": round(seconds, 3),
        "chunks_per_second": round(embedded / seconds, 1) if seconds > 0 else 0.0,
        "resumed_chunks": resumed,
        "embedding_shards": n_shards,
    })
    return metrics, meta, set(rows["doc_id"])


def write(idx, rows: dict[str, list], vectors: np.ndarray, info: dict, out: Path, seed: int = 0,
          learned: dict | None = None, tuned_dir: str | None = None) -> tuple[dict, dict]:
    """The artifact's files from chunk rows and their vectors: FAISS and BM25 indexes, chunks.parquet,
    embedder.json (`tuned_dir`: the embedder's copy inside `out`) and index.json; returns (metrics, index.json)."""
    import faiss
    import pyarrow as pa
    import pyarrow.parquet as pq

    spec = faiss_index.plan(idx, len(rows["text"]), info["dimension"])
    began = time.perf_counter()
    index = faiss_index.build(vectors, spec, seed=seed)
    index_seconds = time.perf_counter() - began

    out.mkdir(parents=True, exist_ok=True)
    faiss.write_index(index, str(out / INDEX_FILE))
    began = time.perf_counter()
    bm25_info = bm25.build(indexed_texts(idx, rows), idx.bm25_k1, idx.bm25_b, out / BM25_DIR)
    bm25_seconds = time.perf_counter() - began
    table = pa.table(
        {
            "chunk_id": pa.array(range(len(rows["text"])), type=pa.int64()),
            "doc_id": pa.array(rows["doc_id"], type=pa.string()),
            "title": pa.array(rows["title"], type=pa.string()),
            "url": pa.array(rows["url"], type=pa.string()),
            "text": pa.array(rows["text"], type=pa.string()),
            "source": pa.array(rows["source"], type=pa.string()),
        }
    )
    pq.write_table(table, out / CHUNKS_FILE)
    embedder = dict(info, index_type=spec["type"], metric="inner_product", chunk_words=idx.chunk_words,
                    overlap_words=idx.overlap_words)
    if tuned_dir:  # the artifact's own copy, found relative to the index directory wherever the store is
        embedder.update(name=tuned_dir, dir=tuned_dir)
    (out / EMBEDDER_FILE).write_text(json.dumps(embedder, indent=2, sort_keys=True) + "\n")
    meta = {"faiss": spec, "bm25": bm25_info, "rrf_k": idx.rrf_k, "chunks": len(rows["text"])}
    if idx.title_prefix:  # recorded only when on: an index built without it stays byte-identical to before
        meta["title_prefix"] = True
    if learned:
        meta["learned"] = {k: learned.get(k) for k in ("fusion", "rerank", "reranker", "relevance", "min_relevance")}
    (out / SPEC_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    metrics = {
        "chunks": int(index.ntotal),
        "dim": int(info["dimension"]),
        "index_type": spec["type"],
        "index_chosen_by": spec["chosen_by"],
        "index_params": spec["params"],
        "index_build_seconds": round(index_seconds, 3),
        "index_bytes": faiss_index.memory_bytes(index),
        "bm25_vocabulary": bm25_info["vocabulary"],
        "bm25_build_seconds": round(bm25_seconds, 3),
        "rrf_k": idx.rrf_k,
    }
    return metrics, meta
