"""How well retrieval finds the right document: recall@k, MRR and nDCG@10 over question sets, per search mode."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from pathlib import Path

from rungs.curation import read_jsonl
from rungs.kernel import InputError

from ._ranking import distinct, judge, summarize
from ._retriever import MODES, Hit, Retriever


def ranked_docs(hits: Iterable[Hit]) -> list[str]:
    """Distinct doc ids in the order of their best chunk."""
    return distinct(hit.doc_id for hit in hits)


def retrieval_metrics(
    retriever: Retriever,
    questions: Sequence[str],
    relevant: Sequence[str | Collection[str]],
    ks: Sequence[int] = (1, 5, 10),
    depth_factor: int = 4,
    mode: str | None = None,
    per_question: bool = False,
) -> dict:
    """recall@k (share of questions with a relevant doc among the top-k distinct docs), MRR and nDCG@10
    (rungs.retrieval._ranking); `relevant` holds one doc id per question, or a collection of them.

    Chunks are searched `depth_factor * max(ks)` deep and collapsed to distinct documents; a relevant
    document not found within that depth counts 0 towards MRR. `mode` picks dense, bm25, hybrid, rerank
    or auto (the retriever's own mode when None). `per_question` adds `rows`, each question's scores,
    for bootstrap intervals.
    """
    if len(questions) != len(relevant):
        raise ValueError(f"{len(questions)} questions but {len(relevant)} relevant ids")
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise ValueError(f"ks must be positive integers, got {ks}")
    rows = []
    if questions:
        extra = {"mode": mode} if mode is not None else {}
        results = retriever.search(list(questions), depth_factor * ks[-1], **extra)
        for hits, target in zip(results, relevant):
            rows.append(judge(ranked_docs(hits), [target] if isinstance(target, str) else target, ks))
    metrics = summarize(rows) if rows else {**{f"recall@{k}": 0.0 for k in ks}, "mrr": 0.0, "ndcg@10": 0.0, "questions": 0}
    if per_question:
        metrics["rows"] = rows
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
