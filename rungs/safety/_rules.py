"""The red-flag rules: phrases of `prompt.red_flags` (conf/prompt/) that must always escalate.

Case-insensitive patterns, compiled once so a bad pattern fails at start-up, matched on normalised user
text (`user_text`), whatever the classifier says.
"""

from __future__ import annotations

import re

from rungs.kernel import ConfigError, PromptConfig


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

    def matching(self, text: str) -> list[str]:
        """The patterns (as written in the config) that match `text`, line breaks read as spaces."""
        text = text.replace("\n", " ")
        return [p.pattern for _, _, patterns in self.flags for p in patterns if p.search(text)]

    def sure(self, texts: list[str], emergency: list[bool], min_emergencies: int) -> list[str]:
        """Patterns that matched at least `min_emergencies` of the emergencies in `texts` and none of the rest:
        phrases such as "took 24 tablets" that a harmless message has never used escalate whatever the
        classifier says (the `triage` stage picks them on train and dev)."""
        hits: dict[str, list[int]] = {p.pattern: [0, 0] for _, _, patterns in self.flags for p in patterns}
        for text, label in zip(texts, emergency):
            for pattern in self.matching(text):
                hits[pattern][0 if label else 1] += 1
        return [p for p, (em, harmless) in hits.items() if em >= min_emergencies and not harmless]

    def match(self, text: str) -> tuple[str, str] | None:
        """(name, reason) of the first red flag in `text`, or None. Line breaks count as spaces: a phrase may
        run across two user turns or a Shift+Enter."""
        text = text.replace("\n", " ")
        for name, reason, patterns in self.flags:
            if any(p.search(text) for p in patterns):
                return name, reason
        return None
