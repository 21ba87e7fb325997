"""Held-out conditions: one fixed rule that keeps whole conditions out of training and in evaluation.

A document held out at random still shares its condition with training documents (the same disease's
causes page trains, its treatment page is scored). Text on conditions no training split contains needs
a split by condition: `heldout_condition(name, fraction)` is a pure function of the normalised name,
independent of the seed and of the corpus, so the corpus stage (which drops those conditions from
training, `corpus.heldout_conditions`) and the evaluate stage (which scores exactly them,
`evaluate.perplexity.sets.*.heldout_conditions`) agree without talking to each other.

`condition_split(name, test, dev)` cuts the same ordering into test, dev and train conditions for
whatever is learned from question-answer pairs (the retriever stage): its test conditions at `test=0.1`
are exactly the ones `heldout_condition(name, 0.1)` holds out, and dev takes the next `dev` share, so
nothing tuned on dev or trained on train has seen a test condition.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable

_SALT = "rungs-heldout-condition"
_WORD = re.compile(r"[a-z0-9]+")
_FILLER = frozenset({"a", "an", "and", "the", "of", "in", "for", "to", "with", "on", "your", "what", "is", "are", "about"})


def condition_words(name: str | None) -> frozenset[str]:
    """The content words of a condition or title, lower-case ("Type 2 Diabetes" -> {type, 2, diabetes})."""
    return frozenset(w for w in _WORD.findall((name or "").lower()) if w not in _FILLER)


def _position(name: str | None) -> float | None:
    """Where the condition falls in [0, 1): a hash of its sorted content words (None without any).
    One position serves both splits, so a larger held-out share only ever adds conditions to it."""
    words = condition_words(name)
    if not words:
        return None
    digest = hashlib.sha256(f"{_SALT}\x00{' '.join(sorted(words))}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def heldout_condition(name: str | None, fraction: float) -> bool:
    """Whether the condition `name` belongs to the held-out `fraction` of all conditions."""
    position = _position(name)
    return position is not None and fraction > 0 and position < fraction


def condition_split(name: str | None, test: float, dev: float = 0.0) -> str:
    """'test', 'dev' or 'train' for the condition `name`: the first `test` share of conditions, the next
    `dev` share, the rest. A name without content words is 'train' (it names no condition to hold out)."""
    position = _position(name)
    if position is None:
        return "train"
    return "test" if position < test else "dev" if position < test + dev else "train"


def same_condition(a: frozenset[str], b: frozenset[str]) -> bool:
    """One name's words contain the other's ("diabetes" and "type 2 diabetes"): treat them as one condition."""
    return bool(a) and bool(b) and (a <= b or b <= a)


class Conditions:
    """A set of condition names that answers "is this the same condition as one of them?" (same_condition)
    by looking only at names sharing a word with it: related names always share one, and a corpus with
    thousands of conditions would otherwise compare every pair."""

    def __init__(self, names: Iterable[frozenset[str]]):
        self._names = list({n for n in names if n})
        self._by_word: dict[str, list[int]] = defaultdict(list)
        for i, words in enumerate(self._names):
            for word in words:
                self._by_word[word].append(i)

    def covers(self, words: frozenset[str]) -> bool:
        candidates = {i for w in words for i in self._by_word.get(w, ())}
        return any(same_condition(words, self._names[i]) for i in candidates)
