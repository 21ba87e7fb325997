"""Stable 64-bit hashes of word n-grams: the one rolling hash behind near-duplicates and decontamination.

Each word is hashed once (BLAKE2b, 8 bytes, cached; not Python's salted `hash`, so results survive
pickling into worker processes and reruns), and every window of n words is a polynomial over those
word hashes, computed for all windows at once in numpy with wrap-around modulo 2**64.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np

_PRIME = np.uint64(1099511628211)  # FNV-64 prime: odd, so the rolling products stay well mixed


@lru_cache(maxsize=1 << 20)
def word_hash(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")


def gram_hashes(words: list[str], n: int) -> np.ndarray:
    """One uint64 per window of n consecutive words (empty when there are fewer than n words)."""
    if n < 1 or len(words) < n:
        return np.empty(0, dtype=np.uint64)
    ids = np.fromiter((word_hash(w) for w in words), dtype=np.uint64, count=len(words))
    m = len(words) - n + 1
    h = np.zeros(m, dtype=np.uint64)
    with np.errstate(over="ignore"):  # wrap-around modulo 2**64 is the hash
        for k in range(n):
            h = h * _PRIME + ids[k : k + m]
    return h
