"""Sentence-aligned chunking with overlap: what the index embeds and what citations quote.

Whole sentences are packed up to `chunk_words` words, and each chunk repeats the last sentences (at most
`overlap_words` words) of the one before, or the last `overlap_words` words when its final sentence alone
is longer than that, so a fact that straddles a boundary is whole in at least one chunk. A sentence longer
than a chunk is cut into word windows.
"""

from __future__ import annotations

import re

from rungs.kernel import ConfigError

# End of a sentence: . ! ? (optionally closed by a quote or bracket), whitespace, then something that
# starts a sentence. Line breaks always end a sentence (headings, list items, paragraphs).
_SENTENCE_END = re.compile(
    r"(?:(?<=[.!?])|(?<=[.!?][\"'\u201d\u2019)\]]))\s+(?=[\"'\u201c\u2018(\[]?[A-Z0-9])"
)
_LINE_BREAK = re.compile(r"\s*\n\s*")
_ABBREVIATIONS = frozenset(
    ["e.g.", "i.e.", "etc.", "vs.", "dr.", "mr.", "mrs.", "ms.", "prof.", "fig.", "figs.", "al.", "approx.", "ca.", "cf.", "resp.", "jr.", "sr."]
)


def split_sentences(text: str) -> list[str]:
    """Sentences of `text`, whitespace-normalised; never splits after a common abbreviation."""
    sentences: list[str] = []
    for line in _LINE_BREAK.split(text or ""):
        pending = ""
        for piece in _SENTENCE_END.split(line.strip()):
            pending = f"{pending} {piece}".strip() if pending else piece.strip()
            last = pending.rsplit(None, 1)[-1].lower() if pending else ""
            if pending and last not in _ABBREVIATIONS:
                sentences.append(" ".join(pending.split()))
                pending = ""
        if pending:
            sentences.append(" ".join(pending.split()))
    return [s for s in sentences if s]


def chunk_text(text: str, chunk_words: int, overlap_words: int) -> list[str]:
    """Sentence-aligned chunks of at most `chunk_words` words, overlapping by up to `overlap_words`."""
    if chunk_words < 1 or not 0 <= overlap_words < chunk_words:
        raise ConfigError(
            f"index.chunk_words={chunk_words}, index.overlap_words={overlap_words}: "
            "expected chunk_words >= 1 and 0 <= overlap_words < chunk_words"
        )
    # units: sentences as word lists; a sentence longer than a chunk becomes windows that leave room
    # for the overlap carried in front of them
    window = chunk_words - overlap_words
    units: list[list[str]] = []
    for sentence in split_sentences(text):
        words = sentence.split()
        if len(words) <= chunk_words:
            units.append(words)
        else:
            units.extend(words[i : i + window] for i in range(0, len(words), window))

    chunks: list[str] = []
    current: list[list[str]] = []  # units of the chunk being built
    fresh = 0  # how many of them are new (not carried over from the previous chunk)
    for unit in units:
        size = sum(map(len, current))
        if fresh and size + len(unit) > chunk_words:
            chunks.append(" ".join(w for u in current for w in u))
            current, fresh = _carry(current, overlap_words), 0
            size = sum(map(len, current))
            if size + len(unit) > chunk_words:  # trim the carried words from the front to make room
                keep = chunk_words - len(unit)
                flat = [w for u in current for w in u]
                current = [flat[len(flat) - keep :]] if keep > 0 else []
        current.append(unit)
        fresh += 1
    if fresh:
        chunks.append(" ".join(w for u in current for w in u))
    return chunks


def _carry(units: list[list[str]], overlap_words: int) -> list[list[str]]:
    """The tail of a finished chunk that starts the next: whole trailing sentences within the
    overlap budget, else the last `overlap_words` words."""
    if overlap_words <= 0 or not units:
        return []
    carried: list[list[str]] = []
    total = 0
    for unit in reversed(units):
        if total + len(unit) > overlap_words:
            break
        carried.insert(0, unit)
        total += len(unit)
    if not carried:
        carried = [units[-1][-overlap_words:]]
    return carried
