"""The detector chat, serve and evaluate consult first: the rules, then the trained classifier, over
every user turn of a conversation (an emergency may be spread over two messages)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._classifier import Classifier, features
from ._rules import Guardrails
from ._text import user_text


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
        flag = self.rules.match(text) if self.rules is not None else None
        if flag is not None:
            return flag
        if self.classifier is not None and self.scores([messages])[0] >= self.classifier.threshold:
            return "classifier", None
        return None
