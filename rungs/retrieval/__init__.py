"""Retrieval: chunks of the corpus' documents, embedded and indexed, searched dense, lexical or fused.

- `chunk_text`: whole sentences, overlapping, each chunk keeping its document for citations;
- embeddings from models shipped as Python packages (`load_embedder`, `embed`, `embed_shard`, the unit of
  work an index build hands to the shard mapper), and fine-tuning them on this CPU (`fine_tune`,
  `save_model`: the triage embedder, the retriever's embedder and reranker);
- `faiss_index` (the FAISS index type for a size, its parameters, build and load) and `bm25` (the lexical
  index beside it);
- `Retriever` over an index artifact, reciprocal-rank fusion, and recall@k / MRR / nDCG per mode
  (`judge`, `summarize`: one question's ranking, the mean over questions with intervals);
- learned scoring from a retriever artifact: the fusion of dense and BM25 (`Fusion`), the cross-encoder
  reranker and its share (`Rerank`, `new_reranker`, `load_reranker`, `rerank_logits`), per-mode relevance
  calibrations (`Calibration`), each chosen on labelled questions (`choose_fusion`, `choose_rerank`,
  `calibrate`);
- the don't-know gate (`Gate`): the best chunk's cosine (or calibrated relevance) below which the
  assistant does not know, fitted by the index stage on labelled in- and out-of-scope questions
  (`best_scores`, `fit_gate`, `answering_threshold`).

Import from here (`from rungs.retrieval import Retriever`), never from the private modules.
"""

from . import _bm25 as bm25
from . import _faiss as faiss_index
from ._chunking import chunk_text, split_sentences
from ._embed import EmbedShard, check_embedder, embed, embed_shard, embedder_info, embedding_dim, load_embedder, model_path
from ._fusion import (
    FUSIONS,
    RRF_K,
    Calibration,
    Fusion,
    Rerank,
    calibrate,
    choose_fusion,
    choose_rerank,
    doc_order,
    mean_rr,
    rrf,
)
from ._gate import FALLBACK_MIN_SCORE, Gate, answering_threshold, best_cosines, best_scores, fit_gate
from ._ranking import NDCG_K, distinct, judge, summarize
from ._recall import load_questions, ranked_docs, retrieval_metrics, retrieval_report
from ._rerank import load_reranker, new_reranker, passage, rerank_logits
from ._retriever import (
    AUTO,
    BM25_DIR,
    CHUNK_COLUMNS,
    CHUNKS_FILE,
    EMBEDDER_FILE,
    FUSION_DEPTH,
    INDEX_FILE,
    LEARNED_FILE,
    MODES,
    RERANK,
    SPEC_FILE,
    Hit,
    Retriever,
)
from ._tuning import fine_tune, save_model

__all__ = [
    "AUTO", "BM25_DIR", "CHUNKS_FILE", "CHUNK_COLUMNS", "EMBEDDER_FILE", "FALLBACK_MIN_SCORE", "FUSIONS", "FUSION_DEPTH",
    "INDEX_FILE", "LEARNED_FILE", "MODES", "NDCG_K", "RERANK", "RRF_K", "SPEC_FILE", "Calibration", "EmbedShard",
    "Fusion", "Gate", "Hit", "Rerank", "Retriever", "answering_threshold", "best_cosines", "best_scores", "bm25",
    "calibrate", "check_embedder", "choose_fusion", "choose_rerank", "chunk_text", "distinct", "doc_order", "embed",
    "embed_shard", "embedder_info", "embedding_dim", "faiss_index", "fine_tune", "fit_gate", "judge", "load_embedder",
    "load_questions", "load_reranker", "mean_rr", "model_path", "new_reranker", "passage", "ranked_docs",
    "rerank_logits", "retrieval_metrics", "retrieval_report", "rrf", "save_model", "split_sentences", "summarize",
]
