"""How ranked lists become one ranking: reciprocal-rank fusion, and the learned scoring a retriever artifact
brings — the fusion of the dense and BM25 lists, a reranker's share of the score and what probability of
relevance a final score means, each chosen on labelled questions.

`rrf` is classic reciprocal-rank fusion (k=60, equal votes), what every index offers. On MedQuAD conditions
no model had seen it lost to dense retrieval alone (issue #12: MRR 0.60 against 0.65): when one list is much
better, giving the other an equal vote costs more than agreement gains. So a retriever chooses instead:

- `Fusion("rrf", weight, k)`: weight * 2/(k + dense rank) + (1 - weight) * 2/(k + BM25 rank), a list
  that missed the chunk adding nothing; weight 0.5 and k=60 give exactly the classic RRF ranking and scores;
- `Fusion("linear", weight)`: weight * cosine + (1 - weight) * BM25 / the query's best BM25 score, a chunk
  missing from one list taking a hair under that list's lowest score: at most what it would have had, and
  below everything the list did return.

`choose_fusion` grid-searches both methods by MRR over documents. The grid holds weight 1 (dense alone) and
weight 0 (BM25 alone), so on the questions it was chosen on the fusion never loses to its best part.

`Rerank(depth, weight)`: the top `depth` fused chunks re-scored as weight * sigmoid(reranker logit) +
(1 - weight) * fused score / the query's best fused score; weight is chosen on the same questions (0 keeps
the fused order, and `auto` then skips the reranker; 1 trusts the reranker alone). Chunks below `depth`
keep their fused order after them.

`Calibration`: a logistic regression of "this chunk's document answers the question" on the final score of
the top hits, fitted per mode. Its probability is comparable across questions and modes, unlike an RRF score
(ranks only) or a raw cosine (whose scale depends on the embedder).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ._ranking import distinct, judge

Row = list[tuple[int, float]]  # (chunk row, score), best first
FUSIONS = ("rrf", "linear")
# Reciprocal-rank fusion constant: Cormack, Clarke & Buettcher (SIGIR 2009) found k=60 near-best across
# TREC collections. Each list contributes 1/(k + rank): a large k flattens the gap between rank 1 and
# rank 10 so agreement between the lists decides; a small k lets one list's top hit win on its own.
RRF_K = 60
RRF_KS = (10, 30, 60, 100)  # the k a learned RRF fusion may take: from top-hit-wins to agreement-decides
WEIGHTS = tuple(round(w / 20, 2) for w in range(21))  # 0, 0.05, ..., 1: dense's share of the vote
MISSING = 1e-6  # how far below a list's lowest score a chunk it did not return is put
CALIBRATION_DEPTH = 10  # hits per question a calibration is fitted on: the ones a gate or a citation reads


def rrf(rankings: Sequence[Sequence[int]], k: int = RRF_K, weights: Sequence[float] | None = None) -> Row:
    """Reciprocal-rank fusion: sum over lists of weight/(k + rank), rank from 1, weight 1 unless given; best first.

    Ties go to the item that reached the better single-list rank first, then to the lower id.
    """
    if k < 1:
        raise ValueError(f"rrf k must be >= 1, got {k}")
    weights = [1.0] * len(rankings) if weights is None else list(weights)
    scores: dict[int, float] = {}
    best: dict[int, int] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, item in enumerate(ranking, 1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
            best[item] = min(best.get(item, rank), rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], best[kv[0]], kv[0]))


@dataclass(frozen=True)
class Fusion:
    method: str = "rrf"
    weight: float = 0.5  # dense's share: 1 = dense alone, 0 = BM25 alone
    k: int = RRF_K  # rrf only

    def fuse(self, dense: Row, lexical: Row) -> Row:
        """One ranking of the union of both lists, best first (ties: rrf's rule; linear: the lower chunk row)."""
        if self.method == "rrf":  # a chunk missing from a list gets nothing from it, as in classic RRF
            return rrf([[i for i, _ in dense], [i for i, _ in lexical]], self.k, (2 * self.weight, 2 * (1 - self.weight)))
        if self.method == "linear":
            cos, lex = dict(dense), dict(lexical)
            # a list that missed a chunk ranks it below all it returned: at most its lowest score, a hair less
            cos_floor = min(cos.values(), default=0.0) - MISSING
            top = max(lex.values(), default=0.0)
            lex_floor = max(0.0, min(lex.values(), default=0.0) - MISSING)
            scale = 1.0 / top if top > 0 else 0.0
            scores = {i: self.weight * cos.get(i, cos_floor) + (1 - self.weight) * lex.get(i, lex_floor) * scale
                      for i in {*cos, *lex}}
            return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
        raise ValueError(f"fusion method {self.method!r}: expected one of {FUSIONS}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> Fusion | None:
        return cls(str(d["method"]), float(d["weight"]), int(d.get("k", RRF_K))) if d else None


@dataclass(frozen=True)
class Rerank:
    depth: int = 10  # fused chunks the reranker re-scores: each is one cross-encoder pass per question
    weight: float = 1.0  # the reranker's share of the final score

    @property
    def reranks(self) -> bool:
        """Whether `auto` runs the reranker: weight 0 keeps the fused order, so its passes would buy nothing."""
        return self.weight > 0

    def combine(self, fused: Row, logits: Sequence[float]) -> Row:
        """The first len(logits) fused chunks re-scored and re-ordered, the rest after them as they were."""
        head = fused[: len(logits)]
        top = max((s for _, s in head), default=0.0)
        scale = 1.0 / top if top > 0 else 0.0
        rescored = [(i, self.weight * sigmoid(z) + (1 - self.weight) * s * scale) for (i, s), z in zip(head, logits)]
        rescored.sort(key=lambda kv: (-kv[1], kv[0]))
        return rescored + list(fused[len(logits):])

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> Rerank | None:
        return cls(int(d["depth"]), float(d["weight"])) if d else None


@dataclass(frozen=True)
class Calibration:
    coef: float
    intercept: float

    def probability(self, score: float) -> float:
        return sigmoid(self.coef * score + self.intercept)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> Calibration | None:
        return cls(float(d["coef"]), float(d["intercept"])) if d else None


def sigmoid(x: float) -> float:
    """1 / (1 + e^-x), without overflow for large |x| (a reranker logit can be far from 0)."""
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def doc_order(row: Row, doc_of: Callable[[int], str]) -> list[str]:
    """Distinct documents in the order of their best chunk."""
    return distinct(doc_of(i) for i, _ in row)


def mean_rr(rows: Sequence[Row], relevant: Sequence[set[str]], doc_of: Callable[[int], str]) -> float:
    """MRR over documents of ranked chunk lists."""
    return float(np.mean([judge(doc_order(r, doc_of), rel, ks=())["rr"] for r, rel in zip(rows, relevant)])) if rows else 0.0


def _best(candidates, rank: Callable, relevant, doc_of) -> tuple:
    """The candidate whose rankings have the best MRR (ties: the earlier one), and every candidate's MRR."""
    tried, best, best_mrr = [], None, -1.0
    for candidate in candidates:
        mrr = mean_rr(rank(candidate), relevant, doc_of)
        tried.append({**candidate.to_dict(), "mrr": round(mrr, 4)})
        if mrr > best_mrr + 1e-12:
            best, best_mrr = candidate, mrr
    return best, tried


def choose_fusion(dense: Sequence[Row], lexical: Sequence[Row], relevant: Sequence[set[str]],
                  doc_of: Callable[[int], str]) -> tuple[Fusion, list[dict]]:
    """The fusion with the best MRR on these questions, and every candidate's MRR (the grid, for the record).

    Ties go to the earlier candidate: RRF before linear, smaller k, then a larger dense weight.
    """
    grid = [Fusion("rrf", w, k) for k in RRF_KS for w in reversed(WEIGHTS)]
    grid += [Fusion("linear", w) for w in reversed(WEIGHTS)]
    return _best(grid, lambda f: [f.fuse(d, b) for d, b in zip(dense, lexical)], relevant, doc_of)


def choose_rerank(fused: Sequence[Row], logits: Sequence[Sequence[float]], relevant: Sequence[set[str]],
                  doc_of: Callable[[int], str], min_gain: float = 0.0) -> tuple[Rerank, list[dict]]:
    """The reranker's share of the final score with the best MRR on these questions (depth = len(logits)).

    A reranker must earn its cost: weight 0 (the fused order, and no reranker pass at query time under `auto`)
    stands unless another weight beats its MRR by more than `min_gain`. Among the weights that beat it, the
    largest wins a tie."""
    depth = max((len(z) for z in logits), default=0)
    grid = [Rerank(depth, 0.0)] + [Rerank(depth, w) for w in reversed(WEIGHTS) if w > 0]
    best, tried = _best(grid, lambda r: [r.combine(f, z) for f, z in zip(fused, logits)], relevant, doc_of)
    gain = max(t["mrr"] for t in tried) - tried[0]["mrr"]
    return (best if gain > min_gain else grid[0]), tried


def calibrate(rows: Sequence[Row], relevant: Sequence[set[str]], doc_of: Callable[[int], str],
              depth: int = CALIBRATION_DEPTH) -> Calibration:
    """Logistic regression of 'the chunk's document is relevant' on the score, over each question's top hits."""
    from sklearn.linear_model import LogisticRegression

    x, y = [], []
    for row, rel in zip(rows, relevant):
        for i, s in row[:depth]:
            x.append(s)
            y.append(int(doc_of(i) in rel))
    if len(set(y)) < 2:  # all relevant or none: no slope to fit; a constant says as much as the data
        rate = min(max(np.mean(y) if y else 0.5, 1e-3), 1 - 1e-3)
        return Calibration(0.0, math.log(rate / (1 - rate)))
    # Platt scaling is unregularised: scikit-learn's default C=1 shrinks the slope of a score that spans
    # only ~0.08 (fused ranks) towards 0, and every top hit then reads as the base rate.
    model = LogisticRegression(C=1e6, max_iter=1000).fit(np.asarray(x, dtype=np.float64).reshape(-1, 1), np.asarray(y))
    return Calibration(float(model.coef_[0][0]), float(model.intercept_[0]))
