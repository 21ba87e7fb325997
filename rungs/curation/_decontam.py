"""Decontamination: find training text that overlaps evaluation questions or answers.

A text is normalised (Unicode NFKC, lowercase, every run of non-alphanumeric characters becomes one
space) and cut into word n-grams. Every n-gram of the evaluation texts goes into a set of 64-bit
hashes; a training text's `overlap` is the share of its n-grams found in that set, and the text is
`contaminated` when the overlap reaches `threshold`.

Why these choices:
- n = 13 words is the window GPT-3 and later reports used: long enough that a shared 13-gram is
  almost never chance or boilerplate phrasing, short enough to catch a copied sentence.
- The default threshold of 0.1 removes a training text when a tenth of its 13-grams come from the
  evaluation set: a verbatim copy of an evaluation answer is caught even inside a document ten times
  its length, while one shared boilerplate sentence ("talk to your doctor if ...") in a long answer
  is not enough to drop it. `threshold=0.0`-like strictness is available as `threshold=1e-9`.
- Evaluation texts shorter than n words (typical questions are 8-15 words) would contribute no
  n-gram at all; their whole word sequence is kept instead (when it has at least `min_words`
  words), and a training text containing that sequence verbatim is contaminated. Shorter ones
  ("What is asthma?") occur naturally in any medical text and are ignored.
- Hashes are rungs.curation._ngrams' stable 64-bit polynomial over per-word BLAKE2b values (not
  Python's `hash`, which is salted per process), so a Decontaminator pickled into workers stays valid.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from ._ngrams import gram_hashes

__all__ = ["DEFAULT_MIN_WORDS", "DEFAULT_N", "DEFAULT_THRESHOLD", "Decontaminator", "normalize_words"]

DEFAULT_N = 13
DEFAULT_THRESHOLD = 0.1
DEFAULT_MIN_WORDS = 8

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalize_words(text: str) -> list[str]:
    """Lowercased words with punctuation stripped: 'Take 5 mg, twice-daily.' -> take 5 mg twice daily."""
    text = unicodedata.normalize("NFKC", text).lower()
    return _NON_WORD.sub(" ", text).split()


class Decontaminator:
    """Holds the n-gram hashes of evaluation texts; answers whether a training text overlaps them.

    >>> d = Decontaminator(["the quick brown fox jumps over the lazy dog near the river bank today"])
    >>> d.contaminated("Notes: The quick brown fox jumps over the lazy dog near the river bank today!")
    True
    """

    def __init__(
        self,
        texts: Iterable[str],
        n: int = DEFAULT_N,
        threshold: float = DEFAULT_THRESHOLD,
        min_words: int = DEFAULT_MIN_WORDS,
        source_ids: Iterable[str] = (),
    ):
        self.source_ids = frozenset(source_ids)  # documents evaluation was written from: excluded by id, whatever their text
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        self.n = n
        self.threshold = threshold
        self.min_words = min_words
        grams: set[int] = set()
        short: dict[int, set[int]] = {}  # word count -> hashes of whole short evaluation texts
        self.n_texts = 0
        for text in texts:
            self.n_texts += 1
            words = normalize_words(text)
            if len(words) >= n:
                grams.update(gram_hashes(words, n).tolist())
            elif len(words) >= min_words:
                short.setdefault(len(words), set()).update(gram_hashes(words, len(words)).tolist())
        self._grams = frozenset(grams)
        self._short = {k: frozenset(v) for k, v in short.items()}

    def __len__(self) -> int:
        """Number of distinct evaluation n-grams (plus whole short texts) held."""
        return len(self._grams) + sum(len(v) for v in self._short.values())

    def overlap(self, text: str) -> float:
        """Share of the text's word n-grams that occur in the evaluation texts (0.0 to 1.0).

        A text shorter than n words is compared whole: 1.0 when it equals or contains a short
        evaluation text, else 0.0.
        """
        words = normalize_words(text)
        if len(words) < self.n:
            return 1.0 if self._contains_short(words) else 0.0
        hashes = gram_hashes(words, self.n).tolist()
        grams = self._grams
        hits = sum(1 for h in hashes if h in grams)
        return hits / len(hashes)

    def _contains_short(self, words: list[str]) -> bool:
        for k, table in self._short.items():
            if k <= len(words) and any(h in table for h in gram_hashes(words, k).tolist()):
                return True
        return False

    def contaminated(self, text: str) -> bool:
        """True when the overlap reaches the threshold or a short evaluation text appears verbatim."""
        words = normalize_words(text)
        if self._short and self._contains_short(words):
            return True
        if len(words) < self.n:
            return False
        hashes = gram_hashes(words, self.n).tolist()
        grams = self._grams
        hits = sum(1 for h in hashes if h in grams)
        return hits / len(hashes) >= self.threshold
