"""Retrieval: chunks of the corpus' documents, embedded and indexed, searched dense, lexical or fused.

- `chunk_text`: whole sentences, overlapping, each chunk keeping its document for citations;
- embeddings from models shipped as Python packages (`load_embedder`, `embed`, `embed_shard`, the unit of
  work an index build hands to the shard mapper);
- `faiss_index` (the FAISS index type for a size, its parameters, build and load) and `bm25` (the lexical
  index beside it);
- `Retriever` over an index artifact, reciprocal-rank fusion, and recall@k / MRR per mode;
- the don't-know gate (`Gate`): the best chunk's cosine below which the assistant does not know, fitted
  by the index stage on labelled in- and out-of-scope questions (`best_cosines`, `fit_gate`).

Import from here (`from rungs.retrieval import Retriever`), never from the private modules.
"""

from . import _bm25 as bm25
from . import _faiss as faiss_index
from ._chunking import chunk_text, split_sentences
from ._embed import EmbedShard, check_embedder, embed, embed_shard, embedder_info, embedding_dim, load_embedder, model_path
from ._gate import FALLBACK_MIN_SCORE, Gate, best_cosines, fit_gate
from ._recall import load_questions, ranked_docs, retrieval_metrics, retrieval_report
from ._retriever import (
    BM25_DIR,
    CHUNK_COLUMNS,
    CHUNKS_FILE,
    EMBEDDER_FILE,
    FUSION_DEPTH,
    INDEX_FILE,
    MODES,
    RRF_K,
    SPEC_FILE,
    Hit,
    Retriever,
    rrf,
)

__all__ = [
    "BM25_DIR", "CHUNKS_FILE", "CHUNK_COLUMNS", "EMBEDDER_FILE", "FALLBACK_MIN_SCORE", "FUSION_DEPTH", "INDEX_FILE",
    "MODES", "RRF_K", "SPEC_FILE", "EmbedShard", "Gate", "Hit", "Retriever", "best_cosines", "bm25", "check_embedder",
    "chunk_text", "embed", "embed_shard", "embedder_info", "embedding_dim", "faiss_index", "fit_gate", "load_embedder", "load_questions", "model_path", "ranked_docs",
    "retrieval_metrics", "retrieval_report", "rrf", "split_sentences",
]
