"""The text the emergency detector reads: every user turn of a conversation, normalised.

Normalisation defeats what broke the regular expressions: Unicode NFKC (full-width letters, non-breaking
spaces), look-alike letters of other scripts folded to Latin (a Cyrillic "а" in "сhest"), invisible
characters, and every run of whitespace or line breaks (Shift+Enter on the chat page) as one space.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

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
    """The sentences (and run-on clauses: "... also my chest") of a user text; the text itself if none."""
    return [s.strip() for s in _SENTENCE.split(text) if s and len(s.split()) >= 2] or [text]
