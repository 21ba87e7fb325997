"""Emergency triage: does this conversation need emergency care now?

The assistant's first duty. A conversation is read as all of its user turns (an emergency may be spread
over two messages or buried after a routine request), normalised, and scored twice:

1. **rules** — the red-flag patterns of conf/prompt (`prompt.red_flags`), over the normalised text:
   exact phrases that must always escalate, whatever the classifier says;
2. **classifier** — logistic regression trained by the project (the `triage` stage) on sentence
   embeddings of the shipped MiniLM: the embedding of the whole user text and the max and mean over
   its sentences (so one alarming sentence among routine ones still counts). Its threshold is chosen
   on the dev split for recall.

Normalisation defeats what broke the regular expressions: Unicode NFKC (full-width letters, non-breaking
spaces), look-alike letters of other scripts folded to Latin (a Cyrillic "а" in "сhest"), invisible
characters, and every run of whitespace or line breaks (Shift+Enter on the chat page) as one space.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .config import PromptConfig
from .errors import ConfigError

import numpy as np

# Cyrillic and Greek letters that render like Latin ones (Unicode confusables, the common subset).
_HOMOGLYPHS = str.maketrans({
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "т": "t",
    "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j", "ѕ": "s", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ɡ": "g", "ӏ": "l",
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T", "Х": "X",
    "І": "I", "Ј": "J", "Ѕ": "S",
    "α": "a", "ο": "o", "ρ": "p", "ν": "v", "τ": "t", "υ": "u", "ι": "i", "κ": "k", "χ": "x", "ε": "e",
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O", "Ρ": "P",
    "Τ": "T", "Υ": "Y", "Χ": "X",
})
_INVISIBLE = re.compile(r"[\u200b-\u200f\u2060-\u2064\ufeff\u00ad]")
_SPACE = re.compile(r"\s+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+|\s+(?:also|and also|btw|oh and|but)\s+", re.I)
MODEL_FILE = "triage.json"  # weights, threshold and embedder of a trained classifier: plain numbers, no pickle


def normalize(text: str) -> str:
    """NFKC, look-alike letters folded to Latin, invisible characters dropped, whitespace as one space."""
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text).translate(_HOMOGLYPHS)
    return _SPACE.sub(" ", text).strip()


def user_text(messages: Sequence[dict]) -> str:
    """Every user turn of the conversation, oldest first, normalised and joined."""
    parts = []
    for m in messages:
        if m.get("role") == "user":
            content = m.get("content")
            if isinstance(content, list):  # OpenAI content parts
                content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
            parts.append(normalize(str(content or "")))
    return "\n".join(p for p in parts if p)


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s and len(s.split()) >= 2] or [text]


def features(embedder, texts: Sequence[str]) -> np.ndarray:
    """(n, 3 * dim): whole-text embedding, max and mean over its sentences."""
    from .embed import embed

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

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(x @ self.coef + self.intercept)))

    def save(self, path: Path, **extra) -> None:
        path.write_text(json.dumps({"coef": self.coef.tolist(), "intercept": self.intercept, "threshold": self.threshold,
                                    "embedder": self.embedder, **extra}))

    @classmethod
    def load(cls, path: Path) -> Classifier:
        d = json.loads(Path(path).read_text())
        return cls(np.asarray(d["coef"], dtype=np.float32), float(d["intercept"]), float(d["threshold"]), d["embedder"])


def fit(x: np.ndarray, y: np.ndarray, c: float = 1.0, seed: int = 0) -> tuple[np.ndarray, float]:
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


class Guardrails:
    """The emergency red flags of a PromptConfig, compiled once (a bad pattern fails at start-up)."""

    def __init__(self, prompt: PromptConfig):
        self.flags: list[tuple[str, str, list[re.Pattern]]] = []
        for i, flag in enumerate(prompt.red_flags):
            compiled = []
            for pattern in flag.patterns:
                try:
                    compiled.append(re.compile(pattern, re.IGNORECASE))
                except re.error as exc:
                    raise ConfigError(f"prompt.red_flags[{i}] ({flag.name}): bad pattern {pattern!r}: {exc}") from None
            self.flags.append((flag.name or f"flag{i}", flag.reason, compiled))
        try:
            prompt.escalation.format(reason="")
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(f"prompt.escalation: only {{reason}} may be filled in ({exc})") from None

    def match(self, text: str) -> tuple[str, str] | None:
        """(name, reason) of the first red flag in `text`, or None."""
        for name, reason, patterns in self.flags:
            if any(p.search(text) for p in patterns):
                return name, reason
        return None


def load_classifier(folder: Path):
    """(Classifier, its sentence embedder) from a triage artifact's directory."""
    from .embed import load_embedder

    classifier = Classifier.load(folder / MODEL_FILE)
    tuned = json.loads((folder / MODEL_FILE).read_text()).get("embedder_dir")
    if not tuned:
        return classifier, load_embedder(classifier.embedder)
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder / tuned), device="cpu", local_files_only=True)
    model.eval()
    return classifier, model


class Detector:
    """Rules and classifier together, over every user turn of a conversation."""

    def __init__(self, rules: Guardrails | None, classifier: Classifier | None = None, embedder=None):
        self.rules = rules  # prompt.red_flags, matched on normalised text
        self.classifier = classifier
        self.embedder = embedder

    def scores(self, conversations: Sequence[Sequence[dict]]) -> np.ndarray:
        texts = [user_text(m) for m in conversations]
        if self.classifier is None:
            return np.zeros(len(texts), dtype=np.float32)
        return self.classifier.probabilities(features(self.embedder, texts))

    def check(self, messages: Sequence[dict]) -> tuple[str, str | None] | None:
        """(red flag name, its reason) when the conversation must escalate, ("classifier", None) when the
        classifier alone says so, else None."""
        text = user_text(messages)
        flag = self.rules.match(text.replace("\n", " ")) if self.rules is not None else None  # a phrase may span two turns
        if flag is not None:
            return flag
        if self.classifier is not None and self.scores([messages])[0] >= self.classifier.threshold:
            return "classifier", None
        return None
