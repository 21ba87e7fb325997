"""The don't-know gate: is the knowledge base relevant to this question at all?

The score is the best dense cosine between the question and any chunk of the index — or, when the index
carries learned scoring (built from a retriever artifact: rungs.retrieval._fusion), the calibrated relevance
of its best hit in the mode the assistant searches (`auto`: reranked when the index has a reranker), which
separates answerable questions better than a cosine does. The index stage fits it on a labelled question
set (`index.gate_questions`: in-scope questions and ones the documents cannot answer) and stores the result in the index artifact:

- a logistic calibration, so a source's relevance reads as the probability that the question is in
  scope (what `Citation.score` reports), not a raw cosine whose scale depends on the embedder;
- the threshold, chosen on that set as the highest cosine that still answers `index.gate_answered` of
  the in-scope questions: a refused answerable question sends a patient away, so answering comes first,
  and every out-of-scope question above the threshold is a measured cost.

Without a fitted gate (another corpus, no question set) the assistant falls back to `prompt.min_score`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

FALLBACK_MIN_SCORE = 0.3  # the cosine gate of an index without a fitted one (MiniLM; the fitted default corpus gate is ~0.4)


@dataclass
class Gate:
    coef: float
    intercept: float
    threshold: float  # on best_scores' scale (a cosine, or a calibrated relevance): at or above it the assistant answers

    def probability(self, cosine: float) -> float:
        return 1.0 / (1.0 + math.exp(-(self.coef * cosine + self.intercept)))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> Gate | None:
        return cls(float(d["coef"]), float(d["intercept"]), float(d["threshold"])) if d else None


def best_cosines(retriever, questions: Sequence[str]) -> np.ndarray:
    """The highest dense cosine of each question to any chunk."""
    return np.array([hits[0][1] if hits else -1.0 for hits in retriever.dense(list(questions), 1)], dtype=np.float64)


def best_scores(retriever, questions: Sequence[str]) -> np.ndarray:
    """What the gate reads for each question: the best hit's calibrated relevance in the retriever's mode
    when that mode is calibrated, else the best dense cosine."""
    if getattr(retriever, "calibrated", False):
        return np.array([hits[0].relevance if hits else 0.0 for hits in retriever.search(list(questions), 1)],
                        dtype=np.float64)
    return best_cosines(retriever, questions)


def answering_threshold(scores: np.ndarray, answered: float) -> float:
    """The highest threshold at or above which `answered` of these (answerable) questions' scores still fall."""
    ordered = np.sort(np.asarray(scores, dtype=np.float64))
    k = int(math.floor((1 - answered) * len(ordered) + 1e-9))
    return float(ordered[min(k, len(ordered) - 1)])


def fit_gate(cosines: np.ndarray, in_scope: np.ndarray, answered: float) -> tuple[Gate, dict]:
    """The calibrated gate and what it does on the set it was fitted on (AUC, answered, refused)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    model = LogisticRegression().fit(cosines.reshape(-1, 1), in_scope)
    threshold = answering_threshold(cosines[in_scope == 1], answered)
    gate = Gate(float(model.coef_[0][0]), float(model.intercept_[0]), threshold)
    passed = cosines >= threshold
    return gate, {"auc": round(float(roc_auc_score(in_scope, cosines)), 4),
                  "answered": round(float(passed[in_scope == 1].mean()), 4),
                  "refused": round(float(1 - passed[in_scope == 0].mean()), 4),
                  "in_scope": int(in_scope.sum()), "out_of_scope": int((1 - in_scope).sum())}
