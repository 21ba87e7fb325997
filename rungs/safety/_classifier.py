"""The trained emergency classifier: logistic regression over sentence embeddings of the user text.

Trained by the project (the `triage` stage) on embeddings of the shipped MiniLM (fine-tuned there): the
embedding of the whole user text and the max and mean over its sentences, so one alarming sentence among
routine ones still counts. Its threshold is chosen on the dev split for recall. A triage artifact holds
`triage.json` (weights, threshold, embedder: plain numbers, no pickle) and maybe the tuned embedder.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._text import sentences

MODEL_FILE = "triage.json"  # weights, threshold and embedder of a trained classifier: plain numbers, no pickle


def features(embedder, texts: Sequence[str]) -> np.ndarray:
    """(n, 3 * dim): whole-text embedding, max and mean over its sentences."""
    from rungs.retrieval import embed

    pieces = [sentences(t) for t in texts]
    flat = [s for p in pieces for s in p]
    vectors = embed(embedder, list(texts) + flat)
    whole, parts = vectors[: len(texts)], vectors[len(texts) :]
    out, start = [], 0
    for k, p in enumerate(pieces):
        sub = parts[start : start + len(p)]
        start += len(p)
        out.append(np.concatenate([whole[k], sub.max(axis=0), sub.mean(axis=0)]))
    return np.asarray(out, dtype=np.float32)


@dataclass
class Classifier:
    """Logistic regression over `features`; `threshold` on its probability decides."""

    coef: np.ndarray
    intercept: float
    threshold: float
    embedder: str = "minilm"
    rule_floor: float = 0.0  # a red flag escalates when the probability is at least this (rule_floor_for)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(x @ self.coef + self.intercept)))

    def escalates(self, scores: np.ndarray, ruled: np.ndarray) -> np.ndarray:
        """Which messages escalate: the classifier at its threshold, or a red flag at the rule floor."""
        return (scores >= self.threshold) | (ruled & (scores >= self.rule_floor))

    def save(self, path: Path, **extra) -> None:
        path.write_text(json.dumps({"coef": self.coef.tolist(), "intercept": self.intercept, "threshold": self.threshold,
                                    "rule_floor": self.rule_floor, "embedder": self.embedder, **extra}))

    @classmethod
    def load(cls, path: Path) -> Classifier:
        d = json.loads(Path(path).read_text())
        return cls(np.asarray(d["coef"], dtype=np.float32), float(d["intercept"]), float(d["threshold"]), d["embedder"],
                   float(d.get("rule_floor", 0.0)))  # artifacts before 2026-12-04: a red flag alone escalated


def fit_classifier(x: np.ndarray, y: np.ndarray, c: float = 1.0, seed: int = 0) -> tuple[np.ndarray, float]:
    """Logistic-regression weights (scikit-learn, classes balanced: missing an emergency is the costly error)."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, class_weight="balanced", max_iter=5000, random_state=seed)
    model.fit(x, y)
    return model.coef_[0].astype(np.float32), float(model.intercept_[0])


def threshold_for_recall(scores: np.ndarray, y: np.ndarray, recall: float) -> float:
    """The highest threshold whose recall on (scores, y) is at least `recall`: fewest false alarms."""
    positives = np.sort(scores[y == 1])
    if not len(positives):
        return 0.5
    k = int(np.floor((1 - recall) * len(positives) + 1e-9))  # positives allowed below the threshold
    return float(positives[k]) if k < len(positives) else float(positives[-1])


def rule_floor_for(scores: np.ndarray, ruled: np.ndarray, y: np.ndarray, threshold: float) -> float:
    """The lowest probability at which a red flag may escalate without one more false alarm on (scores, y).

    A keyword rule cannot tell "I have chest pain" from "no chest pain since my stent" or "what should I do
    if my lips swell?"; the classifier can. So a flag escalates on its own only above the probability of
    every harmless message it matched, and below the classifier's threshold it rescues the emergencies the
    classifier scored just short."""
    harmless = scores[(y == 0) & ruled & (scores < threshold)]
    return float(np.nextafter(harmless.max(), np.inf)) if len(harmless) else 0.0


def train_classifier(x: dict[str, np.ndarray], y: dict[str, np.ndarray], ruled_dev: np.ndarray, *, c: float,
                     target_recall: float, seed: int = 0, embedder: str = "minilm") -> Classifier:
    """Weights fitted on x["train"]; the threshold (for `target_recall`) and the rule floor chosen on x["dev"]."""
    coef, intercept = fit_classifier(x["train"], y["train"], c, seed)
    classifier = Classifier(coef, intercept, 0.5, embedder)
    dev = classifier.probabilities(x["dev"])
    classifier.threshold = threshold_for_recall(dev, y["dev"], target_recall)
    classifier.rule_floor = rule_floor_for(dev, ruled_dev, y["dev"], classifier.threshold)
    return classifier


def load_classifier(folder: Path):
    """(Classifier, its sentence embedder) from a triage artifact's directory."""
    from rungs.retrieval import load_embedder

    classifier = Classifier.load(folder / MODEL_FILE)
    tuned = json.loads((folder / MODEL_FILE).read_text()).get("embedder_dir")
    if not tuned:
        return classifier, load_embedder(classifier.embedder)
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder / tuned), device="cpu", local_files_only=True)
    model.eval()
    return classifier, model
