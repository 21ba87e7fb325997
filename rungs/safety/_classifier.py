"""The trained emergency classifier: small networks (or a logistic regression) over sentence embeddings.

Trained by the project (the `triage` stage) on embeddings of the shipped MiniLM (fine-tuned there): the
embedding of the whole user text and the max and mean over its sentences, so one alarming sentence among
routine ones still counts. The probability is the mean of a few one-hidden-layer networks (scikit-learn's
MLPClassifier, different seeds): one logistic regression escalated 16 of a blind writer's 17 mild symptoms ("chest
pain, no breathlessness, since moving a wardrobe"), and the networks lift the ROC at equal features
(bench/RESULTS.md, "training variants"). Its threshold is chosen on the dev split for recall. A triage artifact
holds `triage.json` (threshold, embedder), `triage.safetensors` (the weights: plain arrays, no pickle) and maybe
the tuned embedder.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._text import sentences

MODEL_FILE = "triage.json"  # threshold and embedder of a trained classifier (and its weights before 2026-12-05)
WEIGHTS_FILE = "triage.safetensors"  # its layers: plain arrays, no pickle


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


Layers = list[tuple[np.ndarray, np.ndarray]]  # (weights (n_in, n_out), bias (n_out,)) per layer, ReLU between


@dataclass
class Classifier:
    """The mean probability of `members` (each a stack of layers, a sigmoid out); `threshold` on it decides.
    One member of one layer is logistic regression."""

    members: list[Layers]
    threshold: float
    embedder: str = "minilm"
    rule_floor: float = 0.0  # a red flag escalates when the probability is at least this (rule_floor_for)
    sure: tuple[str, ...] = ()  # red-flag patterns that escalate at any probability (Guardrails.sure)

    @classmethod
    def logistic(cls, coef: np.ndarray, intercept: float, threshold: float, **kw) -> Classifier:
        return cls([[(np.asarray(coef, dtype=np.float32).reshape(-1, 1), np.array([intercept], dtype=np.float32))]],
                   threshold, **kw)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        out = np.zeros(len(x), dtype=np.float64)
        for layers in self.members:
            h = np.asarray(x, dtype=np.float32)
            for k, (w, b) in enumerate(layers):
                h = h @ w + b
                if k < len(layers) - 1:
                    h = np.maximum(h, 0.0)
            out += 1.0 / (1.0 + np.exp(-h[:, 0].astype(np.float64)))
        return out / len(self.members)

    def is_sure(self, matched: Sequence[str]) -> bool:
        """Whether one of the red-flag patterns `matched` (Guardrails.matching) is a sure one."""
        return not set(self.sure).isdisjoint(matched)

    def escalates(self, scores: np.ndarray, ruled: np.ndarray, sure: np.ndarray | None = None) -> np.ndarray:
        """Which messages escalate: the classifier at its threshold, a red flag at the rule floor, or one of
        the `sure` patterns (where `sure` is true) at any probability."""
        out = (scores >= self.threshold) | (ruled & (scores >= self.rule_floor))
        return out if sure is None else out | sure

    def save(self, path: Path, **extra) -> None:
        """`path` (JSON: threshold, floor, embedder, layer counts) and WEIGHTS_FILE beside it."""
        from safetensors.numpy import save_file

        tensors = {f"m{i}.{k}.{part}": np.ascontiguousarray(a, dtype=np.float32) for i, layers in enumerate(self.members)
                   for k, (w, b) in enumerate(layers) for part, a in (("w", w), ("b", b))}
        save_file(tensors, str(path.with_name(WEIGHTS_FILE)))
        path.write_text(json.dumps({"weights": WEIGHTS_FILE, "layers": [len(m) for m in self.members],
                                    "threshold": self.threshold, "rule_floor": self.rule_floor, "sure": list(self.sure),
                                    "embedder": self.embedder, **extra}))

    @classmethod
    def load(cls, path: Path) -> Classifier:
        path = Path(path)
        d = json.loads(path.read_text())
        common = dict(embedder=d["embedder"], rule_floor=float(d.get("rule_floor", 0.0)),  # before 2026-12-04: no floor
                      sure=tuple(d.get("sure", ())))  # before 2026-12-05 (writer S): no sure patterns
        if "coef" in d:  # artifacts before 2026-12-05: one logistic regression, weights in the JSON
            return cls.logistic(np.asarray(d["coef"]), float(d["intercept"]), float(d["threshold"]), **common)
        from safetensors.numpy import load_file

        t = load_file(str(path.with_name(d["weights"])))
        members = [[(t[f"m{i}.{k}.w"], t[f"m{i}.{k}.b"]) for k in range(n)] for i, n in enumerate(d["layers"])]
        return cls(members, float(d["threshold"]), **common)


def fit_classifier(x: np.ndarray, y: np.ndarray, *, hidden: int = 0, alpha: float = 1e-4, c: float = 1.0,
                   members: int = 1, seed: int = 0) -> list[Layers]:
    """The members' layers: `members` networks of one `hidden`-unit layer (scikit-learn MLPClassifier, L2
    `alpha`, seeds seed, seed+1, ...), or with hidden=0 one logistic regression (inverse L2 `c`, classes
    balanced: missing an emergency is the costly error)."""
    if not hidden:
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=c, class_weight="balanced", max_iter=5000, random_state=seed).fit(x, y)
        return [[(model.coef_[0].reshape(-1, 1).astype(np.float32), model.intercept_.astype(np.float32))]]
    from sklearn.neural_network import MLPClassifier

    out = []
    for k in range(members):
        model = MLPClassifier((hidden,), alpha=alpha, max_iter=1000, random_state=seed + k).fit(x, y)
        out.append([(w.astype(np.float32), b.astype(np.float32)) for w, b in zip(model.coefs_, model.intercepts_)])
    return out


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


def train_classifier(x: dict[str, np.ndarray], y: dict[str, np.ndarray], ruled_dev: np.ndarray, *, target_recall: float,
                     seed: int = 0, embedder: str = "minilm", **fit) -> Classifier:
    """Weights fitted on x["train"] (`fit`: fit_classifier's hidden, alpha, c, members); the threshold (for
    `target_recall`) and the rule floor chosen on x["dev"]."""
    classifier = Classifier(fit_classifier(x["train"], y["train"], seed=seed, **fit), 0.5, embedder)
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
