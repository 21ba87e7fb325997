"""Search over an `index` artifact: dense (FAISS), lexical (BM25) or both fused by reciprocal rank.

An index directory holds `index.faiss` (unit vectors, inner product), `index.json` (its type and search
parameters, the BM25 settings, the RRF constant), `bm25/` (bm25s), `chunks.parquet` (row i is vector i
and BM25 document i) and `embedder.json` (which model embeds the queries). Grounded answering with
citations builds on `Retriever`; how well it finds the right document is rungs.retrieval._recall.

An index built from a retriever artifact also holds `embedder/` (the fine-tuned embedder), `reranker/`
(a cross-encoder) and, in index.json under `learned`, the fusion, rerank weight and per-mode relevance
calibrations chosen on held-out conditions (rungs.retrieval._fusion). Then `hybrid` fuses as learned
instead of by equal-weight RRF, `rerank` re-scores the fused top chunks with the cross-encoder, and every
hit carries `relevance`, a calibrated probability that its document answers the question. `auto` is the
best mode the index offers: rerank where the dev questions gave the reranker a share, else hybrid.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rungs.kernel import ConfigError, InputError

from ._fusion import RRF_K, Calibration, Fusion, Rerank, rrf
from ._gate import Gate

INDEX_FILE = "index.faiss"
CHUNKS_FILE = "chunks.parquet"
EMBEDDER_FILE = "embedder.json"
SPEC_FILE = "index.json"
BM25_DIR = "bm25"
CHUNK_COLUMNS = ("chunk_id", "doc_id", "title", "url", "text")
MODES = ("dense", "bm25", "hybrid")  # every index offers these
RERANK = "rerank"  # indexes with a reranker (built from a retriever artifact)
AUTO = "auto"  # the best the index offers: rerank where dev gave the reranker a share, else hybrid
LEARNED_FILE = "retriever.json"  # in a retriever artifact: what an index built from it takes over
# Each list is searched this deep before fusion, so a chunk ranked low by one retriever but high by the
# other still collects both contributions.
FUSION_DEPTH = 100


@dataclass
class Hit:
    chunk_id: int
    doc_id: str
    title: str
    url: str
    text: str
    score: float  # dense: cosine; bm25: BM25 score; hybrid: the fusion's score; rerank: the combined score (neither comparable across queries: `relevance` is)
    dense: float | None = None  # cosine similarity, when the dense search returned this chunk
    bm25: float | None = None  # BM25 score, when the lexical search returned this chunk
    source: str = ""
    relevance: float | None = None  # P(its document answers the question), when the index calibrated this mode


class Retriever:
    """Nearest chunks to a query in an index artifact directory: `mode` dense, bm25, hybrid (RRF, or the
    index's learned fusion), rerank (indexes with a reranker) or auto (the best of these the index offers)."""

    def __init__(self, index_dir: str | Path, batch_size: int = 64, mode: str = "hybrid",
                 depth: int = FUSION_DEPTH, rrf_k: int | None = None):
        import pyarrow.parquet as pq

        from . import _faiss as faiss_index
        from ._embed import load_embedder

        self.index_dir = Path(index_dir)
        for name in (INDEX_FILE, CHUNKS_FILE, EMBEDDER_FILE):
            if not (self.index_dir / name).is_file():
                raise InputError(self.index_dir / name, "missing: not an index artifact directory")
        try:
            self.embedder_info = json.loads((self.index_dir / EMBEDDER_FILE).read_text())
            self.embedder_name = self.embedder_info["name"]
        except (ValueError, KeyError) as exc:
            raise InputError(self.index_dir / EMBEDDER_FILE, f"expected a JSON object with 'name': {exc}") from exc
        self.spec: dict = {}
        if (self.index_dir / SPEC_FILE).is_file():
            try:
                self.spec = json.loads((self.index_dir / SPEC_FILE).read_text())
                self.spec["faiss"]["type"]
            except (ValueError, KeyError, TypeError) as exc:
                raise InputError(self.index_dir / SPEC_FILE, f"expected a JSON object with faiss.type: {exc}") from exc
        self._learn(self.spec.get("learned") or {})
        self.mode = self.resolve_mode(mode)
        self.index = faiss_index.load(self.index_dir / INDEX_FILE, self.spec.get("faiss"))
        table = pq.read_table(self.index_dir / CHUNKS_FILE)
        missing = [c for c in CHUNK_COLUMNS if c not in table.column_names]
        if missing:
            raise InputError(self.index_dir / CHUNKS_FILE, f"missing column(s) {missing}; expected {list(CHUNK_COLUMNS)}")
        cols = {c: table.column(c).to_pylist() for c in CHUNK_COLUMNS}
        if table.num_rows != self.index.ntotal:
            raise InputError(
                self.index_dir / CHUNKS_FILE,
                f"{table.num_rows} chunks but {self.index.ntotal} vectors in {INDEX_FILE}: artifact is inconsistent",
            )
        if cols["chunk_id"] != list(range(table.num_rows)):
            raise InputError(self.index_dir / CHUNKS_FILE, "chunk_id must equal the row number (0, 1, 2, ...)")
        self._doc_id = [str(v) for v in cols["doc_id"]]
        self._title = [v or "" for v in cols["title"]]
        self._url = [v or "" for v in cols["url"]]
        self._text = [v or "" for v in cols["text"]]
        self._source = ([v or "" for v in table.column("source").to_pylist()] if "source" in table.column_names
                        else [""] * table.num_rows)
        self.depth = int(depth)
        self.rrf_k = int(rrf_k or self.spec.get("rrf_k") or RRF_K)
        self._bm25 = None
        if self.mode != "dense":
            self.bm25_index  # noqa: B018  (fail at open, not at the first question, when BM25 is missing)
        tuned = self.embedder_info.get("dir")  # the index's own copy of a fine-tuned embedder
        self.model = load_embedder(str(self.index_dir / tuned) if tuned else self.embedder_name)
        self.gate = Gate.from_dict(self.spec.get("gate"))  # the don't-know gate the index stage fitted, if any
        self.batch_size = batch_size
        self._cached: tuple[tuple[str, ...], object] | None = None

    def _learn(self, learned: dict) -> None:
        """The learned scoring a retriever artifact left in index.json (rungs.retrieval._fusion), if any."""
        self.fusion = Fusion.from_dict(learned.get("fusion"))
        self.rerank = Rerank.from_dict(learned.get("rerank")) if learned.get("reranker") else None
        self.reranker_dir = self.index_dir / learned["reranker"] if self.rerank is not None else None
        self.calibrations = {m: Calibration.from_dict(c) for m, c in (learned.get("relevance") or {}).items()}
        self.min_relevance = learned.get("min_relevance")  # the don't-know threshold chosen on held-out questions
        self.modes = MODES + ((RERANK,) if self.rerank is not None else ())

    def resolve_mode(self, mode: str) -> str:
        """`mode` checked against what this index offers; `auto` becomes the best of it."""
        if mode == AUTO:
            return RERANK if RERANK in self.modes and self.rerank.reranks else "hybrid"
        if mode not in self.modes:
            extra = "" if mode != RERANK else " (rerank needs an index built from a retriever with a reranker)"
            raise ConfigError(f"retrieval mode {mode!r}: expected one of {', '.join((*self.modes, AUTO))}{extra}")
        return mode

    @property
    def calibrated(self) -> bool:
        """Whether hits in this retriever's mode carry a calibrated relevance."""
        return self.mode in self.calibrations

    @property
    def reranker(self):
        from ._rerank import load_reranker

        return load_reranker(self.reranker_dir)

    @property
    def bm25_index(self):
        if self._bm25 is None:
            from ._bm25 import BM25Index

            self._bm25 = BM25Index(self.index_dir / BM25_DIR, expected_docs=self.index.ntotal)
        return self._bm25

    def __len__(self) -> int:
        return self.index.ntotal

    def doc_of(self, chunk_id: int) -> str:
        return self._doc_id[int(chunk_id)]

    def passage(self, chunk_id: int) -> str:
        """What the reranker reads for a chunk (rungs.retrieval._rerank)."""
        from ._rerank import passage

        return passage(self._title[chunk_id], self._text[chunk_id])

    def hit(self, chunk_id: int, score: float, dense: float | None = None, bm25: float | None = None) -> Hit:
        i = int(chunk_id)
        return Hit(i, self._doc_id[i], self._title[i], self._url[i], self._text[i], float(score), dense, bm25,
                   self._source[i])

    def _embed(self, queries: list[str]):
        """Query vectors; the last batch is kept, so scoring one question set in several modes embeds it once."""
        from ._embed import embed

        key = tuple(queries)
        cached = self._cached  # one read: another thread (a server) may replace it meanwhile
        if cached is None or cached[0] != key:
            cached = (key, embed(self.model, queries, self.batch_size))
            self._cached = cached
        return cached[1]

    def dense(self, queries: list[str], k: int) -> list[list[tuple[int, float]]]:
        scores, ids = self.index.search(self._embed(queries), k)
        return [[(int(i), float(s)) for i, s in zip(row_ids, row_scores) if i >= 0] for row_ids, row_scores in zip(ids, scores)]

    def search(self, queries: Sequence[str], k: int, mode: str | None = None) -> list[list[Hit]]:
        """The top-k chunks for each query, best first (fewer if the index holds fewer than k, or if BM25
        finds no shared term). `mode` overrides the retriever's default for this call."""
        if isinstance(queries, str):
            raise TypeError("search() takes a list of queries, not one string")
        mode = self.resolve_mode(mode or self.mode)
        if not queries:
            return []
        k = min(int(k), self.index.ntotal)
        if k <= 0:
            return [[] for _ in queries]
        queries = list(queries)
        if mode == "dense":
            found = [[self.hit(i, s, dense=s) for i, s in row] for row in self.dense(queries, k)]
        elif mode == "bm25":
            found = [[self.hit(i, s, bm25=s) for i, s in row] for row in self.bm25_index.search(queries, k)]
        else:
            found = self._fused(queries, k, rerank=mode == RERANK)
        calibration = self.calibrations.get(mode)
        if calibration is not None:
            for hits in found:
                for h in hits:
                    h.relevance = calibration.probability(h.score)
        return found

    def _fused(self, queries: list[str], k: int, rerank: bool) -> list[list[Hit]]:
        """Dense and BM25 lists fused (RRF, or the learned fusion), the top re-scored by the reranker if asked."""
        from ._rerank import rerank_logits

        depth = min(max(k, self.depth), self.index.ntotal)
        results = []
        for query, dense_row, lexical_row in zip(queries, self.dense(queries, depth), self.bm25_index.search(queries, depth)):
            cos, lex = dict(dense_row), dict(lexical_row)
            if self.fusion is None:
                fused = rrf([[i for i, _ in dense_row], [i for i, _ in lexical_row]], self.rrf_k)
            else:
                fused = self.fusion.fuse(dense_row, lexical_row)
            if rerank:
                head = [i for i, _ in fused[: self.rerank.depth]]
                fused = self.rerank.combine(fused, rerank_logits(self.reranker, query, [self.passage(i) for i in head]))
            results.append([self.hit(i, s, dense=cos.get(i), bm25=lex.get(i)) for i, s in fused[:k]])
        return results
