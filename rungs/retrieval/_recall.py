"""How well retrieval finds the right document: recall@k and MRR over question sets, per search mode."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path

from rungs.curation import read_jsonl
from rungs.kernel import InputError

from ._retriever import MODES, Hit, Retriever


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
    mode: str | None = None,
) -> dict:
    """recall@k (share of questions whose relevant doc is among the top-k distinct docs) and MRR.

    Chunks are searched `depth_factor * max(ks)` deep and collapsed to distinct documents; a relevant
    document not found within that depth counts 0 towards MRR. `mode` picks dense, bm25 or hybrid
    (the retriever's own mode when None).
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
        extra = {"mode": mode} if mode is not None else {}
        results = retriever.search(list(questions), depth_factor * ks[-1], **extra)
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


def retrieval_report(
    retriever: Retriever, questions: Sequence[str], relevant: Sequence[str], ks: Sequence[int] = (1, 5, 10),
    modes: Sequence[str] = MODES,
) -> dict[str, dict]:
    """retrieval_metrics for each mode on the same questions: {mode: {recall@k..., mrr, questions}}."""
    return {mode: retrieval_metrics(retriever, questions, relevant, ks, mode=mode) for mode in modes}
