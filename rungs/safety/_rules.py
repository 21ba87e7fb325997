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

    def match(self, text: str) -> tuple[str, str] | None:
        """(name, reason) of the first red flag in `text`, or None. Line breaks count as spaces: a phrase may
        run across two user turns or a Shift+Enter."""
        text = text.replace("\n", " ")
        for name, reason, patterns in self.flags:
            if any(p.search(text) for p in patterns):
                return name, reason
        return None
