"""Document cleaning: Unicode and whitespace normalisation, boilerplate lines, length and quality rules.

`clean_text` returns the text a document keeps; `quality_issue` names the first rule a cleaned text
fails (None when it passes). Both are pure functions of the text and the thresholds, so the corpus
report can say exactly why each dropped document went.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from rungs.kernel import ConfigError

# Invisible characters that split words for a tokenizer without showing: C0/C1 controls (but tab,
# newline, \v, \f, \r and NEL, which normalize_text turns into spaces or newlines), soft hyphen,
# zero-width space, left-to-right/right-to-left marks, word joiner and a stray byte-order mark.
# Zero-width (non-)joiners stay: they change how some scripts and emoji render.
_INVISIBLE = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u00ad\u200b\u200e\u200f\u2060\ufeff]")
_LETTERS_ONLY = re.compile(r"[\W\d_]+")
_WHITESPACE = re.compile(r"\s+")

_LINE_BREAKS = re.compile(r"\r\n|[\r\x85\u2028\u2029]")


def normalize_text(s: str) -> str:
    """NFKC; newlines unified to \\n; within a line, runs of whitespace become one space and none leads
    or trails; at most one blank line in a row; no leading or trailing blank lines.

    Lines are split and joined with str.split (C speed) rather than rewritten by regular expressions:
    corpus cleaning calls this on every document.
    """
    s = unicodedata.normalize("NFKC", s)
    s = _LINE_BREAKS.sub("\n", s)
    out: list[str] = []
    blank = False
    for line in s.split("\n"):
        line = " ".join(line.split())
        if line:
            if blank and out:
                out.append("")
            out.append(line)
            blank = False
        else:
            blank = True
    return "\n".join(out)


BOILERPLATE_MAX_LINE = 200  # page furniture is a short line; longer lines are prose and are not matched at all
DROP_REASONS = {
    "too_short": "fewer characters than corpus.min_chars",
    "too_long": "more characters than corpus.max_chars",
    "too_few_words": "fewer words than corpus.min_words",
    "low_alpha": "letters are less than corpus.min_alpha_ratio of the non-space characters (tables, codes, garbage)",
    "repetitive": "repeated lines or one repeated 3-word phrase cover more than corpus.max_repetition of the text",
}


def boilerplate_pattern(patterns: Iterable[str]) -> re.Pattern | None:
    """One case-insensitive pattern matching a whole line that is boilerplate; None when there are none."""
    patterns = list(patterns)
    for p in patterns:
        try:
            re.compile(p)
        except re.error as exc:
            raise ConfigError(f"corpus.boilerplate: bad regular expression {p!r}: {exc}") from exc
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE) if patterns else None


def clean_text(text: str, boilerplate: re.Pattern | None = None) -> tuple[str, int]:
    """(cleaned text, boilerplate lines removed): invisible characters out, NFKC, whitespace unified
    (normalize_text), then every line of at most BOILERPLATE_MAX_LINE characters that wholly
    matches `boilerplate` removed."""
    text = normalize_text(_INVISIBLE.sub("", text))
    if boilerplate is None or not text:
        return text, 0
    lines = text.split("\n")
    kept = [line for line in lines if not (line and len(line) <= BOILERPLATE_MAX_LINE and boilerplate.fullmatch(line))]
    removed = len(lines) - len(kept)
    return (normalize_text("\n".join(kept)) if removed else text), removed


@dataclass(frozen=True)
class Quality:
    """Thresholds; 0 switches a rule off (max_chars, min_words, min_alpha_ratio, max_repetition)."""

    min_chars: int = 20
    max_chars: int = 0
    min_words: int = 0
    min_alpha_ratio: float = 0.0
    max_repetition: float = 0.0


def quality_issue(text: str, q: Quality) -> str | None:
    """The first rule of DROP_REASONS the text breaks, or None."""
    n = len(text)
    if n < q.min_chars:
        return "too_short"
    if q.max_chars and n > q.max_chars:
        return "too_long"
    if q.min_words and len(text.split()) < q.min_words:
        return "too_few_words"
    if q.min_alpha_ratio:
        visible, letters = _visible_and_letters(text)
        if visible and letters / visible < q.min_alpha_ratio:
            return "low_alpha"
    if q.max_repetition and repetition(text, q.max_repetition) > q.max_repetition:
        return "repetitive"
    return None


_ASCII_LETTERS = bytes(range(65, 91)) + bytes(range(97, 123))
_ASCII_SPACE = b" \t\n\r\x0b\x0c"


def _visible_and_letters(text: str) -> tuple[int, int]:
    """(non-whitespace characters, letters); bytes.translate on ASCII text, 10x faster than regexes."""
    if text.isascii():
        raw = text.encode("ascii")
        visible = len(raw.translate(None, _ASCII_SPACE))
        return visible, len(raw) - len(raw.translate(None, _ASCII_LETTERS))
    return len(_WHITESPACE.sub("", text)), len(_LETTERS_ONLY.sub("", text))


def repetition(text: str, limit: float = 0.0) -> float:
    """The larger of: the share of characters in lines that repeat an earlier line, and the share of
    words covered by the most frequent 3-word phrase (counted when it occurs more than twice). With a
    `limit`, the phrase share is only computed when it could exceed the limit (exact above it)."""
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    total = sum(len(line) for line in lines) or 1
    seen: set[str] = set()
    repeated = 0
    for line in lines:
        if line in seen:
            repeated += len(line)
        seen.add(line)
    words = text.lower().split()
    phrase = 0.0
    # On a few sentences any repeated phrase is a large share: not evidence of spam (hence 30 words).
    # A phrase occurs at most as often as its commonest word: phrases are counted only when that could matter.
    if len(words) >= 30 and 3 * Counter(words).most_common(1)[0][1] / len(words) > min(limit, repeated / total or limit):
        top = Counter(zip(words, words[1:], words[2:])).most_common(1)
        if top[0][1] > 2:
            phrase = min(1.0, 3 * top[0][1] / len(words))
    return max(repeated / total, phrase)
