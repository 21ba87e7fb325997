"""Search over an `index` artifact: dense (FAISS), lexical (BM25) or both fused by reciprocal rank.

An index directory holds `index.faiss` (unit vectors, inner product), `index.json` (its type and search
parameters, the BM25 settings, the RRF constant), `bm25/` (bm25s), `chunks.parquet` (row i is vector i
and BM25 document i) and `embedder.json` (which model embeds the queries). Grounded answering with
citations builds on `Retriever`; how well it finds the right document is rungs.retrieval._recall.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rungs.kernel import ConfigError, InputError

from ._gate import Gate

INDEX_FILE = "index.faiss"
CHUNKS_FILE = "chunks.parquet"
EMBEDDER_FILE = "embedder.json"
SPEC_FILE = "index.json"
BM25_DIR = "bm25"
CHUNK_COLUMNS = ("chunk_id", "doc_id", "title", "url", "text")
MODES = ("dense", "bm25", "hybrid")
# Reciprocal-rank fusion constant: Cormack, Clarke & Buettcher (SIGIR 2009) found k=60 near-best across
# TREC collections. Each list contributes 1/(k + rank): a large k flattens the gap between rank 1 and
# rank 10 so agreement between the lists decides; a small k lets one list's top hit win on its own.
RRF_K = 60
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
    score: float  # dense: cosine; bm25: BM25 score; hybrid: RRF score (ranks only, not comparable across queries)
    dense: float | None = None  # cosine similarity, when the dense search returned this chunk
    bm25: float | None = None  # BM25 score, when the lexical search returned this chunk
    source: str = ""


def rrf(rankings: Sequence[Sequence[int]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion: sum over lists of 1/(k + rank), rank from 1; best first.

    Ties go to the item that reached the better single-list rank first, then to the lower id.
    """
    if k < 1:
        raise ValueError(f"rrf k must be >= 1, got {k}")
    scores: dict[int, float] = {}
    best: dict[int, int] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, 1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
            best[item] = min(best.get(item, rank), rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], best[kv[0]], kv[0]))


class Retriever:
    """Nearest chunks to a query in an index artifact directory: `mode` dense, bm25 or hybrid (RRF)."""

    def __init__(self, index_dir: str | Path, batch_size: int = 64, mode: str = "hybrid",
                 depth: int = FUSION_DEPTH, rrf_k: int | None = None):
        import pyarrow.parquet as pq

        from . import _faiss as faiss_index
        from ._embed import load_embedder

        self.index_dir = Path(index_dir)
        for name in (INDEX_FILE, CHUNKS_FILE, EMBEDDER_FILE):
            if not (self.index_dir / name).is_file():
                raise InputError(self.index_dir / name, "missing: not an index artifact directory")
        self.mode = self._check_mode(mode)
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
        self.model = load_embedder(self.embedder_name)
        self.gate = Gate.from_dict(self.spec.get("gate"))  # the don't-know gate the index stage fitted, if any
        self.batch_size = batch_size
        self._cached: tuple[tuple[str, ...], object] | None = None

    @staticmethod
    def _check_mode(mode: str) -> str:
        if mode not in MODES:
            raise ConfigError(f"retrieval mode {mode!r}: expected one of {', '.join(MODES)}")
        return mode

    @property
    def bm25_index(self):
        if self._bm25 is None:
            from ._bm25 import BM25Index

            self._bm25 = BM25Index(self.index_dir / BM25_DIR, expected_docs=self.index.ntotal)
        return self._bm25

    def __len__(self) -> int:
        return self.index.ntotal

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
        mode = self._check_mode(mode or self.mode)
        if not queries:
            return []
        k = min(int(k), self.index.ntotal)
        if k <= 0:
            return [[] for _ in queries]
        queries = list(queries)
        if mode == "dense":
            return [[self.hit(i, s, dense=s) for i, s in row] for row in self.dense(queries, k)]
        if mode == "bm25":
            return [[self.hit(i, s, bm25=s) for i, s in row] for row in self.bm25_index.search(queries, k)]
        depth = min(max(k, self.depth), self.index.ntotal)
        results = []
        for dense_row, lexical_row in zip(self.dense(queries, depth), self.bm25_index.search(queries, depth)):
            cos, lex = dict(dense_row), dict(lexical_row)
            fused = rrf([[i for i, _ in dense_row], [i for i, _ in lexical_row]], self.rrf_k)[:k]
            results.append([self.hit(i, s, dense=cos.get(i), bm25=lex.get(i)) for i, s in fused])
        return results
