"""Retrieval over an `index` artifact, and how well it finds the right document.

An index directory holds `index.faiss` (unit vectors, inner product), `chunks.parquet` (row i of the
table is vector i) and `embedder.json` (which model embeds the queries). Grounded answering with
citations builds on `Retriever` later.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from .data import read_jsonl
from .errors import InputError

INDEX_FILE = "index.faiss"
CHUNKS_FILE = "chunks.parquet"
EMBEDDER_FILE = "embedder.json"
CHUNK_COLUMNS = ("chunk_id", "doc_id", "title", "url", "text")


@dataclass
class Hit:
    chunk_id: int
    doc_id: str
    title: str
    url: str
    text: str
    score: float


class Retriever:
    """Nearest chunks to a query in an index artifact directory."""

    def __init__(self, index_dir: str | Path, batch_size: int = 64):
        import faiss
        import pyarrow.parquet as pq

        from .embed import load_embedder

        self.index_dir = Path(index_dir)
        for name in (INDEX_FILE, CHUNKS_FILE, EMBEDDER_FILE):
            if not (self.index_dir / name).is_file():
                raise InputError(self.index_dir / name, "missing: not an index artifact directory")
        try:
            self.embedder_info = json.loads((self.index_dir / EMBEDDER_FILE).read_text())
            self.embedder_name = self.embedder_info["name"]
        except (ValueError, KeyError) as exc:
            raise InputError(self.index_dir / EMBEDDER_FILE, f"expected a JSON object with 'name': {exc}") from exc
        self.index = faiss.read_index(str(self.index_dir / INDEX_FILE))
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
        self.model = load_embedder(self.embedder_name)
        self.batch_size = batch_size

    def __len__(self) -> int:
        return self.index.ntotal

    def hit(self, chunk_id: int, score: float) -> Hit:
        i = int(chunk_id)
        return Hit(i, self._doc_id[i], self._title[i], self._url[i], self._text[i], float(score))

    def search(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        """The top-k chunks for each query, best first (fewer if the index holds fewer than k)."""
        from .embed import embed

        if isinstance(queries, str):
            raise TypeError("search() takes a list of queries, not one string")
        if not queries:
            return []
        k = min(int(k), self.index.ntotal)
        if k <= 0:
            return [[] for _ in queries]
        vectors = embed(self.model, list(queries), self.batch_size)
        scores, ids = self.index.search(vectors, k)
        return [
            [self.hit(i, s) for i, s in zip(row_ids, row_scores) if i >= 0]
            for row_ids, row_scores in zip(ids, scores)
        ]


def ranked_docs(hits: Iterable[Hit]) -> list[str]:
    """Distinct doc ids in the order of their best chunk."""
    seen: dict[str, None] = {}
    for hit in hits:
        seen.setdefault(hit.doc_id, None)
    return list(seen)


def retrieval_metrics(
    retriever: Retriever,
    questions: Sequence[str],
    relevant: Sequence[str],
    ks: Sequence[int] = (1, 5, 10),
    depth_factor: int = 4,
) -> dict:
    """recall@k (share of questions whose relevant doc is among the top-k distinct docs) and MRR.

    Chunks are searched `depth_factor * max(ks)` deep and collapsed to distinct documents; a relevant
    document not found within that depth counts 0 towards MRR.
    """
    if len(questions) != len(relevant):
        raise ValueError(f"{len(questions)} questions but {len(relevant)} relevant ids")
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise ValueError(f"ks must be positive integers, got {ks}")
    n = len(questions)
    hits_at = {k: 0 for k in ks}
    rr_sum = 0.0
    if n:
        results = retriever.search(list(questions), depth_factor * ks[-1])
        for hits, target in zip(results, relevant):
            docs = ranked_docs(hits)
            target = str(target)
            rank = docs.index(target) + 1 if target in docs else math.inf
            for k in ks:
                hits_at[k] += rank <= k
            rr_sum += 0.0 if rank == math.inf else 1.0 / rank
    metrics = {f"recall@{k}": (hits_at[k] / n if n else 0.0) for k in ks}
    metrics["mrr"] = rr_sum / n if n else 0.0
    metrics["questions"] = n
    return metrics


def load_questions(
    path: str | Path, question_field: str = "question", relevant_field: str = "id"
) -> tuple[list[str], list[str]]:
    """Questions and the id of the document answering each, streamed from a JSONL file."""
    path = Path(path)
    questions: list[str] = []
    relevant: list[str] = []
    for line_no, row in read_jsonl(path):
        for field in (question_field, relevant_field):
            if row.get(field) is None:
                raise InputError(
                    path, f"expected field {field!r} in every row; found {sorted(row)[:10]}", line=line_no
                )
        question = row[question_field]
        if not isinstance(question, str) or not question.strip():
            raise InputError(path, f"expected field {question_field!r} to be non-empty text", line=line_no)
        questions.append(question.strip())
        relevant.append(str(row[relevant_field]))
    if not questions:
        raise InputError(path, "no questions: expected JSON Lines rows with "
                         f"{question_field!r} and {relevant_field!r}")
    return questions, relevant
