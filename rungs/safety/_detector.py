"""The detector chat, serve and evaluate consult first: the rules and the trained classifier, over every
user turn of a conversation (an emergency may be spread over two messages). A red flag escalates when the
classifier's probability reaches its rule floor (chosen on dev: no more false alarms than the classifier
alone), or at any probability when one of its patterns is `sure` (no harmless train or dev message matched
it); the classifier escalates on its own at its threshold."""

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
        if self.classifier is None:
            return flag  # no trained detector: the rules alone
        score = self.scores([messages])
        sure = flag is not None and self.classifier.is_sure(self.rules.matching(text))
        if not self.classifier.escalates(score, np.array([flag is not None]), np.array([sure]))[0]:
            return None
        return flag if flag is not None and (sure or score[0] >= self.classifier.rule_floor) else ("classifier", None)
