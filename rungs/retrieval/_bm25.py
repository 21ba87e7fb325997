"""BM25 over the index's chunks (bm25s), saved beside the FAISS index: the lexical half of hybrid search.

Dense embeddings miss exact rare terms — drug names, gene symbols, abbreviations such as "HbA1c" — that
BM25 matches literally; BM25 misses paraphrases that embeddings catch. Text is lower-cased, split on word
characters, English stop words dropped and Snowball-stemmed (PyStemmer), so "wheezing" finds "wheeze".
Document i of the BM25 index is chunk i, the same row as vector i in FAISS.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rungs.kernel import InputError

BM25_DIR = "bm25"


def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """The terms BM25 indexes and queries with (one list per text)."""
    import bm25s

    return bm25s.tokenize(list(texts), lower=True, stopwords="en", stemmer=_stemmer(), return_ids=False,
                          show_progress=False)


def build(texts: Sequence[str], k1: float, b: float, out_dir: Path) -> dict:
    """Index `texts` and save under `out_dir`; returns what the manifest records about it."""
    import bm25s

    retriever = bm25s.BM25(k1=k1, b=b, method="lucene")
    tokens = tokenize(texts)
    # an empty token keeps chunks without any indexable word (numbers only, stop words only) addressable
    retriever.index(tokens, show_progress=False, create_empty_token=True)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    retriever.save(str(out_dir), show_progress=False)
    return {"k1": k1, "b": b, "method": "lucene", "stemmer": "snowball-english", "stopwords": "en",
            "vocabulary": len(retriever.vocab_dict), "documents": len(texts)}


class BM25Index:
    """A saved BM25 index: scores of every chunk for a query, top-k by score."""

    def __init__(self, directory: Path, expected_docs: int | None = None):
        import bm25s

        directory = Path(directory)
        if not directory.is_dir():
            raise InputError(directory, "missing: the index artifact has no BM25 index (built before index VERSION 2?)")
        try:
            self.retriever = bm25s.BM25.load(str(directory), show_progress=False)
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(directory, f"unreadable BM25 index: {exc}") from exc
        self.num_docs = int(self.retriever.scores["num_docs"])
        if expected_docs is not None and self.num_docs != expected_docs:
            raise InputError(directory, f"{self.num_docs} BM25 documents but {expected_docs} chunks: artifact is inconsistent")

    def search(self, queries: Sequence[str], k: int) -> list[list[tuple[int, float]]]:
        """(chunk row, BM25 score) best first; chunks sharing no term with the query are left out."""
        k = min(int(k), self.num_docs)
        results = []
        for terms in tokenize(queries):
            ids = self.retriever.get_tokens_ids(terms)
            if not ids or k <= 0:
                results.append([])
                continue
            scores = self.retriever.get_scores_from_ids(ids)
            top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
            # ties broken by chunk row: stable, reproducible rankings
            top = top[np.lexsort((top, -scores[top]))]
            results.append([(int(i), float(scores[i])) for i in top if scores[i] > 0])
        return results
