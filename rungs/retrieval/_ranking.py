"""How good one ranked list of documents is for one question, and the mean over questions with intervals.

A question may have several relevant documents (MedQuAD answers some questions twice, from two NIH
sites), so every measure takes a set:

- `recall@k`: 1 when any relevant document is among the first k distinct documents (a patient needs one);
- `rr`: 1 / the rank of the first relevant document (0 when none is ranked) — its mean is MRR;
- `ndcg@k`: binary gains over all relevant documents, normalised by the best possible ordering, so a
  ranking that finds both answers of a twice-answered question scores higher than one that finds one.

`judge` scores one question; `summarize` averages per-question scores, with a bootstrap interval over
questions (rungs.kernel's `interval`) when asked. `distinct` collapses ranked chunks to documents: every
measure here is over documents, because a citation names a document, not a chunk.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence

from rungs.kernel import interval

NDCG_K = 10  # the depth a patient-facing list (top_k sources, a few more for the reranker) could reach


def distinct(doc_ids: Iterable[str]) -> list[str]:
    """Document ids in the order of their first (best) appearance, each once."""
    return list(dict.fromkeys(doc_ids))


def judge(ranked: Sequence[str], relevant: Collection[str], ks: Sequence[int] = (1, 5, 10),
          ndcg_k: int = NDCG_K) -> dict[str, float]:
    """recall@k for each k, rr and ndcg@ndcg_k of one question's distinct documents, best first."""
    relevant = {str(r) for r in relevant}
    if not relevant:
        raise ValueError("a question needs at least one relevant document")
    ranked = [str(d) for d in ranked]
    first = next((n for n, doc in enumerate(ranked, 1) if doc in relevant), math.inf)
    out = {f"recall@{k}": float(first <= k) for k in ks}
    out["rr"] = 0.0 if first == math.inf else 1.0 / first
    dcg = sum(1.0 / math.log2(n + 1) for n, doc in enumerate(ranked[:ndcg_k], 1) if doc in relevant)
    ideal = sum(1.0 / math.log2(n + 1) for n in range(1, min(len(relevant), ndcg_k) + 1))
    out[f"ndcg@{ndcg_k}"] = dcg / ideal
    return out


def summarize(rows: Sequence[dict[str, float]], intervals: bool = False, seed: int = 0) -> dict:
    """The mean of each measure over questions (`rr` reported as `mrr`), plus `questions`; with
    `intervals`, `<name>_lo` / `<name>_hi`: a 95 % bootstrap interval over questions."""
    out: dict = {}
    for key in (rows[0] if rows else {}):
        name = "mrr" if key == "rr" else key
        values = [r[key] for r in rows]
        if intervals:
            point, lo, hi = interval(values, seed=seed)
            out.update({name: point, f"{name}_lo": lo, f"{name}_hi": hi})
        else:
            out[name] = sum(values) / len(values)
    out["questions"] = len(rows)
    return out
